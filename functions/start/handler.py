"""Lambda entry point of the start function (tooling account): ``functions.start.handler.handler``.

Target of the EventBridge rule for a push to ``main`` of the model repository. Names the execution
``<repository>-<commit12>`` and starts the pipeline with

    {"commit", "repositoryName", "branch", "author", "source": "codecommit", "eventId"}

Returns ``{"started": true, "executionName", "executionArn"}``; a repeated event (same commit, any delivery,
even after the first run closed) returns ``{"started": false, "executionName", "executionArn", "reason"}``; an
event that is not a push to the branch returns ``{"started": false, "ignored": "<why>"}``. Neither is an error,
so EventBridge and Lambda do not retry them. A wrong environment (StartConfigError) or a failing AWS call is
raised: Lambda retries the asynchronous invocation, and the error shows in the function's metrics.

A started run is counted as metric ``RunsStarted`` (``functions/common/metrics.py``); a repeated event is not.

Environment: STATE_MACHINE_ARN; optionally BRANCH (main), LOG_LEVEL (INFO).
"""

from __future__ import annotations

import os
from typing import Any

from functions.common import metrics
from functions.common.logging import Logger
from functions.start import sfn_api, starter
from functions.start.errors import IgnoredEvent
from functions.start.models import execution_input, execution_name, load_settings, parse_push_event

LOGGER = Logger("start")


def handler(event: Any, context: Any) -> dict[str, Any]:
    log = LOGGER.bind(eventId=event.get("id") if isinstance(event, dict) else None)
    settings = load_settings(os.environ)
    try:
        push = parse_push_event(event, settings.branch)
    except IgnoredEvent as why:
        log.warning("event ignored", reason=str(why))
        return {"started": False, "ignored": str(why)}
    name = execution_name(push.repository, push.commit)
    log = log.bind(executionId=settings.state_machine.execution_arn(name), commit=push.commit)
    try:
        result = starter.start_once(sfn_api.StepFunctions(settings.state_machine), name, execution_input(push))
    except Exception as error:
        log.error("could not start the pipeline", error)
        raise
    log.info("pipeline started" if result.started else "pipeline already started for this commit", **result.to_dict())
    if result.started:
        metrics.run_started(result.execution_arn, executionName=result.execution_name, commit=push.commit)
    return result.to_dict()
