"""What a verified Approve / Reject click does, as plain logic over three small interfaces (no boto3 here).

1. The workspace (``team.id``) and app (``api_app_id``) must be ours, else 403 and nothing changes.
2. The user must be an approver: listed in SLACK_APPROVERS, or a member of a listed user group (asked of Slack,
   cached briefly). Otherwise, or when membership cannot be checked, they are told so (ephemeral message) and
   nothing changes: fail closed.
3. The decision is recorded with one conditional write, ``pending`` → ``decided`` (decision, approver, time)
   plus a short delivery lease. DynamoDB applies conditional writes to an item one at a time, so of two clicks
   (Approve and Reject at once, or a double click) exactly one wins: the first decision stands.
4. Only the winner delivers it: ``SendTaskSuccess`` (``{"decision": "approved", "approver", "approverName",
   "decidedAt"}``) or ``SendTaskFailure`` (error ``ApprovalRejected``, the cause names the approver). Then the
   record moves ``decided`` → ``sent`` (and loses its task token) and the buttons are replaced by the decision.
   The time from the request to the decision is counted as metric ``ApprovalWaitTime``.
5. Delivery that fails for a passing reason (throttling, network) releases the lease and leaves the record
   ``decided``: the next click by any approver claims the lease (conditional write: ``decided`` and lease
   lapsed) and delivers the RECORDED decision, not its own, so the first decision still stands and the run
   does not sit waiting until its timeout. A click while another delivery holds the lease only hears "already
   <decision> by <@user>". A lease that is never released (the function died mid-call) lapses after
   ``LEASE_SECONDS``.
6. ``TaskTimedOut``, ``InvalidToken`` and ``TaskDoesNotExist`` mean the run no longer waits: the record becomes
   ``expired`` (reason: the code), and the message and the user are told.

Slack calls after the decision are best effort: the record is the truth, and a later click re-renders the
message of a delivered decision.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from functions.common import metrics
from functions.common.logging import Logger
from functions.common.slack import SlackError, closed_blocks, escape, mention, slack_time
from functions.slack_interactions.models import (
    DECIDED,
    EXPIRED,
    PENDING,
    SENT,
    SUPERSEDED,
    ApprovalRecord,
    Click,
    Settings,
)

LEASE_SECONDS = 20  # longer than the function's timeout: a lease is never taken over while its holder runs
REJECTED_ERROR = "ApprovalRejected"


# ----------------------------------------------------------------------------------------------- ports


class TaskGone(Exception):
    """The workflow no longer waits for this task token (TaskTimedOut, InvalidToken, TaskDoesNotExist)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class SendFailed(Exception):
    """SendTaskSuccess / SendTaskFailure failed for another reason (throttling, network, access): retryable."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class ApprovalStore(Protocol):
    def decide(
        self,
        approval_id: str,
        decision: str,
        approver: str,
        approver_name: str,
        decided_at: str,
        now: float,
        lease_until: float,
    ) -> ApprovalRecord | None: ...

    def get(self, approval_id: str) -> ApprovalRecord | None: ...

    def claim_send(self, approval_id: str, now: float, lease_until: float) -> ApprovalRecord | None: ...

    def release_send(self, approval_id: str, error_code: str) -> None: ...

    def mark_sent(self, approval_id: str, now: float) -> ApprovalRecord | None: ...

    def mark_expired(self, approval_id: str, reason: str, now: float) -> ApprovalRecord | None: ...


class Workflow(Protocol):
    def send_success(self, task_token: str, output: Mapping[str, Any]) -> None: ...

    def send_failure(self, task_token: str, error: str, cause: str) -> None: ...


class Chat(Protocol):
    def update_message(self, *, channel: str, ts: str, text: str, blocks: Sequence[Mapping[str, Any]]) -> None: ...

    def post_ephemeral(self, *, channel: str, user: str, text: str, thread_ts: str | None = None) -> None: ...

    def usergroup_members(self, usergroup: str) -> frozenset[str]: ...


@dataclass(frozen=True)
class Reply:
    """The HTTP answer: 200 for every click Slack should consider handled (what the user sees comes through
    chat.update / chat.postEphemeral), 403 for another workspace or app."""

    status: int
    outcome: str
    text: str | None = None
    execution_arn: str | None = None  # the run the click was about, once its record was read (for the log)


@dataclass
class Context:
    store: ApprovalStore
    workflow: Workflow
    chat: Chat
    settings: Settings
    log: Logger
    clock: Callable[[], float]


# --------------------------------------------------------------------------------------------- helpers


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _when(iso: str | None) -> str:
    if not iso:
        return "an unknown time"
    try:
        return slack_time(datetime.fromisoformat(iso.replace("Z", "+00:00")))
    except ValueError:
        return escape(iso)


def _by(record: ApprovalRecord) -> str:
    return f"{record.decision or 'decided'} by {mention(record.approver or 'someone')} at {_when(record.decided_at)}"


def _tell(ctx: Context, click: Click, text: str) -> None:
    """An ephemeral message to the clicking user only. Best effort."""
    if not click.channel_id:
        return
    try:
        ctx.chat.post_ephemeral(channel=click.channel_id, user=click.user_id, text=text, thread_ts=click.thread_ts)
    except SlackError as error:
        ctx.log.warning("could not tell the user", slackError=error.code)


def _render(ctx: Context, record: ApprovalRecord, click: Click, status: str) -> None:
    """Replace the buttons with ``status``. Best effort."""
    channel = record.channel or click.channel_id
    ts = record.message_ts or click.message_ts
    if not channel or not ts:
        return
    try:
        ctx.chat.update_message(
            channel=channel,
            ts=ts,
            text=f"{record.title}: {record.decision or record.status}",
            blocks=closed_blocks(record.message_blocks, status, record.title),
        )
    except SlackError as error:
        ctx.log.warning("could not update the approval message", slackError=error.code)


def count_wait(record: ApprovalRecord) -> None:
    """Metric ``ApprovalWaitTime``: from the request (``createdAt``) to the decision (``decidedAt``), whoever
    delivered it. Skipped when the record lacks either time."""
    try:
        decided = datetime.fromisoformat((record.decided_at or "").replace("Z", "+00:00")).timestamp()
    except ValueError:
        return
    if record.created_at:
        metrics.approval_waited(
            record.execution_arn,
            decided - record.created_at,
            record.decision or "decided",
            approvalId=record.approval_id,
        )


def decided_status(record: ApprovalRecord) -> str:
    icon = ":white_check_mark:" if record.decision == "approved" else ":no_entry:"
    text = _by(record)
    return f"{icon} {text[0].upper()}{text[1:]}"


def gone_status(record: ApprovalRecord, code: str) -> str:
    return (
        f":hourglass: No longer active ({escape(code)}): the run had stopped waiting when it was {_by(record)}; "
        "nothing was deployed by this approval"
    )


# ------------------------------------------------------------------------------------------- approvers


def check_approver(click: Click, ctx: Context) -> str | None:
    """None when the user may decide, else what to tell them."""
    settings = ctx.settings
    if click.user_id in settings.approver_users:
        return None
    for group in settings.approver_groups:
        try:
            members = ctx.chat.usergroup_members(group)
        except SlackError as error:
            ctx.log.warning("could not read a user group's members", userGroup=group, slackError=error.code)
            return (
                f"Your approver membership could not be checked right now (Slack: {escape(error.code)}), so "
                "nothing was changed. Try again in a minute."
            )
        if click.user_id in members:
            return None
    return (
        "You are not allowed to approve or reject model deployments, so nothing was changed. "
        f"Approvers: {settings.approvers_text()}."
    )


# ------------------------------------------------------------------------------------------------ click


def handle(click: Click, ctx: Context) -> Reply:
    settings, log = ctx.settings, ctx.log
    if click.team_id != settings.team_id or click.app_id != settings.app_id:
        log.warning("click from another workspace or app refused", teamId=click.team_id, apiAppId=click.app_id)
        return Reply(403, "wrong_workspace", "This approval button belongs to another Slack workspace or app.")
    refusal = check_approver(click, ctx)
    if refusal is not None:
        log.warning("click by a non-approver refused")
        _tell(ctx, click, refusal)
        return Reply(200, "not_allowed")

    now = round(ctx.clock(), 3)
    won = ctx.store.decide(
        click.approval_id, click.decision, click.user_id, click.user_name, _iso(now), now, now + LEASE_SECONDS
    )
    if won is not None:
        log.bind(executionId=won.execution_arn).info("decision recorded", decision=won.decision)
        return deliver(won, click, ctx, first=True)

    record = ctx.store.get(click.approval_id)
    if record is None:
        _tell(ctx, click, "This approval no longer exists (it expired long ago); nothing was changed.")
        return Reply(200, "unknown_approval")
    log = log.bind(executionId=record.execution_arn, status=record.status)
    if record.status == PENDING:
        # Only a pending record past its timeout refuses a decision: the run has stopped waiting.
        closed = ctx.store.mark_expired(record.approval_id, "timeout", now)
        if closed is not None:
            _render(
                ctx,
                closed,
                click,
                f":hourglass: Expired at {slack_time(datetime.fromtimestamp(now, UTC))}: "
                "the run ended without a decision",
            )
        _tell(ctx, click, "This approval has timed out: the run no longer waits for it; nothing was changed.")
        return Reply(200, "expired", execution_arn=record.execution_arn)
    if record.status == DECIDED:
        claimed = ctx.store.claim_send(record.approval_id, now, now + LEASE_SECONDS)
        if claimed is not None:
            log.info("retrying the delivery of the recorded decision", attempt=claimed.send_attempts)
            return deliver(claimed, click, ctx, first=False)
        _tell(ctx, click, f"Already {_by(record)}; the decision is being handed to the workflow.")
        return Reply(200, "already_decided", execution_arn=record.execution_arn)
    if record.status == SENT:
        _render(ctx, record, click, decided_status(record))
        _tell(ctx, click, f"Already {_by(record)}.")
        return Reply(200, "already_decided", execution_arn=record.execution_arn)
    if record.status == SUPERSEDED:
        commit = f"`{escape((record.superseded_by or '')[:7])}`" if record.superseded_by else "a newer run"
        _tell(ctx, click, f"This approval was superseded by {commit}; nothing was changed.")
        return Reply(200, "superseded", execution_arn=record.execution_arn)
    if record.status == EXPIRED:
        _tell(ctx, click, "This approval is no longer active (the run ended without a decision); nothing was changed.")
        return Reply(200, "expired", execution_arn=record.execution_arn)
    log.warning("approval in an unknown state; nothing done")
    return Reply(200, "unknown_state", execution_arn=record.execution_arn)


def deliver(record: ApprovalRecord, click: Click, ctx: Context, *, first: bool) -> Reply:
    """Hand the RECORDED decision to the workflow (``record`` came back from the write that granted the lease,
    with its task token)."""
    log = ctx.log.bind(executionId=record.execution_arn, decision=record.decision)
    token = record.task_token
    now = round(ctx.clock(), 3)
    try:
        if not token:
            raise TaskGone("NoTaskToken")
        if record.decision == "approved":
            output = {
                "decision": "approved",
                "approver": record.approver,
                "approverName": record.approver_name,
                "decidedAt": record.decided_at,
            }
            ctx.workflow.send_success(token, output)
        else:
            cause = f"Rejected by {record.approver_name} ({record.approver}) at {record.decided_at}"
            ctx.workflow.send_failure(token, REJECTED_ERROR, cause)
    except TaskGone as gone:
        log.warning("the workflow no longer waits for this approval", code=gone.code)
        closed = ctx.store.mark_expired(record.approval_id, gone.code, now) or record
        _render(ctx, closed, click, gone_status(record, gone.code))
        _tell(
            ctx,
            click,
            f"This approval is no longer active: the run stopped waiting for it ({escape(gone.code)}). "
            "Nothing was deployed by this click.",
        )
        return Reply(200, "no_longer_active", execution_arn=record.execution_arn)
    except SendFailed as failed:
        log.error("the decision could not be delivered yet; a later click retries", sendError=failed.code)
        ctx.store.release_send(record.approval_id, failed.code)
        _tell(
            ctx,
            click,
            f"The decision ({_by(record)}) is recorded but could not reach the workflow yet "
            f"({escape(failed.code)}). Click Approve or Reject again to retry; the first decision stands.",
        )
        return Reply(200, "send_failed", execution_arn=record.execution_arn)

    log.info("decision delivered to the workflow")
    count_wait(record)
    try:
        sent = ctx.store.mark_sent(record.approval_id, now)
    except Exception as error:
        # Delivered but not recorded as such: a later click retries and meets a spent token. Logged loudly.
        log.error("decision delivered but the record could not be marked sent", error)
        sent = None
    _render(ctx, sent or record, click, decided_status(record))
    if not first:
        _tell(ctx, click, f"Delivered the recorded decision ({_by(record)}) to the workflow.")
    return Reply(200, record.decision or "decided", execution_arn=record.execution_arn)
