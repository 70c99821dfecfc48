"""A stand-in for the AWS CLI (v2) that runs the README's runbook commands against moto.

It reads a command line the way ``aws`` does and refuses what the real CLI would refuse: an unknown service,
operation, waiter or option, a missing required option, a value of the wrong type. The check uses botocore's
service and waiter models, the ones the AWS CLI is generated from (``CreateDBClusterSnapshot`` is
``create-db-cluster-snapshot``, its ``DBClusterIdentifier`` is ``--db-cluster-identifier``, a boolean also takes
``--no-...``). Then it makes the call against the moto server at ``FAKE_AWS_ENDPOINT`` and prints the answer like
the CLI: ``--query`` (JMESPath), ``--output json`` or ``text``.

Beyond the generated commands, only what the runbooks use: ``aws s3 sync`` between a local folder and an S3
prefix, ``aws <service> wait <waiter>``, ``lambda invoke``'s output file, shorthand ``Key=name,Values=a,b`` for a
list of structures, and ``--cli-binary-format raw-in-base64-out`` for a blob. ``AWS_PROFILE`` and ``--profile``
are recorded, not resolved (moto has one account here). Every call is appended to ``FAKE_AWS_LOG`` as JSON.

Exit codes as the CLI's: 252 a usage error, 254 the service refused the call, 255 a waiter failed.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import jmespath
from botocore import xform_name
from botocore.exceptions import ClientError, UnknownServiceError, WaiterError
from botocore.model import Shape

GLOBAL_WITH_VALUE = ("--region", "--output", "--query", "--profile", "--endpoint-url", "--cli-binary-format")
GLOBAL_FLAGS = ("--no-cli-pager", "--no-paginate", "--debug")
SERVICE_NAMES = {"s3api": "s3"}  # CLI name -> botocore name, where they differ
USAGE, SERVICE_ERROR, WAITER_ERROR = 252, 254, 255


class Usage(Exception):
    """What the AWS CLI answers with ``aws: error: ...`` and exit code 252."""


def split_globals(argv: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
    options: dict[str, Any] = {}
    rest: list[str] = []
    tokens = iter(argv)
    for token in tokens:
        if token in GLOBAL_WITH_VALUE:
            value = next(tokens, None)
            if value is None:
                raise Usage(f"argument {token}: expected one argument")
            options[token] = value
        elif token in GLOBAL_FLAGS:
            options[token] = True
        else:
            rest.append(token)
    return options, rest


def cli_names(shape: Shape | None) -> dict[str, str]:
    """``--db-cluster-identifier`` -> ``DBClusterIdentifier`` for every member of an input shape."""
    members = shape.members if shape is not None else {}
    return {f"--{xform_name(name, '-')}": name for name in members}


def shorthand(shape: Shape, text: str) -> dict[str, Any]:
    """``Key=name,Values=a,b`` -> ``{"Key": "name", "Values": ["a", "b"]}`` (a token without ``=`` continues the
    list of the key before it)."""
    result: dict[str, Any] = {}
    key: str | None = None
    for part in text.split(","):
        if "=" in part:
            key, value = part.split("=", 1)
            if key not in shape.members:
                raise Usage(f"unknown shorthand key {key!r}; expected one of {', '.join(shape.members)}")
            member = shape.members[key]
            result[key] = [value] if member.type_name == "list" else value
        elif key is not None and isinstance(result.get(key), list):
            result[key].append(part)
        else:
            raise Usage(f"malformed shorthand {text!r}")
    return result


def convert(shape: Shape, values: list[str], option: str, binary_format: str | None) -> Any:
    kind = shape.type_name
    if kind == "list":
        return [convert(shape.member, [value], option, binary_format) for value in values]
    if len(values) != 1:
        raise Usage(f"argument {option}: expected one argument")
    value = values[0]
    if kind == "structure":
        return json.loads(value) if value.lstrip().startswith("{") else shorthand(shape, value)
    if kind in ("integer", "long"):
        try:
            return int(value)
        except ValueError:
            raise Usage(f"argument {option}: invalid integer {value!r}") from None
    if kind == "blob":
        return value.encode("utf-8") if binary_format == "raw-in-base64-out" else base64.b64decode(value)
    if kind == "boolean":
        raise Usage(f"argument {option}: a boolean flag takes no value")
    return value


def parse_options(
    shape: Shape | None, tokens: Sequence[str], binary_format: str | None
) -> tuple[dict[str, Any], list[str]]:
    """The operation's parameters from its options, and the positional arguments left over."""
    names = cli_names(shape)
    params: dict[str, Any] = {}
    positional: list[str] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        if not token.startswith("--"):
            positional.append(token)
            continue
        negated = token.startswith("--no-") and token not in names and f"--{token[5:]}" in names
        member_name = names.get(f"--{token[5:]}" if negated else token)
        if member_name is None or shape is None:
            raise Usage(f"Unknown options: {token}")
        member = shape.members[member_name]
        if member.type_name == "boolean":
            params[member_name] = not negated
            continue
        values: list[str] = []
        while index < len(tokens) and not tokens[index].startswith("--"):
            values.append(tokens[index])
            index += 1
            if member.type_name != "list":
                break
        if not values:
            raise Usage(f"argument {token}: expected one argument")
        params[member_name] = convert(member, values, token, binary_format)
    missing = sorted(set(getattr(shape, "required_members", ()) or ()) - set(params))
    if missing:
        raise Usage(f"the following arguments are required: {', '.join('--' + xform_name(m, '-') for m in missing)}")
    return params, positional


def as_text(value: Any) -> str:
    """The CLI's ``--output text``: scalars as they are, lists tab-separated, one row per item of a list of rows."""
    if value is None:
        return "None"
    if isinstance(value, list):
        if all(not isinstance(item, list | dict) for item in value):
            return "\t".join(str(item) for item in value)
        return "\n".join(as_text(item) for item in value)
    if isinstance(value, dict):
        return "\t".join(str(item) for item in value.values() if not isinstance(item, list | dict))
    return str(value)


def emit(result: Any, options: dict[str, Any]) -> None:
    if options.get("--query"):
        result = jmespath.search(options["--query"], result)
    if options.get("--output", "json") == "text":
        text = as_text(result)
        if text:
            print(text)
    else:
        print(json.dumps(result, indent=4, default=str))


def client(service: str, options: dict[str, Any]) -> Any:
    return boto3.session.Session().client(
        service,
        endpoint_url=os.environ["FAKE_AWS_ENDPOINT"],
        region_name=options.get("--region") or os.environ.get("AWS_DEFAULT_REGION"),
    )


def s3_sync(tokens: Sequence[str], options: dict[str, Any]) -> None:
    if len(tokens) != 2 or any(token.startswith("--") for token in tokens):
        raise Usage("usage: aws s3 sync <LocalPath> <S3Uri> or <S3Uri> <LocalPath> (no other options here)")
    source, destination = tokens
    s3 = client("s3", options)
    if source.startswith("s3://") and not destination.startswith("s3://"):
        bucket, _, prefix = source[5:].partition("/")
        paginator = s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                relative = item["Key"][len(prefix) :].lstrip("/")
                target = Path(destination) / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(bucket, item["Key"], str(target))
                print(f"download: s3://{bucket}/{item['Key']} to {target}")
    elif destination.startswith("s3://") and not source.startswith("s3://"):
        bucket, _, prefix = destination[5:].partition("/")
        if not Path(source).is_dir():
            raise Usage(f"The user-provided path {source} does not exist.")
        for path in sorted(p for p in Path(source).rglob("*") if p.is_file()):
            key = "/".join(part for part in (prefix.rstrip("/"), path.relative_to(source).as_posix()) if part)
            s3.upload_file(str(path), bucket, key)
            print(f"upload: {path} to s3://{bucket}/{key}")
    else:
        raise Usage("aws s3 sync needs one local path and one s3:// URI here")


def run(argv: Sequence[str]) -> int:
    options, rest = split_globals(argv)
    if len(rest) < 2:
        raise Usage("usage: aws [options] <command> <subcommand> [<subcommand> ...] [parameters]")
    service, command, *tokens = rest
    if service == "s3":
        if command != "sync":
            raise Usage(f"aws s3 {command}: only sync is implemented here")
        s3_sync(tokens, options)
        return 0
    session = botocore.session.get_session()
    name = SERVICE_NAMES.get(service, service)
    try:
        model = session.get_service_model(name)
    except UnknownServiceError:
        raise Usage(f"argument command: Found invalid choice '{service}'") from None
    binary_format = options.get("--cli-binary-format")
    if command == "wait":
        if not tokens:
            raise Usage("aws wait: a waiter name is needed")
        waiters = {xform_name(w, "-"): w for w in session.get_waiter_model(name).waiter_names}
        waiter_name = waiters.get(tokens[0])
        if waiter_name is None:
            raise Usage(f"argument subcommand: Found invalid choice '{tokens[0]}'")
        operation = session.get_waiter_model(name).get_waiter(waiter_name).operation
        params, positional = parse_options(model.operation_model(operation).input_shape, tokens[1:], binary_format)
        if positional:
            raise Usage(f"Unknown options: {' '.join(positional)}")
        client(name, options).get_waiter(xform_name(waiter_name)).wait(
            **params, WaiterConfig={"Delay": 1, "MaxAttempts": 5}
        )
        return 0
    operations = {xform_name(op, "-"): op for op in model.operation_names}
    operation = operations.get(command)
    if operation is None:
        raise Usage(f"argument operation: Found invalid choice '{command}'")
    params, positional = parse_options(model.operation_model(operation).input_shape, tokens, binary_format)
    outfile = None
    if (service, command) == ("lambda", "invoke"):
        if len(positional) != 1:
            raise Usage("the following arguments are required: outfile")
        outfile = positional.pop()
    if positional:
        raise Usage(f"Unknown options: {' '.join(positional)}")
    response = getattr(client(name, options), xform_name(operation))(**params)
    response.pop("ResponseMetadata", None)
    if outfile is not None:
        Path(outfile).write_bytes(response.pop("Payload").read())
    emit(response, options)
    return 0


def main(argv: Sequence[str]) -> int:
    log = os.environ.get("FAKE_AWS_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as file:
            file.write(json.dumps({"argv": list(argv), "profile": os.environ.get("AWS_PROFILE")}) + "\n")
    os.environ.pop("AWS_PROFILE", None)  # moto has one account here; botocore would look the profile up
    try:
        return run(argv)
    except Usage as error:
        print(f"aws: error: {error}", file=sys.stderr)
        return USAGE
    except ClientError as error:
        details = error.response.get("Error", {})
        print(
            f"An error occurred ({details.get('Code')}) when calling the {error.operation_name} operation: "
            f"{details.get('Message')}",
            file=sys.stderr,
        )
        return SERVICE_ERROR
    except WaiterError as error:
        print(f"Waiter failed: {error}", file=sys.stderr)
        return WAITER_ERROR


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
