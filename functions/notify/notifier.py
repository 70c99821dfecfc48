"""What the notify function does, as plain logic over a small chat interface (no HTTP here).

started
    post the parent message in SLACK_CHANNEL_ID; return ``{"channel", "ts"}``, which the workflow keeps as
    ``$.slack.thread`` and passes to every later notification.
rolled_back
    a manual rollback (``python -m ops.rollback``): one top-level message in SLACK_CHANNEL_ID saying what is
    live now and where MLflow's alias went; returns ``{"channel", "ts"}``.
succeeded / failed
    reply in the thread (``thread_ts``) with the summary, then replace the parent's status line with the
    outcome (:white_check_mark: / :x:). Without a thread (NotifyStarted failed) the summary is posted as a new
    top-level message that also carries the run's details. A failed update of the parent is logged, not raised:
    the reply, which says everything, is already there.

Bounded: every Slack call has a timeout (SLACK_TIMEOUT_SECONDS), transient errors (unreachable, rate limited,
Slack's 5xx) are retried up to SLACK_MAX_ATTEMPTS with backoff (a rate limit waits its Retry-After), and no
attempt starts unless it can finish before the function's deadline. Then ``NotifyFailed`` with Slack's error
code. Errors that a retry cannot fix (channel_not_found, not_in_channel, invalid_auth, invalid_blocks, ...)
fail at once. A retried post whose first answer was lost may show twice; Slack has no idempotency key.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from functions.common.logging import Logger
from functions.common.slack import SlackError
from functions.notify import message
from functions.notify.errors import NotifyFailed
from functions.notify.models import NotifyEvent, Settings, Thread

T = TypeVar("T")
MAX_BACKOFF_SECONDS = 8.0
DEADLINE_EXCEEDED = "deadline_exceeded"  # our code, not Slack's: no time was left for another attempt


class Chat(Protocol):
    def post_message(
        self, *, channel: str, text: str, blocks: Sequence[Mapping[str, Any]], thread_ts: str | None = None
    ) -> tuple[str, str]: ...

    def update_message(self, *, channel: str, ts: str, text: str, blocks: Sequence[Mapping[str, Any]]) -> None: ...


@dataclass
class Context:
    chat: Chat
    settings: Settings
    log: Logger
    deadline: float | None = None  # monotonic time by which every call must be done
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


def notify(event: NotifyEvent, ctx: Context) -> dict[str, Any]:
    if event.event == "started":
        return started(event, ctx)
    if event.event == "rolled_back":
        return rolled_back(event, ctx)
    return finished(event, ctx)


def started(event: NotifyEvent, ctx: Context) -> dict[str, Any]:
    channel, ts = _post(
        ctx,
        event,
        channel=ctx.settings.channel_id,
        text=message.parent_text(event),
        blocks=message.dicts(message.started_blocks(event)),
    )
    ctx.log.info("run thread opened", channel=channel, ts=ts)
    return Thread(channel, ts).to_dict()


def rolled_back(event: NotifyEvent, ctx: Context) -> dict[str, Any]:
    channel, ts = _post(
        ctx,
        event,
        channel=ctx.settings.channel_id,
        text=message.rolled_back_text(event),
        blocks=message.dicts(message.rolled_back_blocks(event)),
    )
    ctx.log.info("rollback reported", channel=channel, ts=ts)
    return Thread(channel, ts).to_dict()


def finished(event: NotifyEvent, ctx: Context) -> dict[str, Any]:
    success = event.event == "succeeded"
    blocks = message.success_blocks(event) if success else message.failure_blocks(event)
    text = message.success_text(event) if success else message.failure_text(event)
    thread = event.thread
    if thread is None:
        # No thread to reply in: one top-level message with the run's details and the summary.
        channel, ts = _post(
            ctx,
            event,
            channel=ctx.settings.channel_id,
            text=text,
            blocks=message.dicts([message.summary_block(event), *blocks]),
        )
        ctx.log.info("summary posted without a thread", channel=channel, ts=ts)
        return {"channel": channel, "ts": ts, "threadTs": None, "parentUpdated": False}

    channel, ts = _post(ctx, event, channel=thread.channel, text=text, blocks=message.dicts(blocks), thread=thread)
    ctx.log.info("summary posted in the run's thread", channel=channel, ts=ts, threadTs=thread.ts)
    updated = True
    try:
        _with_retries(
            ctx,
            "chat.update",
            lambda: ctx.chat.update_message(
                channel=thread.channel,
                ts=thread.ts,
                text=message.final_parent_text(event),
                blocks=message.dicts(message.final_parent_blocks(event)),
            ),
        )
    except SlackError as error:
        updated = False
        ctx.log.warning("could not update the run's parent message", slackError=error.code, threadTs=thread.ts)
    return {"channel": channel, "ts": ts, "threadTs": thread.ts, "parentUpdated": updated}


def _post(
    ctx: Context,
    event: NotifyEvent,
    *,
    channel: str,
    text: str,
    blocks: Sequence[Mapping[str, Any]],
    thread: Thread | None = None,
) -> tuple[str, str]:
    def call() -> tuple[str, str]:
        return ctx.chat.post_message(channel=channel, text=text, blocks=blocks, thread_ts=thread.ts if thread else None)

    started = ctx.clock()
    try:
        return _with_retries(ctx, "chat.postMessage", call)
    except SlackError as error:
        where = f"thread {thread.ts} of channel {channel}" if thread else f"channel {channel}"
        hint = (
            "Slack was unreachable or busy; nothing to fix here if it passes"
            if error.transient or error.code == DEADLINE_EXCEEDED
            else "check the bot token, that the app is in the channel, and SLACK_CHANNEL_ID"
        )
        raise NotifyFailed(
            f"Slack {error.method} failed with {error.code} (gave up after {ctx.clock() - started:.1f} s): the "
            f"'{event.event}' message of run {event.execution_name} was not posted to {where}. The run itself is "
            f"not affected; {hint}."
        ) from None


def _with_retries(ctx: Context, method: str, call: Callable[[], T]) -> T:
    """``call()``, retried on transient Slack errors within the attempt limit and the deadline.

    An attempt may take two timeouts (the Slack client repeats a failed connection once), so a retry starts only
    when that much time is left after its delay.
    """
    settings = ctx.settings
    if ctx.deadline is not None and ctx.clock() >= ctx.deadline:
        raise SlackError(method, DEADLINE_EXCEEDED)
    attempt = 0
    while True:
        attempt += 1
        try:
            return call()
        except SlackError as error:
            if not error.transient or attempt >= settings.max_attempts:
                raise
            if error.retry_after is not None:
                delay = error.retry_after
            else:
                backoff = settings.retry_base_delay_seconds * 2 ** (attempt - 1)
                delay = min(backoff, MAX_BACKOFF_SECONDS) * random.uniform(0.5, 1.0)  # noqa: S311 - jitter
            if ctx.deadline is not None and ctx.clock() + delay + 2 * settings.timeout_seconds > ctx.deadline:
                raise
            ctx.log.warning(
                "Slack call failed, retrying", method=method, slackError=error.code, attempt=attempt, delaySeconds=delay
            )
            ctx.sleep(delay)
