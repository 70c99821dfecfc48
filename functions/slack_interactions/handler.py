"""Lambda entry point of slack_interactions: ``functions.slack_interactions.handler.handler``, behind API Gateway
HTTP API ``POST /slack/interactions`` (payload format 2.0).

    in   {"body": "payload=%7B...%7D" (or base64 with "isBase64Encoded": true), "headers": {lower-case names},
          "requestContext": {"requestId": ...}, ...}
    out  {"statusCode": 200 | 400 | 401 | 403 | 503, "headers": {...}, "body": ...}

Order, each step failing closed before the next one runs:
    1. the signing secret (Secrets Manager, cached per container): missing or unreadable → 401
    2. the signature over the raw body and the timestamp window (``verify.py``) → 401
    3. the payload: one Approve / Reject click (``models.parse_click``) → 400
    4. the other settings (approvers, team, app, table) → 503 (a stack problem, logged)
    5. the click (``interactions.handle``): 403 for another workspace or app, else 200.
Nothing before step 5 touches DynamoDB, Step Functions or Slack. A 200 has an empty body: for block_actions
Slack shows the user nothing from it, and what they see comes from chat.update / chat.postEphemeral. No
response and no log line contains a task token, the signing secret or the bot token.

Keep it fast (Slack gives up after 3 s): typically three DynamoDB calls, one Step Functions call and one or two
Slack calls. Give the function 512 MB or more and a 10 s timeout (shorter than ``interactions.LEASE_SECONDS``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

from functions.common.logging import Logger
from functions.common.secrets import SecretUnavailable
from functions.slack_interactions import interactions, services
from functions.slack_interactions.models import BadRequest, ConfigError, HttpRequest, load_settings, parse_click
from functions.slack_interactions.verify import Unauthorized, verify

LOGGER = Logger("slack_interactions")
clock: Callable[[], float] = time.time  # tests freeze it


def _response(status: int, text: str | None = None) -> dict[str, Any]:
    if text is None:
        return {"statusCode": status, "headers": {"content-type": "text/plain; charset=utf-8"}, "body": ""}
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json; charset=utf-8"},
        "body": json.dumps({"text": text}),
    }


def handler(event: Any, context: Any) -> dict[str, Any]:
    request = HttpRequest.from_event(event)
    log = LOGGER.bind(requestId=request.request_id or getattr(context, "aws_request_id", None))
    try:
        secret = services.signing_secret(os.environ)
    except SecretUnavailable as error:
        log.error("signing secret unavailable: every request is refused", reason=str(error))
        return _response(401, "unauthorized")
    try:
        verify(secret, request.body, request.headers, clock())
    except Unauthorized as error:
        log.warning("request refused: not signed by Slack", reason=str(error))
        return _response(401, "unauthorized")
    try:
        click = parse_click(request.body or b"")
    except BadRequest as error:
        log.warning("signed request refused: not an approval click", reason=str(error))
        return _response(400, "not an approval button click")
    log = log.bind(approvalId=click.approval_id, user=click.user_id, action=click.action_id)
    try:
        settings = load_settings(os.environ)
    except ConfigError as error:
        log.error("the function is misconfigured; nothing was done", error)
        return _response(503, "The approval service is misconfigured; nothing was changed.")
    ctx = interactions.Context(
        store=services.DynamoApprovals(settings),
        workflow=services.StepFunctions(),
        chat=services.SlackChat(settings),
        settings=settings,
        log=log,
        clock=clock,
    )
    try:
        reply = interactions.handle(click, ctx)
    except Exception as error:
        log.error("click failed unexpectedly", error)
        raise
    log.info("click handled", outcome=reply.outcome, statusCode=reply.status, executionId=reply.execution_arn)
    return _response(reply.status, reply.text)
