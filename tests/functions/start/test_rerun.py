"""``python -m functions.start.rerun``: a deliberate second run of a commit, against moto."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from functions.start import rerun
from functions.start.handler import handler
from tests.functions.start.conftest import COMMIT, EVENT, REGION, REPOSITORY, executions


def _args(*extra: str, commit: str = COMMIT, arn: str | None = None) -> Any:
    return rerun.parse_args(["--commit", commit, "--state-machine-arn", arn or os.environ["STATE_MACHINE_ARN"], *extra])


def test_rerun_starts_a_second_execution_with_a_new_name(sfn: Any) -> None:
    first = handler(EVENT, None)
    sfn.stop_execution(executionArn=first["executionArn"])

    result = rerun.rerun(
        _args("--reason", "data fixed"),
        session=boto3.Session(region_name=REGION),
        now=lambda: datetime(2025, 2, 1, 9, 30, 0, tzinfo=UTC),
    )

    assert result["started"] is True
    assert result["executionName"] == f"{COMMIT[:12]}-rerun-20250201093000"
    assert result["rerunOf"] == first["executionArn"]
    assert len(executions(sfn)) == 2
    execution_input = json.loads(sfn.describe_execution(executionArn=result["executionArn"])["input"])
    assert execution_input["commit"] == COMMIT
    assert execution_input["repositoryName"] == REPOSITORY  # copied from the earlier run
    assert execution_input["source"] == "rerun"
    assert execution_input["reason"] == "data fixed"
    assert execution_input["author"].startswith("arn:aws:")  # the caller, from STS


def test_rerun_without_an_earlier_run_still_starts(sfn: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code = rerun.main(["--commit", COMMIT, "--state-machine-arn", os.environ["STATE_MACHINE_ARN"]])

    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["started"] is True and printed["rerunOf"] is None
    (execution,) = executions(sfn)
    execution_input = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    assert (execution_input["repositoryName"], execution_input["branch"]) == (None, "main")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--commit", COMMIT[:12]], "--commit: expected the full SHA"),
        (["--commit", COMMIT, "--state-machine-arn", "mlops-pipeline"], "--state-machine-arn: expected arn:aws:states"),
    ],
)
def test_wrong_arguments_exit_2_with_a_message(
    aws_env: None, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    if "--state-machine-arn" not in argv:
        argv = [*argv, "--state-machine-arn", "arn:aws:states:eu-west-1:123456789012:stateMachine:m"]

    assert rerun.main(argv) == 2
    assert message in capsys.readouterr().err
