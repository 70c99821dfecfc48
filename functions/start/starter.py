"""Start an execution at most once under a given name, over a small interface (no boto3 here).

Step Functions keeps an execution's name taken for 90 days after it closes. StartExecution with a taken name
fails with ExecutionAlreadyExists, except when the execution is still running and the input is identical: then
it returns that execution again. So the name is looked up first (one DescribeExecution), which tells a repeated
event from a new one in every case; ExecutionAlreadyExists from a race between two deliveries means the same.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from functions.start.errors import ExecutionExists


class Executions(Protocol):
    """The executions of the pipeline's state machine."""

    def status(self, name: str) -> str | None:
        """The status of the execution with this name (RUNNING, SUCCEEDED, ...), None when there is none."""
        ...

    def start(self, name: str, execution_input: str) -> str:
        """Start it and return its ARN; raise ExecutionExists when the name is taken."""
        ...

    def arn(self, name: str) -> str: ...


@dataclass(frozen=True)
class StartResult:
    started: bool
    execution_name: str
    execution_arn: str
    status: str | None = None  # of the existing execution, when nothing was started

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "started": self.started,
            "executionName": self.execution_name,
            "executionArn": self.execution_arn,
        }
        if not self.started:
            result["reason"] = "an execution with this name already exists" + (
                f" ({self.status})" if self.status else ""
            )
        return result


def start_once(executions: Executions, name: str, execution_input: Mapping[str, Any]) -> StartResult:
    existing = executions.status(name)
    if existing is not None:
        return StartResult(False, name, executions.arn(name), existing)
    try:
        arn = executions.start(name, json.dumps(execution_input, sort_keys=True, separators=(",", ":")))
    except ExecutionExists:
        return StartResult(False, name, executions.arn(name), executions.status(name))
    return StartResult(True, name, arn)
