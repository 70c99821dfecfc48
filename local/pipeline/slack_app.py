"""Slack's side of a button click: the signed interaction request Slack sends to the app's Request URL.

``SlackApp.click(action_id, value, message_ts, channel, user_id)`` is what happens when a person clicks a
button of a message: a ``block_actions`` payload shaped like Slack's, form-encoded as ``payload=<json>``, signed
with the app's signing secret (v0: ``v0=HMAC-SHA256(secret, "v0:<timestamp>:<body>")`` in
``X-Slack-Signature``, the timestamp in ``X-Slack-Request-Timestamp``) and POSTed to the interactions endpoint.
Its signature is the one the Slack stand-in's web page (``local/slack_web.py``) calls, so a person can click in
a browser; ``curl`` prints the same request for a terminal.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import shlex
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus


@dataclass(frozen=True)
class ClickResult:
    status: int
    body: str


@dataclass(frozen=True)
class SlackApp:
    url: str
    signing_secret: str = field(repr=False)
    team_id: str = "T0FAKETEAM"
    app_id: str = "A0LOCALAPP"
    user_names: Mapping[str, str] = field(default_factory=dict)

    def payload(self, action_id: str, value: str, message_ts: str, channel: str, user_id: str) -> dict[str, Any]:
        name = self.user_names.get(user_id, user_id.lower())
        return {
            "type": "block_actions",
            "user": {"id": user_id, "username": name, "name": name, "team_id": self.team_id},
            "api_app_id": self.app_id,
            "token": "unused-legacy-verification-token",
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": False},
            "trigger_id": f"{int(time.time())}.0000000000.local",
            "team": {"id": self.team_id, "domain": "local"},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel, "name": "mlops"},
            "message": {"type": "message", "ts": message_ts},
            "state": {"values": {}},
            "response_url": f"https://hooks.slack.com/actions/{self.team_id}/local",
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": "approval_actions",
                    "text": {"type": "plain_text", "text": action_id.title(), "emoji": True},
                    "value": value,
                    "type": "button",
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }

    def signed(self, body: str, timestamp: int | None = None) -> dict[str, str]:
        """The headers Slack sends with ``body``."""
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        digest = hmac.new(self.signing_secret.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
        return {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": f"v0={digest}",
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        }

    def body(self, action_id: str, value: str, message_ts: str, channel: str, user_id: str) -> str:
        return "payload=" + quote_plus(json.dumps(self.payload(action_id, value, message_ts, channel, user_id)))

    def click(self, action_id: str, value: str, message_ts: str, channel: str, user_id: str) -> ClickResult:
        """A person clicks button ``action_id`` (value ``value``) of message ``message_ts`` in ``channel``."""
        body = self.body(action_id, value, message_ts, channel, user_id)
        request = urllib.request.Request(  # noqa: S310 - the local endpoint
            self.url, data=body.encode(), method="POST", headers=self.signed(body)
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return ClickResult(response.status, response.read().decode())
        except urllib.error.HTTPError as error:
            return ClickResult(error.code, error.read().decode())

    def curl(self, action_id: str, value: str, message_ts: str, channel: str, user_id: str) -> str:
        """The same click as a curl command (its signature is valid for Slack's five-minute window)."""
        body = self.body(action_id, value, message_ts, channel, user_id)
        headers = " ".join(f"-H {shlex.quote(f'{k}: {v}')}" for k, v in self.signed(body).items())
        return f"curl -sS -X POST {headers} --data-raw {shlex.quote(body)} {shlex.quote(self.url)}"
