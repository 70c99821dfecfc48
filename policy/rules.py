"""Guardrails as small pure functions over resource dicts.

A resource is a plain dict: ``{"type", "name", "urn", "id", "inputs", "parent", "provider"}``, where
``inputs`` are the resource's input properties in Pulumi's wire form (camelCase keys; a provider's object
inputs arrive as JSON strings; a Pulumi secret is the wire marker ``{SECRET_SIGNATURE_KEY: SECRET_SIGNATURE,
"value": ...}``), ``parent`` is the parent's URN and ``provider`` the provider reference
``<provider URN>::<provider ID>`` (the ID may be empty where it is not known). Two thin adapters build these
dicts: the test suite from the resources captured under Pulumi's mocks (infra/evaluate.py), the CrossGuard
policy pack from ``pulumi_policy``'s arguments (policy/pack.py). One implementation, two callers.

Per-resource rules take one resource and return messages; stack rules take all resources and return
``Violation``s. ``RULES`` lists every rule with its name, description and category; cost rules are advisory,
every other rule is mandatory. ``check_all`` runs them all.

Secretness. Under the mocks a Pulumi secret keeps its wire marker, so rules can tell a secret from plain text.
``pulumi_policy`` (1.21) removes the marker before a policy sees the value (pulumi/pulumi-policy#241; the
CrossGuard FAQ says policies see secrets decrypted), so the pack marks as secret only the properties the
resource declares secret (``additionalSecretOutputs``, which pulumi-aws sets for a secret version's
``secretString`` and a parameter's ``value``). The rule that depends on secretness is written so the
difference can only make the pack more lenient, never stricter: see ``no_plaintext_secrets``.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Literal

Resource = Mapping[str, Any]

REQUIRED_TAG_KEYS: tuple[str, ...] = ("project", "stack", "model", "managed-by")

# Actions that may be granted on Resource "*" because AWS offers no resource-level permission for them.
# Each entry links the Service Authorization Reference page whose "Resource types" column is empty for it.
RESOURCE_STAR_ACTIONS: Mapping[str, str] = {
    # Registry login token: the action has no resource type.
    "ecr:GetAuthorizationToken": "https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticcontainerregistry.html",
    # Metric data is scoped by the cloudwatch:namespace condition key, not by a resource.
    "cloudwatch:PutMetricData": "https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html",
    # Metric reads (the canary's check of a new version's errors): GetMetricData has no resource types.
    "cloudwatch:GetMetricData": "https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html",
    # X-Ray trace upload from Lambda / Step Functions tracing: no resource types.
    "xray:PutTraceSegments": "https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsx-ray.html",
    "xray:GetSamplingRules": "https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsx-ray.html",
    "xray:GetSamplingTargets": "https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsx-ray.html",
    # Step Functions' own log delivery to CloudWatch Logs: AWS documents these with Resource "*"
    # (https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html); none has a resource type.
    **dict.fromkeys(
        (
            "logs:CreateLogDelivery",
            "logs:DeleteLogDelivery",
            "logs:DescribeLogGroups",
            "logs:DescribeResourcePolicies",
            "logs:GetLogDelivery",
            "logs:ListLogDeliveries",
            "logs:PutResourcePolicy",
            "logs:UpdateLogDelivery",
        ),
        "https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatchlogs.html",
    ),
    "xray:PutTelemetryRecords": "https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsx-ray.html",
}

# Resource types whose inputs hold IAM policy documents, and where.
_IDENTITY_POLICY_FIELDS: Mapping[str, tuple[str, ...]] = {
    "aws:iam/policy:Policy": ("policy",),
    "aws:iam/rolePolicy:RolePolicy": ("policy",),
    "aws:iam/userPolicy:UserPolicy": ("policy",),
    "aws:iam/groupPolicy:GroupPolicy": ("policy",),
    "aws:iam/role:Role": ("inlinePolicies[].policy",),
}
_RESOURCE_POLICY_FIELDS: Mapping[str, tuple[str, ...]] = {
    "aws:iam/role:Role": ("assumeRolePolicy",),
    "aws:s3/bucketPolicy:BucketPolicy": ("policy",),
    "aws:ecr/repositoryPolicy:RepositoryPolicy": ("policy",),
    "aws:kms/key:Key": ("policy",),
    "aws:sns/topicPolicy:TopicPolicy": ("policy",),
    "aws:sqs/queuePolicy:QueuePolicy": ("policy",),
    "aws:secretsmanager/secretPolicy:SecretPolicy": ("policy",),
}

_BUCKET_TYPES = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
_ENCRYPTION_TYPES = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
_BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
_LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
_AWS_PROVIDER = "pulumi:providers:aws"
_KMS_ROOT_PRINCIPAL = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:root$")
_PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


@dataclass(frozen=True)
class Violation:
    rule: str
    resource: str
    message: str
    # Where the policy pack reports it; "" for a stack-wide finding.
    urn: str = ""

    def __str__(self) -> str:
        return f"[{self.rule}] {self.resource}: {self.message}"


# --------------------------------------------------------------------------------------------- helpers


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    # Any sequence but text: the policy pack hands over pulumi_policy's read-only list proxies.
    return list(value) if isinstance(value, Sequence) and not isinstance(value, str | bytes) else [value]


def _as_json(value: Any) -> Any:
    """Inputs carry documents either as JSON text or as already-parsed data."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return None
    return value


# Pulumi's wire form of a secret (pulumi/sdk/go/common/resource/properties.go): a map carrying this signature.
# Type signatures, not secrets.
SECRET_SIGNATURE_KEY = "4dabf18193072939515e22adb298388d"  # noqa: S105
SECRET_SIGNATURE = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105


def is_secret(value: Any) -> bool:
    """Whether a value is a Pulumi secret (carries the wire marker)."""
    return isinstance(value, Mapping) and value.get(SECRET_SIGNATURE_KEY) == SECRET_SIGNATURE


def as_secret(value: Any) -> dict[str, Any]:
    """``value`` in Pulumi's wire form of a secret."""
    return {SECRET_SIGNATURE_KEY: SECRET_SIGNATURE, "value": value}


def reveal(value: Any) -> Any:
    """The value inside a Pulumi secret; any other value as it is."""
    return value.get("value") if is_secret(value) else value


def _field_values(inputs: Mapping[str, Any], path: str) -> Iterator[Any]:
    if path.endswith("[].policy"):
        for item in _as_list(inputs.get(path.split("[]")[0])):
            if isinstance(item, Mapping):
                yield item.get("policy")
    else:
        yield inputs.get(path)


def policy_documents(resource: Resource, *, identity: bool) -> Iterator[dict[str, Any]]:
    """The parsed IAM documents of a resource: identity policies, or resource/trust policies."""
    fields = (_IDENTITY_POLICY_FIELDS if identity else _RESOURCE_POLICY_FIELDS).get(resource["type"], ())
    for path in fields:
        for raw in _field_values(resource.get("inputs") or {}, path):
            document = _as_json(raw)
            if isinstance(document, Mapping):
                yield dict(document)


def statements(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [s for s in _as_list(document.get("Statement")) if isinstance(s, Mapping)]


def _is_wildcard(action: str) -> bool:
    return "*" in action or "?" in action


def _is_kms_root_statement(resource: Resource, statement: Mapping[str, Any]) -> bool:
    """The key policy statement AWS documents as the default: the account root may administer its key."""
    if resource["type"] != "aws:kms/key:Key":
        return False
    principal = statement.get("Principal")
    roots = _as_list(principal.get("AWS")) if isinstance(principal, Mapping) else []
    return (
        _as_list(statement.get("Action")) == ["kms:*"]
        and _as_list(statement.get("Resource")) == ["*"]
        and len(roots) == 1
        and isinstance(roots[0], str)
        and _KMS_ROOT_PRINCIPAL.match(roots[0]) is not None
    )


def _label(resource: Resource) -> str:
    return f"{resource['type']} '{resource['name']}'"


# ------------------------------------------------------------------------------------ per-resource rules


def iam_no_wildcard_actions(resource: Resource) -> list[str]:
    """No Allow grants a wildcard action (``*``, ``service:*``, ``service:Get*``) or uses NotAction."""
    problems = []
    for identity in (True, False):
        for document in policy_documents(resource, identity=identity):
            for statement in statements(document):
                if statement.get("Effect") != "Allow" or _is_kms_root_statement(resource, statement):
                    continue
                if "NotAction" in statement:
                    problems.append(f"an Allow statement uses NotAction {statement['NotAction']!r}")
                wild = [a for a in _as_list(statement.get("Action")) if isinstance(a, str) and _is_wildcard(a)]
                if wild:
                    problems.append(f"an Allow statement grants wildcard action(s) {', '.join(wild)}")
    return problems


def iam_resource_star_only_where_required(resource: Resource) -> list[str]:
    """Identity policies grant ``Resource: "*"`` only for actions on the documented allow-list."""
    problems = []
    for document in policy_documents(resource, identity=True):
        for statement in statements(document):
            if statement.get("Effect") != "Allow":
                continue
            if "NotResource" in statement:
                problems.append("an Allow statement uses NotResource")
            if "*" not in _as_list(statement.get("Resource")):
                continue
            extra = [a for a in _as_list(statement.get("Action")) if a not in RESOURCE_STAR_ACTIONS]
            if extra:
                problems.append(
                    f'Resource "*" for {", ".join(map(str, extra))}: scope them to ARNs, or, if AWS has no '
                    "resource-level permission for them, add them to RESOURCE_STAR_ACTIONS with the link"
                )
    return problems


def log_group_has_retention(resource: Resource) -> list[str]:
    """Every log group expires its events; CloudWatch keeps them forever (and bills for them) otherwise."""
    if resource["type"] != _LOG_GROUP:
        return []
    retention = (resource.get("inputs") or {}).get("retentionInDays")
    if not isinstance(retention, int | float) or isinstance(retention, bool) or retention <= 0:
        return ["no retentionInDays: events would be kept (and billed) forever"]
    return []


_SECURITY_GROUP_INLINE = ("aws:ec2/securityGroup:SecurityGroup", "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
_SECURITY_GROUP_INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
_SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"


def _is_whole_internet(cidr: Any) -> bool:
    try:
        return ipaddress.ip_network(str(cidr), strict=False).prefixlen == 0
    except ValueError:
        return False


def security_group_no_world_ingress(resource: Resource) -> list[str]:
    """No security group admits 0.0.0.0/0 or ::/0: public entry points are managed services (API Gateway, Lambda
    function URLs), and what sits behind them admits only their security groups."""
    inputs = resource.get("inputs") or {}
    if resource["type"] == _SECURITY_GROUP_INGRESS_RULE:
        cidrs = [inputs.get("cidrIpv4"), inputs.get("cidrIpv6")]
    elif resource["type"] == _SECURITY_GROUP_RULE and inputs.get("type") == "ingress":
        cidrs = [*_as_list(inputs.get("cidrBlocks")), *_as_list(inputs.get("ipv6CidrBlocks"))]
    elif resource["type"] in _SECURITY_GROUP_INLINE:
        cidrs = [
            cidr
            for rule in _as_list(inputs.get("ingress"))
            if isinstance(rule, Mapping)
            for cidr in (*_as_list(rule.get("cidrBlocks")), *_as_list(rule.get("ipv6CidrBlocks")))
        ]
    else:
        return []
    world = sorted({str(c) for c in cidrs if c is not None and _is_whole_internet(c)})
    return [f"ingress from {c} admits the whole internet: admit a security group or a narrower block" for c in world]


_RDS_CLUSTER = "aws:rds/cluster:Cluster"
_RDS_INSTANCES = ("aws:rds/instance:Instance", "aws:rds/clusterInstance:ClusterInstance")


def database_encrypted_and_private(resource: Resource) -> list[str]:
    """RDS storage is encrypted and no DB instance has a public address."""
    inputs = resource.get("inputs") or {}
    problems = []
    encrypted_here = resource["type"] in (_RDS_CLUSTER, "aws:rds/instance:Instance")
    if encrypted_here and inputs.get("storageEncrypted") is not True:
        problems.append("storageEncrypted is not true: set storage_encrypted=True")
    if resource["type"] in _RDS_INSTANCES and inputs.get("publiclyAccessible") is True:
        problems.append("publiclyAccessible is true: keep databases in isolated subnets, behind a security group")
    return problems


# Words that make a name say "this is a secret"; a trailing qualifier says it names or points at one instead.
_SECRET_WORDS = frozenset(
    {
        *("secret", "secrets", "token", "tokens", "password", "passwords", "passwd", "passphrase"),
        *("apikey", "credential", "credentials"),
    }
)
_SECRET_WORD_PAIRS = frozenset({("api", "key"), ("private", "key"), ("access", "key")})
_REFERENCE_QUALIFIERS = frozenset({"arn", "arns", "name", "names", "id", "ids", "table", "ttl", "seconds", "header"})
_NAME_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
# A reference to a secret kept elsewhere: a Secrets Manager secret or SSM parameter ARN (CodeBuild and ECS
# allow a ":json-key" suffix, which the pattern accepts).
_SECRET_REFERENCE = re.compile(r"^arn:aws[a-z-]*:(secretsmanager|ssm):")
# Values that are secrets whatever their name says. Few and specific, so an ordinary value never matches.
_SECRET_VALUE_PATTERNS: Mapping[str, re.Pattern[str]] = {
    "a Slack token": re.compile(r"\bxox[abposre]-[0-9A-Za-z-]{10,}"),
    "a Slack webhook URL": re.compile(r"https://hooks\.slack\.com/(services|workflows|triggers)/\S+"),
    "an AWS access key ID": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "a private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "a GitHub token": re.compile(r"\b(gh[pousr]_[0-9A-Za-z]{36,}|github_pat_[0-9A-Za-z_]{22,})"),
    "a password inside a URL": re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@"),
}
_LAMBDA_FUNCTION = "aws:lambda/function:Function"
_CODEBUILD_PROJECT = "aws:codebuild/project:Project"
_ECS_TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
_SSM_PARAMETER = "aws:ssm/parameter:Parameter"
_SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"  # noqa: S105 - a resource type


def _says_secret(name: str) -> bool:
    """Whether a variable or parameter name says it holds a secret (``SLACK_TOKEN``, ``dbPassword``, ``api-key``)
    rather than naming or pointing at one (``SLACK_TOKEN_SECRET_ARN``, ``TOKEN_TABLE``)."""
    words = [w.lower() for w in _NAME_WORDS.findall(name)]
    if not words or words[-1] in _REFERENCE_QUALIFIERS:
        return False
    return any(w in _SECRET_WORDS for w in words) or any(pair in _SECRET_WORD_PAIRS for pair in pairwise(words))


def _secret_kind(value: Any) -> str | None:
    """What secret a value looks like ("a Slack token"), or None."""
    if not isinstance(value, str):
        return None
    return next((kind for kind, pattern in _SECRET_VALUE_PATTERNS.items() if pattern.search(value)), None)


def _environment(resource: Resource) -> list[tuple[str, Any]]:
    """The plain-text environment variables a compute resource passes: (name, value) pairs."""
    inputs = resource.get("inputs") or {}
    if resource["type"] == _LAMBDA_FUNCTION:
        environment = reveal(inputs.get("environment"))
        variables = reveal(environment.get("variables")) if isinstance(environment, Mapping) else None
        return [(str(k), v) for k, v in variables.items()] if isinstance(variables, Mapping) else []
    if resource["type"] == _CODEBUILD_PROJECT:
        environment = reveal(inputs.get("environment"))
        entries = _as_list(environment.get("environmentVariables")) if isinstance(environment, Mapping) else []
        # SECRETS_MANAGER and PARAMETER_STORE values are references that CodeBuild resolves at build time.
        return [
            (str(e.get("name")), e.get("value"))
            for e in map(reveal, entries)
            if isinstance(e, Mapping) and e.get("type", "PLAINTEXT") == "PLAINTEXT"
        ]
    if resource["type"] == _ECS_TASK_DEFINITION:
        containers = _as_json(reveal(inputs.get("containerDefinitions")))
        # "secrets" entries are valueFrom references that ECS resolves when the task starts.
        return [
            (str(e.get("name")), e.get("value"))
            for container in _as_list(containers)
            if isinstance(container, Mapping)
            for e in _as_list(container.get("environment"))
            if isinstance(e, Mapping)
        ]
    return []


def _environment_problems(resource: Resource) -> list[str]:
    findings = []
    for name, raw in _environment(resource):
        value = reveal(raw)
        kind = _secret_kind(value)
        if kind:
            findings.append(f"environment variable {name} holds what looks like {kind}")
        elif _says_secret(name) and value not in (None, "") and not _SECRET_REFERENCE.match(str(value)):
            findings.append(f"environment variable {name} is named like a secret but holds a value, not an ARN")
    if not findings:
        return []
    return [
        f"{'; '.join(findings)}. Keep secrets in Secrets Manager and pass the secret's ARN (the code reads it at run "
        "time); a Pulumi secret does not help here, AWS shows environment variables in plain text to anyone who "
        "can read the configuration"
    ]


def _parameter_problems(resource: Resource) -> list[str]:
    inputs = resource.get("inputs") or {}
    name = str(reveal(inputs.get("name")) or resource["name"])
    kind = inputs.get("type")
    value, insecure = inputs.get("value"), inputs.get("insecureValue")
    sensitive = (
        kind == "SecureString"
        or _says_secret(name)
        or _secret_kind(reveal(value)) is not None
        or _secret_kind(reveal(insecure)) is not None
    )
    if not sensitive:
        return []
    problems = []
    if kind != "SecureString":
        problems.append(f"parameter {name} holds a secret: make it type SecureString (KMS-encrypted)")
    if insecure is not None:
        problems.append(f"parameter {name} uses insecureValue, which is shown in plain text in plans and state")
    if value is not None and not is_secret(value):
        problems.append(
            f"parameter {name}: value is not a Pulumi secret, so it is stored in plain text in the stack's state; "
            "pass pulumi.Output.secret(...) or config.require_secret(...)"
        )
    return problems


def _secret_version_problems(resource: Resource) -> list[str]:
    inputs = resource.get("inputs") or {}
    return [
        f"{field} is not a Pulumi secret, so it is stored in plain text in the stack's state; pass "
        "pulumi.Output.secret(...), config.require_secret(...) or a generated password's result"
        for field in ("secretString", "secretBinary")
        if inputs.get(field) is not None and not is_secret(inputs.get(field))
    ]


def no_plaintext_secrets(resource: Resource) -> list[str]:
    """No secret in plain text: not in environment variables (Lambda, CodeBuild, ECS), and only as a Pulumi secret in
    an SSM SecureString parameter or a Secrets Manager secret version.

    Environment variables are judged by their names and values alone: a Pulumi secret there is still shown in
    plain text by AWS, so the rule is the same under the mocks and in the policy pack. Parameter and secret
    version values must be Pulumi secrets so the stack's state encrypts them; the pack can only see the
    properties the resource declares secret (see the module docstring), so there it is as lenient as it must be.
    Messages never repeat a value.
    """
    if resource["type"] == _SSM_PARAMETER:
        return _parameter_problems(resource)
    if resource["type"] == _SECRET_VERSION:
        return _secret_version_problems(resource)
    return _environment_problems(resource)


_ECR_REPOSITORY = "aws:ecr/repository:Repository"


def ecr_immutable_and_scanned(resource: Resource) -> list[str]:
    """Image tags cannot be overwritten (a deployed tag always names the same image) and images are scanned for
    vulnerabilities when pushed."""
    if resource["type"] != _ECR_REPOSITORY:
        return []
    inputs = resource.get("inputs") or {}
    problems = []
    if inputs.get("imageTagMutability") != "IMMUTABLE":
        problems.append("imageTagMutability is not IMMUTABLE: a pushed tag could be overwritten with another image")
    scanning = inputs.get("imageScanningConfiguration")
    if not (isinstance(scanning, Mapping) and scanning.get("scanOnPush") is True):
        problems.append("imageScanningConfiguration.scanOnPush is not true: images are not scanned when pushed")
    return problems


_STATE_MACHINE = "aws:sfn/stateMachine:StateMachine"
_LOG_LEVELS = ("ALL", "ERROR", "FATAL")
# The Lambda service's own transient errors (the function may not have run): AWS's best practice is to retry them
# (https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html).
LAMBDA_TRANSIENT_ERRORS: tuple[str, ...] = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
)
# Error names a retrier may use that also match the errors above.
_RETRY_WILDCARDS = ("States.ALL", "States.TaskFailed")


def state_machine_logs_and_traces(resource: Resource) -> list[str]:
    """Every state machine logs its executions to CloudWatch Logs and traces them with X-Ray."""
    if resource["type"] != _STATE_MACHINE:
        return []
    inputs = resource.get("inputs") or {}
    problems = []
    logging_ = inputs.get("loggingConfiguration")
    logging_ = logging_ if isinstance(logging_, Mapping) else {}
    if logging_.get("level") not in _LOG_LEVELS or not logging_.get("logDestination"):
        problems.append(
            f"loggingConfiguration needs a level ({', '.join(_LOG_LEVELS)}) and a logDestination log group: "
            "without them a failed run leaves no record"
        )
    tracing = inputs.get("tracingConfiguration")
    if not (isinstance(tracing, Mapping) and tracing.get("enabled") is True):
        problems.append("tracingConfiguration.enabled is not true: runs are not traced with X-Ray")
    return problems


def _definition_states(resource: Resource) -> tuple[list[tuple[str, Mapping[str, Any]]], list[str]]:
    """Every state of a state machine's definition, nested ones included, as (name, state); or the problem."""
    if resource["type"] != _STATE_MACHINE:
        return [], []
    definition = _as_json(reveal((resource.get("inputs") or {}).get("definition")))
    if not isinstance(definition, Mapping):
        return [], ["definition is not a JSON object (Amazon States Language): it cannot be checked"]
    found: list[tuple[str, Mapping[str, Any]]] = []
    todo = [definition]
    while todo:
        states = todo.pop().get("States")
        for name, state in states.items() if isinstance(states, Mapping) else ():
            if not isinstance(state, Mapping):
                continue
            found.append((str(name), state))
            todo.extend(b for b in _as_list(state.get("Branches")) if isinstance(b, Mapping))
            todo.extend(state[k] for k in ("Iterator", "ItemProcessor") if isinstance(state.get(k), Mapping))
    return found, []


# The Lambda service integration (lambda:invoke, .waitForTaskToken included) or a function ARN (the older form).
_LAMBDA_TASK_RESOURCE = re.compile(r"^arn:aws[a-z-]*:(states:::lambda:invoke|lambda:)")


def _is_lambda_task(state: Mapping[str, Any]) -> bool:
    resource = state.get("Resource")
    is_task = state.get("Type") == "Task" and isinstance(resource, str)
    return is_task and _LAMBDA_TASK_RESOURCE.match(resource) is not None


def _retried(state: Mapping[str, Any]) -> set[str]:
    retried: set[str] = set()
    for retrier in _as_list(state.get("Retry")):
        # MaxAttempts defaults to 3; 0 means "never retry".
        if isinstance(retrier, Mapping) and retrier.get("MaxAttempts", 3) != 0:
            retried.update(str(e) for e in _as_list(retrier.get("ErrorEquals")))
    return retried


def state_machine_lambda_tasks_retry(resource: Resource) -> list[str]:
    """Every Lambda task of a state machine retries the Lambda service's transient errors, so a passing hiccup of
    the service does not fail a whole run."""
    states, problems = _definition_states(resource)
    for name, state in states:
        if not _is_lambda_task(state):
            continue
        retried = _retried(state)
        if any(wildcard in retried for wildcard in _RETRY_WILDCARDS):
            continue
        missing = [error for error in LAMBDA_TRANSIENT_ERRORS if error not in retried]
        if missing:
            problems.append(f"Lambda task {name!r} does not retry {', '.join(missing)}")
    return problems


def state_machine_approval_times_out(resource: Resource) -> list[str]:
    """Every callback task (``.waitForTaskToken``: the approval) has a timeout; without one a run waits for an
    answer for a year."""
    states, problems = _definition_states(resource)
    for name, state in states:
        if state.get("Type") != "Task" or not str(state.get("Resource", "")).endswith(".waitForTaskToken"):
            continue
        if "TimeoutSecondsPath" in state:
            continue
        timeout = state.get("TimeoutSeconds")
        if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout < 1:
            problems.append(f"callback task {name!r} has no TimeoutSeconds: a run would wait a year for an answer")
    return problems


_NAT_GATEWAY = "aws:ec2/natGateway:NatGateway"
_AWSX_VPC = "awsx:ec2:Vpc"


def no_nat_gateway(resource: Resource) -> list[str]:
    """No NAT gateway: each bills by the hour and per GB processed even when idle; private subnets reach AWS
    services through VPC endpoints instead."""
    if resource["type"] == _NAT_GATEWAY:
        return ["a NAT gateway bills by the hour and per GB processed: reach AWS services through VPC endpoints"]
    if resource["type"] == _AWSX_VPC:
        strategy = (resource.get("inputs") or {}).get("natGateways")
        # awsx creates one NAT gateway per availability zone unless told otherwise.
        if not (isinstance(strategy, Mapping) and strategy.get("strategy") == "None"):
            return ['this awsx VPC creates NAT gateways: set nat_gateways strategy "None" and use VPC endpoints']
    return []


# ---------------------------------------------------------------------------------------- stack rules


def _bucket_keys(bucket: Resource) -> set[str]:
    inputs = bucket.get("inputs") or {}
    return {str(v) for v in (bucket.get("id"), inputs.get("bucket")) if v}


def _for_bucket(resources: Sequence[Resource], types: Iterable[str], keys: set[str]) -> list[Resource]:
    wanted = set(types)
    return [r for r in resources if r["type"] in wanted and str((r.get("inputs") or {}).get("bucket")) in keys]


def _is_tls_only(policy: Resource) -> bool:
    document = _as_json((policy.get("inputs") or {}).get("policy"))
    if not isinstance(document, Mapping):
        return False
    for statement in statements(document):
        principal = statement.get("Principal")
        everyone = principal == "*" or (isinstance(principal, Mapping) and _as_list(principal.get("AWS")) == ["*"])
        condition = (statement.get("Condition") or {}).get("Bool") or {}
        insecure = [str(v).lower() for v in _as_list(condition.get("aws:SecureTransport"))]
        targets = [str(r) for r in _as_list(statement.get("Resource"))]
        if (
            statement.get("Effect") == "Deny"
            and everyone
            and "s3:*" in _as_list(statement.get("Action"))
            and insecure == ["false"]
            and any(t.endswith("/*") for t in targets)
            and any(not t.endswith("/*") for t in targets)
        ):
            return True
    return False


def s3_buckets_are_protected(resources: Sequence[Resource]) -> list[Violation]:
    """Every bucket has a full public-access block, server-side encryption and a TLS-only policy."""
    violations = []
    for bucket in (r for r in resources if r["type"] in _BUCKET_TYPES):
        keys = _bucket_keys(bucket)
        label, urn = _label(bucket), str(bucket.get("urn") or "")
        blocks = _for_bucket(resources, [_PUBLIC_ACCESS_BLOCK], keys)
        if not any(all((b.get("inputs") or {}).get(f) is True for f in _PUBLIC_ACCESS_FLAGS) for b in blocks):
            violations.append(
                Violation(
                    "s3-public-access-block",
                    label,
                    f"needs a public-access block with {', '.join(_PUBLIC_ACCESS_FLAGS)} true",
                    urn,
                )
            )
        if not _for_bucket(resources, _ENCRYPTION_TYPES, keys):
            violations.append(Violation("s3-encryption", label, "needs a server-side encryption configuration", urn))
        if not any(_is_tls_only(p) for p in _for_bucket(resources, [_BUCKET_POLICY], keys)):
            violations.append(
                Violation(
                    "s3-tls-only",
                    label,
                    "needs a bucket policy that denies s3:* to everyone when aws:SecureTransport is false, "
                    "on the bucket and its objects",
                    urn,
                )
            )
    return violations


def _provider_urn(reference: Any) -> str:
    """The provider URN in a provider reference ``<URN>::<ID>``."""
    return str(reference).rsplit("::", 1)[0] if reference else ""


def _missing_default_tags(provider: Resource) -> list[str]:
    default_tags = _as_json((provider.get("inputs") or {}).get("defaultTags"))
    tags = default_tags.get("tags") if isinstance(default_tags, Mapping) else None
    tags = tags if isinstance(tags, Mapping) else {}
    missing = [k for k in REQUIRED_TAG_KEYS if not tags.get(k)]
    if tags.get("managed-by") not in (None, "pulumi"):
        missing.append("managed-by=pulumi")
    return missing


def resources_are_tagged(resources: Sequence[Resource]) -> list[Violation]:
    """Tags are set once, as the AWS provider's default tags, and every AWS resource uses that provider."""
    violations = []
    # Matched by URN: the pack never sees provider IDs.
    providers = {str(p.get("urn")): p for p in resources if p["type"] == _AWS_PROVIDER}
    for urn, provider in providers.items():
        missing = _missing_default_tags(provider)
        if missing:
            violations.append(Violation("tags", _label(provider), f"default tags lack {', '.join(missing)}", urn))
    for resource in resources:
        if not resource["type"].startswith("aws:"):
            continue
        if _provider_urn(resource.get("provider")) not in providers:
            violations.append(
                Violation(
                    "tags",
                    _label(resource),
                    "is not created through the stack's tagged AWS provider (pass it through the component's "
                    "providers option)",
                    str(resource.get("urn") or ""),
                )
            )
    return violations


# ------------------------------------------------------------------------------------------- the rule set

Category = Literal["security", "reliability", "governance", "cost"]
Enforcement = Literal["mandatory", "advisory"]


@dataclass(frozen=True)
class _RuleInfo:
    name: str
    description: str
    category: Category

    @property
    def enforcement(self) -> Enforcement:
        """The default level: a cost rule warns, every other rule blocks. The pack's config can change either."""
        return "advisory" if self.category == "cost" else "mandatory"


@dataclass(frozen=True)
class ResourceRule(_RuleInfo):
    check: Callable[[Resource], list[str]]


@dataclass(frozen=True)
class StackRule(_RuleInfo):
    check: Callable[[Sequence[Resource]], list[Violation]]


RULES: tuple[ResourceRule | StackRule, ...] = (
    ResourceRule(
        "iam-no-wildcard-actions",
        "IAM policies grant named actions only: no '*', 'service:*', 'service:Get*' or NotAction in an Allow.",
        "security",
        iam_no_wildcard_actions,
    ),
    ResourceRule(
        "iam-resource-star-only-where-required",
        'IAM identity policies use Resource "*" only for actions AWS cannot scope to a resource (the allow-list).',
        "security",
        iam_resource_star_only_where_required,
    ),
    ResourceRule(
        "sg-no-world-ingress",
        "No security group admits 0.0.0.0/0 or ::/0.",
        "security",
        security_group_no_world_ingress,
    ),
    ResourceRule(
        "rds-encrypted-private",
        "Databases (Aurora included) encrypt their storage and are not publicly accessible.",
        "security",
        database_encrypted_and_private,
    ),
    ResourceRule(
        "no-plaintext-secrets",
        "No secret in plain text: none in environment variables; SSM parameters and secret versions hold Pulumi "
        "secrets.",
        "security",
        no_plaintext_secrets,
    ),
    ResourceRule(
        "ecr-immutable-scan-on-push",
        "ECR repositories have immutable tags and scan images on push.",
        "security",
        ecr_immutable_and_scanned,
    ),
    ResourceRule(
        "sfn-logging-tracing",
        "State machines log executions to CloudWatch Logs and trace them with X-Ray.",
        "security",
        state_machine_logs_and_traces,
    ),
    ResourceRule(
        "sfn-lambda-retries",
        "State machine Lambda tasks retry the Lambda service's transient errors.",
        "reliability",
        state_machine_lambda_tasks_retry,
    ),
    ResourceRule(
        "sfn-approval-timeout",
        "State machine callback tasks (the approval) have a timeout.",
        "reliability",
        state_machine_approval_times_out,
    ),
    ResourceRule(
        "log-group-retention",
        "Log groups expire their events instead of keeping (and billing) them forever.",
        "cost",
        log_group_has_retention,
    ),
    ResourceRule(
        "no-nat-gateway",
        "No NAT gateway: private subnets reach AWS services through VPC endpoints.",
        "cost",
        no_nat_gateway,
    ),
    StackRule(
        "s3-buckets-protected",
        "Every S3 bucket has a full public-access block, server-side encryption and a TLS-only bucket policy.",
        "security",
        s3_buckets_are_protected,
    ),
    StackRule(
        "tags",
        "Every AWS resource is created through the AWS provider whose default tags name project, stack, model and "
        "managed-by.",
        "governance",
        resources_are_tagged,
    ),
)

RESOURCE_RULES: Mapping[str, Callable[[Resource], list[str]]] = {
    rule.name: rule.check for rule in RULES if isinstance(rule, ResourceRule)
}
STACK_RULES: Mapping[str, Callable[[Sequence[Resource]], list[Violation]]] = {
    rule.name: rule.check for rule in RULES if isinstance(rule, StackRule)
}


def check_all(resources: Sequence[Resource]) -> list[Violation]:
    """Every rule over every resource; an empty list means the stack passes."""
    violations = [
        Violation(rule, _label(resource), message, str(resource.get("urn") or ""))
        for resource in resources
        for rule, check in RESOURCE_RULES.items()
        for message in check(resource)
    ]
    for check in STACK_RULES.values():
        violations.extend(check(resources))
    return violations
