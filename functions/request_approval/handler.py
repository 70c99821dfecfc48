"""Lambda entry point of request_approval: ``functions.request_approval.handler.handler``.

Request (``lambda:invoke.waitForTaskToken``; the answer is not the run's result, the task token is):
    in   {"taskToken", "executionId", "executionName", "modelName", "modelVersion", "commit", "imageUri",
          "stage": {...}, "metrics"?, "productionMetrics"?, "mlflowRunUrl"?, "author"?}
    out  {"approvalId", "channel", "messageTs", "threadTs", "timeoutAt", "superseded": [{"approvalId",
          "executionArn"}]}
Expire:
    in   {"action": "expire", "executionArn"?} or an EventBridge "Step Functions Execution Status Change" event
    out  {"action": "expire", "executionArn", "expired": [approvalId, ...]}

Errors (``errorType`` for a Catch or Retry): ApprovalInputError, ApprovalConfigError, SlackPostFailed (safe to
retry: nothing is left behind); anything else (e.g. a DynamoDB error) is logged and re-raised. The task token is
never logged: the logger masks any key containing "token", and no message includes it.
"""

from __future__ import annotations

import os
from typing import Any

from functions.common.executions import execution_of
from functions.common.logging import Logger
from functions.common.secrets import SecretUnavailable
from functions.request_approval import approval, services
from functions.request_approval.errors import ApprovalConfigError, ApprovalError
from functions.request_approval.models import ExpireRequest, load_settings, parse_event

LOGGER = Logger("request_approval")


def handler(event: Any, context: Any) -> dict[str, Any]:
    log = LOGGER.bind(executionId=execution_of(event), requestId=getattr(context, "aws_request_id", None))
    try:
        settings = load_settings(os.environ)
        request = parse_event(event)
        expiring = isinstance(request, ExpireRequest)
        try:
            token: str | None = services.bot_token(settings)
        except SecretUnavailable as error:
            if not expiring:
                raise ApprovalConfigError(str(error)) from None
            log.warning(
                "bot token unavailable: approvals are expired without updating their messages", reason=str(error)
            )
            token = None
        ctx = approval.Context(
            store=services.DynamoApprovals(settings, log),
            workflow=services.StepFunctions(),
            chat=services.SlackChat(settings, token),
            settings=settings,
            log=log,
        )
        if isinstance(request, ExpireRequest):
            log.info("expire started", reason=request.reason)
            result = approval.expire(request, ctx)
        else:
            log.info("approval requested", modelName=request.model_name, modelVersion=request.model_version)
            result = approval.request(request, ctx)
    except ApprovalError as error:
        log.error("approval step failed", error)
        raise
    except Exception as error:
        log.error("approval step failed unexpectedly", error)
        raise
    log.info("approval step finished", **result)
    return result
