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
