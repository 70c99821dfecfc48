"""Run the whole Pulumi program for one stack under Pulumi's mocks and capture what it registers.

Used by the tests and by tools that inspect a stack without AWS or the Pulumi CLI (the cost model).

``run_stack("stage", config)`` evaluates ``__main__.py`` exactly as ``pulumi preview`` would, without the
CLI or any provider plugin, and returns every registered resource (type, name, inputs, parent, provider)
plus the stack's exports. The tooling ``StackReference`` read by stage/prod is answered from
``tooling_outputs``.
"""

from __future__ import annotations

import asyncio
import json
import runpy
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime
from pulumi.runtime import mocks, settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

ROOT = Path(__file__).resolve().parents[1]
MAIN = ROOT / "__main__.py"
PROJECT = "serverless-mlops"
ORGANIZATION = "acme"

TOOLING_ACCOUNT = "111111111111"
STAGE_ACCOUNT = "222222222222"
PROD_ACCOUNT = "333333333333"
REGION = "eu-west-1"
MODEL = "delivery-time"

SECRET_KEYS = ("mlops:slackBotToken", "mlops:slackSigningSecret")


def tooling_config(**overrides: str | None) -> dict[str, str]:
    """A valid tooling configuration; ``None`` removes a key."""
    config = {
        "aws:region": REGION,
        "mlops:accountId": TOOLING_ACCOUNT,
        "mlops:modelName": MODEL,
        "mlops:stageAccountId": STAGE_ACCOUNT,
        "mlops:prodAccountId": PROD_ACCOUNT,
        "mlops:architecture": "arm64",
        "mlops:slackChannelId": "C0123456789",
        "mlops:slackTeamId": "T0123456789",
        "mlops:slackAppId": "A0123456789",
        "mlops:slackApprovers": json.dumps(["U0123456789", "S0ABCDEFGH1"]),
        # Placeholders: a real stack holds these as secrets set with `pulumi config set --secret`.
        "mlops:slackBotToken": "xoxb-test-bot-token",
        "mlops:slackSigningSecret": "test-signing-secret",
    }
    return _apply(config, overrides)


def environment_config(account_id: str, **overrides: str | None) -> dict[str, str]:
    config = {"aws:region": REGION, "mlops:accountId": account_id}
    return _apply(config, overrides)


def default_config(stack: str) -> dict[str, str]:
    return {
        "tooling": tooling_config,
        "stage": lambda: environment_config(STAGE_ACCOUNT),
        "prod": lambda: environment_config(PROD_ACCOUNT),
    }[stack]()


def _apply(config: dict[str, str], overrides: Mapping[str, str | None]) -> dict[str, str]:
    result = dict(config)
    for key, value in overrides.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def default_tooling_outputs() -> dict[str, Any]:
    """What a deployed tooling stack exports, as stage/prod see it through the StackReference."""
    repository = f"{TOOLING_ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/serverless-mlops/{MODEL}"
    return {
        "toolingAccountId": TOOLING_ACCOUNT,
        "modelName": MODEL,
        "architecture": "arm64",
        "ecrRepositoryUrl": repository,
        "ecrRepositoryArn": f"arn:aws:ecr:{REGION}:{TOOLING_ACCOUNT}:repository/serverless-mlops/{MODEL}",
        "bootstrapImageUri": f"{repository}@sha256:{'b' * 64}",
        "deployFunctionRoleArn": f"arn:aws:iam::{TOOLING_ACCOUNT}:role/serverless-mlops-{MODEL}-deploy-function",
    }


@dataclass
class Resource:
    type: str
    name: str
    urn: str
    id: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    parent: str | None
    provider: str | None
    custom: bool
    ignore_changes: list[str] = field(default_factory=list)
    depends_on: list[str] = field(default_factory=list)

    def as_rule_input(self) -> dict[str, Any]:
        """The plain dict the rules in policy/rules.py take."""
        return {
            "type": self.type,
            "name": self.name,
            "urn": self.urn,
            "id": self.id,
            "inputs": self.inputs,
            "parent": self.parent,
            "provider": self.provider,
        }


@dataclass
class StackRun:
    stack: str
    resources: list[Resource]
    exports: dict[str, Any]
    stack_references: dict[str, str] = field(default_factory=dict)

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str) -> Resource:
        found = self.of_type(type_)
        assert len(found) == 1, f"expected one {type_}, found {[r.name for r in found]}"
        return found[0]

    def named(self, name: str) -> Resource:
        found = [r for r in self.resources if r.name == name]
        assert len(found) == 1, f"expected one resource named {name}, found {len(found)}"
        return found[0]

    def rule_inputs(self) -> list[dict[str, Any]]:
        return [r.as_rule_input() for r in self.resources]

    def __iter__(self) -> Iterator[Resource]:
        return iter(self.resources)


# ARN formats as AWS documents them, per resource type; {r} region, {a} account, {n} physical name.
_ARN_FORMATS: dict[str, str] = {
    "aws:iam/role:Role": "arn:aws:iam::{a}:role/{n}",
    "aws:iam/policy:Policy": "arn:aws:iam::{a}:policy/{n}",
    "aws:s3/bucket:Bucket": "arn:aws:s3:::{n}",
    "aws:s3/bucketV2:BucketV2": "arn:aws:s3:::{n}",
    "aws:cloudwatch/logGroup:LogGroup": "arn:aws:logs:{r}:{a}:log-group:{n}",
    "aws:cloudwatch/eventRule:EventRule": "arn:aws:events:{r}:{a}:rule/{n}",
    "aws:cloudwatch/metricAlarm:MetricAlarm": "arn:aws:cloudwatch:{r}:{a}:alarm:{n}",
    "aws:lambda/function:Function": "arn:aws:lambda:{r}:{a}:function:{n}",
    "aws:ecr/repository:Repository": "arn:aws:ecr:{r}:{a}:repository/{n}",
    "aws:sfn/stateMachine:StateMachine": "arn:aws:states:{r}:{a}:stateMachine:{n}",
    "aws:sns/topic:Topic": "arn:aws:sns:{r}:{a}:{n}",
    "aws:sqs/queue:Queue": "arn:aws:sqs:{r}:{a}:{n}",
    "aws:secretsmanager/secret:Secret": "arn:aws:secretsmanager:{r}:{a}:secret:{n}-AbCdEf",
    "aws:dynamodb/table:Table": "arn:aws:dynamodb:{r}:{a}:table/{n}",
    "aws:kms/key:Key": "arn:aws:kms:{r}:{a}:key/{n}",
    "aws:codebuild/project:Project": "arn:aws:codebuild:{r}:{a}:project/{n}",
    "aws:codecommit/repository:Repository": "arn:aws:codecommit:{r}:{a}:{n}",
    "aws:rds/cluster:Cluster": "arn:aws:rds:{r}:{a}:cluster:{n}",
    "aws:rds/clusterInstance:ClusterInstance": "arn:aws:rds:{r}:{a}:db:{n}",
    "aws:rds/subnetGroup:SubnetGroup": "arn:aws:rds:{r}:{a}:subgrp:{n}",
    "aws:ecs/taskDefinition:TaskDefinition": "arn:aws:ecs:{r}:{a}:task-definition/{n}:1",
    "aws:ecs/service:Service": "arn:aws:ecs:{r}:{a}:service/{n}",
    "aws:servicediscovery/service:Service": "arn:aws:servicediscovery:{r}:{a}:service/srv-{n}",
    "aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace": "arn:aws:servicediscovery:{r}:{a}:namespace/ns-{n}",
    "aws:ec2/securityGroup:SecurityGroup": "arn:aws:ec2:{r}:{a}:security-group/{n}",
    "aws:ec2/vpc:Vpc": "arn:aws:ec2:{r}:{a}:vpc/{n}",
    "aws:ec2/subnet:Subnet": "arn:aws:ec2:{r}:{a}:subnet/{n}",
}


def mock_arn(type_: str, name: str, account: str, region: str = REGION) -> str:
    """The ARN AWS would give a resource of this type; a generic service ARN for types not listed."""
    template = _ARN_FORMATS.get(type_)
    if template is None:
        service = type_.split(":")[1].split("/")[0]
        kind = type_.rsplit(":", 1)[-1]
        template = f"arn:aws:{service}:{{r}}:{{a}}:{kind[0].lower() + kind[1:]}/{{n}}"
    return template.format(r=region, a=account, n=name)


class _Mocks(pulumi.runtime.Mocks):
    def __init__(self, account: str, tooling_outputs: Mapping[str, Any]) -> None:
        self.account = account
        self.tooling_outputs = dict(tooling_outputs)
        self.stack_references: dict[str, str] = {}
        # URN -> (inputs, provider reference), filled as the monitor registers each resource.
        self.registered: dict[str, tuple[dict[str, Any], str | None]] = {}
        self.current = threading.local()

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.registered[self.current.urn] = (dict(args.inputs), args.provider or None)
        if args.typ == "pulumi:pulumi:StackReference":
            self.stack_references[args.name] = args.inputs.get("name", "")
            return f"{args.name}-id", {
                "name": args.inputs.get("name"),
                "outputs": self.tooling_outputs,
                "secretOutputNames": [],
            }
        if args.typ.startswith("pulumi:providers:"):
            return f"{args.name}-provider-id", dict(args.inputs)
        import hashlib

        def fake(text: str, length: int) -> str:
            """Stable pseudo-random characters derived from the resource name."""
            return hashlib.sha256(f"{args.typ}:{args.name}:{text}".encode()).hexdigest()[:length]

        # Explicit physical names are kept; a name prefix gets the provider's 26-digit suffix; others get a
        # suffix, as Pulumi's auto-naming does.
        prefixed = f"{args.inputs['namePrefix']}20250101000000000000000001" if args.inputs.get("namePrefix") else None
        physical = str(
            args.inputs.get("name")
            or args.inputs.get("clusterIdentifier")
            or args.inputs.get("identifier")
            or args.inputs.get("family")
            or args.inputs.get("bucket")
            or prefixed
            or f"{args.name}-0123abc"
        )
        state = {"arn": mock_arn(args.typ, physical, self.account), **args.inputs}
        state.setdefault("name", physical)
        if args.typ == "random:index/randomPassword:RandomPassword":
            # Long enough to be unmistakable when a test looks for it in other resources' inputs.
            state["result"] = f"pw-{fake('result', 64)}"[: max(int(args.inputs.get("length", 16)), 24)]
            state.pop("arn")
        if args.typ == "random:index/randomId:RandomId":
            hex_ = fake("hex", 2 * int(args.inputs.get("byteLength", 4)))
            state.update(hex=hex_, dec=str(int(hex_, 16)), b64Url=hex_, b64Std=hex_)
            state.pop("arn")
        if args.typ == "aws:rds/cluster:Cluster":
            host = f"{physical}.cluster-{{}}c0ffee1234.{REGION}.rds.amazonaws.com"
            state.update(endpoint=host.format(""), readerEndpoint=host.format("ro-"), clusterResourceId="cluster-ABC")
            state.setdefault("port", 3306)
            if args.inputs.get("manageMasterUserPassword"):
                secret = f"rds!cluster-{fake('uuid', 8)}-0123-4567-89ab-{fake('uuid2', 12)}"
                state["masterUserSecrets"] = [
                    {
                        "secretArn": mock_arn("aws:secretsmanager/secret:Secret", secret, self.account),
                        "kmsKeyId": f"arn:aws:kms:{REGION}:{self.account}:alias/aws/secretsmanager",
                        "secretStatus": "active",
                    }
                ]
        if args.typ == "aws:apigatewayv2/api:Api":
            api_id = fake("id", 10)
            state.update(
                apiEndpoint=f"https://{api_id}.execute-api.{REGION}.amazonaws.com",
                executionArn=f"arn:aws:execute-api:{REGION}:{self.account}:{api_id}",
                arn=f"arn:aws:apigateway:{REGION}::/apis/{api_id}",
            )
            return api_id, state
        if args.typ == "aws:apigatewayv2/domainName:DomainName":
            configuration = dict(args.inputs.get("domainNameConfiguration") or {})
            configuration.update(
                targetDomainName=f"d-{fake('target', 10)}.execute-api.{REGION}.amazonaws.com",
                hostedZoneId="ZLY8HYME6SFDD",
            )
            state["domainNameConfiguration"] = configuration
            state["apiMappingSelectionExpression"] = "$request.basepath"
        if args.typ in ("aws:apigatewayv2/vpcLink:VpcLink", "aws:apigatewayv2/authorizer:Authorizer"):
            return fake("id", 6), state
        if args.typ == "aws:ec2/vpcEndpoint:VpcEndpoint":
            state["prefixListId"] = f"pl-{fake('pl', 8)}"
        if args.typ == "aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace":
            state["hostedZone"] = f"Z{fake('zone', 12).upper()}"
        if args.typ == "aws:ecr/repository:Repository":
            state["repositoryUrl"] = f"{self.account}.dkr.ecr.{REGION}.amazonaws.com/{physical}"
        if args.typ == "aws:s3/bucket:Bucket":
            state.setdefault("bucket", physical)
        if args.typ == "awsx:ecr:Image":
            state["imageUri"] = f"{args.inputs['repositoryUrl']}@sha256:{'a' * 64}"
        if args.typ == "aws:lambda/function:Function":
            state["version"] = "1"
            state["invokeArn"] = f"arn:aws:apigateway:{REGION}:lambda:path/functions/{state['arn']}/invocations"
        if args.typ == "aws:lambda/alias:Alias":
            function_arn = mock_arn("aws:lambda/function:Function", args.inputs["functionName"], self.account)
            state["arn"] = f"{function_arn}:{args.inputs['name']}"
        if args.typ == "aws:lambda/functionUrl:FunctionUrl":
            state["functionUrl"] = f"https://{args.name}-0123abc.lambda-url.{REGION}.on.aws/"
        return physical, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": self.account,
                "arn": f"arn:aws:iam::{self.account}:user/test",
                "userId": "AIDTEST",
                "id": self.account,
            }, []
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}, []
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": REGION, "region": REGION, "id": REGION}, []
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            # Listed out of order on purpose: callers must not rely on the order AWS happens to return.
            suffixes = ("b", "a", "c")
            return {
                "names": [f"{REGION}{s}" for s in suffixes],
                "zoneIds": [f"euw1-az{'abc'.index(s) + 1}" for s in suffixes],
                "groupNames": [REGION],
                "id": REGION,
                "state": args.args.get("state"),
            }, []
        if args.token == "aws:iam/getPolicyDocument:getPolicyDocument":
            return {"json": render_policy_document(args.args)}, []
        raise NotImplementedError(f"no mock for call {args.token}; add one to tests/infra/harness.py")


def render_policy_document(args: Mapping[str, Any]) -> str:
    """Render aws.iam.get_policy_document's arguments the way the provider does."""
    statements = []
    for s in args.get("statements", []):
        statement: dict[str, Any] = {"Effect": s.get("effect", "Allow")}
        if "sid" in s:
            statement["Sid"] = s["sid"]
        for key, out in (
            ("actions", "Action"),
            ("notActions", "NotAction"),
            ("resources", "Resource"),
            ("notResources", "NotResource"),
        ):
            if key in s:
                statement[out] = s[key]
        for principal in s.get("principals", []):
            statement.setdefault("Principal", {})[principal["type"]] = principal["identifiers"]
        for condition in s.get("conditions", []):
            statement.setdefault("Condition", {}).setdefault(condition["test"], {})[condition["variable"]] = condition[
                "values"
            ]
        statements.append(statement)
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


class _RecordingMonitor(mocks.MockMonitor):
    """The stock mock monitor, plus the parent and custom flag of each registration."""

    def __init__(self, mocks_: _Mocks) -> None:
        super().__init__(mocks_)
        self.recorder = mocks_
        self.registrations: list[tuple[str, str, str | None, bool]] = []
        self.options: dict[str, tuple[list[str], list[str]]] = {}

    def RegisterResource(self, request: Any) -> Any:
        self.recorder.current.urn = self.make_urn(request.parent, request.type, request.name)
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.registrations.append((response.urn, request.type, request.parent or None, request.custom))
            self.options[response.urn] = (list(request.ignoreChanges), list(request.dependencies))
        return response

    def ReadResource(self, request: Any) -> Any:
        self.recorder.current.urn = self.make_urn(request.parent, request.type, request.name)
        response = super().ReadResource(request)
        self.registrations.append((response.urn, request.type, request.parent or None, True))
        return response


class StackError(Exception):
    """The program failed; ``message`` is what the Pulumi CLI would print."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _config_for_runtime(config: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    secret = [k for k in config if k in SECRET_KEYS]
    return dict(config), secret


def _quiet_unretrieved(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    # A run that fails on purpose leaves futures whose errors nobody reads; they carry no news.
    if str(context.get("message", "")).startswith("Future exception was never retrieved"):
        return
    loop.default_exception_handler(context)


def run_stack(
    stack: str,
    config: Mapping[str, str] | None = None,
    *,
    tooling_outputs: Mapping[str, Any] | None = None,
    plaintext_keys: tuple[str, ...] = (),
    program: Callable[[], object] | None = None,
) -> StackRun:
    """Evaluate ``__main__.py`` for ``stack``. Raises ``StackError`` with the CLI's message on failure.

    ``plaintext_keys`` marks secret keys as stored in plain text, as a ``pulumi config set`` without
    ``--secret`` would. ``program`` runs instead of ``__main__.py``, to test one component on its own
    under the same mocks (it is called inside the Pulumi runtime, so it may create resources).
    """
    values, secret_keys = _config_for_runtime(default_config(stack) if config is None else config)
    secret_keys = [k for k in secret_keys if k not in plaintext_keys]
    account = values.get("mlops:accountId", TOOLING_ACCOUNT)
    the_mocks = _Mocks(account, default_tooling_outputs() if tooling_outputs is None else tooling_outputs)
    monitor = _RecordingMonitor(the_mocks)

    # A fresh stack and no work left over from an earlier (possibly failed) run: otherwise state leaks.
    settings.set_root_resource(None)
    settings.SETTINGS.rpc_manager.clear()
    settings.SETTINGS.outputs.clear()
    asyncio.get_event_loop().set_exception_handler(_quiet_unretrieved)
    pulumi.runtime.set_all_config(values, secret_keys)
    mocks.set_mocks(the_mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor, organization=ORGANIZATION)
    try:
        entry = program or (lambda: runpy.run_path(str(MAIN), run_name="__main__"))
        _sync_await(run_pulumi_func(entry))
        exports = _resolve_exports()
    except pulumi.RunError as error:
        raise StackError(str(error)) from error
    finally:
        settings.set_root_resource(None)

    resources = []
    for urn, type_, parent, custom in monitor.registrations:
        registration = monitor.resources[urn]
        inputs, provider = the_mocks.registered[urn]
        ignore_changes, depends_on = monitor.options.get(urn, ([], []))
        resources.append(
            Resource(
                type=type_,
                name=urn.rsplit("::", 1)[-1],
                urn=urn,
                id=registration.id or "",
                inputs=inputs,
                outputs=dict(registration.state or {}),
                parent=parent,
                provider=provider,
                custom=custom,
                ignore_changes=ignore_changes,
                depends_on=depends_on,
            )
        )
    return StackRun(
        stack=stack, resources=resources, exports=exports, stack_references=dict(the_mocks.stack_references)
    )


def _resolve_exports() -> dict[str, Any]:
    root = settings.get_root_resource()
    outputs = getattr(root, "outputs", {}) if root is not None else {}

    async def resolve() -> dict[str, Any]:
        result = {}
        for key, value in outputs.items():
            result[key] = await pulumi.Output.from_input(value).future()
        return result

    return _sync_await(resolve())
