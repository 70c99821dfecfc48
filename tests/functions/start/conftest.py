"""Fixtures of the start function's tests: a push event, and moto with one (non-executing) state machine."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from functions.start import sfn_api

REGION = "eu-west-1"
ACCOUNT = "123456789012"
COMMIT = "6f1d2c3b4a5968778695a4b3c2d1e0f9a8b7c6d5"
REPOSITORY = "delivery-time-model"
EVENT: dict[str, Any] = {
    "version": "0",
    "id": "0f8a3c1e-1111-2222-3333-444455556666",
    "detail-type": "CodeCommit Repository State Change",
    "source": "aws.codecommit",
    "account": ACCOUNT,
    "time": "2025-01-31T12:00:00Z",
    "region": REGION,
    "resources": [f"arn:aws:codecommit:{REGION}:{ACCOUNT}:{REPOSITORY}"],
    "detail": {
        "callerUserArn": f"arn:aws:iam::{ACCOUNT}:user/alice",
        "commitId": COMMIT,
        "event": "referenceUpdated",
        "oldCommitId": "1" * 40,
        "referenceFullName": "refs/heads/main",
        "referenceName": "main",
        "referenceType": "branch",
        "repositoryId": "12345678-1234-1234-1234-123456789012",
        "repositoryName": REPOSITORY,
    },
}


def push_event(**detail: Any) -> dict[str, Any]:
    event = copy.deepcopy(EVENT)
    event["detail"].update(detail)
    return event


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "MOTO_ACCOUNT_ID", "AWS_LAMBDA_FUNCTION_NAME", "BRANCH"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def sfn(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Step Functions in moto with the pipeline's state machine; STATE_MACHINE_ARN points at it. moto does not
    execute it here, so an execution stays RUNNING until it is stopped."""
    sfn_api.clear_caches()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": False}}):
        client = boto3.client("stepfunctions", region_name=REGION)
        machine = client.create_state_machine(
            name="mlops-pipeline",
            definition='{"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}',
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/mlops-pipeline",
        )
        monkeypatch.setenv("STATE_MACHINE_ARN", machine["stateMachineArn"])
        yield client
    sfn_api.clear_caches()


def executions(client: Any) -> list[dict[str, Any]]:
    machines = client.list_state_machines()["stateMachines"]
    return client.list_executions(stateMachineArn=machines[0]["stateMachineArn"])["executions"]
