"""The pipeline's state machine (Amazon States Language, JSONPath) as a pure function of ARNs and settings.

``definition(arns, settings)`` returns the definition as a dict; the pipeline component serialises it once
(``Output.all(...).apply(lambda v: json.dumps(definition(...)))``). Each state is built by a small helper, so
the flow below reads like the diagram in design.md section 1:

    Prepare → NotifyStarted → Build → CheckBuildOutputs → ReadBuildOutputs → AcquireStageLock → DeployStage
    → PromoteStaging → ReleaseStageLock → Approval → CheckApproval → AcquireProdLock → DeployProd
    [→ CanaryStarted → WaitCanary → PromoteCanary] → PromoteProduction → ReleaseProdLock → Notify → Succeeded

Deploys to one environment are serialized by the deploy_lock function: a run holds ``deploy/<environment>``
from before its deploy until the alias is promoted in MLflow, and a run that finds the lock taken fails its
acquire with ``LockBusy``, which the state retries every ``lock_retry_seconds`` for longer than a lease can
last. Whichever run goes second, the deploy function's monotonic rule keeps the newer model: an older one ends
as ``Superseded``. Locks are released on every path: the two Release states, ``ReleaseLocks`` on the failure
path, and the cleanup rule on the execution's end (a stopped or timed-out run runs no Catch).

Every failure is caught with ``ResultPath: "$.error"`` (the run's data is kept), recorded by a Pass state as
``$.failure = {"step", "outcome", "error"}`` (an expired approval is first closed by ``ExpireApproval``),
its locks released by ``ReleaseLocks``, reported by ``NotifyFailure``, and ends in a Fail state named
after the outcome: ``Rejected``, ``ApprovalExpired``, ``Superseded``, ``CanaryRolledBack``, ``RollbackFailed``,
or ``Failed`` (Error ``<Step>Failed``). Rejection, expiry and an approval without ``decision: approved`` never
reach ``DeployProd``. A failing notification never changes the outcome of a run.

Slack: the notify function is called three times per run, not after every step: at the start (its answer,
the thread reference, is kept in ``$.slack.thread`` and passed to every later notify and to request_approval),
on failure (which step, which error) and at the end (the summary). The approval message in between reports
the stage deployment and is the one that asks for action. Those are the moments a person acts on; a message
per step would add six more tasks, each a way to slow or break a run, to say what the console's graph and the
execution-status events (EventBridge → SNS → Chatbot) already show.

``check_definition(definition)`` returns the problems of a definition (moto and CreateStateMachine accept a
``Next`` that points nowhere, a state nobody reaches, a task without a timeout); tests assert it is empty.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# ------------------------------------------------------------------------------------------- resources

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
LAMBDA_INVOKE_WAIT = "arn:aws:states:::lambda:invoke.waitForTaskToken"
CODEBUILD_START_BUILD_SYNC = "arn:aws:states:::codebuild:startBuild.sync"

# ---------------------------------------------------------------------------------------------- errors

STATES_ALL = "States.ALL"
STATES_TIMEOUT = "States.Timeout"
# Errors of the Lambda service itself (the function may not have run): the only ones a Lambda task retries.
LAMBDA_SERVICE_ERRORS: tuple[str, ...] = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
)
# Errors the functions raise on purpose (the class names in functions/deploy/errors.py, and the error that
# slack_interactions sends with SendTaskFailure). Retrying them would only repeat the same answer.
SUPERSEDED = "Superseded"
CANARY_FAILED = "CanaryFailed"
APPROVAL_REJECTED = "ApprovalRejected"
LOCK_BUSY = "LockBusy"

RETRY_INTERVAL_SECONDS = 2
RETRY_BACKOFF_RATE = 2.0
RETRY_MAX_ATTEMPTS = 5
RETRY_MAX_DELAY_SECONDS = 30

# ----------------------------------------------------------------------------------------- state names

PREPARE = "Prepare"
ACQUIRE_STAGE_LOCK = "AcquireStageLock"
RELEASE_STAGE_LOCK = "ReleaseStageLock"
ACQUIRE_PROD_LOCK = "AcquireProdLock"
RELEASE_PROD_LOCK = "ReleaseProdLock"
RELEASE_LOCKS = "ReleaseLocks"
NOTIFY_STARTED = "NotifyStarted"
BUILD = "Build"
CHECK_BUILD_OUTPUTS = "CheckBuildOutputs"
READ_BUILD_OUTPUTS = "ReadBuildOutputs"
DEPLOY_STAGE = "DeployStage"
PROMOTE_STAGING = "PromoteStaging"
APPROVAL = "Approval"
CHECK_APPROVAL = "CheckApproval"
DEPLOY_PROD = "DeployProd"
CANARY_STARTED = "CanaryStarted"
WAIT_CANARY = "WaitCanary"
PROMOTE_CANARY = "PromoteCanary"
ROLLBACK_CANARY = "RollbackCanary"
PROMOTE_PRODUCTION = "PromoteProduction"
NOTIFY = "Notify"
SUCCEEDED = "Succeeded"
EXPIRE_APPROVAL = "ExpireApproval"
NOTIFY_FAILURE = "NotifyFailure"
FAILURE_OUTCOME = "FailureOutcome"

# Fail states (their names are also the Error of the execution, except ``Failed``: ``<Step>Failed``).
REJECTED = "Rejected"
APPROVAL_EXPIRED = "ApprovalExpired"
CANARY_ROLLED_BACK = "CanaryRolledBack"
ROLLBACK_FAILED = "RollbackFailed"
FAILED = "Failed"

# The MLflow aliases (design.md: conventions).
STAGING_ALIAS = "staging"
PRODUCTION_ALIAS = "production"

STATE_TYPES = frozenset({"Task", "Pass", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map"})
MAX_TIMEOUT_SECONDS = 99_999_999  # the largest TimeoutSeconds Step Functions accepts (about 3 years)


# ---------------------------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class WorkflowArns:
    """The Lambda functions the workflow invokes (ARNs, unqualified: ``$LATEST``)."""

    deploy: str
    promote: str
    request_approval: str
    notify: str
    lock: str


@dataclass(frozen=True)
class WorkflowSettings:
    """What the stack config decides. Timeouts are the task's limits in Step Functions: keep each at least the
    function's own timeout (the deploy function needs 15 minutes) and the build's at least the project's."""

    build_project: str
    model_name: str
    approval_timeout_seconds: int = 24 * 3600
    canary_percent: int = 0
    canary_wait_seconds: int = 600
    build_timeout_seconds: int = 2 * 3600
    deploy_timeout_seconds: int = 960
    task_timeout_seconds: int = 330
    # How often a run waiting for an environment's deploy lock tries again.
    lock_retry_seconds: int = 30

    @property
    def lock_lease_seconds(self) -> int:
        """How long a run may hold a deploy lock: the longest stretch between acquire and release (prod: deploy,
        canary wait, promote or rollback, then the MLflow alias), plus ten minutes for retries."""
        return 3 * self.deploy_timeout_seconds + self.canary_wait_seconds + 2 * self.task_timeout_seconds + 600

    @property
    def lock_wait_attempts(self) -> int:
        """Retries of a busy lock that outlast one full lease, so a waiting run gives up only on a stuck holder."""
        return -(-(self.lock_lease_seconds + self.lock_retry_seconds) // self.lock_retry_seconds)

    def __post_init__(self) -> None:
        problems = settings_problems(self)
        if problems:
            raise ValueError("; ".join(problems))


def settings_problems(settings: WorkflowSettings) -> list[str]:
    problems: list[str] = []
    if not settings.build_project:
        problems.append("build_project: the CodeBuild project name is empty")
    if not settings.model_name:
        problems.append("model_name: the registered model name is empty")
    for name in ("approval_timeout_seconds", "build_timeout_seconds", "deploy_timeout_seconds", "task_timeout_seconds"):
        value = getattr(settings, name)
        if not _is_int(value) or not 1 <= value <= MAX_TIMEOUT_SECONDS:
            problems.append(f"{name}: expected whole seconds from 1 to {MAX_TIMEOUT_SECONDS}, got {value!r}")
    if not _is_int(settings.canary_percent) or not 0 <= settings.canary_percent <= 99:
        problems.append(f"canary_percent: expected 0 (no canary) to 99, got {settings.canary_percent!r}")
    if not _is_int(settings.lock_retry_seconds) or not 1 <= settings.lock_retry_seconds <= 3600:
        problems.append(
            f"lock_retry_seconds: expected whole seconds from 1 to 3600, got {settings.lock_retry_seconds!r}"
        )
    if not _is_int(settings.canary_wait_seconds) or not 0 <= settings.canary_wait_seconds <= MAX_TIMEOUT_SECONDS:
        problems.append(f"canary_wait_seconds: expected whole seconds >= 0, got {settings.canary_wait_seconds!r}")
    return problems


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# ------------------------------------------------------------------------------------- state helpers


def with_retry(
    state: Mapping[str, Any],
    errors: Sequence[str] = LAMBDA_SERVICE_ERRORS,
    *,
    interval_seconds: int = RETRY_INTERVAL_SECONDS,
    backoff_rate: float = RETRY_BACKOFF_RATE,
    max_attempts: int = RETRY_MAX_ATTEMPTS,
) -> dict[str, Any]:
    """``state`` with one retrier for ``errors``: exponential backoff, full jitter, capped delay."""
    retrier = {
        "ErrorEquals": list(errors),
        "IntervalSeconds": interval_seconds,
        "BackoffRate": backoff_rate,
        "MaxAttempts": max_attempts,
        "MaxDelaySeconds": RETRY_MAX_DELAY_SECONDS,
        "JitterStrategy": "FULL",
    }
    return {**state, "Retry": [*state.get("Retry", []), retrier]}


def catch_to(next_state: str, errors: Sequence[str] = (STATES_ALL,), result_path: str = "$.error") -> dict[str, Any]:
    """A Catch entry: on ``errors`` go to ``next_state`` with the error at ``result_path`` (input kept)."""
    return {"ErrorEquals": list(errors), "ResultPath": result_path, "Next": next_state}


def with_catch(state: Mapping[str, Any], *catchers: Mapping[str, Any]) -> dict[str, Any]:
    return {**state, "Catch": [*state.get("Catch", []), *catchers]}


def lambda_task(
    function_arn: str,
    payload: Mapping[str, Any],
    *,
    next_state: str,
    result_path: str | None,
    timeout_seconds: int,
    wait_for_token: bool = False,
    result_selector: Mapping[str, Any] | None = None,
    comment: str | None = None,
) -> dict[str, Any]:
    """A ``lambda:invoke`` task (or ``.waitForTaskToken``) that retries the Lambda service's own errors.

    A plain invoke stores ``{"output": <the function's return value>}`` at ``result_path`` unless
    ``result_selector`` says otherwise; a callback task stores what SendTaskSuccess sent, as is.
    """
    state: dict[str, Any] = {"Type": "Task"}
    if comment:
        state["Comment"] = comment
    state["Resource"] = LAMBDA_INVOKE_WAIT if wait_for_token else LAMBDA_INVOKE
    state["Parameters"] = {"FunctionName": function_arn, "Payload": dict(payload)}
    if not wait_for_token and result_path is not None:
        state["ResultSelector"] = dict(result_selector or {"output.$": "$.Payload"})
    state["ResultPath"] = result_path
    state["TimeoutSeconds"] = timeout_seconds
    state["Next"] = next_state
    return with_retry(state)


def codebuild_task(project: str, *, next_state: str, timeout_seconds: int) -> dict[str, Any]:
    """Start the build at the pushed commit and wait for it; keep what the buildspec exports.

    ``ExportedEnvironmentVariables`` is a list of ``{Name, Value}``; a filter expression (full JsonPath is
    allowed in ResultSelector) picks each by name and yields a one-element list, which ``ReadBuildOutputs``
    unwraps with ``States.ArrayGetItem`` after ``CheckBuildOutputs`` made sure both are there.
    """
    exported = "$.Build.ExportedEnvironmentVariables"
    return {
        "Type": "Task",
        "Comment": "Train, register and package the model at the pushed commit (seed_code/buildspec.yml)",
        "Resource": CODEBUILD_START_BUILD_SYNC,
        "Parameters": {
            "ProjectName": project,
            "SourceVersion.$": "$.commit",
            "EnvironmentVariablesOverride": [{"Name": "COMMIT_ID", "Type": "PLAINTEXT", "Value.$": "$.commit"}],
        },
        "ResultSelector": {
            "modelVersion.$": f"{exported}[?(@.Name=='MODEL_VERSION')].Value",
            "imageUri.$": f"{exported}[?(@.Name=='IMAGE_URI')].Value",
            "buildId.$": "$.Build.Id",
        },
        "ResultPath": "$.build",
        "TimeoutSeconds": timeout_seconds,
        "Next": next_state,
    }


def pass_state(
    next_state: str,
    *,
    result_path: str,
    parameters: Mapping[str, Any] | None = None,
    result: Any = None,
    comment: str | None = None,
) -> dict[str, Any]:
    state: dict[str, Any] = {"Type": "Pass"}
    if comment:
        state["Comment"] = comment
    if parameters is not None:
        state["Parameters"] = dict(parameters)
    else:
        state["Result"] = result
    state["ResultPath"] = result_path
    state["Next"] = next_state
    return state


def fail_state(
    *, error: str | None = None, error_path: str | None = None, cause: str | None = None, cause_path: str | None = None
) -> dict[str, Any]:
    state: dict[str, Any] = {"Type": "Fail"}
    for key, value in (("Error", error), ("ErrorPath", error_path), ("Cause", cause), ("CausePath", cause_path)):
        if value is not None:
            state[key] = value
    return state


def _failure_cause(text: str) -> str:
    """CausePath: ``<text>: <the recorded error as JSON>``."""
    if any(reserved in text for reserved in "'{}\\"):
        raise ValueError(f"an intrinsic function's string may not contain ' {{ }} or \\ unescaped: {text!r}")
    return f"States.Format('{text}: {{}}', States.JsonToString($.failure.error))"


# --------------------------------------------------------------------------------------- payloads


def _run_payload(settings: WorkflowSettings) -> dict[str, Any]:
    return {
        "executionId.$": "$$.Execution.Id",
        "executionName.$": "$$.Execution.Name",
        "modelName": settings.model_name,
    }


def _image_payload() -> dict[str, Any]:
    return {
        "modelVersion.$": "$.build.modelVersion",
        "imageUri.$": "$.build.imageUri",
        "commit.$": "$.commit",
        "executionId.$": "$$.Execution.Id",
    }


def deploy_payload(action: str, environment: str, **extra: Any) -> dict[str, Any]:
    """The deploy function's event (functions/deploy/README.md)."""
    return {"action": action, "environment": environment, **_image_payload(), **extra}


def promote_payload(alias: str, settings: WorkflowSettings) -> dict[str, Any]:
    return {"alias": alias, "modelName": settings.model_name, **_image_payload()}


def lock_payload(action: str, environment: str | None, settings: WorkflowSettings) -> dict[str, Any]:
    """The deploy_lock function's event (functions/deploy_lock/README.md); no environment releases both."""
    payload: dict[str, Any] = {"action": action, "executionId.$": "$$.Execution.Id"}
    if environment:
        payload["environment"] = environment
    if action == "acquire":
        payload.update({"leaseSeconds": settings.lock_lease_seconds, "modelVersion.$": "$.build.modelVersion"})
    return payload


def acquire_lock_state(
    lock_arn: str, environment: str, settings: WorkflowSettings, *, next_state: str, on_failure: str
) -> dict[str, Any]:
    """Take ``deploy/<environment>``; while another run holds it, retry ``LockBusy`` at a steady pace."""
    state = lambda_task(
        lock_arn,
        lock_payload("acquire", environment, settings),
        next_state=next_state,
        result_path=None,
        timeout_seconds=settings.task_timeout_seconds,
        comment=f"Wait until no other run deploys to {environment}, then hold its deploy lock",
    )
    busy = {
        "ErrorEquals": [LOCK_BUSY],
        "IntervalSeconds": settings.lock_retry_seconds,
        "BackoffRate": 1.0,
        "MaxAttempts": settings.lock_wait_attempts,
    }
    return with_catch({**state, "Retry": [busy, *state["Retry"]]}, catch_to(on_failure))


def release_lock_state(lock_arn: str, environment: str | None, settings: WorkflowSettings, *, next_state: str) -> dict:
    """Give the lock back; a failure to do so never fails the run (the lease runs out, the cleanup rule retries)."""
    return with_catch(
        lambda_task(
            lock_arn,
            lock_payload("release", environment, settings),
            next_state=next_state,
            result_path=None,
            timeout_seconds=settings.task_timeout_seconds,
            comment=f"Release the {environment} deploy lock" if environment else "Release every lock this run holds",
        ),
        catch_to(next_state, result_path="$.lockError"),
    )


# ----------------------------------------------------------------------------------- failure paths


class _FailurePaths:
    """The Pass states that record a failure as ``$.failure`` before ``NotifyFailure``; built on first use."""

    def __init__(self) -> None:
        self.states: dict[str, dict[str, Any]] = {}

    def record(
        self,
        step: str,
        outcome: str | None = None,
        *,
        name: str | None = None,
        error: Any = "$.error",
    ) -> str:
        """Name of the state recording that ``step`` failed with ``outcome`` (default ``<step>Failed``).

        ``error`` is a path to the caught error, or a literal error object (its ``.$`` keys are resolved).
        """
        outcome = outcome or f"{step}Failed"
        name = name or f"Record{step}{'Failure' if outcome == f'{step}Failed' else outcome}"
        failure: dict[str, Any] = {"step": step, "outcome": outcome}
        if isinstance(error, str):
            failure["error.$"] = error
        else:
            failure["error"] = error
        self.states[name] = pass_state(RELEASE_LOCKS, result_path="$.failure", parameters=failure)
        return name


# --------------------------------------------------------------------------------------- definition


def definition(arns: WorkflowArns, settings: WorkflowSettings) -> dict[str, Any]:
    """The state machine for one model: build, stage, approval, prod (optionally as a canary), notify."""
    failures = _FailurePaths()
    run = _run_payload(settings)
    slack = {"slack.$": "$.slack.thread"}
    timeout = settings.task_timeout_seconds
    canary = settings.canary_percent > 0
    after_deploy_prod = CANARY_STARTED if canary else PROMOTE_PRODUCTION

    states: dict[str, dict[str, Any]] = {}

    states[PREPARE] = pass_state(
        NOTIFY_STARTED,
        result_path="$.slack",
        result={"thread": None},
        comment="The Slack thread is unknown until NotifyStarted answers; later states always find $.slack.thread",
    )
    states[NOTIFY_STARTED] = with_catch(
        lambda_task(
            arns.notify,
            {"event": "started", **run, "commit.$": "$.commit", "run.$": "$"},
            next_state=BUILD,
            result_path="$.slack",
            result_selector={"thread.$": "$.Payload"},
            timeout_seconds=timeout,
            comment="Open the run's Slack thread; a failure to notify does not stop the run",
        ),
        catch_to(BUILD, result_path="$.notifyError"),
    )
    states[BUILD] = with_catch(
        codebuild_task(
            settings.build_project, next_state=CHECK_BUILD_OUTPUTS, timeout_seconds=settings.build_timeout_seconds
        ),
        catch_to(failures.record(BUILD)),
    )
    outputs_missing = failures.record(
        BUILD,
        name="RecordBuildOutputsMissing",
        error={"Error": "BuildOutputsMissing", "Cause.$": "States.JsonToString($.build)"},
    )
    states[CHECK_BUILD_OUTPUTS] = {
        "Type": "Choice",
        "Comment": "The build must have exported MODEL_VERSION and IMAGE_URI (by digest); rules apply in order, "
        "so the values are only compared once both are known to be there",
        "Choices": [
            {
                "Not": {
                    "And": [
                        {"Variable": "$.build.modelVersion[0]", "IsPresent": True},
                        {"Variable": "$.build.imageUri[0]", "IsPresent": True},
                    ]
                },
                "Next": outputs_missing,
            },
            {
                "And": [
                    {"Not": {"Variable": "$.build.modelVersion[0]", "StringEquals": ""}},
                    {"Variable": "$.build.imageUri[0]", "StringMatches": "*@sha256:*"},
                ],
                "Next": READ_BUILD_OUTPUTS,
            },
        ],
        "Default": outputs_missing,
    }
    states[READ_BUILD_OUTPUTS] = pass_state(
        ACQUIRE_STAGE_LOCK,
        result_path="$.build",
        parameters={
            "modelVersion.$": "States.ArrayGetItem($.build.modelVersion, 0)",
            "imageUri.$": "States.ArrayGetItem($.build.imageUri, 0)",
            "buildId.$": "$.build.buildId",
        },
        comment="One value each: $.build = {modelVersion, imageUri, buildId}",
    )
    states[ACQUIRE_STAGE_LOCK] = acquire_lock_state(
        arns.lock, "stage", settings, next_state=DEPLOY_STAGE, on_failure=failures.record(ACQUIRE_STAGE_LOCK)
    )
    states[DEPLOY_STAGE] = with_catch(
        lambda_task(
            arns.deploy,
            deploy_payload("deploy", "stage"),
            next_state=PROMOTE_STAGING,
            result_path="$.stage",
            timeout_seconds=settings.deploy_timeout_seconds,
            comment="Publish, smoke-test and move alias live of the stage inference function",
        ),
        catch_to(failures.record(DEPLOY_STAGE, SUPERSEDED), [SUPERSEDED]),
        catch_to(failures.record(DEPLOY_STAGE)),
    )
    states[PROMOTE_STAGING] = with_catch(
        lambda_task(
            arns.promote,
            promote_payload(STAGING_ALIAS, settings),
            next_state=RELEASE_STAGE_LOCK,
            result_path="$.promoteStaging",
            timeout_seconds=timeout,
            comment="MLflow alias staging → this model version",
        ),
        catch_to(failures.record(PROMOTE_STAGING, SUPERSEDED), [SUPERSEDED]),
        catch_to(failures.record(PROMOTE_STAGING)),
    )
    states[RELEASE_STAGE_LOCK] = release_lock_state(arns.lock, "stage", settings, next_state=APPROVAL)
    states[APPROVAL] = with_catch(
        lambda_task(
            arns.request_approval,
            {
                "taskToken.$": "$$.Task.Token",
                **run,
                **_image_payload(),
                "stage.$": "$.stage.output",
                # This version's metrics, production's and the MLflow run (what PromoteStaging found).
                "promotion.$": "$.promoteStaging.output",
                **slack,
            },
            wait_for_token=True,
            next_state=CHECK_APPROVAL,
            result_path="$.approval",
            timeout_seconds=settings.approval_timeout_seconds,
            comment="Post Approve / Reject to Slack and wait for slack_interactions to answer with the token",
        ),
        catch_to(failures.record(APPROVAL, REJECTED, name="RecordApprovalRejected"), [APPROVAL_REJECTED]),
        catch_to(EXPIRE_APPROVAL, [STATES_TIMEOUT]),
        catch_to(failures.record(APPROVAL, SUPERSEDED), [SUPERSEDED]),
        catch_to(failures.record(APPROVAL)),
    )
    # On timeout nobody clicked: request_approval closes the record and says so in the message.
    expire_approval = with_catch(
        lambda_task(
            arns.request_approval,
            {"action": "expire", "executionArn.$": "$$.Execution.Id", "error": APPROVAL_EXPIRED},
            next_state=failures.record(APPROVAL, APPROVAL_EXPIRED, name="RecordApprovalExpired"),
            result_path=None,
            timeout_seconds=timeout,
            comment="Close the expired approval and its Slack message",
        ),
        catch_to("RecordApprovalExpired", result_path="$.expireError"),
    )
    not_approved = failures.record(
        APPROVAL,
        REJECTED,
        name="RecordNotApproved",
        error={"Error": "NotApproved", "Cause.$": "States.JsonToString($.approval)"},
    )
    states[CHECK_APPROVAL] = {
        "Type": "Choice",
        "Comment": "Only an explicit decision approved reaches prod",
        "Choices": [
            {"Not": {"Variable": "$.approval.decision", "IsPresent": True}, "Next": not_approved},
            {"Variable": "$.approval.decision", "StringEquals": "approved", "Next": ACQUIRE_PROD_LOCK},
        ],
        "Default": not_approved,
    }
    states[ACQUIRE_PROD_LOCK] = acquire_lock_state(
        arns.lock, "prod", settings, next_state=DEPLOY_PROD, on_failure=failures.record(ACQUIRE_PROD_LOCK)
    )
    states[DEPLOY_PROD] = with_catch(
        lambda_task(
            arns.deploy,
            deploy_payload("deploy", "prod", **({"canaryPercent": settings.canary_percent} if canary else {})),
            next_state=after_deploy_prod,
            result_path="$.prod",
            timeout_seconds=settings.deploy_timeout_seconds,
            comment=(
                f"Same image digest; route {settings.canary_percent}% of live to the new version"
                if canary
                else "Same image digest; move alias live of the prod inference function"
            ),
        ),
        catch_to(failures.record(DEPLOY_PROD, SUPERSEDED), [SUPERSEDED]),
        catch_to(failures.record(DEPLOY_PROD)),
    )
    if canary:
        states[CANARY_STARTED] = {
            "Type": "Choice",
            "Comment": "A deploy that found live already on this image (noop) started no canary",
            "Choices": [{"Variable": "$.prod.output.shiftedAt", "IsPresent": True, "Next": WAIT_CANARY}],
            "Default": PROMOTE_PRODUCTION,
        }
        states[WAIT_CANARY] = {
            "Type": "Wait",
            "Comment": "Let the canary serve real traffic before its alarms and errors are checked",
            "Seconds": settings.canary_wait_seconds,
            "Next": PROMOTE_CANARY,
        }
        states[PROMOTE_CANARY] = with_catch(
            lambda_task(
                arns.deploy,
                deploy_payload(
                    "promote",
                    "prod",
                    **{
                        "functionVersion.$": "$.prod.output.functionVersion",
                        "previousVersion.$": "$.prod.output.previousVersion",
                        "shiftedAt.$": "$.prod.output.shiftedAt",
                    },
                ),
                next_state=PROMOTE_PRODUCTION,
                result_path="$.prod",
                timeout_seconds=settings.deploy_timeout_seconds,
                comment="No alarm and no errors of the new version since the shift: all of live to it",
            ),
            # CanaryFailed, or any other failure while traffic is split: take the canary out.
            catch_to(ROLLBACK_CANARY, [CANARY_FAILED]),
            catch_to(ROLLBACK_CANARY),
        )
        states[ROLLBACK_CANARY] = with_catch(
            lambda_task(
                arns.deploy,
                deploy_payload(
                    "rollback",
                    "prod",
                    **{
                        "functionVersion.$": "$.prod.output.functionVersion",
                        "previousVersion.$": "$.prod.output.previousVersion",
                    },
                ),
                next_state=failures.record(PROMOTE_CANARY, CANARY_ROLLED_BACK, name="RecordCanaryRolledBack"),
                result_path="$.rollback",
                timeout_seconds=settings.deploy_timeout_seconds,
                comment="live → the previous version, routing cleared (idempotent)",
            ),
            catch_to(
                failures.record(ROLLBACK_CANARY, ROLLBACK_FAILED, name="RecordRollbackFailed", error="$.rollbackError"),
                result_path="$.rollbackError",
            ),
        )
    states[PROMOTE_PRODUCTION] = with_catch(
        lambda_task(
            arns.promote,
            # The approver is recorded on the model version (production_by).
            {**promote_payload(PRODUCTION_ALIAS, settings), "approver.$": "$.approval.approver"},
            next_state=RELEASE_PROD_LOCK,
            result_path="$.promoteProduction",
            timeout_seconds=timeout,
            comment="MLflow alias production → this model version",
        ),
        catch_to(failures.record(PROMOTE_PRODUCTION, SUPERSEDED), [SUPERSEDED]),
        catch_to(failures.record(PROMOTE_PRODUCTION)),
    )
    states[RELEASE_PROD_LOCK] = release_lock_state(arns.lock, "prod", settings, next_state=NOTIFY)
    states[NOTIFY] = with_catch(
        lambda_task(
            arns.notify,
            {
                "event": "succeeded",
                **run,
                **_image_payload(),
                "build.$": "$.build",
                "stage.$": "$.stage.output",
                "approval.$": "$.approval",
                "prod.$": "$.prod.output",
                "run.$": "$",
                **slack,
            },
            next_state=SUCCEEDED,
            result_path=None,
            timeout_seconds=timeout,
            comment="The run's summary in its Slack thread",
        ),
        # Prod already runs the new model: a lost message must not turn the run into a failure.
        catch_to(SUCCEEDED, result_path="$.notifyError"),
    )
    states[SUCCEEDED] = {"Type": "Succeed"}

    # ------------------------------------------------------------------------------- failure paths
    states[EXPIRE_APPROVAL] = expire_approval
    states.update(failures.states)
    states[RELEASE_LOCKS] = release_lock_state(arns.lock, None, settings, next_state=NOTIFY_FAILURE)
    states[NOTIFY_FAILURE] = with_catch(
        lambda_task(
            arns.notify,
            {
                "event": "failed",
                **run,
                "step.$": "$.failure.step",
                "outcome.$": "$.failure.outcome",
                "error.$": "$.failure.error",
                "run.$": "$",
                **slack,
            },
            next_state=FAILURE_OUTCOME,
            result_path=None,
            timeout_seconds=timeout,
            comment="Say in the run's thread which step failed and why",
        ),
        catch_to(FAILURE_OUTCOME, result_path="$.notifyError"),
    )
    special = [REJECTED, APPROVAL_EXPIRED, SUPERSEDED] + ([CANARY_ROLLED_BACK, ROLLBACK_FAILED] if canary else [])
    states[FAILURE_OUTCOME] = {
        "Type": "Choice",
        "Choices": [{"Variable": "$.failure.outcome", "StringEquals": name, "Next": name} for name in special],
        "Default": FAILED,
    }
    states[REJECTED] = fail_state(
        error=REJECTED, cause_path=_failure_cause("The approver rejected the model, prod was not touched")
    )
    states[APPROVAL_EXPIRED] = fail_state(
        error=APPROVAL_EXPIRED,
        cause=f"No decision within {settings.approval_timeout_seconds} s of the approval request; prod was not touched",
    )
    states[SUPERSEDED] = fail_state(
        error=SUPERSEDED,
        cause_path="States.Format('{} found a newer model already in place, nothing was changed: {}', "
        "$.failure.step, States.JsonToString($.failure.error))",
    )
    if canary:
        states[CANARY_ROLLED_BACK] = fail_state(
            error=CANARY_ROLLED_BACK,
            cause_path=_failure_cause("The prod canary failed and live was rolled back to the previous version"),
        )
        states[ROLLBACK_FAILED] = fail_state(
            error=ROLLBACK_FAILED,
            cause_path=_failure_cause(
                "The prod canary failed and so did its rollback, live may still route traffic to the new version. "
                "Invoke the deploy function with action rollback and environment prod"
            ),
        )
    states[FAILED] = fail_state(
        error_path="$.failure.outcome",
        cause_path="States.Format('{} failed: {}', $.failure.step, States.JsonToString($.failure.error))",
    )

    return {
        "Comment": f"serverless-mlops: build, stage, approval and prod deployment of model {settings.model_name}",
        "StartAt": PREPARE,
        "TimeoutSeconds": _execution_timeout(settings),
        "States": states,
    }


def _execution_timeout(settings: WorkflowSettings) -> int:
    """A ceiling for the whole run: every step at its limit, plus an hour for retries and notifications."""
    total = (
        settings.build_timeout_seconds
        + settings.approval_timeout_seconds
        + 4 * settings.deploy_timeout_seconds
        + 4 * settings.task_timeout_seconds
        + settings.canary_wait_seconds
        + 2 * settings.lock_wait_attempts * settings.lock_retry_seconds
        + 3600
    )
    return min(total, MAX_TIMEOUT_SECONDS)


# ------------------------------------------------------------------------------------ local runs


def replace_build_resource(definition_: Mapping[str, Any], resource: str) -> dict[str, Any]:
    """A copy of the definition whose CodeBuild ``.sync`` tasks call ``resource`` (a Lambda function ARN).

    For local runs (moto cannot run ``codebuild:startBuild.sync``): the function receives the task's
    Parameters and returns CodeBuild's output shape, ``{"Build": {"Id", "ExportedEnvironmentVariables"}}``, so
    the state's ResultSelector and everything after it run unchanged.
    """
    replaced = copy.deepcopy(dict(definition_))
    for state in _all_states(replaced):
        if state.get("Type") == "Task" and state.get("Resource") == CODEBUILD_START_BUILD_SYNC:
            state["Resource"] = resource
    return replaced


# ----------------------------------------------------------------------------------------- checks


def state_names(definition_: Mapping[str, Any]) -> list[str]:
    """The top-level state names, in definition order."""
    return list(definition_.get("States", {}))


def _all_states(definition_: Mapping[str, Any]) -> Iterable[dict[str, Any]]:
    for state in definition_.get("States", {}).values():
        yield state
        for branch in state.get("Branches", []):
            yield from _all_states(branch)
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                yield from _all_states(state[key])


def _choice_targets(rule: Mapping[str, Any]) -> list[str]:
    return [rule["Next"]] if "Next" in rule else []


def transitions(state: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(where, target)`` for every transition out of a state: Next, Default, each Choice, each Catch."""
    found: list[tuple[str, str]] = []
    if "Next" in state:
        found.append(("Next", state["Next"]))
    if "Default" in state:
        found.append(("Default", state["Default"]))
    for index, rule in enumerate(state.get("Choices", [])):
        found.extend((f"Choices[{index}].Next", target) for target in _choice_targets(rule))
    for index, catcher in enumerate(state.get("Catch", [])):
        if "Next" in catcher:
            found.append((f"Catch[{index}].Next", catcher["Next"]))
    return found


def _is_lambda_task(state: Mapping[str, Any]) -> bool:
    resource = state.get("Resource", "")
    return state.get("Type") == "Task" and isinstance(resource, str) and resource.startswith(LAMBDA_INVOKE)


def _error_lists_problems(where: str, entries: Sequence[Mapping[str, Any]], kind: str) -> list[str]:
    problems = []
    for index, entry in enumerate(entries):
        errors = entry.get("ErrorEquals") or []
        if not errors:
            problems.append(f"{where}: {kind}[{index}] has no ErrorEquals")
        if STATES_ALL in errors and (len(errors) > 1 or index != len(entries) - 1):
            problems.append(f"{where}: {kind}[{index}]: {STATES_ALL} must be alone and in the last {kind} entry")
    return problems


def _retry_problems(name: str, state: Mapping[str, Any]) -> list[str]:
    where = f"state {name!r}"
    retry = state.get("Retry", [])
    covered = {error for retrier in retry for error in retrier.get("ErrorEquals", [])}
    problems = [
        f"{where}: Lambda task does not retry {error}" for error in LAMBDA_SERVICE_ERRORS if error not in covered
    ]
    for index, retrier in enumerate(retry):
        if retrier.get("ErrorEquals") == [LOCK_BUSY]:
            problems.extend(_wait_retry_problems(f"{where}: Retry[{index}]", retrier))
            continue
        extra = [error for error in retrier.get("ErrorEquals", []) if error not in LAMBDA_SERVICE_ERRORS]
        if extra:
            problems.append(
                f"{where}: Retry[{index}] retries {', '.join(extra)}; a Lambda task retries only the Lambda "
                "service's errors, never the function's own (they would give the same answer again)"
            )
        interval, rate, attempts = (retrier.get(k) for k in ("IntervalSeconds", "BackoffRate", "MaxAttempts"))
        if not (_is_int(interval) and interval >= 1 and isinstance(rate, int | float) and rate > 1):
            problems.append(f"{where}: Retry[{index}] needs IntervalSeconds >= 1 and BackoffRate > 1 (backoff)")
        if not (_is_int(attempts) and 2 <= attempts <= 10):
            problems.append(f"{where}: Retry[{index}] MaxAttempts should be 2 to 10, got {attempts!r}")
    return problems


def _wait_retry_problems(where: str, retrier: Mapping[str, Any]) -> list[str]:
    """``LockBusy`` is the one function error worth retrying: the answer changes once the holder is done. It is
    retried at a steady pace (no backoff: a waiting run should notice a free lock soon), without jitter."""
    interval, rate, attempts = (retrier.get(k) for k in ("IntervalSeconds", "BackoffRate", "MaxAttempts"))
    problems = []
    if not (_is_int(interval) and interval >= 1 and rate == 1):
        problems.append(f"{where} waits for a lock: needs IntervalSeconds >= 1 and BackoffRate 1")
    if not (_is_int(attempts) and attempts >= 2):
        problems.append(f"{where} waits for a lock: MaxAttempts should be at least 2, got {attempts!r}")
    return problems


def _catch_problems(name: str, state: Mapping[str, Any]) -> list[str]:
    where = f"state {name!r}"
    catchers = state.get("Catch", [])
    problems = _error_lists_problems(where, catchers, "Catch")
    if state.get("Type") in ("Task", "Parallel", "Map") and not any(
        STATES_ALL in c.get("ErrorEquals", []) for c in catchers
    ):
        problems.append(f"{where}: no Catch for {STATES_ALL}; a failure here would end the run unreported")
    for index, catcher in enumerate(catchers):
        path = catcher.get("ResultPath", "$")
        if not isinstance(path, str) or not path.startswith("$.") or len(path) <= 2:
            problems.append(
                f"{where}: Catch[{index}] ResultPath is {path!r}; use a field such as '$.error' so the run's data "
                "is kept next to the error"
            )
    return problems


def _task_problems(name: str, state: Mapping[str, Any]) -> list[str]:
    where = f"state {name!r}"
    problems: list[str] = []
    timeout = state.get("TimeoutSeconds")
    if timeout is None and "TimeoutSecondsPath" not in state:
        problems.append(f"{where}: Task without TimeoutSeconds (the default is no limit at all)")
    elif timeout is not None and (not _is_int(timeout) or timeout < 1):
        problems.append(f"{where}: TimeoutSeconds must be a positive whole number, got {timeout!r}")
    heartbeat = state.get("HeartbeatSeconds")
    if heartbeat is not None and _is_int(timeout) and (not _is_int(heartbeat) or heartbeat >= timeout):
        problems.append(f"{where}: HeartbeatSeconds ({heartbeat!r}) must be less than TimeoutSeconds ({timeout})")
    if str(state.get("Resource", "")).endswith(".waitForTaskToken"):
        if timeout is None:
            problems.append(f"{where}: a callback task (waitForTaskToken) needs TimeoutSeconds, or it waits a year")
        if "$$.Task.Token" not in json.dumps(state.get("Parameters", {})):
            problems.append(f"{where}: a callback task must pass $$.Task.Token, or nothing can ever answer it")
    if _is_lambda_task(state):
        problems.extend(_retry_problems(name, state))
    problems.extend(_error_lists_problems(where, state.get("Retry", []), "Retry"))
    return problems


def _reachable(definition_: Mapping[str, Any]) -> set[str]:
    states = definition_.get("States", {})
    seen: set[str] = set()
    todo = [definition_.get("StartAt")]
    while todo:
        name = todo.pop()
        if not isinstance(name, str) or name in seen or name not in states:
            continue
        seen.add(name)
        todo.extend(target for _, target in transitions(states[name]))
    return seen


def check_definition(definition_: Mapping[str, Any]) -> list[str]:
    """Problems of a state machine definition that CreateStateMachine and moto do not report; [] when none."""
    states = definition_.get("States")
    if not isinstance(states, Mapping) or not states:
        return ["the definition has no States"]
    problems: list[str] = []
    start = definition_.get("StartAt")
    if start not in states:
        problems.append(f"StartAt {start!r} is not a state")
    terminal = False
    for name, state in states.items():
        where = f"state {name!r}"
        kind = state.get("Type")
        if kind not in STATE_TYPES:
            problems.append(f"{where}: unknown Type {kind!r}")
            continue
        for field, target in transitions(state):
            if target not in states:
                problems.append(f"{where}: {field} {target!r} is not a state")
        if kind in ("Succeed", "Fail") or state.get("End") is True:
            terminal = True
        if kind == "Choice":
            if not state.get("Choices"):
                problems.append(f"{where}: Choice without Choices")
            if "Default" not in state:
                problems.append(
                    f"{where}: Choice without Default; an unmatched input would fail with States.NoChoiceMatched"
                )
        elif kind not in ("Succeed", "Fail") and ("Next" in state) == (state.get("End") is True):
            problems.append(f"{where}: needs exactly one of Next and End")
        if kind == "Task":
            problems.extend(_task_problems(name, state))
        if kind == "Wait" and not any(k in state for k in ("Seconds", "SecondsPath", "Timestamp", "TimestampPath")):
            problems.append(f"{where}: Wait without Seconds or Timestamp")
        problems.extend(_catch_problems(name, state))
    if not terminal:
        problems.append("no terminal state (Succeed, Fail or End: true)")
    unreachable = [name for name in states if name not in _reachable(definition_)]
    problems.extend(f"state {name!r}: not reachable from StartAt" for name in unreachable)
    return problems
