"""The structured logger: one JSON object per line, the execution ID on every line, no credentials."""

from __future__ import annotations

import io
import json

import pytest

from functions.common.logging import Logger


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_one_json_object_per_line_with_the_standard_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "serverless-mlops-delivery-time-deploy")
    stream = io.StringIO()
    log = Logger("deploy", stream=stream).bind(executionId="arn:aws:states:eu-west-1:1:execution:sm:run-7")

    log.info("alias moved", functionVersion="3")
    log.error("action failed", ValueError("boom"), environment="stage")

    first, second = lines(stream)
    assert first["level"] == "INFO" and first["message"] == "alias moved"
    assert first["function"] == "serverless-mlops-delivery-time-deploy"
    assert first["executionId"] == "arn:aws:states:eu-west-1:1:execution:sm:run-7"
    assert first["functionVersion"] == "3"
    assert first["timestamp"].endswith("+00:00")
    assert (second["errorType"], second["errorMessage"], second["environment"]) == ("ValueError", "boom", "stage")


def test_credentials_are_never_written() -> None:
    stream = io.StringIO()
    response = {
        "Credentials": {"AccessKeyId": "ASIAEXAMPLE", "SecretAccessKey": "s3cr3t", "SessionToken": "t0k3n"},
        "AssumedRoleUser": {"Arn": "arn:aws:sts::222222222222:assumed-role/deployer/run-7"},
    }

    Logger("deploy", stream=stream).info("assumed", response=response, nested=[{"aws_secret_access_key": "x"}])

    text = stream.getvalue()
    assert "s3cr3t" not in text and "t0k3n" not in text and "ASIAEXAMPLE" not in text
    record = lines(stream)[0]
    assert record["response"]["Credentials"] == "***"
    assert record["response"]["AssumedRoleUser"]["Arn"].endswith("run-7")
    assert record["nested"] == [{"aws_secret_access_key": "***"}]


def test_level_filters_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    stream = io.StringIO()
    log = Logger("deploy", stream=stream)

    log.info("not shown")
    log.warning("shown")

    assert [line["message"] for line in lines(stream)] == ["shown"]
