"""Typed inputs of slack_interactions: settings (environment variables), the HTTP request (API Gateway HTTP API,
payload format 2.0), the click (Slack's ``block_actions`` payload) and the approval record.

Nothing here trusts the request: ``HttpRequest`` only extracts raw bytes and headers for the signature check,
and ``parse_click`` runs after it and accepts exactly one button click of ours.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from functions.common.item_values import number as _number
from functions.common.item_values import text as _text

# The approval record's statuses (the same names in request_approval).
PENDING, DECIDED, SENT, EXPIRED, SUPERSEDED = "pending", "decided", "sent", "expired", "superseded"
APPROVE, REJECT = "approve", "reject"
DECISIONS = {APPROVE: "approved", REJECT: "rejected"}

APPROVAL_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_USER = re.compile(r"^[UW][A-Z0-9]{2,20}$")
_USER_GROUP = re.compile(r"^S[A-Z0-9]{2,20}$")
_SLACK_ID = re.compile(r"^[A-Z0-9]{2,24}$")


class ConfigError(Exception):
    """An environment variable is missing or invalid."""


class BadRequest(Exception):
    """A verified request that is not one click of an Approve / Reject button (answered 400, nothing done)."""


# ------------------------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Settings:
    approvals_table: str
    bot_token_secret_arn: str
    team_id: str
    app_id: str
    approver_users: frozenset[str]
    approver_groups: tuple[str, ...]
    slack_api_url: str | None = None

    def approvers_text(self) -> str:
        people = [f"<@{user}>" for user in sorted(self.approver_users)]
        groups = [f"<!subteam^{group}>" for group in self.approver_groups]
        return ", ".join(people + groups)


def parse_approvers(raw: str | None) -> tuple[frozenset[str], tuple[str, ...]]:
    """SLACK_APPROVERS: a JSON list of user IDs (U…, W…) and user-group IDs (S…)."""
    name = "SLACK_APPROVERS"
    try:
        values = json.loads(raw or "")
    except json.JSONDecodeError:
        raise ConfigError(f"{name}: expected a JSON list of Slack user or user-group IDs") from None
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise ConfigError(f"{name}: expected a non-empty JSON list of Slack user or user-group IDs")
    bad = [v for v in values if not (_USER.match(v) or _USER_GROUP.match(v))]
    if bad:
        raise ConfigError(f"{name}: not Slack user (U…, W…) or user-group (S…) IDs: {', '.join(map(repr, bad[:5]))}")
    users = frozenset(v for v in values if _USER.match(v))
    groups = tuple(dict.fromkeys(v for v in values if _USER_GROUP.match(v)))
    return users, groups


def load_settings(environ: Mapping[str, str]) -> Settings:
    def required(name: str, expected: str, pattern: re.Pattern[str] | None = None) -> str:
        value = (environ.get(name) or "").strip()
        if not value:
            raise ConfigError(f"{name}: not set; expected {expected}")
        if pattern is not None and not pattern.match(value):
            raise ConfigError(f"{name}: expected {expected}, got {value!r}")
        return value

    users, groups = parse_approvers(environ.get("SLACK_APPROVERS"))
    return Settings(
        approvals_table=required("APPROVALS_TABLE", "the DynamoDB table of approvals"),
        bot_token_secret_arn=required("SLACK_BOT_TOKEN_SECRET_ARN", "the ARN of the secret holding the bot token"),
        team_id=required("SLACK_TEAM_ID", "the Slack workspace ID (T…)", _SLACK_ID),
        app_id=required("SLACK_APP_ID", "the Slack app ID (A…)", _SLACK_ID),
        approver_users=users,
        approver_groups=groups,
        slack_api_url=(environ.get("SLACK_API_URL") or "").strip() or None,
    )


# ------------------------------------------------------------------------------------------ HTTP request


@dataclass(frozen=True)
class HttpRequest:
    """The raw body (``None`` when the base64 encoding is broken) and lower-cased headers."""

    body: bytes | None
    headers: Mapping[str, str]
    request_id: str | None = None

    @classmethod
    def from_event(cls, event: Any) -> HttpRequest:
        if not isinstance(event, Mapping):
            return cls(body=None, headers={})
        raw_headers = event.get("headers")
        headers = (
            {str(k).lower(): str(v) for k, v in raw_headers.items() if v is not None}
            if isinstance(raw_headers, Mapping)
            else {}
        )
        context = event.get("requestContext")
        request_id = context.get("requestId") if isinstance(context, Mapping) else None
        body = event.get("body")
        if body is None:
            data: bytes | None = b""
        elif not isinstance(body, str):
            data = None
        elif event.get("isBase64Encoded"):
            try:
                data = base64.b64decode(body, validate=True)
            except (binascii.Error, ValueError):
                data = None
        else:
            data = body.encode("utf-8")
        return cls(body=data, headers=headers, request_id=request_id if isinstance(request_id, str) else None)


# --------------------------------------------------------------------------------------------- click


@dataclass(frozen=True)
class Click:
    team_id: str | None
    app_id: str | None
    user_id: str
    user_name: str
    action_id: str
    approval_id: str
    channel_id: str | None = None
    message_ts: str | None = None
    thread_ts: str | None = None

    @property
    def decision(self) -> str:
        return DECISIONS[self.action_id]


def _get(mapping: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(mapping, Mapping):
            return None
        mapping = mapping.get(key)
    return mapping


def _string(value: Any, limit: int = 200) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def parse_click(body: bytes) -> Click:
    """The one button click in a ``payload=`` form field; ``BadRequest`` for anything else."""
    try:
        text = body.decode("utf-8")
        fields = parse_qs(text, keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("the body is not a URL-encoded form") from None
    values = fields.get("payload")
    if not values or len(values) != 1:
        raise BadRequest("expected exactly one payload= field")
    try:
        payload = json.loads(values[0])
    except (json.JSONDecodeError, RecursionError):
        raise BadRequest("payload is not JSON") from None
    if not isinstance(payload, Mapping):
        raise BadRequest("payload is not a JSON object")
    if payload.get("type") != "block_actions":
        raise BadRequest(f"payload type {str(payload.get('type'))[:40]!r} is not handled")
    actions = payload.get("actions")
    if not isinstance(actions, list) or len(actions) != 1 or not isinstance(actions[0], Mapping):
        raise BadRequest("expected exactly one action")
    action = actions[0]
    action_id, value = action.get("action_id"), action.get("value")
    if action_id not in DECISIONS:
        raise BadRequest("the action is not Approve or Reject")
    if not isinstance(value, str) or not APPROVAL_ID.match(value):
        raise BadRequest("the button carries no approval ID")
    user_id = _get(payload, "user", "id")
    if not isinstance(user_id, str) or not _USER.match(user_id):
        raise BadRequest("the payload names no Slack user")
    user_name = _string(_get(payload, "user", "name"), 80) or _string(_get(payload, "user", "username"), 80) or user_id
    channel = _string(_get(payload, "container", "channel_id"), 40) or _string(_get(payload, "channel", "id"), 40)
    return Click(
        team_id=_string(_get(payload, "team", "id"), 40),
        app_id=_string(payload.get("api_app_id"), 40),
        user_id=user_id,
        user_name=" ".join(user_name.split()),
        action_id=action_id,
        approval_id=value,
        channel_id=channel,
        message_ts=_string(_get(payload, "container", "message_ts"), 40),
        thread_ts=_string(_get(payload, "container", "thread_ts"), 40)
        or _string(_get(payload, "message", "thread_ts"), 40),
    )


# ------------------------------------------------------------------------------------------------ record


@dataclass(frozen=True)
class ApprovalRecord:
    """An item of APPROVALS_TABLE. ``task_token`` is only present when a write returned it to its winner (the
    decision or the claim of a retry); plain reads never ask for it."""

    approval_id: str
    status: str
    execution_arn: str = ""
    model_name: str = ""
    model_version: str = ""
    commit: str = ""
    channel: str | None = None
    message_ts: str | None = None
    message_blocks: str | None = None
    decision: str | None = None
    approver: str | None = None
    approver_name: str | None = None
    decided_at: str | None = None
    superseded_by: str | None = None
    created_at: float | None = None
    closed_at: float | None = None
    send_attempts: int = 0
    task_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> ApprovalRecord:
        return cls(
            approval_id=str(item["approvalId"]),
            status=str(item.get("status", "")),
            execution_arn=str(item.get("executionArn", "")),
            model_name=str(item.get("modelName", "")),
            model_version=str(item.get("modelVersion", "")),
            commit=str(item.get("commit", "")),
            channel=_text(item.get("channel")),
            message_ts=_text(item.get("messageTs")),
            message_blocks=_text(item.get("messageBlocks")),
            decision=_text(item.get("decision")),
            approver=_text(item.get("approver")),
            approver_name=_text(item.get("approverName")),
            decided_at=_text(item.get("decidedAt")),
            superseded_by=_text(item.get("supersededBy")),
            created_at=_number(item.get("createdAt")),
            closed_at=_number(item.get("closedAt")),
            send_attempts=int(_number(item.get("sendAttempts")) or 0),
            task_token=_text(item.get("taskToken")),
        )

    @property
    def title(self) -> str:
        return f"{self.model_name} version {self.model_version} (commit {self.commit[:7]})"
