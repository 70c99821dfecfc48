"""A stand-in for the Pulumi CLI that runs the README's runbook commands: it refuses a command, option or
``mlops:`` key the runbooks must not use, answers ``stack output`` and ``config get`` from files, and records the
rest (``up``, ``destroy``, ``config set``, ``stack rm``) so a test can check what ran, in which order, with which
``AWS_PROFILE``.

The options allowed are those the runbooks use, each checked against the Pulumi CLI reference
(https://www.pulumi.com/docs/iac/cli/commands/): ``pulumi stack output [name] [--json] --stack``, ``pulumi config
set <key> [value] [--secret] --stack`` (no value: Pulumi prompts, here it reads a line from stdin), ``pulumi config
get <key> --stack``, ``pulumi up --stack [--yes]``, ``pulumi destroy --stack [--yes] [--remove]``, ``pulumi stack rm
[name] [--preserve-config] [--force] [--yes] [--stack]``. Config keys must be ones ``infra/config.py`` reads.

Environment: FAKE_PULUMI_OUTPUTS and FAKE_PULUMI_CONFIG (JSON files: stack -> name -> value), FAKE_PULUMI_LOG.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OPTIONS: dict[tuple[str, ...], tuple[set[str], set[str]]] = {
    # command -> (options that take a value, flags)
    ("stack", "output"): ({"--stack", "-s"}, {"--json", "-j"}),
    ("config", "set"): ({"--stack", "-s"}, {"--secret", "--plaintext"}),
    ("config", "get"): ({"--stack", "-s"}, {"--json", "-j"}),
    ("up",): ({"--stack", "-s"}, {"--yes", "-y"}),
    ("destroy",): ({"--stack", "-s"}, {"--yes", "-y", "--remove"}),
    ("stack", "rm"): ({"--stack", "-s"}, {"--preserve-config", "--force", "-f", "--yes", "-y"}),
}
STACKS = ("tooling", "stage", "prod")


class Refused(Exception):
    pass


def known_keys() -> set[str]:
    source = (ROOT / "infra" / "config.py").read_text(encoding="utf-8")
    names = re.findall(r'reader\.(?:text|integer|string_list|secret|boolean|optional_text)\(\s*"([A-Za-z]+)"', source)
    return {f"mlops:{name}" for name in names if name != "region"} | {"aws:region"}


def parse(argv: Sequence[str]) -> tuple[tuple[str, ...], dict[str, str | bool], list[str]]:
    for command, (valued, flags) in OPTIONS.items():
        if tuple(argv[: len(command)]) != command:
            continue
        options: dict[str, str | bool] = {}
        positional: list[str] = []
        tokens = iter(argv[len(command) :])
        for token in tokens:
            if token in valued:
                value = next(tokens, None)
                if value is None:
                    raise Refused(f"flag needs an argument: {token}")
                options["--stack" if token == "-s" else token] = value
            elif token in flags:
                options[token] = True
            elif token.startswith("-"):
                raise Refused(f"unknown flag: {token} (for pulumi {' '.join(command)})")
            else:
                positional.append(token)
        stack = options.get("--stack")
        if stack is not None and stack not in STACKS:
            raise Refused(f"no stack named {stack!r}")
        return command, options, positional
    raise Refused(f"unknown command: pulumi {' '.join(argv)}")


def _load(variable: str) -> dict[str, dict[str, str]]:
    path = os.environ.get(variable)
    return json.loads(Path(path).read_text(encoding="utf-8")) if path else {}


def run(argv: Sequence[str]) -> int:
    command, options, positional = parse(argv)
    stack = str(options.get("--stack") or "")
    if command in (("up",), ("destroy",), ("config", "set"), ("config", "get")) and not stack:
        raise Refused("every runbook command names its stack with --stack")
    if command == ("stack", "output"):
        outputs = _load("FAKE_PULUMI_OUTPUTS").get(stack, {})
        if not positional:
            print(json.dumps(outputs, indent=4))
            return 0
        if positional[0] not in outputs:
            raise Refused(f"current stack does not have output property '{positional[0]}'")
        value = outputs[positional[0]]
        print(json.dumps(value) if options.get("--json") else value)
        return 0
    if command[0] == "config":
        if not positional or positional[0] not in known_keys():
            raise Refused(f"config key {positional[:1]} is not one infra/config.py reads")
        if command == ("config", "get"):
            print(_load("FAKE_PULUMI_CONFIG")[stack][positional[0]])
            return 0
        if len(positional) == 1:  # Pulumi prompts for the value
            positional.append(sys.stdin.readline().strip() or "<prompted>")
        if options.get("--secret") and positional[1] != "<prompted>":
            raise Refused("a secret is typed at the prompt, never on the command line")
    return 0


def main(argv: Sequence[str]) -> int:
    try:
        code = run(argv)
    except Refused as error:
        print(f"error: {error}", file=sys.stderr)
        code = 255
    log = os.environ.get("FAKE_PULUMI_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as file:
            entry = {"argv": list(argv), "profile": os.environ.get("AWS_PROFILE"), "code": code}
            file.write(json.dumps(entry) + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
