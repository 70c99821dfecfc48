"""Slack's side of a button click, for local runs and tests: the ``block_actions`` payload Slack sends to the app's
interactivity URL, form-encoded as ``payload=<JSON>`` and signed the way Slack signs every request:

    Content-Type: application/x-www-form-urlencoded
    X-Slack-Request-Timestamp: <unix seconds>
    X-Slack-Signature: v0=<hex HMAC-SHA256(signing secret, "v0:<timestamp>:<raw body>")>

(docs.slack.dev/authentication/verifying-requests-from-slack; the payload's fields are those of
docs.slack.dev/reference/interaction-payloads/block_actions-payload for a button in a channel message).
``functions/slack_interactions`` is the receiving side: ``verify.py`` checks the signature with
``slack_sdk.signature.SignatureVerifier`` and ``models.parse_click`` reads the payload.

    request = signed_interaction_request(
        signing_secret=secret, action_id="approve", value=approval_id, message_ts=ts, channel="C0123456789",
        user_id="U0ALICE01", user_name="alice", team_id="T0FAKETEAM", app_id="A0APPROVALS", message=message,
    )
    request.body, request.headers  # POST them to the handler (API Gateway lower-cases header names)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
SIGNATURE_HEADER = "X-Slack-Signature"
TEAM_DOMAIN = "fake-workspace"


def signature(signing_secret: str, timestamp: int | str, body: str | bytes) -> str:
    """Slack's v0 signature of a request body sent at ``timestamp``."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    base = f"v0:{timestamp}:".encode() + raw
    return "v0=" + hmac.new(signing_secret.encode("utf-8"), base, hashlib.sha256).hexdigest()


def signed_headers(signing_secret: str, body: str | bytes, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack sends with ``body``: content type, timestamp (now by default) and signature."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": FORM_CONTENT_TYPE,
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: signature(signing_secret, ts, body),
    }


def form_body(payload: Any) -> str:
    """``payload=<JSON>`` as Slack posts it; a string is taken as JSON text already (to send malformed ones)."""
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return "payload=" + quote_plus(text)


def find_button(message: Mapping[str, Any], action_id: str, value: str) -> tuple[str | None, Mapping[str, Any]]:
    """The block ID and element of the button ``action_id`` carrying ``value`` in a message's blocks."""
    blocks = message.get("blocks")
    for block in blocks if isinstance(blocks, list) else []:
        if not isinstance(block, Mapping):
            continue
        elements = block.get("elements") if block.get("type") == "actions" else [block.get("accessory")]
        for element in elements if isinstance(elements, list) else []:
            if (
                isinstance(element, Mapping)
                and element.get("type") == "button"
                and element.get("action_id") == action_id
                and element.get("value", "") == value
            ):
                return block.get("block_id"), element
    raise ValueError(f"message {message.get('ts')} has no button with action_id {action_id!r} and value {value!r}")


def block_actions_payload(
    *,
    action_id: str,
    value: str,
    message_ts: str,
    channel: str,
    user_id: str,
    user_name: str,
    team_id: str | None,
    app_id: str | None,
    block_id: str | None,
    button_text: str | None = None,
    style: str | None = None,
    message: Mapping[str, Any] | None = None,
    thread_ts: str | None = None,
    team_domain: str = TEAM_DOMAIN,
    channel_name: str = "mlops",
    now: float | None = None,
) -> dict[str, Any]:
    """The payload of one click on a button of a channel message. ``message`` is the message as Slack holds it
    (its blocks included); without it, a minimal one stands in. ``team_id`` / ``app_id`` None leave them out, as
    for a payload from elsewhere."""
    moment = time.time() if now is None else now
    container: dict[str, Any] = {"type": "message", "message_ts": message_ts, "channel_id": channel}
    container["is_ephemeral"] = False
    if thread_ts:
        container["thread_ts"] = thread_ts
    shown = dict(message) if message is not None else {"type": "message", "text": ""}
    shown["ts"] = message_ts
    if thread_ts:
        shown.setdefault("thread_ts", thread_ts)
    action: dict[str, Any] = {
        "action_id": action_id,
        "block_id": block_id,
        "text": {"type": "plain_text", "text": button_text or action_id.title(), "emoji": True},
        "value": value,
        "type": "button",
        "action_ts": f"{moment:.6f}",
    }
    if style:
        action["style"] = style
    return {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id},
        "api_app_id": app_id,
        "token": "legacy-verification-token",  # deprecated by Slack, still sent; never checked (signatures are)
        "container": container,
        "trigger_id": f"{int(moment)}.{secrets.randbelow(10**10):010d}.{secrets.token_hex(16)}",
        "team": {"id": team_id, "domain": team_domain} if team_id else None,
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": channel_name},
        "message": shown,
        "state": {"values": {}},
        "response_url": f"https://hooks.slack.com/actions/{team_id or 'T0'}/{int(moment)}/{secrets.token_hex(12)}",
        "actions": [action],
    }


def _thread_of(message: Mapping[str, Any] | None, message_ts: str) -> str | None:
    """The thread a reply is in (a thread's parent carries its own ts as thread_ts: it is in no thread)."""
    thread_ts = message.get("thread_ts") if message is not None else None
    return str(thread_ts) if thread_ts and thread_ts != message_ts else None


@dataclass(frozen=True)
class SignedRequest:
    body: str
    headers: dict[str, str]  # Slack's header names

    def lower_case_headers(self) -> dict[str, str]:
        """The headers as API Gateway (HTTP API) hands them to a Lambda function."""
        return {key.lower(): value for key, value in self.headers.items()}


def signed_interaction_request(
    *,
    signing_secret: str,
    action_id: str,
    value: str,
    message_ts: str,
    channel: str,
    user_id: str,
    team_id: str | None,
    app_id: str | None,
    user_name: str | None = None,
    message: Mapping[str, Any] | None = None,
    thread_ts: str | None = None,
    timestamp: int | None = None,
    team_domain: str = TEAM_DOMAIN,
) -> SignedRequest:
    """The signed request Slack sends when ``user_id`` clicks the button ``action_id`` (carrying ``value``) of
    the message ``message_ts`` in ``channel``. With ``message`` (the message as Slack holds it), the button must
    be in it, and its block ID, label and style go into the payload as Slack would put them."""
    block_id: str | None = None
    button: Mapping[str, Any] = {}
    if message is not None:
        block_id, button = find_button(message, action_id, value)
    label = button.get("text", {}).get("text") if isinstance(button.get("text"), Mapping) else None
    payload = block_actions_payload(
        action_id=action_id,
        value=value,
        message_ts=message_ts,
        channel=channel,
        user_id=user_id,
        user_name=user_name or user_id,
        team_id=team_id,
        app_id=app_id,
        block_id=block_id,
        button_text=label,
        style=button.get("style"),
        message=message,
        thread_ts=thread_ts or _thread_of(message, message_ts),
        team_domain=team_domain,
    )
    body = form_body(payload)
    return SignedRequest(body=body, headers=signed_headers(signing_secret, body, timestamp))
