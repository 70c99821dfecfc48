"""The signed click request Slack sends: slack_sdk's verifier and the real slack_interactions checks accept it,
and the payload reads as the click that was made."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs

import pytest
from slack_sdk.signature import SignatureVerifier

from functions.slack_interactions.models import parse_click
from functions.slack_interactions.verify import Unauthorized, verify
from local.fake_slack import FakeSlack
from local.slack_signing import signature, signed_headers, signed_interaction_request
from tests.functions.slack_interactions.test_verify import SLACK_BODY, SLACK_SIGNATURE, SLACK_TIMESTAMP
from tests.local.slack_samples import ALICE, APPROVAL_ID, CHANNEL, post_approval

SECRET = "local-signing-secret-0123456789abcdef"
TEAM, APP = "T0FAKETEAM", "A0APPROVALS"


def request_for(**overrides: object):
    fields = {
        "signing_secret": SECRET,
        "action_id": "approve",
        "value": APPROVAL_ID,
        "message_ts": "1700000001.000001",
        "channel": CHANNEL,
        "user_id": ALICE,
        "user_name": "alice",
        "team_id": TEAM,
        "app_id": APP,
    }
    return signed_interaction_request(**{**fields, **overrides})


def payload_of(body: str) -> dict:
    [text] = parse_qs(body)["payload"]
    return json.loads(text)


def test_slacks_documented_example_signature() -> None:
    assert signature("8f742231b10e8888abcd99yyyzzz85a5", SLACK_TIMESTAMP, SLACK_BODY) == SLACK_SIGNATURE


def test_the_signed_request_passes_slack_sdks_verifier_and_the_functions_check() -> None:
    request = request_for()
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert SignatureVerifier(SECRET).is_valid_request(request.body, request.headers)
    verify(SECRET, request.body.encode(), request.lower_case_headers(), time.time())

    assert not SignatureVerifier("another-secret").is_valid_request(request.body, request.headers)
    with pytest.raises(Unauthorized, match="does not match"):
        verify(SECRET, request.body.replace("approve", "reject").encode(), request.lower_case_headers(), time.time())


def test_the_timestamp_is_now_unless_given() -> None:
    before = int(time.time())
    sent = int(request_for().headers["X-Slack-Request-Timestamp"])
    now = int(time.time())
    assert before <= sent <= now
    stale = request_for(timestamp=now - 400)
    assert stale.headers["X-Slack-Request-Timestamp"] == str(now - 400)
    with pytest.raises(Unauthorized, match="old"):
        verify(SECRET, stale.body.encode(), stale.lower_case_headers(), now)
    assert signed_headers(SECRET, "a=b", 1)["X-Slack-Signature"] == signature(SECRET, 1, "a=b")


def test_the_payload_reads_as_the_click() -> None:
    request = request_for(action_id="reject")
    click = parse_click(request.body.encode())
    assert (click.action_id, click.approval_id, click.user_id, click.user_name) == (
        "reject",
        APPROVAL_ID,
        ALICE,
        "alice",
    )
    assert (click.team_id, click.app_id, click.channel_id, click.message_ts) == (
        TEAM,
        APP,
        CHANNEL,
        "1700000001.000001",
    )
    assert click.thread_ts is None


def test_the_payload_has_slacks_block_actions_shape() -> None:
    payload = payload_of(request_for().body)
    assert payload["type"] == "block_actions"
    assert payload["user"] == {"id": ALICE, "username": "alice", "name": "alice", "team_id": TEAM}
    assert (payload["api_app_id"], payload["team"]) == (APP, {"id": TEAM, "domain": "fake-workspace"})
    assert payload["container"] == {
        "type": "message",
        "message_ts": "1700000001.000001",
        "channel_id": CHANNEL,
        "is_ephemeral": False,
    }
    assert payload["channel"]["id"] == CHANNEL and payload["message"]["ts"] == "1700000001.000001"
    assert payload["response_url"].startswith("https://hooks.slack.com/actions/")
    assert len(payload["trigger_id"].split(".")) == 3
    [action] = payload["actions"]
    assert {k: action[k] for k in ("action_id", "value", "type")} == {
        "action_id": "approve",
        "value": APPROVAL_ID,
        "type": "button",
    }
    assert float(action["action_ts"]) > 0


def test_a_click_on_a_posted_message_carries_its_blocks_and_thread() -> None:
    with FakeSlack(channels=[CHANNEL]) as slack:
        parent = slack.post(CHANNEL, "run started")
        ts = post_approval(slack, thread_ts=parent)
        message = slack.message(CHANNEL, ts)
        request = request_for(message_ts=ts, message=message, action_id="reject")
        with pytest.raises(ValueError, match="no button with action_id 'deploy'"):
            request_for(message_ts=ts, message=message, action_id="deploy")
        with pytest.raises(ValueError, match="no button with action_id 'approve' and value 'other'"):
            request_for(message_ts=ts, message=message, value="other")

    payload = payload_of(request.body)
    [action] = payload["actions"]
    assert (action["block_id"], action["style"], action["text"]["text"]) == ("approval_actions", "danger", "Reject")
    assert payload["message"]["blocks"] == message["blocks"]
    assert payload["container"]["thread_ts"] == parent
    assert parse_click(request.body.encode()).thread_ts == parent


def test_a_click_from_no_workspace_leaves_team_and_app_out() -> None:
    payload = payload_of(request_for(team_id=None, app_id=None).body)
    assert (payload["team"], payload["api_app_id"], payload["user"]["team_id"]) == (None, None, None)
