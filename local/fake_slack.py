"""A local fake of the Slack Web API: a real HTTP server on 127.0.0.1 that the real ``slack_sdk.WebClient``
talks to (``WebClient(token, base_url=fake.url)``, or ``SLACK_API_URL`` for the functions).

It implements the methods the approval functions call plus ``auth.test``, with Slack's response shapes and
errors, and records every request as received (method, parameters, the raw query and body, headers):

    auth.test               {"ok", "url", "team", "user", "team_id", "user_id", "bot_id", ...}
    chat.postMessage        {"ok", "channel", "ts", "message"}   channel_not_found, no_text, invalid_blocks
    chat.update             {"ok", "channel", "ts", "text", "message"}   channel_not_found, message_not_found
    chat.postEphemeral      {"ok", "message_ts"}   channel_not_found, user_not_found
    usergroups.users.list   {"ok", "users"}   no_such_subteam
    any method              not_authed / invalid_auth (token), missing_scope (with "needed" and "provided"),
                            unknown_method; an injected ``ratelimited`` answers HTTP 429 with Retry-After

Tokens come from ``Authorization: Bearer`` (how WebClient sends them) or a ``token`` parameter. The scopes a
method needs are Slack's documented ones (``SCOPES_REQUIRED``), checked against the scopes the fake's token
was granted (by default, those of ``slack/manifest.yml``), so a call the manifest does not allow fails here
as it would in Slack.

    with FakeSlack() as slack:
        slack.fail_next("chat.update", "ratelimited", retry_after=1)
        ...
        assert slack.calls_to("chat.postMessage")[0].params["channel"] == "C0123456789"

What a person would see is ``read_channel(channel)``: a snapshot of the channel's messages and threads as they
are now (``local/slack_channel.py`` renders it as text, ``local/slack_web.py`` as a web page). Message
timestamps count up from a fixed epoch, so tests are deterministic; pass ``clock=time.time`` to get Slack's
real-time ones (a local run shows real times).
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml

from local import loopback_http
from local.slack_channel import Channel, build_channel

MANIFEST = Path(__file__).resolve().parents[1] / "slack" / "manifest.yml"
TOKEN = "xoxb-fake-bot-token"  # noqa: S105 - the stand-in's own token, not a secret
TEAM_ID = "T0FAKETEAM"
BOT_USER = "U0FAKEBOT"
BOT_ID = "B0FAKEBOT"
BOT_NAME = "approvals"

# Slack's documented bot scopes for each method (docs.slack.dev/reference/methods/<method>).
SCOPES_REQUIRED: Mapping[str, tuple[str, ...]] = {
    "auth.test": (),
    "chat.postMessage": ("chat:write",),
    "chat.update": ("chat:write",),
    "chat.postEphemeral": ("chat:write",),
    "usergroups.users.list": ("usergroups:read",),
}


def manifest_scopes(path: Path = MANIFEST) -> frozenset[str]:
    manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
    return frozenset(manifest["oauth_config"]["scopes"]["bot"])


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    raw: str  # the query string and body exactly as received
    headers: dict[str, str]
    status: int = 200
    response: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Failure:
    error: str
    status: int
    retry_after: int | None
    times: int


class FakeSlack:
    def __init__(
        self,
        *,
        token: str = TOKEN,
        channels: Iterable[str] = ("C0123456789",),
        usergroups: Mapping[str, Iterable[str]] | None = None,
        scopes: Iterable[str] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.token = token
        self.channels = set(channels)
        self.usergroups = {group: list(users) for group, users in (usergroups or {}).items()}
        self.scopes = frozenset(scopes) if scopes is not None else manifest_scopes()
        self.calls: list[Call] = []
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.history: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.ephemerals: list[dict[str, Any]] = []
        self._failures: dict[str, list[_Failure]] = {}
        self._ts = itertools.count(1)
        self._clock = clock
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------------------------- lifecycle

    @property
    def url(self) -> str:
        assert self._server is not None, "start the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/api/"

    def start(self) -> FakeSlack:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                fake._serve(self)

            def do_GET(self) -> None:
                fake._serve(self)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = loopback_http.serve(Handler, "fake-slack", poll_interval=0.02)
        return self

    def stop(self) -> None:
        loopback_http.stop(self._server)
        self._server = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------- test API

    def fail_next(
        self, method: str, error: str, *, status: int | None = None, retry_after: int | None = None, times: int = 1
    ) -> None:
        """The next ``times`` calls of ``method`` fail with ``error`` (``ratelimited``: HTTP 429, Retry-After)."""
        if status is None:
            status = 429 if error == "ratelimited" else 200
        if error == "ratelimited" and retry_after is None:
            retry_after = 1
        with self._lock:
            self._failures.setdefault(method, []).append(_Failure(error, status, retry_after, times))

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [call for call in self.calls if call.method == method]

    def methods_called(self) -> set[str]:
        with self._lock:
            return {call.method for call in self.calls}

    def raw_traffic(self) -> str:
        """Everything Slack received except the auth header: what a leak check searches."""
        with self._lock:
            return "\n".join(call.raw for call in self.calls)

    def message(self, channel: str, ts: str) -> dict[str, Any]:
        with self._lock:
            return self.messages[(channel, ts)]

    def post(self, channel: str, text: str = "seed", thread_ts: str | None = None) -> str:
        """Put a message in a channel directly (e.g. the run's thread parent); returns its ts."""
        with self._lock:
            ts = self._next_ts()
            message = {"type": "message", "text": text, "ts": ts, "user": BOT_USER}
            if thread_ts:
                message["thread_ts"] = thread_ts
            self.messages[(channel, ts)] = message
            return ts

    def read_channel(self, channel: str) -> Channel:
        """A snapshot of the channel now: its messages in order with their thread replies (each with its text
        and blocks after any chat.update) and the ephemeral messages posted in it. Safe from any thread."""
        with self._lock:
            messages = [copy.deepcopy(m) for (ch, _), m in self.messages.items() if ch == channel]
            ephemerals = [
                {**copy.deepcopy(e), "ts": e["message_ts"], "user": BOT_USER, "bot_id": BOT_ID, "to_user": e["user"]}
                for e in self.ephemerals
                if e.get("channel") == channel
            ]
        return build_channel(channel, messages, ephemerals, names={BOT_USER: BOT_NAME})

    # ------------------------------------------------------------------------------------- serving

    def _next_ts(self) -> str:
        # The counter keeps every ts unique and increasing; the seconds are the clock's when there is one.
        n = next(self._ts)
        seconds = int(self._clock()) if self._clock is not None else 1700000000 + n
        return f"{seconds}.{n:06d}"

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(request.path)
        method = parts.path.removeprefix("/api/").strip("/")
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length).decode("utf-8") if length else ""
        content_type = (request.headers.get("Content-Type") or "").lower()
        params: dict[str, Any] = dict(parse_qsl(parts.query, keep_blank_values=True))
        if body:
            if "application/json" in content_type:
                loaded = json.loads(body)
                params.update(loaded if isinstance(loaded, dict) else {})
            else:
                params.update(parse_qsl(body, keep_blank_values=True))
        headers = {key.lower(): value for key, value in request.headers.items()}
        raw = "\n".join(part for part in (parts.query, body) if part)
        call = Call(method=method, params=params, raw=raw, headers=headers)
        status, response, extra_headers = self._answer(call)
        call.status, call.response = status, response
        with self._lock:
            self.calls.append(call)
        payload = json.dumps(response).encode("utf-8")
        request.send_response(status)
        request.send_header("Content-Type", "application/json; charset=utf-8")
        request.send_header("Content-Length", str(len(payload)))
        for key, value in extra_headers.items():
            request.send_header(key, value)
        request.end_headers()
        request.wfile.write(payload)

    def _answer(self, call: Call) -> tuple[int, dict[str, Any], dict[str, str]]:
        authorization = call.headers.get("authorization", "")
        token = authorization.removeprefix("Bearer ").strip() if authorization.startswith("Bearer ") else None
        token = token or call.params.get("token")
        if call.method not in SCOPES_REQUIRED:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        if not token:
            return 200, {"ok": False, "error": "not_authed"}, {}
        if token != self.token:
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        with self._lock:
            queue = self._failures.get(call.method) or []
            failure = queue[0] if queue else None
            if failure is not None:
                failure.times -= 1
                if failure.times <= 0:
                    queue.pop(0)
        if failure is not None:
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
            return failure.status, {"ok": False, "error": failure.error}, headers
        missing = [scope for scope in SCOPES_REQUIRED[call.method] if scope not in self.scopes]
        if missing:
            error = {"ok": False, "error": "missing_scope", "needed": ",".join(missing)}
            return 200, {**error, "provided": ",".join(sorted(self.scopes))}, {}
        handler = getattr(self, "_" + call.method.replace(".", "_"))
        with self._lock:
            return 200, handler(call.params), {}

    @staticmethod
    def _blocks(value: Any) -> list[Any] | bool | None:
        """The blocks parameter (a JSON string in a form body), None when absent, False when invalid."""
        if value is None or value == "":
            return None
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                return False
        valid = isinstance(value, list) and len(value) <= 50
        return value if valid and all(isinstance(b, dict) and b.get("type") for b in value) else False

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://fake-workspace.slack.com/",
            "team": "Fake Workspace",
            "user": BOT_NAME,
            "team_id": TEAM_ID,
            "user_id": BOT_USER,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = params.get("channel")
        if channel not in self.channels:
            return {"ok": False, "error": "channel_not_found"}
        blocks = self._blocks(params.get("blocks"))
        if blocks is False:
            return {"ok": False, "error": "invalid_blocks"}
        if not params.get("text") and not blocks:
            return {"ok": False, "error": "no_text"}
        ts = self._next_ts()
        message: dict[str, Any] = {
            "type": "message",
            "text": params.get("text") or "",
            "user": BOT_USER,
            "bot_id": BOT_ID,
            "ts": ts,
            "team": TEAM_ID,
        }
        if blocks:
            message["blocks"] = blocks
        if params.get("thread_ts"):
            message["thread_ts"] = params["thread_ts"]
        self.messages[(channel, ts)] = message
        self.history[(channel, ts)] = [message]
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, ts = params.get("channel"), params.get("ts")
        if channel not in self.channels:
            return {"ok": False, "error": "channel_not_found"}
        if (channel, ts) not in self.messages:
            return {"ok": False, "error": "message_not_found"}
        blocks = self._blocks(params.get("blocks"))
        if blocks is False:
            return {"ok": False, "error": "invalid_blocks"}
        message = {**self.messages[(channel, ts)], "text": params.get("text") or "", "edited": {"user": BOT_USER}}
        if blocks is not None:
            message["blocks"] = blocks
        self.messages[(channel, ts)] = message
        self.history.setdefault((channel, ts), []).append(message)
        return {"ok": True, "channel": channel, "ts": ts, "text": message["text"], "message": message}

    def _chat_postEphemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("channel") not in self.channels:
            return {"ok": False, "error": "channel_not_found"}
        if not params.get("user"):
            return {"ok": False, "error": "user_not_found"}
        ts = self._next_ts()
        self.ephemerals.append({**params, "message_ts": ts})
        return {"ok": True, "message_ts": ts}

    def _usergroups_users_list(self, params: dict[str, Any]) -> dict[str, Any]:
        group = params.get("usergroup")
        if group not in self.usergroups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(self.usergroups[group])}
