"""The AWS and Slack side of request_approval, and the only module that talks to either.

``DynamoApprovals`` is APPROVALS_TABLE (and RUNS_TABLE for the run's thread): conditional writes for every
status change, strongly consistent reads, and the task token written once and never read back (every read
names its attributes, the token is not among them). ``StepFunctions`` stops superseded executions.
``SlackChat`` posts and updates messages with the bot token from Secrets Manager.

Finding the open approvals of a model or an execution is a strongly consistent ``Scan`` with a filter, not a
GSI: a GSI is only eventually consistent, so two runs reaching approval within the index's lag could miss each
other, while the scan sees every committed write. The table stays small by construction (one record per run
that reached approval, removed by TTL a week after its timeout), so the scan reads a few kilobytes.

Clients are created once per container.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from functions.common import secrets
from functions.common import slack as slack_api
from functions.common.logging import Logger
from functions.request_approval.approval import StopFailed
from functions.request_approval.models import DECIDED, PENDING, ApprovalRecord, Settings

# Every attribute a read returns: everything but the task token.
RECORD_ATTRIBUTES = (
    "approvalId",
    "status",
    "executionArn",
    "executionName",
    "modelName",
    "modelVersion",
    "commit",
    "createdAt",
    "timeoutAt",
    "channel",
    "messageTs",
    "messageBlocks",
    "decision",
    "approver",
    "supersededBy",
)
SLACK_TIMEOUT_SECONDS = 10.0
SLACK_MAX_RATE_LIMIT_WAIT_SECONDS = 10.0

_CONFIG = Config(
    connect_timeout=3,
    read_timeout=10,
    retries={"mode": "standard", "total_max_attempts": 4},
    user_agent_extra="serverless-mlops-request-approval",
)
_LOCK = threading.Lock()
_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


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
    secrets.clear_cache()
    slack_api.clear_cache()


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _value(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    return value


def _serialize(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _SERIALIZER.serialize(_value(value)) for key, value in values.items()}


def _deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _DESERIALIZER.deserialize(value) for key, value in item.items() if key != "taskToken"}


class DynamoApprovals:
    """``approval.ApprovalStore`` on DynamoDB."""

    def __init__(self, settings: Settings, log: Logger) -> None:
        self.table = settings.approvals_table
        self.runs_table = settings.runs_table
        self.log = log
        self._db = client("dynamodb")
        self._ph = {name: f"#a{i}" for i, name in enumerate(RECORD_ATTRIBUTES)}
        self._names = {placeholder: name for name, placeholder in self._ph.items()}
        self._projection = ", ".join(self._names)

    def create(self, item: Mapping[str, Any]) -> None:
        self._db.put_item(
            TableName=self.table, Item=_serialize(item), ConditionExpression="attribute_not_exists(approvalId)"
        )

    def attach_message(self, approval_id: str, channel: str, ts: str, thread_ts: str | None) -> ApprovalRecord:
        values: dict[str, Any] = {":channel": channel, ":ts": ts}
        expression = "SET channel = :channel, messageTs = :ts"
        if thread_ts:
            expression += ", threadTs = :thread"
            values[":thread"] = thread_ts
        response = self._db.update_item(
            TableName=self.table,
            Key=_serialize({"approvalId": approval_id}),
            UpdateExpression=expression,
            ConditionExpression="attribute_exists(approvalId)",
            ExpressionAttributeValues=_serialize(values),
            ReturnValues="ALL_NEW",
        )
        return ApprovalRecord.from_item(_deserialize(response["Attributes"]))

    def discard(self, approval_id: str) -> None:
        try:
            self._db.delete_item(
                TableName=self.table,
                Key=_serialize({"approvalId": approval_id}),
                ConditionExpression="#s = :pending",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=_serialize({":pending": PENDING}),
            )
        except ClientError as error:
            if _code(error) != "ConditionalCheckFailedException":
                raise

    def _scan(self, condition: str, values: Mapping[str, Any]) -> Iterator[ApprovalRecord]:
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "ConsistentRead": True,
            "FilterExpression": condition,
            "ProjectionExpression": self._projection,
            "ExpressionAttributeNames": {**self._names, "#s": "status"},
            "ExpressionAttributeValues": _serialize(values),
        }
        while True:
            response = self._db.scan(**kwargs)
            for item in response.get("Items", []):
                yield ApprovalRecord.from_item(_deserialize(item))
            if not response.get("LastEvaluatedKey"):
                return
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def pending_for_model(self, model_name: str) -> list[ApprovalRecord]:
        values = {":model": model_name, ":pending": PENDING}
        return list(self._scan(f"{self._ph['modelName']} = :model AND #s = :pending", values))

    def open_for_execution(self, execution_arn: str) -> list[ApprovalRecord]:
        values = {":arn": execution_arn, ":pending": PENDING, ":decided": DECIDED}
        return list(self._scan(f"{self._ph['executionArn']} = :arn AND #s IN (:pending, :decided)", values))

    def open_past(self, moment: float) -> list[ApprovalRecord]:
        values = {":moment": moment, ":pending": PENDING, ":decided": DECIDED}
        return list(self._scan(f"#s IN (:pending, :decided) AND {self._ph['timeoutAt']} < :moment", values))

    def close(
        self, approval_id: str, status: str, *, expected: Sequence[str], fields: Mapping[str, Any], now: float
    ) -> ApprovalRecord | None:
        """``expected`` → ``status`` and remove the task token. A ``decided`` record is only closed once its
        delivery lease has lapsed, so a decision being delivered right now is never overtaken."""
        names = {"#s": "status", "#lease": "sendLeaseUntil"}
        values: dict[str, Any] = {":status": status, ":now": now, ":decided": DECIDED}
        allowed = []
        for i, state in enumerate(expected):
            values[f":e{i}"] = state
            allowed.append(f":e{i}")
        assignments = ["#s = :status", "closedAt = :now"]
        for i, (name, value) in enumerate(fields.items()):
            names[f"#f{i}"] = name
            values[f":f{i}"] = value
            assignments.append(f"#f{i} = :f{i}")
        condition = (
            f"#s IN ({', '.join(allowed)}) AND (#s <> :decided OR attribute_not_exists(#lease) OR #lease < :now)"
        )
        try:
            response = self._db.update_item(
                TableName=self.table,
                Key=_serialize({"approvalId": approval_id}),
                UpdateExpression=f"SET {', '.join(assignments)} REMOVE taskToken, #lease",
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=_serialize(values),
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                return None
            raise
        return ApprovalRecord.from_item(_deserialize(response["Attributes"]))

    def thread_of(self, execution_arn: str) -> str | None:
        """The run's Slack thread from RUNS_TABLE; a failed read only means posting in the channel."""
        if not self.runs_table:
            return None
        try:
            response = self._db.get_item(
                TableName=self.runs_table,
                Key=_serialize({"executionArn": execution_arn}),
                ProjectionExpression="threadTs",
            )
        except (ClientError, BotoCoreError) as error:
            self.log.warning("could not read the run's thread; posting in the channel", reason=str(error))
            return None
        item = _deserialize(response.get("Item") or {})
        thread = item.get("threadTs")
        return thread if isinstance(thread, str) and thread else None


class StepFunctions:
    """``approval.Workflow``."""

    def __init__(self) -> None:
        self._sfn = client("stepfunctions")

    def stop_execution(self, execution_arn: str, error: str, cause: str) -> None:
        try:
            self._sfn.stop_execution(executionArn=execution_arn, error=error[:256], cause=cause[:32768])
        except ClientError as failure:
            raise StopFailed(f"StopExecution failed with {_code(failure)}") from failure
        except BotoCoreError as failure:
            raise StopFailed(f"StopExecution failed: {type(failure).__name__}") from failure


class SlackChat:
    """``approval.Chat``: the Slack Web API with the bot token; an authentication error drops the cached token
    so the next call reads the secret again (it may have been rotated)."""

    def __init__(self, settings: Settings, token: str | None) -> None:
        self.settings = settings
        self._api = (
            slack_api.connect(
                token,
                api_url=settings.slack_api_url,
                timeout=SLACK_TIMEOUT_SECONDS,
                max_rate_limit_wait=SLACK_MAX_RATE_LIMIT_WAIT_SECONDS,
            )
            if token
            else None
        )

    def _require(self, method: str) -> slack_api.SlackApi:
        if self._api is None:
            raise slack_api.SlackError(method, "token_unavailable")
        return self._api

    def _guard(self, error: slack_api.SlackError) -> None:
        if error.auth:
            secrets.forget(self.settings.bot_token_secret_arn)

    def post_message(
        self, *, channel: str, text: str, blocks: Sequence[Mapping[str, Any]], thread_ts: str | None = None
    ) -> tuple[str, str]:
        try:
            return self._require("chat.postMessage").post_message(
                channel=channel, text=text, blocks=blocks, thread_ts=thread_ts
            )
        except slack_api.SlackError as error:
            self._guard(error)
            raise

    def update_message(self, *, channel: str, ts: str, text: str, blocks: Sequence[Mapping[str, Any]]) -> None:
        try:
            self._require("chat.update").update_message(channel=channel, ts=ts, text=text, blocks=blocks)
        except slack_api.SlackError as error:
            self._guard(error)
            raise


def bot_token(settings: Settings) -> str:
    """Raises ``secrets.SecretUnavailable``."""
    return secrets.get_secret(settings.bot_token_secret_arn, setting="SLACK_BOT_TOKEN_SECRET_ARN")
