"""IAM policy documents as small functions: one statement per need, scoped to ARNs.

Documents are plain Python data that may hold Outputs; serialise them once with ``to_json``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi

Statement = dict[str, Any]
Strings = pulumi.Input[str] | Sequence[pulumi.Input[str]]


def _list(value: Strings) -> list[pulumi.Input[str]]:
    return [value] if isinstance(value, str | pulumi.Output) else list(value)


def document(*statements: Statement) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def to_json(policy: Mapping[str, Any]) -> pulumi.Output[str]:
    return pulumi.Output.json_dumps(policy)


def allow(
    sid: str, actions: Sequence[str], resources: Strings, condition: Mapping[str, Any] | None = None
) -> Statement:
    statement: Statement = {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": _list(resources)}
    if condition:
        statement["Condition"] = dict(condition)
    return statement


def trust_service(service: str) -> dict[str, Any]:
    """A role that only ``service`` (e.g. lambda.amazonaws.com) may assume."""
    return document({"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"})


def trust_role(role_arn: pulumi.Input[str]) -> dict[str, Any]:
    """A role that exactly one other role may assume: never an account root or bare account ID."""
    return document({"Effect": "Allow", "Principal": {"AWS": role_arn}, "Action": "sts:AssumeRole"})


def write_logs(log_group_arn: pulumi.Input[str]) -> Statement:
    """Write to one log group; Pulumi creates the group, so no logs:CreateLogGroup."""
    streams = pulumi.Output.concat(log_group_arn, ":log-stream:*")
    return allow("WriteLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [streams])


def function_and_versions(function_arn: pulumi.Input[str]) -> list[pulumi.Input[str]]:
    """A function's ARN and its qualified ARNs (versions and aliases)."""
    return [function_arn, pulumi.Output.concat(function_arn, ":*")]


def deny_insecure_transport(bucket_arn: pulumi.Input[str]) -> dict[str, Any]:
    """The TLS-only bucket policy: every request over plain HTTP is denied, for the bucket and its objects."""
    return document(
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, pulumi.Output.concat(bucket_arn, "/*")],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )
