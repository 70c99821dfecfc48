"""The only boto3 module of the start function: DescribeExecution and StartExecution on one state machine.

Permissions: ``states:StartExecution`` on the state machine, ``states:DescribeExecution`` on its executions
(``arn:aws:states:<region>:<account>:execution:<state machine name>:*``).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from functions.start.errors import ExecutionExists
from functions.start.models import StateMachine

CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=20)


@lru_cache(maxsize=8)
def client(region: str) -> Any:
    """One Step Functions client per region and container."""
    return boto3.client("stepfunctions", region_name=region, config=CLIENT_CONFIG)


def clear_caches() -> None:
    client.cache_clear()


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class StepFunctions:
    """``starter.Executions`` for one state machine."""

    def __init__(self, state_machine: StateMachine, sfn: Any | None = None) -> None:
        self.state_machine = state_machine
        self.sfn = sfn if sfn is not None else client(state_machine.region)

    def arn(self, name: str) -> str:
        return self.state_machine.execution_arn(name)

    def status(self, name: str) -> str | None:
        try:
            return str(self.sfn.describe_execution(executionArn=self.arn(name))["status"])
        except ClientError as error:
            if _code(error) == "ExecutionDoesNotExist":
                return None
            raise

    def start(self, name: str, execution_input: str) -> str:
        try:
            response = self.sfn.start_execution(
                stateMachineArn=self.state_machine.arn, name=name, input=execution_input
            )
        except ClientError as error:
            if _code(error) == "ExecutionAlreadyExists":
                raise ExecutionExists(f"execution {name!r} already exists") from error
            raise
        return str(response["executionArn"])

    def latest_input_for_commit(self, commit: str, limit: int = 200) -> tuple[str, dict[str, Any]] | None:
        """The newest execution (of the last ``limit``) whose name carries this commit, with its input."""
        prefix = commit[:12]
        seen = 0
        paginator = self.sfn.get_paginator("list_executions")
        for page in paginator.paginate(stateMachineArn=self.state_machine.arn, PaginationConfig={"PageSize": 100}):
            for execution in page.get("executions", []):
                seen += 1
                if prefix in execution["name"]:
                    described = self.sfn.describe_execution(executionArn=execution["executionArn"])
                    try:
                        data = json.loads(described.get("input") or "{}")
                    except json.JSONDecodeError:
                        data = {}
                    return execution["executionArn"], data if isinstance(data, dict) else {}
                if seen >= limit:
                    return None
        return None
