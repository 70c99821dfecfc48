"""Lambda entry point of the notify function (tooling account): ``functions.notify.handler.handler``.

    started    in  {"event": "started", "executionId", "executionName", "modelName", "commit", "run"}
               out {"channel", "ts"}                       (the workflow keeps it as $.slack.thread)
    succeeded  in  {"event": "succeeded", ..., "modelVersion", "imageUri", "stage", "approval", "prod", "run",
                    "slack": {"channel", "ts"} | null}
    failed     in  {"event": "failed", ..., "step", "outcome", "error": {"Error", "Cause"}, "run", "slack"}
               out {"channel", "ts", "threadTs", "parentUpdated"}
    status     in  the status rule's "Step Functions Execution Status Change" event
               ABORTED / TIMED_OUT: posted like "failed" in the run's thread (found in the execution history,
               else a new message), the step being the last state the run entered;
               out as "failed". Any other status: {"skipped": "<why>"} (the workflow reported it).
    rolled_back in {"event": "rolled_back", "executionId", "modelName", "author", "environment", "deploy",
                    "alias", "promote", "promoteError", "reason"}          (a manual rollback: python -m ops.rollback)
               out {"channel", "ts"}

The end of a run is counted (``functions/common/metrics.py``): ``RunsSucceeded``, or ``RunsFailed`` per step and
outcome, written before Slack is called.

Errors (``errorType``): NotifyInputError, NotifyConfigError, NotifyFailed (Slack did not take the message after
bounded retries). The workflow catches all of them and carries on. The bot token is never logged.

Environment: SLACK_BOT_TOKEN_SECRET_ARN, SLACK_CHANNEL_ID; optional MODEL_NAME (named in a stopped run's
report), SLACK_API_URL (tests, the local runner),
SLACK_TIMEOUT_SECONDS (5), SLACK_MAX_ATTEMPTS (3), SLACK_RETRY_BASE_DELAY_SECONDS (1), LOG_LEVEL. AWS_REGION
(set by Lambda) is the region of the Secrets Manager client.
"""

from __future__ import annotations

import os
import time
from typing import Any

from functions.common import metrics
from functions.common.executions import execution_of
from functions.common.logging import Logger
from functions.common.secrets import SecretUnavailable
from functions.notify import notifier, services
from functions.notify.errors import NotifyConfigError, NotifyError
from functions.notify.history import snapshot
from functions.notify.models import (
    NotifyEvent,
    Settings,
    StatusChange,
    load_settings,
    parse_event,
    parse_status_change,
    stopped_event,
)

LOGGER = Logger("notify")
# Stop starting Slack calls this long before Lambda's timeout, so the function ends with a clear error.
TIMEOUT_MARGIN_SECONDS = 2.0


def deadline(context: Any) -> float | None:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return None
    return time.monotonic() + max(remaining() / 1000 - TIMEOUT_MARGIN_SECONDS, 0.5)


def stopped_run(change: StatusChange, settings: Settings, log: Logger) -> NotifyEvent:
    """The report of a stopped or timed-out run, from what its history says (without it: a top-level message)."""
    try:
        run = snapshot(services.execution_history(change.execution_id))
    except services.HistoryUnavailable as error:
        log.warning("run history unavailable: reporting outside its thread", reason=str(error))
        return parse_event(stopped_event(change, {}, None, settings.model_name))
    return parse_event(stopped_event(change, run.data, run.last_state, settings.model_name))


def count_run_end(request: NotifyEvent) -> None:
    """Count the run's end before any Slack call: a Slack outage loses the message, never the data point."""
    if request.event == "succeeded":
        metrics.run_succeeded(request.execution_id, commit=request.commit, modelVersion=request.model_version)
    elif request.event == "failed":
        metrics.run_failed(request.execution_id, request.step, request.outcome, commit=request.commit)


def handler(event: Any, context: Any) -> dict[str, Any]:
    log = LOGGER.bind(executionId=execution_of(event))
    try:
        settings = load_settings(os.environ)
        change = parse_status_change(event)
        if change is not None and change.reported_by_the_workflow:
            log.info("status change reported by the workflow itself", status=change.status)
            return {"skipped": f"{change.status}: the workflow reports this end itself"}
        request = parse_event(event) if change is None else stopped_run(change, settings, log)
        log = log.bind(event=request.event, modelName=request.model_name)
        count_run_end(request)
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
