"""Fixtures of the deploy function's tests: a fresh fake three-account AWS per test (see ``fake_aws``)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator

import botocore.loaders
import botocore.session
import pytest
from moto import mock_aws

from functions.deploy import lambda_api
from tests.functions.deploy.fake_aws import ACCOUNTS, ALARMS, FUNCTION, REGION, REPOSITORY, FakeAws, deployer_role_arn


@pytest.fixture(scope="session")
def shared_loader() -> botocore.loaders.Loader:
    return botocore.loaders.create_loader()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, shared_loader: botocore.loaders.Loader) -> Iterator[FakeAws]:
    # Speed only: every boto3 session of every test reads the AWS service models once, from one loader.
    monkeypatch.setattr(botocore.session, "create_loader", lambda *_: shared_loader)
    for name in ("MOTO_ACCOUNT_ID", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_LAMBDA_FUNCTION_NAME"):
        monkeypatch.delenv(name, raising=False)
    settings = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "MODEL_REPOSITORY_NAME": REPOSITORY,
        "DEPLOY_TARGETS": json.dumps(
            {
                env: {"roleArn": deployer_role_arn(env), "functionName": FUNCTION, "alarmNames": list(ALARMS)}
                for env in ACCOUNTS
            }
        ),
        # Fast: no waiting between waiter polls or retries.
        "WAITER_DELAY_SECONDS": "0",
        "WAITER_MAX_ATTEMPTS": "3",
        "RETRY_BASE_DELAY_SECONDS": "0",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    lambda_api.clear_caches()
    with warnings.catch_warnings(), mock_aws(config={"lambda": {"use_docker": False}}):
        # moto warns that the injected STS AccessDenied has no error shape in the STS model; it is still sent.
        warnings.filterwarnings("ignore", message="Exception\\(STSClientError\\)", category=UserWarning)
        fake = FakeAws(monkeypatch)
        fake.setup()
        yield fake
    lambda_api.clear_caches()
