"""Lambda entry point of the promote function (tooling account): ``functions.promote.handler.handler``.

    in   {"alias": "staging" | "production", "modelName", "modelVersion", "imageUri", "commit", "executionId",
          "approver"?, "rollback"?}
    out  {"alias", "modelName", "modelVersion", "previousVersion" (or null), "noop"}
         staging (not a rollback) adds what the approval message compares: {"metrics", "productionVersion",
         "productionMetrics", "mlflowRunUrl"} (empty or null when MLflow cannot say)

Failures are raised as exceptions whose class names a Step Functions Catch can match (``errors.py``):
PromoteInputError, UnknownAlias, PromoteConfigError, VersionNotFound, CommitMismatch, ImageMismatch,
Superseded, RegistryUnavailable, RegistryError. Each is logged once, with the execution ID, before it is raised.

Environment: MLFLOW_CREDENTIALS_SECRET_ARN (or MLFLOW_TRACKING_URI without a login), and optionally the retry
settings of ``functions.common.mlflow_api`` and LOG_LEVEL. MLflow calls stop retrying a few seconds before the
function's own timeout, so a slow registry ends in RegistryUnavailable rather than "Task timed out".
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from functions.common import mlflow_api
from functions.common.logging import Logger
from functions.promote import promotion
from functions.promote.errors import PromoteConfigError, PromoteError, RegistryError, RegistryUnavailable
from functions.promote.models import parse_event

LOGGER = Logger("promote")
# Stop retrying this long before Lambda's timeout, to raise a clear error (and log it) in time.
TIMEOUT_MARGIN_SECONDS = 5.0


def deadline(context: Any) -> float | None:
    """The monotonic time by which the MLflow calls must be done, from the Lambda context (None: no limit)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return None
    return time.monotonic() + max(remaining() / 1000 - TIMEOUT_MARGIN_SECONDS, 1.0)


def translate(error: mlflow_api.MlflowApiError | mlflow_api.MlflowConfigError) -> PromoteError:
    """An MLflow client error as the promote error a Catch matches (the message is kept: it names the call)."""
    if isinstance(error, mlflow_api.MlflowConfigError):
        return PromoteConfigError(str(error))
    if isinstance(error, mlflow_api.MlflowUnavailable):
        return RegistryUnavailable(f"{error}. Nothing or only tags were written; retrying is safe.")
    return RegistryError(str(error))


def handler(event: Any, context: Any) -> dict[str, Any]:
    log = LOGGER.bind(executionId=event.get("executionId") if isinstance(event, dict) else None)
    try:
        try:
            request = parse_event(event)
            log = log.bind(alias=request.alias, modelName=request.model_name, modelVersion=request.model_version)
            log.info("promotion started", commit=request.commit, approver=request.approver, rollback=request.rollback)
            registry = mlflow_api.connect(deadline=deadline(context), log=log)
            outcome = promotion.promote(request, registry, log)
            if request.alias == promotion.STAGING_ALIAS and not request.rollback:
                ui_url = registry.credentials.tracking_uri
                outcome = dataclasses.replace(outcome, report=promotion.report(outcome, registry, ui_url, log))
        except (mlflow_api.MlflowApiError, mlflow_api.MlflowConfigError) as error:
            raise translate(error) from None
    except PromoteError as error:
        log.error("promotion failed", error)
        raise
    except Exception as error:
        log.error("promotion failed unexpectedly", error)
        raise
    result = outcome.to_dict()
    log.info("promotion finished", **result)
    return result
