"""Settings and events of request_approval: each bad value names its field, and the task token never appears."""

from __future__ import annotations

import pytest

from functions.request_approval.errors import ApprovalConfigError, ApprovalInputError
from functions.request_approval.models import (
    MAX_METRICS,
    ApprovalRequest,
    ExpireRequest,
    load_settings,
    parse_event,
    parse_metrics,
    parse_thread,
)

ARN = "arn:aws:states:eu-west-1:123456789012:execution:pipeline:run-abc"
TOKEN = "AQB8AAAAKgAAAAMAAAAAAAAAAf" + "z" * 300
ENV = {
    "APPROVALS_TABLE": "approvals",
    "SLACK_BOT_TOKEN_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:bot-AbCdEf",
    "SLACK_CHANNEL_ID": "C0123456789",
    "APPROVAL_TIMEOUT_SECONDS": "86400",
}


def event(**overrides: object) -> dict:
    value = {
        "taskToken": TOKEN,
        "executionId": ARN,
        "modelName": "delivery-time",
        "modelVersion": "7",
        "commit": "0123abcd" * 5,
        "imageUri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/repo@sha256:" + "a" * 64,
        "stage": {"functionVersion": "12", "previousVersion": "11"},
        "metrics": {"rmse": 1.2},
    }
    value.update(overrides)
    return {key: item for key, item in value.items() if item is not None}


def test_a_request_is_read_into_a_typed_object() -> None:
    request = parse_event(event(executionName=None, author="  Alice   Example ", productionMetrics=None))
    assert isinstance(request, ApprovalRequest)
    assert request.execution_name == "run-abc"  # from the ARN when not given
    assert (request.model_version, request.short_commit, request.stage_version) == ("7", "0123abc", "12")
    assert request.author == "Alice Example"
    assert request.production_metrics == {}
    assert TOKEN not in repr(request)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"taskToken": None}, "taskToken"),
        ({"taskToken": "has space"}, "taskToken"),
        ({"taskToken": "x" * 3000}, "taskToken"),
        ({"executionId": "run-abc"}, "executionId"),
        ({"modelName": None}, "modelName"),
        ({"modelVersion": "seven"}, "modelVersion"),
        ({"commit": "HEAD"}, "commit"),
        ({"imageUri": ""}, "imageUri"),
        ({"stage": "ok"}, "stage"),
        ({"metrics": [1, 2]}, "metrics"),
        ({"mlflowRunUrl": "javascript:alert(1)"}, "mlflowRunUrl"),
        ({"mlflowRunUrl": "https://mlflow.example.com/x|click here"}, "mlflowRunUrl"),
    ],
)
def test_a_bad_field_is_named_and_the_token_is_not_echoed(overrides: dict, field: str) -> None:
    with pytest.raises(ApprovalInputError, match=f"^{field}:") as error:
        parse_event(event(**overrides))
    assert TOKEN not in str(error.value)
    assert "has space" not in str(error.value)


PROMOTION = {
    "alias": "staging",
    "modelVersion": "7",
    "metrics": {"test_mae": 2.6},
    "productionVersion": "6",
    "productionMetrics": {"test_mae": 2.9},
    "mlflowRunUrl": "https://mlflow.example.com/#/experiments/1/runs/abc",
}


def test_the_promotion_of_staging_supplies_the_metrics_and_the_run_link() -> None:
    request = parse_event(event(metrics=None, promotion=PROMOTION))

    assert request.metrics == {"test_mae": 2.6} and request.production_metrics == {"test_mae": 2.9}
    assert request.mlflow_run_url == PROMOTION["mlflowRunUrl"]
    # Fields given on their own win over the promotion's.
    assert parse_event(event(promotion=PROMOTION)).metrics == {"rmse": 1.2}


def test_a_promotion_report_that_does_not_parse_is_left_out_not_refused() -> None:
    broken = {"metrics": "many", "productionMetrics": [1], "mlflowRunUrl": "javascript:alert(1)"}

    request = parse_event(event(metrics=None, promotion=broken))

    assert (request.metrics, request.production_metrics, request.mlflow_run_url) == ({}, {}, None)
    assert parse_event(event(metrics=None, promotion="not an object")).metrics == {}


def test_metrics_keep_finite_numbers_only() -> None:
    metrics = parse_metrics(
        {"rmse": 1.5, "r2": "0.9", "flag": True, "nan": float("nan"), "text": "high", "bad name!": 1, 3: 4}, "metrics"
    )
    assert metrics == {"rmse": 1.5, "r2": 0.9}
    assert len(parse_metrics({f"m{i}": i for i in range(50)}, "metrics")) == MAX_METRICS


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"action": "expire", "executionArn": ARN}, ExpireRequest(ARN, "run ended")),
        (
            {"action": "expire", "executionId": ARN, "error": "States.Timeout"},
            ExpireRequest(ARN, "run ended (States.Timeout)"),
        ),
        ({"action": "expire"}, ExpireRequest(None, "timeout")),
        (
            {
                "detail-type": "Step Functions Execution Status Change",
                "detail": {"executionArn": ARN, "status": "ABORTED"},
            },
            ExpireRequest(ARN, "execution aborted"),
        ),
    ],
)
def test_expire_events(value: dict, expected: ExpireRequest) -> None:
    assert parse_event(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        {"action": "expire", "executionArn": "not-an-arn"},
        {"detail-type": "Step Functions Execution Status Change", "detail": {}},
        {"action": "approve"},
        ["not", "an", "object"],
    ],
)
def test_bad_events_are_refused(value: object) -> None:
    with pytest.raises(ApprovalInputError):
        parse_event(value)


def test_settings() -> None:
    settings = load_settings({**ENV, "MLFLOW_UI_URL": "https://mlflow.example.com/", "RUNS_TABLE": "runs"})
    assert settings.timeout_seconds == 86400
    assert settings.mlflow_ui_url == "https://mlflow.example.com"
    assert settings.runs_table == "runs"
    assert load_settings(ENV).slack_api_url is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("APPROVALS_TABLE", ""),
        ("SLACK_BOT_TOKEN_SECRET_ARN", ""),
        ("SLACK_CHANNEL_ID", "#mlops"),
        ("APPROVAL_TIMEOUT_SECONDS", "soon"),
        ("APPROVAL_TIMEOUT_SECONDS", "0"),
        ("MLFLOW_UI_URL", "mlflow.internal"),
    ],
)
def test_a_bad_setting_is_named(name: str, value: str) -> None:
    with pytest.raises(ApprovalConfigError, match=f"^{name}:"):
        load_settings({**ENV, name: value})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"channel": "C0123456789", "ts": "1700000000.000100"}, ("1700000000.000100", "C0123456789")),
        ({"threadTs": "1700000000.000100"}, ("1700000000.000100", None)),
        ("1700000000.000100", ("1700000000.000100", None)),
        ({"ts": "not a ts"}, (None, None)),
        (None, (None, None)),
        (42, (None, None)),
    ],
)
def test_the_runs_thread(value: object, expected: tuple) -> None:
    assert parse_thread(value) == expected
    request = parse_event(event(slack=value))
    assert (request.thread_ts, request.thread_channel) == expected
