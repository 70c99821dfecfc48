"""Slack for the approval functions: the Web API methods they call (one list, with the scopes each needs), a
small client over ``slack_sdk.WebClient``, and the Block Kit pieces both functions use to close a message.

``WEB_API_METHODS`` is the one place that lists what the code calls; ``SlackApi.call`` refuses anything else,
and ``slack/manifest.yml`` must grant ``required_scopes()`` (a test checks both). The bot token is read from
Secrets Manager by the caller and handed to ``connect``; the client is created once per container and token.

Errors: every failure becomes ``SlackError`` with Slack's error code (``channel_not_found``, ``invalid_auth``,
``ratelimited`` with ``retry_after``, ...) or ``unreachable`` for a network failure. Messages never contain the
token. Rate limits: a 429 is retried once when its ``Retry-After`` is at most ``max_rate_limit_wait`` seconds;
a longer wait is the caller's decision (the interactions function cannot wait, Slack expects its answer in 3 s).
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any
from urllib.error import URLError
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.models.blocks import Block, MarkdownTextObject, SectionBlock

DEFAULT_BASE_URL = "https://slack.com/api/"
ACTIONS_BLOCK_ID = "approval_actions"
STATUS_BLOCK_ID = "approval_status"
AUTH_ERRORS = frozenset({"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"})
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "unreachable", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
_LOCK = threading.Lock()


@dataclass(frozen=True)
class WebApiMethod:
    http_verb: str
    scopes: tuple[str, ...]


# Every Web API method the approval functions call, with the bot scopes Slack documents for it.
WEB_API_METHODS: Mapping[str, WebApiMethod] = MappingProxyType(
    {
        "chat.postMessage": WebApiMethod("POST", ("chat:write",)),
        "chat.update": WebApiMethod("POST", ("chat:write",)),
        "chat.postEphemeral": WebApiMethod("POST", ("chat:write",)),
        "usergroups.users.list": WebApiMethod("GET", ("usergroups:read",)),
    }
)


def required_scopes() -> frozenset[str]:
    return frozenset(scope for method in WEB_API_METHODS.values() for scope in method.scopes)


class SlackError(Exception):
    """A Web API call failed: ``code`` is Slack's error (or ``unreachable``), ``retry_after`` its Retry-After."""

    def __init__(self, method: str, code: str, *, retry_after: float | None = None, needed: str | None = None) -> None:
        self.method = method
        self.code = code
        self.retry_after = retry_after
        detail = f", retry after {retry_after:g} s" if retry_after is not None else ""
        detail += f", needs scope {needed}" if needed else ""
        super().__init__(f"Slack {method} failed: {code}{detail}")

    @property
    def transient(self) -> bool:
        return self.code in TRANSIENT_ERRORS

    @property
    def auth(self) -> bool:
        return self.code in AUTH_ERRORS


def _retry_after(headers: Mapping[str, Any] | None) -> float | None:
    for key, value in (headers or {}).items():
        if key.lower() == "retry-after":
            raw = value[0] if isinstance(value, list | tuple) and value else value
            try:
                return float(raw)
            except (TypeError, ValueError):
                return None
    return None


class _BoundedRateLimitRetry(RateLimitErrorRetryHandler):
    """Retry a 429 once, but only when Slack asks to wait at most ``max_wait`` seconds."""

    def __init__(self, max_wait: float) -> None:
        super().__init__(max_retry_count=1)
        self.max_wait = max_wait

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = _retry_after(response.headers)
        return wait is not None and wait <= self.max_wait


class SlackApi:
    """The Slack Web API as the approval functions use it."""

    def __init__(self, client: WebClient) -> None:
        self._client = client

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        spec = WEB_API_METHODS.get(method)
        if spec is None:
            raise ValueError(f"{method} is not in WEB_API_METHODS: add it there (and its scopes to the manifest)")
        try:
            if spec.http_verb == "GET":
                response = self._client.api_call(method, http_verb="GET", params=params)
            else:
                response = self._client.api_call(method, json=params)
        except SlackApiError as error:
            data = error.response.data if isinstance(error.response.data, dict) else {}
            raise SlackError(
                method,
                str(data.get("error") or f"http_{error.response.status_code}"),
                retry_after=_retry_after(error.response.headers),
                needed=data.get("needed"),
            ) from None
        except (URLError, OSError, SlackClientError) as error:
            raise SlackError(method, "unreachable") from error
        return dict(response.data) if isinstance(response.data, dict) else {}

    def post_message(
        self, *, channel: str, text: str, blocks: Sequence[Mapping[str, Any]], thread_ts: str | None = None
    ) -> tuple[str, str]:
        """Post and return (channel ID, message ts)."""
        params: dict[str, Any] = {"channel": channel, "text": text, "blocks": list(blocks), "unfurl_links": False}
        if thread_ts:
            params["thread_ts"] = thread_ts
        data = self.call("chat.postMessage", **params)
        return str(data.get("channel") or channel), str(data["ts"])

    def update_message(self, *, channel: str, ts: str, text: str, blocks: Sequence[Mapping[str, Any]]) -> None:
        self.call("chat.update", channel=channel, ts=ts, text=text, blocks=list(blocks))

    def post_ephemeral(self, *, channel: str, user: str, text: str, thread_ts: str | None = None) -> None:
        params: dict[str, Any] = {"channel": channel, "user": user, "text": text}
        if thread_ts:
            params["thread_ts"] = thread_ts
        self.call("chat.postEphemeral", **params)

    def usergroup_members(self, usergroup: str) -> frozenset[str]:
        data = self.call("usergroups.users.list", usergroup=usergroup)
        users = data.get("users")
        return frozenset(u for u in users if isinstance(u, str)) if isinstance(users, list) else frozenset()


def base_url(value: str | None) -> str:
    """``SLACK_API_URL`` (default Slack's): https, or http to a loopback address only (tests, the local runner)."""
    if not value or not value.strip():
        return DEFAULT_BASE_URL
    url = value.strip()
    parts = urlsplit(url)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise ValueError(f"SLACK_API_URL: expected an https URL (or http on loopback), got {url!r}")
    return url if url.endswith("/") else url + "/"


@functools.lru_cache(maxsize=4)
def _client(token: str, url: str, timeout: float, max_rate_limit_wait: float) -> SlackApi:
    retry_handlers = [ConnectionErrorRetryHandler(max_retry_count=1), _BoundedRateLimitRetry(max_rate_limit_wait)]
    client = WebClient(
        token=token,
        base_url=url,
        timeout=timeout,  # type: ignore[arg-type]  # urllib accepts a float
        retry_handlers=retry_handlers,
        user_agent_prefix="serverless-mlops",
    )
    return SlackApi(client)


def connect(
    token: str, *, api_url: str | None = None, timeout: float = 5.0, max_rate_limit_wait: float = 0
) -> SlackApi:
    """A client for ``token``, created once per container (per token, URL and limits)."""
    with _LOCK:
        return _client(token, base_url(api_url), timeout, max_rate_limit_wait)


def clear_cache() -> None:
    _client.cache_clear()


# ------------------------------------------------------------------------------------------- Block Kit


def escape(text: Any) -> str:
    """Text made safe for mrkdwn: Slack's three control characters escaped, so a commit author or a metric
    name can never mention @channel, link elsewhere or break the layout."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mention(user_id: str) -> str:
    return f"<@{user_id}>" if user_id.isalnum() else escape(user_id)


def slack_time(moment: datetime) -> str:
    """A date token Slack shows in the reader's time zone; the fallback is UTC."""
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    fallback = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def closed_blocks(body_json: str | None, status: str, fallback_title: str) -> list[dict[str, Any]]:
    """The approval message without its buttons, ending with ``status`` (mrkdwn). ``body_json`` is the message
    body as the request function stored it; without it, a one-line summary stands in."""
    body: list[Block] = []
    if body_json:
        try:
            stored = json.loads(body_json)
            body = Block.parse_all(stored if isinstance(stored, list) else [])
        except (ValueError, TypeError, KeyError):
            body = []
    kept = [block for block in body if block.block_id not in (ACTIONS_BLOCK_ID, STATUS_BLOCK_ID)]
    if not kept:
        kept = [SectionBlock(text=MarkdownTextObject(text=escape(fallback_title)))]
    status_block = SectionBlock(block_id=STATUS_BLOCK_ID, text=MarkdownTextObject(text=status))
    return [block.to_dict() for block in [*kept, status_block]]
