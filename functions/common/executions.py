"""Step Functions executions as every pipeline function reads them: the execution ARN and its name, the
EventBridge execution status event, and which run an event is about (for the log line)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# Standard (``execution``) or Express (``express``) execution, optionally a Map run's suffix.
EXECUTION_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):states:(?P<region>[a-z0-9-]+):\d{12}:(?:execution|express)"
    r":(?P<machine>[^:\s]+):(?P<name>[^:\s]+)(?::[^:\s]+)?$"
)
# The detail-type of the event EventBridge receives when an execution changes status (the status rule's events).
STATUS_CHANGE = "Step Functions Execution Status Change"


def execution_name(execution_id: str) -> str:
    """The execution's name from its ARN; any other identifier as is."""
    match = EXECUTION_ARN.match(execution_id)
    return match["name"] if match else execution_id


def execution_of(event: Any) -> str | None:
    """The run an event is about, for the log: ``executionId`` (the workflow's payloads), ``executionArn``, or the
    status event's ``detail.executionArn``; None when there is none."""
    if not isinstance(event, Mapping):
        return None
    detail = event.get("detail")
    value = (
        event.get("executionId")
        or event.get("executionArn")
        or (detail.get("executionArn") if isinstance(detail, Mapping) else None)
    )
    return value if isinstance(value, str) else None
