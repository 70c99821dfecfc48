"""Fixtures for the seed code: a model saved the way train.py logs it, without an MLflow server."""

from __future__ import annotations

from pathlib import Path

import dataset
import mlflow.sklearn
import pytest
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
