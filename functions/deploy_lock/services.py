"""The only module that talks to AWS: the lock table in DynamoDB (client created once per container)."""

from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from functions.deploy_lock.errors import LockStoreError
from functions.deploy_lock.lock import Holder

_CONFIG = Config(
    connect_timeout=3,
    read_timeout=10,
    retries={"mode": "standard", "total_max_attempts": 4},
    user_agent_extra="serverless-mlops-deploy-lock",
)
CONDITION_FAILED = "ConditionalCheckFailedException"


@functools.cache
def _dynamodb() -> Any:
    return boto3.client("dynamodb", config=_CONFIG)


def _holder(item: dict[str, Any] | None) -> Holder | None:
    if not item or "holder" not in item:
        return None
    return Holder(
        execution_arn=item["holder"]["S"],
        lease_until=int(item.get("leaseUntil", {}).get("N", "0")),
        model_version=item.get("modelVersion", {}).get("S"),
    )


def _failed(operation: str, error: Exception) -> LockStoreError:
    code = error.response["Error"].get("Code", "?") if isinstance(error, ClientError) else type(error).__name__
    return LockStoreError(f"DynamoDB {operation} on the lock table failed with {code}")


class DynamoLocks:
    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self.table_name = table_name
        self._client = client or _dynamodb()

    def try_acquire(self, lock: str, holder: Holder, *, now: int, expires_at: int) -> Holder | None:
        item: dict[str, Any] = {
            "lockId": {"S": lock},
            "holder": {"S": holder.execution_arn},
            "acquiredAt": {"N": str(now)},
            "leaseUntil": {"N": str(holder.lease_until)},
            "expiresAt": {"N": str(expires_at)},
        }
        if holder.model_version:
            item["modelVersion"] = {"S": holder.model_version}
        try:
            self._client.put_item(
                TableName=self.table_name,
                Item=item,
                ConditionExpression="attribute_not_exists(lockId) OR leaseUntil < :now OR holder = :me",
                ExpressionAttributeValues={":now": {"N": str(now)}, ":me": {"S": holder.execution_arn}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return None
        except ClientError as error:
            if error.response["Error"].get("Code") != CONDITION_FAILED:
                raise _failed("PutItem", error) from None
            current = _holder(error.response.get("Item"))
        except BotoCoreError as error:
            raise _failed("PutItem", error) from None
        # Older SDKs and some emulators do not return the item with the failure: read it.
        # Released between the write and the read: busy for this attempt, the next one will find it free.
        return current or self._read(lock) or Holder("another run (it just released it)", now)

    def _read(self, lock: str) -> Holder | None:
        try:
            answer = self._client.get_item(TableName=self.table_name, Key={"lockId": {"S": lock}}, ConsistentRead=True)
        except (ClientError, BotoCoreError) as error:
            raise _failed("GetItem", error) from None
        return _holder(answer.get("Item"))

    def release(self, lock: str, execution_arn: str) -> bool:
        try:
            self._client.delete_item(
                TableName=self.table_name,
                Key={"lockId": {"S": lock}},
                ConditionExpression="holder = :me",
                ExpressionAttributeValues={":me": {"S": execution_arn}},
            )
            return True
        except ClientError as error:
            if error.response["Error"].get("Code") == CONDITION_FAILED:
                return False
            raise _failed("DeleteItem", error) from None
        except BotoCoreError as error:
            raise _failed("DeleteItem", error) from None


def clear_caches() -> None:
    _dynamodb.cache_clear()
