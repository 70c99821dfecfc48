"""The Slack approval: the app's secrets, the approvals table, the function that asks in Slack, and the HTTPS
endpoint that receives the Approve / Reject clicks (API Gateway HTTP API → slack_interactions)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import policies
from infra.components.python_function import PythonFunction, PythonFunctionArgs
from infra.config import SlackSettings
from infra.http_api import logged_default_stage

INTERACTIONS_ROUTE = "POST /slack/interactions"
# The interactions function must answer Slack within 3 s and stay under its 20 s delivery lease.
INTERACTIONS_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class SlackApprovalArgs:
    name_prefix: str
    region: str
    account_id: str
    partition: str
    state_machine_name: str
    slack: SlackSettings
    approval_timeout_seconds: int
    mlflow_ui_url: pulumi.Input[str]
    slack_layer_arn: pulumi.Input[str]
    log_retention_days: int
    secret_recovery_window_days: int = 7


class SlackApproval(pulumi.ComponentResource):
    request_function: aws.lambda_.Function
    interactions_url: pulumi.Output[str]
    bot_token_secret: aws.secretsmanager.Secret

    def __init__(self, name: str, args: SlackApprovalArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("serverless-mlops:approval:SlackApproval", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        prefix, slack = args.name_prefix, args.slack
        base = f"arn:{args.partition}:states:{args.region}:{args.account_id}"
        state_machine_arn = f"{base}:stateMachine:{args.state_machine_name}"
        executions = f"{base}:execution:{args.state_machine_name}:*"

        def secret(key: str, description: str, value: pulumi.Output[str]) -> aws.secretsmanager.Secret:
            stored = aws.secretsmanager.Secret(
                f"{name}-{key}",
                name_prefix=f"{prefix}/slack/{key}-",
                description=description,
                recovery_window_in_days=args.secret_recovery_window_days,
                opts=child,
            )
            # The value comes from `pulumi config set --secret`: a Pulumi secret, encrypted in the state.
            aws.secretsmanager.SecretVersion(
                f"{name}-{key}-value", secret_id=stored.id, secret_string=pulumi.Output.secret(value), opts=child
            )
            return stored

        self.bot_token_secret = secret("bot-token", "Slack bot token of the pipeline's app", slack.bot_token)
        signing_secret = secret("signing-secret", "Slack signing secret of the pipeline's app", slack.signing_secret)

        table = aws.dynamodb.Table(
            f"{name}-approvals",
            billing_mode="PAY_PER_REQUEST",
            hash_key="approvalId",
            attributes=[aws.dynamodb.TableAttributeArgs(name="approvalId", type="S")],
            ttl=aws.dynamodb.TableTtlArgs(attribute_name="expiresAt", enabled=True),
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=False),
            opts=child,
        )
        read = "secretsmanager:GetSecretValue"
        request = PythonFunction(
            f"{name}-request",
            PythonFunctionArgs(
                folder="request_approval",
                function_name=f"{prefix}-request-approval",
                description="Asks for approval in Slack and keeps the run's task token until someone decides",
                statements=[
                    policies.allow(
                        "KeepApprovals",
                        ["dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:Scan", "dynamodb:UpdateItem"],
                        table.arn,
                    ),
                    # An older run still waiting for approval of the same model is stopped as superseded.
                    policies.allow("StopSupersededRuns", ["states:StopExecution"], executions),
                    policies.allow("ReadSlackToken", [read], self.bot_token_secret.arn),
                ],
                log_retention_days=args.log_retention_days,
                environment={
                    "APPROVALS_TABLE": table.name,
                    "SLACK_BOT_TOKEN_SECRET_ARN": self.bot_token_secret.arn,
                    "SLACK_CHANNEL_ID": slack.channel_id,
                    "APPROVAL_TIMEOUT_SECONDS": str(args.approval_timeout_seconds),
                    "MLFLOW_UI_URL": args.mlflow_ui_url,
                },
                timeout_seconds=60,
                layers=[args.slack_layer_arn],
            ),
            opts=child,
        )
        self.request_function = request.function

        interactions = PythonFunction(
            f"{name}-interactions",
            PythonFunctionArgs(
                folder="slack_interactions",
                function_name=f"{prefix}-slack-interactions",
                description="Verifies Slack's Approve/Reject clicks and hands the decision to the waiting run",
                statements=[
                    policies.allow("RecordDecisions", ["dynamodb:GetItem", "dynamodb:UpdateItem"], table.arn),
                    # The only function that may answer a waiting run.
                    policies.allow(
                        "AnswerWaitingRuns", ["states:SendTaskFailure", "states:SendTaskSuccess"], state_machine_arn
                    ),
                    policies.allow("ReadSlackSecrets", [read], [self.bot_token_secret.arn, signing_secret.arn]),
                ],
                log_retention_days=args.log_retention_days,
                environment={
                    "APPROVALS_TABLE": table.name,
                    "SLACK_SIGNING_SECRET_ARN": signing_secret.arn,
                    "SLACK_BOT_TOKEN_SECRET_ARN": self.bot_token_secret.arn,
                    "SLACK_TEAM_ID": slack.team_id,
                    "SLACK_APP_ID": slack.app_id,
                    "SLACK_APPROVERS": json.dumps(list(slack.approvers)),
                },
                timeout_seconds=INTERACTIONS_TIMEOUT_SECONDS,
                memory_mb=512,
                layers=[args.slack_layer_arn],
            ),
            opts=child,
        )

        api = aws.apigatewayv2.Api(
            f"{name}-api",
            name=f"{prefix}-slack",
            protocol_type="HTTP",
            description="Receives the Slack app's interactivity requests (button clicks)",
            opts=child,
        )
        integration = aws.apigatewayv2.Integration(
            f"{name}-integration",
            api_id=api.id,
            integration_type="AWS_PROXY",
            integration_uri=interactions.function.arn,
            payload_format_version="2.0",
            timeout_milliseconds=INTERACTIONS_TIMEOUT_SECONDS * 1000,
            opts=child,
        )
        aws.apigatewayv2.Route(
            f"{name}-route",
            api_id=api.id,
            route_key=INTERACTIONS_ROUTE,
            target=pulumi.Output.concat("integrations/", integration.id),
            opts=child,
        )
        # Only Slack calls this endpoint; a low limit caps what a flood of forged requests can cost.
        stage = logged_default_stage(
            name, api.id, f"/aws/apigateway/{prefix}-slack", args.log_retention_days, 20, 10, child
        )
        aws.lambda_.Permission(
            f"{name}-api-invoke",
            action="lambda:InvokeFunction",
            function=interactions.function.name,
            principal="apigateway.amazonaws.com",
            source_arn=pulumi.Output.concat(api.execution_arn, "/*/*/slack/interactions"),
            opts=child,
        )
        self.interactions_function = interactions.function
        self.interactions_url = pulumi.Output.concat(api.api_endpoint, "/slack/interactions")
        self.stage = stage
        self.register_outputs({"interactionsUrl": self.interactions_url})
