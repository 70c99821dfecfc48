"""Typed inputs of the notify function: its settings (environment variables) and the workflow's three events.

Events (``infra/workflow.py``: the NotifyStarted, Notify and NotifyFailure states; unknown keys are ignored, and
a missing detail only makes the message say less, it never stops the report):

    {"event": "started", "executionId": "<execution ARN>", "executionName", "modelName", "commit",
     "run": <the execution's state: commit, author, repositoryName, slack: {thread: null}, ...>}
    {"event": "succeeded", ..., "modelVersion", "imageUri", "build", "stage": <stage deploy output>,
     "approval": {"decision", "approver", "approverName", ...}, "prod": <prod deploy output>, "run", "slack"}
    {"event": "failed", ..., "step", "outcome", "error": {"Error", "Cause"}, "run", "slack"}

and, from the status rule (EventBridge), a run's end: ``{"detail-type": "Step Functions Execution Status
Change", "detail": {"executionArn", "status", "error", "cause", ...}}``. Only ABORTED and TIMED_OUT are
reported (no Catch runs for them); the workflow itself reports the others.

One more event comes from a person, not the workflow: ``python -m ops.rollback`` (``make rollback``) reports a
manual rollback as one top-level message:

    {"event": "rolled_back", "executionId": "manual-rollback-prod-20250201093000", "modelName", "author",
     "environment": "stage" | "prod", "deploy": <the deploy function's rollback output>,
     "alias": "staging" | "production", "promote": <the promote function's output> | null,
     "promoteError": "<why the alias was not moved>" | null, "reason": "<free text>" | null}

``slack`` is the thread NotifyStarted returned, ``{"channel", "ts"}`` (the workflow passes ``$.slack.thread``),
or null when NotifyStarted failed; ``{"thread": {...}}`` and ``run.slack.thread`` are read too. Details missing
at the top level are looked up in ``run`` (``run.commit``, ``run.author``, ``run.build.modelVersion``,
``run.stage.output``, ``run.prod.output``, ``run.approval``, ``run.promoteStaging.output``, ...).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from functions.common.executions import EXECUTION_ARN, STATUS_CHANGE, execution_name
from functions.notify.errors import NotifyConfigError, NotifyInputError

EVENTS = ("started", "succeeded", "failed", "rolled_back")
ENVIRONMENTS = ("stage", "prod")
# The end states the workflow cannot report itself, and the outcome each is shown as.
UNREPORTED_STATUSES: Mapping[str, str] = {"ABORTED": "Stopped", "TIMED_OUT": "TimedOut"}
_CHANNEL = re.compile(r"^[CGD][A-Z0-9]{8,}$")
_TS = re.compile(r"^\d{1,12}\.\d{1,9}$")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


# ------------------------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Settings:
    bot_token_secret_arn: str
    channel_id: str
    slack_api_url: str | None = None
    timeout_seconds: float = 5.0
    max_attempts: int = 3
    retry_base_delay_seconds: float = 1.0
    model_name: str | None = None


def _number(environ: Mapping[str, str], name: str, default: float, *, minimum: float, integer: bool = False) -> Any:
    raw = (environ.get(name) or "").strip()
    if not raw:
        return int(default) if integer else default
    try:
        value: float = int(raw) if integer else float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < minimum:
        kind = "a whole number" if integer else "a number"
        raise NotifyConfigError(f"{name}: expected {kind} >= {minimum:g}, got {raw!r}")
    return value


def load_settings(environ: Mapping[str, str]) -> Settings:
    secret = (environ.get("SLACK_BOT_TOKEN_SECRET_ARN") or "").strip()
    if not secret:
        raise NotifyConfigError("SLACK_BOT_TOKEN_SECRET_ARN: not set; expected the ARN of the Slack bot token secret")
    channel = (environ.get("SLACK_CHANNEL_ID") or "").strip()
    if not _CHANNEL.match(channel):
        raise NotifyConfigError(f"SLACK_CHANNEL_ID: expected a channel ID such as C0123456789, got {channel!r}")
    return Settings(
        bot_token_secret_arn=secret,
        channel_id=channel,
        slack_api_url=(environ.get("SLACK_API_URL") or "").strip() or None,
        timeout_seconds=_number(environ, "SLACK_TIMEOUT_SECONDS", 5.0, minimum=0.1),
        max_attempts=_number(environ, "SLACK_MAX_ATTEMPTS", 3, minimum=1, integer=True),
        retry_base_delay_seconds=_number(environ, "SLACK_RETRY_BASE_DELAY_SECONDS", 1.0, minimum=0),
        model_name=(environ.get("MODEL_NAME") or "").strip() or None,
    )


# ---------------------------------------------------------------------------------------------- event


@dataclass(frozen=True)
class Thread:
    """The run's thread: the parent message NotifyStarted posted."""

    channel: str
    ts: str

    def to_dict(self) -> dict[str, str]:
        return {"channel": self.channel, "ts": self.ts}


@dataclass(frozen=True)
class Rollback:
    """What a manual rollback did: the deploy function's output, and where MLflow's alias went or why it did not."""

    environment: str
    deploy: Mapping[str, Any]
    alias: str | None = None
    promote: Mapping[str, Any] = field(default_factory=dict)
    promote_error: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class NotifyEvent:
    event: str
    execution_id: str
    execution_name: str
    model_name: str
    commit: str | None = None
    author: str | None = None
    thread: Thread | None = None
    model_version: str | None = None
    image_uri: str | None = None
    stage: Mapping[str, Any] = field(default_factory=dict)
    prod: Mapping[str, Any] = field(default_factory=dict)
    approval: Mapping[str, Any] = field(default_factory=dict)
    promoted: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # alias → promote output
    step: str | None = None
    outcome: str | None = None
    error: Any = None
    rollback: Rollback | None = None  # rolled_back only

    @property
    def short_commit(self) -> str | None:
        return self.commit[:7] if self.commit else None


def console_url(execution_id: str) -> str | None:
    """The execution's page in the Step Functions console, in the execution's own region (from its ARN); None
    for an identifier that is not an execution ARN of the commercial partition."""
    match = EXECUTION_ARN.match(execution_id)
    if not match or match["partition"] != "aws":
        return None
    region = match["region"]
    return f"https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{execution_id}"


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def _text(*candidates: Any, limit: int = 200) -> str | None:
    for value in candidates:
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and value.strip():
            return " ".join(value.split())[:limit]
    return None


def _mapping(*candidates: Any) -> Mapping[str, Any]:
    for value in candidates:
        if isinstance(value, Mapping) and value:
            return value
    return {}


def parse_thread(value: Any) -> Thread | None:
    """``{"channel", "ts"}``, also wrapped as ``{"thread": {...}}``; None for null or anything else."""
    if isinstance(value, Mapping) and "thread" in value and "ts" not in value:
        value = value.get("thread")
    if not isinstance(value, Mapping):
        return None
    channel, ts = value.get("channel"), value.get("ts")
    if isinstance(channel, str) and _CHANNEL.match(channel) and isinstance(ts, str) and _TS.match(ts):
        return Thread(channel, ts)
    return None


def parse_rollback(event: Mapping[str, Any]) -> Rollback:
    environment = event.get("environment")
    if environment not in ENVIRONMENTS:
        raise NotifyInputError(f"environment: expected one of {', '.join(ENVIRONMENTS)}, got {_shown(environment)}")
    return Rollback(
        environment=environment,
        deploy=_mapping(event.get("deploy")),
        alias=_text(event.get("alias"), limit=40),
        promote=_mapping(event.get("promote")),
        promote_error=_text(event.get("promoteError"), limit=1000),
        reason=_text(event.get("reason"), limit=300),
    )


def parse_event(event: Any) -> NotifyEvent:
    if not isinstance(event, Mapping):
        raise NotifyInputError(f"event: expected a JSON object, got {type(event).__name__}")
    kind = event.get("event")
    if kind not in EVENTS:
        raise NotifyInputError(f"event: expected one of {', '.join(EVENTS)}, got {_shown(kind)}")
    execution = _text(event.get("executionId"), limit=2048)
    if not execution:
        raise NotifyInputError("executionId: missing; expected the execution ARN ($$.Execution.Id)")
    run = event.get("run") if isinstance(event.get("run"), Mapping) else {}
    thread = parse_thread(event.get("slack")) or parse_thread(_get(run, "slack"))
    promoted = {
        alias: output
        for alias, key in (("staging", "promoteStaging"), ("production", "promoteProduction"))
        if isinstance(output := _get(run, key, "output"), Mapping)
    }
    return NotifyEvent(
        event=kind,
        execution_id=execution,
        execution_name=_text(event.get("executionName"), limit=80) or execution_name(execution),
        model_name=_text(event.get("modelName"), _get(run, "modelName"), limit=128) or "model",
        commit=_text(event.get("commit"), _get(run, "commit"), limit=64),
        author=_text(event.get("author"), _get(run, "author"), limit=256),
        thread=thread,
        model_version=_text(event.get("modelVersion"), _get(run, "build", "modelVersion"), limit=20),
        image_uri=_text(event.get("imageUri"), _get(run, "build", "imageUri"), limit=512),
        stage=_mapping(event.get("stage"), _get(run, "stage", "output")),
        prod=_mapping(event.get("prod"), _get(run, "prod", "output")),
        approval=_mapping(event.get("approval"), _get(run, "approval")),
        promoted=promoted,
        step=_text(event.get("step"), _get(run, "failure", "step"), limit=80),
        outcome=_text(event.get("outcome"), _get(run, "failure", "outcome"), limit=80),
        error=event.get("error") if event.get("error") is not None else _get(run, "failure", "error"),
        rollback=parse_rollback(event) if kind == "rolled_back" else None,
    )


# ------------------------------------------------------------------------------------- status change


@dataclass(frozen=True)
class StatusChange:
    """A run's end as the status rule delivers it."""

    execution_id: str
    status: str
    error: str | None = None
    cause: str | None = None

    @property
    def reported_by_the_workflow(self) -> bool:
        return self.status not in UNREPORTED_STATUSES


def parse_status_change(event: Any) -> StatusChange | None:
    """The status event's fields; None for any other event (a workflow event, parsed by ``parse_event``)."""
    if not isinstance(event, Mapping) or event.get("detail-type") != STATUS_CHANGE:
        return None
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise NotifyInputError("detail: expected the execution status change as an object")
    execution = _text(detail.get("executionArn"), limit=2048)
    if not execution or not EXECUTION_ARN.match(execution):
        raise NotifyInputError(f"detail.executionArn: expected an execution ARN, got {_shown(execution)}")
    status = detail.get("status")
    if not isinstance(status, str) or not status:
        raise NotifyInputError(f"detail.status: expected the execution's status, got {_shown(status)}")
    return StatusChange(
        execution_id=execution,
        status=status,
        error=_text(detail.get("error"), limit=256),
        cause=_text(detail.get("cause"), limit=1000),
    )


def stopped_event(change: StatusChange, run: Mapping[str, Any], last_state: str | None, model_name: str | None) -> Any:
    """The ``failed`` event that reports a stopped or timed-out run in its thread (``run`` is its last known
    state, with ``slack.thread``). A run stopped by a newer one at the approval shows as Superseded."""
    outcome = "Superseded" if change.error == "Superseded" else UNREPORTED_STATUSES[change.status]
    default_cause = (
        "the execution reached its own TimeoutSeconds"
        if change.status == "TIMED_OUT"
        else "StopExecution was called (from the console, the CLI or a newer run)"
    )
    return {
        "event": "failed",
        "executionId": change.execution_id,
        "modelName": model_name,
        "step": last_state or "an unknown step",
        "outcome": outcome,
        "error": {"Error": change.error or change.status, "Cause": change.cause or default_cause},
        "run": dict(run),
    }
