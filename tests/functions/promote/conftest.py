"""Fixtures of the promote and MLflow client tests: the session's real MLflow server (``mlflow_tracking_uri``),
fast retry settings, and a helper that registers model versions the way the build does (with a ``commit`` tag)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import mlflow
import pytest

from functions.common import secrets

# Retries in milliseconds, not seconds; tests that check the default window clear these.
FAST_RETRIES = {
    "MLFLOW_RETRY_BASE_DELAY_SECONDS": "0.05",
    "MLFLOW_RETRY_MAX_DELAY_SECONDS": "0.2",
    "MLFLOW_RETRY_WINDOW_SECONDS": "5",
    "MLFLOW_REQUEST_TIMEOUT_SECONDS": "10",
}
DIGEST = "sha256:" + "b" * 64
IMAGE_URI = f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/serverless-mlops/model@{DIGEST}"
EXECUTION = "arn:aws:states:eu-west-1:123456789012:execution:serverless-mlops-pipeline:model-abc1234"

_commits = (f"{n:040x}" for n in itertools.count(0xC0FFEE))


def new_commit() -> str:
    return next(_commits)


@dataclass
class Models:
    client: mlflow.MlflowClient

    def new_model(self) -> str:
        name = f"promote-test-{uuid.uuid4().hex[:10]}"
        self.client.create_registered_model(name)
        return name

    def register(self, name: str, commit: str | None, digest: str | None = None, rmse: float = 1.25) -> str:
        """A new version of ``name`` tagged like the build does it; returns its number."""
        experiment = self.client.get_experiment_by_name("promote-tests")
        experiment_id = experiment.experiment_id if experiment else self.client.create_experiment("promote-tests")
        run = self.client.create_run(experiment_id)
        self.client.log_metric(run.info.run_id, "rmse", rmse)
        tags = {"commit": commit} if commit else {}
        if digest:
            tags["image_digest"] = digest
        version = self.client.create_model_version(
            name, source=f"runs:/{run.info.run_id}/model", run_id=run.info.run_id, tags=tags
        )
        return str(version.version)

    def alias(self, name: str, alias: str) -> str | None:
        try:
            return str(self.client.get_model_version_by_alias(name, alias).version)
        except mlflow.exceptions.MlflowException:
            return None

    def tags(self, name: str, version: str) -> dict[str, str]:
        return dict(self.client.get_model_version(name, version).tags)


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in FAST_RETRIES.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def mlflow_env(mlflow_tracking_uri: str, monkeypatch: pytest.MonkeyPatch, fast_retries: None) -> Iterator[str]:
    """The functions talk to the real server without a login."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_tracking_uri)
    monkeypatch.delenv("MLFLOW_CREDENTIALS_SECRET_ARN", raising=False)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    secrets.clear_cache()
    yield mlflow_tracking_uri
    secrets.clear_cache()


@pytest.fixture
def models(mlflow_env: str) -> Models:
    return Models(mlflow.MlflowClient(tracking_uri=mlflow_env, registry_uri=mlflow_env))


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "MOTO_ACCOUNT_ID"):
        monkeypatch.delenv(key, raising=False)
