"""What the deploy function counts: every action whose event was read, per environment and outcome."""

from __future__ import annotations

import pytest

from functions.deploy.errors import DeployInputError, SmokeTestFailed
from tests.functions.deploy.fake_aws import STATE_MACHINE, FakeAws, execution_arn
from tests.functions.emf import dimension_sets, metric_lines


def test_a_deployment_is_counted_per_pipeline_and_environment(aws: FakeAws, capsys: pytest.CaptureFixture[str]) -> None:
    image = aws.push_image("7")
    aws.run("deploy", "stage", image)
    aws.run("deploy", "prod", image)

    output = capsys.readouterr().out
    assert metric_lines(output, "DeploymentsFailed") == []
    stage, prod = metric_lines(output, "DeploymentsSucceeded")
    assert [(line["Environment"], line["DeploymentsSucceeded"]) for line in (stage, prod)] == [
        ("stage", 1),
        ("prod", 1),
    ]
    assert dimension_sets(stage) == [["Pipeline", "Environment"]]
    assert (stage["Pipeline"], stage["executionId"], stage["action"]) == (
        STATE_MACHINE,
        execution_arn("run-7"),
        "deploy",
    )


def test_a_failed_deployment_is_counted_with_its_error(aws: FakeAws, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SmokeTestFailed):
        aws.run("deploy", "stage", aws.push_image("7", behaviour="crash"))

    output = capsys.readouterr().out
    assert metric_lines(output, "DeploymentsSucceeded") == []
    [line] = metric_lines(output, "DeploymentsFailed")
    assert (line["Environment"], line["errorType"], line["executionId"]) == (
        "stage",
        "SmokeTestFailed",
        execution_arn("run-7"),
    )


def test_an_event_that_cannot_be_read_counts_nothing(aws: FakeAws, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(DeployInputError):
        aws.call({"action": "deploy", "environment": "qa"})

    assert metric_lines(capsys.readouterr().out, "DeploymentsFailed") == []
