"""Fixtures of the workflow tests: moto with a running ASL interpreter and fake Lambda functions."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import botocore.loaders
import botocore.session
import pytest
from moto import mock_aws

from tests.workflow.harness import REGION, FakeLambdas, Workflow, default_handlers, forward_task_failure_cause

MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}


@pytest.fixture(scope="session")
def shared_loader() -> botocore.loaders.Loader:
    return botocore.loaders.create_loader()


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> FakeLambdas:
    fake = FakeLambdas()
    fake.handlers.update(default_handlers(fake))
    fake.install(monkeypatch)
    return fake


@pytest.fixture
def workflow(
    monkeypatch: pytest.MonkeyPatch, fakes: FakeLambdas, shared_loader: botocore.loaders.Loader
) -> Iterator[Workflow]:
    # Speed only: moto's interpreter creates a boto3 client per task; one loader reads each service model once.
    monkeypatch.setattr(botocore.session, "create_loader", lambda *_: shared_loader)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "MOTO_ACCOUNT_ID"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    forward_task_failure_cause(monkeypatch)
    with mock_aws(config=MOTO_CONFIG):
        run = Workflow(boto3.client("stepfunctions", region_name=REGION), fakes)
        try:
            yield run
        finally:
            run.stop_running()
