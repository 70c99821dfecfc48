"""The e2e tests' local cloud: one moto server, one MLflow server (basic auth) and one Slack stand-in for every
test of this package (started once, stopped when the package is done, so the moto patches never reach the
other tests). Each test deploys its own model into it, so tests share no function, table, alias or thread."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from local.pipeline.cloud import LocalCloud
from local.pipeline.deployment import Deployment, DeploymentSettings

POLL_SECONDS = 0.05
# A smaller model than the default: the quality gate still passes, training takes a fraction of the time.
FAST_TRAINING = {"N_ESTIMATORS": "60", "LEARNING_RATE": "0.2"}


@pytest.fixture(scope="package")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    with LocalCloud(Path(tmp_path_factory.mktemp("pipeline")), poll_seconds=POLL_SECONDS) as started:
        yield started


@pytest.fixture
def deploy(cloud: LocalCloud) -> Iterator[Callable[..., Deployment]]:
    """Deploy model ``e2e-<name>`` (other ``DeploymentSettings`` as keyword arguments); closed after the test."""
    deployments: list[Deployment] = []

    def create(name: str, **settings: object) -> Deployment:
        name = f"e2e-{name}"
        values: dict[str, object] = {
            "model_name": name,
            "waiter_delay_seconds": 0,
            "build_variables": {**FAST_TRAINING, "MLFLOW_EXPERIMENT_NAME": name},
            **settings,
        }
        deployment = Deployment.create(cloud, DeploymentSettings(**values))  # type: ignore[arg-type]
        deployments.append(deployment)
        return deployment

    yield create
    for deployment in deployments:
        deployment.close()
