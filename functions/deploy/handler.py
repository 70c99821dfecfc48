"""Lambda entry point of the deploy function (tooling account): ``functions.deploy.handler.handler``.

Reads the event into a ``DeployRequest``, runs its action, returns the outcome as a dict:

    {"action", "environment", "functionVersion", "previousVersion", "imageUri", "liveVersion", "noop",
     + "canaryPercent", "shiftedAt" (canary), "canaryErrors" (promote), "protectedTag",
     + "restoredImageUri", "modelVersion", "restoredModelVersion" (rollback)}

Failures are raised as exceptions whose class names a Step Functions Catch can match (``errors.py``):
DeployInputError, DeployConfigError, DeployTargetError, Superseded, UpdateFailed, ConcurrentDeploy,
SmokeTestFailed, AliasChanged, CanaryFailed. Each is logged once, with the execution ID, before it is raised.
Every action whose event was read is counted: metric DeploymentsSucceeded or DeploymentsFailed per environment.

Environment: DEPLOY_TARGETS, MODEL_REPOSITORY_NAME, and optionally WAITER_DELAY_SECONDS (5),
WAITER_MAX_ATTEMPTS (120), RETRY_BASE_DELAY_SECONDS (1), RETRY_MAX_ATTEMPTS (6), SMOKE_TEST_TIMEOUT_SECONDS
(120), LOG_LEVEL (INFO). Give the function a 15-minute timeout: each waiter may take
WAITER_DELAY_SECONDS x WAITER_MAX_ATTEMPTS.
"""

from __future__ import annotations

import os
from typing import Any

from functions.common import metrics
from functions.common.logging import Logger
from functions.deploy import actions, lambda_api
from functions.deploy.errors import DeployError
from functions.deploy.models import DeployRequest, load_settings, parse_event, role_session_name

LOGGER = Logger("deploy")


def _own_account(context: Any) -> str | None:
    arn = getattr(context, "invoked_function_arn", None)
    parts = arn.split(":") if isinstance(arn, str) else []
    return parts[4] if len(parts) > 4 and parts[4].isdigit() else None


def count_outcome(request: DeployRequest | None, error: BaseException | None = None) -> None:
    """Metric DeploymentsSucceeded / DeploymentsFailed per environment, once the event was read."""
    if request is not None:
        failure = type(error).__name__ if error is not None else None
        metrics.deployment_finished(
            request.execution_id, request.environment, succeeded=error is None, action=request.action, errorType=failure
        )


def handler(event: Any, context: Any) -> dict[str, Any]:
    log = LOGGER.bind(executionId=event.get("executionId") if isinstance(event, dict) else None)
    request: DeployRequest | None = None
    try:
        settings = load_settings(os.environ)
        request = parse_event(
            event, settings, request_id=getattr(context, "aws_request_id", None), own_account=_own_account(context)
        )
        log = log.bind(executionId=request.execution_id, action=request.action, environment=request.environment)
        log.info(
            "action started", modelVersion=request.model_version, imageUri=request.image.uri if request.image else None
        )
        config = settings.targets[request.environment]
        target, registry = lambda_api.connect(
            config, role_session_name(request.environment, request.execution_id), settings, log
        )
        outcome = actions.run(request, actions.Context(target=target, registry=registry, config=config, log=log))
    except DeployError as error:
        log.error("action failed", error)
        count_outcome(request, error)
        raise
    except Exception as error:
        log.error("action failed unexpectedly", error)
        count_outcome(request, error)
        raise
    result = outcome.to_dict()
    log.info("action finished", **result)
    count_outcome(request)
    return result
