"""slack_interactions end to end: Slack-signed HTTP events through the handler, moto running the waiting
workflow, and the local fake Slack receiving the message updates and ephemeral answers."""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

import pytest
from botocore.stub import Stubber

from functions.common.slack import WEB_API_METHODS
from functions.slack_interactions import handler, services
from functions.slack_interactions.models import load_settings
from local.fake_slack import TOKEN
from tests.functions.emf import metric_lines
from tests.functions.request_approval.world import (
    ALICE,
    APPROVALS_TABLE,
    BOB,
    CAROL,
    MALLORY,
    SIGNING_SECRET,
    TIMEOUT_SECONDS,
    World,
    block_ids,
    click_payload,
    form_body,
    http_event,
    message_text,
    sign,
)
from tests.functions.slack_interactions.test_models import MALFORMED
from tests.functions.slack_interactions.test_verify import SLACK_BODY, SLACK_SIGNATURE, SLACK_TIMESTAMP


def decision_calls(world: World) -> list[tuple[str, str, dict[str, Any]]]:
    """Every call that reads or changes an approval or a run."""
    return [call for call in world.aws_calls if call[0] in ("dynamodb", "stepfunctions")]


def assert_untouched(world: World, run: Any) -> None:
    item = world.item(run.approval_id)
    assert item["status"] == "pending" and "decision" not in item
    assert world.send_task_calls() == []
    assert world.execution(run.execution_arn, settle=0)["status"] == "RUNNING"


# ------------------------------------------------------------------------------------------ signature


def test_slacks_documented_example_passes_the_signature_check(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handler, "clock", lambda: float(SLACK_TIMESTAMP))
    world.secretsmanager.put_secret_value(
        SecretId=world.signing_secret_arn, SecretString="8f742231b10e8888abcd99yyyzzz85a5"
    )
    headers = {"x-slack-request-timestamp": SLACK_TIMESTAMP, "x-slack-signature": SLACK_SIGNATURE}
    world.aws_calls.clear()
    response = handler.handler(http_event(SLACK_BODY, headers), None)
    # Verified (not 401), then refused: it is a slash command, not a button click.
    assert response["statusCode"] == 400
    assert decision_calls(world) == []
    tampered = handler.handler(http_event(SLACK_BODY.replace("T1DC2JH3J", "T1DC2JH3K"), headers), None)
    assert tampered["statusCode"] == 401


def signed(body: str, ts: int, secret: str = SIGNING_SECRET) -> dict[str, str]:
    return {"x-slack-request-timestamp": str(ts), "x-slack-signature": sign(body, ts, secret)}


FORGERIES = {
    "forged signature": lambda body, now: (body, signed(body, now, "not-the-secret")),
    "tampered body": lambda body, now: (body.replace("approve", "reject"), signed(body, now)),
    "stale timestamp": lambda body, now: (body, signed(body, now - 301)),
    "future timestamp": lambda body, now: (body, signed(body, now + 301)),
    "no timestamp": lambda body, now: (body, {"x-slack-signature": signed(body, now)["x-slack-signature"]}),
    "no signature": lambda body, now: (body, {"x-slack-request-timestamp": str(now)}),
    "non-numeric timestamp": lambda body, now: (
        body,
        {**signed(body, now), "x-slack-request-timestamp": f"{now}abc"},
    ),
    "replayed signature, new timestamp": lambda body, now: (
        body,
        {"x-slack-request-timestamp": str(now), "x-slack-signature": signed(body, now - 400)["x-slack-signature"]},
    ),
}


@pytest.mark.parametrize("forge", FORGERIES.values(), ids=FORGERIES.keys())
def test_unsigned_requests_get_401_and_touch_nothing(world: World, forge: Any) -> None:
    run = world.start_run()
    world.aws_calls.clear()
    calls_before = len(world.slack.calls)
    body, headers = forge(form_body(click_payload(run.approval_id)), int(time.time()))
    response = handler.handler(http_event(body, headers), None)
    assert response["statusCode"] == 401
    assert decision_calls(world) == []
    assert len(world.slack.calls) == calls_before
    assert_untouched(world, run)


@pytest.mark.parametrize("skew", [-300, 300])
def test_timestamps_within_five_minutes_are_accepted(world: World, monkeypatch: pytest.MonkeyPatch, skew: int) -> None:
    run = world.start_run()
    now = int(time.time())
    monkeypatch.setattr(handler, "clock", lambda: float(now))
    assert world.click(run.approval_id, timestamp=now + skew)["statusCode"] == 200
    assert world.item(run.approval_id)["status"] == "sent"


def test_a_base64_body_is_verified_over_its_decoded_bytes(world: World) -> None:
    run = world.start_run()
    assert world.click(run.approval_id, base64_encoded=True)["statusCode"] == 200
    assert world.execution(run.execution_arn)["status"] == "SUCCEEDED"


def test_a_broken_base64_body_gets_401(world: World) -> None:
    now = int(time.time())
    event = http_event("payload=x", signed("payload=x", now))
    event.update(body="!!not base64!!", isBase64Encoded=True)
    world.aws_calls.clear()
    assert handler.handler(event, None)["statusCode"] == 401
    assert decision_calls(world) == []


@pytest.mark.parametrize(
    "secret_problem", ["unset", "missing secret", "blank secret"], ids=["unset", "missing", "blank"]
)
def test_without_a_signing_secret_every_request_gets_401(
    world: World, monkeypatch: pytest.MonkeyPatch, secret_problem: str
) -> None:
    run = world.start_run()
    if secret_problem == "unset":
        monkeypatch.delenv("SLACK_SIGNING_SECRET_ARN")
    elif secret_problem == "missing secret":
        monkeypatch.setenv("SLACK_SIGNING_SECRET_ARN", world.signing_secret_arn.replace("slack-signing", "missing"))
    else:
        world.secretsmanager.put_secret_value(SecretId=world.signing_secret_arn, SecretString="   ")
    world.aws_calls.clear()
    assert world.click(run.approval_id)["statusCode"] == 401
    assert decision_calls(world) == []
    assert_untouched(world, run)


# ---------------------------------------------------------------------------------------------- payload


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_payloads_get_400_never_500(world: World, body: str) -> None:
    world.aws_calls.clear()
    response = world.post(body)
    assert response["statusCode"] == 400
    assert decision_calls(world) == []
    assert world.slack.calls == []


@pytest.mark.parametrize(
    "fields",
    [{"team": "T0OTHERTEAM"}, {"app": "A0OTHERAPP"}, {"team": None}],
    ids=["other workspace", "other app", "no workspace"],
)
def test_clicks_from_another_workspace_or_app_get_403(world: World, fields: dict[str, Any]) -> None:
    run = world.start_run()
    response = world.click(run.approval_id, **fields)
    assert response["statusCode"] == 403
    assert "another Slack workspace or app" in json.loads(response["body"])["text"]
    assert_untouched(world, run)


def test_a_misconfigured_function_answers_503_after_verifying(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    run = world.start_run()
    monkeypatch.setenv("SLACK_APPROVERS", "U0ALICE01")
    assert world.click(run.approval_id)["statusCode"] == 503
    assert_untouched(world, run)


# --------------------------------------------------------------------------------------------- approvers


def test_a_user_who_is_not_an_approver_is_told_and_nothing_changes(world: World) -> None:
    run = world.start_run()
    assert world.click(run.approval_id, user=MALLORY)["statusCode"] == 200
    [told] = world.told(MALLORY)
    assert "not allowed to approve" in told and f"<@{ALICE}>" in told and "<!subteam^S0REVIEWRS>" in told
    assert_untouched(world, run)


def test_a_member_of_an_approver_group_may_decide(world: World) -> None:
    first, second = world.start_run(), world.start_run(modelName="churn")
    world.click(first.approval_id, user=CAROL)
    world.click(second.approval_id, user=CAROL)
    output = json.loads(world.execution(first.execution_arn)["output"])["approval"]
    assert output["approver"] == CAROL
    assert len(world.slack.calls_to("usergroups.users.list")) == 1  # cached


def test_when_group_membership_cannot_be_checked_nothing_changes(world: World) -> None:
    run = world.start_run()
    world.slack.fail_next("usergroups.users.list", "ratelimited", retry_after=30)
    world.click(run.approval_id, user=CAROL)
    [told] = world.told(CAROL)
    assert "could not be checked" in told and "ratelimited" in told
    assert_untouched(world, run)


# --------------------------------------------------------------------------------------------- decisions


def test_approve_resumes_the_run_and_replaces_the_buttons(world: World) -> None:
    run = world.start_run()
    response = world.click(run.approval_id)
    assert response == {"statusCode": 200, "headers": {"content-type": "text/plain; charset=utf-8"}, "body": ""}

    execution = world.execution(run.execution_arn)
    assert execution["status"] == "SUCCEEDED"
    output = json.loads(execution["output"])["approval"]
    assert output["decision"] == "approved"
    assert (output["approver"], output["approverName"]) == (ALICE, "alice")
    assert output["decidedAt"].endswith("Z")

    item = world.item(run.approval_id)
    assert (item["status"], item["decision"], item["approver"]) == ("sent", "approved", ALICE)
    assert "taskToken" not in item and "sendLeaseUntil" not in item

    message = world.message_of(run)
    assert "approval_actions" not in block_ids(message)
    assert f"Approved by <@{ALICE}> at <!date^" in message_text(message)
    assert world.told(ALICE) == []
    [(operation, params)] = world.send_task_calls()
    assert operation == "SendTaskSuccess" and params["taskToken"] == run.token


def test_reject_fails_the_run_with_approval_rejected(world: World) -> None:
    run = world.start_run()
    world.click(run.approval_id, "reject", user=BOB)
    execution = world.execution(run.execution_arn)
    assert (execution["status"], execution["error"]) == ("FAILED", "ApprovalRejected")
    [(operation, params)] = world.send_task_calls()
    assert operation == "SendTaskFailure"
    assert params["error"] == "ApprovalRejected"
    assert BOB in params["cause"] and "bob" in params["cause"]
    assert f"Rejected by <@{BOB}> at" in message_text(world.message_of(run))
    assert world.item(run.approval_id)["decision"] == "rejected"


@pytest.mark.parametrize(("action", "decision"), [("approve", "approved"), ("reject", "rejected")])
def test_the_wait_from_request_to_decision_is_counted_once(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], action: str, decision: str
) -> None:
    run = world.start_run()
    now = float(int(time.time()))
    monkeypatch.setattr(handler, "clock", lambda: now)
    world.update(run.approval_id, createdAt=now - 754.5)  # requested 12.5 minutes ago
    world.click(run.approval_id, action)
    world.click(run.approval_id, "approve", user=BOB)  # told who decided; nothing delivered, nothing counted

    output = capsys.readouterr().out
    [line] = metric_lines(output, "ApprovalWaitTime")
    assert (line["ApprovalWaitTime"], line["Decision"]) == (754.5, decision)
    assert (line["Pipeline"], line["executionId"]) == (f"pipeline-{TIMEOUT_SECONDS}", run.execution_arn)
    handled = [json.loads(text) for text in output.splitlines() if '"click handled"' in text]
    assert [entry["executionId"] for entry in handled] == [run.execution_arn, run.execution_arn]


def test_a_failed_delivery_is_counted_when_a_later_click_delivers_it(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    run = world.start_run()
    stub = Stubber(services.client("stepfunctions"))
    stub.add_client_error("send_task_success", service_error_code="ThrottlingException", http_status_code=400)
    with stub:
        world.click(run.approval_id)
    assert metric_lines(capsys.readouterr().out, "ApprovalWaitTime") == []

    world.click(run.approval_id, "reject", user=BOB)
    [line] = metric_lines(capsys.readouterr().out, "ApprovalWaitTime")
    assert line["Decision"] == "approved"  # the recorded decision, delivered by Bob's click


def test_a_second_click_is_told_who_decided(world: World) -> None:
    run = world.start_run()
    world.click(run.approval_id)
    world.click(run.approval_id, "reject", user=BOB)
    [told] = world.told(BOB)
    assert told.startswith(f"Already approved by <@{ALICE}> at <!date^")
    assert len(world.send_task_calls()) == 1
    assert world.execution(run.execution_arn)["status"] == "SUCCEEDED"


def test_concurrent_approve_and_reject_make_exactly_one_decision(world: World) -> None:
    runs = [world.start_run(modelName=f"model-{i}") for i in range(4)]
    for run in runs:
        barrier = threading.Barrier(2)
        responses: list[dict[str, Any]] = []
        errors: list[BaseException] = []

        def click(
            action: str,
            user: str,
            run: Any = run,
            barrier: threading.Barrier = barrier,
            responses: list[dict[str, Any]] = responses,
            errors: list[BaseException] = errors,
        ) -> None:
            barrier.wait()
            try:
                responses.append(world.click(run.approval_id, action, user=user))
            except BaseException as error:  # surfaced below: a thread's exception is otherwise lost
                errors.append(error)
                raise

        threads = [
            threading.Thread(target=click, args=("approve", ALICE)),
            threading.Thread(target=click, args=("reject", BOB)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        assert [r["statusCode"] for r in responses] == [200, 200]

        item = world.item(run.approval_id)
        calls = [params for _, params in world.send_task_calls() if params["taskToken"] == run.token]
        assert len(calls) == 1
        execution = world.execution(run.execution_arn)
        expected = {"approved": "SUCCEEDED", "rejected": "FAILED"}[item["decision"]]
        assert (item["status"], execution["status"]) == ("sent", expected)
        loser = BOB if item["approver"] == ALICE else ALICE
        assert any(
            text.startswith(f"Already {item['decision']} by <@{item['approver']}>") for text in world.told(loser)
        )


GONE = ["TaskTimedOut", "TaskDoesNotExist"]


@pytest.mark.parametrize("code", GONE)
def test_a_run_that_no_longer_waits_is_reported(world: World, code: str) -> None:
    run = world.start_run()
    stub = Stubber(services.client("stepfunctions"))
    stub.add_client_error("send_task_success", service_error_code=code, http_status_code=400)
    with stub:
        world.click(run.approval_id)
    item = world.item(run.approval_id)
    assert (item["status"], item["closedReason"], item["decision"]) == ("expired", code, "approved")
    assert "taskToken" not in item
    [told] = world.told(ALICE)
    assert "no longer active" in told and code in told
    assert f"No longer active ({code})" in message_text(world.message_of(run))


def test_a_spent_token_is_reported_as_no_longer_active(world: World) -> None:
    run = world.start_run()
    world.sfn.send_task_success(taskToken=run.token, output="{}")  # someone else resumed the run
    assert world.execution(run.execution_arn)["status"] == "SUCCEEDED"
    world.click(run.approval_id)
    assert world.item(run.approval_id)["closedReason"] == "InvalidToken"
    assert "no longer active" in world.told(ALICE)[0]


def test_a_failed_delivery_is_completed_by_a_later_click(world: World) -> None:
    run = world.start_run()
    stub = Stubber(services.client("stepfunctions"))
    stub.add_client_error("send_task_success", service_error_code="ThrottlingException", http_status_code=400)
    with stub:
        world.click(run.approval_id)
    item = world.item(run.approval_id)
    assert (item["status"], item["lastSendError"], item["sendLeaseUntil"]) == ("decided", "ThrottlingException", 0)
    assert item["taskToken"] == run.token
    assert "could not reach the workflow yet" in world.told(ALICE)[0]
    assert world.execution(run.execution_arn, settle=0)["status"] == "RUNNING"

    # A later click, even a Reject by someone else, delivers the first decision: Alice's approval.
    world.click(run.approval_id, "reject", user=BOB)
    execution = world.execution(run.execution_arn)
    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"])["approval"]["approver"] == ALICE
    item = world.item(run.approval_id)
    assert (item["status"], item["sendAttempts"]) == ("sent", 2)
    assert world.told(BOB)[0].startswith(f"Delivered the recorded decision (approved by <@{ALICE}>")
    assert f"Approved by <@{ALICE}>" in message_text(world.message_of(run))


def test_a_click_during_a_delivery_does_not_send_again(world: World) -> None:
    run = world.start_run()
    world.update(
        run.approval_id, status="decided", decision="approved", approver=ALICE, sendLeaseUntil=time.time() + 60
    )
    world.click(run.approval_id, user=BOB)
    assert world.send_task_calls() == []
    assert "being handed to the workflow" in world.told(BOB)[0]


def test_a_click_after_the_timeout_sends_nothing(world: World) -> None:
    run = world.start_run()
    world.update(run.approval_id, timeoutAt=int(time.time()) - 1)
    world.click(run.approval_id)
    assert world.send_task_calls() == []
    assert world.item(run.approval_id)["status"] == "expired"
    assert "timed out" in world.told(ALICE)[0]
    assert "approval_actions" not in block_ids(world.message_of(run))


def test_an_unknown_approval_is_reported(world: World) -> None:
    world.click("A" * 22)
    assert "no longer exists" in world.told(ALICE)[0]
    assert world.send_task_calls() == []


def test_a_decision_is_delivered_even_when_slack_is_unavailable(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    run, other = world.start_run(), world.start_run(modelName="churn")
    monkeypatch.setenv("SLACK_BOT_TOKEN_SECRET_ARN", world.bot_secret_arn.replace("slack-bot-token", "missing"))
    services.clear_caches()
    assert world.click(run.approval_id)["statusCode"] == 200
    assert world.execution(run.execution_arn)["status"] == "SUCCEEDED"
    assert world.slack.calls_to("chat.update") == []
    # A group member cannot be confirmed without Slack: refused.
    world.click(other.approval_id, user=CAROL)
    assert world.item(other.approval_id)["status"] == "pending"


def test_a_failed_message_update_is_repaired_by_the_next_click(world: World) -> None:
    run = world.start_run()
    world.slack.fail_next("chat.update", "ratelimited", retry_after=30)
    world.click(run.approval_id)
    assert "approval_actions" in block_ids(world.message_of(run))
    world.click(run.approval_id, user=BOB)
    assert "approval_actions" not in block_ids(world.message_of(run))
    assert len(world.send_task_calls()) == 1


def test_no_secret_reaches_a_response_or_a_log(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    run = world.start_run()
    responses = [
        world.click(run.approval_id, user=MALLORY),
        world.click(run.approval_id, team="T0OTHERTEAM"),
        world.post("payload=%7Bbroken"),
        world.click(run.approval_id, timestamp=int(time.time()) - 999),
        world.click(run.approval_id),
        world.click(run.approval_id, user=BOB),
    ]
    logs = capsys.readouterr().out
    everything = logs + json.dumps(responses) + world.slack.raw_traffic()
    for secret in (run.token, SIGNING_SECRET, TOKEN):
        assert secret not in everything
    assert world.slack.methods_called() <= set(WEB_API_METHODS)


def test_an_answer_to_a_click_in_a_thread_stays_in_the_thread(world: World) -> None:
    run = world.start_run()
    payload = click_payload(run.approval_id, user=MALLORY)
    payload["container"]["thread_ts"] = "1700000000.000001"
    world.click(run.approval_id, payload=payload)
    [ephemeral] = world.slack.ephemerals
    assert (ephemeral["user"], ephemeral["thread_ts"]) == (MALLORY, "1700000000.000001")


def test_plain_reads_never_ask_for_the_task_token(world: World) -> None:
    run = world.start_run()
    settings = load_settings(os.environ)
    record = services.DynamoApprovals(settings).get(run.approval_id)
    assert record is not None and record.status == "pending" and record.task_token is None
    [params] = [p for _, p in world.calls("dynamodb", "GetItem") if p["TableName"] == APPROVALS_TABLE]
    assert "taskToken" not in json.dumps(params)
