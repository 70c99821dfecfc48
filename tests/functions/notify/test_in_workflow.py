"""The real notify handler inside the real state machine (``infra/workflow.py`` run by moto's ASL interpreter, the
other functions faked by ``tests/workflow/harness.py``): the payloads the states build reach the function as
they would in AWS, and the run's Slack thread ends up as people would see it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from functions.deploy.errors import SmokeTestFailed
from functions.notify import handler as notify_handler
from tests.functions.notify.conftest import CHANNEL, SlackWorld, blocks_text
from tests.workflow.harness import (
    FUNCTIONS,
    MODEL_VERSION,
    FakeLambdas,
    Workflow,
    default_handlers,
    deploy,
    forward_task_failure_cause,
    settings,
)


@pytest.fixture
def pipeline(slack_world: SlackWorld, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Workflow, FakeLambdas]]:
    """The workflow in moto (the same mock as the bot token's secret), notify being the real function."""
    fakes = FakeLambdas()
    fakes.handlers.update(default_handlers(fakes))
    fakes.handlers[FUNCTIONS["notify"]] = lambda event: notify_handler.handler(event, None)
    fakes.install(monkeypatch)
    forward_task_failure_cause(monkeypatch)
    workflow = Workflow(boto3.client("stepfunctions", region_name="eu-west-1"), fakes)
    try:
        yield workflow, fakes
    finally:
        workflow.stop_running()


def _thread_of(fakes: FakeLambdas) -> dict[str, Any]:
    return next(payload for payload in fakes.called("notify") if payload["event"] != "started")["slack"]


def test_a_successful_run_is_one_thread_ending_in_a_green_summary(
    pipeline: tuple[Workflow, FakeLambdas], slack_world: SlackWorld
) -> None:
    workflow, _ = pipeline
    execution = workflow.start(workflow.create(settings()))
    workflow.approve("U0ALICE01")
    assert workflow.finished(execution)["status"] == "SUCCEEDED"

    output = json.loads(workflow.sfn.describe_execution(executionArn=execution)["output"])
    thread = output["slack"]["thread"]
    assert set(thread) == {"channel", "ts"} and thread["channel"] == CHANNEL
    assert "notifyError" not in output

    parent, reply = slack_world.messages()
    assert parent["ts"] == thread["ts"] and "thread_ts" not in parent
    assert reply["thread_ts"] == thread["ts"]
    shown = blocks_text(reply)
    assert f"Version {MODEL_VERSION} of `delivery-time` is live in production" in shown
    assert "*Approved by*\n<@U0ALICE01>" in shown
    assert "*Stage*\nversion 8 (was 7)" in shown and "*Production*\nversion 8 (was 7)" in shown
    assert parent["blocks"][-1]["elements"][0]["text"].startswith(":white_check_mark: Succeeded")
    assert "execution:mlops-pipeline:run-1|run-1>" in blocks_text(parent)


def test_a_failed_step_is_reported_in_the_thread(
    pipeline: tuple[Workflow, FakeLambdas], slack_world: SlackWorld
) -> None:
    workflow, fakes = pipeline

    def stage_fails(event: dict) -> dict:
        if event["environment"] == "stage":
            raise SmokeTestFailed("stage: smoke test of version 8 failed: expected statusCode 200, got 500")
        return deploy(event)

    fakes.handlers[FUNCTIONS["deploy"]] = stage_fails
    execution = workflow.start(workflow.create(settings()))
    result = workflow.finished(execution)
    assert (result["status"], result["error"]) == ("FAILED", "DeployStageFailed")

    parent, reply = slack_world.messages()
    assert reply["thread_ts"] == parent["ts"] == _thread_of(fakes)["ts"]
    shown = blocks_text(reply)
    assert "Run failed at DeployStage" in shown and "`SmokeTestFailed`" in shown
    assert "expected statusCode 200, got 500" in shown
    assert parent["blocks"][-1]["elements"][0]["text"] == ":x: Failed at DeployStage: SmokeTestFailed"


def test_a_rejection_says_so_in_plain_words(pipeline: tuple[Workflow, FakeLambdas], slack_world: SlackWorld) -> None:
    workflow, _ = pipeline
    execution = workflow.start(workflow.create(settings()))
    workflow.reject("Rejected by bob (U0BOB0002) at 2025-01-01T12:00:00Z")
    assert workflow.finished(execution)["error"] == "Rejected"

    _, reply = slack_world.messages()
    shown = blocks_text(reply)
    assert "The model was rejected at approval; production was not touched." in shown
    assert "Rejected by bob (U0BOB0002)" in shown


def test_when_slack_is_down_at_the_start_the_run_goes_on_and_reports_at_the_end(
    pipeline: tuple[Workflow, FakeLambdas], slack_world: SlackWorld
) -> None:
    workflow, _ = pipeline
    slack_world.slack.fail_next("chat.postMessage", "service_unavailable", times=3)
    execution = workflow.start(workflow.create(settings()))
    workflow.approve()
    assert workflow.finished(execution)["status"] == "SUCCEEDED"

    output = json.loads(workflow.sfn.describe_execution(executionArn=execution)["output"])
    assert output["slack"] == {"thread": None}
    assert output["notifyError"]["Error"] == "NotifyFailed"
    assert "service_unavailable" in json.loads(output["notifyError"]["Cause"])["errorMessage"]
    [summary] = slack_world.messages()
    assert "thread_ts" not in summary
    shown = blocks_text(summary)
    assert "Pipeline run: delivery-time" in shown and "is live in production" in shown


def _status_event(execution: str, status: str, error: str | None = None, cause: str | None = None) -> dict[str, Any]:
    """What the status rule delivers (EventBridge "Step Functions Execution Status Change"); moto emits none."""
    return {
        "version": "0",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "detail": {
            "executionArn": execution,
            "stateMachineArn": execution.replace(":execution:", ":stateMachine:").rsplit(":", 1)[0],
            "status": status,
            "error": error,
            "cause": cause,
            "input": "{}",
            "output": None,
        },
    }


def test_a_run_stopped_at_the_approval_is_reported_in_its_thread(
    pipeline: tuple[Workflow, FakeLambdas], slack_world: SlackWorld
) -> None:
    workflow, _ = pipeline
    execution = workflow.start(workflow.create(settings()))
    workflow.token()  # waiting at the approval
    # (moto ends a stopped callback task only at its timeout; AWS at once. The history is what matters here.)
    workflow.sfn.stop_execution(executionArn=execution, error="Superseded", cause="run-2 asks to approve version 4")

    result = notify_handler.handler(_status_event(execution, "ABORTED", "Superseded", "run-2 asks ..."), None)

    parent, reply = slack_world.messages()
    assert result["threadTs"] == reply["thread_ts"] == parent["ts"]
    shown = blocks_text(reply)
    assert "Run failed at Approval" in shown
    assert "A newer model got there first" in shown
    assert parent["blocks"][-1]["elements"][0]["text"].startswith(":x: Failed at Approval")


def test_a_run_stopped_by_a_person_says_where_it_stopped(
    pipeline: tuple[Workflow, FakeLambdas], slack_world: SlackWorld
) -> None:
    workflow, _ = pipeline
    execution = workflow.start(workflow.create(settings()))
    workflow.token()
    workflow.sfn.stop_execution(executionArn=execution)

    notify_handler.handler(_status_event(execution, "ABORTED"), None)

    _, reply = slack_world.messages()
    shown = blocks_text(reply)
    assert "Run failed at Approval" in shown and "The run was stopped before it finished" in shown
    assert "StopExecution was called" in shown


@pytest.mark.parametrize("status", ["SUCCEEDED", "FAILED"])
def test_ends_the_workflow_reports_itself_are_not_posted_twice(
    pipeline: tuple[Workflow, FakeLambdas], slack_world: SlackWorld, status: str
) -> None:
    workflow, _ = pipeline
    execution = workflow.start(workflow.create(settings()))
    workflow.approve()
    workflow.finished(execution)
    before = len(slack_world.messages())

    assert "skipped" in notify_handler.handler(_status_event(execution, status), None)
    assert len(slack_world.messages()) == before


def test_a_stopped_run_whose_history_cannot_be_read_is_still_reported(
    pipeline: tuple[Workflow, FakeLambdas], slack_world: SlackWorld
) -> None:
    missing = "arn:aws:states:eu-west-1:123456789012:execution:mlops-pipeline:gone"

    result = notify_handler.handler(_status_event(missing, "TIMED_OUT"), None)

    [message] = slack_world.messages()
    assert result["threadTs"] is None and "thread_ts" not in message
    shown = blocks_text(message)
    assert "The run reached its own time limit" in shown and "TIMED_OUT" in shown
