"""What request_approval does, as plain logic over three small interfaces (no boto3, no HTTP here).

request
    1. store the task token under a new opaque approval ID (status ``pending``, TTL = timeout + retention);
    2. post the message (in the run's Slack thread: the event's ``slack`` reference, else RUNS_TABLE's, else
       the channel itself); on failure the stored approval
       is deleted and ``SlackPostFailed`` raised, so nothing waits on a message nobody can see;
    3. save channel and message ts on the record (if a newer run superseded it meanwhile, close the message);
    4. supersede older runs of the same model still waiting here: each pending approval created before this
       one is marked ``superseded`` with a conditional write (only ``pending`` → ``superseded``, so a decision
       made a moment earlier stands), its execution is stopped (error ``Superseded``, the cause names the newer
       commit) and its message says "Superseded by <commit>". A pending approval of the same execution (the
       workflow retried this task) is closed the same way, without stopping the run.

    Why this order: the older run is stopped only once the newer one's message is up, so a Slack failure never
    leaves the model with no approval at all. Why it is race-free: every run writes its own record before it
    looks for older ones, with a strongly consistent read, so of two runs arriving together the later one
    always sees the earlier one (and only the later one supersedes).

expire
    ``pending`` (or ``decided`` but never delivered, lease lapsed) → ``expired`` with a conditional write, and
    the message says "Expired at <time>: the run ended without a decision", buttons removed. For one execution
    (the workflow's timeout Catch, or an execution status event), or for every approval past its timeout.
    The time each one waited, from its request, is counted as metric ``ApprovalWaitTime`` (decision ``expired``).

Closing a record always removes its task token.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from functions.common import metrics
from functions.common.logging import Logger
from functions.common.slack import SlackError, closed_blocks, mention
from functions.request_approval import message
from functions.request_approval.errors import SlackPostFailed
from functions.request_approval.models import (
    DECIDED,
    EXPIRED,
    PENDING,
    RETENTION_AFTER_TIMEOUT_SECONDS,
    SUPERSEDED,
    ApprovalRecord,
    ApprovalRequest,
    ExpireRequest,
    Settings,
)

# An approval is swept by a cleanup call only this long after its timeout, so the workflow's own timeout path
# (which names the execution) normally runs first.
SWEEP_GRACE_SECONDS = 60


class ApprovalStore(Protocol):
    """APPROVALS_TABLE (and RUNS_TABLE for the thread). Reads never return the task token."""

    def create(self, item: Mapping[str, Any]) -> None: ...

    def attach_message(self, approval_id: str, channel: str, ts: str, thread_ts: str | None) -> ApprovalRecord: ...

    def discard(self, approval_id: str) -> None: ...

    def pending_for_model(self, model_name: str) -> list[ApprovalRecord]: ...

    def open_for_execution(self, execution_arn: str) -> list[ApprovalRecord]: ...

    def open_past(self, moment: float) -> list[ApprovalRecord]: ...

    def close(
        self, approval_id: str, status: str, *, expected: Sequence[str], fields: Mapping[str, Any], now: float
    ) -> ApprovalRecord | None: ...

    def thread_of(self, execution_arn: str) -> str | None: ...


class StopFailed(Exception):
    """StopExecution failed (the execution no longer exists, already ended, or the call was refused)."""


class Workflow(Protocol):
    def stop_execution(self, execution_arn: str, error: str, cause: str) -> None: ...


class Chat(Protocol):
    def post_message(
        self, *, channel: str, text: str, blocks: Sequence[Mapping[str, Any]], thread_ts: str | None = None
    ) -> tuple[str, str]: ...

    def update_message(self, *, channel: str, ts: str, text: str, blocks: Sequence[Mapping[str, Any]]) -> None: ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


def new_approval_id() -> str:
    """Opaque and unguessable (128 bits): it is all a button carries."""
    return secrets.token_urlsafe(16)


@dataclass
class Context:
    store: ApprovalStore
    workflow: Workflow
    chat: Chat
    settings: Settings
    log: Logger
    now: Callable[[], datetime] = _utcnow
    new_id: Callable[[], str] = new_approval_id

    def bind(self, log: Logger) -> Context:
        return dataclasses.replace(self, log=log)


def _epoch(moment: datetime) -> float:
    return round(moment.timestamp(), 3)


# ------------------------------------------------------------------------------------------------ request


def request(req: ApprovalRequest, ctx: Context) -> dict[str, Any]:
    settings, log = ctx.settings, ctx.log
    now = ctx.now()
    approval_id = ctx.new_id()
    timeout_at = now + timedelta(seconds=settings.timeout_seconds)
    thread_ts = run_thread(req, ctx)
    body = [block.to_dict() for block in message.body_blocks(req, settings, timeout_at)]
    item: dict[str, Any] = {
        "approvalId": approval_id,
        "taskToken": req.task_token,
        "executionArn": req.execution_arn,
        "executionName": req.execution_name,
        "modelName": req.model_name,
        "modelVersion": req.model_version,
        "commit": req.commit,
        "imageUri": req.image_uri,
        "status": PENDING,
        "createdAt": _epoch(now),
        "timeoutAt": int(timeout_at.timestamp()),
        "expiresAt": int(timeout_at.timestamp()) + RETENTION_AFTER_TIMEOUT_SECONDS,
        "messageBlocks": json.dumps(body, separators=(",", ":")),
    }
    optional = {"author": req.author, "stageVersion": req.stage_version}
    item.update({key: value for key, value in optional.items() if value})
    ctx.store.create(item)
    log = log.bind(approvalId=approval_id)
    log.info("approval stored", modelName=req.model_name, modelVersion=req.model_version, commit=req.commit)

    blocks = [*body, message.actions_block(approval_id, req).to_dict()]
    try:
        channel, ts = ctx.chat.post_message(
            channel=settings.channel_id, text=message.fallback_text(req), blocks=blocks, thread_ts=thread_ts
        )
    except SlackError as error:
        ctx.store.discard(approval_id)
        log.error("approval message not posted; approval deleted", error, slackError=error.code)
        raise SlackPostFailed(
            f"Slack {error.method} failed with {error.code}: the approval for {message.title(req)} was not posted "
            f"to channel {settings.channel_id}, and nothing was stored. Check the bot token, that the app is in "
            "the channel, and SLACK_CHANNEL_ID; retrying the task posts a new message."
        ) from error
    record = ctx.store.attach_message(approval_id, channel, ts, thread_ts)
    log.info("approval message posted", channel=channel, messageTs=ts, threadTs=thread_ts)
    if record.status in (SUPERSEDED, EXPIRED):
        _close_message(ctx, record, _closed_status(record, ctx.now()))

    superseded = supersede_older(req, approval_id, float(item["createdAt"]), ctx.bind(log))
    return {
        "approvalId": approval_id,
        "channel": channel,
        "messageTs": ts,
        "threadTs": thread_ts,
        "timeoutAt": timeout_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "superseded": superseded,
    }


def run_thread(req: ApprovalRequest, ctx: Context) -> str | None:
    """The run's Slack thread: the event's ``slack`` reference when it is in our channel, else RUNS_TABLE's."""
    if req.thread_ts and req.thread_channel in (None, ctx.settings.channel_id):
        return req.thread_ts
    if req.thread_ts:
        ctx.log.warning(
            "the run's thread is in another channel; posting in the channel", threadChannel=req.thread_channel
        )
    return ctx.store.thread_of(req.execution_arn) if ctx.settings.runs_table else None


def supersede_older(req: ApprovalRequest, approval_id: str, created_at: float, ctx: Context) -> list[dict[str, str]]:
    """Close every pending approval of the same model created before this one (see the module's docstring)."""
    own = (created_at, approval_id)
    superseded: list[dict[str, str]] = []
    for old in ctx.store.pending_for_model(req.model_name):
        if old.approval_id == approval_id or (old.created_at, old.approval_id) >= own:
            continue
        now = ctx.now()
        closed = ctx.store.close(
            old.approval_id,
            SUPERSEDED,
            expected=(PENDING,),
            fields={
                "supersededBy": req.commit,
                "supersededByExecution": req.execution_arn,
                "closedReason": "superseded",
            },
            now=_epoch(now),
        )
        if closed is None:
            ctx.log.info("older approval already closed or decided; left alone", olderApprovalId=old.approval_id)
            continue
        if closed.execution_arn != req.execution_arn:
            cause = (
                f"Superseded by commit {req.commit} (model {req.model_name} version {req.model_version}, "
                f"execution {req.execution_name}) while waiting for approval"
            )
            try:
                ctx.workflow.stop_execution(closed.execution_arn, "Superseded", cause)
            except StopFailed as error:
                ctx.log.warning(
                    "could not stop the superseded execution", olderExecutionArn=closed.execution_arn, reason=str(error)
                )
        _close_message(ctx, closed, message.superseded_status(req.commit, now))
        ctx.log.info(
            "older approval superseded", olderApprovalId=closed.approval_id, olderExecutionArn=closed.execution_arn
        )
        superseded.append({"approvalId": closed.approval_id, "executionArn": closed.execution_arn})
    return superseded


# ------------------------------------------------------------------------------------------------- expire


def expire(req: ExpireRequest, ctx: Context) -> dict[str, Any]:
    now = ctx.now()
    if req.execution_arn:
        candidates = ctx.store.open_for_execution(req.execution_arn)
    else:
        candidates = ctx.store.open_past(_epoch(now) - SWEEP_GRACE_SECONDS)
    expired: list[str] = []
    for record in candidates:
        closed = ctx.store.close(
            record.approval_id,
            EXPIRED,
            expected=(PENDING, DECIDED),
            fields={"closedReason": req.reason},
            now=_epoch(now),
        )
        if closed is None:
            continue
        _close_message(ctx, closed, _closed_status(closed, now))
        # A sweep runs for no execution: each line names the one whose approval it closed.
        ctx.log.bind(executionId=closed.execution_arn).info(
            "approval expired", approvalId=closed.approval_id, reason=req.reason, executionArn=closed.execution_arn
        )
        if closed.created_at:
            metrics.approval_waited(
                closed.execution_arn, _epoch(now) - closed.created_at, "expired", approvalId=closed.approval_id
            )
        expired.append(closed.approval_id)
    return {"action": "expire", "executionArn": req.execution_arn, "expired": expired}


# ------------------------------------------------------------------------------------------------ helpers


def _closed_status(record: ApprovalRecord, now: datetime) -> str:
    if record.status == SUPERSEDED:
        return message.superseded_status(record.superseded_by or "a newer commit", now)
    status = message.expired_status(now)
    if record.decision and record.approver:
        status += f" (the {record.decision} decision by {mention(record.approver)} could not be delivered in time)"
    return status


def _close_message(ctx: Context, record: ApprovalRecord, status: str) -> None:
    """Best effort: the record is the truth; a failed update is logged and the buttons still answer correctly."""
    if not record.channel or not record.message_ts:
        return
    try:
        ctx.chat.update_message(
            channel=record.channel,
            ts=record.message_ts,
            text=f"{record.title}: {record.status}",
            blocks=closed_blocks(record.message_blocks, status, record.title),
        )
    except SlackError as error:
        ctx.log.warning("could not update the approval message", approvalId=record.approval_id, slackError=error.code)
