"""The handler against moto's Step Functions: one execution per commit, whatever happens to the events."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from botocore.stub import Stubber

from functions.start import handler as handler_module
from functions.start import sfn_api, starter
from functions.start.errors import ExecutionExists, StartConfigError
from functions.start.handler import handler
from functions.start.models import StateMachine
from tests.functions.emf import dimension_sets, metric_lines
from tests.functions.start.conftest import COMMIT, EVENT, REPOSITORY, executions, push_event

NAME = f"{REPOSITORY}-{COMMIT[:12]}"


def test_a_push_starts_one_named_execution(sfn: Any) -> None:
    result = handler(EVENT, None)

    assert result["started"] is True
    assert result["executionName"] == NAME
    (execution,) = executions(sfn)
    assert execution["name"] == NAME and execution["executionArn"] == result["executionArn"]
    described = json.loads(sfn.describe_execution(executionArn=result["executionArn"])["input"])
    assert described == {
        "commit": COMMIT,
        "repositoryName": REPOSITORY,
        "branch": "main",
        "author": "arn:aws:iam::123456789012:user/alice",
        "source": "codecommit",
        "eventId": EVENT["id"],
    }


def test_a_repeated_event_starts_nothing_new(sfn: Any) -> None:
    first = handler(EVENT, None)
    again = handler(EVENT, None)  # the same delivery again, while the run is going
    other_delivery = handler({**EVENT, "id": "another-event-id"}, None)

    assert first["started"] is True
    assert again == {**first, "started": False, "reason": "an execution with this name already exists (RUNNING)"}
    assert other_delivery["started"] is False
    assert len(executions(sfn)) == 1


def test_a_repeated_event_after_the_run_closed_starts_nothing_new(sfn: Any) -> None:
    first = handler(EVENT, None)
    sfn.stop_execution(executionArn=first["executionArn"])

    again = handler(EVENT, None)

    assert again["started"] is False
    assert again["executionArn"] == first["executionArn"]
    assert "ABORTED" in again["reason"]
    assert len(executions(sfn)) == 1


def test_another_commit_starts_another_execution(sfn: Any) -> None:
    handler(EVENT, None)
    second = handler(push_event(commitId="a" * 40), None)

    assert second["started"] is True
    assert second["executionName"] == f"{REPOSITORY}-{'a' * 12}"
    assert len(executions(sfn)) == 2


def test_other_events_are_ignored_without_calling_aws(sfn: Any) -> None:
    results = [
        handler(push_event(referenceName="feature/x"), None),
        handler(push_event(commitId=None), None),
        handler({"source": "aws.s3"}, None),
        handler(None, None),
    ]

    assert all(result["started"] is False for result in results)
    assert results[0]["ignored"] == "detail.referenceName: 'feature/x' is not the pipeline's branch 'main'"
    assert results[1]["ignored"].startswith("detail.commitId: expected a git commit SHA")
    assert executions(sfn) == []
    assert "Traceback" not in json.dumps(results)


def test_a_started_run_is_counted_once_with_its_execution_id(sfn: Any, capsys: pytest.CaptureFixture[str]) -> None:
    first = handler(EVENT, None)
    handler(EVENT, None)  # a repeated delivery starts nothing, so counts nothing
    handler(push_event(referenceName="feature/x"), None)

    [line] = metric_lines(capsys.readouterr().out, "RunsStarted")
    assert (line["RunsStarted"], line["Pipeline"]) == (1, "mlops-pipeline")
    assert dimension_sets(line) == [["Pipeline"]]
    assert (line["executionId"], line["commit"]) == (first["executionArn"], COMMIT)


def test_a_missing_state_machine_arn_is_a_configuration_error(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STATE_MACHINE_ARN", raising=False)

    with pytest.raises(StartConfigError, match="STATE_MACHINE_ARN: not set"):
        handler(EVENT, None)


def test_a_failing_start_is_raised_and_logged(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    machine = StateMachine.parse("arn:aws:states:eu-west-1:123456789012:stateMachine:mlops-pipeline")
    monkeypatch.setenv("STATE_MACHINE_ARN", machine.arn)
    client = sfn_api.client(machine.region)
    stream = io.StringIO()
    monkeypatch.setattr(handler_module, "LOGGER", handler_module.Logger("start", stream=stream))
    try:
        with Stubber(client) as stub:
            stub.add_client_error("describe_execution", "ExecutionDoesNotExist", http_status_code=400)
            stub.add_client_error("start_execution", "AccessDeniedException", "not authorized", http_status_code=400)
            with pytest.raises(Exception, match="AccessDeniedException"):
                handler(EVENT, None)
    finally:
        sfn_api.clear_caches()  # the stubbed client must not serve another test
    (line,) = [json.loads(text) for text in stream.getvalue().splitlines() if "could not start" in text]
    assert line["level"] == "ERROR" and line["commit"] == COMMIT
    assert line["executionId"].endswith(f":execution:mlops-pipeline:{NAME}")


class RacingExecutions:
    """Nothing there when looked up, but taken when started: another delivery won the race."""

    def __init__(self) -> None:
        self.lookups = 0

    def status(self, name: str) -> str | None:
        self.lookups += 1
        return None if self.lookups == 1 else "RUNNING"

    def start(self, name: str, execution_input: str) -> str:
        raise ExecutionExists(name)

    def arn(self, name: str) -> str:
        return f"arn:aws:states:eu-west-1:123456789012:execution:m:{name}"


def test_losing_a_race_to_another_delivery_is_already_handled() -> None:
    result = starter.start_once(RacingExecutions(), NAME, {"commit": COMMIT})

    assert (result.started, result.status) == (False, "RUNNING")
    assert result.to_dict()["executionArn"].endswith(NAME)
