"""Secrets Manager values, read at run time and cached per container.

The stack stores each Slack secret as a plain ``SecretString`` (the raw value) and gives the function its ARN in
an environment variable. ``get_secret`` reads it once and keeps it for ``CACHE_SECONDS``, so a warm container
makes no Secrets Manager call per request, and a rotated secret is picked up within that time (``forget`` drops
it at once, e.g. after Slack answers ``invalid_auth``).

Errors never carry the value: ``SecretUnavailable`` names the environment variable, the ARN and the AWS error
code only. The values are not logged anywhere.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

CACHE_SECONDS = 300.0

# Short timeouts: the Slack interactions function has to answer Slack within 3 seconds in all.
_CONFIG = Config(
    connect_timeout=2,
    read_timeout=3,
    retries={"mode": "standard", "total_max_attempts": 2},
    user_agent_extra="serverless-mlops-secrets",
)
_LOCK = threading.Lock()
_CACHE: dict[str, tuple[str, float]] = {}


class SecretUnavailable(Exception):
    """A secret's ARN is not configured, or the secret cannot be read or is empty. Callers fail closed."""


@functools.cache
def _client() -> Any:
    with _LOCK:
        return boto3.session.Session().client("secretsmanager", config=_CONFIG)


def get_secret(arn: str | None, *, setting: str, clock: Callable[[], float] = time.monotonic) -> str:
    """The secret's value (surrounding whitespace removed). ``setting`` is the environment variable that holds
    ``arn``; it appears in the error so the fix is obvious."""
    if not arn or not arn.strip():
        raise SecretUnavailable(f"{setting}: not set; expected the ARN of a Secrets Manager secret")
    arn = arn.strip()
    cached = _CACHE.get(arn)
    if cached is not None and clock() - cached[1] < CACHE_SECONDS:
        return cached[0]
    try:
        response = _client().get_secret_value(SecretId=arn)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "ClientError")
        raise SecretUnavailable(f"{setting}: cannot read secret {arn} ({code})") from None
    except BotoCoreError as error:
        raise SecretUnavailable(f"{setting}: cannot read secret {arn} ({type(error).__name__})") from None
    value = response.get("SecretString")
    if not isinstance(value, str) or not value.strip():
        raise SecretUnavailable(f"{setting}: secret {arn} has no SecretString value (expected the raw value)")
    value = value.strip()
    _CACHE[arn] = (value, clock())
    return value


def forget(arn: str | None) -> None:
    """Drop one cached value, so the next ``get_secret`` reads it again (after a rotation)."""
    if arn:
        _CACHE.pop(arn.strip(), None)


def clear_cache() -> None:
    """Forget every value and the client (tests use a fresh fake AWS each time)."""
    _CACHE.clear()
    _client.cache_clear()
