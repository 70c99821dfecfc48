"""The pipeline: the state machine of design.md section 1, the start function a push triggers, and the
promote, notify and deploy_lock functions the workflow calls (with the lock's DynamoDB table)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import policies, workflow
from infra.components.python_function import PythonFunction, PythonFunctionArgs

# The managed rule Step Functions creates to learn that a CodeBuild build it started (.sync) has finished.
CODEBUILD_SYNC_RULE = "StepFunctionsGetEventForCodeBuildStartBuildRule"


@dataclass(frozen=True)
class PipelineArgs:
    name_prefix: str
    state_machine_name: str
    region: str
    account_id: str
    partition: str
    settings: workflow.WorkflowSettings
    build_project_arn: pulumi.Input[str]
    push_rule_name: pulumi.Input[str]
    push_rule_arn: pulumi.Input[str]
    deploy_function_arn: pulumi.Input[str]
    request_approval_function_arn: pulumi.Input[str]
    mlflow_credentials_secret_arn: pulumi.Input[str]
    slack_bot_token_secret_arn: pulumi.Input[str]
    slack_channel_id: str
    log_retention_days: int
    slack_layer_arn: pulumi.Input[str]


def state_machine_permissions(
    args: PipelineArgs, function_arns: list[pulumi.Input[str]], log_group_arn: pulumi.Input[str]
) -> list[policies.Statement]:
    sync_rule = f"arn:{args.partition}:events:{args.region}:{args.account_id}:rule/{CODEBUILD_SYNC_RULE}"
    return [
        policies.allow(
            "InvokePipelineFunctions",
            ["lambda:InvokeFunction"],
            [arn for fn in function_arns for arn in policies.function_and_versions(fn)],
        ),
        policies.allow(
            "RunTheBuild",
            ["codebuild:BatchGetBuilds", "codebuild:StartBuild", "codebuild:StopBuild"],
            args.build_project_arn,
        ),
        # What startBuild.sync needs to hear that the build finished (Step Functions' CodeBuild integration).
        policies.allow("WatchTheBuild", ["events:DescribeRule", "events:PutRule", "events:PutTargets"], sync_rule),
        # Log delivery and X-Ray have no resource-level permissions (allow-listed in policy/rules.py).
        policies.allow(
            "DeliverLogs",
            [
                "logs:CreateLogDelivery",
                "logs:DeleteLogDelivery",
                "logs:DescribeLogGroups",
                "logs:DescribeResourcePolicies",
                "logs:GetLogDelivery",
                "logs:ListLogDeliveries",
                "logs:PutResourcePolicy",
                "logs:UpdateLogDelivery",
            ],
            "*",
        ),
        policies.allow(
            "Trace",
            ["xray:GetSamplingRules", "xray:GetSamplingTargets", "xray:PutTelemetryRecords", "xray:PutTraceSegments"],
            "*",
        ),
    ]


class Pipeline(pulumi.ComponentResource):
    state_machine: aws.sfn.StateMachine

    def __init__(self, name: str, args: PipelineArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("serverless-mlops:pipeline:Pipeline", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        prefix, retention = args.name_prefix, args.log_retention_days
        state_machine_arn = (
            f"arn:{args.partition}:states:{args.region}:{args.account_id}:stateMachine:{args.state_machine_name}"
        )
        executions = (
            f"arn:{args.partition}:states:{args.region}:{args.account_id}:execution:{args.state_machine_name}:*"
        )
        read_secret = "secretsmanager:GetSecretValue"  # noqa: S105 - an IAM action name

        promote = PythonFunction(
            f"{name}-promote",
            PythonFunctionArgs(
                folder="promote",
                function_name=f"{prefix}-promote",
                description="Moves an MLflow alias (staging, production) to a model version and tags it",
                statements=[policies.allow("ReadMlflowLogin", [read_secret], args.mlflow_credentials_secret_arn)],
                log_retention_days=retention,
                environment={"MLFLOW_CREDENTIALS_SECRET_ARN": args.mlflow_credentials_secret_arn},
                # MLflow's database may be paused: the first call waits ~15 s for it to resume.
                timeout_seconds=120,
            ),
            opts=child,
        )
        notify = PythonFunction(
            f"{name}-notify",
            PythonFunctionArgs(
                folder="notify",
                function_name=f"{prefix}-notify",
                description="Reports a pipeline run's start, failure and result in one Slack thread",
                statements=[
                    policies.allow("ReadSlackToken", [read_secret], args.slack_bot_token_secret_arn),
                    # A stopped or timed-out run: its Slack thread is found in the execution's history.
                    policies.allow("FindTheRunsThread", ["states:GetExecutionHistory"], executions),
                ],
                log_retention_days=retention,
                environment={
                    "SLACK_BOT_TOKEN_SECRET_ARN": args.slack_bot_token_secret_arn,
                    "SLACK_CHANNEL_ID": args.slack_channel_id,
                    "MODEL_NAME": args.settings.model_name,
                },
                layers=[args.slack_layer_arn],
            ),
            opts=child,
        )
        self.promote_function, self.notify_function = promote.function, notify.function

        # One item per environment; the lease is checked in the write's condition (TTL only tidies up).
        self.lock_table = aws.dynamodb.Table(
            f"{name}-locks",
            billing_mode="PAY_PER_REQUEST",
            hash_key="lockId",
            attributes=[aws.dynamodb.TableAttributeArgs(name="lockId", type="S")],
            ttl=aws.dynamodb.TableTtlArgs(attribute_name="expiresAt", enabled=True),
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=False),
            opts=child,
        )
        lock = PythonFunction(
            f"{name}-deploy-lock",
            PythonFunctionArgs(
                folder="deploy_lock",
                function_name=f"{prefix}-deploy-lock",
                description="Serializes deploys per environment: one run at a time holds deploy/<environment>",
                statements=[
                    policies.allow(
                        "HoldDeployLocks",
                        ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem"],
                        self.lock_table.arn,
                    )
                ],
                log_retention_days=retention,
                environment={"LOCK_TABLE_NAME": self.lock_table.name},
                timeout_seconds=30,
            ),
            opts=child,
        )
        self.lock_function = lock.function

        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/vendedlogs/states/{args.state_machine_name}",
            retention_in_days=retention,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-role",
            description="Runs the pipeline: invokes its functions and its build, nothing else",
            assume_role_policy=json.dumps(policies.trust_service("states.amazonaws.com")),
            opts=child,
        )
        function_arns = [
            args.deploy_function_arn,
            args.request_approval_function_arn,
            promote.function.arn,
            notify.function.arn,
            lock.function.arn,
        ]
        permissions = aws.iam.RolePolicy(
            f"{name}-permissions",
            role=role.id,
            policy=policies.to_json(policies.document(*state_machine_permissions(args, function_arns, log_group.arn))),
            opts=child,
        )
        definition = pulumi.Output.all(
            deploy=args.deploy_function_arn,
            promote=promote.function.arn,
            request_approval=args.request_approval_function_arn,
            notify=notify.function.arn,
            lock=lock.function.arn,
        ).apply(lambda arns: json.dumps(workflow.definition(workflow.WorkflowArns(**arns), args.settings)))
        self.state_machine = aws.sfn.StateMachine(
            f"{name}-state-machine",
            name=args.state_machine_name,
            type="STANDARD",
            role_arn=role.arn,
            definition=definition,
            # Every state's result, but not the data: inputs hold commits and image URIs, nothing secret, yet
            # logging them buys nothing the execution history does not already show.
            logging_configuration=aws.sfn.StateMachineLoggingConfigurationArgs(
                level="ALL",
                include_execution_data=False,
                log_destination=pulumi.Output.concat(log_group.arn, ":*"),
            ),
            tracing_configuration=aws.sfn.StateMachineTracingConfigurationArgs(enabled=True),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[permissions]),
        )

        start = PythonFunction(
            f"{name}-start",
            PythonFunctionArgs(
                folder="start",
                function_name=f"{prefix}-start",
                description="Starts one pipeline run per pushed commit of main",
                statements=[
                    policies.allow("StartRuns", ["states:StartExecution"], state_machine_arn),
                    policies.allow("SeeEarlierRuns", ["states:DescribeExecution"], executions),
                ],
                log_retention_days=retention,
                environment={"STATE_MACHINE_ARN": self.state_machine.arn},
            ),
            opts=child,
        )
        aws.lambda_.Permission(
            f"{name}-start-on-push",
            action="lambda:InvokeFunction",
            function=start.function.name,
            principal="events.amazonaws.com",
            source_arn=args.push_rule_arn,
            opts=child,
        )
        aws.cloudwatch.EventTarget(
            f"{name}-push-target",
            rule=args.push_rule_name,
            arn=start.function.arn,
            # EventBridge retries a failed delivery; the start function is idempotent per commit.
            retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
                maximum_event_age_in_seconds=3600, maximum_retry_attempts=5
            ),
            opts=child,
        )
        self.start_function = start.function
        self.register_outputs({"stateMachineArn": self.state_machine.arn})
