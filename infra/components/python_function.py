"""One of the pipeline's Python Lambda functions (from ``functions/<folder>``), with its own role and log group."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra import packaging, policies


@dataclass(frozen=True)
class PythonFunctionArgs:
    folder: str
    function_name: pulumi.Input[str]
    description: str
    # What the function may do beyond writing its own logs: one statement per need.
    statements: Sequence[policies.Statement]
    log_retention_days: int
    environment: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    timeout_seconds: int = 30
    memory_mb: int = 256
    layers: Sequence[pulumi.Input[str]] = ()
    # A fixed role name, for roles that another account's trust policy names; None lets Pulumi name it.
    role_name: str | None = None


class PythonFunction(pulumi.ComponentResource):
    function: aws.lambda_.Function
    role: aws.iam.Role
    log_group: aws.cloudwatch.LogGroup

    def __init__(self, name: str, args: PythonFunctionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("serverless-mlops:functions:PythonFunction", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # Created before the function, so Lambda never creates an unmanaged group without retention.
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=pulumi.Output.concat("/aws/lambda/", args.function_name),
            retention_in_days=args.log_retention_days,
            opts=child,
        )
        self.role = aws.iam.Role(
            f"{name}-role",
            name=args.role_name,
            description=args.description[:1000],
            assume_role_policy=json.dumps(policies.trust_service("lambda.amazonaws.com")),
            opts=child,
        )
        permissions = aws.iam.RolePolicy(
            f"{name}-permissions",
            role=self.role.id,
            policy=policies.to_json(policies.document(*args.statements, policies.write_logs(self.log_group.arn))),
            opts=child,
        )
        self.function = aws.lambda_.Function(
            f"{name}-function",
            name=args.function_name,
            description=args.description[:256],
            runtime="python3.12",
            # Pure Python: arm64 is cheaper per GB-second and as fast here.
            architectures=["arm64"],
            handler=packaging.handler_name(args.folder),
            code=packaging.function_archive(args.folder),
            role=self.role.arn,
            timeout=args.timeout_seconds,
            memory_size=args.memory_mb,
            layers=list(args.layers) or None,
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=dict(args.environment))
            if args.environment
            else None,
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="JSON", log_group=self.log_group.name),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.log_group, permissions]),
        )
        self.register_outputs({"functionArn": self.function.arn, "roleArn": self.role.arn})
