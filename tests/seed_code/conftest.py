"""Fixtures for the seed code: the sample data, a model saved the way train.py logs it (no MLflow server),
fake AWS credentials for moto, and the parsed buildspec."""

from __future__ import annotations

from pathlib import Path

import dataset
import mlflow.sklearn
import pytest
import yaml
from model_files import SKOPS_TRUSTED_TYPES
from sklearn.ensemble import GradientBoostingRegressor

DATA = Path(__file__).resolve().parents[2] / "seed_code" / "data" / "deliveries.csv"


@pytest.fixture(scope="session")
def deliveries() -> dataset.Dataset:
    return dataset.load(DATA)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory, deliveries: dataset.Dataset) -> Path:
    model = GradientBoostingRegressor(n_estimators=30, max_depth=3, random_state=0)
    model.fit(deliveries.features, deliveries.target)
    path = tmp_path_factory.mktemp("model") / "model"
    mlflow.sklearn.save_model(model, str(path), serialization_format="skops", skops_trusted_types=SKOPS_TRUSTED_TYPES)
    return path


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> str:
    """Fake credentials and a region for moto; nothing reaches a real account. Returns the region."""
    region = "eu-west-1"
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_ECR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    monkeypatch.setenv("AWS_REGION", region)
    return region


BUILDSPEC = Path(__file__).resolve().parents[2] / "seed_code" / "buildspec.yml"


@pytest.fixture(scope="session")
def buildspec() -> dict:
    return yaml.safe_load(BUILDSPEC.read_text())
