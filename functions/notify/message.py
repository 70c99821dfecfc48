"""The run's Slack messages, built with ``slack_sdk.models.blocks`` (no hand-written JSON).

Parent message (NotifyStarted; its last block is replaced with the final status when the run ends):

    :rocket: Pipeline run: delivery-time                                     section, block_id run_summary
    Model / Commit (short, by author) / Run (link to the Step Functions console)   fields
    :hourglass_flowing_sand: Running ...  →  :white_check_mark: Succeeded ... / :x: Failed at <step> ...
                                                                              context, block_id run_status
Reply on success: the model version, image digest (short), stage and prod function versions, the approver and
the MLflow aliases. Reply on failure: which step failed, the outcome in plain language (Rejected,
ApprovalExpired, Superseded, CanaryRolledBack, RollbackFailed) and the error's type and message, trimmed:
never a stack trace, and anything that looks like a credential is masked. Every value from the run is escaped.

A manual rollback (``rolled_back``) is one top-level message: the environment, the function version live now and
the one it replaced (with their model versions), where MLflow's alias went or why it did not move, who ran it
and why.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from functions.common.logging import redact
from functions.common.slack import escape, mention
from functions.notify.models import NotifyEvent, Rollback, console_url

SUMMARY_BLOCK_ID = "run_summary"
STATUS_BLOCK_ID = "run_status"
ERROR_MESSAGE_MAX = 500
FIELD_MAX = 1900  # Slack's limit for a section field is 2000 characters
TEXT_MAX = 2900  # and 3000 for a section's text
DIGEST_SHOWN = 19  # "sha256:" + 12 hex digits

OUTCOME_LINES: Mapping[str, str] = {
    "Rejected": ":no_entry: The model was rejected at approval; production was not touched.",
    "ApprovalExpired": ":hourglass: Nobody approved or rejected it before the approval timed out; production was "
    "not touched.",
    "Superseded": ":fast_forward: A newer model got there first, so this run stopped without changing anything.",
    "CanaryRolledBack": ":rewind: The production canary failed its checks, and live was rolled back to the "
    "previous version.",
    "Stopped": ":octagonal_sign: The run was stopped before it finished; nothing after the step above ran. "
    "Prod changed only if an earlier message in this thread says so.",
    "TimedOut": ":alarm_clock: The run reached its own time limit; nothing after the step above ran. "
    "Prod changed only if an earlier message in this thread says so.",
    "RollbackFailed": ":rotating_light: The production canary failed and so did its rollback: live may still send "
    "traffic to the new version. Roll back by hand: invoke the deploy function with action rollback and "
    "environment prod.",
}

# Masks for anything in an error message that looks like a credential.
_SECRETS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"xox[a-z]-[A-Za-z0-9-]+"), "xox*-***"),
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), "AKIA***"),
    (re.compile(r"(?i)\b(basic|bearer)\s+[A-Za-z0-9+/=._~-]{8,}"), r"\1 ***"),
    (re.compile(r"(?i)([a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@"), r"\1***@"),
    (
        re.compile(
            r"(?i)\b([\w-]*(?:password|passwd|secret|token|api[_-]?key|credential)[\w-]*)(['\"]?\s*[:=]\s*)"
            r"(['\"]?)[^\s'\",;}&]+"
        ),
        r"\1\2\3***",
    ),
)
_TRACEBACK = re.compile(r"Traceback \(most recent call last\)")
_STACK_LINE = re.compile(r"^\s*File \".*\", line \d+")


# ----------------------------------------------------------------------------------------------- helpers


def mask_secrets(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def clean(text: str, limit: int = ERROR_MESSAGE_MAX) -> str:
    """One error message made safe to show: no stack trace, credentials masked, whitespace folded, trimmed."""
    match = _TRACEBACK.search(text)
    if match:
        text = text[: match.start()]
    lines = [line for line in text.splitlines() if not _STACK_LINE.match(line)]
    text = mask_secrets(" ".join(" ".join(lines).split()))
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def author_name(author: str | None) -> str | None:
    """``arn:aws:iam::1:user/alice`` → alice; ``...:assumed-role/Dev/alice@example.com`` → alice@example.com."""
    if not author:
        return None
    name = author.rsplit("/", 1)[-1] if author.startswith("arn:") else author
    return name[:80] or None


def short_digest(image_uri: str | None) -> str | None:
    if not image_uri:
        return None
    digest = image_uri.rsplit("@", 1)[-1] if "@" in image_uri else image_uri.rsplit("/", 1)[-1]
    return digest if len(digest) <= DIGEST_SHOWN else digest[:DIGEST_SHOWN] + "…"


def run_link(event: NotifyEvent) -> str:
    url = console_url(event.execution_id)
    name = escape(event.execution_name)
    return f"<{url}|{name}>" if url else f"`{name}`"


def commit_text(event: NotifyEvent) -> str:
    if not event.short_commit:
        return "unknown"
    author = author_name(event.author)
    return f"`{escape(event.short_commit)}`" + (f" by {escape(author)}" if author else "")


def _field(title: str, value: str) -> MarkdownTextObject:
    text = f"*{title}*\n{value}"
    return MarkdownTextObject(text=text if len(text) <= FIELD_MAX else text[: FIELD_MAX - 1] + "…")


def _section(text: str, block_id: str | None = None) -> SectionBlock:
    text = text if len(text) <= TEXT_MAX else text[: TEXT_MAX - 1] + "…"
    return SectionBlock(text=MarkdownTextObject(text=text), block_id=block_id)


def _status(text: str) -> ContextBlock:
    return ContextBlock(block_id=STATUS_BLOCK_ID, elements=[MarkdownTextObject(text=text)])


def dicts(blocks: list[Block]) -> list[dict[str, Any]]:
    return [block.to_dict() for block in blocks]


# ------------------------------------------------------------------------------------------------ parent


def summary_block(event: NotifyEvent) -> SectionBlock:
    return SectionBlock(
        block_id=SUMMARY_BLOCK_ID,
        text=MarkdownTextObject(text=f":rocket: *Pipeline run: {escape(event.model_name)}*"),
        fields=[
            _field("Model", f"`{escape(event.model_name)}`"),
            _field("Commit", commit_text(event)),
            _field("Run", run_link(event)),
        ],
    )


def parent_text(event: NotifyEvent) -> str:
    commit = f", commit {event.short_commit}" if event.short_commit else ""
    author = author_name(event.author)
    return escape(f"Pipeline run started: {event.model_name}{commit}" + (f" by {author}" if author else ""))


def started_blocks(event: NotifyEvent) -> list[Block]:
    running = ":hourglass_flowing_sand: Running: build, stage, approval, production. Progress in the thread."
    return [summary_block(event), _status(running)]


def final_status(event: NotifyEvent) -> str:
    """The parent's last line once the run has ended."""
    if event.event == "succeeded":
        version = f"version {escape(event.model_version)} is" if event.model_version else "the new model is"
        return f":white_check_mark: Succeeded: {version} live in production."
    step = escape(event.step or "an unknown step")
    return f":x: Failed at {step}: {escape(failure_headline(event))}"


def final_parent_blocks(event: NotifyEvent) -> list[Block]:
    return [summary_block(event), _status(final_status(event))]


def final_parent_text(event: NotifyEvent) -> str:
    if event.event == "succeeded":
        return escape(f"Pipeline run succeeded: {event.model_name} version {event.model_version or '?'}")
    return escape(f"Pipeline run failed at {event.step or 'an unknown step'}: {event.model_name}")


# ----------------------------------------------------------------------------------------------- success


def _deployment(output: Mapping[str, Any]) -> str:
    if not output:
        return "not reported"
    version = output.get("functionVersion") or output.get("liveVersion")
    previous = output.get("previousVersion")
    if output.get("noop"):
        return f"version {escape(version)} was already live" if version else "already live"
    text = f"version {escape(version)}" if version else "deployed"
    if previous and previous != version:
        text += f" (was {escape(previous)})"
    percent = output.get("canaryPercent")
    if output.get("action") == "promote" or output.get("canaryErrors") is not None:
        text += " after a canary with no errors"
    elif isinstance(percent, int) and not isinstance(percent, bool):
        text += f", canary at {percent}%"
    return text


def _approver(approval: Mapping[str, Any]) -> str:
    user, name = approval.get("approver"), approval.get("approverName")
    if isinstance(user, str) and user:
        return mention(user)
    return escape(name) if isinstance(name, str) and name else "not recorded"


def _aliases(event: NotifyEvent) -> str:
    if not event.promoted:
        return "not reported"
    parts = []
    for alias, output in event.promoted.items():
        version = output.get("modelVersion") or event.model_version or "?"
        previous = output.get("previousVersion")
        was = f" (was {escape(previous)})" if previous and previous != version else ""
        parts.append(f"`{escape(alias)}` → {escape(version)}{was}")
    return "\n".join(parts)


def success_blocks(event: NotifyEvent) -> list[Block]:
    version = escape(event.model_version or "?")
    digest = short_digest(event.image_uri)
    fields = [
        _field("Model version", f"`{escape(event.model_name)}` version {version}"),
        _field("Image", f"`{escape(digest)}`" if digest else "not reported"),
        _field("Stage", _deployment(event.stage)),
        _field("Production", _deployment(event.prod)),
        _field("Approved by", _approver(event.approval)),
        _field("MLflow aliases", _aliases(event)),
    ]
    return [
        SectionBlock(
            text=MarkdownTextObject(
                text=f":white_check_mark: *Version {version} of `{escape(event.model_name)}` is live in production*"
            ),
            fields=fields,
        ),
        ContextBlock(elements=[MarkdownTextObject(text=f"Run {run_link(event)} · commit {commit_text(event)}")]),
    ]


def success_text(event: NotifyEvent) -> str:
    return escape(f"Succeeded: {event.model_name} version {event.model_version or '?'} is live in production")


# ----------------------------------------------------------------------------------------------- failure


@dataclass(frozen=True)
class ErrorSummary:
    kind: str
    message: str
    logs_url: str | None = None  # the failed build's logs, when the error is a CodeBuild build


def summarize_error(error: Any) -> ErrorSummary:
    """The error's type and a short, safe message, from ``{"Error", "Cause"}`` as a Catch records it. A Cause may
    be a Lambda error (JSON ``{"errorType", "errorMessage", "stackTrace"}``), a CodeBuild build (JSON
    ``{"Build": {...}}``), another JSON value, or plain text."""
    if not isinstance(error, Mapping):
        return ErrorSummary("Unknown", clean(str(error)) if error is not None else "no error was recorded")
    kind = str(error.get("Error") or "Unknown")
    cause = error.get("Cause")
    parsed: Any = cause
    if isinstance(cause, str):
        try:
            parsed = json.loads(cause)
        except json.JSONDecodeError:
            parsed = cause
    if isinstance(parsed, Mapping):
        if "errorMessage" in parsed or "errorType" in parsed:
            kind = str(parsed.get("errorType") or kind)
            return ErrorSummary(kind, clean(str(parsed.get("errorMessage") or "")) or "no message")
        build = parsed.get("Build") if "Build" in parsed else (parsed if "BuildStatus" in parsed else None)
        if isinstance(build, Mapping):
            return ErrorSummary(kind, _build_failure(build), _logs_url(build))
        shown = json.dumps(redact(dict(parsed)), separators=(", ", ": "), default=str)
        return ErrorSummary(kind, clean(shown))
    if isinstance(parsed, str) and parsed.strip():
        return ErrorSummary(kind, clean(parsed))
    if kind == "States.Timeout":
        return ErrorSummary(kind, "the step did not finish within its time limit")
    return ErrorSummary(kind, "no details were recorded")


def _build_failure(build: Mapping[str, Any]) -> str:
    """What failed in a CodeBuild build, from the build description Step Functions records."""
    status = str(build.get("BuildStatus") or "FAILED")
    text = f"the build ended {status}"
    for phase in build.get("Phases") or ():
        if isinstance(phase, Mapping) and phase.get("PhaseStatus") not in (None, "SUCCEEDED"):
            contexts = [c.get("Message") for c in phase.get("Contexts") or () if isinstance(c, Mapping)]
            detail = "; ".join(str(m) for m in contexts if m)
            text += f" in phase {phase.get('PhaseType')}" + (f": {detail}" if detail else "")
            break
    return clean(text)


def _logs_url(build: Mapping[str, Any]) -> str | None:
    logs = build.get("Logs")
    link = logs.get("DeepLink") if isinstance(logs, Mapping) else None
    if isinstance(link, str) and link.startswith("https://") and not re.search(r"[\s<>|]", link):
        return link
    return None


def failure_headline(event: NotifyEvent) -> str:
    """One line: what happened (plain language for the outcomes people act on, else the error type)."""
    outcome = event.outcome or ""
    if outcome in OUTCOME_LINES:
        return re.sub(r"^:[a-z_]+: ", "", OUTCOME_LINES[outcome])
    return summarize_error(event.error).kind


def failure_blocks(event: NotifyEvent) -> list[Block]:
    step = escape(event.step or "an unknown step")
    summary = summarize_error(event.error)
    lines = [f":x: *Run failed at {step}*"]
    if event.outcome in OUTCOME_LINES:
        lines.append(OUTCOME_LINES[event.outcome])
    fields = [
        _field("Step", escape(event.step or "unknown")),
        _field("Outcome", escape(event.outcome or "unknown")),
        _field("Error", f"`{escape(summary.kind)}`"),
    ]
    if event.model_version:
        fields.append(_field("Model version", f"`{escape(event.model_name)}` version {escape(event.model_version)}"))
    why = escape(summary.message)
    if summary.logs_url:
        why += f" (<{escape(summary.logs_url)}|build logs>)"
    return [
        SectionBlock(text=MarkdownTextObject(text="\n".join(lines)), fields=fields),
        _section(f"*Why*\n>{why}"),
        ContextBlock(elements=[MarkdownTextObject(text=f"Run {run_link(event)} · commit {commit_text(event)}")]),
    ]


def failure_text(event: NotifyEvent) -> str:
    return escape(f"Failed at {event.step or 'an unknown step'}: {failure_headline(event)}")


# ------------------------------------------------------------------------------------------ manual rollback


def _function_version(version: Any, model: Any) -> str:
    text = f"version {escape(str(version))}" if version else "an unreported version"
    return text + (f" (model {escape(str(model))})" if model else " (no registered model)")


def _live_after_rollback(deploy: Mapping[str, Any]) -> str:
    if not deploy:
        return "not reported"
    live = _function_version(deploy.get("liveVersion"), deploy.get("restoredModelVersion"))
    if deploy.get("noop"):
        return f"{live}, already live"
    return f"{live}, was {_function_version(deploy.get('functionVersion'), deploy.get('modelVersion'))}"


def _alias_after_rollback(rollback: Rollback) -> str:
    alias = f"`{escape(rollback.alias or 'alias')}`"
    promoted = rollback.promote
    if promoted:
        version = escape(str(promoted.get("modelVersion") or "?"))
        previous = promoted.get("previousVersion")
        if promoted.get("noop"):
            return f"{alias} already on version {version}"
        was = f" (was {escape(str(previous))})" if previous and str(previous) != version else ""
        return f"{alias} → version {version}{was}"
    if rollback.promote_error:
        return f"{alias} not moved: {escape(clean(rollback.promote_error))}"
    return f"{alias} not moved"


def rolled_back_blocks(event: NotifyEvent) -> list[Block]:
    rollback = event.rollback
    assert rollback is not None
    fields = [
        _field("Live", _live_after_rollback(rollback.deploy)),
        _field("MLflow alias", _alias_after_rollback(rollback)),
        _field("By", escape(author_name(event.author) or "not recorded")),
    ]
    if rollback.reason:
        fields.append(_field("Reason", escape(rollback.reason)))
    heading = f":rewind: *{escape(rollback.environment)} rolled back: `{escape(event.model_name)}`*"
    return [
        SectionBlock(text=MarkdownTextObject(text=heading), fields=fields),
        ContextBlock(elements=[MarkdownTextObject(text=f"Manual rollback {run_link(event)}")]),
    ]


def rolled_back_text(event: NotifyEvent) -> str:
    rollback = event.rollback
    assert rollback is not None
    live = rollback.deploy.get("liveVersion") or "?"
    model = rollback.deploy.get("restoredModelVersion")
    return escape(
        f"{rollback.environment} rolled back: {event.model_name} is live on version {live}"
        + (f" (model {model})" if model else "")
    )
