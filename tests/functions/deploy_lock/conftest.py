"""Fixtures of the deploy_lock tests: the lock table in moto, shaped as the pipeline component creates it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from functions.deploy_lock import services

REGION = "eu-west-1"
ACCOUNT = "123456789012"
TABLE = "mlops-deploy-locks"


def execution(name: str) -> str:
    return f"arn:aws:states:{REGION}:{ACCOUNT}:execution:mlops-pipeline:{name}"


def status_event(execution_arn: str, status: str) -> dict[str, Any]:
    """An EventBridge "Step Functions Execution Status Change" event, as AWS documents it."""
    return {
        "version": "0",
        "id": "315c1398-40ff-a850-213b-158f73e60175",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": ACCOUNT,
        "time": "2025-01-31T12:00:00Z",
        "region": REGION,
        "resources": [execution_arn],
        "detail": {
            "executionArn": execution_arn,
            "stateMachineArn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:mlops-pipeline",
            "name": execution_arn.rsplit(":", 1)[-1],
            "status": status,
            "startDate": 1738324800000,
            "stopDate": 1738325400000,
            "input": "{}",
            "output": None,
        },
    }


def create_table(client: Any, name: str = TABLE) -> None:
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "lockId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "lockId", "AttributeType": "S"}],
    )


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "MOTO_ACCOUNT_ID"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "LOCK_TABLE_NAME": TABLE,
    }.items():
        monkeypatch.setenv(name, value)
    services.clear_caches()
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        create_table(client)
        yield client
    services.clear_caches()
