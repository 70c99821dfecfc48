"""``python -m ops.rollback`` (``make rollback ENV=...``) end to end: boto3 invokes the tooling functions in moto,
their real handlers move alias ``live`` in the stage or prod account, MLflow's alias on a real server, and post to
the Slack stand-in. What a user checks afterwards: where ``live`` and the MLflow alias point, what Slack says,
and what the command printed."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError
from botocore.stub import Stubber

from ops import rollback
from ops.lambda_invoke import CLIENT_CONFIG, InvokeError, LambdaInvoker
from tests.conftest import ROOT
from tests.functions.deploy.fake_aws import DEPLOY_FUNCTION, REGION
from tests.functions.notify.conftest import blocks_text
from tests.ops.conftest import NOTIFY_FUNCTION, PROMOTE_FUNCTION, Ops

ALIASES = {"stage": "staging", "prod": "production"}


def run(ops: Ops, *argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """The command as `make rollback` runs it: the tooling outputs as JSON, the caller's AWS credentials."""
    code = rollback.main(
        [*argv, "--tooling-outputs", json.dumps(ops.outputs())], session=boto3.Session(region_name=REGION)
    )
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def two_deploys(ops: Ops, environment: str) -> None:
    """Models 1 and 2 registered; the pipeline deployed model 1 (version 2), then model 2 (version 3)."""
    ops.register(2)
    ops.deploy(environment, "1")
    ops.deploy(environment, "2")
    ops.models.client.set_registered_model_alias(ops.model_name, ALIASES[environment], "2")
    assert ops.aws.alias(environment)["version"] == "3"


# ------------------------------------------------------------------------------------------------ success


@pytest.mark.parametrize("environment", ["prod", "stage"])
def test_rollback_moves_live_and_the_mlflow_alias_back_and_tells_slack(
    ops: Ops, environment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    two_deploys(ops, environment)

    code, out, _ = run(ops, "--env", environment, "--reason", "predictions drifted", capsys=capsys)

    assert code == 0, out
    assert ops.aws.alias(environment) == {
        "version": "2",
        "weights": {},
        "revision": ops.aws.alias(environment)["revision"],
    }
    other = "stage" if environment == "prod" else "prod"
    assert ops.aws.alias(other)["version"] == "1"  # the other environment is untouched
    alias = ALIASES[environment]
    assert ops.alias(alias) == "1"
    tags = ops.models.tags(ops.model_name, "1")
    assert tags[f"{alias}_previous"] == "2"
    assert re.fullmatch(rf"manual-rollback-{environment}-\d{{14}}", tags[f"{alias}_execution"])
    assert tags[f"{alias}_by"].startswith("arn:aws:sts::")  # who ran it

    [message] = ops.channel_messages()
    assert message["text"] == f"{environment} rolled back: {ops.model_name} is live on version 2 (model 1)"
    shown = blocks_text(message)
    assert "version 2 (model 1), was version 3 (model 2)" in shown
    assert f"`{alias}` → version 1 (was 2)" in shown
    assert "predictions drifted" in shown

    assert "[done] deploy: live moved to version 2 (model 1), was version 3 (model 2)" in out
    assert f"[done] mlflow: alias {alias} moved to version 1, was 2" in out
    assert f"[done] slack: posted in channel C0123456789 (ts {message['ts']})" in out
    assert ops.functions_invoked() == [DEPLOY_FUNCTION, PROMOTE_FUNCTION, NOTIFY_FUNCTION]


def test_a_rollback_to_the_bootstrap_image_leaves_the_alias_and_says_why(
    ops: Ops, capsys: pytest.CaptureFixture[str]
) -> None:
    ops.register(1)
    ops.deploy("prod", "1")  # version 2; version 1 is the stack's bootstrap image
    ops.models.client.set_registered_model_alias(ops.model_name, "production", "1")

    code, out, _ = run(ops, "--env", "prod", capsys=capsys)

    assert code == 0, out
    assert ops.aws.alias("prod")["version"] == "1"
    assert ops.alias("production") == "1"  # no model to point it at: left alone
    assert "[skipped] mlflow: the version live now serves no registered model" in out
    shown = blocks_text(ops.channel_messages()[0])
    assert "`production` not moved: the version live now serves no registered model" in shown
    assert ops.functions_invoked() == [DEPLOY_FUNCTION, NOTIFY_FUNCTION]


# -------------------------------------------------------------------------------- failures and finishing


def test_nothing_to_roll_back_to_changes_nothing_anywhere(ops: Ops, capsys: pytest.CaptureFixture[str]) -> None:
    ops.register(1)
    ops.models.client.set_registered_model_alias(ops.model_name, "production", "1")

    code, out, _ = run(ops, "--env", "prod", capsys=capsys)  # prod still runs the bootstrap image only

    assert code == 1
    assert "[failed] deploy:" in out and "DeployInputError: previousVersion: version 1" in out
    assert "records no previous version" in out
    assert "[not run] mlflow" in out and "[not run] slack" in out
    assert out.rstrip().endswith("Nothing was changed in MLflow or Slack.")
    assert ops.aws.alias("prod")["version"] == "1"
    assert ops.alias("production") == "1"
    assert ops.slack.calls == []
    assert ops.functions_invoked() == [DEPLOY_FUNCTION]


def test_a_failing_deploy_function_changes_nothing_in_mlflow_or_slack(
    ops: Ops, capsys: pytest.CaptureFixture[str]
) -> None:
    two_deploys(ops, "prod")
    ops.aws.deny_assume("prod")  # the prod deployer role no longer trusts the deploy function

    code, out, _ = run(ops, "--env", "prod", capsys=capsys)

    assert code == 1
    assert "[failed] deploy:" in out and "DeployTargetError" in out
    assert "Nothing was changed in MLflow or Slack." in out
    assert ops.aws.alias("prod")["version"] == "3"
    assert ops.alias("production") == "2"
    assert ops.slack.calls == []


def test_when_mlflow_fails_slack_is_told_and_the_command_says_how_to_finish(
    ops: Ops, capsys: pytest.CaptureFixture[str]
) -> None:
    two_deploys(ops, "prod")

    code, out, _ = run(ops, "--env", "prod", "--model-name", "no-such-model", capsys=capsys)

    assert code == 1
    assert ops.aws.alias("prod")["version"] == "2"  # live is rolled back
    assert ops.alias("production") == "2"
    assert "[done] deploy" in out and "[failed] mlflow: alias production not moved to version 1" in out
    assert "VersionNotFound" in out and "[done] slack" in out
    assert "live is rolled back; not done: mlflow. To finish, fix the cause and run:" in out
    assert "make rollback ENV=prod FROM_VERSION=3" in out
    assert "`production` not moved: VersionNotFound" in blocks_text(ops.channel_messages()[0])

    # With the cause fixed (the right model), the printed command finishes: live stays on version 2.
    code, out, _ = run(ops, "--env", "prod", "--from-version", "3", capsys=capsys)

    assert code == 0, out
    assert ops.aws.alias("prod")["version"] == "2"
    assert ops.alias("production") == "1"
    assert "`production` → version 1 (was 2)" in blocks_text(ops.channel_messages()[1])


def test_finishing_with_from_version_leaves_live_and_runs_the_remaining_steps(
    ops: Ops, capsys: pytest.CaptureFixture[str]
) -> None:
    two_deploys(ops, "prod")
    ops.slack.fail_next("chat.postMessage", "channel_not_found")

    code, out, _ = run(ops, "--env", "prod", capsys=capsys)

    assert code == 1
    assert "[failed] slack: no message posted" in out and "NotifyFailed" in out and "channel_not_found" in out
    assert "live is rolled back; not done: slack." in out
    assert (ops.aws.alias("prod")["version"], ops.alias("production")) == ("2", "1")
    assert ops.channel_messages() == []

    code, out, _ = run(ops, "--env", "prod", "--from-version", "3", capsys=capsys)

    assert code == 0, out
    assert ops.aws.alias("prod")["version"] == "2"  # not stepped back to the bootstrap image
    assert "[done] deploy: live already on version 2 (model 1); nothing changed" in out
    assert "[done] mlflow: alias production already on version 1" in out
    [message] = ops.channel_messages()
    assert "version 2 (model 1), already live" in blocks_text(message)


def test_an_unanswered_deploy_says_the_outcome_is_unknown_and_where_to_look() -> None:
    class SilentLambda:
        def invoke(self, **kwargs: Any) -> Any:
            raise ReadTimeoutError(endpoint_url=f"https://lambda.{REGION}.amazonaws.com")

    functions = rollback.Functions(DEPLOY_FUNCTION, PROMOTE_FUNCTION, NOTIFY_FUNCTION, "delivery-time")

    report = rollback.rollback("prod", functions, LambdaInvoker(SilentLambda()))

    deploy = report.steps["deploy"]
    assert deploy.status == "failed" and "ReadTimeoutError" in deploy.detail
    assert f"Whether live moved is unknown: read the log group /aws/lambda/{DEPLOY_FUNCTION}" in deploy.detail
    assert report.steps["mlflow"].status == report.steps["slack"].status == "not run"


def test_a_deploy_stopped_at_its_timeout_is_reported_as_unknown_not_as_unchanged() -> None:
    class TimedOutLambda:
        def invoke(self, **kwargs: Any) -> dict[str, Any]:
            body = json.dumps({"errorMessage": "2025-02-01T09:45:00.000Z 5f0e Task timed out after 900.00 seconds"})
            return {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": io.BytesIO(body.encode())}

    functions = rollback.Functions(DEPLOY_FUNCTION, PROMOTE_FUNCTION, NOTIFY_FUNCTION, "delivery-time")

    report = rollback.rollback("prod", functions, LambdaInvoker(TimedOutLambda()))

    detail = report.steps["deploy"].detail
    assert "Unhandled: 2025-02-01T09:45:00.000Z 5f0e Task timed out after 900.00 seconds" in detail
    assert "Whether live moved is unknown" in detail


def test_a_caller_without_permission_gets_the_aws_error_and_nothing_runs_after_it() -> None:
    client = boto3.client(
        "lambda", region_name=REGION, config=CLIENT_CONFIG, aws_access_key_id="a", aws_secret_access_key="b"
    )
    user = "arn:aws:iam::111111111111:user/bob"
    message = f"User: {user} is not authorized to perform: lambda:InvokeFunction on {DEPLOY_FUNCTION}"
    functions = rollback.Functions(DEPLOY_FUNCTION, PROMOTE_FUNCTION, NOTIFY_FUNCTION, "delivery-time")
    with Stubber(client) as stubber:  # only one call is expected: the Stubber fails on a second
        stubber.add_client_error("invoke", "AccessDeniedException", message, http_status_code=403)
        report = rollback.rollback("prod", functions, LambdaInvoker(client))
        with pytest.raises(InvokeError) as raised:
            stubber.add_client_error("invoke", "AccessDeniedException", message, http_status_code=403)
            LambdaInvoker(client)(DEPLOY_FUNCTION, {"action": "rollback", "environment": "prod"})

    assert report.steps["deploy"].detail == f"{DEPLOY_FUNCTION}: AccessDeniedException: {message}"
    assert [step.status for step in report.steps.values()] == ["failed", "not run", "not run"]
    assert report.lines()[-1] == "Nothing was changed in MLflow or Slack."
    assert raised.value.outcome_unknown is False  # AWS refused the call: the function never ran


# ------------------------------------------------------------------------------------------ wrong input


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--env", "dev"], "--env: expected one of stage, prod, got 'dev'"),
        (["--env", "prod", "--from-version", "$LATEST"], "--from-version: expected a published function version"),
    ],
)
def test_a_wrong_argument_exits_2_before_anything_runs(
    ops: Ops, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = run(ops, *argv, capsys=capsys)

    assert code == 2
    assert message in err
    assert ops.functions_invoked() == [] and ops.slack.calls == []


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        ("", "--deploy-function: not given, and the tooling outputs have no 'deployFunctionName'"),
        ("{not json", "--tooling-outputs: not valid JSON"),
        ("[]", "--tooling-outputs: expected a JSON object of stack outputs, got list"),
        (
            json.dumps({"deployFunctionName": "d", "promoteFunctionName": "p", "notifyFunctionName": "n"}),
            "--model-name",
        ),
    ],
)
def test_missing_or_broken_tooling_outputs_are_named(
    capsys: pytest.CaptureFixture[str], outputs: str, message: str
) -> None:
    code = rollback.main(["--env", "prod", "--tooling-outputs", outputs, "--region", REGION])

    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "pulumi stack output --json --stack tooling" in err


def test_the_command_has_help_that_names_every_flag() -> None:
    answer = subprocess.run(
        [sys.executable, "-m", "ops.rollback", "--help"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    for flag in ("--env", "--tooling-outputs", "--from-version", "--reason", "--region", "--deploy-function"):
        assert flag in answer.stdout


def test_make_rollback_refuses_an_unknown_env_before_anything_runs() -> None:
    answer = subprocess.run(["make", "-s", "rollback", "ENV=production"], cwd=ROOT, capture_output=True, text=True)

    assert answer.returncode == 2
    assert "usage: make rollback ENV=stage|prod" in answer.stderr and "got ENV='production'" in answer.stderr


def test_make_rollback_passes_the_tooling_outputs_and_the_optional_flags() -> None:
    answer = subprocess.run(
        ["make", "-n", "rollback", "ENV=prod", "FROM_VERSION=8", "REASON=bad model"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    command = answer.stdout
    assert 'outputs="$(pulumi stack output --json --stack tooling)" || exit 1' in command
    assert "-m ops.rollback --env prod --from-version 8" in command
    assert '--reason "$REASON" --tooling-outputs "$outputs"' in command


def test_make_rollback_passes_a_reason_with_quotes_intact(tmp_path: Path) -> None:
    # Stand-ins for the Pulumi CLI and the interpreter: the recipe's quoting is what is under test.
    (tmp_path / "pulumi").write_text('#!/bin/sh\necho "{}"\n')
    (tmp_path / "args").write_text('#!/bin/sh\nfor arg in "$@"; do echo "[$arg]"; done\n')
    for tool in ("pulumi", "args"):
        (tmp_path / tool).chmod(0o755)
    # Quotes, a semicolon and a command substitution reach the command as text, never run by the shell.
    reason = """it's the "new" model; `touch pwned` stays text"""

    answer = subprocess.run(
        ["make", "-s", "rollback", "ENV=prod", f"REASON={reason}", f"PY={tmp_path / 'args'}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"},
        check=True,
    )

    assert f"[--reason]\n[{reason}]\n" in answer.stdout
    assert not (ROOT / "pwned").exists()
