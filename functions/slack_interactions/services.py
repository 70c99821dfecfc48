"""The AWS and Slack side of slack_interactions, and the only module that talks to either.

``DynamoApprovals``: every status change is one conditional ``UpdateItem`` on the approval's key (DynamoDB
serialises writes to an item, so exactly one of two concurrent clicks passes a condition). Only the two writes
that grant the delivery lease (``decide``, ``claim_send``) return the record with its task token, to the one
caller that won; ``get`` never reads it. Closing a record removes the token.

``StepFunctions``: SendTaskSuccess / SendTaskFailure, with the error codes sorted into "the run no longer
waits" (``TaskGone``) and "try again later" (``SendFailed``).

``SlackChat``: chat.update, chat.postEphemeral and usergroups.users.list (members cached for
``GROUP_CACHE_SECONDS``), with the bot token read from Secrets Manager on first use.

Timeouts are short on purpose: Slack expects the HTTP answer within 3 seconds.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from functions.common import secrets
from functions.common import slack as slack_api
from functions.slack_interactions.interactions import SendFailed, TaskGone
from functions.slack_interactions.models import DECIDED, EXPIRED, PENDING, SENT, ApprovalRecord, Settings

GONE_CODES = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})
GROUP_CACHE_SECONDS = 60.0
SLACK_TIMEOUT_SECONDS = 2.0
# What a plain read returns: everything but the task token.
RECORD_ATTRIBUTES = (
    "approvalId",
    "status",
    "executionArn",
    "modelName",
    "modelVersion",
    "commit",
    "channel",
    "messageTs",
    "messageBlocks",
    "decision",
    "approver",
    "approverName",
    "decidedAt",
    "supersededBy",
    "createdAt",
    "closedAt",
    "sendAttempts",
)

_CONFIG = Config(
    connect_timeout=1,
    read_timeout=2,
    retries={"mode": "standard", "total_max_attempts": 2},
    user_agent_extra="serverless-mlops-slack-interactions",
)
_LOCK = threading.Lock()
_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()
_GROUPS: dict[str, tuple[frozenset[str], float]] = {}


@functools.cache
def _session() -> boto3.session.Session:
    return boto3.session.Session()


@functools.cache
def client(service: str) -> Any:
    """One client per service and container."""
    with _LOCK:
        return _session().client(service, config=_CONFIG)


def clear_caches() -> None:
    client.cache_clear()
    _session.cache_clear()
    _GROUPS.clear()
    secrets.clear_cache()
    slack_api.clear_cache()


def signing_secret(environ: Mapping[str, str]) -> str:
    """Raises ``secrets.SecretUnavailable`` (missing ARN, unreadable or empty secret)."""
    return secrets.get_secret(environ.get("SLACK_SIGNING_SECRET_ARN"), setting="SLACK_SIGNING_SECRET_ARN")


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _serialize(values: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: _SERIALIZER.serialize(Decimal(str(value)) if isinstance(value, float) else value)
        for key, value in values.items()
    }


def _record(item: Mapping[str, Any]) -> ApprovalRecord:
    return ApprovalRecord.from_item({key: _DESERIALIZER.deserialize(value) for key, value in item.items()})


class DynamoApprovals:
    """``interactions.ApprovalStore`` on DynamoDB."""

    def __init__(self, settings: Settings) -> None:
        self.table = settings.approvals_table
        self._db = client("dynamodb")

    def _update(
        self,
        approval_id: str,
        update: str,
        condition: str,
        values: Mapping[str, Any],
        names: Mapping[str, str] | None = None,
        *,
        returns: str = "ALL_NEW",
    ) -> ApprovalRecord | None:
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "Key": _serialize({"approvalId": approval_id}),
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#s": "status", **(names or {})},
            "ExpressionAttributeValues": _serialize(values),
            "ReturnValues": returns,
        }
        try:
            response = self._db.update_item(**kwargs)
        except ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                return None
            raise
        attributes = response.get("Attributes")
        return _record(attributes) if attributes else None

    def decide(
        self,
        approval_id: str,
        decision: str,
        approver: str,
        approver_name: str,
        decided_at: str,
        now: float,
        lease_until: float,
    ) -> ApprovalRecord | None:
        """``pending`` → ``decided``, only before the approval's timeout. The winner gets the task token."""
        return self._update(
            approval_id,
            "SET #s = :decided, decision = :decision, approver = :approver, approverName = :name, "
            "decidedAt = :at, sendLeaseUntil = :lease, sendAttempts = :one",
            "#s = :pending AND timeoutAt > :now AND attribute_exists(taskToken)",
            {
                ":decided": DECIDED,
                ":pending": PENDING,
                ":decision": decision,
                ":approver": approver,
                ":name": approver_name,
                ":at": decided_at,
                ":lease": lease_until,
                ":one": 1,
                ":now": now,
            },
        )

    def get(self, approval_id: str) -> ApprovalRecord | None:
        names = {f"#a{i}": name for i, name in enumerate(RECORD_ATTRIBUTES)}
        response = self._db.get_item(
            TableName=self.table,
            Key=_serialize({"approvalId": approval_id}),
            ConsistentRead=True,
            ProjectionExpression=", ".join(names),
            ExpressionAttributeNames=names,
        )
        item = response.get("Item")
        return _record(item) if item else None

    def claim_send(self, approval_id: str, now: float, lease_until: float) -> ApprovalRecord | None:
        """Take the delivery lease of a ``decided`` record whose previous delivery failed or lapsed."""
        return self._update(
            approval_id,
            "SET sendLeaseUntil = :lease ADD sendAttempts :one",
            "#s = :decided AND attribute_exists(taskToken) AND "
            "(attribute_not_exists(sendLeaseUntil) OR sendLeaseUntil < :now)",
            {":decided": DECIDED, ":lease": lease_until, ":one": 1, ":now": now},
        )

    def release_send(self, approval_id: str, error_code: str) -> None:
        self._update(
            approval_id,
            "SET sendLeaseUntil = :zero, lastSendError = :error",
            "#s = :decided",
            {":decided": DECIDED, ":zero": 0, ":error": error_code[:100]},
            returns="NONE",
        )

    def mark_sent(self, approval_id: str, now: float) -> ApprovalRecord | None:
        return self._update(
            approval_id,
            "SET #s = :sent, sentAt = :now REMOVE taskToken, sendLeaseUntil",
            "#s = :decided",
            {":sent": SENT, ":decided": DECIDED, ":now": now},
        )

    def mark_expired(self, approval_id: str, reason: str, now: float) -> ApprovalRecord | None:
        return self._update(
            approval_id,
            "SET #s = :expired, closedAt = :now, closedReason = :reason REMOVE taskToken, sendLeaseUntil",
            "#s IN (:pending, :decided)",
            {":expired": EXPIRED, ":pending": PENDING, ":decided": DECIDED, ":now": now, ":reason": reason[:100]},
        )


class StepFunctions:
    """``interactions.Workflow``."""

    def __init__(self) -> None:
        self._sfn = client("stepfunctions")

    def _call(self, operation: Callable[..., Any], **kwargs: Any) -> None:
        try:
            operation(**kwargs)
        except ClientError as error:
            code = _code(error) or "ClientError"
            raise (TaskGone(code) if code in GONE_CODES else SendFailed(code)) from None
        except BotoCoreError as error:
            raise SendFailed(type(error).__name__) from None

    def send_success(self, task_token: str, output: Mapping[str, Any]) -> None:
        self._call(self._sfn.send_task_success, taskToken=task_token, output=json.dumps(dict(output)))

    def send_failure(self, task_token: str, error: str, cause: str) -> None:
        self._call(self._sfn.send_task_failure, taskToken=task_token, error=error, cause=cause[:32768])


class SlackChat:
    """``interactions.Chat``. The bot token is read at first use; when it cannot be read every call fails with
    ``token_unavailable`` (so a group approver cannot be confirmed: fail closed)."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.clock = clock
        self._api: slack_api.SlackApi | None = None

    def _connect(self, method: str) -> slack_api.SlackApi:
        if self._api is None:
            try:
                token = secrets.get_secret(self.settings.bot_token_secret_arn, setting="SLACK_BOT_TOKEN_SECRET_ARN")
            except secrets.SecretUnavailable:
                raise slack_api.SlackError(method, "token_unavailable") from None
            self._api = slack_api.connect(
                token, api_url=self.settings.slack_api_url, timeout=SLACK_TIMEOUT_SECONDS, max_rate_limit_wait=0
            )
        return self._api

    def _run(self, method: str, call: Callable[[slack_api.SlackApi], Any]) -> Any:
        try:
            return call(self._connect(method))
        except slack_api.SlackError as error:
            if error.auth:
                secrets.forget(self.settings.bot_token_secret_arn)
            raise

    def update_message(self, *, channel: str, ts: str, text: str, blocks: Sequence[Mapping[str, Any]]) -> None:
        self._run("chat.update", lambda api: api.update_message(channel=channel, ts=ts, text=text, blocks=blocks))

    def post_ephemeral(self, *, channel: str, user: str, text: str, thread_ts: str | None = None) -> None:
        self._run(
            "chat.postEphemeral",
            lambda api: api.post_ephemeral(channel=channel, user=user, text=text, thread_ts=thread_ts),
        )

    def usergroup_members(self, usergroup: str) -> frozenset[str]:
        cached = _GROUPS.get(usergroup)
        if cached is not None and self.clock() - cached[1] < GROUP_CACHE_SECONDS:
            return cached[0]
        members: frozenset[str] = self._run("usergroups.users.list", lambda api: api.usergroup_members(usergroup))
        _GROUPS[usergroup] = (members, self.clock())
        return members
