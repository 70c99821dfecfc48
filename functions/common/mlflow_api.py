"""A tiny MLflow REST client over ``urllib.request``: the registry and run calls the functions make, without the
mlflow package (which is far too large for a Lambda zip).

    client = mlflow_api.connect(log=log, deadline=time.monotonic() + 100)
    version = client.get_model_version("delivery-time", "7")        # ModelVersion (tags, aliases, run_id)
    current = client.get_model_version_by_alias("delivery-time", "staging")   # or None: no such alias
    client.set_model_version_tag("delivery-time", "7", "commit", "<sha>")
    client.set_registered_model_alias("delivery-time", "staging", "7")
    client.get_run(version.run_id).metrics                           # {"rmse": 1.2, ...} (latest values)

REST paths and bodies are MLflow's (``mlflow/server/handlers.py``, REST API 2.0): GET ``model-versions/get``
(name, version), GET ``registered-models/alias`` (name, alias), POST ``registered-models/alias`` {name, alias,
version}, POST ``model-versions/set-tag`` {name, version, key, value}, GET ``runs/get`` (run_id). A missing
alias is answered 400 INVALID_PARAMETER_VALUE "Registered model alias <a> not found." (not 404): that one case
is None; a missing model, version or run is 404 RESOURCE_DOES_NOT_EXIST (``MlflowNotFound``).

Login: ``MLFLOW_CREDENTIALS_SECRET_ARN`` names a Secrets Manager secret whose SecretString is JSON
``{"username", "password", "tracking_uri"}`` (``tracking_uri`` may instead come from ``MLFLOW_TRACKING_URI``).
It is read through ``functions.common.secrets`` (cached per container); without the ARN the client talks to
``MLFLOW_TRACKING_URI`` with no login (tests, a local server). The password is only ever put in the
``Authorization`` header: it is in no error message, no log line and no ``repr``. A 401 or 403 drops the cached
secret, so a rotated password is read again on the next call.

Retries: MLflow's Aurora Serverless database pauses when idle and takes ~15 s to resume; meanwhile the server
answers 5xx or holds the request. Connection errors, timeouts, 5xx and 429 are retried with exponential backoff
and jitter (``MLFLOW_RETRY_BASE_DELAY_SECONDS`` 1, doubling up to ``MLFLOW_RETRY_MAX_DELAY_SECONDS`` 16) for up to
``MLFLOW_RETRY_WINDOW_SECONDS`` (60) after the first attempt, each request limited to
``MLFLOW_REQUEST_TIMEOUT_SECONDS`` (30); never past ``deadline`` (the caller passes its Lambda time left). Then
``MlflowUnavailable``. Every call this module makes is idempotent, so repeating one is safe. Other 4xx fail at
once with ``MlflowApiError`` naming the call, the HTTP status and MLflow's error code.
"""

from __future__ import annotations

import base64
import http.client
import json
import math
import os
import random
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from functions.common import secrets
from functions.common.logging import Logger

API_PREFIX = "/api/2.0/mlflow/"
SECRET_SETTING = "MLFLOW_CREDENTIALS_SECRET_ARN"  # noqa: S105 - the name of an environment variable
URI_SETTING = "MLFLOW_TRACKING_URI"
MESSAGE_MAX = 300
_ALIAS_NOT_FOUND = "alias"  # in "Registered model alias <alias> not found."


# ------------------------------------------------------------------------------------------------ errors


class MlflowConfigError(Exception):
    """The tracking URI or the login is missing or invalid (names the setting, never the password)."""


class MlflowApiError(Exception):
    """An MLflow call failed: ``call`` (e.g. ``set_registered_model_alias``), ``status`` (HTTP, or None when no
    answer came), ``code`` (MLflow's ``error_code``, e.g. ``INVALID_PARAMETER_VALUE``)."""

    def __init__(self, call: str, status: int | None, code: str | None, message: str) -> None:
        self.call = call
        self.status = status
        self.code = code
        self.detail = message
        parts = [f"HTTP {status}" if status is not None else "no answer"]
        if code:
            parts.append(code)
        super().__init__(f"MLflow {call} failed: {' '.join(parts)}: {message}")


class MlflowNotFound(MlflowApiError):
    """404 RESOURCE_DOES_NOT_EXIST: the registered model, the model version or the run does not exist."""


class MlflowAuthError(MlflowApiError):
    """401 or 403: the login is wrong or lacks the permission for this call."""


class MlflowUnavailable(MlflowApiError):
    """No good answer within the retry window: connection errors, timeouts, 5xx or 429 all along."""


# ------------------------------------------------------------------------------------------------ settings


@dataclass(frozen=True)
class Credentials:
    tracking_uri: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def authorization(self) -> str | None:
        if self.username is None or self.password is None:
            return None
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")


@dataclass(frozen=True)
class RetryPolicy:
    window_seconds: float = 60.0
    base_delay_seconds: float = 1.0
    max_delay_seconds: float = 16.0
    request_timeout_seconds: float = 30.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RetryPolicy:
        return cls(
            window_seconds=_seconds(environ, "MLFLOW_RETRY_WINDOW_SECONDS", cls.window_seconds, minimum=0),
            base_delay_seconds=_seconds(environ, "MLFLOW_RETRY_BASE_DELAY_SECONDS", cls.base_delay_seconds, minimum=0),
            max_delay_seconds=_seconds(environ, "MLFLOW_RETRY_MAX_DELAY_SECONDS", cls.max_delay_seconds, minimum=0),
            request_timeout_seconds=_seconds(
                environ, "MLFLOW_REQUEST_TIMEOUT_SECONDS", cls.request_timeout_seconds, minimum=0.1
            ),
        )

    def delay(self, retry: int) -> float:
        """Before retry number ``retry`` (1, 2, ...): doubling, capped, with jitter so parallel runs spread out."""
        capped = min(self.base_delay_seconds * 2 ** (retry - 1), self.max_delay_seconds)
        return capped * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not security


def _seconds(environ: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    raw = (environ.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < minimum:
        raise MlflowConfigError(f"{name}: expected a number of seconds >= {minimum:g}, got {raw!r}")
    return value


def _check_uri(uri: str, setting: str) -> str:
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MlflowConfigError(f"{setting}: expected an http(s) URL of the MLflow server, got {uri[:80]!r}")
    if parts.username is not None or parts.password is not None:
        # Never echo it: it would print the password.
        raise MlflowConfigError(
            f"{setting}: the URL must not contain a login; put it in the secret's username and password"
        )
    return uri.rstrip("/")


def load_credentials(environ: Mapping[str, str] | None = None) -> Credentials:
    """The tracking URI and login from the secret (cached by ``functions.common.secrets``) and the environment."""
    environ = os.environ if environ is None else environ
    arn = (environ.get(SECRET_SETTING) or "").strip()
    env_uri = (environ.get(URI_SETTING) or "").strip()
    if not arn:
        if not env_uri:
            raise MlflowConfigError(
                f"{URI_SETTING}: not set, and neither is {SECRET_SETTING}; expected the MLflow server's URL or the "
                "ARN of the secret holding {username, password, tracking_uri}"
            )
        return Credentials(tracking_uri=_check_uri(env_uri, URI_SETTING))
    try:
        raw = secrets.get_secret(arn, setting=SECRET_SETTING)
    except secrets.SecretUnavailable as error:
        raise MlflowConfigError(str(error)) from None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise MlflowConfigError(
            f"{SECRET_SETTING}: secret {arn} is not a JSON object; expected {{username, password, tracking_uri}}"
        )
    username, password = value.get("username"), value.get("password")
    if not isinstance(username, str) or not username or not isinstance(password, str) or not password:
        raise MlflowConfigError(f"{SECRET_SETTING}: secret {arn} lacks a non-empty username or password")
    uri = value.get("tracking_uri")
    if isinstance(uri, str) and uri.strip():
        tracking_uri = _check_uri(uri.strip(), f"{SECRET_SETTING} (tracking_uri)")
    elif env_uri:
        tracking_uri = _check_uri(env_uri, URI_SETTING)
    else:
        raise MlflowConfigError(f"{SECRET_SETTING}: secret {arn} has no tracking_uri and {URI_SETTING} is not set")
    return Credentials(tracking_uri=tracking_uri, username=username, password=password)


# ------------------------------------------------------------------------------------------------ entities


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: str
    status: str = ""
    run_id: str | None = None
    source: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModelVersion:
        return cls(
            name=str(data.get("name", "")),
            version=str(data.get("version", "")),
            status=str(data.get("status", "")),
            run_id=str(data["run_id"]) if data.get("run_id") else None,
            source=str(data["source"]) if data.get("source") else None,
            tags=_key_values(data.get("tags")),
            aliases=tuple(str(alias) for alias in data.get("aliases") or ()),
        )


@dataclass(frozen=True)
class Run:
    run_id: str
    status: str = ""
    experiment_id: str | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Run:
        info, values = data.get("info") or {}, data.get("data") or {}
        metrics: dict[str, float] = {}
        for metric in values.get("metrics") or ():
            if isinstance(metric, Mapping) and "key" in metric and isinstance(metric.get("value"), int | float):
                metrics[str(metric["key"])] = float(metric["value"])
        return cls(
            run_id=str(info.get("run_id") or info.get("run_uuid") or ""),
            status=str(info.get("status", "")),
            experiment_id=str(info["experiment_id"]) if info.get("experiment_id") else None,
            metrics=metrics,
            params=_key_values(values.get("params")),
            tags=_key_values(values.get("tags")),
        )


def _key_values(items: Any) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in items or ():
        if isinstance(item, Mapping) and "key" in item:
            found[str(item["key"])] = str(item.get("value", ""))
    return found


# ------------------------------------------------------------------------------------------------ client


# No HTTP answer: refused or reset connections, DNS, TLS and timeouts (all OSError), or a broken response.
_TRANSIENT_ERRORS = (OSError, http.client.HTTPException)


class MlflowClient:
    def __init__(
        self,
        credentials: Credentials,
        policy: RetryPolicy | None = None,
        *,
        deadline: float | None = None,
        log: Logger | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        on_auth_error: Callable[[], None] | None = None,
    ) -> None:
        self.credentials = credentials
        self.policy = policy or RetryPolicy()
        self.deadline = deadline
        self.log = log or Logger("mlflow_api")
        self._clock = clock
        self._sleep = sleep
        self._on_auth_error = on_auth_error

    def __repr__(self) -> str:
        return f"MlflowClient(tracking_uri={self.credentials.tracking_uri!r})"

    # -------------------------------------------------------------------------------------- calls

    def get_model_version(self, name: str, version: str) -> ModelVersion:
        data = self._request("get_model_version", "GET", "model-versions/get", {"name": name, "version": version})
        return ModelVersion.from_json(data.get("model_version") or {})

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion | None:
        """The version ``alias`` points at, or None when the model has no such alias."""
        try:
            data = self._request(
                "get_model_version_by_alias", "GET", "registered-models/alias", {"name": name, "alias": alias}
            )
        except MlflowApiError as error:
            if (
                error.status == 400
                and error.code == "INVALID_PARAMETER_VALUE"
                and _ALIAS_NOT_FOUND in error.detail.lower()
                and "not found" in error.detail.lower()
            ):
                return None
            raise
        return ModelVersion.from_json(data.get("model_version") or {})

    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        body = {"name": name, "alias": alias, "version": version}
        self._request("set_registered_model_alias", "POST", "registered-models/alias", body)

    def set_model_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        body = {"name": name, "version": version, "key": key, "value": value}
        self._request("set_model_version_tag", "POST", "model-versions/set-tag", body)

    def get_run(self, run_id: str) -> Run:
        data = self._request("get_run", "GET", "runs/get", {"run_id": run_id})
        return Run.from_json(data.get("run") or {})

    # ------------------------------------------------------------------------------------- transport

    def _url(self, path: str, query: Mapping[str, str] | None) -> str:
        url = self.credentials.tracking_uri + API_PREFIX + path
        return f"{url}?{urllib.parse.urlencode(query)}" if query else url

    def _request(self, call: str, method: str, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        url = self._url(path, params if method == "GET" else None)
        body = json.dumps(params).encode("utf-8") if method != "GET" else None
        headers = {"Accept": "application/json", "User-Agent": "serverless-mlops"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        authorization = self.credentials.authorization
        if authorization:
            headers["Authorization"] = authorization

        started = self._clock()
        window_end = started + self.policy.window_seconds
        if self.deadline is not None:
            window_end = min(window_end, self.deadline)
        attempt = 0
        while True:
            attempt += 1
            timeout = self.policy.request_timeout_seconds
            if self.deadline is not None:
                timeout = max(0.1, min(timeout, self.deadline - self._clock()))
            request = urllib.request.Request(url, data=body, method=method, headers=headers)  # noqa: S310
            status, code, message = self._attempt(call, request, timeout)
            if isinstance(message, dict):
                return message
            if not _retryable(status):
                raise self._client_error(call, status, code, message)
            delay = self.policy.delay(attempt)
            if self._clock() + delay >= window_end:
                waited = self._clock() - started
                raise MlflowUnavailable(
                    call,
                    status,
                    code,
                    f"{message}; gave up after {attempt} attempts in {waited:.0f} s (MLflow or its database may "
                    "be down; its database needs ~15 s to resume after a pause)",
                )
            self.log.warning(
                "MLflow call failed, retrying",
                call=call,
                status=status,
                reason=message[:MESSAGE_MAX],
                attempt=attempt,
                delaySeconds=round(delay, 2),
            )
            self._sleep(delay)

    def _attempt(
        self, call: str, request: urllib.request.Request, timeout: float
    ) -> tuple[int | None, str | None, dict[str, Any] | str]:
        """(status, MLflow error code, JSON body or a message). Status None: no HTTP answer at all."""
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) only, checked
                raw = response.read()
                status = response.status
        except urllib.error.HTTPError as error:
            try:
                text = error.read().decode("utf-8", errors="replace")
            except (OSError, http.client.HTTPException):
                text = ""
            code, message = _error_body(text, error.code, error.reason)
            return error.code, code, message
        except _TRANSIENT_ERRORS as error:
            reason = getattr(error, "reason", None) or error
            return None, None, f"{type(error).__name__}: {str(reason)[:MESSAGE_MAX]}"
        try:
            data = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            # Not transient: a login page or a proxy in front of MLflow; retrying would get the same page.
            raise MlflowApiError(
                call, status, None, f"the answer is not JSON (is the tracking URI the MLflow server?): {raw[:80]!r}"
            ) from None
        return status, None, data if isinstance(data, dict) else {}

    def _client_error(self, call: str, status: int | None, code: str | None, message: str) -> MlflowApiError:
        if status in (401, 403):
            if self._on_auth_error is not None:
                self._on_auth_error()
            who = f"user {self.credentials.username!r}" if self.credentials.username else "no login"
            return MlflowAuthError(call, status, code, f"{message} ({who} at {self.credentials.tracking_uri})")
        if status == 404 or code == "RESOURCE_DOES_NOT_EXIST":
            return MlflowNotFound(call, status, code, message)
        return MlflowApiError(call, status, code, message)


def _retryable(status: int | None) -> bool:
    return status is None or status == 429 or status >= 500


def _error_body(text: str, status: int, reason: Any) -> tuple[str | None, str]:
    """MLflow's ``{"error_code", "message"}``, or the first part of whatever else answered."""
    try:
        data = json.loads(text) if text else None
    except json.JSONDecodeError:
        data = None
    if isinstance(data, dict) and ("error_code" in data or "message" in data):
        code = str(data["error_code"]) if data.get("error_code") else None
        return code, str(data.get("message") or reason or "")[:MESSAGE_MAX]
    snippet = " ".join(text.split())[:MESSAGE_MAX]
    return None, snippet or str(reason or f"HTTP {status}")


def connect(
    environ: Mapping[str, str] | None = None, *, deadline: float | None = None, log: Logger | None = None
) -> MlflowClient:
    """A client for the configured server (the secret is read once per container, see the module doc)."""
    environ = os.environ if environ is None else environ
    arn = (environ.get(SECRET_SETTING) or "").strip() or None
    return MlflowClient(
        load_credentials(environ),
        RetryPolicy.from_env(environ),
        deadline=deadline,
        log=log,
        on_auth_error=lambda: secrets.forget(arn),
    )
