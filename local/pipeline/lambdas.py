"""The local Lambda service: runs the function moto has on record, as Lambda would, in its own process.

moto keeps every function's configuration (handler, environment, timeout, memory, role, code or image,
versions and aliases) but runs no code. ``LambdaService`` is the ``Dispatcher`` that ``moto_patches`` hands
each invocation to, already resolved to the version invoked. It runs it in an execution environment
(``lambda_runtime.py``) made from that record:

- a zip function's task root is its deployed archive, extracted; an image function's is the image's build
  context (``images.py``), with the Dockerfile's ``CMD`` as handler and its ``ENV``;
- the environment is the function's variables plus what Lambda sets (``AWS_LAMBDA_FUNCTION_NAME``, region,
  ...) and the function role's own credentials (STS AssumeRole in moto, as Lambda does); locally also
  ``AWS_ENDPOINT_URL`` (moto) and no AWS config or credentials files, so nothing can reach a real account;
- environments are reused while idle (warm starts) and one more is started when all are busy (concurrency);
- the function's timeout is enforced: the environment is killed and the caller gets Lambda's
  "Task timed out" error. A crash gives ``Runtime.ExitError``.

A handler string registered in ``services`` (the CodeBuild stand-in) is served in this process instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from local.pipeline.images import ImageStore
from local.pipeline.lambda_runtime import HEADER
from local.pipeline.moto_patches import Invocation, function_error

RUNTIME_SCRIPT = Path(__file__).resolve().parent / "lambda_runtime.py"
# How long an environment may take to import its handler, beyond the function's own timeout.
INIT_ALLOWANCE_SECONDS = 30.0


class FunctionFailure(Exception):
    """Raised by an in-process service to answer with a function error of type ``error_type``."""

    def __init__(self, error_type: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.details = details


Service = Callable[[Any, "ServiceContext"], Any]
Credentials = Callable[[str, str], Mapping[str, str]]  # (role ARN, session name) -> AWS_* variables


@dataclass(frozen=True)
class ServiceContext:
    account_id: str
    function_name: str
    function_arn: str


@dataclass(frozen=True)
class FunctionRuntime:
    """What an execution environment runs, read from moto's record of the function version."""

    account_id: str
    name: str
    version: str
    arn: str
    handler: str
    task_root: Path
    environment: dict[str, str]
    timeout_seconds: float
    role: str

    @property
    def pool_key(self) -> str:
        identity = json.dumps([self.account_id, self.arn, str(self.task_root), self.handler, self.environment])
        return hashlib.sha256(identity.encode()).hexdigest()


class ContainerGone(RuntimeError):
    """The execution environment exited or stopped answering."""


class Container:
    """One execution environment: a ``lambda_runtime.py`` process."""

    def __init__(self, runtime: FunctionRuntime, environment: Mapping[str, str], log: Path) -> None:
        self.runtime = runtime
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-P", str(RUNTIME_SCRIPT)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=output,
                env=dict(environment),
                cwd=runtime.task_root,
                bufsize=0,
                start_new_session=True,
            )
        self.started = time.monotonic()
        self.invocations = 0

    def invoke(self, payload: bytes, request_id: str) -> Invocation:
        timeout = self.runtime.timeout_seconds
        allowance = INIT_ALLOWANCE_SECONDS if self.invocations == 0 else 0.0
        deadline = time.monotonic() + timeout + allowance
        request = {"requestId": request_id, "payload": payload.decode("utf-8"), "deadline": time.time() + timeout}
        self.invocations += 1
        data = json.dumps(request).encode()
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(HEADER.pack(len(data)) + data)
            self.process.stdin.flush()
            header = self._read(HEADER.size, deadline)
            answer = json.loads(self._read(HEADER.unpack(header)[0], deadline))
        except TimeoutError:
            self.stop()
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            message = f"{stamp} {request_id} Task timed out after {timeout:.2f} seconds"
            return Invocation(json.dumps({"errorMessage": message}).encode(), function_error=True)
        except (ContainerGone, BrokenPipeError, OSError):
            code = self.process.poll()
            self.stop()
            message = f"RequestId: {request_id} Error: Runtime exited with error: exit status {code}"
            return function_error("Runtime.ExitError", message)
        return Invocation(str(answer["payload"]).encode(), function_error=bool(answer["error"]))

    def _read(self, size: int, deadline: float) -> bytes:
        assert self.process.stdout is not None
        descriptor, data = self.process.stdout.fileno(), b""
        while len(data) < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            ready, _, _ = select.select([descriptor], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(descriptor, size - len(data))
            if not chunk:
                raise ContainerGone
            data += chunk
        return data

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


@dataclass
class InvocationRecord:
    account_id: str
    function: str
    version: str
    seconds: float
    error: bool
    cold: bool


@dataclass
class LambdaService:
    workdir: Path
    region: str
    moto_url: str
    images: ImageStore
    credentials: Credentials
    services: dict[str, Service] = field(default_factory=dict)
    records: list[InvocationRecord] = field(default_factory=list)
    _idle: dict[str, list[Container]] = field(default_factory=dict)
    _all: list[Container] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopped: bool = False
    _running: int = 0
    _idle_changed: threading.Condition = field(default_factory=threading.Condition)

    # ---------------------------------------------------------------------------------------- dispatch

    def __call__(self, account_id: str, function: Any, payload: bytes) -> Invocation:
        """``moto_patches.Dispatcher``: run ``function`` (moto's ``LambdaFunction``) with ``payload``."""
        service = self.services.get(function.handler or "")
        if service is not None and function.package_type != "Image":
            return self._serve(service, account_id, function, payload)
        try:
            runtime = self.runtime_of(account_id, function)
        except Exception as error:  # a function that cannot start: what Lambda reports for a bad deployment
            return function_error("Runtime.InvalidEntrypoint", str(error))
        return self.invoke(runtime, payload)

    def invoke(self, runtime: FunctionRuntime, payload: bytes) -> Invocation:
        with self._idle_changed:
            self._running += 1
        try:
            return self._invoke(runtime, payload)
        finally:
            with self._idle_changed:
                self._running -= 1
                self._idle_changed.notify_all()

    def submit(self, account_id: str, function: Any, payload: bytes) -> None:
        """An asynchronous invocation (``InvocationType=Event``): counted as running from now on."""
        with self._idle_changed:
            self._running += 1

        def run() -> None:
            try:
                self(account_id, function, payload)
            finally:
                with self._idle_changed:
                    self._running -= 1
                    self._idle_changed.notify_all()

        threading.Thread(target=run, name=f"event-{function.function_name}", daemon=True).start()

    def wait_idle(self, timeout_seconds: float) -> bool:
        """Wait until no function runs (asynchronous invocations included); False if some still run."""
        with self._idle_changed:
            return self._idle_changed.wait_for(lambda: self._running == 0, timeout=timeout_seconds)

    def _invoke(self, runtime: FunctionRuntime, payload: bytes) -> Invocation:
        container, cold = self._acquire(runtime)
        started = time.monotonic()
        answer = container.invoke(payload, str(uuid.uuid4()))
        with self._lock:
            self.records.append(
                InvocationRecord(
                    runtime.account_id,
                    runtime.name,
                    runtime.version,
                    time.monotonic() - started,
                    answer.function_error,
                    cold,
                )
            )
            if container.alive and not self._stopped:
                self._idle.setdefault(runtime.pool_key, []).append(container)
        return answer

    def prewarm(self, runtime: FunctionRuntime) -> None:
        """Start one environment ahead of the first invocation (what provisioned concurrency does)."""
        container, _ = self._acquire(runtime)
        with self._lock:
            self._idle.setdefault(runtime.pool_key, []).append(container)

    def _serve(self, service: Service, account_id: str, function: Any, payload: bytes) -> Invocation:
        context = ServiceContext(account_id, function.function_name, function.function_arn)
        try:
            event = json.loads(payload) if payload.strip() else {}
            return Invocation(json.dumps(service(event, context)).encode())
        except FunctionFailure as failure:
            body = {"errorType": failure.error_type, "errorMessage": str(failure), **failure.details}
            return Invocation(json.dumps(body).encode(), function_error=True)
        except Exception as error:
            return function_error(type(error).__name__, str(error))

    def _acquire(self, runtime: FunctionRuntime) -> tuple[Container, bool]:
        with self._lock:
            if self._stopped:
                raise RuntimeError("the local Lambda service has stopped")
            idle = self._idle.get(runtime.pool_key, [])
            while idle:
                container = idle.pop()
                if container.alive:
                    return container, False
        container = Container(runtime, self._environment(runtime), self.log_path(runtime.account_id, runtime.name))
        with self._lock:
            self._all.append(container)
        return container, True

    def log_path(self, account_id: str, function_name: str) -> Path:
        return self.workdir / "logs" / f"{account_id}-{function_name}.log"

    # ------------------------------------------------------------------------------ from moto's record

    def runtime_of(self, account_id: str, function: Any) -> FunctionRuntime:
        version = str(function.version)
        environment: dict[str, str] = {}
        if function.package_type == "Image":
            image = self.images.get(function.code.get("ImageUri"))
            task_root, handler = image.root, image.handler
            environment.update(image.environment)
        else:
            task_root, handler = self._extract(function), str(function.handler)
        environment.update({str(k): str(v) for k, v in (function.environment_vars or {}).items()})
        arn = f"arn:aws:lambda:{self.region}:{account_id}:function:{function.function_name}"
        return FunctionRuntime(
            account_id=account_id,
            name=function.function_name,
            version=version,
            arn=arn if version == "$LATEST" else f"{arn}:{version}",
            handler=handler,
            task_root=task_root,
            environment=environment,
            timeout_seconds=float(function.timeout),
            role=str(function.role),
        )

    def _extract(self, function: Any) -> Path:
        code = getattr(function, "code_bytes", b"") or b""
        if not code:
            raise RuntimeError(f"{function.function_name}: no code archive was deployed")
        digest = hashlib.sha256(code).hexdigest()
        root = self.workdir / "tasks" / digest[:16]
        if not root.is_dir():
            staging = root.with_name(f".{root.name}-{os.getpid()}-{threading.get_ident()}")
            with zipfile.ZipFile(io.BytesIO(code)) as archive:
                archive.extractall(staging)
            with contextlib.suppress(OSError):  # another thread extracted the same archive first
                staging.rename(root)
        return root

    def _environment(self, runtime: FunctionRuntime) -> dict[str, str]:
        venv_bin = Path(sys.executable).parent
        home = self.workdir / "home"
        home.mkdir(parents=True, exist_ok=True)
        reserved = {
            "_HANDLER": runtime.handler,
            "LAMBDA_TASK_ROOT": str(runtime.task_root),
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_LAMBDA_FUNCTION_NAME": runtime.name,
            "AWS_LAMBDA_FUNCTION_VERSION": runtime.version,
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{runtime.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"{datetime.now(UTC):%Y/%m/%d}/[{runtime.version}]{uuid.uuid4().hex}",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
            **self.credentials(runtime.role, runtime.name),
        }
        local = {
            "PATH": f"{venv_bin}{os.pathsep}/usr/local/bin{os.pathsep}/usr/bin{os.pathsep}/bin",
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "TZ": "UTC",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "LOCAL_LAMBDA_FUNCTION_ARN": runtime.arn,
            # Every AWS call goes to moto; no profile or credentials file of this machine is ever read.
            "AWS_ENDPOINT_URL": self.moto_url,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
        return {**local, **runtime.environment, **reserved}

    # ------------------------------------------------------------------------------------------ stop

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            containers, self._all = list(self._all), []
            self._idle.clear()
        for container in containers:
            container.stop()

    def stop_function(self, account_id: str, name: str) -> None:
        """Stop the idle environments of one function (a deployment that is torn down)."""
        with self._lock:
            stopping = [c for c in self._all if c.runtime.account_id == account_id and c.runtime.name == name]
            self._all = [c for c in self._all if c not in stopping]
            for key, idle in list(self._idle.items()):
                self._idle[key] = [c for c in idle if c not in stopping]
        for container in stopping:
            container.stop()
