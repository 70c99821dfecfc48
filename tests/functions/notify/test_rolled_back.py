"""The ``rolled_back`` event: a manual rollback (``python -m ops.rollback``) reported as one top-level message."""

from __future__ import annotations

from typing import Any

from functions.notify import handler
from tests.functions.notify.conftest import CHANNEL, MODEL, SlackWorld, blocks_text
from tests.functions.notify.test_notify import Context

RUN = "manual-rollback-prod-20250201093000"
WHO = "arn:aws:sts::123456789012:assumed-role/Operator/alice@example.com"


def rollback_event(**overrides: Any) -> dict[str, Any]:
    event = {
        "event": "rolled_back",
        "executionId": RUN,
        "modelName": MODEL,
        "author": WHO,
        "environment": "prod",
        "deploy": {
            "action": "rollback",
            "environment": "prod",
            "functionVersion": "8",
            "previousVersion": "7",
            "liveVersion": "7",
            "noop": False,
            "modelVersion": "5",
            "restoredModelVersion": "4",
        },
        "alias": "production",
        "promote": {"alias": "production", "modelName": MODEL, "modelVersion": "4", "previousVersion": "5"},
        "promoteError": None,
        "reason": "predictions drifted",
    }
    return {**event, **overrides}


def test_a_rollback_is_one_top_level_message_saying_what_is_live_and_where_the_alias_went(
    slack_world: SlackWorld,
) -> None:
    answer = handler.handler(rollback_event(), Context())

    [post] = slack_world.slack.calls_to("chat.postMessage")
    assert answer == {"channel": CHANNEL, "ts": post.response["ts"]}
    assert "thread_ts" not in post.params
    assert post.params["text"] == "prod rolled back: delivery-time is live on version 7 (model 4)"
    shown = blocks_text(slack_world.slack.message(CHANNEL, answer["ts"]))
    assert ":rewind: *prod rolled back: `delivery-time`*" in shown
    assert "version 7 (model 4), was version 8 (model 5)" in shown
    assert "`production` → version 4 (was 5)" in shown
    assert "alice@example.com" in shown
    assert "predictions drifted" in shown
    assert f"Manual rollback `{RUN}`" in shown


def test_an_alias_that_did_not_move_says_why_without_credentials(slack_world: SlackWorld) -> None:
    error = "RegistryError: MLflow refused set alias (401) for https://admin:hunter2@mlflow.example.com"
    handler.handler(rollback_event(promote=None, promoteError=error), Context())

    shown = blocks_text(slack_world.messages()[0])
    assert "`production` not moved: RegistryError: MLflow refused set alias (401)" in shown
    assert "hunter2" not in shown


def test_a_rollback_to_the_bootstrap_image_and_a_repeated_one_are_described(slack_world: SlackWorld) -> None:
    bootstrap = {"functionVersion": "2", "liveVersion": "1", "modelVersion": "1", "noop": False}
    handler.handler(rollback_event(deploy=bootstrap, promote=None), Context())
    repeated = {"functionVersion": "8", "liveVersion": "7", "restoredModelVersion": "4", "noop": True}
    handler.handler(rollback_event(deploy=repeated, promote={"modelVersion": "4", "noop": True}), Context())

    first, second = (blocks_text(m) for m in slack_world.messages())
    assert "version 1 (no registered model), was version 2 (model 1)" in first
    assert "`production` not moved" in first
    assert "version 7 (model 4), already live" in second
    assert "`production` already on version 4" in second


def test_values_in_a_rollback_cannot_mention_or_link(slack_world: SlackWorld) -> None:
    handler.handler(rollback_event(reason="<!channel> see <https://evil.example|this>"), Context())

    shown = blocks_text(slack_world.messages()[0])
    assert "<!channel>" not in shown and "<https://evil.example" not in shown
