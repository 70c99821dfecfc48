"""Typed inputs of the deploy_lock function: its settings and its three kinds of event.

{"action": "acquire", "environment": "stage" | "prod", "executionId": "<execution ARN>",
 "leaseSeconds": 1800, "modelVersion": "7"}                     # from the workflow
{"action": "release", "environment": "stage" | "prod" | omitted (= both), "executionId": "<execution ARN>"}
{"source": "aws.states", "detail-type": "Step Functions Execution Status Change",
 "detail": {"executionArn": "...", "status": "ABORTED" | ...}}  # the cleanup rule: release both
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from functions.common.executions import STATUS_CHANGE
from functions.deploy_lock.errors import LockConfigError, LockInputError

ENVIRONMENTS = ("stage", "prod")
ACTIONS = ("acquire", "release")
# A run that ended in any of these holds nothing any more.
END_STATUSES = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
MIN_LEASE_SECONDS = 60
MAX_LEASE_SECONDS = 7 * 24 * 3600
# Narrower than functions.common.executions.EXECUTION_ARN on purpose: only a Standard execution holds a lock.
_STANDARD_EXECUTION_ARN = re.compile(r"^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[^:\s]+:[^:\s]+$")
_TABLE_NAME = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


@dataclass(frozen=True)
class Settings:
    table_name: str


def load_settings(environ: Mapping[str, str]) -> Settings:
    table = (environ.get("LOCK_TABLE_NAME") or "").strip()
    if not _TABLE_NAME.match(table):
        raise LockConfigError(f"LOCK_TABLE_NAME: expected a DynamoDB table name, got {_shown(table)}")
    return Settings(table_name=table)


def lock_id(environment: str) -> str:
    return f"deploy/{environment}"


@dataclass(frozen=True)
class LockRequest:
    action: str
    environments: tuple[str, ...]
    execution_arn: str
    lease_seconds: int = 0
    model_version: str | None = None
    # Set for the cleanup rule's status events: the run's end state, for the log.
    status: str | None = None


def _execution_arn(value: Any, field_name: str) -> str:
    if not isinstance(value, str) or not _STANDARD_EXECUTION_ARN.match(value):
        raise LockInputError(
            f"{field_name}: expected a Step Functions execution ARN "
            f"(arn:aws:states:<region>:<account>:execution:<state machine>:<name>), got {_shown(value)}"
        )
    return value


def _environments(value: Any, *, required: bool) -> tuple[str, ...]:
    if value is None and not required:
        return ENVIRONMENTS
    if value not in ENVIRONMENTS:
        raise LockInputError(f"environment: expected one of {', '.join(ENVIRONMENTS)}, got {_shown(value)}")
    return (value,)


def _lease(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not MIN_LEASE_SECONDS <= value <= MAX_LEASE_SECONDS:
        raise LockInputError(
            f"leaseSeconds: expected whole seconds from {MIN_LEASE_SECONDS} to {MAX_LEASE_SECONDS}, got {_shown(value)}"
        )
    return value


def _status_event(event: Mapping[str, Any]) -> LockRequest:
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise LockInputError("detail: expected the execution status change as an object")
    status = detail.get("status")
    if status not in END_STATUSES:
        raise LockInputError(f"detail.status: expected one of {', '.join(END_STATUSES)}, got {_shown(status)}")
    return LockRequest(
        action="release",
        environments=ENVIRONMENTS,
        execution_arn=_execution_arn(detail.get("executionArn"), "detail.executionArn"),
        status=status,
    )


def parse_event(event: Any) -> LockRequest:
    if not isinstance(event, Mapping):
        raise LockInputError(f"event: expected a JSON object, got {type(event).__name__}")
    if event.get("detail-type") == STATUS_CHANGE:
        return _status_event(event)
    action = event.get("action")
    if action not in ACTIONS:
        raise LockInputError(f"action: expected one of {', '.join(ACTIONS)}, got {_shown(action)}")
    execution = _execution_arn(event.get("executionId"), "executionId")
    if action == "release":
        return LockRequest("release", _environments(event.get("environment"), required=False), execution)
    version = event.get("modelVersion")
    if version is not None and not (isinstance(version, str | int) and not isinstance(version, bool)):
        raise LockInputError(f"modelVersion: expected the model version as text, got {_shown(version)}")
    return LockRequest(
        "acquire",
        _environments(event.get("environment"), required=True),
        execution,
        lease_seconds=_lease(event.get("leaseSeconds")),
        model_version=str(version) if version is not None else None,
    )
