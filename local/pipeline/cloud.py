"""The local cloud: everything a pipeline run talks to, on loopback only, in one working folder.

- **moto** in this process (``ThreadedMotoServer``) for Step Functions (executing the definition), Lambda,
  DynamoDB, S3, Secrets Manager, ECR, SNS, EventBridge, CodeCommit, CodeBuild, IAM and STS, in three accounts;
  with ``moto_patches`` applied while it runs and the local Lambda service (``lambdas``) running the code;
- a real **MLflow** server with basic auth (SQLite, local artifacts), its logins kept in a 0600 file;
- the **Slack** stand-in (``local/fake_slack.py``) and the **Slack interactions endpoint**, an HTTP server that
  turns each POST into an API Gateway HTTP API event (payload format 2.0) for the deployment's
  ``slack_interactions`` function, as ``infra/components/slack_approval.py`` wires it.

One cloud can hold several deployments (``deployment.Deployment``: one model each), which is how the e2e tests
share the servers. ``LocalCloud`` is a context manager: leaving it stops every process and thread it started.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import botocore.session
from moto.server import ThreadedMotoServer

from local import loopback_http
from local.fake_slack import FakeSlack
from local.mlflow_server import BasicAuth, server_command
from local.pipeline.codebuild import HANDLER as CODEBUILD_HANDLER
from local.pipeline.codebuild import CodeBuildStandIn
from local.pipeline.eventbridge import EventBus
from local.pipeline.images import ImageStore
from local.pipeline.lambdas import LambdaService, Service
from local.pipeline.moto_patches import MotoPatches
from local.pipeline.source import GitRepository
from local.processes import ServerError, free_port, wait_until_healthy
from local.processes import stop as stop_process

REGION = "eu-west-1"
# The tooling account is moto's default account: Step Functions' interpreter calls Lambda with credentials
# moto maps to it.
ACCOUNTS: Mapping[str, str] = {"tooling": "123456789012", "stage": "222222222222", "prod": "333333333333"}
MLFLOW_START_SECONDS = 120.0
ADMIN_ROLE = "local-administrator"
# moto's fake credentials of the tooling account (nothing here can reach AWS: every client names moto's URL).
MOTO_KEYS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
}  # what the runner itself assumes in stage and prod (moto checks no trust)


@dataclass(frozen=True)
class Login:
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class MlflowLogins:
    admin: Login
    pipeline: Login

    @classmethod
    def load_or_create(cls, path: Path) -> MlflowLogins:
        """The logins of the folder's MLflow (the admin is created once, so a second run must reuse them)."""
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(Login(**data["admin"]), Login(**data["pipeline"]))
        logins = cls(Login("admin", secrets.token_urlsafe(18)), Login("pipeline", secrets.token_urlsafe(18)))
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            json.dump({"admin": vars(logins.admin), "pipeline": vars(logins.pipeline)}, file)
        return logins


class CloudError(RuntimeError):
    """A part of the local cloud did not start or answer; the message says which."""


class LocalCloud:
    def __init__(self, workdir: Path, *, poll_seconds: float = 0.1) -> None:
        self.workdir = workdir
        self.poll_seconds = poll_seconds
        self.region = REGION
        self.accounts = dict(ACCOUNTS)
        self._stack = contextlib.ExitStack()
        self._credentials: dict[tuple[str, str], dict[str, str]] = {}
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self._mlflow_lock = threading.Lock()  # held while MLflow starts: never with self._lock
        self._mlflow: subprocess.Popen[bytes] | None = None
        self._pipeline_user_ready = False
        self.services: dict[str, Service] = {}
        self.routes: dict[str, tuple[str, str]] = {}  # interactions path -> (account, function name)
        self._repositories: dict[str, GitRepository] = {}
        self.logins = MlflowLogins.load_or_create(workdir / "mlflow" / "logins.json")

    # ------------------------------------------------------------------------------------------ lifecycle

    def __enter__(self) -> LocalCloud:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        (self.workdir / "mlflow").mkdir(parents=True, exist_ok=True)
        # MLflow takes seconds to start: it boots while moto starts and the stacks are deployed.
        auth = BasicAuth(self.logins.admin.username, self.logins.admin.password)
        port = free_port()
        self.mlflow_address = f"http://127.0.0.1:{port}"  # known now, answering once mlflow_url returns
        folder = self.workdir / "mlflow"
        command, environment = server_command(folder, port, auth)
        self.mlflow_log = folder / "server.log"
        with self.mlflow_log.open("wb") as log:
            self._mlflow = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=environment,
                start_new_session=True,
            )
        self._stack.callback(stop_process, self._mlflow)

        self._botocore = botocore.session.get_session()  # one loader: every client shares the service models
        self.images = ImageStore(self.workdir / "images")
        self.lambdas = LambdaService(
            workdir=self.workdir / "lambda",
            region=self.region,
            moto_url="",  # set below, once moto has its port
            images=self.images,
            credentials=self.role_credentials,
            services=self.services,
        )
        self._stack.callback(self.lambdas.stop)
        patches = MotoPatches(self.lambdas)
        patches.apply()
        self._stack.callback(patches.restore)
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._moto.start()
        self._stack.callback(self._moto.stop)
        host, port = self._moto.get_host_and_port()
        self.moto_url = f"http://{host}:{port}"
        self.lambdas.moto_url = self.moto_url
        # Step Functions' interpreter reaches Lambda through the server at localhost:$MOTO_PORT.
        previous_port = os.environ.get("MOTO_PORT")
        os.environ["MOTO_PORT"] = str(port)
        self._stack.callback(_restore_env, "MOTO_PORT", previous_port)
        _post(f"{self.moto_url}/moto-api/reset", {})

        self.events = EventBus(self.client)
        self.codebuild = CodeBuildStandIn(
            clients=self.client,
            role_credentials=self.role_credentials,
            repositories=self.repository,
            workdir=self.workdir / "builds",
            region=self.region,
            moto_url=self.moto_url,
            image_store=self.images.root,
            ready=lambda: self.mlflow_url,
        )
        self.services[CODEBUILD_HANDLER] = self.codebuild
        self._stack.callback(self.codebuild.stop)

        self.slack = FakeSlack(channels=())
        self.slack.start()
        self._stack.callback(self.slack.stop)

        self._endpoint = loopback_http.serve(_interactions_handler(self), "slack-endpoint")
        self._stack.callback(loopback_http.stop, self._endpoint)
        self.endpoint_url = f"http://127.0.0.1:{self._endpoint.server_address[1]}"

    def close(self) -> None:
        self._stack.close()

    # ------------------------------------------------------------------------------------------ MLflow

    @property
    def mlflow_url(self) -> str:
        """The MLflow server's URL, once it answers (waits for it the first time)."""
        if self._mlflow is None:
            raise CloudError("the local cloud is not started")
        url = self.mlflow_address
        with self._mlflow_lock:
            if not self._pipeline_user_ready:
                try:
                    wait_until_healthy(f"{url}/health", self._mlflow, self.mlflow_log, MLFLOW_START_SECONDS)
                except ServerError as error:
                    raise CloudError(f"MLflow did not start: {error}") from error
                self._ensure_pipeline_user(url)
                self._pipeline_user_ready = True
        return url

    def _ensure_pipeline_user(self, url: str) -> None:
        """As the admin: create the pipeline's user, or set its password (as the tooling stack's server does)."""
        pipeline = {"username": self.logins.pipeline.username, "password": self.logins.pipeline.password}
        status, _ = self.mlflow_call(url, "POST", "/api/2.0/mlflow/users/create", pipeline)
        if status != 200:
            status, body = self.mlflow_call(url, "PATCH", "/api/2.0/mlflow/users/update-password", pipeline)
            if status != 200:
                raise CloudError(f"could not create MLflow user {pipeline['username']}: HTTP {status} {body[:200]}")

    def mlflow_call(
        self, url: str, method: str, path: str, body: Mapping[str, Any] | None = None, login: Login | None = None
    ) -> tuple[int, str]:
        login = login or self.logins.admin
        token = base64.b64encode(f"{login.username}:{login.password}".encode()).decode()
        request = urllib.request.Request(  # noqa: S310 - the loopback server we started
            url + path,
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def mlflow_get(self, path: str, **query: str) -> dict[str, Any]:
        url = self.mlflow_url
        status, body = self.mlflow_call(url, "GET", f"{path}?{urllib.parse.urlencode(query)}")
        if status != 200:
            raise CloudError(f"MLflow GET {path} answered HTTP {status}: {body[:200]}")
        return dict(json.loads(body))

    # ------------------------------------------------------------------------------------------ AWS

    def client(self, service: str, account: str = "tooling") -> Any:
        """A boto3 client for moto, with administrator credentials in ``account`` (tooling, stage or prod)."""
        key = (service, account)
        with self._lock:
            if key in self._clients:
                return self._clients[key]
        credentials = self._admin_credentials(account)
        session = boto3.session.Session(
            botocore_session=self._botocore_session(), region_name=self.region, **credentials
        )
        client = session.client(
            service,
            endpoint_url=self.moto_url,
            config=botocore.config.Config(retries={"mode": "standard", "max_attempts": 3}),
        )
        with self._lock:
            self._clients[key] = client
        return client

    def _botocore_session(self) -> botocore.session.Session:
        session = botocore.session.Session()
        session.register_component("data_loader", self._botocore.get_component("data_loader"))
        return session

    def _admin_credentials(self, account: str) -> dict[str, str]:
        if self.accounts[account] == ACCOUNTS["tooling"]:
            return dict(MOTO_KEYS)
        role = f"arn:aws:iam::{self.accounts[account]}:role/{ADMIN_ROLE}"
        found = self.role_credentials(role, "local-runner")
        return {
            "aws_access_key_id": found["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": found["AWS_SECRET_ACCESS_KEY"],
            "aws_session_token": found["AWS_SESSION_TOKEN"],
        }

    def role_credentials(self, role_arn: str, session_name: str) -> dict[str, str]:
        """A role's session credentials from moto's STS (which maps them to the role's account)."""
        key = (role_arn, session_name[:64])
        with self._lock:
            if key in self._credentials:
                return self._credentials[key]
        sts = boto3.session.Session(botocore_session=self._botocore_session(), region_name=self.region).client(
            "sts", endpoint_url=self.moto_url, **MOTO_KEYS
        )
        found = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name[:64])["Credentials"]
        credentials = {
            "AWS_ACCESS_KEY_ID": found["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": found["SecretAccessKey"],
            "AWS_SESSION_TOKEN": found["SessionToken"],
        }
        with self._lock:
            self._credentials[key] = credentials
        return credentials

    def wait_until(self, predicate: Callable[[], Any], what: str, timeout_seconds: float) -> Any:
        """Poll ``predicate`` every ``poll_seconds`` until it returns something true."""
        deadline = time.monotonic() + timeout_seconds
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise CloudError(f"timed out after {timeout_seconds:g} s waiting for {what}")
            time.sleep(self.poll_seconds)

    def repository(self, name: str) -> GitRepository:
        """The local git repository holding the commits of CodeCommit repository ``name``."""
        with self._lock:
            if name not in self._repositories:
                self._repositories[name] = GitRepository(self.workdir / "git" / f"{name}.git")
            return self._repositories[name]

    # ---------------------------------------------------------------------------- the Slack endpoint

    def route(self, path: str, account: str, function_name: str) -> str:
        """Serve ``POST <endpoint>/<path>`` with ``function_name``; returns the URL (the stack's output)."""
        self.routes[path] = (account, function_name)
        return f"{self.endpoint_url}{path}"


def _restore_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def _post(url: str, body: Mapping[str, Any]) -> None:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - the loopback moto server
        pass


def http_api_event(path: str, headers: Mapping[str, str], body: bytes, source_ip: str) -> dict[str, Any]:
    """What API Gateway (HTTP API, payload format 2.0) sends a Lambda proxy integration for ``POST path``."""
    now = time.time()
    lowered: dict[str, str] = {}
    for key, value in headers.items():  # duplicates are joined with commas
        name = key.lower()
        lowered[name] = f"{lowered[name]},{value}" if name in lowered else value
    text = lowered.get("content-type", "").startswith(("application/json", "text/"))
    return {
        "version": "2.0",
        "routeKey": f"POST {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": lowered,
        "requestContext": {
            "accountId": ACCOUNTS["tooling"],
            "apiId": "local",
            "domainName": lowered.get("host", "127.0.0.1"),
            "http": {
                "method": "POST",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": f"POST {path}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        # Form posts (Slack's interactions) arrive base64-encoded, as HTTP APIs pass non-text bodies.
        "body": body.decode("utf-8") if text else base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": not text,
    }


def _interactions_handler(cloud: LocalCloud) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_POST(self) -> None:
            target = cloud.routes.get(self.path.split("?", 1)[0])
            if target is None:
                self._answer(404, {"content-type": "application/json"}, b'{"message":"Not Found"}')
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            route = self.path.split("?", 1)[0]
            # The stack's route is POST /slack/interactions; each deployment serves it under its own prefix.
            path = "/" + route.split("/", 2)[-1] if route.count("/") > 2 else route
            event = http_api_event(path, dict(self.headers.items()), body, self.client_address[0])
            account, function_name = target
            response = cloud.client("lambda", account).invoke(FunctionName=function_name, Payload=json.dumps(event))
            payload = json.loads(response["Payload"].read() or b"null")
            if response.get("FunctionError") or not isinstance(payload, dict):
                self._answer(500, {"content-type": "application/json"}, b'{"message":"Internal Server Error"}')
                return
            if "statusCode" not in payload:  # a plain value: API Gateway answers 200 with it as JSON
                self._answer(200, {"content-type": "application/json"}, json.dumps(payload).encode())
                return
            answer = str(payload.get("body") or "")
            data = base64.b64decode(answer) if payload.get("isBase64Encoded") else answer.encode()
            self._answer(int(payload["statusCode"]), dict(payload.get("headers") or {}), data)

        def _answer(self, status: int, headers: Mapping[str, str], data: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                if key.lower() != "content-length":
                    self.send_header(key, str(value))
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
