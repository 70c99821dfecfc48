"""Fixtures of the notify tests: the fake Slack (``local/fake_slack.py``) that the real
``slack_sdk.WebClient`` talks to, moto's Secrets Manager holding the bot token, and the function's environment.

Payloads are built as the workflow's states send them (``infra/workflow.py``): ``slack`` is NotifyStarted's
answer (``$.slack.thread``), ``run`` the execution's whole state."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.loaders
import botocore.session
import pytest
from moto import mock_aws

from functions.notify import services
from local.fake_slack import TOKEN, FakeSlack

REGION = "eu-west-1"
ACCOUNT = "123456789012"
CHANNEL = "C0123456789"
MODEL = "delivery-time"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
DIGEST = "sha256:" + "ab" * 32
IMAGE_URI = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/mlops-models@{DIGEST}"
EXECUTION_NAME = "delivery-time-model-0123456789ab"
EXECUTION = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:mlops-pipeline:{EXECUTION_NAME}"
CONSOLE = f"https://{REGION}.console.aws.amazon.com/states/home?region={REGION}#/v2/executions/details/{EXECUTION}"
# The Step Functions interpreter runs, for the tests that execute the real workflow (test_in_workflow.py).
MOTO_CONFIG: Any = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
FAST = {"SLACK_TIMEOUT_SECONDS": "2", "SLACK_MAX_ATTEMPTS": "3", "SLACK_RETRY_BASE_DELAY_SECONDS": "0.05"}

_LOADER = botocore.loaders.create_loader()


@dataclass
class SlackWorld:
    slack: FakeSlack
    secret_arn: str
    secretsmanager: Any

    def messages(self) -> list[dict[str, Any]]:
        """Every message in the channel as it is now (top-level and replies), in the order posted."""
        return [message for (_, _), message in sorted(self.slack.messages.items(), key=lambda item: item[0][1])]

    def replies(self, thread_ts: str) -> list[dict[str, Any]]:
        return [m for m in self.messages() if m.get("thread_ts") == thread_ts]


def run_state(**extra: Any) -> dict[str, Any]:
    """The execution's input as the start function builds it, plus what the states added so far."""
    return {
        "commit": COMMIT,
        "repositoryName": "delivery-time-model",
        "branch": "main",
        "author": f"arn:aws:iam::{ACCOUNT}:user/alice",
        "source": "codecommit",
        "eventId": "11111111-2222-3333-4444-555555555555",
        "slack": {"thread": None},
        **extra,
    }


def started_event() -> dict[str, Any]:
    return {
        "event": "started",
        "executionId": EXECUTION,
        "executionName": EXECUTION_NAME,
        "modelName": MODEL,
        "commit": COMMIT,
        "run": run_state(),
    }


def deploy_output(environment: str, **extra: Any) -> dict[str, Any]:
    return {
        "action": "deploy",
        "environment": environment,
        "functionVersion": "8",
        "previousVersion": "7",
        "imageUri": IMAGE_URI,
        "liveVersion": "8",
        "noop": False,
        **extra,
    }


def succeeded_event(thread: dict[str, str] | None, **overrides: Any) -> dict[str, Any]:
    build = {"modelVersion": "3", "imageUri": IMAGE_URI, "buildId": "mlops-build:0001"}
    stage, prod = deploy_output("stage"), deploy_output("prod", functionVersion="5", previousVersion="4")
    approval = {"decision": "approved", "approver": "U0ALICE01", "approverName": "alice"}
    run = run_state(
        slack={"thread": thread},
        build=build,
        stage={"output": stage},
        promoteStaging={"output": {"alias": "staging", "modelVersion": "3", "previousVersion": "2", "noop": False}},
        approval=approval,
        prod={"output": prod},
        promoteProduction={"output": {"alias": "production", "modelVersion": "3", "previousVersion": "1"}},
    )
    event = {
        "event": "succeeded",
        "executionId": EXECUTION,
        "executionName": EXECUTION_NAME,
        "modelName": MODEL,
        "modelVersion": "3",
        "imageUri": IMAGE_URI,
        "commit": COMMIT,
        "build": build,
        "stage": stage,
        "approval": approval,
        "prod": prod,
        "run": run,
        "slack": thread,
    }
    return {**event, **overrides}


def failed_event(
    thread: dict[str, str] | None, step: str, outcome: str, error: dict[str, Any], **run_extra: Any
) -> dict[str, Any]:
    failure = {"step": step, "outcome": outcome, "error": error}
    return {
        "event": "failed",
        "executionId": EXECUTION,
        "executionName": EXECUTION_NAME,
        "modelName": MODEL,
        "step": step,
        "outcome": outcome,
        "error": error,
        "run": run_state(slack={"thread": thread}, error=error, failure=failure, **run_extra),
        "slack": thread,
    }


def lambda_error(error_type: str, message: str) -> dict[str, str]:
    """A Catch's record of a Lambda function error: Cause is the function's error as JSON, with its stack."""
    cause = {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": "5f0e0c1c-0000-0000-0000-000000000000",
        "stackTrace": [
            '  File "/var/task/functions/deploy/handler.py", line 62, in handler\n    outcome = actions.run(...)\n',
            '  File "/var/task/functions/deploy/actions.py", line 301, in smoke_test\n    raise SmokeTestFailed(\n',
        ],
    }
    return {"Error": error_type, "Cause": json.dumps(cause)}


@pytest.fixture
def slack_world(monkeypatch: pytest.MonkeyPatch) -> Iterator[SlackWorld]:
    monkeypatch.setattr(botocore.session, "create_loader", lambda *_: _LOADER)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_LAMBDA_FUNCTION_NAME", "MOTO_ACCOUNT_ID"):
        monkeypatch.delenv(name, raising=False)
    with FakeSlack(channels=[CHANNEL]) as slack:
        env = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "SLACK_CHANNEL_ID": CHANNEL,
            "SLACK_API_URL": slack.url,
            **FAST,
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        services.clear_caches()
        with mock_aws(config=MOTO_CONFIG):
            secretsmanager = boto3.client("secretsmanager", region_name=REGION)
            arn = secretsmanager.create_secret(Name="slack-bot-token", SecretString=TOKEN)["ARN"]
            monkeypatch.setenv("SLACK_BOT_TOKEN_SECRET_ARN", arn)
            yield SlackWorld(slack, arn, secretsmanager)
        services.clear_caches()


def blocks_text(message: dict[str, Any]) -> str:
    """Every text of a message's blocks, joined: what a reader sees."""
    texts: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("text"), str):
                texts.append(value["text"])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(message.get("blocks", []))
    return "\n".join(texts)


class SilentServer:
    """Accepts connections and never answers: a Slack that hangs."""

    def __init__(self) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(16)
        self._connections: list[socket.socket] = []
        self._stop = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}/api/"

    def __enter__(self) -> SilentServer:
        def accept() -> None:
            self._socket.settimeout(0.05)
            while not self._stop.is_set():
                try:
                    connection, _ = self._socket.accept()
                except OSError:
                    continue
                self._connections.append(connection)

        threading.Thread(target=accept, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for connection in self._connections:
            connection.close()
        self._socket.close()

    @property
    def connections(self) -> int:
        return len(self._connections)
