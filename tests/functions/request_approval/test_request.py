"""request_approval against moto (a real waitForTaskToken state machine) and the local fake Slack."""

from __future__ import annotations

import json
import time

import pytest

from functions.request_approval import handler, services
from functions.request_approval.errors import ApprovalConfigError, ApprovalInputError, SlackPostFailed
from functions.request_approval.models import RETENTION_AFTER_TIMEOUT_SECONDS
from tests.functions.emf import metric_lines
from tests.functions.request_approval.world import (
    CHANNEL,
    RUNS_TABLE,
    TIMEOUT_SECONDS,
    World,
    block_ids,
    message_text,
)


def test_the_message_is_posted_and_the_token_stays_server_side(world: World) -> None:
    run = world.start_run()
    assert run.error is None
    item = world.item(run.approval_id)
    assert item is not None
    assert item["status"] == "pending"
    assert item["taskToken"] == run.token
    assert (item["executionArn"], item["commit"], item["modelVersion"]) == (run.execution_arn, run.commit, "7")
    assert (item["channel"], item["messageTs"]) == (CHANNEL, run.result["messageTs"])
    assert abs(float(item["timeoutAt"]) - (time.time() + TIMEOUT_SECONDS)) < 30
    assert item["expiresAt"] == item["timeoutAt"] + RETENTION_AFTER_TIMEOUT_SECONDS

    [post] = world.slack.calls_to("chat.postMessage")
    assert post.params["channel"] == CHANNEL
    message = world.message_of(run)
    actions = message["blocks"][-1]
    assert actions["block_id"] == "approval_actions"
    assert [(b["action_id"], b["value"]) for b in actions["elements"]] == [
        ("approve", run.approval_id),
        ("reject", run.approval_id),
    ]
    assert run.token not in world.slack.raw_traffic()
    assert run.token not in json.dumps(run.result)


def test_the_token_is_never_logged(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    run = world.start_run()
    world.click(run.approval_id)
    assert world.execution(run.execution_arn)["status"] == "SUCCEEDED"
    logs = capsys.readouterr().out
    assert "approval stored" in logs and "decision delivered" in logs
    for secret in (run.token, "xoxb-fake-bot-token", "test-signing-secret"):
        assert secret not in logs


def test_the_approval_goes_into_the_runs_thread(world: World) -> None:
    event = world.request_event()
    thread = world.slack.post(CHANNEL, "run started")
    world.dynamodb.put_item(
        TableName=RUNS_TABLE, Item={"executionArn": {"S": event["executionId"]}, "threadTs": {"S": thread}}
    )
    result = handler.handler(event, None)
    [post] = world.slack.calls_to("chat.postMessage")
    assert post.params["thread_ts"] == thread
    assert result["threadTs"] == thread


def test_a_newer_run_supersedes_the_older_one(world: World) -> None:
    older = world.start_run(version="7")
    newer = world.start_run(version="8")

    old_item = world.item(older.approval_id)
    assert old_item["status"] == "superseded"
    assert old_item["supersededBy"] == newer.commit
    assert "taskToken" not in old_item
    assert world.item(newer.approval_id)["status"] == "pending"
    assert newer.result["superseded"] == [{"approvalId": older.approval_id, "executionArn": older.execution_arn}]

    [(_, stop)] = world.calls("stepfunctions", "StopExecution")
    assert stop["executionArn"] == older.execution_arn
    assert stop["error"] == "Superseded"
    assert newer.commit in stop["cause"]

    old_message = world.message_of(older)
    assert "approval_actions" not in block_ids(old_message)
    assert f"Superseded by `{newer.commit[:7]}`" in message_text(old_message)
    assert "approval_actions" in block_ids(world.message_of(newer))

    response = world.click(older.approval_id)
    assert response["statusCode"] == 200
    assert world.send_task_calls() == []
    assert any("superseded" in text for text in world.told("U0ALICE01"))


def test_only_pending_approvals_of_the_same_model_are_superseded(world: World) -> None:
    decided = world.start_run()
    world.click(decided.approval_id)
    other_model = world.start_run(modelName="churn")
    newer = world.start_run()
    assert world.item(decided.approval_id)["status"] == "sent"
    assert world.item(other_model.approval_id)["status"] == "pending"
    assert newer.result["superseded"] == []
    assert world.calls("stepfunctions", "StopExecution") == []


def test_a_retried_request_of_the_same_run_closes_the_first_without_stopping_the_run(world: World) -> None:
    first = world.request_event(name="run-retried", token="token-of-attempt-1")
    second = {**first, "taskToken": "token-of-attempt-2"}
    one = handler.handler(first, None)
    two = handler.handler(second, None)
    assert world.item(one["approvalId"])["status"] == "superseded"
    assert two["superseded"] == [{"approvalId": one["approvalId"], "executionArn": first["executionId"]}]
    assert world.calls("stepfunctions", "StopExecution") == []


def test_a_slack_failure_leaves_nothing_behind_and_stops_nothing(world: World) -> None:
    older = world.start_run()
    world.slack.fail_next("chat.postMessage", "channel_not_found")
    with pytest.raises(SlackPostFailed, match="channel_not_found"):
        handler.handler(world.request_event(), None)
    assert [item["approvalId"] for item in world.items()] == [older.approval_id]
    assert world.item(older.approval_id)["status"] == "pending"
    assert world.calls("stepfunctions", "StopExecution") == []


def test_a_short_rate_limit_is_waited_out(world: World) -> None:
    world.slack.fail_next("chat.postMessage", "ratelimited", retry_after=1)
    result = handler.handler(world.request_event(), None)
    assert [call.status for call in world.slack.calls_to("chat.postMessage")] == [429, 200]
    assert world.item(result["approvalId"])["messageTs"] == result["messageTs"]


def test_a_long_rate_limit_fails_the_task_for_the_workflow_to_retry(world: World) -> None:
    world.slack.fail_next("chat.postMessage", "ratelimited", retry_after=60)
    with pytest.raises(SlackPostFailed, match="ratelimited"):
        handler.handler(world.request_event(), None)
    assert len(world.slack.calls_to("chat.postMessage")) == 1
    assert world.items() == []


def test_a_revoked_token_is_read_again_on_the_next_call(world: World) -> None:
    world.slack.fail_next("chat.postMessage", "invalid_auth")
    with pytest.raises(SlackPostFailed, match="invalid_auth"):
        handler.handler(world.request_event(), None)
    reads = len(world.calls("secretsmanager", "GetSecretValue"))
    handler.handler(world.request_event(), None)
    assert len(world.calls("secretsmanager", "GetSecretValue")) == reads + 1


def test_an_unreadable_bot_token_fails_before_anything_is_stored(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN_SECRET_ARN", world.bot_secret_arn.replace("slack-bot-token", "missing"))
    with pytest.raises(ApprovalConfigError, match="SLACK_BOT_TOKEN_SECRET_ARN: cannot read secret"):
        handler.handler(world.request_event(), None)
    assert world.items() == []
    assert world.slack.calls == []


def test_bad_input_changes_nothing(world: World) -> None:
    event = world.request_event(commit="not-a-commit")
    with pytest.raises(ApprovalInputError, match=r"^commit:"):
        handler.handler(event, None)
    assert world.items() == [] and world.slack.calls == []


def test_the_timeout_path_expires_the_approval(world: World) -> None:
    run = world.start_run(timeout=1)
    execution = world.execution(run.execution_arn)
    assert (execution["status"], execution.get("error")) == ("FAILED", "ApprovalTimedOut")
    item = world.item(run.approval_id)
    assert item["status"] == "expired"
    assert item["closedReason"] == "run ended (States.Timeout)"
    assert "taskToken" not in item
    message = world.message_of(run)
    assert "approval_actions" not in block_ids(message)
    assert "the run ended without a decision" in message_text(message)
    assert "Expired at <!date^" in message_text(message)

    world.click(run.approval_id)
    assert world.send_task_calls() == []
    assert any("no longer active" in text for text in world.told("U0ALICE01"))


def test_expire_by_execution_is_idempotent(world: World) -> None:
    run = world.start_run()
    first = handler.handler({"action": "expire", "executionArn": run.execution_arn}, None)
    second = handler.handler({"action": "expire", "executionArn": run.execution_arn}, None)
    assert first["expired"] == [run.approval_id]
    assert second["expired"] == []
    assert len(world.slack.calls_to("chat.update")) == 1


def test_an_execution_status_event_expires_its_approval(world: World) -> None:
    run = world.start_run()
    event = {
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "detail": {"executionArn": run.execution_arn, "status": "ABORTED"},
    }
    assert handler.handler(event, None)["expired"] == [run.approval_id]
    assert world.item(run.approval_id)["closedReason"] == "execution aborted"


def test_a_sweep_expires_only_approvals_past_their_timeout(world: World) -> None:
    stale, fresh = world.start_run(), world.start_run(modelName="churn")
    world.update(stale.approval_id, timeoutAt=int(time.time()) - 3600)
    result = handler.handler({"action": "expire"}, None)
    assert result["expired"] == [stale.approval_id]
    assert world.item(fresh.approval_id)["status"] == "pending"


def test_an_expired_approval_counts_its_wait_and_names_its_run(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    stale, fresh = world.start_run(), world.start_run(modelName="churn")
    world.update(stale.approval_id, timeoutAt=int(time.time()) - 60, createdAt=time.time() - 3660)
    capsys.readouterr()

    handler.handler({"action": "expire"}, None)  # a sweep: no execution of its own
    handler.handler({"action": "expire"}, None)  # nothing left to expire, nothing counted

    output = capsys.readouterr().out
    item = world.item(stale.approval_id)
    [line] = metric_lines(output, "ApprovalWaitTime")
    assert line["ApprovalWaitTime"] == pytest.approx(float(item["closedAt"] - item["createdAt"]), abs=1e-3)
    assert (line["Decision"], line["executionId"]) == ("expired", stale.execution_arn)
    assert line["Pipeline"] == f"pipeline-{TIMEOUT_SECONDS}"
    [expired] = [json.loads(text) for text in output.splitlines() if '"approval expired"' in text]
    assert expired["executionId"] == stale.execution_arn
    assert world.item(fresh.approval_id)["status"] == "pending"


def test_expire_leaves_a_decision_being_delivered_alone(world: World) -> None:
    run = world.start_run()
    world.update(run.approval_id, status="decided", decision="approved", approver="U0ALICE01")
    world.update(run.approval_id, sendLeaseUntil=time.time() + 60)
    assert handler.handler({"action": "expire", "executionArn": run.execution_arn}, None)["expired"] == []
    world.update(run.approval_id, sendLeaseUntil=0)
    assert handler.handler({"action": "expire", "executionArn": run.execution_arn}, None)["expired"] == [
        run.approval_id
    ]
    text = message_text(world.message_of(run))
    assert "could not be delivered in time" in text and "<@U0ALICE01>" in text


def test_expire_without_a_readable_bot_token_still_closes_the_record(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = world.start_run()
    monkeypatch.setenv("SLACK_BOT_TOKEN_SECRET_ARN", world.bot_secret_arn.replace("slack-bot-token", "missing"))
    assert handler.handler({"action": "expire", "executionArn": run.execution_arn}, None)["expired"] == [
        run.approval_id
    ]
    assert world.slack.calls_to("chat.update") == []


def test_two_runs_arriving_together_leave_exactly_the_newer_one_waiting(world: World) -> None:
    for round_ in range(3):
        model = f"model-{round_}"
        runs = [world.start_run(modelName=model, wait=False) for _ in range(2)]
        for run in runs:
            world.wait_for_request(run)
        items = sorted(
            (world.item(run.approval_id) for run in runs), key=lambda item: (item["createdAt"], item["approvalId"])
        )
        assert [item["status"] for item in items] == ["superseded", "pending"]
        assert items[0]["supersededBy"] == items[1]["commit"]


def test_a_run_superseded_while_posting_closes_its_own_message(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    original = services.SlackChat.post_message

    def post_then_lose_the_race(self: services.SlackChat, **kwargs: object) -> tuple[str, str]:
        [item] = [item for item in world.items() if item["status"] == "pending"]
        world.update(item["approvalId"], status="superseded", supersededBy="f" * 40)
        return original(self, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(services.SlackChat, "post_message", post_then_lose_the_race)
    result = handler.handler(world.request_event(), None)
    message = world.slack.message(result["channel"], result["messageTs"])
    assert "approval_actions" not in block_ids(message)
    assert "Superseded by `fffffff`" in message_text(message)


def test_the_thread_named_in_the_event_wins_when_it_is_in_our_channel(world: World) -> None:
    thread = world.slack.post(CHANNEL, "run started")
    handler.handler(world.request_event(slack={"channel": CHANNEL, "ts": thread}), None)
    handler.handler(world.request_event(slack={"channel": "C0OTHERCHAN", "ts": thread}), None)
    first, second = world.slack.calls_to("chat.postMessage")
    assert first.params["thread_ts"] == thread
    assert "thread_ts" not in second.params
