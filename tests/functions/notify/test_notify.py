"""The notify handler with the real slack_sdk WebClient against the fake Slack, the bot token in moto."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest

from functions.notify import handler
from functions.notify.errors import NotifyConfigError, NotifyFailed, NotifyInputError
from local.fake_slack import TOKEN
from tests.conftest import ROOT
from tests.functions.emf import dimension_sets, metric_lines
from tests.functions.notify.conftest import (
    CHANNEL,
    COMMIT,
    CONSOLE,
    EXECUTION,
    EXECUTION_NAME,
    SilentServer,
    SlackWorld,
    blocks_text,
    failed_event,
    lambda_error,
    started_event,
    succeeded_event,
)


class Context:
    aws_request_id = "req-1"

    def __init__(self, remaining_ms: int = 30_000) -> None:
        self.deadline = time.monotonic() + remaining_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - time.monotonic()) * 1000)


def notify(event: dict[str, Any], remaining_ms: int = 30_000) -> dict[str, Any]:
    return handler.handler(event, Context(remaining_ms))


def open_thread(world: SlackWorld) -> dict[str, str]:
    return notify(started_event())


# ------------------------------------------------------------------------------------------------ started


def test_started_posts_the_parent_message_and_returns_the_thread(slack_world: SlackWorld) -> None:
    thread = notify(started_event())

    [post] = slack_world.slack.calls_to("chat.postMessage")
    assert thread == {"channel": CHANNEL, "ts": post.response["ts"]}
    assert post.params["channel"] == CHANNEL
    assert "thread_ts" not in post.params
    assert post.params["text"] == "Pipeline run started: delivery-time, commit 0123456 by alice"
    parent = slack_world.slack.message(CHANNEL, thread["ts"])
    shown = blocks_text(parent)
    assert "Pipeline run: delivery-time" in shown
    assert "`0123456` by alice" in shown
    assert f"<{CONSOLE}|{EXECUTION_NAME}>" in shown
    assert ":hourglass_flowing_sand: Running" in shown
    assert [block["block_id"] for block in parent["blocks"]] == ["run_summary", "run_status"]
    assert post.headers["authorization"] == f"Bearer {TOKEN}"


def test_the_console_link_is_the_executions_page_in_its_region(slack_world: SlackWorld) -> None:
    event = started_event()
    event["executionId"] = EXECUTION.replace("eu-west-1", "us-east-2")
    thread = notify(event)
    shown = blocks_text(slack_world.slack.message(CHANNEL, thread["ts"]))
    expected = (
        "https://us-east-2.console.aws.amazon.com/states/home?region=us-east-2"
        f"#/v2/executions/details/{event['executionId']}"
    )
    assert f"<{expected}|" in shown


def test_values_from_the_run_cannot_mention_or_link(slack_world: SlackWorld) -> None:
    event = started_event()
    event["run"]["author"] = "arn:aws:iam::123456789012:user/<!channel>&<https://evil.example|x>"
    event["modelName"] = "model<!here>"
    thread = notify(event)
    raw = json.dumps(slack_world.slack.message(CHANNEL, thread["ts"]))
    assert "<!channel>" not in raw and "<!here>" not in raw and "<https://evil" not in raw
    assert "&lt;!here&gt;" in raw


# ---------------------------------------------------------------------------------------------- succeeded


def test_succeeded_replies_in_the_thread_and_marks_the_parent(slack_world: SlackWorld) -> None:
    thread = open_thread(slack_world)

    result = notify(succeeded_event(thread))

    [reply] = slack_world.replies(thread["ts"])
    assert result == {"channel": CHANNEL, "ts": reply["ts"], "threadTs": thread["ts"], "parentUpdated": True}
    assert reply["thread_ts"] == thread["ts"]
    assert reply["text"] == "Succeeded: delivery-time version 3 is live in production"
    shown = blocks_text(reply)
    assert "Version 3 of `delivery-time` is live in production" in shown
    assert "*Image*\n`sha256:abababababab…`" in shown
    assert "*Stage*\nversion 8 (was 7)" in shown
    assert "*Production*\nversion 5 (was 4)" in shown
    assert "*Approved by*\n<@U0ALICE01>" in shown
    assert "`staging` → 3 (was 2)" in shown and "`production` → 3 (was 1)" in shown
    assert f"<{CONSOLE}|{EXECUTION_NAME}>" in shown

    parent = slack_world.slack.message(CHANNEL, thread["ts"])
    assert parent["text"] == "Pipeline run succeeded: delivery-time version 3"
    status = parent["blocks"][-1]
    assert status["block_id"] == "run_status"
    assert status["elements"][0]["text"] == ":white_check_mark: Succeeded: version 3 is live in production."
    assert "Pipeline run: delivery-time" in blocks_text(parent)  # the run's details stay
    [update] = slack_world.slack.calls_to("chat.update")
    assert (update.params["channel"], update.params["ts"]) == (CHANNEL, thread["ts"])


def test_a_canary_and_a_noop_stage_are_described(slack_world: SlackWorld) -> None:
    thread = open_thread(slack_world)
    canary = {"action": "promote", "functionVersion": "5", "previousVersion": "4", "canaryErrors": 0.0}
    notify(succeeded_event(thread, stage={"functionVersion": "8", "noop": True}, prod=canary))
    shown = blocks_text(slack_world.replies(thread["ts"])[0])
    assert "*Stage*\nversion 8 was already live" in shown
    assert "*Production*\nversion 5 (was 4) after a canary with no errors" in shown


def test_the_thread_may_come_wrapped_or_only_in_the_runs_state(slack_world: SlackWorld) -> None:
    thread = open_thread(slack_world)
    notify(succeeded_event(thread, slack={"thread": thread}))
    event = succeeded_event(thread)
    del event["slack"]
    notify(event)
    replies = slack_world.replies(thread["ts"])
    assert len(replies) == 2
    assert [call.params.get("thread_ts") for call in slack_world.slack.calls_to("chat.postMessage")[1:]] == [
        thread["ts"],
        thread["ts"],
    ]


def test_without_a_thread_the_summary_is_a_new_top_level_message(slack_world: SlackWorld) -> None:
    result = notify(succeeded_event(None))

    [post] = slack_world.slack.calls_to("chat.postMessage")
    assert "thread_ts" not in post.params
    assert post.params["channel"] == CHANNEL
    assert result == {"channel": CHANNEL, "ts": post.response["ts"], "threadTs": None, "parentUpdated": False}
    shown = blocks_text(slack_world.slack.message(CHANNEL, result["ts"]))
    assert "Pipeline run: delivery-time" in shown and "`0123456` by alice" in shown
    assert "Version 3 of `delivery-time` is live in production" in shown
    assert slack_world.slack.calls_to("chat.update") == []


# ------------------------------------------------------------------------------------------------- failed


def test_a_failed_step_says_which_and_why_without_the_stack_trace(slack_world: SlackWorld) -> None:
    thread = open_thread(slack_world)
    message = "stage (mlops-inference in account 222222222222): smoke test of version 8 failed: got 500"
    error = lambda_error("SmokeTestFailed", message)

    notify(failed_event(thread, "DeployStage", "DeployStageFailed", error, build={"modelVersion": "3"}))

    [reply] = slack_world.replies(thread["ts"])
    assert reply["text"] == "Failed at DeployStage: SmokeTestFailed"
    shown = blocks_text(reply)
    assert "Run failed at DeployStage" in shown
    assert "*Step*\nDeployStage" in shown and "*Outcome*\nDeployStageFailed" in shown
    assert "*Error*\n`SmokeTestFailed`" in shown
    assert message in shown
    assert "`delivery-time` version 3" in shown
    raw = json.dumps(reply)
    assert "stackTrace" not in raw and "actions.py" not in raw and "requestId" not in raw

    parent = slack_world.slack.message(CHANNEL, thread["ts"])
    assert parent["blocks"][-1]["elements"][0]["text"] == ":x: Failed at DeployStage: SmokeTestFailed"
    assert parent["text"] == "Pipeline run failed at DeployStage: delivery-time"


@pytest.mark.parametrize(
    ("step", "outcome", "error", "line"),
    [
        (
            "Approval",
            "Rejected",
            {"Error": "ApprovalRejected", "Cause": "Rejected by alice (U0ALICE01) at 2025-01-01T12:00:00Z"},
            "The model was rejected at approval; production was not touched.",
        ),
        (
            "Approval",
            "ApprovalExpired",
            {"Error": "States.Timeout", "Cause": ""},
            "Nobody approved or rejected it before the approval timed out; production was not touched.",
        ),
        (
            "DeployProd",
            "Superseded",
            lambda_error("Superseded", "prod: alias live serves version 9 with model 4, newer than model 3"),
            "A newer model got there first, so this run stopped without changing anything.",
        ),
        (
            "PromoteCanary",
            "CanaryRolledBack",
            lambda_error("CanaryFailed", "prod: alarm mlops-errors is in ALARM"),
            "The production canary failed its checks, and live was rolled back to the previous version.",
        ),
    ],
)
def test_outcomes_people_act_on_get_a_plain_language_line(
    slack_world: SlackWorld, step: str, outcome: str, error: dict[str, Any], line: str
) -> None:
    thread = open_thread(slack_world)
    notify(failed_event(thread, step, outcome, error))
    [reply] = slack_world.replies(thread["ts"])
    assert line in blocks_text(reply)
    parent_status = slack_world.slack.message(CHANNEL, thread["ts"])["blocks"][-1]["elements"][0]["text"]
    assert parent_status == f":x: Failed at {step}: {line}"


def test_the_rejection_says_who_and_an_expiry_says_what_timed_out(slack_world: SlackWorld) -> None:
    thread = open_thread(slack_world)
    notify(failed_event(thread, "Approval", "Rejected", {"Error": "ApprovalRejected", "Cause": "Rejected by bob"}))
    notify(failed_event(thread, "Approval", "ApprovalExpired", {"Error": "States.Timeout"}))
    rejected, expired = (blocks_text(reply) for reply in slack_world.replies(thread["ts"]))
    assert "Rejected by bob" in rejected and "`ApprovalRejected`" in rejected
    assert "the step did not finish within its time limit" in expired


def test_secrets_and_long_messages_are_trimmed_from_the_error(slack_world: SlackWorld) -> None:
    thread = open_thread(slack_world)
    leaky = (
        "call failed: token=xoxb-1234-5678-abcdef password: hunter2 url https://pipeline:s3cret@mlflow.example.com "
        "key AKIAABCDEFGHIJKLMNOP Authorization: Basic cGlwZWxpbmU6czNjcmV0 "
        + "x" * 2000
        + '\nTraceback (most recent call last):\n  File "/var/task/x.py", line 1\nValueError: boom'
    )
    notify(failed_event(thread, "PromoteStaging", "PromoteStagingFailed", lambda_error("RegistryError", leaky)))
    [reply] = slack_world.replies(thread["ts"])
    raw = json.dumps(reply)
    for secret in ("xoxb-1234", "hunter2", "s3cret@", "AKIAABCDEFGHIJKLMNOP", "cGlwZWxpbmU6czNjcmV0", "Traceback"):
        assert secret not in raw
    why = next(block for block in reply["blocks"] if block["text"]["text"].startswith("*Why*"))
    assert len(why["text"]["text"]) < 600
    assert why["text"]["text"].endswith("…")


def test_a_codebuild_failure_names_the_phase_and_links_the_logs(slack_world: SlackWorld) -> None:
    thread = open_thread(slack_world)
    logs = "https://console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logEvent:group=/aws/codebuild/x"
    build = {
        "Build": {
            "BuildStatus": "FAILED",
            "Phases": [
                {"PhaseType": "INSTALL", "PhaseStatus": "SUCCEEDED"},
                {
                    "PhaseType": "BUILD",
                    "PhaseStatus": "FAILED",
                    "Contexts": [
                        {
                            "StatusCode": "COMMAND_EXECUTION_ERROR",
                            "Message": "Error while executing command: python train.py. Reason: exit status 3",
                        }
                    ],
                },
            ],
            "Logs": {"DeepLink": logs},
            "Environment": {"EnvironmentVariables": [{"Name": "MLFLOW_TRACKING_PASSWORD", "Value": "arn:x:password"}]},
        }
    }
    notify(failed_event(thread, "Build", "BuildFailed", {"Error": "States.TaskFailed", "Cause": json.dumps(build)}))
    shown = blocks_text(slack_world.replies(thread["ts"])[0])
    assert "the build ended FAILED in phase BUILD: Error while executing command: python train.py" in shown
    assert f"(<{logs}|build logs>)" in shown
    assert "MLFLOW_TRACKING_PASSWORD" not in shown


def test_other_json_causes_are_shown_compactly_with_credentials_masked(slack_world: SlackWorld) -> None:
    thread = open_thread(slack_world)
    cause = json.dumps({"decision": "maybe", "approver": "U0BOB", "taskToken": "AAAA-secret-token"})
    notify(failed_event(thread, "Approval", "Rejected", {"Error": "NotApproved", "Cause": cause}))
    shown = blocks_text(slack_world.replies(thread["ts"])[0])
    assert '"decision": "maybe"' in shown
    assert "AAAA-secret-token" not in shown


def test_a_failure_without_a_thread_is_a_top_level_message(slack_world: SlackWorld) -> None:
    result = notify(failed_event(None, "Build", "BuildFailed", {"Error": "BuildOutputsMissing", "Cause": "{}"}))
    message = slack_world.slack.message(CHANNEL, result["ts"])
    assert "thread_ts" not in message
    shown = blocks_text(message)
    assert "Pipeline run: delivery-time" in shown and "Run failed at Build" in shown


# ------------------------------------------------------------------------------------------ Slack trouble


def test_a_brief_slack_outage_is_retried(slack_world: SlackWorld) -> None:
    slack_world.slack.fail_next("chat.postMessage", "internal_error", times=2)
    thread = notify(started_event())
    assert [call.status for call in slack_world.slack.calls_to("chat.postMessage")] == [200, 200, 200]
    assert slack_world.slack.message(CHANNEL, thread["ts"])


def test_a_rate_limit_waits_its_retry_after(slack_world: SlackWorld) -> None:
    slack_world.slack.fail_next("chat.postMessage", "ratelimited", retry_after=1)
    started = time.monotonic()
    notify(started_event())
    assert time.monotonic() - started >= 1
    assert [call.status for call in slack_world.slack.calls_to("chat.postMessage")] == [429, 200]


def test_slack_down_ends_in_notify_failed_after_bounded_retries(slack_world: SlackWorld) -> None:
    slack_world.slack.fail_next("chat.postMessage", "service_unavailable", times=10)
    with pytest.raises(NotifyFailed) as failed:
        notify(started_event())
    assert len(slack_world.slack.calls_to("chat.postMessage")) == 3  # SLACK_MAX_ATTEMPTS
    message = str(failed.value)
    assert message.startswith("Slack chat.postMessage failed with service_unavailable")
    assert f"run {EXECUTION_NAME} was not posted to channel {CHANNEL}" in message
    assert "The run itself is not affected" in message


def test_an_unreachable_slack_fails_fast(slack_world: SlackWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    slack_world.slack.stop()
    started = time.monotonic()
    with pytest.raises(NotifyFailed, match="failed with unreachable"):
        notify(started_event())
    assert time.monotonic() - started < 5


def test_a_hanging_slack_times_out_instead_of_hanging(slack_world: SlackWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_TIMEOUT_SECONDS", "0.5")
    with SilentServer() as silent:
        monkeypatch.setenv("SLACK_API_URL", silent.url)
        started = time.monotonic()
        with pytest.raises(NotifyFailed, match="failed with unreachable"):
            notify(started_event())
        elapsed = time.monotonic() - started
    assert elapsed < 6  # 3 attempts x (up to 2 x 0.5 s) + backoff
    assert silent.connections >= 3


def test_retries_stop_before_the_function_times_out(slack_world: SlackWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("SLACK_MAX_ATTEMPTS", "10")
    slack_world.slack.fail_next("chat.postMessage", "ratelimited", retry_after=30)
    started = time.monotonic()
    with pytest.raises(NotifyFailed, match="ratelimited"):
        notify(started_event(), remaining_ms=10_000)
    assert time.monotonic() - started < 2  # a 30 s Retry-After does not fit in 10 s: give up at once


def test_a_wrong_channel_fails_at_once(slack_world: SlackWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_CHANNEL_ID", "C0NOTTHERE1")
    with pytest.raises(NotifyFailed, match=r"channel_not_found.*check the bot token, that the app is in the channel"):
        notify(started_event())
    assert len(slack_world.slack.calls_to("chat.postMessage")) == 1


def test_a_failed_parent_update_does_not_fail_the_notification(slack_world: SlackWorld) -> None:
    thread = open_thread(slack_world)
    slack_world.slack.fail_next("chat.update", "message_not_found")
    result = notify(succeeded_event(thread))
    assert result["parentUpdated"] is False
    assert len(slack_world.replies(thread["ts"])) == 1


def test_a_rotated_token_is_read_again_after_invalid_auth(slack_world: SlackWorld) -> None:
    slack_world.slack.token = "xoxb-rotated-token"
    with pytest.raises(NotifyFailed, match="invalid_auth"):
        notify(started_event())
    slack_world.secretsmanager.put_secret_value(SecretId=slack_world.secret_arn, SecretString="xoxb-rotated-token")
    assert notify(started_event())["channel"] == CHANNEL


def test_the_token_is_never_logged_or_shown(slack_world: SlackWorld, capsys: pytest.CaptureFixture[str]) -> None:
    thread = open_thread(slack_world)
    notify(succeeded_event(thread))
    slack_world.slack.fail_next("chat.postMessage", "invalid_auth")
    with pytest.raises(NotifyFailed) as failed:
        notify(started_event())
    logs = capsys.readouterr().out
    assert "notification sent" in logs and "notification failed" in logs
    assert TOKEN not in logs and TOKEN not in str(failed.value)
    assert TOKEN not in slack_world.slack.raw_traffic()
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    assert {line["executionId"] for line in lines} == {EXECUTION}


# --------------------------------------------------------------------------------------------- metrics


def test_the_end_of_each_run_is_counted_by_outcome(slack_world: SlackWorld, capsys: pytest.CaptureFixture[str]) -> None:
    thread = open_thread(slack_world)
    notify(succeeded_event(thread))
    notify(failed_event(thread, "Approval", "Rejected", {"Error": "ApprovalRejected", "Cause": "Rejected by bob"}))

    output = capsys.readouterr().out
    assert metric_lines(output, "RunsStarted") == []  # the start function counts starts
    [succeeded] = metric_lines(output, "RunsSucceeded")
    assert (succeeded["RunsSucceeded"], succeeded["Pipeline"]) == (1, "mlops-pipeline")
    assert (succeeded["executionId"], succeeded["modelVersion"]) == (EXECUTION, "3")
    [failed] = metric_lines(output, "RunsFailed")
    assert (failed["RunsFailed"], failed["Step"], failed["Outcome"]) == (1, "Approval", "Rejected")
    assert dimension_sets(failed) == [["Pipeline"], ["Pipeline", "Step"], ["Pipeline", "Outcome"]]
    assert failed["executionId"] == EXECUTION


def test_a_failed_run_is_counted_even_when_slack_refuses_the_message(
    slack_world: SlackWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    slack_world.slack.fail_next("chat.postMessage", "channel_not_found")
    error = {"Error": "SmokeTestFailed", "Cause": "boom"}
    with pytest.raises(NotifyFailed):
        notify(failed_event(None, "DeployStage", "DeployStageFailed", error))

    [failed] = metric_lines(capsys.readouterr().out, "RunsFailed")
    assert (failed["Step"], failed["Outcome"], failed["executionId"]) == ("DeployStage", "DeployStageFailed", EXECUTION)


# ------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"event": "progress", "executionId": EXECUTION}, "event: expected one of started, succeeded, failed"),
        ({"event": "started"}, "executionId: missing"),
        ("started", "event: expected a JSON object"),
        ({"event": "rolled_back", "executionId": "manual-1", "environment": "dev"}, "environment: expected one of"),
    ],
)
def test_an_event_the_workflow_does_not_send_is_refused(slack_world: SlackWorld, event: Any, message: str) -> None:
    with pytest.raises(NotifyInputError, match=message):
        notify(event)
    assert slack_world.slack.calls == []


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SLACK_CHANNEL_ID", "general", "SLACK_CHANNEL_ID: expected a channel ID"),
        ("SLACK_BOT_TOKEN_SECRET_ARN", "", "SLACK_BOT_TOKEN_SECRET_ARN: not set"),
        (
            "SLACK_BOT_TOKEN_SECRET_ARN",
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:missing",
            "cannot read secret",
        ),
        ("SLACK_API_URL", "http://slack.example.com/api/", "SLACK_API_URL: expected an https URL"),
        ("SLACK_MAX_ATTEMPTS", "0", "SLACK_MAX_ATTEMPTS: expected a whole number >= 1"),
    ],
)
def test_configuration_problems_name_the_setting(
    slack_world: SlackWorld, monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(NotifyConfigError, match=message):
        notify(started_event())


def test_details_missing_from_the_event_are_read_from_the_run(slack_world: SlackWorld) -> None:
    event = {"event": "started", "executionId": EXECUTION, "run": {"commit": COMMIT}}
    thread = notify(event)
    shown = blocks_text(slack_world.slack.message(CHANNEL, thread["ts"]))
    assert f"<{CONSOLE}|{EXECUTION_NAME}>" in shown
    assert "`0123456`" in shown


def test_the_function_imports_nothing_its_lambda_lacks() -> None:
    """The zip holds functions/ only; slack_sdk comes from the layer, boto3 from the runtime, no mlflow."""
    code = (
        "import sys\n"
        "for name in ('mlflow', 'requests', 'pandas', 'yaml'):\n"
        "    sys.modules[name] = None\n"
        "import functions.notify.handler\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
