"""The deploy lock through its Lambda handler, against the lock table in moto."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.deploy_lock import handler as lock_handler
from functions.deploy_lock import lock, services
from functions.deploy_lock.errors import LockBusy, LockConfigError, LockInputError, LockStoreError
from functions.deploy_lock.models import parse_event
from tests.functions.deploy_lock.conftest import TABLE, execution, status_event

RUN_A, RUN_B = execution("model-aaaaaaaaaaaa"), execution("model-bbbbbbbbbbbb")


def acquire(run: str, environment: str = "prod", lease: int = 600, version: str = "3") -> dict[str, Any]:
    return lock_handler.handler(
        {
            "action": "acquire",
            "environment": environment,
            "executionId": run,
            "leaseSeconds": lease,
            "modelVersion": version,
        },
        None,
    )


def release(run: str, environment: str | None = None) -> dict[str, Any]:
    event = {"action": "release", "executionId": run} | ({"environment": environment} if environment else {})
    return lock_handler.handler(event, None)


def item(dynamodb: Any, environment: str) -> dict[str, Any] | None:
    return dynamodb.get_item(TableName=TABLE, Key={"lockId": {"S": f"deploy/{environment}"}}).get("Item")


def test_a_free_lock_is_taken_and_holds_the_run_and_its_lease(dynamodb: Any) -> None:
    result = acquire(RUN_A, lease=900)

    assert result["action"] == "acquire" and result["holder"] == "model-aaaaaaaaaaaa"
    stored = item(dynamodb, "prod")
    assert stored["holder"]["S"] == RUN_A and stored["modelVersion"]["S"] == "3"
    assert int(stored["leaseUntil"]["N"]) - int(stored["acquiredAt"]["N"]) == 900
    # TTL tidies up long after the lease; the lease itself is what the condition checks.
    assert int(stored["expiresAt"]["N"]) > int(stored["leaseUntil"]["N"])


def test_a_second_run_is_told_who_holds_the_lock_and_until_when(dynamodb: Any) -> None:
    acquire(RUN_A, version="3")

    with pytest.raises(LockBusy, match=r"prod deploy lock is held by run model-aaaaaaaaaaaa \(model version 3\) until"):
        acquire(RUN_B, version="4")
    assert item(dynamodb, "prod")["holder"]["S"] == RUN_A


def test_environments_have_separate_locks(dynamodb: Any) -> None:
    acquire(RUN_A, "stage")
    acquire(RUN_B, "prod")

    assert item(dynamodb, "stage")["holder"]["S"] == RUN_A
    assert item(dynamodb, "prod")["holder"]["S"] == RUN_B


def test_the_holder_acquiring_again_renews_its_lease_instead_of_blocking_itself(dynamodb: Any) -> None:
    acquire(RUN_A, lease=300)
    first = int(item(dynamodb, "prod")["leaseUntil"]["N"])

    acquire(RUN_A, lease=900)  # a retried task, e.g. after a Lambda service error

    assert int(item(dynamodb, "prod")["leaseUntil"]["N"]) >= first + 600


def test_an_expired_lease_is_taken_over_without_waiting_for_ttl(dynamodb: Any) -> None:
    store = services.DynamoLocks(TABLE, dynamodb)
    holder = lock.Holder(RUN_A, lease_until=1_000)
    assert store.try_acquire("deploy/prod", holder, now=500, expires_at=90_000) is None

    taker = lock.Holder(RUN_B, lease_until=2_000)
    assert store.try_acquire("deploy/prod", lock.Holder(RUN_B, 1_500), now=999, expires_at=90_000) == holder
    assert store.try_acquire("deploy/prod", taker, now=1_001, expires_at=90_000) is None
    assert item(dynamodb, "prod")["holder"]["S"] == RUN_B
    # The run whose lease ran out cannot release the lock of the run that took it over.
    assert store.release("deploy/prod", RUN_A) is False
    assert item(dynamodb, "prod")["holder"]["S"] == RUN_B


def test_release_frees_only_what_the_run_holds(dynamodb: Any) -> None:
    acquire(RUN_A, "stage")
    acquire(RUN_B, "prod")

    assert release(RUN_A) == {"action": "release", "released": ["stage"], "notHeld": ["prod"]}
    assert item(dynamodb, "stage") is None and item(dynamodb, "prod")["holder"]["S"] == RUN_B
    assert release(RUN_A, "stage") == {"action": "release", "released": [], "notHeld": ["stage"]}  # idempotent
    acquire(RUN_B, "stage")  # free again


@pytest.mark.parametrize("status", ["ABORTED", "TIMED_OUT", "FAILED", "SUCCEEDED"])
def test_the_end_of_a_run_releases_every_lock_it_held(dynamodb: Any, status: str) -> None:
    acquire(RUN_A, "stage")
    acquire(RUN_A, "prod")

    result = lock_handler.handler(status_event(RUN_A, status), None)

    assert result["released"] == ["stage", "prod"]
    assert item(dynamodb, "stage") is None and item(dynamodb, "prod") is None


def test_the_end_of_another_run_releases_nothing(dynamodb: Any) -> None:
    acquire(RUN_A, "prod")

    assert lock_handler.handler(status_event(RUN_B, "ABORTED"), None)["released"] == []
    assert item(dynamodb, "prod")["holder"]["S"] == RUN_A


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ("not an object", "event: expected a JSON object"),
        ({"action": "steal", "executionId": RUN_A}, "action: expected one of acquire, release"),
        ({"action": "acquire", "environment": "dev", "executionId": RUN_A, "leaseSeconds": 600}, "environment:"),
        ({"action": "acquire", "environment": "prod", "executionId": "run-1", "leaseSeconds": 600}, "executionId:"),
        ({"action": "acquire", "environment": "prod", "executionId": RUN_A}, "leaseSeconds: expected whole seconds"),
        ({"action": "acquire", "environment": "prod", "executionId": RUN_A, "leaseSeconds": 5}, "leaseSeconds:"),
        ({"action": "acquire", "environment": "prod", "executionId": RUN_A, "leaseSeconds": True}, "leaseSeconds:"),
        ({"action": "release", "environment": "qa", "executionId": RUN_A}, "environment: expected one of stage, prod"),
        ({"detail-type": "Step Functions Execution Status Change", "detail": {"status": "RUNNING"}}, "detail.status"),
        ({"detail-type": "Step Functions Execution Status Change", "detail": "x"}, "detail: expected"),
    ],
)
def test_bad_events_name_the_field_and_change_nothing(dynamodb: Any, event: Any, message: str) -> None:
    with pytest.raises(LockInputError, match=message):
        lock_handler.handler(event, None)
    assert dynamodb.scan(TableName=TABLE)["Count"] == 0


def test_a_missing_table_setting_is_a_config_error(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOCK_TABLE_NAME")
    with pytest.raises(LockConfigError, match="LOCK_TABLE_NAME"):
        acquire(RUN_A)


def test_a_missing_table_is_a_store_error_naming_the_call(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCK_TABLE_NAME", "no-such-table")
    with pytest.raises(
        LockStoreError, match="DynamoDB PutItem on the lock table failed with ResourceNotFoundException"
    ):
        acquire(RUN_A)


def test_the_handler_logs_one_json_line_per_call_with_the_execution(
    dynamodb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    acquire(RUN_A)
    with pytest.raises(LockBusy):
        acquire(RUN_B)

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["message"], line["executionId"]) for line in lines] == [
        ("deploy lock acquired", RUN_A),
        ("deploy lock busy", RUN_B),
    ]


def test_a_release_event_without_environment_means_both() -> None:
    assert parse_event({"action": "release", "executionId": RUN_A}).environments == ("stage", "prod")
