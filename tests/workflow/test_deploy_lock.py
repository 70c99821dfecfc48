"""Runs that overlap: the real deploy_lock function (against DynamoDB in moto) serializes their deploys per
environment, and the newest model ends up live whichever run gets there first."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from functions.deploy.errors import Superseded
from functions.deploy_lock import handler as lock_handler
from functions.deploy_lock import services as lock_services
from tests.functions.deploy_lock.conftest import create_table, status_event
from tests.workflow.harness import (
    ACCOUNT,
    FUNCTIONS,
    IMAGE_URI,
    REGION,
    FakeLambdas,
    Workflow,
    settings,
    wait_until,
)

TABLE = "mlops-deploy-locks"
COMMITS = {"a" * 40: "3", "b" * 40: "4"}  # commit → the model version its build registers
DEPLOY_SECONDS = 0.4  # long enough for the other run to find the lock taken


@dataclass
class Environments:
    """What the deploy function would do to the two inference functions: the monotonic rule, and a record of how
    many deploys ran at once in each environment."""

    live: dict[str, int] = field(default_factory=lambda: {"stage": 0, "prod": 0})
    active: dict[str, int] = field(default_factory=lambda: {"stage": 0, "prod": 0})
    most_at_once: dict[str, int] = field(default_factory=lambda: {"stage": 0, "prod": 0})
    deployed: list[tuple[str, int]] = field(default_factory=list)
    hold: threading.Event | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def deploy(self, event: Mapping[str, Any]) -> dict[str, Any]:
        environment, version = event["environment"], int(event["modelVersion"])
        with self._lock:
            self.active[environment] += 1
            self.most_at_once[environment] = max(self.most_at_once[environment], self.active[environment])
        try:
            if self.hold is not None:
                self.hold.wait(30)
            time.sleep(DEPLOY_SECONDS)
            with self._lock:
                if version < self.live[environment]:
                    raise Superseded(f"{environment}: live serves model {self.live[environment]}, newer than {version}")
                self.live[environment] = version
                self.deployed.append((environment, version))
        finally:
            with self._lock:
                self.active[environment] -= 1
        return {"action": "deploy", "environment": environment, "functionVersion": str(version), "noop": False}


def build(event: Mapping[str, Any]) -> dict[str, Any]:
    version = COMMITS[event["SourceVersion"]]
    return {
        "Build": {
            "Id": f"mlops-build:{version}",
            "ExportedEnvironmentVariables": [
                {"Name": "MODEL_VERSION", "Value": version},
                {"Name": "IMAGE_URI", "Value": IMAGE_URI},
            ],
        }
    }


@pytest.fixture
def real_lock(workflow: Workflow, fakes: FakeLambdas, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The deploy_lock handler for the workflow's lock tasks. Each DynamoDB request is atomic in AWS; moto's
    backend is not thread-safe, so the calls are serialized here (not the waiting, which is the workflow's)."""
    monkeypatch.setenv("LOCK_TABLE_NAME", TABLE)
    lock_services.clear_caches()
    client = boto3.client("dynamodb", region_name=REGION)
    create_table(client, TABLE)
    one_request = threading.Lock()

    def lock(event: Mapping[str, Any]) -> dict[str, Any]:
        with one_request:
            return lock_handler.handler(dict(event), None)

    fakes.handlers[FUNCTIONS["lock"]] = lock
    fakes.handlers[FUNCTIONS["codebuild"]] = build
    yield client
    lock_services.clear_caches()


def busy_attempts(fakes: FakeLambdas, environment: str) -> int:
    acquires = [p for p in fakes.called("lock") if p["action"] == "acquire" and p["environment"] == environment]
    return len(acquires) - len({p["executionId"] for p in acquires})


def test_two_runs_at_once_deploy_one_at_a_time_and_the_newest_model_wins(
    workflow: Workflow, fakes: FakeLambdas, real_lock: Any
) -> None:
    world = Environments()
    fakes.handlers[FUNCTIONS["deploy"]] = world.deploy
    machine = workflow.create(settings(lock_retry_seconds=1))
    older, newer = (workflow.start(machine, name=f"run-{v}", commit=c) for c, v in COMMITS.items())

    def ended(arn: str) -> bool:
        return workflow.sfn.describe_execution(executionArn=arn)["status"] != "RUNNING"

    # Each run either reaches the approval or ends (an older model than stage's is superseded there).
    wait_until(lambda: len(fakes.tokens) + sum(map(ended, (older, newer))) == 2, "both runs past stage")
    for token in list(fakes.tokens):  # approved at once
        workflow.sfn.send_task_success(taskToken=token, output='{"decision": "approved", "approver": "U0ALICE"}')
    results = {arn: workflow.finished(arn) for arn in (older, newer)}

    assert world.most_at_once == {"stage": 1, "prod": 1}
    assert busy_attempts(fakes, "stage") + busy_attempts(fakes, "prod") >= 1  # someone did wait
    assert world.live == {"stage": 4, "prod": 4}
    assert results[newer]["status"] == "SUCCEEDED"
    # The older run either deployed before the newer one or found it already live and changed nothing.
    assert (results[older]["status"], results[older].get("error")) in {("SUCCEEDED", None), ("FAILED", "Superseded")}
    assert real_lock.scan(TableName=TABLE)["Count"] == 0  # every lock given back


def test_a_stopped_run_releases_its_lock_through_the_cleanup_event(
    workflow: Workflow, fakes: FakeLambdas, real_lock: Any
) -> None:
    world = Environments(hold=threading.Event())
    fakes.handlers[FUNCTIONS["deploy"]] = world.deploy
    machine = workflow.create(settings(lock_retry_seconds=1))
    (first_commit, second_commit) = COMMITS
    stopped = workflow.start(machine, name="run-stopped", commit=first_commit)
    wait_until(lambda: world.active["stage"] == 1, "the first run's stage deploy")

    # A person stops the run mid-deploy: no Catch runs, so only the status rule's cleanup can free the lock.
    workflow.sfn.stop_execution(executionArn=stopped, error="Stopped", cause="stopped from the console")
    world.hold.set()
    assert real_lock.scan(TableName=TABLE)["Count"] == 1
    lock_handler.handler(status_event(stopped, "ABORTED"), None)
    assert real_lock.scan(TableName=TABLE)["Count"] == 0

    world.hold = None
    second = workflow.start(machine, name="run-second", commit=second_commit)
    workflow.token(0)
    workflow.approve()
    assert workflow.finished(second)["status"] == "SUCCEEDED"
    assert world.live["prod"] == 4
    assert busy_attempts(fakes, "stage") == 0  # it never had to wait for a lease to run out


def test_a_run_that_cannot_get_the_lock_in_time_fails_saying_who_holds_it(
    workflow: Workflow, fakes: FakeLambdas, real_lock: Any
) -> None:
    holder = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:mlops-pipeline:stuck-run"
    far = str(int(time.time()) + 3600)
    real_lock.put_item(
        TableName=TABLE,
        Item={"lockId": {"S": "deploy/stage"}, "holder": {"S": holder}, "leaseUntil": {"N": far}},
    )
    custom = settings(lock_retry_seconds=1)
    machine_definition = workflow.create(custom)
    # Two attempts only, so the test does not wait out a real lease.
    described = workflow.sfn.describe_state_machine(stateMachineArn=machine_definition)
    local = json.loads(described["definition"])
    local["States"]["AcquireStageLock"]["Retry"][0]["MaxAttempts"] = 2
    workflow.sfn.update_state_machine(stateMachineArn=machine_definition, definition=json.dumps(local))
    execution = workflow.start(machine_definition, commit=next(iter(COMMITS)))

    result = workflow.finished(execution)

    assert (result["status"], result["error"]) == ("FAILED", "AcquireStageLockFailed")
    assert "held by run stuck-run" in result["cause"]
    assert fakes.called("deploy") == []
