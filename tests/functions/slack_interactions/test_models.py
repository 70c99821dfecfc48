"""Parsing of slack_interactions: the HTTP event, the click payload and the settings."""

from __future__ import annotations

import base64
import json

import pytest

from functions.slack_interactions.models import (
    BadRequest,
    ConfigError,
    HttpRequest,
    load_settings,
    parse_approvers,
    parse_click,
)
from tests.functions.request_approval.world import click_payload, form_body

APPROVAL_ID = "Zk3w0Hq8T2pV9xYbN1cDeA"


def test_the_http_event_gives_the_raw_body_and_lower_case_headers() -> None:
    raw = b"payload=%7B%7D"
    event = {
        "headers": {"X-Slack-Signature": "v0=abc", "content-type": "application/x-www-form-urlencoded"},
        "body": base64.b64encode(raw).decode(),
        "isBase64Encoded": True,
        "requestContext": {"requestId": "abc"},
    }
    request = HttpRequest.from_event(event)
    assert request.body == raw
    assert request.headers["x-slack-signature"] == "v0=abc"
    assert request.request_id == "abc"
    assert HttpRequest.from_event({"body": "a=b"}).body == b"a=b"
    assert HttpRequest.from_event({"body": None}).body == b""
    assert HttpRequest.from_event({"body": "***", "isBase64Encoded": True}).body is None
    assert HttpRequest.from_event("not an event").body is None


def test_a_click_is_read() -> None:
    click = parse_click(form_body(click_payload(APPROVAL_ID, "reject", user="U0BOB0002")).encode())
    assert (click.action_id, click.decision, click.approval_id) == ("reject", "rejected", APPROVAL_ID)
    assert (click.user_id, click.user_name, click.team_id, click.app_id) == (
        "U0BOB0002",
        "bob",
        "T0FAKETEAM",
        "A0APPROVALS",
    )
    assert (click.channel_id, click.message_ts) == ("C0123456789", "1700000001.000001")


def with_change(path: tuple[str, ...], value: object) -> dict:
    payload = click_payload(APPROVAL_ID)
    target = payload
    for key in path[:-1]:
        target = target[key] if not isinstance(target, list) else target[int(key)]
    if isinstance(target, list):
        target[int(path[-1])] = value
    else:
        target[path[-1]] = value
    return payload


MALFORMED = {
    "empty body": "",
    "no payload field": "token=abc&team_id=T1",
    "two payload fields": form_body(click_payload(APPROVAL_ID)) + "&" + form_body(click_payload(APPROVAL_ID)),
    "payload not JSON": "payload=%7Bnot-json",
    "payload a list": form_body([1, 2]),
    "payload a string": form_body(json.dumps("text")),
    "deeply nested": "payload=" + "%5B" * 100000,
    "view submission": form_body({**click_payload(APPROVAL_ID), "type": "view_submission"}),
    "no actions": form_body(with_change(("actions",), [])),
    "two actions": form_body({**click_payload(APPROVAL_ID), "actions": click_payload(APPROVAL_ID)["actions"] * 2}),
    "unknown action": form_body(with_change(("actions", "0", "action_id"), "deploy_now")),
    "no approval ID": form_body(with_change(("actions", "0", "value"), None)),
    "bad approval ID": form_body(with_change(("actions", "0", "value"), "../../etc/passwd")),
    "no user": form_body(with_change(("user",), None)),
    "user ID not Slack's": form_body(with_change(("user", "id"), "alice")),
    "not UTF-8": "payload=%FF%FE",
    "too many fields": "&".join(f"f{i}=1" for i in range(100)),
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
def test_anything_but_one_approval_click_is_a_bad_request(body: str) -> None:
    with pytest.raises(BadRequest):
        parse_click(body.encode("utf-8"))


def test_approvers() -> None:
    users, groups = parse_approvers(json.dumps(["U0ALICE01", "W0BOB0002", "S0REVIEWRS", "S0REVIEWRS"]))
    assert users == {"U0ALICE01", "W0BOB0002"}
    assert groups == ("S0REVIEWRS",)
    for bad in ("", "U0ALICE01", "[]", '["@alice"]', '["C0123456789"]', "[1]"):
        with pytest.raises(ConfigError, match=r"^SLACK_APPROVERS"):
            parse_approvers(bad)


def test_settings_name_what_is_missing() -> None:
    env = {
        "APPROVALS_TABLE": "approvals",
        "SLACK_BOT_TOKEN_SECRET_ARN": "arn",
        "SLACK_TEAM_ID": "T0FAKETEAM",
        "SLACK_APP_ID": "A0APPROVALS",
        "SLACK_APPROVERS": '["U0ALICE01"]',
    }
    assert load_settings(env).approver_users == {"U0ALICE01"}
    for name in env:
        with pytest.raises(ConfigError, match=f"^{name}"):
            load_settings({**env, name: ""})
    with pytest.raises(ConfigError, match=r"^SLACK_TEAM_ID"):
        load_settings({**env, "SLACK_TEAM_ID": "my team"})
