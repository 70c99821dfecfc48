"""What runs in a stage or prod account: the inference function, alias `live`, its URL, logs and alarms, and
the deployer role that the tooling account's deploy function assumes."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import naming, policies
from infra.config import InferenceSettings

ALARM_PERIOD_SECONDS = 60
LAMBDA_DEPLOY_ACTIONS = (
    "lambda:GetAlias",
    "lambda:GetFunction",
    "lambda:GetFunctionConfiguration",
    "lambda:InvokeFunction",
    "lambda:PublishVersion",
    "lambda:UpdateAlias",
    "lambda:UpdateFunctionCode",
)


@dataclass(frozen=True)
class InferenceServiceArgs:
    function_name: pulumi.Input[str]
    deployer_role_name: pulumi.Input[str]
    alarm_names: tuple[pulumi.Input[str], pulumi.Input[str]]
    architecture: pulumi.Input[str]
    bootstrap_image_uri: pulumi.Input[str]
    ecr_repository_arn: pulumi.Input[str]
    deploy_function_role_arn: pulumi.Input[str]
    settings: InferenceSettings
    log_retention_days: int
    region: str
    account_id: str
    partition: str


def deployer_permissions(
    function_arn: pulumi.Input[str], alarm_arns: list[pulumi.Input[str]], ecr_repository_arn: pulumi.Input[str]
) -> dict[str, object]:
    """Exactly what a deploy, canary and rollback of this one function needs."""
    return policies.document(
        policies.allow("DeployThisFunction", LAMBDA_DEPLOY_ACTIONS, policies.function_and_versions(function_arn)),
        policies.allow("ReadItsAlarms", ["cloudwatch:DescribeAlarms"], alarm_arns),
        # Updating a function to an image in another account needs read access to the image as the caller.
        policies.allow("ReadModelImages", ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"], ecr_repository_arn),
        # The canary reads the new version's errors; GetMetricData has no resource-level permissions.
        policies.allow("ReadCanaryMetrics", ["cloudwatch:GetMetricData"], "*"),
    )


class InferenceService(pulumi.ComponentResource):
    function: aws.lambda_.Function
    alias: aws.lambda_.Alias
    url: aws.lambda_.FunctionUrl
    deployer_role: aws.iam.Role

    def __init__(self, name: str, args: InferenceServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("serverless-mlops:inference:InferenceService", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        settings = args.settings

        # Created before the function, so Lambda never creates an unmanaged group without retention.
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=pulumi.Output.concat("/aws/lambda/", args.function_name),
            retention_in_days=args.log_retention_days,
            opts=child,
        )
        execution_role = aws.iam.Role(
            f"{name}-execution-role",
            description="Runs the inference function: writes its logs, nothing else",
            assume_role_policy=json.dumps(policies.trust_service("lambda.amazonaws.com")),
            opts=child,
        )
        logs_policy = aws.iam.RolePolicy(
            f"{name}-execution-logs",
            role=execution_role.id,
            policy=policies.to_json(policies.document(policies.write_logs(log_group.arn))),
            opts=child,
        )
        self.function = aws.lambda_.Function(
            f"{name}-function",
            name=args.function_name,
            description="Predicts delivery time in days; alias live serves callers",
            package_type="Image",
            image_uri=args.bootstrap_image_uri,
            architectures=[args.architecture],
            role=execution_role.arn,
            memory_size=settings.memory_mb,
            timeout=settings.timeout_seconds,
            reserved_concurrent_executions=settings.reserved_concurrency,
            # A numbered version from the start, so alias live never points at $LATEST.
            publish=True,
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="JSON", log_group=log_group.name),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[log_group, logs_policy],
                # The pipeline deploys new images (and publishes versions) after the first `pulumi up`; without
                # this, the next `pulumi up` would put the bootstrap image back.
                ignore_changes=["imageUri"],
            ),
        )
        self.alias = aws.lambda_.Alias(
            f"{name}-live",
            name=naming.INFERENCE_ALIAS,
            function_name=self.function.name,
            function_version=self.function.version,
            opts=pulumi.ResourceOptions(
                parent=self,
                # The deploy function moves the alias (and its canary weights); Pulumi only creates it.
                ignore_changes=["functionVersion", "routingConfig"],
            ),
        )
        self.url = aws.lambda_.FunctionUrl(
            f"{name}-url",
            function_name=self.function.name,
            qualifier=self.alias.name,
            authorization_type=settings.function_url_auth,
            opts=child,
        )
        if settings.function_url_auth == "NONE":
            # A public URL needs both permissions since October 2025 (Lambda "Control access to function URLs").
            for action, extra in (
                ("lambda:InvokeFunctionUrl", {"function_url_auth_type": "NONE"}),
                ("lambda:InvokeFunction", {"invoked_via_function_url": True}),
            ):
                aws.lambda_.Permission(
                    f"{name}-public-{action.split(':')[1].lower()}",
                    action=action,
                    function=self.function.name,
                    qualifier=self.alias.name,
                    principal="*",
                    **extra,
                    opts=child,
                )

        resource = pulumi.Output.concat(self.function.name, ":", self.alias.name)
        errors_name, throttles_name = args.alarm_names
        alarms = [
            aws.cloudwatch.MetricAlarm(
                f"{name}-{metric.lower()}",
                name=alarm_name,
                alarm_description=f"{metric} of the inference function's alias live",
                namespace="AWS/Lambda",
                metric_name=metric,
                dimensions={"FunctionName": self.function.name, "Resource": resource},
                statistic="Sum",
                period=ALARM_PERIOD_SECONDS,
                evaluation_periods=5,
                datapoints_to_alarm=1,
                threshold=1,
                comparison_operator="GreaterThanOrEqualToThreshold",
                treat_missing_data="notBreaching",
                opts=child,
            )
            for metric, alarm_name in (("Errors", errors_name), ("Throttles", throttles_name))
        ]

        alarm_arns: list[pulumi.Input[str]] = [
            pulumi.Output.concat(f"arn:{args.partition}:cloudwatch:{args.region}:{args.account_id}:alarm:", n)
            for n in args.alarm_names
        ]
        self.deployer_role = aws.iam.Role(
            f"{name}-deployer",
            # Deterministic, so the tooling stack names it without reading this stack.
            name=args.deployer_role_name,
            description="Assumed by the tooling account's deploy function to deploy model images here",
            assume_role_policy=policies.to_json(policies.trust_role(args.deploy_function_role_arn)),
            max_session_duration=3600,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-deployer-permissions",
            role=self.deployer_role.id,
            policy=policies.to_json(deployer_permissions(self.function.arn, alarm_arns, args.ecr_repository_arn)),
            opts=child,
        )
        self.alarms = alarms
        self.register_outputs(
            {
                "functionName": self.function.name,
                "functionArn": self.function.arn,
                "aliasArn": self.alias.arn,
                "url": self.url.function_url,
                "deployerRoleArn": self.deployer_role.arn,
            }
        )
