"""The lock's rules, over a ``Store`` (no boto3 here).

One item per environment, ``lockId = deploy/<environment>``. A run takes it with a conditional write that
succeeds when nobody holds it, when the holder's lease has run out, or when the holder is this run (a retried
acquire renews the lease instead of blocking itself). The lease is checked in the write's condition, not left to
DynamoDB's TTL, because TTL deletes expired items only eventually (often hours later). Releasing is a delete
conditioned on being the holder, so a run whose lease ran out can never release the lock of the run that took
it over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from functions.common.executions import execution_name
from functions.deploy_lock.errors import LockBusy
from functions.deploy_lock.models import LockRequest, lock_id

# How long an item outlives its lease before DynamoDB's TTL removes it (housekeeping only).
TTL_AFTER_LEASE_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Holder:
    execution_arn: str
    lease_until: int
    model_version: str | None = None

    def describe(self) -> str:
        version = f" (model version {self.model_version})" if self.model_version else ""
        return f"run {execution_name(self.execution_arn)}{version} until {iso(self.lease_until)}"


class Store(Protocol):
    def try_acquire(self, lock: str, holder: Holder, *, now: int, expires_at: int) -> Holder | None:
        """Write ``holder`` if the lock is free, expired or already ours; else return the current holder."""
        ...

    def release(self, lock: str, execution_arn: str) -> bool:
        """Delete the lock if ``execution_arn`` holds it; False when it does not (already released, taken over)."""
        ...


def iso(epoch_seconds: int) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def acquire(req: LockRequest, store: Store, *, now: int) -> dict[str, Any]:
    (environment,) = req.environments
    lease_until = now + req.lease_seconds
    mine = Holder(req.execution_arn, lease_until, req.model_version)
    current = store.try_acquire(lock_id(environment), mine, now=now, expires_at=lease_until + TTL_AFTER_LEASE_SECONDS)
    if current is not None:
        raise LockBusy(f"the {environment} deploy lock is held by {current.describe()}; this run waits for it")
    return {
        "action": "acquire",
        "environment": environment,
        "holder": execution_name(req.execution_arn),
        "leaseUntil": iso(lease_until),
    }


def release(req: LockRequest, store: Store) -> dict[str, Any]:
    released, not_held = [], []
    for environment in req.environments:
        (released if store.release(lock_id(environment), req.execution_arn) else not_held).append(environment)
    return {"action": "release", "released": released, "notHeld": not_held}
