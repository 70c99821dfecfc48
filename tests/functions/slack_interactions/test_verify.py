"""Slack request signing, checked before anything else: Slack's documented example, and every way to fail."""

from __future__ import annotations

import pytest

from functions.slack_interactions.verify import MAX_SKEW_SECONDS, Unauthorized, verify
from tests.functions.request_approval.world import sign

# The example of Slack's "Verifying requests from Slack" (docs.slack.dev/authentication/verifying-requests-from-slack).
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_TIMESTAMP = "1531420618"
SLACK_BODY = (
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
SLACK_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
SLACK_HEADERS = {"x-slack-request-timestamp": SLACK_TIMESTAMP, "x-slack-signature": SLACK_SIGNATURE}
NOW = 1531420618.0

SECRET = "another-signing-secret"
BODY = b"payload=%7B%22type%22%3A%22block_actions%22%7D"


def headers(body: bytes = BODY, timestamp: int = int(NOW), secret: str = SECRET) -> dict[str, str]:
    return {"x-slack-request-timestamp": str(timestamp), "x-slack-signature": sign(body.decode(), timestamp, secret)}


def test_slacks_documented_example_verifies() -> None:
    verify(SLACK_SECRET, SLACK_BODY.encode(), SLACK_HEADERS, NOW)


def test_the_example_fails_once_anything_changes() -> None:
    with pytest.raises(Unauthorized, match="does not match"):
        verify(SLACK_SECRET, SLACK_BODY.replace("roadrunner", "coyote").encode(), SLACK_HEADERS, NOW)
    with pytest.raises(Unauthorized, match="does not match"):
        verify(SLACK_SECRET[:-1] + "6", SLACK_BODY.encode(), SLACK_HEADERS, NOW)


@pytest.mark.parametrize("skew", [-MAX_SKEW_SECONDS, 0, MAX_SKEW_SECONDS])
def test_the_window_is_five_minutes_either_way(skew: int) -> None:
    verify(SECRET, BODY, headers(timestamp=int(NOW) - skew), NOW)


@pytest.mark.parametrize(("skew", "reason"), [(MAX_SKEW_SECONDS + 1, "old"), (-MAX_SKEW_SECONDS - 1, "future")])
def test_stale_and_future_timestamps_are_refused(skew: int, reason: str) -> None:
    with pytest.raises(Unauthorized, match=reason):
        verify(SECRET, BODY, headers(timestamp=int(NOW) - skew), NOW)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"x-slack-request-timestamp": None}, "Timestamp is missing"),
        ({"x-slack-signature": None}, "Signature is missing"),
        ({"x-slack-request-timestamp": "1531420618.5"}, "not a number"),
        ({"x-slack-request-timestamp": "-1531420618"}, "not a number"),
        ({"x-slack-request-timestamp": "soon"}, "not a number"),
        ({"x-slack-signature": "v1=" + "0" * 64}, "not v0="),
        ({"x-slack-signature": "v0=" + "Z" * 64}, "not v0="),
        ({"x-slack-signature": "v0=" + "0" * 64}, "does not match"),
    ],
)
def test_missing_or_malformed_headers_are_refused(change: dict, reason: str) -> None:
    values = {**headers(), **change}
    values = {key: value for key, value in values.items() if value is not None}
    with pytest.raises(Unauthorized, match=reason):
        verify(SECRET, BODY, values, NOW)


def test_a_tampered_body_a_wrong_secret_and_a_broken_body_are_refused() -> None:
    with pytest.raises(Unauthorized, match="does not match"):
        verify(SECRET, BODY + b"&x=1", headers(), NOW)
    with pytest.raises(Unauthorized, match="does not match"):
        verify(SECRET, BODY, headers(secret="forged"), NOW)
    with pytest.raises(Unauthorized, match="not UTF-8"):
        verify(SECRET, b"\xff\xfe", headers(), NOW)
    with pytest.raises(Unauthorized, match="not valid base64"):
        verify(SECRET, None, headers(), NOW)
