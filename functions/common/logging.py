"""Structured JSON logs: one object per line on stdout, which Lambda forwards to CloudWatch Logs as is.

Every line carries ``level``, ``message``, ``timestamp`` (UTC, ISO 8601), ``function`` and ``executionId``
(the Step Functions execution, so one run's lines can be found with one Logs Insights filter), plus any fields
the caller adds. Values under keys that look like credentials (secret, token, password, credentials, access
key, authorization) are replaced by ``"***"`` at any depth, so passing an AWS response by mistake never
leaks a session token.

    log = Logger("deploy").bind(executionId="arn:aws:states:...", environment="stage")
    log.info("alias moved", functionVersion="7")
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

LEVELS: Mapping[str, int] = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}
REDACTED = "***"
_CREDENTIAL_KEY = re.compile(r"secret|token|password|passwd|credential|access_?key|authorization", re.IGNORECASE)
_MAX_DEPTH = 8


def redact(value: Any, depth: int = 0) -> Any:
    """A copy of ``value`` with credential-like keys masked, at any depth of dicts and lists."""
    if depth > _MAX_DEPTH:
        return "..."
    if isinstance(value, Mapping):
        return {
            str(key): REDACTED if _CREDENTIAL_KEY.search(str(key)) else redact(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(item, depth + 1) for item in value]
    return value


class Logger:
    """A tiny structured logger; ``bind`` returns a child that adds fields to every line."""

    def __init__(
        self,
        function: str | None = None,
        *,
        level: str | None = None,
        stream: TextIO | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> None:
        self.function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or function or "unknown"
        name = (level or os.environ.get("LOG_LEVEL") or os.environ.get("AWS_LAMBDA_LOG_LEVEL") or "INFO").upper()
        self.level = LEVELS.get(name, LEVELS["INFO"])
        self._stream = stream
        self._fields: dict[str, Any] = {"executionId": None, **(fields or {})}

    def bind(self, **fields: Any) -> Logger:
        child = Logger(self.function, stream=self._stream, fields={**self._fields, **fields})
        child.level = self.level
        return child

    def debug(self, message: str, **fields: Any) -> None:
        self._emit("DEBUG", message, fields)

    def info(self, message: str, **fields: Any) -> None:
        self._emit("INFO", message, fields)

    def warning(self, message: str, **fields: Any) -> None:
        self._emit("WARNING", message, fields)

    def error(self, message: str, error: BaseException | None = None, **fields: Any) -> None:
        if error is not None:
            fields = {"errorType": type(error).__name__, "errorMessage": str(error), **fields}
        self._emit("ERROR", message, fields)

    def _emit(self, level: str, message: str, fields: Mapping[str, Any]) -> None:
        if LEVELS[level] < self.level:
            return
        record = {
            "level": level,
            "message": message,
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "function": self.function,
            **redact({**self._fields, **fields}),
        }
        stream = self._stream or sys.stdout
        stream.write(json.dumps(record, default=str, ensure_ascii=False) + "\n")
        stream.flush()
