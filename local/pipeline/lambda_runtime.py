"""One Lambda execution environment ("container"): a process that loads a handler once and runs invocations.

Started by ``local.pipeline.lambdas`` as ``python -P lambda_runtime.py`` with the function's environment
(``_HANDLER``, ``LAMBDA_TASK_ROOT``, the function's variables, its role's credentials), the way Lambda's Python
runtime starts: the task root first on ``sys.path``, the handler module imported at init (an import error is
reported on every invocation, as ``Runtime.ImportModuleError``), then one invocation at a time.

Protocol on stdin and the process's original stdout: frames of a 4-byte big-endian length and a JSON object,
``{"requestId", "payload", "deadline"}`` in and ``{"payload", "error"}`` out. Everything the function prints
(its JSON logs included) goes to stderr, which the parent writes to the function's log file, with Lambda's
START / END / REPORT lines around each invocation.

Standard library only: this file runs next to any task root (a function archive or an image's context).
"""

from __future__ import annotations

import importlib
import json
import os
import struct
import sys
import time
import traceback
from typing import Any, BinaryIO

HEADER = struct.Struct(">I")


def read_frame(stream: BinaryIO) -> bytes | None:
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    (length,) = HEADER.unpack(header)
    data = stream.read(length)
    return data if len(data) == length else None


def write_frame(stream: BinaryIO, data: bytes) -> None:
    stream.write(HEADER.pack(len(data)) + data)
    stream.flush()


class Context:
    """What Lambda's Python runtime passes as ``context``."""

    def __init__(self, request_id: str, deadline: float) -> None:
        self.aws_request_id = request_id
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = os.environ.get("LOCAL_LAMBDA_FUNCTION_ARN", "")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


def error_body(error: BaseException, error_type: str | None = None, *, from_handler: bool = False) -> dict[str, Any]:
    trace = error.__traceback__
    if from_handler and trace is not None:
        trace = trace.tb_next  # Lambda's trace starts in the handler, not in the runtime that called it
    return {
        "errorMessage": str(error),
        "errorType": error_type or type(error).__name__,
        "stackTrace": traceback.format_tb(trace),
    }


def load_handler(name: str) -> Any:
    module_name, _, function_name = name.rpartition(".")
    if not module_name:
        raise ValueError(f"Bad handler '{name}': expected <module>.<function>")
    module = importlib.import_module(module_name)
    handler = getattr(module, function_name, None)
    if handler is None:
        raise AttributeError(f"Handler '{function_name}' missing on module '{module_name}'")
    return handler


def main() -> int:
    protocol_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # the function's prints and logs go to the log, never into the protocol
    protocol_in = sys.stdin.buffer
    task_root = os.environ["LAMBDA_TASK_ROOT"]
    sys.path.insert(0, task_root)
    os.chdir(task_root)
    handler: Any = None
    init_error: dict[str, Any] | None = None
    try:
        handler = load_handler(os.environ["_HANDLER"])
    except Exception as error:
        kind = "Runtime.HandlerNotFound" if isinstance(error, AttributeError) else "Runtime.ImportModuleError"
        init_error = error_body(error, kind)
        print(f"INIT error: {kind}: {error}", file=sys.stderr, flush=True)
    while (frame := read_frame(protocol_in)) is not None:
        request = json.loads(frame)
        request_id = str(request["requestId"])
        started = time.monotonic()
        print(f"START RequestId: {request_id} Version: {os.environ.get('AWS_LAMBDA_FUNCTION_VERSION')}", flush=True)
        failed = True
        if init_error is not None:
            answer: Any = init_error
        else:
            try:
                raw = request.get("payload") or ""
                event = json.loads(raw) if raw.strip() else {}
                result = handler(event, Context(request_id, float(request["deadline"])))
                answer, failed = result, False
            except Exception as error:
                answer = error_body(error, from_handler=True)
                traceback.print_exc()
        try:
            payload = json.dumps(answer)
        except (TypeError, ValueError) as error:
            payload, failed = json.dumps(error_body(error, "Runtime.MarshalError")), True
        elapsed = (time.monotonic() - started) * 1000
        print(f"END RequestId: {request_id}", flush=True)
        print(f"REPORT RequestId: {request_id} Duration: {elapsed:.2f} ms", flush=True)
        write_frame(protocol_out, json.dumps({"payload": payload, "error": failed}).encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
