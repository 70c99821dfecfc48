"""The approval's test world, shared by the request_approval and slack_interactions tests.

One ``World`` per test: moto (DynamoDB, Secrets Manager, and Step Functions running a real state machine with a
``lambda:invoke.waitForTaskToken`` Approval state), the local fake Slack (``local/fake_slack.py``)
that the real ``slack_sdk.WebClient`` of both functions talks to, the environment of both functions, and
helpers to start runs, click buttons with Slack-signed requests (built by ``local/slack_signing.py``), and
read what happened.

What moto 5.2 lacks, and how it is handled here:
- Without Docker a Lambda task runs no code: ``LambdaSimpleBackend.invoke`` is patched to call the real
  request_approval handler (the Approval state and the timeout path's Expire state both invoke it), and a
  raised error is answered as a function error.
- DynamoDB applies conditional writes to one item one at a time; moto's in-process backend does not lock, so
  threads could interleave inside one write. Writes are serialised with a lock, as DynamoDB does.
- StopExecution does not stop a run whose task waits for a token (its status stays RUNNING): tests check the
  StopExecution call itself (``aws_calls``), with its error and cause.
- Only InvalidToken comes out of SendTask* for a run that no longer waits; tests use botocore's Stubber for
  TaskTimedOut, TaskDoesNotExist and throttling.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import boto3
import botocore.client
import botocore.loaders
import botocore.session
import moto.awslambda_simple.models as lambda_simple
import moto.dynamodb.models as dynamodb_models
import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from moto import mock_aws

from functions.request_approval import handler as request_handler
from functions.request_approval import services as request_services
from functions.slack_interactions import handler as interactions_handler
from functions.slack_interactions import services as interactions_services
from local import slack_signing
from local.fake_slack import TOKEN, FakeSlack
from local.slack_signing import form_body

REGION = "eu-west-1"
ACCOUNT = "123456789012"
CHANNEL = "C0123456789"
TEAM = "T0FAKETEAM"
APP = "A0APPROVALS"
MODEL = "delivery-time"
ALICE, BOB = "U0ALICE01", "U0BOB0002"  # listed approvers
CAROL = "U0CAROL03"  # an approver through the user group
REVIEWERS = "S0REVIEWRS"
MALLORY = "U0MALLORY"  # not an approver
NAMES = {ALICE: "alice", BOB: "bob", CAROL: "carol", MALLORY: "mallory"}
SIGNING_SECRET = "test-signing-secret-0123456789abcdef"
APPROVALS_TABLE = "serverless-mlops-approvals"
RUNS_TABLE = "serverless-mlops-runs"
REQUEST_FUNCTION = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:serverless-mlops-request-approval"
MLFLOW_UI = "https://mlflow.example.com"
TIMEOUT_SECONDS = 3600


@dataclass
class Run:
    execution_arn: str
    name: str
    commit: str
    event: dict[str, Any] = field(default_factory=dict)  # the request_approval event, as Step Functions built it
    result: dict[str, Any] | None = None
    error: BaseException | None = None

    @property
    def token(self) -> str:
        return str(self.event["taskToken"])

    @property
    def approval_id(self) -> str:
        assert self.result is not None, f"request_approval failed: {self.error!r}"
        return str(self.result["approvalId"])


def state_machine_definition(timeout: int) -> dict[str, Any]:
    """The Approval part of the workflow: a callback task, its timeout path through Expire, and an end."""
    payload = {
        "taskToken.$": "$$.Task.Token",
        "executionId.$": "$$.Execution.Id",
        "executionName.$": "$$.Execution.Name",
        "modelName.$": "$.modelName",
        "modelVersion.$": "$.modelVersion",
        "commit.$": "$.commit",
        "imageUri.$": "$.imageUri",
        "stage.$": "$.stage",
        "metrics.$": "$.metrics",
        "productionMetrics.$": "$.productionMetrics",
        "mlflowRunUrl.$": "$.mlflowRunUrl",
        "author.$": "$.author",
    }
    return {
        "StartAt": "Approval",
        "States": {
            "Approval": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {"FunctionName": REQUEST_FUNCTION, "Payload": payload},
                "TimeoutSeconds": timeout,
                "ResultPath": "$.approval",
                "Catch": [{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.approvalError", "Next": "Expire"}],
                "Next": "Approved",
            },
            "Expire": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {
                    "FunctionName": REQUEST_FUNCTION,
                    "Payload": {
                        "action": "expire",
                        "executionArn.$": "$$.Execution.Id",
                        "error.$": "$.approvalError.Error",
                    },
                },
                "ResultPath": None,
                "Next": "TimedOut",
            },
            "TimedOut": {"Type": "Fail", "Error": "ApprovalTimedOut", "Cause": "no decision before the timeout"},
            "Approved": {"Type": "Pass", "End": True},
        },
    }


def sign(body: str, timestamp: int | str, secret: str = SIGNING_SECRET) -> str:
    return slack_signing.signature(secret, timestamp, body)


def http_event(
    body: str | bytes,
    headers: dict[str, str] | None = None,
    *,
    base64_encoded: bool = False,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) event for POST /slack/interactions."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    return {
        "version": "2.0",
        "routeKey": "POST /slack/interactions",
        "rawPath": "/slack/interactions",
        "rawQueryString": "",
        "headers": {"content-type": "application/x-www-form-urlencoded", **(headers or {})},
        "requestContext": {"http": {"method": "POST", "path": "/slack/interactions"}, "requestId": "req-1"},
        "body": base64.b64encode(raw).decode("ascii") if base64_encoded else raw.decode("utf-8"),
        "isBase64Encoded": base64_encoded,
    }


def click_payload(
    approval_id: str,
    action: str = "approve",
    *,
    user: str = ALICE,
    team: str | None = TEAM,
    app: str | None = APP,
    channel: str = CHANNEL,
    message_ts: str = "1700000001.000001",
) -> dict[str, Any]:
    """A block_actions payload shaped like Slack's for a button click in a channel message."""
    return slack_signing.block_actions_payload(
        action_id=action,
        value=approval_id,
        message_ts=message_ts,
        channel=channel,
        user_id=user,
        user_name=NAMES.get(user, "someone"),
        team_id=team,
        app_id=app,
        block_id="approval_actions",
        style="primary" if action == "approve" else "danger",
        message={"type": "message", "text": "Approval needed"},
    )


class World:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, slack: FakeSlack) -> None:
        self.monkeypatch = monkeypatch
        self.slack = slack
        self.aws_calls: list[tuple[str, str, dict[str, Any]]] = []
        self.runs: dict[str, Run] = {}
        self._invoked: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._commits = iter(f"{n:07x}{'ab' * 16}"[:40] for n in range(0xA11CE, 0xA11CE + 1000))
        self.state_machines: dict[int, str] = {}

    # ---------------------------------------------------------------------------------------- setup

    def environment(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "APPROVALS_TABLE": APPROVALS_TABLE,
            "RUNS_TABLE": RUNS_TABLE,
            "SLACK_CHANNEL_ID": CHANNEL,
            "SLACK_APPROVERS": json.dumps([ALICE, BOB, REVIEWERS]),
            "SLACK_TEAM_ID": TEAM,
            "SLACK_APP_ID": APP,
            "APPROVAL_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS),
            "MLFLOW_UI_URL": MLFLOW_UI,
            "SLACK_API_URL": self.slack.url,
        }

    def setup(self) -> None:
        session = boto3.session.Session(region_name=REGION)
        self.dynamodb = session.client("dynamodb")
        self.sfn = session.client("stepfunctions")
        self.secretsmanager = session.client("secretsmanager")
        self.dynamodb.create_table(
            TableName=APPROVALS_TABLE,
            AttributeDefinitions=[{"AttributeName": "approvalId", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "approvalId", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        self.dynamodb.update_time_to_live(
            TableName=APPROVALS_TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiresAt"}
        )
        self.dynamodb.create_table(
            TableName=RUNS_TABLE,
            AttributeDefinitions=[{"AttributeName": "executionArn", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "executionArn", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        self.bot_secret_arn = self.secretsmanager.create_secret(Name="slack-bot-token", SecretString=TOKEN)["ARN"]
        self.signing_secret_arn = self.secretsmanager.create_secret(
            Name="slack-signing-secret", SecretString=SIGNING_SECRET
        )["ARN"]
        self.monkeypatch.setenv("SLACK_BOT_TOKEN_SECRET_ARN", self.bot_secret_arn)
        self.monkeypatch.setenv("SLACK_SIGNING_SECRET_ARN", self.signing_secret_arn)
        self.monkeypatch.setattr(lambda_simple.LambdaSimpleBackend, "invoke", self._invoke)
        self._serialise_dynamodb_requests()
        self._record_aws_calls()

    def _serialise_dynamodb_requests(self) -> None:
        # Real DynamoDB applies each request to an item atomically; moto's backend is not thread-safe (a read
        # can iterate an item while another thread writes it: "dictionary changed size during iteration"), so
        # every request that touches items runs under one lock.
        lock = threading.RLock()
        for name in ("put_item", "update_item", "delete_item", "get_item", "scan", "query"):
            original = getattr(dynamodb_models.DynamoDBBackend, name)

            def locked(self: Any, *args: Any, _original: Callable[..., Any] = original, **kwargs: Any) -> Any:
                with lock:
                    return _original(self, *args, **kwargs)

            self.monkeypatch.setattr(dynamodb_models.DynamoDBBackend, name, locked)

    def _record_aws_calls(self) -> None:
        original = botocore.client.BaseClient._make_api_call
        calls = self.aws_calls

        def recording(client: Any, operation: str, params: dict[str, Any]) -> Any:
            calls.append((client.meta.service_model.service_name, operation, dict(params)))
            return original(client, operation, params)

        self.monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recording)

    def calls(self, service: str, *operations: str) -> list[tuple[str, dict[str, Any]]]:
        return [
            (op, params)
            for svc, op, params in list(self.aws_calls)
            if svc == service and (not operations or op in operations)
        ]

    def send_task_calls(self) -> list[tuple[str, dict[str, Any]]]:
        return self.calls("stepfunctions", "SendTaskSuccess", "SendTaskFailure")

    # ------------------------------------------------------------------------------------ the Lambda

    def _invoke(self, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any) -> bytes:
        event = json.loads(body or "{}")
        run = self.runs.get(event.get("executionId", ""))
        try:
            result = request_handler.handler(event, None)
        except Exception as error:
            if run is not None and "taskToken" in event:
                run.event, run.error = event, error
                self._invoked[run.execution_arn].set()
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": type(error).__name__, "errorMessage": str(error)}).encode()
        if run is not None and "taskToken" in event:
            run.event, run.result = event, result
            self._invoked[run.execution_arn].set()
        return json.dumps(result).encode()

    # ------------------------------------------------------------------------------------------ runs

    def state_machine(self, timeout: int = TIMEOUT_SECONDS) -> str:
        if timeout not in self.state_machines:
            self.state_machines[timeout] = self.sfn.create_state_machine(
                name=f"pipeline-{timeout}",
                definition=json.dumps(state_machine_definition(timeout)),
                roleArn=f"arn:aws:iam::{ACCOUNT}:role/pipeline",
            )["stateMachineArn"]
        return self.state_machines[timeout]

    def run_input(self, commit: str, version: str = "7", **overrides: Any) -> dict[str, Any]:
        value = {
            "modelName": MODEL,
            "modelVersion": version,
            "commit": commit,
            "imageUri": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/serverless-mlops/{MODEL}@sha256:{'b' * 64}",
            "stage": {"functionVersion": "12", "previousVersion": "11", "action": "deploy", "environment": "stage"},
            "metrics": {"rmse": 1.234, "mae": 0.8},
            "productionMetrics": {"rmse": 1.3, "mae": 0.75},
            "mlflowRunUrl": f"{MLFLOW_UI}/#/experiments/1/runs/abc",
            "author": "Alice Example",
        }
        value.update(overrides)
        return value

    def start_run(
        self, *, version: str = "7", timeout: int = TIMEOUT_SECONDS, wait: bool = True, **overrides: Any
    ) -> Run:
        """Start an execution; wait until request_approval has handled its Approval state."""
        commit = overrides.pop("commit", None) or next(self._commits)
        name = f"run-{commit[:12]}-{len(self.runs)}"
        arn = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:pipeline-{timeout}:{name}"
        run = Run(execution_arn=arn, name=name, commit=commit)
        self.runs[arn] = run
        self._invoked[arn] = threading.Event()
        started = self.sfn.start_execution(
            stateMachineArn=self.state_machine(timeout),
            name=name,
            input=json.dumps(self.run_input(commit, version, **overrides)),
        )
        assert started["executionArn"] == arn
        if wait:
            self.wait_for_request(run)
        return run

    def wait_for_request(self, run: Run) -> Run:
        assert self._invoked[run.execution_arn].wait(10), "request_approval was not invoked"
        return run

    def request_event(self, *, name: str | None = None, token: str | None = None, **overrides: Any) -> dict[str, Any]:
        """A request_approval event for an execution that is not running in moto (for direct handler calls)."""
        commit = overrides.pop("commit", None) or next(self._commits)
        version = overrides.pop("version", "7")
        name = name or f"manual-{commit[:12]}"
        return {
            "taskToken": token or f"AQB8AAAAKgAAAAMAAAAA{commit}{'x' * 200}",
            "executionId": f"arn:aws:states:{REGION}:{ACCOUNT}:execution:pipeline-{TIMEOUT_SECONDS}:{name}",
            "executionName": name,
            **self.run_input(commit, version, **overrides),
        }

    def update(self, approval_id: str, **values: Any) -> None:
        """Set attributes of an approval record directly (to put it in a state a test needs)."""
        names = {f"#k{i}": key for i, key in enumerate(values)}
        self.dynamodb.update_item(
            TableName=APPROVALS_TABLE,
            Key={"approvalId": {"S": approval_id}},
            UpdateExpression="SET " + ", ".join(f"#k{i} = :v{i}" for i in range(len(values))),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={
                f":v{i}": TypeSerializer().serialize(Decimal(str(v)) if isinstance(v, float) else v)
                for i, v in enumerate(values.values())
            },
        )

    def execution(self, arn: str, *, settle: float = 10.0) -> dict[str, Any]:
        """The execution once it is no longer RUNNING (or as it is after ``settle`` seconds)."""
        deadline = time.monotonic() + settle
        while True:
            described = self.sfn.describe_execution(executionArn=arn)
            if described["status"] != "RUNNING" or time.monotonic() > deadline:
                return described
            time.sleep(0.05)

    def item(self, approval_id: str) -> dict[str, Any] | None:
        response = self.dynamodb.get_item(
            TableName=APPROVALS_TABLE, Key={"approvalId": {"S": approval_id}}, ConsistentRead=True
        )
        item = response.get("Item")
        return {key: TypeDeserializer().deserialize(value) for key, value in item.items()} if item else None

    def items(self) -> list[dict[str, Any]]:
        items = self.dynamodb.scan(TableName=APPROVALS_TABLE)["Items"]
        return [{key: TypeDeserializer().deserialize(value) for key, value in item.items()} for item in items]

    # --------------------------------------------------------------------------------------- clicks

    def click(
        self,
        approval_id: str,
        action: str = "approve",
        *,
        user: str = ALICE,
        payload: Any = None,
        timestamp: int | None = None,
        base64_encoded: bool = False,
        **payload_fields: Any,
    ) -> dict[str, Any]:
        """A Slack-signed click through the interactions handler; returns the HTTP response."""
        body = form_body(
            payload if payload is not None else click_payload(approval_id, action, user=user, **payload_fields)
        )
        return self.post(body, timestamp=timestamp, base64_encoded=base64_encoded)

    def post(
        self,
        body: str,
        *,
        timestamp: int | None = None,
        base64_encoded: bool = False,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        signed = slack_signing.signed_headers(SIGNING_SECRET, body, timestamp)
        signed = {key.lower(): value for key, value in signed.items() if key != "Content-Type"}
        signed.update(headers or {})
        return interactions_handler.handler(http_event(body, signed, base64_encoded=base64_encoded), None)

    def told(self, user: str) -> list[str]:
        """The ephemeral messages a user got."""
        return [str(e["text"]) for e in list(self.slack.ephemerals) if e.get("user") == user]

    def message_of(self, run: Run) -> dict[str, Any]:
        assert run.result is not None
        return self.slack.message(run.result["channel"], run.result["messageTs"])


def block_ids(message: dict[str, Any]) -> list[str]:
    return [str(block.get("block_id")) for block in message.get("blocks", [])]


def message_text(message: dict[str, Any]) -> str:
    return json.dumps(message.get("blocks", []))


_LOADER = botocore.loaders.create_loader()


@contextmanager
def open_world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    # Speed only: every boto3 session reads the AWS service models once, from one loader.
    monkeypatch.setattr(botocore.session, "create_loader", lambda *_: _LOADER)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_LAMBDA_FUNCTION_NAME", "MOTO_ACCOUNT_ID"):
        monkeypatch.delenv(name, raising=False)
    with FakeSlack(channels=[CHANNEL], usergroups={REVIEWERS: [CAROL]}) as slack:
        world = World(monkeypatch, slack)
        for key, value in world.environment().items():
            monkeypatch.setenv(key, value)
        request_services.clear_caches()
        interactions_services.clear_caches()
        config = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
        with mock_aws(config=config):
            world.setup()
            yield world
        request_services.clear_caches()
        interactions_services.clear_caches()
