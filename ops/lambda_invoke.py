"""Invoke a tooling function and return its answer, or raise ``InvokeError`` saying what went wrong.

A runbook command talks to the stacks only through the tooling account's own functions (deploy, promote,
notify), so the person running it needs ``lambda:InvokeFunction`` on those and nothing else: no role in stage or
prod, no MLflow login, no Slack token.

Every call is made once: the client never retries (a retried deploy rollback would step back twice), and it waits
longer than the deploy function's 15-minute timeout, so "no answer" means the function is still running or the
network failed, which ``InvokeError.outcome_unknown`` says (as it does when Lambda stopped the function at its
timeout).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionClosedError, ReadTimeoutError

# The deploy function may take its whole 900 s timeout; wait a little longer than that for its answer.
READ_TIMEOUT_SECONDS = 930
CLIENT_CONFIG = Config(
    connect_timeout=10,
    read_timeout=READ_TIMEOUT_SECONDS,
    retries={"mode": "standard", "total_max_attempts": 1},
    user_agent_extra="serverless-mlops-ops",
)

Invoke = Callable[[str, Mapping[str, Any]], dict[str, Any]]
TIMED_OUT = "Task timed out"  # how Lambda's errorMessage starts when it stopped a function at its timeout


class InvokeError(Exception):
    """The function could not be invoked, or it failed. ``error_type`` is the function's ``errorType`` (e.g.
    ``DeployInputError``) or the AWS error code (e.g. ``AccessDeniedException``)."""

    def __init__(self, function: str, error_type: str, message: str, *, outcome_unknown: bool = False) -> None:
        self.function = function
        self.error_type = error_type
        self.message = message
        self.outcome_unknown = outcome_unknown
        super().__init__(f"{function}: {error_type}: {message}")


class LambdaInvoker:
    """``Invoke`` over a boto3 Lambda client (``session.client("lambda", config=CLIENT_CONFIG)``)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __call__(self, function: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        try:
            response = self._client.invoke(
                FunctionName=function,
                InvocationType="RequestResponse",
                Payload=json.dumps(payload).encode("utf-8"),
            )
            body = response["Payload"].read()
        except ClientError as error:
            details = error.response.get("Error", {})
            raise InvokeError(
                function, str(details.get("Code") or "ClientError"), str(details.get("Message") or error)
            ) from None
        except (ReadTimeoutError, ConnectionClosedError) as error:
            raise InvokeError(
                function,
                type(error).__name__,
                f"no answer ({error}); the function may still be running, or may have finished",
                outcome_unknown=True,
            ) from None
        except BotoCoreError as error:
            raise InvokeError(function, type(error).__name__, str(error)) from None
        return _answer(function, response.get("FunctionError"), body)


def _answer(function: str, function_error: str | None, body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body) if body else None
    except json.JSONDecodeError:
        data = None
    if function_error:
        if isinstance(data, Mapping):
            kind = str(data.get("errorType") or function_error)
            message = str(data.get("errorMessage") or "no message")
        else:
            kind, message = function_error, body.decode("utf-8", "replace")[:500] or "no message"
        # Lambda stopped the function at its timeout: it may have done part of its work.
        raise InvokeError(function, kind, message, outcome_unknown=TIMED_OUT in message)
    if not isinstance(data, dict):
        raise InvokeError(function, "UnexpectedAnswer", f"expected a JSON object, got {body[:200]!r}")
    return data
