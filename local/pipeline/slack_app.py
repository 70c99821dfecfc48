"""Slack's side of a button click: the signed interaction request Slack sends to the app's Request URL.

``SlackApp.click(action_id, value, message_ts, channel, user_id)`` is what happens when a person clicks a
button of a message: ``local/slack_signing.py`` builds the ``block_actions`` payload and Slack's v0 signature
(the one implementation the tests use too), and this POSTs it to the interactions endpoint. Its signature is the
one the Slack stand-in's web page (``local/slack_web.py``) calls, so a person can click in a browser; ``curl``
prints the same request for a terminal.
"""

from __future__ import annotations

import shlex
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from local.slack_signing import SignedRequest, find_button, signed_interaction_request

# Slack's crawler identifies itself so; the interactions function ignores it, but a proxy log reads like Slack's.
USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"


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
    # The message as the Slack stand-in holds it, so the payload carries its button and thread as Slack's does.
    find_message: Callable[[str, str], Mapping[str, Any] | None] = lambda _channel, _ts: None

    def request(self, action_id: str, value: str, message_ts: str, channel: str, user_id: str) -> SignedRequest:
        return signed_interaction_request(
            signing_secret=self.signing_secret,
            action_id=action_id,
            value=value,
            message_ts=message_ts,
            channel=channel,
            user_id=user_id,
            user_name=self.user_names.get(user_id, user_id.lower()),
            team_id=self.team_id,
            app_id=self.app_id,
            message=self._showing(channel, message_ts, action_id, value),
        )

    def _showing(self, channel: str, message_ts: str, action_id: str, value: str) -> Mapping[str, Any] | None:
        """The message, if it still shows the button. A click on a button that is gone (decided, expired,
        superseded) still reaches the app from a client that has not refreshed: then the payload cannot carry
        the current message."""
        message = self.find_message(channel, message_ts)
        if message is None:
            return None
        try:
            find_button(message, action_id, value)
        except ValueError:
            return None
        return message

    def click(self, action_id: str, value: str, message_ts: str, channel: str, user_id: str) -> ClickResult:
        """A person clicks button ``action_id`` (value ``value``) of message ``message_ts`` in ``channel``."""
        signed = self.request(action_id, value, message_ts, channel, user_id)
        request = urllib.request.Request(  # noqa: S310 - the local endpoint
            self.url,
            data=signed.body.encode(),
            method="POST",
            headers={**signed.headers, "User-Agent": USER_AGENT},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return ClickResult(response.status, response.read().decode())
        except urllib.error.HTTPError as error:
            return ClickResult(error.code, error.read().decode())

    def curl(self, action_id: str, value: str, message_ts: str, channel: str, user_id: str) -> str:
        """The same click as a curl command (its signature is valid for Slack's five-minute window)."""
        signed = self.request(action_id, value, message_ts, channel, user_id)
        headers = " ".join(f"-H {shlex.quote(f'{k}: {v}')}" for k, v in signed.headers.items())
        return f"curl -sS -X POST {headers} --data-raw {shlex.quote(signed.body)} {shlex.quote(self.url)}"
