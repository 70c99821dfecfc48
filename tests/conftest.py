"""Shared test setup: the repository root and the seed code folder are importable."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED_CODE = ROOT / "seed_code"

for path in (ROOT, SEED_CODE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


import pytest  # noqa: E402 - after the path set-up above, which the imports below need

from local.mlflow_server import mlflow_server  # noqa: E402


@pytest.fixture(scope="session")
def mlflow_tracking_uri(tmp_path_factory: pytest.TempPathFactory):
    """One real MLflow server (SQLite, local artifacts) for the whole session."""
    with mlflow_server(tmp_path_factory.mktemp("mlflow")) as uri:
        yield uri


# A real headless Chromium for the browser tests (skips locally without it, fails in CI).
from tests.browser import browser as browser  # noqa: E402
