"""The Block Kit approval message: content, buttons, and escaping of everything that comes from the run."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from functions.common.slack import ACTIONS_BLOCK_ID, closed_blocks
from functions.request_approval import message
from functions.request_approval.models import ApprovalRequest, Settings

APPROVAL_ID = "Zk3w0Hq8T2pV9xYbN1cDeA"
SETTINGS = Settings(
    approvals_table="approvals",
    bot_token_secret_arn="arn",
    channel_id="C0123456789",
    timeout_seconds=3600,
    mlflow_ui_url="https://mlflow.example.com",
)
DEADLINE = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)


def request(**overrides: object) -> ApprovalRequest:
    values: dict = {
        "task_token": "secret-task-token",
        "execution_arn": "arn:aws:states:eu-west-1:123456789012:execution:pipeline:run-1",
        "execution_name": "run-1",
        "model_name": "delivery-time",
        "model_version": "7",
        "commit": "0123abcd" * 5,
        "image_uri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/repo@sha256:" + "a" * 64,
        "stage_version": "12",
        "stage_previous_version": "11",
        "metrics": {"rmse": 1.234, "mae": 0.8},
        "production_metrics": {"rmse": 1.3, "mae": 0.75},
        "mlflow_run_url": "https://mlflow.example.com/#/experiments/1/runs/abc",
        "author": "Alice",
    }
    values.update(overrides)
    return ApprovalRequest(**values)


def rendered(req: ApprovalRequest) -> list[dict]:
    blocks = [*message.body_blocks(req, SETTINGS, DEADLINE), message.actions_block(APPROVAL_ID, req)]
    return [block.to_dict() for block in blocks]


def test_the_message_shows_the_model_commit_stage_link_and_deadline() -> None:
    blocks = rendered(request())
    text = json.dumps(blocks)
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Production approval: delivery-time v7", "emoji": False},
    }
    fields = [field["text"] for field in blocks[1]["fields"]]
    assert fields[0] == "*Model*\n`delivery-time` version 7"
    assert fields[1] == "*Commit*\n`0123abc` by Alice"
    assert fields[2] == "*Stage*\n:white_check_mark: smoke test passed on version 12 (was 11)"
    assert fields[4] == "*MLflow*\n<https://mlflow.example.com/#/experiments/1/runs/abc|MLflow run>"
    assert fields[5].startswith("*Decide by*\n<!date^1738324800^")
    assert "secret-task-token" not in text


def test_the_buttons_carry_the_approval_id_only() -> None:
    actions = rendered(request())[-1]
    assert actions["type"] == "actions" and actions["block_id"] == ACTIONS_BLOCK_ID
    approve, reject = actions["elements"]
    assert (approve["action_id"], approve["value"], approve["style"]) == ("approve", APPROVAL_ID, "primary")
    assert "confirm" not in approve
    assert (reject["action_id"], reject["value"], reject["style"]) == ("reject", APPROVAL_ID, "danger")
    assert reject["confirm"]["style"] == "danger"
    assert reject["confirm"]["confirm"]["text"] == "Reject"
    assert reject["confirm"]["deny"]["text"] == "Cancel"


def test_metrics_against_production() -> None:
    table = message.metrics_table({"rmse": 1.234, "mae": 0.8}, {"rmse": 1.3, "mae": 0.75, "r2": 0.9})
    assert table.splitlines() == [
        "```",
        "metric    new  production  change",
        "rmse    1.234         1.3  -0.066",
        "mae       0.8        0.75   +0.05",
        "r2          -         0.9",
        "```",
    ]


def test_without_a_production_model() -> None:
    table = message.metrics_table({"rmse": 1.234}, {})
    assert "metric    new" in table and "rmse    1.234" in table
    assert table.endswith("_No production model yet: this would be the first._")
    assert message.metrics_table({}, {}) == "_No metrics were reported for this version._"


def test_links_go_to_mlflow_only() -> None:
    elsewhere = request(mlflow_run_url="https://evil.example.net/#/runs/abc")
    assert message.mlflow_link(elsewhere, SETTINGS) == (
        "<https://mlflow.example.com/#/models/delivery-time/versions/7|model version in MLflow>"
    )
    no_ui = Settings(**{**SETTINGS.__dict__, "mlflow_ui_url": None})
    assert message.mlflow_link(request(mlflow_run_url=None), no_ui) == "not available"
    assert message.mlflow_link(request(), no_ui).startswith("<https://mlflow.example.com/#/experiments/1/runs/abc|")


def test_text_from_the_run_cannot_mention_or_link() -> None:
    hostile = request(author="<!channel> & <https://evil.example.net|click>", execution_name="run-<!here>")
    text = json.dumps(rendered(hostile))
    assert "<!channel>" not in text and "<!here>" not in text and "<https://evil" not in text
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example.net|click&gt;" in text


def test_a_closed_message_keeps_the_body_and_drops_the_buttons() -> None:
    body = json.dumps([block.to_dict() for block in message.body_blocks(request(), SETTINGS, DEADLINE)])
    closed = closed_blocks(body, "Approved by <@U0ALICE01>", "fallback")
    assert [block["type"] for block in closed] == ["header", "section", "section", "context", "section"]
    assert closed[-1]["text"]["text"] == "Approved by <@U0ALICE01>"
    assert closed_blocks(None, "Expired", "delivery-time version 7")[0]["text"]["text"] == "delivery-time version 7"
    assert closed_blocks("not json", "Expired", "fallback")[0]["text"]["text"] == "fallback"
