"""Run status in Slack without code: the state machine's status events → an encrypted SNS topic → AWS Chatbot.

The notify function writes the run's thread; this path reports every end state (including a run stopped as
superseded or timed out, where no Catch runs) even when the notify function cannot.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import policies

STATUSES = ("FAILED", "TIMED_OUT", "ABORTED", "SUCCEEDED")


@dataclass(frozen=True)
class NotificationsArgs:
    name_prefix: str
    account_id: str
    partition: str
    state_machine_arn: pulumi.Input[str]
    # AWS Chatbot posts the topic's messages to this channel once the workspace is authorised in its console.
    chatbot_enabled: bool
    slack_team_id: str
    slack_channel_id: str


def status_pattern(state_machine_arn: pulumi.Input[str]) -> dict[str, object]:
    return {
        "source": ["aws.states"],
        "detail-type": ["Step Functions Execution Status Change"],
        "detail": {"status": list(STATUSES), "stateMachineArn": [state_machine_arn]},
    }


def key_policy(account_id: str, partition: str) -> dict[str, object]:
    """The account administers the key (AWS's default statement); EventBridge may encrypt for the topic."""
    return policies.document(
        {
            "Sid": "AccountAdministersTheKey",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            # EventBridge cannot publish to a topic encrypted with the AWS-managed SNS key, hence this key.
            "Sid": "EventBridgePublishesToTheTopic",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        },
    )


class Notifications(pulumi.ComponentResource):
    topic: aws.sns.Topic
    status_rule: aws.cloudwatch.EventRule

    def __init__(self, name: str, args: NotificationsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("serverless-mlops:notifications:Notifications", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        key = aws.kms.Key(
            f"{name}-key",
            description="Encrypts the pipeline status topic",
            enable_key_rotation=True,
            deletion_window_in_days=7,
            policy=json.dumps(key_policy(args.account_id, args.partition)),
            opts=child,
        )
        self.topic = aws.sns.Topic(
            f"{name}-topic", name=f"{args.name_prefix}-pipeline-status", kms_master_key_id=key.arn, opts=child
        )
        self.status_rule = aws.cloudwatch.EventRule(
            f"{name}-status",
            description="A pipeline run ended: failed, timed out, stopped or succeeded",
            event_pattern=pulumi.Output.json_dumps(status_pattern(args.state_machine_arn)),
            opts=child,
        )
        aws.sns.TopicPolicy(
            f"{name}-topic-policy",
            arn=self.topic.arn,
            policy=policies.to_json(
                policies.document(
                    {
                        "Sid": "OnlyTheStatusRulePublishes",
                        "Effect": "Allow",
                        "Principal": {"Service": "events.amazonaws.com"},
                        "Action": "sns:Publish",
                        "Resource": self.topic.arn,
                        "Condition": {"ArnEquals": {"aws:SourceArn": self.status_rule.arn}},
                    }
                )
            ),
            opts=child,
        )
        aws.cloudwatch.EventTarget(f"{name}-to-topic", rule=self.status_rule.name, arn=self.topic.arn, opts=child)
        if args.chatbot_enabled:
            # Chatbot only relays the topic: its role may do nothing else.
            role = aws.iam.Role(
                f"{name}-chatbot-role",
                description="AWS Chatbot relays pipeline status to Slack; no permissions",
                assume_role_policy=json.dumps(policies.trust_service("chatbot.amazonaws.com")),
                opts=child,
            )
            aws.chatbot.SlackChannelConfiguration(
                f"{name}-chatbot",
                configuration_name=f"{args.name_prefix}-pipeline"[:128],
                iam_role_arn=role.arn,
                slack_team_id=args.slack_team_id,
                slack_channel_id=args.slack_channel_id,
                sns_topic_arns=[self.topic.arn],
                logging_level="ERROR",
                opts=child,
            )
        self.register_outputs({"topicArn": self.topic.arn, "statusRuleArn": self.status_rule.arn})
