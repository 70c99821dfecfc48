"""The local Slack page's server over HTTP: the channel as JSON, and clicks checked against the channel before
they reach the injected handler."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from local.fake_slack import FakeSlack
from local.slack_web import PAGE, ClickResult, SlackWeb
from tests.local.slack_samples import ALICE, APPROVAL_ID, CHANNEL, client, close_approval, post_approval

BOB = "U0BOB0002"


@dataclass
class Recorder:
    """The injected click handler: records each click, then does what it is told (close the approval)."""

    slack: FakeSlack
    clicks: list[dict[str, str]] = field(default_factory=list)
    fail: Exception | None = None
    answer: Any = None

    def __call__(self, *, action_id: str, value: str, message_ts: str, channel: str, user_id: str) -> ClickResult:
        self.clicks.append(
            {"action_id": action_id, "value": value, "message_ts": message_ts, "channel": channel, "user_id": user_id}
        )
        if self.fail is not None:
            raise self.fail
        if self.answer is not None:
            return self.answer
        close_approval(self.slack, message_ts, user_id)
        return ClickResult(ok=True, text="Approved: the run goes on.")


@dataclass
class Page:
    slack: FakeSlack
    web: SlackWeb
    handler: Recorder

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        url = self.web.url + path.lstrip("/")
        return self._send(urllib.request.Request(url, headers=headers or {}))  # noqa: S310 - our loopback page

    def view(self) -> dict[str, Any]:
        status, _, body = self.get("/api/channel")
        assert status == 200
        return json.loads(body)

    def click(self, body: Any, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - our loopback page
            self.web.url + "api/click",
            data=data,
            method="POST",
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        status, _, answer = self._send(request)
        return status, json.loads(answer)

    @staticmethod
    def _send(request: urllib.request.Request) -> tuple[int, dict[str, str], bytes]:
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our loopback server
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()


@pytest.fixture
def page() -> Iterator[Page]:
    with FakeSlack(channels=[CHANNEL]) as slack:
        handler = Recorder(slack)
        with SlackWeb(slack, CHANNEL, handler, people={ALICE: "alice", BOB: "bob"}, channel_name="mlops") as web:
            yield Page(slack, web, handler)


def approval_click(ts: str, **changes: str) -> dict[str, str]:
    return {"action_id": "approve", "value": APPROVAL_ID, "message_ts": ts, "user_id": ALICE, **changes}


def test_the_page_is_static_html_that_carries_no_message_text(page: Page) -> None:
    page.slack.post(CHANNEL, "secret-looking message text")
    status, headers, body = page.get("/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert body.decode() == PAGE
    assert "secret-looking" not in body.decode()
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert "innerHTML" not in PAGE  # the script builds the page from text nodes only


def test_the_channel_as_json(page: Page) -> None:
    parent = page.slack.post(CHANNEL, "Pipeline started by <@U0ALICE01> &lt;b&gt;")
    ts = post_approval(page.slack, thread_ts=parent)
    client(page.slack).chat_postEphemeral(channel=CHANNEL, user=BOB, text="Only you", thread_ts=parent)

    view = page.view()

    assert (view["channel"], view["channel_name"]) == (CHANNEL, "mlops")
    assert view["people"] == [{"id": ALICE, "name": "alice"}, {"id": BOB, "name": "bob"}]
    [top] = view["messages"]
    assert (top["ts"], top["author"], top["bot"], top["blocks"]) == (parent, "approvals", False, [])
    assert top["text"] == [
        {"kind": "text", "text": "Pipeline started by "},
        {"kind": "mention", "text": "@alice"},
        {"kind": "text", "text": " <b>"},
    ]
    approval, private = top["replies"]
    assert (approval["ts"], approval["bot"], approval["text"]) == (ts, True, [])  # blocks replace the text
    assert [b["type"] for b in approval["blocks"]] == ["header", "section", "section", "context", "actions"]
    header, fields, metrics, context, actions = approval["blocks"]
    assert header["text"] == "Production approval: delivery-time v7"
    assert fields["fields"][1] == [
        {"kind": "bold", "text": "Commit"},
        {"kind": "text", "text": "\n"},
        {"kind": "code", "text": "abc1234"},
        {"kind": "text", "text": " by Alice <Example> & co"},
    ]
    assert metrics["text"][-1]["kind"] == "pre" and "rmse" in metrics["text"][-1]["text"]
    assert context["elements"] == [[{"kind": "text", "text": "Run "}, {"kind": "code", "text": "run-abc1234"}]]
    approve, reject = actions["buttons"]
    assert approve == {
        "action_id": "approve",
        "value": APPROVAL_ID,
        "text": "Approve",
        "style": "primary",
        "confirm": None,
    }
    assert (reject["style"], reject["confirm"]["title"], reject["confirm"]["confirm"]) == (
        "danger",
        "Reject this model?",
        "Reject",
    )
    assert (private["to_user"], private["text"]) == ("bob", [{"kind": "text", "text": "Only you"}])


def test_a_click_reaches_the_handler_and_the_update_shows_next(page: Page) -> None:
    ts = post_approval(page.slack)
    status, answer = page.click(approval_click(ts))
    assert (status, answer) == (200, {"ok": True, "text": "Approved: the run goes on."})
    assert page.handler.clicks == [
        {"action_id": "approve", "value": APPROVAL_ID, "message_ts": ts, "channel": CHANNEL, "user_id": ALICE}
    ]
    [message] = page.view()["messages"]
    assert message["edited"] and message["blocks"][-1]["type"] == "section"
    assert {"kind": "text", "text": "\u2705 Approved by "} in message["blocks"][-1]["text"]
    assert all(b["type"] != "actions" for b in message["blocks"])

    # The buttons are gone: a second click (a stale page) is refused before the handler.
    status, answer = page.click(approval_click(ts, user_id=BOB))
    assert status == 409 and "no longer in the message" in answer["text"]
    assert len(page.handler.clicks) == 1


def test_a_refusal_from_the_handler_is_shown_as_not_ok(page: Page) -> None:
    ts = post_approval(page.slack)
    page.handler.answer = ClickResult(ok=False, text="You are not allowed to approve.")
    assert page.click(approval_click(ts, user_id=BOB)) == (
        200,
        {"ok": False, "text": "You are not allowed to approve."},
    )


@pytest.mark.parametrize(
    ("problem", "status", "text"),
    [
        ("handler raises", 500, "The click failed: RuntimeError: Slack is down"),
        ("handler returns a dict", 500, "returned dict, expected ClickResult"),
    ],
)
def test_a_failing_handler_answers_500_with_the_reason(page: Page, problem: str, status: int, text: str) -> None:
    ts = post_approval(page.slack)
    if problem == "handler raises":
        page.handler.fail = RuntimeError("Slack is down")
    else:
        page.handler.answer = {"ok": True}
    code, answer = page.click(approval_click(ts))
    assert code == status and text in answer["text"] and answer["ok"] is False


BAD_CLICKS = {
    "not JSON": (b"{nope", 400, "not JSON"),
    "not an object": ([1], 400, "expected a JSON object"),
    "no action_id": ({"value": APPROVAL_ID, "message_ts": "1.2", "user_id": ALICE}, 400, "action_id: expected"),
    "value not a string": ({**approval_click("1.2"), "value": 7}, 400, "value: expected a non-empty string"),
    "unknown person": ({**approval_click("1.2"), "user_id": "U0MALLORY"}, 400, "user_id: 'U0MALLORY' is not one"),
    "unknown message": (approval_click("1.2"), 404, "message_ts: no message 1.2"),
    "button not in the message": ("other value", 409, "no longer in the message"),
}


@pytest.mark.parametrize(("body", "status", "text"), BAD_CLICKS.values(), ids=BAD_CLICKS.keys())
def test_bad_clicks_are_refused_before_the_handler(page: Page, body: Any, status: int, text: str) -> None:
    ts = post_approval(page.slack)
    if body == "other value":
        body = approval_click(ts, value="Ab3w0Hq8T2pV9xYbN1cDeA")
    code, answer = page.click(body)
    assert (code, answer["ok"]) == (status, False) and text in answer["text"]
    assert page.handler.clicks == []


def test_clicks_come_only_from_the_page_itself(page: Page) -> None:
    ts = post_approval(page.slack)
    port = page.web.url.rsplit(":", 1)[1].strip("/")
    assert page.click(approval_click(ts), {"Origin": "http://evil.example"})[0] == 403
    assert page.click(approval_click(ts), {"Content-Type": "text/plain"})[0] == 415
    assert page.click(b"x" * 20000)[0] == 413
    assert page.get("/api/channel", {"Host": f"evil.example:{port}"})[0] == 403
    assert page.click(approval_click(ts), {"Host": f"evil.example:{port}"})[0] == 403
    assert page.handler.clicks == []
    assert page.click(approval_click(ts), {"Origin": f"http://localhost:{port}", "Host": f"localhost:{port}"})[0] == 200


def test_unknown_paths_are_not_found(page: Page) -> None:
    assert page.get("/api/nothing")[0] == 404
    assert page.get("/api/click")[0] == 404


@pytest.mark.parametrize(
    ("people", "message"),
    [({}, "people: expected at least one"), ({"alice": "alice"}, "people: not Slack user IDs")],
)
def test_the_people_to_click_as_are_slack_users(people: dict[str, str], message: str) -> None:
    with FakeSlack(channels=[CHANNEL]) as slack, pytest.raises(ValueError, match=message):
        SlackWeb(slack, CHANNEL, Recorder(slack), people=people)
