"""The tooling account's deploy function: puts a model image live in stage or prod through their deployer roles."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import policies
from infra.components.python_function import PythonFunction, PythonFunctionArgs

# Updating the code, publishing and smoke-testing a version takes minutes when an image is large or the
# function was inactive; the canary's wait happens in Step Functions, never here.
TIMEOUT_SECONDS = 900
MEMORY_MB = 256


@dataclass(frozen=True)
class DeployTarget:
    role_arn: str
    function_name: str
    alarm_names: tuple[str, str]


@dataclass(frozen=True)
class DeployFunctionArgs:
    function_name: str
    role_name: str
    targets: dict[str, DeployTarget]
    repository_name: pulumi.Input[str]
    repository_arn: pulumi.Input[str]
    log_retention_days: int


def deploy_targets_json(targets: dict[str, DeployTarget]) -> str:
    """The DEPLOY_TARGETS environment variable the function reads."""
    return json.dumps(
        {
            environment: {"roleArn": t.role_arn, "functionName": t.function_name, "alarmNames": list(t.alarm_names)}
            for environment, t in sorted(targets.items())
        }
    )


def deploy_permissions(args: DeployFunctionArgs) -> list[policies.Statement]:
    return [
        policies.allow("AssumeDeployerRoles", ["sts:AssumeRole"], [t.role_arn for t in args.targets.values()]),
        # Tags the image an environment runs with a protected live- tag, so the lifecycle policy keeps it.
        policies.allow(
            "TagLiveImages", ["ecr:BatchGetImage", "ecr:DescribeImages", "ecr:PutImage"], args.repository_arn
        ),
    ]


class DeployFunction(pulumi.ComponentResource):
    function: aws.lambda_.Function
    role: aws.iam.Role

    def __init__(self, name: str, args: DeployFunctionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("serverless-mlops:pipeline:DeployFunction", name, None, opts)
        deployed = PythonFunction(
            name,
            PythonFunctionArgs(
                folder="deploy",
                function_name=args.function_name,
                description="Deploys a model image to stage or prod: update, publish, smoke-test, move alias live",
                statements=deploy_permissions(args),
                log_retention_days=args.log_retention_days,
                environment={
                    "DEPLOY_TARGETS": deploy_targets_json(args.targets),
                    "MODEL_REPOSITORY_NAME": args.repository_name,
                },
                timeout_seconds=TIMEOUT_SECONDS,
                memory_mb=MEMORY_MB,
                # A fixed name: the stage and prod deployer roles trust exactly this role's ARN.
                role_name=args.role_name,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.function, self.role = deployed.function, deployed.role
        self.register_outputs({"functionArn": self.function.arn, "roleArn": self.role.arn})
