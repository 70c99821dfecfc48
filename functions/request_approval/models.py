"""Typed inputs of the request_approval function: its settings (environment variables), its two kinds of event,
and the approval record as this function reads it back (never with the task token).

Events (unknown keys are ignored, known keys are checked):

    request (the workflow's Approval state, ``lambda:invoke.waitForTaskToken``):
    {"taskToken": "$$.Task.Token", "executionId": "<execution ARN>", "executionName": "...",
     "modelName": "delivery-time", "modelVersion": "7", "commit": "<git sha>", "imageUri": "<ECR URI by digest>",
     "stage": {"functionVersion": "12", "previousVersion": "11", ...},      # the stage deploy's output
     "metrics": {"rmse": 1.23, ...}, "productionMetrics": {"rmse": 1.31, ...},  # optional
     "mlflowRunUrl": "https://...", "author": "Alice",                        # optional
     "promotion": <the PromoteStaging output>,  # optional: metrics, productionMetrics, mlflowRunUrl, if not above
     "slack": {"channel": "C0123456789", "ts": "1700000000.000100"}}          # optional: the run's thread

    expire (the workflow's timeout Catch path, a cleanup schedule, or an EventBridge execution status rule):
    {"action": "expire", "executionArn": "<execution ARN>"}      # that run's open approvals ("executionId" too)
    {"action": "expire"}                                          # every open approval past its timeout
    {"detail-type": "Step Functions Execution Status Change", "detail": {"executionArn": ..., "status": ...}}
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from functions.common.executions import EXECUTION_ARN, STATUS_CHANGE, execution_name
from functions.common.item_values import number as _number
from functions.common.item_values import text as _string
from functions.request_approval.errors import ApprovalConfigError, ApprovalInputError

# The approval record's statuses (the same names in slack_interactions).
PENDING, DECIDED, SENT, EXPIRED, SUPERSEDED = "pending", "decided", "sent", "expired", "superseded"
# How long a closed record stays for late clicks and audit before DynamoDB's TTL removes it. The task token is
# removed from the record as soon as it is closed, so this keeps no credential.
RETENTION_AFTER_TIMEOUT_SECONDS = 7 * 24 * 3600
TASK_TOKEN_MAX = 2048  # SendTaskSuccess's limit
MAX_METRICS = 20

_COMMIT = re.compile(r"^[0-9a-f]{7,64}$")
_VERSION = re.compile(r"^[1-9][0-9]{0,9}$")
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_EXECUTION_NAME = re.compile(r"^[^\s]{1,80}$")
_CHANNEL = re.compile(r"^[CG][A-Z0-9]{8,}$")
_METRIC_NAME = re.compile(r"^[\w./:-]{1,40}$")
_MESSAGE_TS = re.compile(r"^\d{9,12}\.\d{1,8}$")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


# ------------------------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Settings:
    approvals_table: str
    bot_token_secret_arn: str
    channel_id: str
    timeout_seconds: int
    mlflow_ui_url: str | None = None
    slack_api_url: str | None = None
    runs_table: str | None = None


def http_url(value: Any) -> str | None:
    """``value`` when it is an absolute http(s) URL with no characters that would break a Slack link."""
    if not isinstance(value, str) or not value or len(value) > 2000 or re.search(r"[\s<>|]", value):
        return None
    parts = urlsplit(value)
    return value if parts.scheme in ("http", "https") and parts.netloc else None


def load_settings(environ: Mapping[str, str]) -> Settings:
    def required(name: str, expected: str) -> str:
        value = (environ.get(name) or "").strip()
        if not value:
            raise ApprovalConfigError(f"{name}: not set; expected {expected}")
        return value

    table = required("APPROVALS_TABLE", "the DynamoDB table of approvals")
    secret = required("SLACK_BOT_TOKEN_SECRET_ARN", "the ARN of the secret holding the Slack bot token")
    channel = required("SLACK_CHANNEL_ID", "a Slack channel ID such as C0123456789")
    if not _CHANNEL.match(channel):
        raise ApprovalConfigError(f"SLACK_CHANNEL_ID: expected a channel ID such as C0123456789, got {channel!r}")
    raw_timeout = required("APPROVAL_TIMEOUT_SECONDS", "the Approval state's TimeoutSeconds")
    # The same range as the state's TimeoutSeconds allows here (a local run expires approvals after seconds).
    if not raw_timeout.isdigit() or not 1 <= int(raw_timeout) <= 365 * 24 * 3600:
        raise ApprovalConfigError(
            f"APPROVAL_TIMEOUT_SECONDS: expected whole seconds, 1 to 31536000, got {raw_timeout!r}"
        )
    mlflow = (environ.get("MLFLOW_UI_URL") or "").strip() or None
    if mlflow is not None and http_url(mlflow) is None:
        raise ApprovalConfigError(f"MLFLOW_UI_URL: expected an http(s) URL, got {mlflow!r}")
    return Settings(
        approvals_table=table,
        bot_token_secret_arn=secret,
        channel_id=channel,
        timeout_seconds=int(raw_timeout),
        mlflow_ui_url=mlflow.rstrip("/") if mlflow else None,
        slack_api_url=(environ.get("SLACK_API_URL") or "").strip() or None,
        runs_table=(environ.get("RUNS_TABLE") or "").strip() or None,
    )


# ---------------------------------------------------------------------------------------------- events


@dataclass(frozen=True)
class ApprovalRequest:
    task_token: str = field(repr=False)
    execution_arn: str
    execution_name: str
    model_name: str
    model_version: str
    commit: str
    image_uri: str
    stage_version: str | None = None
    stage_previous_version: str | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    production_metrics: Mapping[str, float] = field(default_factory=dict)
    mlflow_run_url: str | None = None
    author: str | None = None
    thread_ts: str | None = None  # the run's Slack thread, from the event's "slack"
    thread_channel: str | None = None

    @property
    def short_commit(self) -> str:
        return self.commit[:7]


@dataclass(frozen=True)
class ExpireRequest:
    """Close open approvals: those of ``execution_arn``, or (None) every one past its timeout."""

    execution_arn: str | None
    reason: str


def _text(event: Mapping[str, Any], name: str, expected: str, pattern: re.Pattern[str] | None = None) -> str:
    value = event.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise ApprovalInputError(f"{name}: missing; expected {expected}")
    value = value.strip()
    if pattern is not None and not pattern.match(value):
        raise ApprovalInputError(f"{name}: expected {expected}, got {_shown(value)}")
    return value


def _optional_text(value: Any, limit: int) -> str | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        return None
    return " ".join(value.split())[:limit]


def parse_metrics(value: Any, name: str) -> dict[str, float]:
    """A flat ``{name: number}`` object; entries that are not a finite number are left out (they are display
    only), at most MAX_METRICS of them."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ApprovalInputError(f"{name}: expected an object of metric names to numbers, got {_shown(value)}")
    metrics: dict[str, float] = {}
    for key, raw in value.items():
        if not isinstance(key, str) or not _METRIC_NAME.match(key) or isinstance(raw, bool):
            continue
        try:
            number = float(raw)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            metrics[key] = number
        if len(metrics) == MAX_METRICS:
            break
    return metrics


def parse_thread(value: Any) -> tuple[str | None, str | None]:
    """The run's Slack thread from the event's ``slack`` field (what the notify function answered when it opened
    the thread): ``{"channel": "C…", "ts": "…"}`` (``threadTs`` or ``thread_ts`` also accepted), a bare ts, or
    null. Anything else is ignored: the message then goes to the channel (or RUNS_TABLE's thread)."""
    if isinstance(value, str):
        return (value, None) if _MESSAGE_TS.match(value) else (None, None)
    if not isinstance(value, Mapping):
        return None, None
    ts = next((value.get(k) for k in ("ts", "threadTs", "thread_ts") if isinstance(value.get(k), str)), None)
    channel = value.get("channel") if isinstance(value.get("channel"), str) else None
    if not ts or not _MESSAGE_TS.match(ts):
        return None, None
    return ts, channel


@dataclass(frozen=True)
class PromotionReport:
    metrics: Mapping[str, float] = field(default_factory=dict)
    production_metrics: Mapping[str, float] = field(default_factory=dict)
    mlflow_run_url: str | None = None


def promotion_report(value: Any) -> PromotionReport:
    """What the promote function found for the message (functions/promote: staging's output). Informative only:
    a part that does not parse is left out rather than failing the approval request."""
    if not isinstance(value, Mapping):
        return PromotionReport()

    def metrics(key: str) -> dict[str, float]:
        try:
            return parse_metrics(value.get(key), key)
        except ApprovalInputError:
            return {}

    url = value.get("mlflowRunUrl")
    return PromotionReport(
        metrics=metrics("metrics"),
        production_metrics=metrics("productionMetrics"),
        mlflow_run_url=url if isinstance(url, str) and http_url(url) else None,
    )


def parse_request(event: Mapping[str, Any]) -> ApprovalRequest:
    token = event.get("taskToken")
    if not isinstance(token, str) or not token.strip():
        raise ApprovalInputError("taskToken: missing; the Approval state must pass $$.Task.Token")
    if len(token) > TASK_TOKEN_MAX or any(c.isspace() for c in token):
        raise ApprovalInputError(f"taskToken: not a task token (at most {TASK_TOKEN_MAX} characters, no spaces)")
    arn = _text(event, "executionId", "the execution ARN ($$.Execution.Id)", EXECUTION_ARN)
    name = _optional_text(event.get("executionName"), 80) or execution_name(arn)
    if not _EXECUTION_NAME.match(name):
        raise ApprovalInputError(f"executionName: expected the execution's name, got {_shown(name)}")
    stage = event.get("stage")
    if stage is not None and not isinstance(stage, Mapping):
        raise ApprovalInputError(f"stage: expected the stage deploy's output (an object), got {_shown(stage)}")
    stage = stage or {}
    thread_ts, thread_channel = parse_thread(event.get("slack"))
    run_url = event.get("mlflowRunUrl")
    if run_url is not None and http_url(run_url) is None:
        raise ApprovalInputError(f"mlflowRunUrl: expected an http(s) URL, got {_shown(run_url)}")
    reported = promotion_report(event.get("promotion"))
    return ApprovalRequest(
        task_token=token.strip(),
        execution_arn=arn,
        execution_name=name,
        model_name=_text(event, "modelName", "the registered model's name", _MODEL_NAME),
        model_version=_text(event, "modelVersion", "a model version number such as '7'", _VERSION),
        commit=_text(event, "commit", "the git commit (7 to 64 lower-case hex digits)", _COMMIT),
        image_uri=_text(event, "imageUri", "the model image URI")[:512],
        stage_version=_optional_text(stage.get("functionVersion"), 20),
        stage_previous_version=_optional_text(stage.get("previousVersion"), 20),
        metrics=parse_metrics(event["metrics"], "metrics") if "metrics" in event else reported.metrics,
        production_metrics=(
            parse_metrics(event["productionMetrics"], "productionMetrics")
            if "productionMetrics" in event
            else reported.production_metrics
        ),
        mlflow_run_url=run_url if "mlflowRunUrl" in event else reported.mlflow_run_url,
        author=_optional_text(event.get("author"), 80),
        thread_ts=thread_ts,
        thread_channel=thread_channel,
    )


def parse_expire(event: Mapping[str, Any]) -> ExpireRequest:
    if event.get("detail-type") == STATUS_CHANGE:
        detail = event.get("detail")
        arn = detail.get("executionArn") if isinstance(detail, Mapping) else None
        status = detail.get("status") if isinstance(detail, Mapping) else None
        if not isinstance(arn, str) or not EXECUTION_ARN.match(arn):
            raise ApprovalInputError(f"detail.executionArn: expected an execution ARN, got {_shown(arn)}")
        return ExpireRequest(arn, f"execution {str(status or 'ended').lower()}")
    arn = event.get("executionArn", event.get("executionId"))
    if arn is None:
        return ExpireRequest(None, "timeout")
    if not isinstance(arn, str) or not EXECUTION_ARN.match(arn):
        raise ApprovalInputError(f"executionArn: expected an execution ARN, got {_shown(arn)}")
    error = event.get("error")
    return ExpireRequest(arn, f"run ended ({error[:100]})" if isinstance(error, str) and error else "run ended")


def parse_event(event: Any) -> ApprovalRequest | ExpireRequest:
    if not isinstance(event, Mapping):
        raise ApprovalInputError(f"event: expected a JSON object, got {type(event).__name__}")
    if event.get("action") == "expire" or event.get("detail-type") == STATUS_CHANGE:
        return parse_expire(event)
    if event.get("action") not in (None, "request"):
        raise ApprovalInputError(f"action: expected 'request' or 'expire', got {_shown(event.get('action'))}")
    return parse_request(event)


# ---------------------------------------------------------------------------------------------- record


@dataclass(frozen=True)
class ApprovalRecord:
    """An item of APPROVALS_TABLE as this function reads it (the task token is never read back)."""

    approval_id: str
    status: str
    execution_arn: str
    model_name: str = ""
    model_version: str = ""
    commit: str = ""
    created_at: float = 0.0
    timeout_at: float | None = None
    channel: str | None = None
    message_ts: str | None = None
    message_blocks: str | None = None
    decision: str | None = None
    approver: str | None = None
    superseded_by: str | None = None

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> ApprovalRecord:
        return cls(
            approval_id=str(item["approvalId"]),
            status=str(item.get("status", "")),
            execution_arn=str(item.get("executionArn", "")),
            model_name=str(item.get("modelName", "")),
            model_version=str(item.get("modelVersion", "")),
            commit=str(item.get("commit", "")),
            created_at=_number(item.get("createdAt")) or 0.0,
            timeout_at=_number(item.get("timeoutAt")),
            channel=_string(item.get("channel")),
            message_ts=_string(item.get("messageTs")),
            message_blocks=_string(item.get("messageBlocks")),
            decision=_string(item.get("decision")),
            approver=_string(item.get("approver")),
            superseded_by=_string(item.get("supersededBy")),
        )

    @property
    def title(self) -> str:
        return f"{self.model_name} version {self.model_version} (commit {self.commit[:7]})"
