"""Run the pipeline's state machine in moto's ASL interpreter, with the Lambda functions replaced by fakes.

moto (``execute_state_machine``) runs the definition for real, but without Docker its Lambda backend runs no
code: ``FakeLambdas.install`` patches that backend's ``invoke`` to call a Python function chosen by the
function's name and to record every call. A fake raises an exception to fail the invocation: moto then sees
a function error whose ``errorType`` is the exception's class name, exactly what a Catch matches in AWS.

moto 5.2 drops the ``cause`` of SendTaskFailure (its response handler passes only ``error``):
``forward_task_failure_cause`` fixes that, so a rejection's reason reaches the Catch as in AWS.

moto cannot run ``codebuild:startBuild.sync``; ``replace_build_resource`` points that state at a fake
function returning CodeBuild's output shape, so the state's ResultSelector runs unchanged.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.responses import ActionResult, EmptyResult
from moto.stepfunctions.responses import StepFunctionResponse

from infra.workflow import WorkflowArns, WorkflowSettings, check_definition, definition, replace_build_resource

REGION = "eu-west-1"
ACCOUNT = "123456789012"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
DIGEST = "sha256:" + "ab" * 32
IMAGE_URI = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/mlops-models@{DIGEST}"
MODEL_VERSION = "3"
MODEL_NAME = "delivery-time"
# How often the tests look at an execution (seconds); raise it on a slow machine.
POLL_SECONDS = float(os.environ.get("WORKFLOW_TEST_POLL_SECONDS", "0.02"))
RUN_TIMEOUT_SECONDS = float(os.environ.get("WORKFLOW_TEST_TIMEOUT_SECONDS", "20"))

FUNCTIONS = {
    "deploy": "mlops-deploy",
    "promote": "mlops-promote",
    "request_approval": "mlops-request-approval",
    "notify": "mlops-notify",
    "lock": "mlops-deploy-lock",
    "codebuild": "mlops-fake-codebuild",
}


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


ARNS = WorkflowArns(
    deploy=function_arn(FUNCTIONS["deploy"]),
    promote=function_arn(FUNCTIONS["promote"]),
    request_approval=function_arn(FUNCTIONS["request_approval"]),
    notify=function_arn(FUNCTIONS["notify"]),
    lock=function_arn(FUNCTIONS["lock"]),
)


def settings(**overrides: Any) -> WorkflowSettings:
    values: dict[str, Any] = {
        "build_project": "mlops-build",
        "model_name": MODEL_NAME,
        "approval_timeout_seconds": 30,  # a test that forgets to answer ends in seconds, not a day
        "canary_wait_seconds": 1,
    }
    return WorkflowSettings(**{**values, **overrides})


def forward_task_failure_cause(monkeypatch: pytest.MonkeyPatch) -> None:
    def send_task_failure(self: StepFunctionResponse) -> ActionResult:
        self.stepfunction_backend.send_task_failure(
            self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
        )
        return EmptyResult()

    monkeypatch.setattr(StepFunctionResponse, "send_task_failure", send_task_failure)


# ------------------------------------------------------------------------------------------ fakes


@dataclass(frozen=True)
class Call:
    function: str
    payload: Any
    at: float


class FunctionFailed(Exception):
    """A function error with any ``errorType`` (e.g. ``Lambda.ServiceException``, not a Python name)."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


Handler = Callable[[Any], Any]


@dataclass
class FakeLambdas:
    handlers: dict[str, Handler] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        fakes = self

        def invoke(
            backend: LambdaSimpleBackend,
            function_name: str,
            qualifier: str | None,
            body: Any,
            headers: Any,
            response_headers: dict[str, str],
        ) -> bytes:
            return fakes.invoke(function_name, body, response_headers)

        monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)

    def invoke(self, function_name: str, body: Any, response_headers: dict[str, str]) -> bytes:
        name = function_name.split(":function:")[-1].split(":")[0]
        payload = json.loads(body) if body else {}
        with self._lock:
            self.calls.append(Call(name, payload, time.monotonic()))
        handler = self.handlers.get(name)
        if handler is None:
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": "ResourceNotFound", "errorMessage": f"no fake for {name}"}).encode()
        try:
            result = handler(payload)
        except Exception as error:  # a function error, as Lambda reports it
            error_type = error.error_type if isinstance(error, FunctionFailed) else type(error).__name__
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": error_type, "errorMessage": str(error), "stackTrace": []}).encode()
        return json.dumps(result).encode()

    def called(self, function: str) -> list[Any]:
        """Payloads the named function (a key of FUNCTIONS) received, in order."""
        with self._lock:
            return [call.payload for call in self.calls if call.function == FUNCTIONS[function]]

    def sequence(self) -> list[str]:
        """``function`` or ``function:action/environment/alias/event`` for every call, in order."""
        short = {name: key for key, name in FUNCTIONS.items()}
        labels = []
        with self._lock:
            calls = list(self.calls)
        for call in calls:
            payload = call.payload if isinstance(call.payload, dict) else {}
            detail = "/".join(
                str(payload[key]) for key in ("action", "environment", "alias", "event") if key in payload
            )
            labels.append(f"{short.get(call.function, call.function)}{':' + detail if detail else ''}")
        return labels

    def time_of(self, function: str, **match: Any) -> float:
        with self._lock:
            for call in self.calls:
                if call.function == FUNCTIONS[function] and all(call.payload.get(k) == v for k, v in match.items()):
                    return call.at
        raise AssertionError(f"{function} was not called with {match}")


# --------------------------------------------------------------------------- default fake behaviour


def codebuild(event: Mapping[str, Any]) -> dict[str, Any]:
    """CodeBuild's startBuild.sync output, as much of it as the workflow reads."""
    return {
        "Build": {
            "Id": "mlops-build:00000000-0000-0000-0000-000000000001",
            "BuildStatus": "SUCCEEDED",
            "ExportedEnvironmentVariables": [
                {"Name": "MODEL_VERSION", "Value": MODEL_VERSION},
                {"Name": "IMAGE_URI", "Value": IMAGE_URI},
            ],
        }
    }


def deploy(event: Mapping[str, Any]) -> dict[str, Any]:
    """The deploy function's outputs (functions/deploy/README.md): version 8 replaces version 7."""
    base = {
        "action": event["action"],
        "environment": event["environment"],
        "functionVersion": "8",
        "previousVersion": "7",
        "imageUri": event.get("imageUri"),
        "noop": False,
    }
    if event["action"] == "deploy" and event.get("canaryPercent"):
        return {
            **base,
            "liveVersion": "7",
            "canaryPercent": event["canaryPercent"],
            "shiftedAt": "2025-01-01T12:00:00Z",
        }
    if event["action"] == "rollback":
        return {**base, "liveVersion": "7"}
    if event["action"] == "promote":
        return {**base, "liveVersion": "8", "canaryErrors": 0.0}
    return {**base, "liveVersion": "8"}


def promote(event: Mapping[str, Any]) -> dict[str, Any]:
    return {"alias": event["alias"], "modelName": event["modelName"], "modelVersion": event["modelVersion"]}


def notify(event: Mapping[str, Any]) -> dict[str, Any]:
    return {"channel": "C0PIPELINE", "ts": "1700000000.000100"} if event.get("event") == "started" else {}


def lock(event: Mapping[str, Any]) -> dict[str, Any]:
    """An always-free lock (tests of serialization install the real deploy_lock function)."""
    return {"action": event["action"]}


def default_handlers(fakes: FakeLambdas) -> dict[str, Handler]:
    def request_approval(event: Mapping[str, Any]) -> dict[str, Any]:
        with fakes._lock:
            fakes.tokens.append(event["taskToken"])
        return {"posted": True}

    return {
        FUNCTIONS["codebuild"]: codebuild,
        FUNCTIONS["deploy"]: deploy,
        FUNCTIONS["promote"]: promote,
        FUNCTIONS["notify"]: notify,
        FUNCTIONS["lock"]: lock,
        FUNCTIONS["request_approval"]: request_approval,
    }


# -------------------------------------------------------------------------------------- running


def wait_until(predicate: Callable[[], Any], what: str, timeout: float = RUN_TIMEOUT_SECONDS) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(POLL_SECONDS)


@dataclass
class Workflow:
    """One state machine in moto built from ``definition(ARNS, settings)``; start runs, answer approvals."""

    sfn: Any
    fakes: FakeLambdas
    started: list[str] = field(default_factory=list)

    def create(self, workflow_settings: WorkflowSettings, name: str = "mlops-pipeline") -> str:
        real = definition(ARNS, workflow_settings)
        assert check_definition(real) == []
        local = replace_build_resource(real, function_arn(FUNCTIONS["codebuild"]))
        response = self.sfn.create_state_machine(
            name=name, definition=json.dumps(local), roleArn=f"arn:aws:iam::{ACCOUNT}:role/mlops-pipeline"
        )
        return response["stateMachineArn"]

    def start(self, state_machine_arn: str, name: str = "run-1", **input_overrides: Any) -> str:
        execution_input = {
            "commit": COMMIT,
            "repositoryName": "delivery-time-model",
            "branch": "main",
            "author": f"arn:aws:iam::{ACCOUNT}:user/alice",
            "source": "codecommit",
            "eventId": "11111111-2222-3333-4444-555555555555",
            **input_overrides,
        }
        arn = self.sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=json.dumps(execution_input))
        self.started.append(arn["executionArn"])
        return arn["executionArn"]

    def token(self, index: int = 0) -> str:
        return wait_until(lambda: len(self.fakes.tokens) > index and self.fakes.tokens[index], "the approval request")

    def approve(self, approver: str = "U0APPROVER") -> None:
        output = {"decision": "approved", "approver": approver}
        self.sfn.send_task_success(taskToken=self.token(), output=json.dumps(output))

    def reject(self, cause: str = "Rejected by U0APPROVER: accuracy dropped") -> None:
        self.sfn.send_task_failure(taskToken=self.token(), error="ApprovalRejected", cause=cause)

    def finished(self, execution_arn: str) -> dict[str, Any]:
        def closed() -> dict[str, Any] | None:
            described = self.sfn.describe_execution(executionArn=execution_arn)
            return described if described["status"] != "RUNNING" else None

        return wait_until(closed, f"execution {execution_arn} to end")

    def stop_running(self) -> None:
        for arn in self.started:
            if self.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
                self.sfn.stop_execution(executionArn=arn)
