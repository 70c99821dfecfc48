"""The definition as data: its shape, and ``check_definition`` catching each kind of mistake."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

import functions.deploy.errors as deploy_errors
from infra import workflow
from infra.workflow import (
    APPROVAL,
    BUILD,
    CANARY_STARTED,
    DEPLOY_PROD,
    LAMBDA_SERVICE_ERRORS,
    PROMOTE_CANARY,
    ROLLBACK_CANARY,
    WAIT_CANARY,
    WorkflowSettings,
    check_definition,
    definition,
    replace_build_resource,
    state_names,
)
from tests.workflow.harness import ARNS, settings

SETTINGS = [
    settings(),
    settings(canary_percent=10, canary_wait_seconds=600),
    settings(canary_percent=99, canary_wait_seconds=0, approval_timeout_seconds=7 * 24 * 3600),
    WorkflowSettings(build_project="b", model_name="m"),
]


@pytest.mark.parametrize("workflow_settings", SETTINGS, ids=["default", "canary", "max-canary", "defaults"])
def test_definitions_have_no_problems(workflow_settings: WorkflowSettings) -> None:
    built = definition(ARNS, workflow_settings)

    assert check_definition(built) == []
    assert json.loads(json.dumps(built)) == built  # plain JSON data


def test_the_main_flow_reads_in_order() -> None:
    names = state_names(definition(ARNS, settings()))
    main = ["Prepare", "NotifyStarted", "Build", "CheckBuildOutputs", "ReadBuildOutputs", "AcquireStageLock"]
    main += ["DeployStage", "PromoteStaging", "ReleaseStageLock", "Approval", "CheckApproval", "AcquireProdLock"]
    main += ["DeployProd", "PromoteProduction", "ReleaseProdLock", "Notify", "Succeeded"]
    assert names[: len(main)] == main
    assert {"Rejected", "ApprovalExpired", "Superseded", "Failed", "ReleaseLocks", "NotifyFailure"} <= set(names)


def test_canary_states_exist_only_with_a_canary() -> None:
    canary_states = {CANARY_STARTED, WAIT_CANARY, PROMOTE_CANARY, ROLLBACK_CANARY, "CanaryRolledBack"}
    without = definition(ARNS, settings(canary_percent=0))
    with_canary = definition(ARNS, settings(canary_percent=10, canary_wait_seconds=300))

    assert canary_states.isdisjoint(state_names(without))
    assert "canaryPercent" not in without["States"][DEPLOY_PROD]["Parameters"]["Payload"]
    assert canary_states <= set(state_names(with_canary))
    assert with_canary["States"][DEPLOY_PROD]["Parameters"]["Payload"]["canaryPercent"] == 10
    assert with_canary["States"][DEPLOY_PROD]["Next"] == CANARY_STARTED
    assert with_canary["States"][WAIT_CANARY]["Seconds"] == 300
    assert with_canary["States"][PROMOTE_CANARY]["Catch"][0] == {
        "ErrorEquals": ["CanaryFailed"],
        "ResultPath": "$.error",
        "Next": ROLLBACK_CANARY,
    }


def test_build_state_starts_the_project_at_the_commit_and_reads_the_exports() -> None:
    build = definition(ARNS, settings())["States"][BUILD]

    assert build["Resource"] == "arn:aws:states:::codebuild:startBuild.sync"
    assert build["Parameters"]["ProjectName"] == "mlops-build"
    assert build["Parameters"]["SourceVersion.$"] == "$.commit"
    assert build["Parameters"]["EnvironmentVariablesOverride"] == [
        {"Name": "COMMIT_ID", "Type": "PLAINTEXT", "Value.$": "$.commit"}
    ]
    assert build["ResultSelector"]["modelVersion.$"].endswith("[?(@.Name=='MODEL_VERSION')].Value")
    assert build["ResultPath"] == "$.build"


def test_approval_waits_for_the_token_with_a_timeout_and_no_heartbeat() -> None:
    approval = definition(ARNS, settings(approval_timeout_seconds=3600))["States"][APPROVAL]

    assert approval["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert approval["TimeoutSeconds"] == 3600
    assert "HeartbeatSeconds" not in approval
    assert approval["Parameters"]["Payload"]["taskToken.$"] == "$$.Task.Token"
    assert [c["ErrorEquals"] for c in approval["Catch"]] == [
        ["ApprovalRejected"],
        ["States.Timeout"],
        ["Superseded"],
        ["States.ALL"],
    ]


def test_lambda_tasks_retry_only_lambda_service_errors_with_backoff() -> None:
    built = definition(ARNS, settings(canary_percent=5))
    lambda_tasks = [s for s in built["States"].values() if s.get("Resource", "").startswith(workflow.LAMBDA_INVOKE)]

    assert len(lambda_tasks) == 16
    for state in lambda_tasks:
        retrier = state["Retry"][-1]
        assert state["Retry"][:-1] == ([lock_wait_retrier(built)] if "acquire" in json.dumps(state) else [])
        assert retrier["ErrorEquals"] == list(LAMBDA_SERVICE_ERRORS)
        assert (retrier["IntervalSeconds"], retrier["BackoffRate"], retrier["JitterStrategy"]) == (2, 2.0, "FULL")
        assert 4 <= retrier["MaxAttempts"] <= 6
        assert isinstance(state["TimeoutSeconds"], int)


def lock_wait_retrier(built: dict[str, Any]) -> dict[str, Any]:
    return built["States"]["AcquireStageLock"]["Retry"][0]


def test_a_busy_lock_is_retried_steadily_for_longer_than_a_lease() -> None:
    workflow_settings = settings(canary_percent=5, lock_retry_seconds=20)
    built = definition(ARNS, workflow_settings)

    for name in ("AcquireStageLock", "AcquireProdLock"):
        busy = built["States"][name]["Retry"][0]
        assert busy == {
            "ErrorEquals": ["LockBusy"],
            "IntervalSeconds": 20,
            "BackoffRate": 1.0,
            "MaxAttempts": workflow_settings.lock_wait_attempts,
        }
        assert busy["IntervalSeconds"] * busy["MaxAttempts"] > workflow_settings.lock_lease_seconds
        assert built["States"][name]["Parameters"]["Payload"]["leaseSeconds"] == workflow_settings.lock_lease_seconds
    # The lease covers the longest hold: the prod deploy, the canary wait, its promotion and the MLflow alias.
    assert workflow_settings.lock_lease_seconds > (
        2 * workflow_settings.deploy_timeout_seconds
        + workflow_settings.canary_wait_seconds
        + workflow_settings.task_timeout_seconds
    )


def test_every_failure_path_releases_the_runs_locks_before_it_reports() -> None:
    built = definition(ARNS, settings(canary_percent=5))
    records = [name for name in state_names(built) if name.startswith("Record")]

    assert records and all(built["States"][name]["Next"] == "ReleaseLocks" for name in records)
    release = built["States"]["ReleaseLocks"]
    assert release["Parameters"]["Payload"] == {"action": "release", "executionId.$": "$$.Execution.Id"}
    assert release["Next"] == release["Catch"][0]["Next"] == "NotifyFailure"  # a failed release never stops it


def test_domain_error_names_match_the_functions() -> None:
    assert issubclass(getattr(deploy_errors, workflow.SUPERSEDED), deploy_errors.DeployError)
    assert issubclass(getattr(deploy_errors, workflow.CANARY_FAILED), deploy_errors.DeployError)


def test_replace_build_resource_changes_only_the_codebuild_state() -> None:
    built = definition(ARNS, settings())
    local = replace_build_resource(built, "arn:aws:lambda:eu-west-1:123456789012:function:fake-build")

    assert local["States"][BUILD]["Resource"] == "arn:aws:lambda:eu-west-1:123456789012:function:fake-build"
    assert built["States"][BUILD]["Resource"] == "arn:aws:states:::codebuild:startBuild.sync"  # not mutated
    changed = [name for name in state_names(built) if built["States"][name] != local["States"][name]]
    assert changed == [BUILD]


def test_intrinsic_strings_are_refused_when_they_would_not_parse() -> None:
    with pytest.raises(ValueError, match="intrinsic function's string"):
        workflow._failure_cause("the model {name} was rejected")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"canary_percent": 100}, "canary_percent"),
        ({"canary_percent": -1}, "canary_percent"),
        ({"approval_timeout_seconds": 0}, "approval_timeout_seconds"),
        ({"canary_wait_seconds": -5}, "canary_wait_seconds"),
        ({"build_project": ""}, "build_project"),
        ({"deploy_timeout_seconds": True}, "deploy_timeout_seconds"),
        ({"lock_retry_seconds": 0}, "lock_retry_seconds"),
    ],
)
def test_settings_are_validated(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        settings(**overrides)


# ------------------------------------------------------------------------------ check_definition


def _break(change: Callable[[dict[str, Any]], None], **setting_overrides: Any) -> list[str]:
    broken = copy.deepcopy(definition(ARNS, settings(**setting_overrides)))
    change(broken["States"])
    return check_definition(broken)


def _set(state: str, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(states: dict[str, Any]) -> None:
        states[state][key] = value

    return change


def _drop(state: str, key: str) -> Callable[[dict[str, Any]], None]:
    return lambda states: states[state].pop(key)


BROKEN: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "next-to-nowhere": (_set("DeployStage", "Next", "PromoteStagin"), "Next 'PromoteStagin' is not a state"),
    "default-to-nowhere": (_set("CheckApproval", "Default", "Nope"), "Default 'Nope' is not a state"),
    "catch-to-nowhere": (
        lambda s: s["DeployProd"]["Catch"][-1].update(Next="Gone"),
        "Catch[1].Next 'Gone' is not a state",
    ),
    "choice-to-nowhere": (
        lambda s: s["CheckApproval"]["Choices"][1].update(Next="Prod"),
        "Choices[1].Next 'Prod' is not a state",
    ),
    "unreachable": (lambda s: s.update(Orphan={"Type": "Pass", "End": True}), "'Orphan': not reachable"),
    "task-without-timeout": (_drop("PromoteStaging", "TimeoutSeconds"), "'PromoteStaging': Task without Timeout"),
    "approval-without-timeout": (_drop("Approval", "TimeoutSeconds"), "callback task (waitForTaskToken) needs"),
    "approval-without-token": (
        lambda s: s["Approval"]["Parameters"]["Payload"].pop("taskToken.$"),
        "a callback task must pass $$.Task.Token",
    ),
    "heartbeat-not-below-timeout": (_set("Approval", "HeartbeatSeconds", 30), "HeartbeatSeconds (30) must be less"),
    "no-retry": (_drop("DeployStage", "Retry"), "'DeployStage': Lambda task does not retry Lambda.ServiceException"),
    "partial-retry": (
        lambda s: s["Notify"]["Retry"][0]["ErrorEquals"].remove("Lambda.TooManyRequestsException"),
        "does not retry Lambda.TooManyRequestsException",
    ),
    "retries-domain-error": (
        lambda s: s["DeployStage"]["Retry"][0]["ErrorEquals"].append("SmokeTestFailed"),
        "retries SmokeTestFailed",
    ),
    "retries-everything": (
        lambda s: s["DeployProd"]["Retry"].append({"ErrorEquals": ["States.ALL"], "MaxAttempts": 3}),
        "retries States.ALL",
    ),
    "retry-without-backoff": (
        lambda s: s["Notify"]["Retry"][0].update(BackoffRate=1.0),
        "needs IntervalSeconds >= 1 and BackoffRate > 1",
    ),
    "lock-wait-with-backoff": (
        lambda s: s["AcquireProdLock"]["Retry"][0].update(BackoffRate=2.0),
        "'AcquireProdLock': Retry[0] waits for a lock: needs IntervalSeconds >= 1 and BackoffRate 1",
    ),
    "lock-wait-gives-up-at-once": (
        lambda s: s["AcquireStageLock"]["Retry"][0].update(MaxAttempts=1),
        "'AcquireStageLock': Retry[0] waits for a lock: MaxAttempts should be at least 2, got 1",
    ),
    "catch-drops-input": (
        lambda s: s["Build"]["Catch"][0].update(ResultPath=None),
        "'Build': Catch[0] ResultPath is None",
    ),
    "catch-replaces-input": (
        lambda s: s["DeployStage"]["Catch"][0].update(ResultPath="$"),
        "'DeployStage': Catch[0] ResultPath is '$'",
    ),
    "catch-without-states-all": (
        lambda s: s["PromoteProduction"]["Catch"].pop(),
        "'PromoteProduction': no Catch for States.ALL",
    ),
    "states-all-not-last": (
        lambda s: s["Approval"]["Catch"].reverse(),
        "States.ALL must be alone and in the last Catch entry",
    ),
    "next-and-end": (_set("ReadBuildOutputs", "End", True), "'ReadBuildOutputs': needs exactly one of Next and End"),
    "choice-without-default": (_drop("CheckApproval", "Default"), "'CheckApproval': Choice without Default"),
    "unknown-type": (_set("Prepare", "Type", "Parallelism"), "unknown Type 'Parallelism'"),
    "wait-without-seconds": (_drop("WaitCanary", "Seconds"), "Wait without Seconds"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_check_definition_catches_each_mistake(case: str) -> None:
    change, expected = BROKEN[case]

    problems = _break(change, canary_percent=10)

    assert any(expected in problem for problem in problems), problems


def test_check_definition_needs_a_start_and_an_end() -> None:
    built = definition(ARNS, settings())
    no_start = {**built, "StartAt": "Begin"}
    only_loop = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "A"}}}

    assert "StartAt 'Begin' is not a state" in check_definition(no_start)
    assert "no terminal state (Succeed, Fail or End: true)" in check_definition(only_loop)
    assert check_definition({"States": {}}) == ["the definition has no States"]
