"""The whole pipeline in the local cloud: a push to main, the real state machine and handlers, the Slack
approval by signed click. Each test checks what a person would: alias ``live`` of stage and prod, published
versions, the MLflow aliases, the executions, and the messages in the Slack channel."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from local.pipeline.cloud import LocalCloud
from local.pipeline.deployment import LOCAL_APPROVER, SEED_CODE, ApprovalRequest, Deployment
from local.pipeline.summary import build_outputs, message_lines
from local.train_and_serve import SAMPLES

pytestmark = pytest.mark.slow

TIMEOUT = 240  # seconds a run may take to reach a point; a bound for a stuck run, not a measured figure
BOOTSTRAP_VERSION = "1"  # what the stage and prod stacks put on alias live before any deployment


def start_run(deployment: Deployment, folder: Path = SEED_CODE) -> str:
    push = deployment.push(folder, "Train and deploy")
    return deployment.wait_for_execution(push.commit.sha)


def click(deployment: Deployment, request: ApprovalRequest, action: str) -> None:
    answer = deployment.slack_app.click(
        action, request.approval_id, request.message_ts, request.channel, LOCAL_APPROVER
    )
    assert answer.status == 200, answer.body


def message(cloud: LocalCloud, request: ApprovalRequest) -> str:
    return "\n".join(message_lines(cloud.slack.message(request.channel, request.message_ts)))


def thread(deployment: Deployment, execution_arn: str) -> list[str]:
    return ["\n".join(message_lines(m)) for m in deployment.thread(execution_arn)]


def test_an_approved_run_puts_the_built_image_live_in_stage_and_prod_and_moves_both_aliases(
    deploy: Callable[..., Deployment], cloud: LocalCloud
) -> None:
    deployment = deploy("approve")
    run = start_run(deployment)
    request = deployment.wait_for_approval_request(run, TIMEOUT)
    click(deployment, request, "approve")

    assert deployment.wait_until_finished(run, TIMEOUT)["status"] == "SUCCEEDED"
    build = build_outputs(deployment, run)
    version, image = build["modelVersion"], build["imageUri"]
    for environment in ("stage", "prod"):
        live = deployment.live(environment)
        assert live["imageUri"] == image
        assert live["version"] != BOOTSTRAP_VERSION
        assert f"model={version} " in deployment.versions(environment)[live["version"]]
    assert deployment.mlflow_aliases() == {"staging": version, "production": version}
    assert deployment.model_version(version)["tags"]["image_uri"] == image
    # Prod's alias live answers with the new model, through the seed code's handler.
    answer = deployment.invoke_live("prod", {"records": [SAMPLES[0][1]]})
    assert answer["statusCode"] == 200 and f'"modelVersion": "{version}"' in answer["body"]
    assert f"Approved by @{LOCAL_APPROVER}" in message(cloud, request)
    assert f"Succeeded: version {version} is live in production" in thread(deployment, run)[0]


def test_a_rejected_run_leaves_prod_and_the_production_alias_untouched(
    deploy: Callable[..., Deployment], cloud: LocalCloud
) -> None:
    deployment = deploy("reject")
    run = start_run(deployment)
    request = deployment.wait_for_approval_request(run, TIMEOUT)
    click(deployment, request, "reject")

    ended = deployment.wait_until_finished(run, TIMEOUT)
    assert (ended["status"], ended["error"]) == ("FAILED", "Rejected")
    version = build_outputs(deployment, run)["modelVersion"]
    assert deployment.live("prod")["version"] == BOOTSTRAP_VERSION
    assert list(deployment.versions("prod")) == [BOOTSTRAP_VERSION]
    assert deployment.live("stage")["version"] != BOOTSTRAP_VERSION  # stage did get the model
    assert deployment.mlflow_aliases() == {"staging": version}
    assert f"Rejected by @{LOCAL_APPROVER}" in message(cloud, request)
    assert "rejected at approval; production was not touched" in thread(deployment, run)[0]


def test_an_expired_approval_ends_the_run_and_says_so_in_the_message(
    deploy: Callable[..., Deployment], cloud: LocalCloud
) -> None:
    deployment = deploy("expire", approval_timeout_seconds=3)
    run = start_run(deployment)
    request = deployment.wait_for_approval_request(run, TIMEOUT)

    ended = deployment.wait_until_finished(run, TIMEOUT)
    assert (ended["status"], ended["error"]) == ("FAILED", "ApprovalExpired")
    assert "Expired at" in message(cloud, request)
    assert "[Approve]" not in message(cloud, request)
    assert deployment.live("prod")["version"] == BOOTSTRAP_VERSION
    assert "production" not in deployment.mlflow_aliases()
    # A click after the end changes nothing.
    click(deployment, request, "approve")
    assert deployment.live("prod")["version"] == BOOTSTRAP_VERSION


def test_a_repeated_push_event_starts_no_second_execution(deploy: Callable[..., Deployment], cloud: LocalCloud) -> None:
    deployment = deploy("duplicate")
    push = deployment.push(SEED_CODE, "Train and deploy")
    run = deployment.wait_for_execution(push.commit.sha)
    start = deployment.function_names["start"]

    def start_calls() -> int:
        return sum(1 for record in cloud.lambdas.records if record.function == start)

    # EventBridge delivers at least once: the same event again, and the same push under another event ID.
    cloud.events.put(push.event)
    cloud.events.put({**push.event, "id": str(uuid.uuid4())})
    cloud.wait_until(lambda: start_calls() == 3, "the start function to handle every delivery", TIMEOUT)
    assert [e["executionArn"] for e in deployment.executions()] == [run]

    click(deployment, deployment.wait_for_approval_request(run, TIMEOUT), "reject")
    deployment.wait_until_finished(run, TIMEOUT)
    cloud.events.put(push.event)  # after the run closed, too
    cloud.wait_until(lambda: start_calls() == 4, "the start function to handle the late delivery", TIMEOUT)
    assert [e["executionArn"] for e in deployment.executions()] == [run]


def test_a_failing_smoke_test_in_stage_stops_the_run_before_approval(
    deploy: Callable[..., Deployment], tmp_path: Path
) -> None:
    # A commit whose handler fails every request: training and the build pass, the stage smoke test does not.
    broken = Path(shutil.copytree(SEED_CODE, tmp_path / "seed", ignore=shutil.ignore_patterns("__pycache__", "model")))
    with (broken / "inference.py").open("a", encoding="utf-8") as source:
        source.write("\n\ndef handler(event, context):\n    raise ValueError('a bug in the new handler')\n")
    deployment = deploy("smoke")
    run = start_run(deployment, broken)

    ended = deployment.wait_until_finished(run, TIMEOUT)
    assert (ended["status"], ended["error"]) == ("FAILED", "DeployStageFailed")
    assert "SmokeTestFailed" in ended["cause"]
    assert deployment.live("stage")["version"] == BOOTSTRAP_VERSION  # published, tested, never made live
    assert len(deployment.versions("stage")) == 2
    assert deployment.approval_request(run) is None
    assert deployment.live("prod")["version"] == BOOTSTRAP_VERSION
    assert deployment.mlflow_aliases() == {}
    assert "Failed at DeployStage" in thread(deployment, run)[0]


def test_a_newer_commit_supersedes_the_run_waiting_for_approval(
    deploy: Callable[..., Deployment], cloud: LocalCloud
) -> None:
    deployment = deploy("supersede")
    first = start_run(deployment)
    first_request = deployment.wait_for_approval_request(first, TIMEOUT)
    second = start_run(deployment)
    second_request = deployment.wait_for_approval_request(second, TIMEOUT)

    stopped = deployment.wait_until_finished(first, TIMEOUT)
    assert (stopped["status"], stopped["error"]) == ("ABORTED", "Superseded")
    assert "Superseded by" in message(cloud, first_request)
    click(deployment, first_request, "approve")  # too late: nothing happens
    click(deployment, second_request, "approve")
    assert deployment.wait_until_finished(second, TIMEOUT)["status"] == "SUCCEEDED"
    newer = build_outputs(deployment, second)
    assert deployment.live("prod")["imageUri"] == newer["imageUri"]
    assert deployment.mlflow_aliases()["production"] == newer["modelVersion"]
    assert int(newer["modelVersion"]) > int(build_outputs(deployment, first)["modelVersion"])
