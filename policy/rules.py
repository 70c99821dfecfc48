"""Guardrails as small pure functions over resource dicts.

A resource is a plain dict: ``{"type", "name", "urn", "id", "inputs", "parent", "provider"}``, where
``inputs`` are the resource's input properties in Pulumi's wire form (camelCase keys; a provider's object
inputs arrive as JSON strings). The test suite feeds it the resources captured under Pulumi's mocks; the
policy pack (a later issue) adapts ``pulumi_policy`` arguments to the same shape. One implementation, many
callers.

Per-resource rules take one resource and return messages; stack rules take all resources and return
``Violation``s. ``check_all`` runs both kinds.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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

    def __str__(self) -> str:
        return f"[{self.rule}] {self.resource}: {self.message}"


# --------------------------------------------------------------------------------------------- helpers


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _as_json(value: Any) -> Any:
    """Inputs carry documents either as JSON text or as already-parsed data."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return None
    return value


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


RESOURCE_RULES: Mapping[str, Callable[[Resource], list[str]]] = {
    "iam-no-wildcard-actions": iam_no_wildcard_actions,
    "iam-resource-star-only-where-required": iam_resource_star_only_where_required,
    "log-group-retention": log_group_has_retention,
    "sg-no-world-ingress": security_group_no_world_ingress,
    "rds-encrypted-private": database_encrypted_and_private,
}


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
        label = _label(bucket)
        blocks = _for_bucket(resources, [_PUBLIC_ACCESS_BLOCK], keys)
        if not any(all((b.get("inputs") or {}).get(f) is True for f in _PUBLIC_ACCESS_FLAGS) for b in blocks):
            violations.append(
                Violation(
                    "s3-public-access-block",
                    label,
                    f"needs a public-access block with {', '.join(_PUBLIC_ACCESS_FLAGS)} true",
                )
            )
        if not _for_bucket(resources, _ENCRYPTION_TYPES, keys):
            violations.append(Violation("s3-encryption", label, "needs a server-side encryption configuration"))
        if not any(_is_tls_only(p) for p in _for_bucket(resources, [_BUCKET_POLICY], keys)):
            violations.append(
                Violation(
                    "s3-tls-only",
                    label,
                    "needs a bucket policy that denies s3:* to everyone when aws:SecureTransport is false, "
                    "on the bucket and its objects",
                )
            )
    return violations


def _provider_reference(provider: Resource) -> str:
    return f"{provider.get('urn')}::{provider.get('id')}"


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
    providers = {_provider_reference(p): p for p in resources if p["type"] == _AWS_PROVIDER}
    for provider in providers.values():
        missing = _missing_default_tags(provider)
        if missing:
            violations.append(Violation("tags", _label(provider), f"default tags lack {', '.join(missing)}"))
    for resource in resources:
        if not resource["type"].startswith("aws:"):
            continue
        if resource.get("provider") not in providers:
            violations.append(
                Violation(
                    "tags",
                    _label(resource),
                    "is not created through the stack's tagged AWS provider (pass it through the component's "
                    "providers option)",
                )
            )
    return violations


STACK_RULES: Mapping[str, Callable[[Sequence[Resource]], list[Violation]]] = {
    "s3-buckets-protected": s3_buckets_are_protected,
    "tags": resources_are_tagged,
}


def check_all(resources: Sequence[Resource]) -> list[Violation]:
    """Every rule over every resource; an empty list means the stack passes."""
    violations = [
        Violation(rule, _label(resource), message)
        for resource in resources
        for rule, check in RESOURCE_RULES.items()
        for message in check(resource)
    ]
    for check in STACK_RULES.values():
        violations.extend(check(resources))
    return violations
