"""functions.common.slack: the client's errors, rate-limit handling and base URL rules, against the fake."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from functions.common import slack as slack_api
from local.fake_slack import TOKEN, FakeSlack


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    slack_api.clear_cache()
    with FakeSlack(channels=["C0123456789"]) as server:
        yield server
    slack_api.clear_cache()


def test_errors_carry_slacks_code_and_never_the_token(fake: FakeSlack) -> None:
    api = slack_api.connect(TOKEN, api_url=fake.url)
    with pytest.raises(slack_api.SlackError) as error:
        api.post_message(channel="C0NOTTHERE", text="hi", blocks=[])
    assert (error.value.method, error.value.code) == ("chat.postMessage", "channel_not_found")
    assert TOKEN not in str(error.value)
    bad = slack_api.connect("xoxb-revoked", api_url=fake.url)
    with pytest.raises(slack_api.SlackError) as auth:
        bad.update_message(channel="C0123456789", ts="1.1", text="x", blocks=[])
    assert auth.value.auth and not auth.value.transient


def test_rate_limits_are_retried_only_when_short(fake: FakeSlack) -> None:
    patient = slack_api.connect(TOKEN, api_url=fake.url, max_rate_limit_wait=1)
    fake.fail_next("chat.postMessage", "ratelimited", retry_after=1)
    assert patient.post_message(channel="C0123456789", text="hi", blocks=[])[0] == "C0123456789"
    fake.fail_next("chat.postMessage", "ratelimited", retry_after=30)
    with pytest.raises(slack_api.SlackError) as error:
        patient.post_message(channel="C0123456789", text="hi", blocks=[])
    assert (error.value.code, error.value.retry_after, error.value.transient) == ("ratelimited", 30, True)
    assert [call.status for call in fake.calls_to("chat.postMessage")] == [429, 200, 429]


def test_an_unreachable_slack_is_a_slack_error() -> None:
    api = slack_api.connect(TOKEN, api_url="http://127.0.0.1:9/api/", timeout=1)
    with pytest.raises(slack_api.SlackError, match="unreachable"):
        api.post_ephemeral(channel="C0123456789", user="U0ALICE01", text="hi")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "https://slack.com/api/"),
        ("https://slack.example.com/api", "https://slack.example.com/api/"),
        ("http://127.0.0.1:8080/api/", "http://127.0.0.1:8080/api/"),
    ],
)
def test_base_url(value: str | None, expected: str) -> None:
    assert slack_api.base_url(value) == expected


def test_plain_http_is_refused_beyond_loopback() -> None:
    with pytest.raises(ValueError, match="SLACK_API_URL"):
        slack_api.base_url("http://slack.example.com/api/")


def test_mentions_and_escaping() -> None:
    assert slack_api.mention("U0ALICE01") == "<@U0ALICE01>"
    assert slack_api.mention("<!channel>") == "&lt;!channel&gt;"
    assert slack_api.escape("a < b & c > d") == "a &lt; b &amp; c &gt; d"
