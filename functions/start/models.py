"""Typed inputs of the start function: its settings, the CodeCommit push event, and the execution's name and input.

Event (EventBridge, rule ``push_pattern`` in infra/components/source_repo.py):

    {"id": "<event id>", "source": "aws.codecommit", "detail-type": "CodeCommit Repository State Change",
     "time": "...", "resources": ["arn:aws:codecommit:<region>:<account>:<repository>"],
     "detail": {"event": "referenceCreated" | "referenceUpdated", "referenceType": "branch",
                "referenceName": "main", "referenceFullName": "refs/heads/main", "repositoryName": "...",
                "commitId": "<40 hex>", "oldCommitId": "...", "callerUserArn": "arn:aws:iam::...:user/alice"}}

Execution names are deterministic, ``<repository>-<commit12>``, so a repeated event finds its run instead of
starting another; ``rerun_name`` gives a person's deliberate re-run a new one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from functions.start.errors import IgnoredEvent, StartConfigError

SOURCE = "aws.codecommit"
DETAIL_TYPE = "CodeCommit Repository State Change"
PUSH_EVENTS = ("referenceCreated", "referenceUpdated")
DEFAULT_BRANCH = "main"
NAME_MAX = 80  # Step Functions' limit for an execution name
REPOSITORY_PART_MAX = 40  # leaves room for "-<commit12>-rerun-<yyyymmddHHMMSS>"
COMMIT_PREFIX = 12
_COMMIT = re.compile(r"^[0-9a-f]{7,64}$")
_FULL_COMMIT = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")  # SHA-1 or SHA-256
# Step Functions accepts more, but only these keep the name usable in CloudWatch Logs and IAM session names.
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_STATE_MACHINE_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):states:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):stateMachine:(?P<name>[^:\s]+)$"
)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


# ------------------------------------------------------------------------------------------ settings


@dataclass(frozen=True)
class StateMachine:
    arn: str
    partition: str
    region: str
    account: str
    name: str

    @classmethod
    def parse(cls, value: Any, field_name: str = "STATE_MACHINE_ARN") -> StateMachine:
        match = _STATE_MACHINE_ARN.match(value.strip()) if isinstance(value, str) else None
        if not match:
            raise StartConfigError(
                f"{field_name}: expected arn:aws:states:<region>:<account>:stateMachine:<name>, got {_shown(value)}"
            )
        return cls(arn=value.strip(), **match.groupdict())

    def execution_arn(self, name: str) -> str:
        return f"arn:{self.partition}:states:{self.region}:{self.account}:execution:{self.name}:{name}"


@dataclass(frozen=True)
class Settings:
    state_machine: StateMachine
    branch: str = DEFAULT_BRANCH


def load_settings(environ: Mapping[str, str]) -> Settings:
    raw = environ.get("STATE_MACHINE_ARN")
    if not raw:
        raise StartConfigError("STATE_MACHINE_ARN: not set; expected the pipeline state machine's ARN")
    branch = (environ.get("BRANCH") or DEFAULT_BRANCH).strip()
    return Settings(state_machine=StateMachine.parse(raw), branch=branch)


# --------------------------------------------------------------------------------------------- event


@dataclass(frozen=True)
class Push:
    """A push that created or moved the pipeline's branch."""

    commit: str
    repository: str | None
    branch: str
    author: str | None
    event_id: str | None


def parse_push_event(event: Any, branch: str = DEFAULT_BRANCH) -> Push:
    """The push in ``event``; raise IgnoredEvent saying why when it is not a push to ``branch``."""
    if not isinstance(event, Mapping):
        raise IgnoredEvent(f"event: expected an EventBridge event (a JSON object), got {type(event).__name__}")
    source, detail_type = event.get("source"), event.get("detail-type")
    if source != SOURCE or detail_type != DETAIL_TYPE:
        raise IgnoredEvent(
            f"event: not a CodeCommit push (source {_shown(source)}, detail-type {_shown(detail_type)}); "
            f"expected source {SOURCE!r} and detail-type {DETAIL_TYPE!r}"
        )
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise IgnoredEvent("detail: missing; expected the repository state change")
    kind = detail.get("event")
    if kind not in PUSH_EVENTS:
        raise IgnoredEvent(f"detail.event: {_shown(kind)} is not a push; expected {' or '.join(PUSH_EVENTS)}")
    if detail.get("referenceType") != "branch":
        raise IgnoredEvent(f"detail.referenceType: {_shown(detail.get('referenceType'))} is not a branch")
    reference = detail.get("referenceName")
    if reference != branch:
        raise IgnoredEvent(f"detail.referenceName: {_shown(reference)} is not the pipeline's branch {branch!r}")
    commit = detail.get("commitId")
    if not isinstance(commit, str) or not _COMMIT.match(commit):
        raise IgnoredEvent(f"detail.commitId: expected a git commit SHA (lower-case hex), got {_shown(commit)}")
    repository = detail.get("repositoryName")
    if not isinstance(repository, str) or not repository.strip():
        raise IgnoredEvent(f"detail.repositoryName: expected the repository's name, got {_shown(repository)}")
    author = detail.get("callerUserArn")
    event_id = event.get("id")
    return Push(
        commit=commit,
        repository=repository.strip(),
        branch=branch,
        author=author if isinstance(author, str) and author else None,
        event_id=event_id if isinstance(event_id, str) and event_id else None,
    )


def is_full_commit(commit: str) -> bool:
    return bool(_FULL_COMMIT.match(commit))


# ----------------------------------------------------------------------------------- names and input


def safe_name(text: str) -> str:
    """``text`` with every run of characters outside ``[A-Za-z0-9_-]`` replaced by one ``-``, no edge dashes."""
    return _NAME_UNSAFE.sub("-", text).strip("-")


def execution_name(repository: str, commit: str) -> str:
    """``<repository>-<first 12 of commit>``: the same for every event about this push, at most 80 characters."""
    repository_part = safe_name(repository)[:REPOSITORY_PART_MAX].rstrip("-")
    commit_part = safe_name(commit)[:COMMIT_PREFIX]
    name = f"{repository_part}-{commit_part}" if repository_part else commit_part
    return name[:NAME_MAX]


def rerun_name(commit: str, now: datetime) -> str:
    """``<first 12 of commit>-rerun-<yyyymmddHHMMSS>`` (UTC): a new name for a deliberate re-run of a commit."""
    moment = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
    return f"{safe_name(commit)[:COMMIT_PREFIX]}-rerun-{moment:%Y%m%d%H%M%S}"[:NAME_MAX]


def execution_input(push: Push, source: str = "codecommit", **extra: Any) -> dict[str, Any]:
    """The state machine's input: ``commit`` drives the build; the rest is for people (Slack, the console)."""
    return {
        "commit": push.commit,
        "repositoryName": push.repository,
        "branch": push.branch,
        "author": push.author,
        "source": source,
        "eventId": push.event_id,
        **extra,
    }
