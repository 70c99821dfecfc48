"""The `$default` stage every HTTP API of this project uses: auto-deployed, throttled, with JSON access logs."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "requestTime": "$context.requestTime",
        "sourceIp": "$context.identity.sourceIp",
        "httpMethod": "$context.httpMethod",
        "path": "$context.path",
        "routeKey": "$context.routeKey",
        "status": "$context.status",
        "responseLength": "$context.responseLength",
        "integrationStatus": "$context.integrationStatus",
        "integrationLatency": "$context.integrationLatency",
        "authorizerError": "$context.authorizer.error",
        "errorMessage": "$context.error.message",
    }
)


def logged_default_stage(
    name: str,
    api_id: pulumi.Input[str],
    log_group_name: str,
    log_retention_days: int,
    burst_limit: int,
    rate_limit: float,
    opts: pulumi.ResourceOptions,
) -> aws.apigatewayv2.Stage:
    """Resources ``<name>-api-logs`` and ``<name>-stage``. ``$default`` is the one stage whose name API Gateway
    does not prepend to the path it sends to the integration; above the limits API Gateway answers 429."""
    access_logs = aws.cloudwatch.LogGroup(
        f"{name}-api-logs", name=log_group_name, retention_in_days=log_retention_days, opts=opts
    )
    return aws.apigatewayv2.Stage(
        f"{name}-stage",
        api_id=api_id,
        name="$default",
        auto_deploy=True,
        default_route_settings=aws.apigatewayv2.StageDefaultRouteSettingsArgs(
            throttling_burst_limit=burst_limit, throttling_rate_limit=rate_limit
        ),
        access_log_settings=aws.apigatewayv2.StageAccessLogSettingsArgs(
            destination_arn=access_logs.arn, format=ACCESS_LOG_FORMAT
        ),
        opts=opts,
    )
