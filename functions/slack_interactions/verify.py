"""Slack request signing: ``v0=HMAC-SHA256(signing secret, "v0:<timestamp>:<raw body>")``, compared in constant
time by ``slack_sdk.signature.SignatureVerifier``, and a timestamp at most five minutes from now either way.

Everything is checked before the body is parsed, and every failure is the same ``Unauthorized`` (the reason is
for the log only, never for the caller): no body or broken base64, a missing header, a timestamp that is not a
number, a signature that is not ``v0=<64 hex>``, a stale or future timestamp, a body that is not UTF-8, or a
signature that does not match.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from slack_sdk.signature import Clock, SignatureVerifier

MAX_SKEW_SECONDS = 300  # Slack's recommendation; SignatureVerifier uses the same window
TIMESTAMP_HEADER = "x-slack-request-timestamp"
SIGNATURE_HEADER = "x-slack-signature"
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
_SIGNATURE = re.compile(r"^v0=[0-9a-f]{64}$")


class Unauthorized(Exception):
    """The request is not provably from Slack; ``str()`` is the reason, for the log."""


class _FixedClock(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


def verify(signing_secret: str, body: bytes | None, headers: Mapping[str, str], now: float) -> None:
    """Return when the request is Slack's; raise ``Unauthorized`` otherwise. ``headers`` are lower-cased."""
    if body is None:
        raise Unauthorized("the body is missing or not valid base64")
    timestamp, signature = headers.get(TIMESTAMP_HEADER), headers.get(SIGNATURE_HEADER)
    if not timestamp:
        raise Unauthorized("X-Slack-Request-Timestamp is missing")
    if not signature:
        raise Unauthorized("X-Slack-Signature is missing")
    if not _TIMESTAMP.match(timestamp):
        raise Unauthorized("X-Slack-Request-Timestamp is not a number")
    if not _SIGNATURE.match(signature):
        raise Unauthorized("X-Slack-Signature is not v0=<64 hex digits>")
    skew = now - int(timestamp)
    if skew > MAX_SKEW_SECONDS:
        raise Unauthorized(f"the timestamp is {skew:.0f} s old (a replay?)")
    if skew < -MAX_SKEW_SECONDS:
        raise Unauthorized(f"the timestamp is {-skew:.0f} s in the future")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Unauthorized("the body is not UTF-8") from None
    verifier = SignatureVerifier(signing_secret, clock=_FixedClock(now))
    if not verifier.is_valid(body=text, timestamp=timestamp, signature=signature):
        raise Unauthorized("the signature does not match the body")
