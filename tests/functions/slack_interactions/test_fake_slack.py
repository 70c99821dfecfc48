"""The fake Slack answers the real WebClient with Slack's shapes and errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from local.fake_slack import TEAM_ID, TOKEN, FakeSlack


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(channels=["C0123456789"], usergroups={"S0REVIEWRS": ["U0CAROL03"]}) as fake:
        yield fake


def client(slack: FakeSlack, token: str = TOKEN) -> WebClient:
    return WebClient(token=token, base_url=slack.url, retry_handlers=[])


def error_of(call: object) -> SlackApiError:
    with pytest.raises(SlackApiError) as error:
        call()  # type: ignore[operator]
    return error.value


def test_auth_test(slack: FakeSlack) -> None:
    response = client(slack).auth_test()
    assert (response["ok"], response["team_id"]) == (True, TEAM_ID)
    assert error_of(lambda: client(slack, "xoxb-wrong").auth_test()).response["error"] == "invalid_auth"
    assert error_of(lambda: client(slack, None).auth_test()).response["error"] == "not_authed"  # type: ignore[arg-type]


def test_post_update_ephemeral_and_groups(slack: FakeSlack) -> None:
    web = client(slack)
    posted = web.chat_postMessage(channel="C0123456789", text="hi", blocks=[{"type": "divider"}])
    assert posted["message"]["blocks"] == [{"type": "divider"}]
    updated = web.chat_update(channel="C0123456789", ts=posted["ts"], text="bye", blocks=[])
    assert updated["text"] == "bye" and slack.message("C0123456789", posted["ts"])["text"] == "bye"
    assert web.chat_postEphemeral(channel="C0123456789", user="U0ALICE01", text="psst")["message_ts"]
    assert web.usergroups_users_list(usergroup="S0REVIEWRS")["users"] == ["U0CAROL03"]
    assert [call.method for call in slack.calls] == [
        "chat.postMessage",
        "chat.update",
        "chat.postEphemeral",
        "usergroups.users.list",
    ]


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing:UserWarning")
@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda web: web.chat_postMessage(channel="C0NOTTHERE", text="hi"), "channel_not_found"),
        (lambda web: web.chat_postMessage(channel="C0123456789"), "no_text"),
        (lambda web: web.chat_postMessage(channel="C0123456789", blocks=[{"no": "type"}]), "invalid_blocks"),
        (lambda web: web.chat_update(channel="C0123456789", ts="1.2", text="x"), "message_not_found"),
        (lambda web: web.usergroups_users_list(usergroup="S0NOTTHERE"), "no_such_subteam"),
    ],
)
def test_slack_errors(slack: FakeSlack, call: object, error: str) -> None:
    assert error_of(lambda: call(client(slack))).response["error"] == error  # type: ignore[operator]


def test_rate_limits_answer_429_with_retry_after(slack: FakeSlack) -> None:
    slack.fail_next("chat.postMessage", "ratelimited", retry_after=7)
    response = error_of(lambda: client(slack).chat_postMessage(channel="C0123456789", text="hi")).response
    assert (response.status_code, response["error"], response.headers["Retry-After"]) == (429, "ratelimited", "7")
    assert client(slack).chat_postMessage(channel="C0123456789", text="hi")["ok"]


def test_a_scope_the_token_lacks_is_refused(slack: FakeSlack) -> None:
    with FakeSlack(channels=["C0123456789"], scopes=["chat:write"], usergroups={"S0REVIEWRS": []}) as narrow:
        response = error_of(lambda: client(narrow).usergroups_users_list(usergroup="S0REVIEWRS")).response
    assert (response["error"], response["needed"], response["provided"]) == (
        "missing_scope",
        "usergroups:read",
        "chat:write",
    )
