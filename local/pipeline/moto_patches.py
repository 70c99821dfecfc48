"""What moto 5.2 gets wrong or leaves out for this pipeline, fixed in one place while a local cloud runs.

Each fix is a class attribute swapped in by ``MotoPatches.apply`` and put back by ``restore``, so tests that use
moto in other ways (``mock_aws``) see moto as it ships once the local cloud is gone.

- Lambda runs no code without Docker: ``LambdaSimpleBackend.invoke`` hands every invocation to the local
  Lambda runtime (``Dispatcher``), which runs the function's real handler. An asynchronous invocation
  (``InvocationType=Event``, what EventBridge does) runs in a thread and answers 202 at once.
- Invoke reads the query parameter ``qualifier`` while botocore sends ``Qualifier``: without the fix every
  invocation of a version or alias would run ``$LATEST`` (the deploy function's smoke test invokes a version).
- Published versions share ``$LATEST``'s code dict, so an update of ``$LATEST`` rewrote the image of every
  older version: the dict is copied before an update.
- DynamoDB applies each request to an item atomically (conditional writes decide races such as two clicks);
  moto's backend does not lock, and its server runs requests in threads: item requests are serialised.
- SendTaskFailure drops its ``cause``; StopExecution drops ``error`` and ``cause``, and does not wake a task
  that waits for a token (the run stayed RUNNING until the task's timeout). Stopping now sets the run ABORTED
  with its error and cause at once and releases the waiting task, as Step Functions does; the released task's
  error can no longer turn the stopped run into a failed or timed-out one.
"""

from __future__ import annotations

import datetime
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import moto.awslambda.models as lambda_models
import moto.awslambda.responses as lambda_responses
import moto.awslambda_simple.models as lambda_simple
import moto.dynamodb.models as dynamodb_models
from moto.core.config import default_user_config
from moto.core.responses import ActionResult, EmptyResult
from moto.stepfunctions.parser.api import ExecutionStatus
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped
from moto.stepfunctions.parser.backend import execution as parser_execution
from moto.stepfunctions.responses import StepFunctionResponse

# What a local cloud needs from moto's configuration: run state machines, and Lambda without Docker.
MOTO_CONFIG: dict[str, dict[str, bool]] = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}
# Loggers that print a line per HTTP request or a traceback per caught state-machine error.
NOISY_LOGGERS = ("werkzeug", "moto", "moto.stepfunctions")
DYNAMODB_ITEM_OPERATIONS = ("put_item", "update_item", "delete_item", "get_item", "scan", "query")


@dataclass(frozen=True)
class Invocation:
    """A Lambda function's answer: its payload, and whether it is a function error (``x-amz-function-error``)."""

    payload: bytes
    function_error: bool = False


class Dispatcher(Protocol):
    def __call__(self, account_id: str, function: Any, payload: bytes) -> Invocation:
        """Run ``function`` (moto's ``LambdaFunction``, already resolved to the version invoked)."""
        ...

    def submit(self, account_id: str, function: Any, payload: bytes) -> None:
        """Run it asynchronously (an ``Event`` invocation); its answer goes nowhere."""
        ...


@dataclass
class MotoPatches:
    dispatch: Dispatcher
    _saved: list[tuple[Any, str, Any]] = field(default_factory=list)
    _config: dict[str, Any] = field(default_factory=dict)
    _log_levels: dict[str, int] = field(default_factory=dict)

    def apply(self) -> None:
        self._set(lambda_simple.LambdaSimpleBackend, "invoke", _invoke(self.dispatch))
        self._set(lambda_responses.LambdaResponse, "invoke", _invoke_with_qualifier(lambda_responses.LambdaResponse))
        self._set(lambda_models.LambdaFunction, "_set_function_code", _copy_code_on_update())
        self._set(StepFunctionResponse, "send_task_failure", _send_task_failure)
        self._set(StepFunctionResponse, "stop_execution", _stop_execution)
        lock = threading.RLock()
        for name in DYNAMODB_ITEM_OPERATIONS:
            self._set(
                dynamodb_models.DynamoDBBackend, name, _locked(dynamodb_models.DynamoDBBackend.__dict__[name], lock)
            )
        for name in ("set_error", "set_timed_out"):
            self._set(Environment, name, _unless_stopped(Environment.__dict__[name]))
        self._set(
            parser_execution.BaseExecutionWorkerCommunication,
            "_reflect_execution_status",
            _reflect_with_stop_reason(parser_execution.BaseExecutionWorkerCommunication),
        )
        for service, values in MOTO_CONFIG.items():
            self._config[service] = dict(default_user_config.get(service, {}))
            default_user_config.setdefault(service, {}).update(values)
        for name in NOISY_LOGGERS:
            logger = logging.getLogger(name)
            self._log_levels[name] = logger.level
            logger.setLevel(logging.CRITICAL)

    def restore(self) -> None:
        while self._saved:
            owner, name, original = self._saved.pop()
            setattr(owner, name, original)
        for service, values in self._config.items():
            default_user_config[service] = values
        self._config.clear()
        for name, level in self._log_levels.items():
            logging.getLogger(name).setLevel(level)
        self._log_levels.clear()

    def _set(self, owner: Any, name: str, value: Any) -> None:
        self._saved.append((owner, name, owner.__dict__[name]))
        setattr(owner, name, value)


def _locked(original: Callable[..., Any], lock: threading.RLock) -> Callable[..., Any]:
    def locked(backend: Any, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return original(backend, *args, **kwargs)

    return locked


def _invoke(dispatch: Dispatcher) -> Callable[..., bytes]:
    def invoke(
        backend: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
    ) -> bytes:
        function = backend.get_function(function_name, qualifier)  # UnknownFunctionException as Lambda answers
        payload = body if isinstance(body, bytes) else (body or "").encode()
        if (headers or {}).get("X-Amz-Invocation-Type") == "Event":
            # Lambda queues an asynchronous event and answers 202 at once; the function runs on its own.
            dispatch.submit(backend.account_id, function, payload)
            return b""
        answer = dispatch(backend.account_id, function, payload)
        if answer.function_error:
            response_headers["x-amz-function-error"] = "Unhandled"
        return answer.payload

    return invoke


def _invoke_with_qualifier(response_class: Any) -> Callable[[Any], Any]:
    original = response_class.__dict__["invoke"]

    def invoke(response: Any) -> Any:
        if "Qualifier" in response.querystring:
            response.querystring.setdefault("qualifier", response.querystring["Qualifier"])
        return original(response)

    return invoke


def _copy_code_on_update() -> Callable[[Any, dict[str, Any]], None]:
    original = lambda_models.LambdaFunction.__dict__["_set_function_code"]

    def set_function_code(function: Any, updated_spec: dict[str, Any]) -> None:
        if updated_spec is not function.code:  # an update, not the creation
            function.code = dict(function.code)  # stop sharing the dict with published versions
        original(function, updated_spec)

    return set_function_code


def _send_task_failure(self: StepFunctionResponse) -> ActionResult:
    self.stepfunction_backend.send_task_failure(
        self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
    )
    return EmptyResult()


def _stop_execution(self: StepFunctionResponse) -> ActionResult:
    arn = self._get_param("executionArn")
    error, cause = self._get_param("error"), self._get_param("cause")
    execution = self.stepfunction_backend.describe_execution(arn)
    now = datetime.datetime.now(tz=datetime.UTC)
    worker = getattr(execution, "exec_worker", None)
    if worker is not None and execution.exec_status == ExecutionStatus.RUNNING:
        execution.stop(stop_date=now, error=error, cause=cause)
        execution.exec_status = ExecutionStatus.ABORTED
        execution.stop_date, execution.error, execution.cause = now, error, cause
        # A task waiting for its token would otherwise wait until its own timeout.
        for endpoint in list(worker.env.callback_pool_manager._pool.values()):
            endpoint.interrupt_all()
    return ActionResult({"stopDate": execution.stop_date or now})


def _unless_stopped(original: Callable[..., None]) -> Callable[..., None]:
    def guarded(environment: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(environment._program_state, ProgramStopped):
            return  # a stopped run stays stopped, whatever the released task does next
        original(environment, *args, **kwargs)

    return guarded


def _reflect_with_stop_reason(communication_class: Any) -> Callable[[Any], None]:
    original = communication_class.__dict__["_reflect_execution_status"]

    def reflect(communication: Any) -> None:
        execution = communication.execution
        stopped_at = execution.stop_date if execution.exec_status == ExecutionStatus.ABORTED else None
        original(communication)
        state = execution.exec_worker.env.program_state()
        if isinstance(state, ProgramStopped):
            execution.error, execution.cause = state.error, state.cause
            execution.stop_date = stopped_at or execution.stop_date

    return reflect


def function_error(error_type: str, message: str) -> Invocation:
    """A function error as Lambda reports an unhandled exception."""
    body = {"errorType": error_type, "errorMessage": message, "stackTrace": []}
    return Invocation(json.dumps(body).encode(), function_error=True)
