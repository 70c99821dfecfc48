"""The AWS and Slack side of the notify function, and the only module that talks to either: the bot token from
Secrets Manager (``functions.common.secrets``, cached per container) and the Slack Web API through
``functions.common.slack`` (one client per container and token, a timeout on every request)."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from functions.common import secrets
from functions.common import slack as slack_api
from functions.notify.models import Settings


class SlackChat:
    """``notifier.Chat``: an authentication error drops the cached token, so the next call reads the secret again
    (it may have been rotated)."""

    def __init__(self, settings: Settings, token: str) -> None:
        self.settings = settings
        # Rate limits are waited for by the notifier (within its deadline), not inside the client.
        self._api = slack_api.connect(
            token, api_url=settings.slack_api_url, timeout=settings.timeout_seconds, max_rate_limit_wait=0
        )

    def _guard(self, error: slack_api.SlackError) -> None:
        if error.auth:
            secrets.forget(self.settings.bot_token_secret_arn)

    def post_message(
        self, *, channel: str, text: str, blocks: Sequence[Mapping[str, Any]], thread_ts: str | None = None
    ) -> tuple[str, str]:
        try:
            return self._api.post_message(channel=channel, text=text, blocks=blocks, thread_ts=thread_ts)
        except slack_api.SlackError as error:
            self._guard(error)
            raise

    def update_message(self, *, channel: str, ts: str, text: str, blocks: Sequence[Mapping[str, Any]]) -> None:
        try:
            self._api.update_message(channel=channel, ts=ts, text=text, blocks=blocks)
        except slack_api.SlackError as error:
            self._guard(error)
            raise


def bot_token(settings: Settings) -> str:
    """Raises ``secrets.SecretUnavailable``."""
    return secrets.get_secret(settings.bot_token_secret_arn, setting="SLACK_BOT_TOKEN_SECRET_ARN")


# A run's history is a few dozen events; past this many the run's start is too far back to matter.
HISTORY_MAX_EVENTS = 1000


class HistoryUnavailable(Exception):
    """The execution's history could not be read; the message names the AWS error."""


@functools.cache
def _stepfunctions() -> Any:
    return boto3.client(
        "stepfunctions",
        config=Config(connect_timeout=3, read_timeout=10, retries={"mode": "standard", "total_max_attempts": 3}),
    )


def execution_history(execution_arn: str) -> list[dict[str, Any]]:
    """The execution's events, newest first, with their inputs and outputs."""
    events: list[dict[str, Any]] = []
    try:
        pages = (
            _stepfunctions()
            .get_paginator("get_execution_history")
            .paginate(executionArn=execution_arn, reverseOrder=True, includeExecutionData=True, maxResults=100)
        )
        for page in pages:
            events.extend(page.get("events", []))
            if len(events) >= HISTORY_MAX_EVENTS:
                break
    except ClientError as error:
        raise HistoryUnavailable(f"GetExecutionHistory failed with {error.response['Error'].get('Code')}") from None
    except BotoCoreError as error:
        raise HistoryUnavailable(f"GetExecutionHistory failed: {type(error).__name__}") from None
    return events


def clear_caches() -> None:
    secrets.clear_cache()
    slack_api.clear_cache()
    _stepfunctions.cache_clear()
