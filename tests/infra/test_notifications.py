"""Tooling: run status → encrypted SNS topic (only the status rule may publish) → optionally AWS Chatbot."""

from __future__ import annotations

import json

import pytest
from moto.events.models import EventPattern

from tests.infra.harness import REGION, TOOLING_ACCOUNT, run_stack, tooling_config

STATE_MACHINE_ARN = f"arn:aws:states:{REGION}:{TOOLING_ACCOUNT}:stateMachine:serverless-mlops-delivery-time-pipeline"


@pytest.fixture
def tooling(stack_runs):
    return stack_runs["tooling"]


def status_event(status: str, state_machine_arn: str = STATE_MACHINE_ARN) -> dict:
    return {
        "version": "0",
        "id": "e1",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": TOOLING_ACCOUNT,
        "time": "2026-11-25T12:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": {
            "executionArn": f"{state_machine_arn}:run-1",
            "stateMachineArn": state_machine_arn,
            "status": status,
        },
    }


@pytest.mark.parametrize(
    ("status", "matches"),
    [("FAILED", True), ("TIMED_OUT", True), ("ABORTED", True), ("SUCCEEDED", True), ("RUNNING", False)],
)
def test_status_rule_matches_the_end_of_this_pipelines_runs(tooling, status, matches):
    pattern = tooling.named("notifications-status").inputs["eventPattern"]
    assert EventPattern.load(pattern).matches_event(status_event(status)) is matches


def test_status_rule_ignores_other_state_machines(tooling):
    pattern = tooling.named("notifications-status").inputs["eventPattern"]
    other = STATE_MACHINE_ARN.replace("pipeline", "other")
    assert not EventPattern.load(pattern).matches_event(status_event("FAILED", other))


def test_topic_is_encrypted_with_a_key_eventbridge_may_use(tooling):
    key = tooling.named("notifications-key")
    assert tooling.named("notifications-topic").inputs["kmsMasterKeyId"] == key.outputs["arn"]
    assert key.inputs["enableKeyRotation"] is True
    statements = {s["Sid"]: s for s in json.loads(key.inputs["policy"])["Statement"]}
    events = statements["EventBridgePublishesToTheTopic"]
    assert events["Principal"] == {"Service": "events.amazonaws.com"}
    assert events["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]


def test_only_the_status_rule_may_publish(tooling):
    [statement] = json.loads(tooling.named("notifications-topic-policy").inputs["policy"])["Statement"]
    assert statement["Action"] == "sns:Publish"
    assert statement["Condition"] == {
        "ArnEquals": {"aws:SourceArn": tooling.named("notifications-status").outputs["arn"]}
    }


def test_runs_that_end_without_a_decision_close_their_approval(tooling):
    target = tooling.named("approval-cleanup-target")
    assert target.inputs["arn"] == tooling.named("approval-request-function").outputs["arn"]
    assert (
        tooling.named("approval-cleanup-invoke").inputs["sourceArn"]
        == tooling.named("notifications-status").outputs["arn"]
    )


def test_chatbot_is_off_by_default_and_relays_the_topic_when_on(tooling):
    assert tooling.of_type("aws:chatbot/slackChannelConfiguration:SlackChannelConfiguration") == []
    run = run_stack("tooling", tooling_config(**{"mlops:chatbotEnabled": "true"}))
    [chatbot] = run.of_type("aws:chatbot/slackChannelConfiguration:SlackChannelConfiguration")
    assert chatbot.inputs["slackTeamId"] == "T0123456789" and chatbot.inputs["slackChannelId"] == "C0123456789"
    assert chatbot.inputs["snsTopicArns"] == [run.named("notifications-topic").outputs["arn"]]
    assert run.of_type("aws:iam/rolePolicy:RolePolicy")  # other roles have policies; Chatbot's has none
    assert not [p for p in run.of_type("aws:iam/rolePolicy:RolePolicy") if "chatbot" in p.name]
