"""The fake Slack's channel as a person reads it: messages in order with their threads, as last updated, the
buttons to click next, and the channel as text."""

from __future__ import annotations

import threading

import pytest

from local.fake_slack import BOT_USER, FakeSlack
from local.slack_channel import Span, latest_actions, mrkdwn_spans, thread_as_text
from tests.local.slack_samples import ALICE, APPROVAL_ID, CHANNEL, client, close_approval, post_approval


@pytest.fixture
def slack():
    with FakeSlack(channels=[CHANNEL]) as fake:
        yield fake


def test_messages_come_in_order_with_their_replies_as_last_updated(slack: FakeSlack) -> None:
    web = client(slack)
    first = slack.post(CHANNEL, "run started")
    second = web.chat_postMessage(channel=CHANNEL, text="another run")["ts"]
    reply = web.chat_postMessage(channel=CHANNEL, text="building", thread_ts=first)["ts"]
    web.chat_update(channel=CHANNEL, ts=reply, text="built", blocks=[{"type": "divider"}])

    channel = slack.read_channel(CHANNEL)

    assert [m.ts for m in channel.messages] == [first, second]
    [built] = channel.messages[0].replies
    assert (built.ts, built.text, built.edited, built.blocks) == (reply, "built", True, ({"type": "divider"},))
    assert channel.messages[1].replies == ()
    assert [m.text for m in channel.all_messages()] == ["run started", "another run", "built"]


def test_post_puts_a_message_in_the_thread_it_names(slack: FakeSlack) -> None:
    parent = slack.post(CHANNEL, "run started")
    slack.post(CHANNEL, "deployed", thread_ts=parent)
    [top] = slack.read_channel(CHANNEL).messages
    assert [r.text for r in top.replies] == ["deployed"]


def test_a_reply_whose_parent_is_unknown_is_still_shown(slack: FakeSlack) -> None:
    slack.post(CHANNEL, "orphan", thread_ts="1600000000.000001")
    assert [m.text for m in slack.read_channel(CHANNEL).messages] == ["orphan"]


def test_other_channels_are_not_in_the_read(slack: FakeSlack) -> None:
    slack.post("C0OTHER000", "elsewhere")
    assert slack.read_channel(CHANNEL).messages == ()


def test_a_read_is_a_snapshot(slack: FakeSlack) -> None:
    ts = post_approval(slack)
    before = slack.read_channel(CHANNEL)
    close_approval(slack, ts)
    assert latest_actions(before) is not None
    assert latest_actions(slack.read_channel(CHANNEL)) is None


def test_reads_while_slack_is_written_from_other_threads(slack: FakeSlack) -> None:
    errors: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        try:
            while not done.is_set():
                slack.read_channel(CHANNEL)
        except BaseException as error:  # any failure of a read is what this test looks for
            errors.append(error)

    def write(n: int) -> None:
        for i in range(250):
            slack.post(CHANNEL, f"writer {n} message {i}")

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    reader.join()

    assert errors == []
    messages = slack.read_channel(CHANNEL).messages
    assert len(messages) == 1000
    assert [m.ts for m in messages] == sorted((m.ts for m in messages), key=lambda ts: float(ts))


def test_the_latest_buttons_are_those_of_the_newest_message_that_has_any(slack: FakeSlack) -> None:
    assert latest_actions(slack.read_channel(CHANNEL)) is None
    older = post_approval(slack)
    parent = slack.post(CHANNEL, "run 2 started")
    newer = post_approval(slack, thread_ts=parent)

    latest = latest_actions(slack.read_channel(CHANNEL))
    assert latest is not None and latest.message.ts == newer and latest.message.thread_ts == parent
    assert [(b.action_id, b.value, b.style, b.block_id) for b in latest.buttons] == [
        ("approve", APPROVAL_ID, "primary", "approval_actions"),
        ("reject", APPROVAL_ID, "danger", "approval_actions"),
    ]
    assert latest.button("approve").confirm is None
    assert latest.button("reject").confirm.title == "Reject this model?"
    with pytest.raises(KeyError, match=r"no button 'deploy'.*approve, reject"):
        latest.button("deploy")

    close_approval(slack, newer)
    again = latest_actions(slack.read_channel(CHANNEL))
    assert again is not None and again.message.ts == older


def test_the_approval_thread_as_text(slack: FakeSlack) -> None:
    parent = slack.post(CHANNEL, "Pipeline started for <https://git.example.com/c/abc1234|abc1234>")
    ts = post_approval(slack, thread_ts=parent)
    client(slack).chat_postEphemeral(channel=CHANNEL, user=ALICE, text="Noted, *thanks*", thread_ts=parent)
    close_approval(slack, ts)
    client(slack).chat_postMessage(channel=CHANNEL, text="Unrelated &lt;b&gt;", thread_ts=None)

    assert thread_as_text(slack.read_channel(CHANNEL), parent, names={ALICE: "alice"}) == "\n".join(
        [
            "2023-11-14 22:13:21 UTC  approvals: Pipeline started for abc1234 <https://git.example.com/c/abc1234>",
            "    2023-11-14 22:13:22 UTC  approvals (bot): delivery-time version 7: approved (edited)",
            "        # Production approval: delivery-time v7",
            "        Model: delivery-time version 7",
            "        Commit: abc1234 by Alice <Example> & co",
            "        Stage: \u2705 smoke test passed on version 12 (was 11)",
            "        Image: sha256:bbbbbbbbbbbb\u2026",
            "        MLflow: model version in MLflow <https://mlflow.example.com/#/models/delivery-time/versions/7>",
            "        Decide by: 2025-06-02 09:30 UTC",
            "        Metrics against production",
            "        metric    new  production  change",
            "        rmse    1.234         1.3  -0.066",
            "        · Run run-abc1234",
            "        \u2705 Approved by @alice at 2025-06-02 09:30 UTC",
            "    2023-11-14 22:13:23 UTC  approvals (bot): Noted, thanks (only visible to alice)",
        ]
    )
    whole = thread_as_text(slack.read_channel(CHANNEL)).splitlines()
    assert whole[-1] == "2023-11-14 22:13:24 UTC  approvals (bot): Unrelated <b>"
    assert f"@{ALICE}" in "\n".join(whole)  # without names, a mention shows the user ID


def test_the_buttons_and_other_blocks_as_text(slack: FakeSlack) -> None:
    ts = post_approval(slack)
    client(slack).chat_postMessage(
        channel=CHANNEL,
        text="misc",
        blocks=[{"type": "divider"}, {"type": "image", "image_url": "https://x.example/a.png", "alt_text": "chart"}],
    )
    text = thread_as_text(slack.read_channel(CHANNEL))
    assert "    [Approve] [Reject]" in text.splitlines()
    assert text.splitlines()[-2:] == ["    ---", "    [image: chart]"]
    with pytest.raises(KeyError, match="no thread"):
        thread_as_text(slack.read_channel(CHANNEL), "1.2")
    assert thread_as_text(slack.read_channel(CHANNEL), ts).startswith("2023-11-14 22:13:21 UTC  approvals (bot)")


@pytest.mark.parametrize(
    ("mrkdwn", "spans"),
    [
        ("a &lt;b&gt; &amp; c", [Span("text", "a <b> & c")]),
        (
            "*bold* _it_ ~gone~ `x&lt;y`",
            [
                Span("bold", "bold"),
                Span("text", " "),
                Span("italic", "it"),
                Span("text", " "),
                Span("strike", "gone"),
                Span("text", " "),
                Span("code", "x<y"),
            ],
        ),
        ("```\na  b\n```", [Span("pre", "a  b")]),
        ("<https://x.example/?a=1&amp;b=2|the run>", [Span("link", "the run", "https://x.example/?a=1&b=2")]),
        ("<javascript:alert(1)|click me>", [Span("text", "click me")]),
        (
            "<@U0ALICE01> <@U0NOBODY1> <!here>",
            [
                Span("mention", "@alice"),
                Span("text", " "),
                Span("mention", "@U0NOBODY1"),
                Span("text", " "),
                Span("mention", "@here"),
            ],
        ),
        ("<!subteam^S0REVIEWRS>", [Span("mention", "@S0REVIEWRS")]),
        (
            "<!date^1748856600^{date_short_pretty} at {time}|2025-06-02 09:30 UTC>",
            [Span("text", "2025-06-02 09:30 UTC")],
        ),
        (":white_check_mark: done :unknown_emoji:", [Span("text", "\u2705 done :unknown_emoji:")]),
        ("2*3*4 and snake_case_name", [Span("text", "2*3*4 and snake_case_name")]),
    ],
)
def test_mrkdwn_is_read_as_slack_shows_it(mrkdwn: str, spans: list[Span]) -> None:
    assert mrkdwn_spans(mrkdwn, {ALICE: "alice"}) == spans


def test_message_times_can_come_from_a_clock() -> None:
    with FakeSlack(channels=[CHANNEL], clock=lambda: 1750000000.7) as slack:
        first = client(slack).chat_postMessage(channel=CHANNEL, text="a")["ts"]
        second = slack.post(CHANNEL, "b")
    assert (first, second) == ("1750000000.000001", "1750000000.000002")
    assert slack.read_channel(CHANNEL).messages[0].user == BOT_USER
