"""The approval message as request_approval builds it, and how slack_interactions closes it, for the tests of
the local Slack stand-in (read model, web page, browser)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from slack_sdk import WebClient

from functions.common.slack import closed_blocks, mention, slack_time
from functions.request_approval import message
from functions.request_approval.models import ApprovalRequest, Settings
from local.fake_slack import TOKEN, FakeSlack

CHANNEL = "C0123456789"
APPROVAL_ID = "Zk3w0Hq8T2pV9xYbN1cDeA"
ALICE = "U0ALICE01"
DECIDED_AT = datetime(2025, 6, 2, 9, 30, tzinfo=UTC)

REQUEST = ApprovalRequest(
    task_token="token",
    execution_arn="arn:aws:states:eu-west-1:123456789012:execution:pipeline:run-abc1234",
    execution_name="run-abc1234",
    model_name="delivery-time",
    model_version="7",
    commit="abc1234def5678abc1234def5678abc1234def56",
    image_uri=f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/serverless-mlops/delivery-time@sha256:{'b' * 64}",
    stage_version="12",
    stage_previous_version="11",
    metrics={"rmse": 1.234},
    production_metrics={"rmse": 1.3},
    author="Alice <Example> & co",
)
SETTINGS = Settings(
    approvals_table="approvals",
    bot_token_secret_arn="arn:aws:secretsmanager:eu-west-1:123456789012:secret:bot",
    channel_id=CHANNEL,
    timeout_seconds=3600,
    mlflow_ui_url="https://mlflow.example.com",
)


def client(slack: FakeSlack) -> WebClient:
    return WebClient(token=TOKEN, base_url=slack.url, retry_handlers=[])


def body_blocks() -> list[dict[str, Any]]:
    return [block.to_dict() for block in message.body_blocks(REQUEST, SETTINGS, DECIDED_AT)]


def post_approval(slack: FakeSlack, thread_ts: str | None = None) -> str:
    """Post the approval message (with its Approve / Reject buttons) as request_approval does; returns its ts."""
    blocks = [*body_blocks(), message.actions_block(APPROVAL_ID, REQUEST).to_dict()]
    posted = client(slack).chat_postMessage(
        channel=CHANNEL, text=message.fallback_text(REQUEST), blocks=blocks, thread_ts=thread_ts
    )
    return str(posted["ts"])


def close_approval(slack: FakeSlack, ts: str, user: str = ALICE) -> None:
    """Replace the buttons with the decision, as slack_interactions does after an approval."""
    status = f":white_check_mark: Approved by {mention(user)} at {slack_time(DECIDED_AT)}"
    blocks = closed_blocks(json.dumps(body_blocks()), status, "delivery-time version 7")
    client(slack).chat_update(channel=CHANNEL, ts=ts, text="delivery-time version 7: approved", blocks=blocks)
