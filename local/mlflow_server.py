"""A real MLflow tracking server and model registry on loopback: SQLite and a local artifact folder.

With ``basic_auth`` the server runs as it does in the tooling account (``--app-name basic-auth``, the
``default_permission`` READ, a credential cache): the admin is created from the auth config file on the first
start, which is written readable by this user only, and the users live in a SQLite file next to the tracking
database. A second start on the same folder must pass the same admin password (MLflow only creates the admin
once); ``local.pipeline`` keeps its logins in a 0600 file of the folder for that reason.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from local.processes import free_port, running


@dataclass(frozen=True)
class BasicAuth:
    admin_username: str
    admin_password: str = field(repr=False)
    # As the tooling stack's server (infra/images/mlflow/mlflow_start.py): signed-in users read everything and
    # change only what they created or were granted.
    default_permission: str = "READ"
    # Without the cache every request pays a password hash (~0.1 s of CPU).
    cache_seconds: int = 60


def _mlflow_command() -> str:
    # The mlflow executable of the interpreter running us, so the server and clients share one version.
    candidate = Path(sys.executable).parent / "mlflow"
    return str(candidate) if candidate.exists() else "mlflow"


def _ini_value(value: str) -> str:
    # configparser interpolates "%"; the values are ours, but a password may hold one.
    return value.replace("%", "%%")


def write_auth_config(workdir: Path, auth: BasicAuth) -> Path:
    """The basic-auth config file, 0600: it holds the admin password."""
    path = workdir / "basic_auth.ini"
    database = f"sqlite:///{workdir / 'basic_auth.db'}"
    text = "\n".join(
        [
            "[mlflow]",
            f"default_permission = {auth.default_permission}",
            f"database_uri = {_ini_value(database)}",
            f"admin_username = {_ini_value(auth.admin_username)}",
            f"admin_password = {_ini_value(auth.admin_password)}",
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth",
            f"auth_cache_ttl_seconds = {auth.cache_seconds}",
            "",
        ]
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    path.chmod(0o600)
    return path


def server_command(workdir: Path, port: int, basic_auth: BasicAuth | None = None) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of an MLflow server kept in ``workdir`` (which must exist)."""
    command = [
        _mlflow_command(),
        "server",
        "--backend-store-uri",
        f"sqlite:///{workdir / 'mlflow.db'}",
        "--artifacts-destination",
        str(workdir / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    if basic_auth is not None:
        command += ["--app-name", "basic-auth"]
        env["MLFLOW_AUTH_CONFIG_PATH"] = str(write_auth_config(workdir, basic_auth))
        # Flask's key for the auth UI's CSRF tokens; a new one per start only signs the user out of the UI.
        env["MLFLOW_FLASK_SERVER_SECRET_KEY"] = secrets.token_hex(32)
    return command, env


@contextlib.contextmanager
def mlflow_server(
    workdir: Path,
    *,
    port: int | None = None,
    timeout_seconds: float = 90.0,
    basic_auth: BasicAuth | None = None,
) -> Iterator[str]:
    """Serve MLflow from ``workdir`` (database, artifacts, log) until the block ends; yields its URL."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    command, env = server_command(workdir, port, basic_auth)
    with running(
        command, health_url=f"{url}/health", log=workdir / "server.log", env=env, timeout_seconds=timeout_seconds
    ):
        yield url
