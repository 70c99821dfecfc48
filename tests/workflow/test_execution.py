"""The state machine executed by moto's ASL interpreter: which functions run, with what, and how the run ends."""

from __future__ import annotations

import json

import pytest

from functions.deploy.errors import CanaryFailed, DeployTargetError, SmokeTestFailed, Superseded
from tests.workflow.harness import (
    COMMIT,
    IMAGE_URI,
    MODEL_NAME,
    MODEL_VERSION,
    FakeLambdas,
    FunctionFailed,
    Workflow,
    deploy,
    settings,
)

HAPPY_PATH = [
    "notify:started",
    "codebuild",
    "lock:acquire/stage",
    "deploy:deploy/stage",
    "promote:staging",
    "lock:release/stage",
    "request_approval",
    "lock:acquire/prod",
    "deploy:deploy/prod",
    "promote:production",
    "lock:release/prod",
    "notify:succeeded",
]


def _failure_notice(fakes: FakeLambdas) -> dict:
    notices = [payload for payload in fakes.called("notify") if payload["event"] == "failed"]
    assert len(notices) == 1
    return notices[0]


def _prod_calls(fakes: FakeLambdas) -> list[dict]:
    return [payload for payload in fakes.called("deploy") if payload["environment"] == "prod"]


def test_happy_path_builds_deploys_stage_waits_for_approval_then_prod(workflow: Workflow, fakes: FakeLambdas) -> None:
    machine = workflow.create(settings())
    execution = workflow.start(machine)

    workflow.approve("U0ALICE")
    result = workflow.finished(execution)

    assert result["status"] == "SUCCEEDED"
    assert fakes.sequence() == HAPPY_PATH

    (build,) = fakes.called("codebuild")
    assert build["ProjectName"] == "mlops-build"
    assert build["SourceVersion"] == COMMIT
    assert build["EnvironmentVariablesOverride"] == [{"Name": "COMMIT_ID", "Type": "PLAINTEXT", "Value": COMMIT}]

    stage, prod = fakes.called("deploy")
    expected = {"imageUri": IMAGE_URI, "modelVersion": MODEL_VERSION, "commit": COMMIT, "executionId": execution}
    assert stage == {"action": "deploy", "environment": "stage", **expected}
    assert prod == {"action": "deploy", "environment": "prod", **expected}

    staging, production = fakes.called("promote")
    assert staging == {"alias": "staging", "modelName": MODEL_NAME, **expected}
    # The approver who let the model into prod is recorded on the version.
    assert production == {"alias": "production", "modelName": MODEL_NAME, "approver": "U0ALICE", **expected}

    (approval,) = fakes.called("request_approval")
    assert approval["taskToken"] == fakes.tokens[0]
    assert approval["executionId"] == execution
    assert approval["executionName"] == "run-1"
    assert approval["stage"] == deploy(stage)  # the stage deployment's outcome, as the deploy function returned it
    assert approval["slack"] == {"channel": "C0PIPELINE", "ts": "1700000000.000100"}  # NotifyStarted's answer
    assert {k: approval[k] for k in ("modelName", "modelVersion", "commit", "imageUri")} == {
        "modelName": MODEL_NAME,
        "modelVersion": MODEL_VERSION,
        "commit": COMMIT,
        "imageUri": IMAGE_URI,
    }

    started, succeeded = fakes.called("notify")
    assert started["run"]["commit"] == COMMIT and started["run"]["author"].endswith("user/alice")
    assert succeeded["event"] == "succeeded"
    assert succeeded["approval"] == {"decision": "approved", "approver": "U0ALICE"}
    assert succeeded["prod"]["liveVersion"] == "8"
    assert succeeded["build"]["buildId"].startswith("mlops-build:")

    output = json.loads(result["output"])
    assert output["build"] == {
        "modelVersion": MODEL_VERSION,
        "imageUri": IMAGE_URI,
        "buildId": "mlops-build:00000000-0000-0000-0000-000000000001",
    }
    assert output["stage"]["output"]["liveVersion"] == "8"
    assert output["approval"]["decision"] == "approved"


def test_rejection_ends_the_run_without_touching_prod(workflow: Workflow, fakes: FakeLambdas) -> None:
    execution = workflow.start(workflow.create(settings()))

    workflow.reject("Rejected by U0BOB: recall dropped")
    result = workflow.finished(execution)

    assert result["status"] == "FAILED"
    assert result["error"] == "Rejected"
    assert "recall dropped" in result["cause"]
    assert _prod_calls(fakes) == []
    assert [p["alias"] for p in fakes.called("promote")] == ["staging"]
    notice = _failure_notice(fakes)
    assert (notice["step"], notice["outcome"]) == ("Approval", "Rejected")
    assert notice["error"] == {"Error": "ApprovalRejected", "Cause": "Rejected by U0BOB: recall dropped"}


def test_an_answer_that_is_not_approved_is_a_rejection(workflow: Workflow, fakes: FakeLambdas) -> None:
    execution = workflow.start(workflow.create(settings()))

    workflow.sfn.send_task_success(taskToken=workflow.token(), output=json.dumps({"decision": "maybe"}))
    result = workflow.finished(execution)

    assert (result["status"], result["error"]) == ("FAILED", "Rejected")
    assert _prod_calls(fakes) == []
    assert _failure_notice(fakes)["error"]["Error"] == "NotApproved"


def test_approval_timeout_expires_the_run_without_touching_prod(workflow: Workflow, fakes: FakeLambdas) -> None:
    execution = workflow.start(workflow.create(settings(approval_timeout_seconds=1)))

    result = workflow.finished(execution)

    assert (result["status"], result["error"]) == ("FAILED", "ApprovalExpired")
    assert "No decision within 1 s" in result["cause"]
    request, expire = fakes.called("request_approval")
    assert request["taskToken"]
    assert expire == {"action": "expire", "executionArn": execution, "error": "ApprovalExpired"}
    assert _prod_calls(fakes) == []
    notice = _failure_notice(fakes)
    assert (notice["step"], notice["outcome"], notice["error"]["Error"]) == (
        "Approval",
        "ApprovalExpired",
        "States.Timeout",
    )
    # The message in Slack can say so: the notice names the run and its thread.
    assert notice["slack"] == {"channel": "C0PIPELINE", "ts": "1700000000.000100"}
    assert notice["executionId"] == execution


def test_approval_expires_even_when_closing_the_message_fails(workflow: Workflow, fakes: FakeLambdas) -> None:
    request_approval = fakes.handlers["mlops-request-approval"]

    def expire_fails(event: dict) -> dict:
        if event.get("action") == "expire":
            raise RuntimeError("DynamoDB unavailable")
        return request_approval(event)

    fakes.handlers["mlops-request-approval"] = expire_fails
    execution = workflow.start(workflow.create(settings(approval_timeout_seconds=1)))

    result = workflow.finished(execution)

    assert (result["status"], result["error"]) == ("FAILED", "ApprovalExpired")
    assert _failure_notice(fakes)["run"]["expireError"]["Error"] == "RuntimeError"


def test_stage_smoke_test_failure_stops_before_the_approval(workflow: Workflow, fakes: FakeLambdas) -> None:
    def stage_fails(event: dict) -> dict:
        if event["environment"] == "stage":
            raise SmokeTestFailed("stage: smoke test of version 8 failed: expected statusCode 200, got 500")
        return deploy(event)

    fakes.handlers["mlops-deploy"] = stage_fails
    execution = workflow.start(workflow.create(settings()))

    result = workflow.finished(execution)

    assert (result["status"], result["error"]) == ("FAILED", "DeployStageFailed")
    assert "DeployStage failed" in result["cause"] and "SmokeTestFailed" in result["cause"]
    assert fakes.sequence() == [
        "notify:started",
        "codebuild",
        "lock:acquire/stage",
        "deploy:deploy/stage",
        "lock:release",  # every lock the run holds
        "notify:failed",
    ]
    notice = _failure_notice(fakes)
    assert (notice["step"], notice["outcome"]) == ("DeployStage", "DeployStageFailed")
    assert notice["error"]["Error"] == "SmokeTestFailed"
    assert "expected statusCode 200" in json.loads(notice["error"]["Cause"])["errorMessage"]
    assert notice["run"]["build"]["modelVersion"] == MODEL_VERSION  # what had been done, for the message


def test_superseded_in_prod_ends_as_superseded(workflow: Workflow, fakes: FakeLambdas) -> None:
    def prod_is_newer(event: dict) -> dict:
        if event["environment"] == "prod":
            raise Superseded("prod (...): alias live serves version 9 with model 4, newer than model 3 of this run")
        return deploy(event)

    fakes.handlers["mlops-deploy"] = prod_is_newer
    execution = workflow.start(workflow.create(settings()))
    workflow.approve()

    result = workflow.finished(execution)

    assert (result["status"], result["error"]) == ("FAILED", "Superseded")
    assert result["cause"].startswith("DeployProd found a newer model")
    assert "promote:production" not in fakes.sequence()
    assert _failure_notice(fakes)["outcome"] == "Superseded"


def test_lambda_service_errors_are_retried_and_domain_errors_are_not(workflow: Workflow, fakes: FakeLambdas) -> None:
    attempts = {"promote": 0}

    def flaky_promote(event: dict) -> dict:
        attempts["promote"] += 1
        if attempts["promote"] == 1:
            raise FunctionFailed("Lambda.ServiceException", "Service unavailable")
        return {"alias": event["alias"]}

    def target_error(event: dict) -> dict:
        raise DeployTargetError("stage: AccessDenied assuming the deployer role")

    fakes.handlers["mlops-promote"] = flaky_promote
    machine = workflow.create(settings())
    execution = workflow.start(machine)
    workflow.approve()
    assert workflow.finished(execution)["status"] == "SUCCEEDED"
    assert [p["alias"] for p in fakes.called("promote")] == ["staging", "staging", "production"]

    fakes.handlers["mlops-deploy"] = target_error
    second = workflow.start(machine, name="run-2")
    result = workflow.finished(second)
    assert (result["status"], result["error"]) == ("FAILED", "DeployStageFailed")
    assert len([p for p in fakes.called("deploy") if p["executionId"] == second]) == 1


@pytest.mark.parametrize(
    "exported",
    [
        [{"Name": "MODEL_VERSION", "Value": ""}, {"Name": "IMAGE_URI", "Value": IMAGE_URI}],
        [{"Name": "MODEL_VERSION", "Value": "3"}, {"Name": "IMAGE_URI", "Value": "repo.example/models:latest"}],
    ],
    ids=["empty-model-version", "image-by-tag"],
)
def test_build_with_unusable_outputs_fails_before_any_deployment(
    workflow: Workflow, fakes: FakeLambdas, exported: list
) -> None:
    fakes.handlers["mlops-fake-codebuild"] = lambda event: {
        "Build": {"Id": "b:1", "ExportedEnvironmentVariables": exported}
    }
    execution = workflow.start(workflow.create(settings()))

    result = workflow.finished(execution)

    assert (result["status"], result["error"]) == ("FAILED", "BuildFailed")
    assert fakes.called("deploy") == []
    assert _failure_notice(fakes)["error"]["Error"] == "BuildOutputsMissing"


def test_build_without_exported_outputs_fails_before_any_deployment(workflow: Workflow, fakes: FakeLambdas) -> None:
    fakes.handlers["mlops-fake-codebuild"] = lambda event: {"Build": {"Id": "b:1", "ExportedEnvironmentVariables": []}}
    execution = workflow.start(workflow.create(settings()))

    result = workflow.finished(execution)

    assert (result["status"], result["error"]) == ("FAILED", "BuildFailed")
    assert fakes.called("deploy") == []
    # AWS (Jayway JsonPath) gives an empty list for a filter without matches, which CheckBuildOutputs refuses;
    # moto raises in the ResultSelector instead, which Build's Catch reports. Either way: BuildFailed.
    assert _failure_notice(fakes)["error"]["Error"] in ("BuildOutputsMissing", "Exception")


def test_a_failing_notify_never_changes_the_outcome(workflow: Workflow, fakes: FakeLambdas) -> None:
    def slack_down(event: dict) -> dict:
        raise RuntimeError("slack_sdk.errors.SlackApiError: invalid_auth")

    fakes.handlers["mlops-notify"] = slack_down
    machine = workflow.create(settings())
    execution = workflow.start(machine)
    workflow.approve()
    assert workflow.finished(execution)["status"] == "SUCCEEDED"
    approval = fakes.called("request_approval")[0]
    assert approval["slack"] is None  # no thread: request_approval posts a new message

    fakes.tokens.clear()
    second = workflow.start(machine, name="run-2")
    workflow.reject()
    assert workflow.finished(second)["error"] == "Rejected"


# ------------------------------------------------------------------------------------------ canary


def test_canary_waits_then_promotes_the_new_version(workflow: Workflow, fakes: FakeLambdas) -> None:
    execution = workflow.start(workflow.create(settings(canary_percent=10, canary_wait_seconds=1)))
    workflow.approve()

    result = workflow.finished(execution)

    assert result["status"] == "SUCCEEDED"
    assert fakes.sequence() == [
        *HAPPY_PATH[:8],
        "deploy:deploy/prod",
        "deploy:promote/prod",
        "promote:production",
        "lock:release/prod",
        "notify:succeeded",
    ]
    prod_deploy, prod_promote = _prod_calls(fakes)
    assert prod_deploy["canaryPercent"] == 10
    assert {k: prod_promote[k] for k in ("functionVersion", "previousVersion", "shiftedAt")} == {
        "functionVersion": "8",
        "previousVersion": "7",
        "shiftedAt": "2025-01-01T12:00:00Z",
    }
    assert prod_promote["imageUri"] == IMAGE_URI and prod_promote["executionId"] == execution
    waited = fakes.time_of("deploy", action="promote") - fakes.time_of("deploy", action="deploy", environment="prod")
    assert waited >= 0.9  # the Wait state ran in between
    succeeded = fakes.called("notify")[-1]
    assert succeeded["prod"]["action"] == "promote" and succeeded["prod"]["liveVersion"] == "8"


def test_canary_failure_rolls_back_and_fails_the_run(workflow: Workflow, fakes: FakeLambdas) -> None:
    def canary_fails(event: dict) -> dict:
        if event["action"] == "promote":
            raise CanaryFailed("prod: alarm mlops-prod-errors is in ALARM since the shift")
        return deploy(event)

    fakes.handlers["mlops-deploy"] = canary_fails
    execution = workflow.start(workflow.create(settings(canary_percent=25, canary_wait_seconds=0)))
    workflow.approve()

    result = workflow.finished(execution)

    assert (result["status"], result["error"]) == ("FAILED", "CanaryRolledBack")
    assert "alarm mlops-prod-errors" in result["cause"]
    rollback = _prod_calls(fakes)[-1]
    assert rollback["action"] == "rollback"
    assert (rollback["functionVersion"], rollback["previousVersion"]) == ("8", "7")
    assert "promote:production" not in fakes.sequence()
    notice = _failure_notice(fakes)
    assert (notice["step"], notice["outcome"], notice["error"]["Error"]) == (
        "PromoteCanary",
        "CanaryRolledBack",
        "CanaryFailed",
    )
    assert notice["run"]["rollback"]["output"]["liveVersion"] == "7"


def test_a_failed_rollback_says_so(workflow: Workflow, fakes: FakeLambdas) -> None:
    def nothing_works(event: dict) -> dict:
        if event["action"] == "promote":
            raise CanaryFailed("prod: 3 errors of version 8 since the shift")
        if event["action"] == "rollback":
            raise DeployTargetError("prod: AccessDenied on lambda:UpdateAlias")
        return deploy(event)

    fakes.handlers["mlops-deploy"] = nothing_works
    execution = workflow.start(workflow.create(settings(canary_percent=10, canary_wait_seconds=0)))
    workflow.approve()

    result = workflow.finished(execution)

    assert (result["status"], result["error"]) == ("FAILED", "RollbackFailed")
    assert "AccessDenied" in result["cause"]
    notice = _failure_notice(fakes)
    assert (notice["step"], notice["error"]["Error"]) == ("RollbackCanary", "DeployTargetError")
    assert notice["run"]["error"]["Error"] == "CanaryFailed"  # the reason for the rollback is still there


@pytest.mark.parametrize("noop_output", [{"noop": True}, {"canaryPercent": None}])
def test_no_canary_when_prod_already_runs_the_image(workflow: Workflow, fakes: FakeLambdas, noop_output: dict) -> None:
    def already_live(event: dict) -> dict:
        result = deploy(event)
        if event["environment"] == "prod" and event["action"] == "deploy":
            result = {k: v for k, v in result.items() if k not in ("canaryPercent", "shiftedAt")}
            result.update({**noop_output, "liveVersion": "8"})
        return result

    fakes.handlers["mlops-deploy"] = already_live
    execution = workflow.start(workflow.create(settings(canary_percent=10, canary_wait_seconds=0)))
    workflow.approve()

    assert workflow.finished(execution)["status"] == "SUCCEEDED"
    assert "deploy:promote/prod" not in fakes.sequence()
