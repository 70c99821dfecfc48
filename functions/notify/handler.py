"""Lambda entry point of the notify function (tooling account): ``functions.notify.handler.handler``.

    started    in  {"event": "started", "executionId", "executionName", "modelName", "commit", "run"}
               out {"channel", "ts"}                       (the workflow keeps it as $.slack.thread)
    succeeded  in  {"event": "succeeded", ..., "modelVersion", "imageUri", "stage", "approval", "prod", "run",
                    "slack": {"channel", "ts"} | null}
    failed     in  {"event": "failed", ..., "step", "outcome", "error": {"Error", "Cause"}, "run", "slack"}
               out {"channel", "ts", "threadTs", "parentUpdated"}
    rolled_back in {"event": "rolled_back", "executionId", "modelName", "author", "environment", "deploy",
                    "alias", "promote", "promoteError", "reason"}          (a manual rollback: python -m ops.rollback)
               out {"channel", "ts"}

Errors (``errorType``): NotifyInputError, NotifyConfigError, NotifyFailed (Slack did not take the message after
bounded retries). The workflow catches all of them and carries on. The bot token is never logged.

Environment: SLACK_BOT_TOKEN_SECRET_ARN, SLACK_CHANNEL_ID; optional SLACK_API_URL (tests, the local runner),
SLACK_TIMEOUT_SECONDS (5), SLACK_MAX_ATTEMPTS (3), SLACK_RETRY_BASE_DELAY_SECONDS (1), LOG_LEVEL. AWS_REGION
(set by Lambda) is the region of the Secrets Manager client.
"""

from __future__ import annotations

import os
import time
from typing import Any

from functions.common.logging import Logger
from functions.common.secrets import SecretUnavailable
from functions.notify import notifier, services
from functions.notify.errors import NotifyConfigError, NotifyError
from functions.notify.models import load_settings, parse_event

LOGGER = Logger("notify")
# Stop starting Slack calls this long before Lambda's timeout, so the function ends with a clear error.
TIMEOUT_MARGIN_SECONDS = 2.0


def deadline(context: Any) -> float | None:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return None
    return time.monotonic() + max(remaining() / 1000 - TIMEOUT_MARGIN_SECONDS, 0.5)


def handler(event: Any, context: Any) -> dict[str, Any]:
    log = LOGGER.bind(executionId=event.get("executionId") if isinstance(event, dict) else None)
    try:
        settings = load_settings(os.environ)
        request = parse_event(event)
        log = log.bind(event=request.event, modelName=request.model_name)
        try:
            token = services.bot_token(settings)
            chat = services.SlackChat(settings, token)
        except (SecretUnavailable, ValueError) as error:
            raise NotifyConfigError(str(error)) from None
        ctx = notifier.Context(chat=chat, settings=settings, log=log, deadline=deadline(context))
        result = notifier.notify(request, ctx)
    except NotifyError as error:
        log.error("notification failed", error)
        raise
    except Exception as error:
        log.error("notification failed unexpectedly", error)
        raise
    log.info("notification sent", **result)
    return result
