"""The EMF writer: the exact line CloudWatch Logs receives, checked against the specification's structure."""

from __future__ import annotations

import io
import json

import pytest

from functions.common import metrics
from functions.common.metrics import Metric
from tests.functions.emf import dimension_sets, emf_lines, problems

EXECUTION = "arn:aws:states:eu-west-1:111111111111:execution:serverless-mlops-delivery-time-pipeline:run-7"
NOW = 1767225600.123  # 2026-01-01T00:00:00.123Z


def write(*args: object, **kwargs: object) -> tuple[str, dict]:
    stream = io.StringIO()
    returned = metrics.emit(*args, stream=stream, clock=lambda: NOW, **kwargs)  # type: ignore[arg-type]
    return stream.getvalue(), returned


def test_one_line_of_the_exact_emf_shape() -> None:
    text, returned = write(
        [Metric("RunsFailed", 1), Metric("ApprovalWaitTime", 12.5, "Seconds")],
        {"Pipeline": "delivery-time-pipeline", "Step": "DeployStage"},
        dimension_sets=[["Pipeline"], ["Pipeline", "Step"]],
        properties={"executionId": EXECUTION, "outcome": "DeployStageFailed"},
    )

    assert text.endswith("\n") and text.count("\n") == 1
    line = json.loads(text)
    assert (
        line
        == returned
        == {
            "_aws": {
                "Timestamp": 1767225600123,
                "CloudWatchMetrics": [
                    {
                        "Namespace": "ServerlessMlops/Pipeline",
                        "Dimensions": [["Pipeline"], ["Pipeline", "Step"]],
                        "Metrics": [
                            {"Name": "RunsFailed", "Unit": "Count"},
                            {"Name": "ApprovalWaitTime", "Unit": "Seconds"},
                        ],
                    }
                ],
            },
            "Pipeline": "delivery-time-pipeline",
            "Step": "DeployStage",
            "RunsFailed": 1,
            "ApprovalWaitTime": 12.5,
            "executionId": EXECUTION,
            "outcome": "DeployStageFailed",
        }
    )
    assert problems(line) == []


def test_without_dimension_sets_all_dimensions_form_one_set() -> None:
    _, line = write([Metric("RunsStarted", 1)], {"Pipeline": "p", "Environment": "stage"})
    assert dimension_sets(line) == [["Pipeline", "Environment"]]


def test_a_line_goes_to_stdout_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    metrics.emit([Metric("RunsStarted", 1)], {"Pipeline": "p"})
    [line] = emf_lines(capsys.readouterr().out)
    assert line["RunsStarted"] == 1 and problems(line) == []


def test_one_hundred_metrics_fit_in_a_line_and_one_more_does_not() -> None:
    hundred = [Metric(f"M{i}", i) for i in range(100)]
    _, line = write(hundred, {"Pipeline": "p"})
    assert problems(line) == [] and line["M99"] == 99
    with pytest.raises(ValueError, match="1 to 100 per line"):
        write([*hundred, Metric("M100", 1)], {"Pipeline": "p"})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("DeployStage", "DeployStage"),
        ("  Étape\tprod\n", "?tape?prod"),
        ("x" * 2000, "x" * 1024),
        ("", "Unknown"),
        ("   ", "Unknown"),
        (None, "Unknown"),
        (7, "7"),
    ],
)
def test_dimension_values_from_events_are_made_valid(value: object, expected: str) -> None:
    _, line = write([Metric("RunsFailed", 1)], {"Pipeline": "p", "Step": value})
    assert line["Step"] == expected
    assert problems(line) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metrics": [Metric("RunsFailed", 1, "Runs")]}, "unit of RunsFailed"),
        ({"metrics": [Metric("RunsFailed", float("nan"))]}, "finite number"),
        ({"metrics": [Metric("RunsFailed", True)]}, "finite number"),
        ({"metrics": [Metric("RunsFailed", 1), Metric("RunsFailed", 2)]}, "each name once"),
        ({"metrics": [Metric("", 1)]}, "metric name"),
        ({"metrics": []}, "1 to 100 per line"),
        ({"namespace": "AWS/Lambda"}, "namespace"),
        ({"namespace": "Serverless Mlops"}, "namespace"),
        ({"dimensions": {":Pipeline": "p"}}, "must not start with ':'"),
        ({"dimensions": {"Pipeline": "p", "RunsFailed": "x"}}, "also a metric's name"),
        ({"dimension_sets": [["Pipeline", "Step"]]}, r"no value for \['Step'\]"),
        ({"dimension_sets": [["Pipeline", "Pipeline"]]}, "distinct names"),
        ({"properties": {"Pipeline": "other"}}, "would overwrite"),
        ({"properties": {"_aws": {}}}, "would overwrite"),
    ],
)
def test_a_line_that_cloudwatch_would_reject_is_refused(kwargs: dict, message: str) -> None:
    arguments = {"metrics": [Metric("RunsFailed", 1)], "dimensions": {"Pipeline": "p"}, **kwargs}
    with pytest.raises(ValueError, match=message):
        metrics.document(timestamp_ms=1, **arguments)


def test_more_than_thirty_dimensions_in_a_set_are_refused() -> None:
    dimensions = {f"D{i}": "v" for i in range(31)}
    with pytest.raises(ValueError, match="at most 30"):
        metrics.document([Metric("RunsFailed", 1)], dimensions, timestamp_ms=1)
    _, line = write([Metric("RunsFailed", 1)], dict(list(dimensions.items())[:30]))
    assert problems(line) == []


def test_credentials_in_properties_are_masked() -> None:
    _, line = write([Metric("RunsStarted", 1)], {"Pipeline": "p"}, properties={"taskToken": "AQB8secret"})
    assert line["taskToken"] == "***"


@pytest.mark.parametrize(
    ("execution", "pipeline"),
    [
        (EXECUTION, "serverless-mlops-delivery-time-pipeline"),
        ("arn:aws:states:eu-west-1:111111111111:express:sm:run-7:abc", "sm"),
        ("arn:aws-cn:states:cn-north-1:111111111111:execution:sm-cn:run-7", "sm-cn"),
        ("manual-c0ffee", "Unknown"),
        ("arn:aws:states:eu-west-1:111111111111:stateMachine:sm", "Unknown"),
        (None, "Unknown"),
    ],
)
def test_the_pipeline_dimension_is_the_state_machine_of_the_execution(execution: str | None, pipeline: str) -> None:
    assert metrics.pipeline_of(execution) == pipeline


def test_a_failed_run_is_counted_per_pipeline_step_and_outcome_never_per_execution(
    capsys: pytest.CaptureFixture[str],
) -> None:
    metrics.run_failed(EXECUTION, "DeployStage", "DeployStageFailed", commit="abc1234")

    [line] = emf_lines(capsys.readouterr().out)
    assert problems(line) == []
    assert dimension_sets(line) == [["Pipeline"], ["Pipeline", "Step"], ["Pipeline", "Outcome"]]
    assert (line["Pipeline"], line["Step"], line["Outcome"]) == (
        "serverless-mlops-delivery-time-pipeline",
        "DeployStage",
        "DeployStageFailed",
    )
    assert line["RunsFailed"] == 1
    # The execution ID is a property for Logs Insights, never a dimension (one custom metric per run).
    assert line["executionId"] == EXECUTION and line["commit"] == "abc1234"
    assert all("executionId" not in keys for keys in dimension_sets(line))


def test_a_failed_run_without_a_step_is_still_counted(capsys: pytest.CaptureFixture[str]) -> None:
    metrics.run_failed(EXECUTION, None, None)
    [line] = emf_lines(capsys.readouterr().out)
    assert (line["Step"], line["Outcome"]) == ("Unknown", "Unknown") and problems(line) == []


def test_an_approval_wait_is_in_seconds_and_never_negative(capsys: pytest.CaptureFixture[str]) -> None:
    metrics.approval_waited(EXECUTION, 754.25, "approved")
    metrics.approval_waited(EXECUTION, -3, "expired")  # clocks of two machines a little apart

    waited, skewed = emf_lines(capsys.readouterr().out)
    assert waited["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [{"Name": "ApprovalWaitTime", "Unit": "Seconds"}]
    assert (waited["ApprovalWaitTime"], waited["Decision"]) == (754.25, "approved")
    assert (skewed["ApprovalWaitTime"], skewed["Decision"]) == (0.0, "expired")
    assert dimension_sets(waited) == [["Pipeline"], ["Pipeline", "Decision"]]


def test_a_deployment_is_counted_per_environment(capsys: pytest.CaptureFixture[str]) -> None:
    metrics.deployment_finished(EXECUTION, "prod", succeeded=True, action="deploy")
    metrics.deployment_finished("manual-c0ffee", "prod", succeeded=False, action="rollback", errorType="AliasChanged")

    done, failed = emf_lines(capsys.readouterr().out)
    assert (done["DeploymentsSucceeded"], done["Environment"], done["Pipeline"]) == (
        1,
        "prod",
        "serverless-mlops-delivery-time-pipeline",
    )
    assert (failed["DeploymentsFailed"], failed["Pipeline"], failed["errorType"]) == (1, "Unknown", "AliasChanged")
    assert "DeploymentsSucceeded" not in failed
    assert problems(done) == problems(failed) == []
