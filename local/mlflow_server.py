"""A real MLflow tracking server and model registry on loopback: SQLite and a local artifact folder."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from local.processes import free_port, running


def _mlflow_command() -> str:
    # The mlflow executable of the interpreter running us, so the server and clients share one version.
    candidate = Path(sys.executable).parent / "mlflow"
    return str(candidate) if candidate.exists() else "mlflow"


@contextlib.contextmanager
def mlflow_server(workdir: Path, *, port: int | None = None, timeout_seconds: float = 90.0) -> Iterator[str]:
    """Serve MLflow from ``workdir`` (database, artifacts, log) until the block ends; yields its URL."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
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
    with running(
        command, health_url=f"{url}/health", log=workdir / "server.log", env=env, timeout_seconds=timeout_seconds
    ):
        yield url
