"""EventBridge's deliveries that moto does not make, through the rules as they are stored in moto.

moto keeps the rules (pattern, state, targets) but delivers matched events only to log groups, queues and
archives, and Step Functions emits no status events at all. ``EventBus.put`` evaluates every enabled rule of the
default bus with moto's own pattern matcher against the event, and delivers it to each target: a Lambda
function asynchronously (``InvocationType=Event``, as EventBridge invokes), an SNS topic by ``Publish``.

``StatusEvents`` watches one state machine's executions and, whenever one changes status, builds the
"Step Functions Execution Status Change" event AWS sends (shape per the Step Functions user guide) and puts it
on the bus: the status rule (``notifications.status_pattern``) decides who gets it, as in AWS.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moto.events.models import EventPattern

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})


@dataclass(frozen=True)
class Delivery:
    rule: str
    target: str


class EventBus:
    def __init__(self, clients: Any) -> None:
        """``clients(service)``: a boto3 client for moto in the tooling account."""
        self._clients = clients
        self.delivered: list[tuple[dict[str, Any], list[Delivery]]] = []
        self._lock = threading.Lock()

    def matching_rules(self, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        events = self._clients("events")
        rules: list[dict[str, Any]] = []
        for page in events.get_paginator("list_rules").paginate(EventBusName="default"):
            rules.extend(page["Rules"])
        return [
            rule
            for rule in rules
            if rule.get("State") == "ENABLED"
            and rule.get("EventPattern")
            and EventPattern.load(rule["EventPattern"]).matches_event(dict(event))
        ]

    def put(self, event: Mapping[str, Any]) -> list[Delivery]:
        """Deliver ``event`` to the targets of every rule it matches; returns what went where."""
        deliveries: list[Delivery] = []
        body = json.dumps(event)
        for rule in self.matching_rules(event):
            targets = self._clients("events").list_targets_by_rule(Rule=rule["Name"])["Targets"]
            for target in targets:
                arn = target["Arn"]
                service = arn.split(":")[2]
                if service == "lambda":
                    self._clients("lambda").invoke(FunctionName=arn, InvocationType="Event", Payload=body)
                elif service == "sns":
                    self._clients("sns").publish(TopicArn=arn, Message=body)
                else:
                    continue  # no other target kind is in the stack
                deliveries.append(Delivery(rule["Name"], arn))
        with self._lock:
            self.delivered.append((dict(event), deliveries))
        return deliveries


def _millis(value: Any) -> int | None:
    return int(value.timestamp() * 1000) if isinstance(value, datetime) else None


def status_event(execution: Mapping[str, Any], account_id: str, region: str) -> dict[str, Any]:
    """The "Step Functions Execution Status Change" event for a DescribeExecution answer."""
    status = execution["status"]
    detail: dict[str, Any] = {
        "executionArn": execution["executionArn"],
        "stateMachineArn": execution["stateMachineArn"],
        "name": execution["name"],
        "status": status,
        "startDate": _millis(execution.get("startDate")),
        "stopDate": _millis(execution.get("stopDate")) if status in TERMINAL else None,
        "input": execution.get("input"),
        "output": execution.get("output") if status == "SUCCEEDED" else None,
        "inputDetails": {"included": True},
        "outputDetails": {"included": True} if status == "SUCCEEDED" else None,
        "error": execution.get("error") if status in TERMINAL - {"SUCCEEDED"} else None,
        "cause": execution.get("cause") if status in TERMINAL - {"SUCCEEDED"} else None,
    }
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": account_id,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [execution["executionArn"]],
        "detail": detail,
    }


@dataclass
class StatusEvents:
    """A thread that turns status changes of ``state_machine_arn``'s executions into events on ``bus``."""

    clients: Any
    bus: EventBus
    state_machine_arn: str
    account_id: str
    region: str
    poll_seconds: float
    sent: dict[str, list[str]] = field(default_factory=dict)  # execution ARN -> statuses sent, in order
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> StatusEvents:
        self._thread = threading.Thread(target=self._run, name="status-events", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def statuses(self, execution_arn: str) -> list[str]:
        with self._lock:
            return list(self.sent.get(execution_arn, []))

    def check(self) -> None:
        """One look at the executions (also called by the runner before it reports a run's end)."""
        sfn = self.clients("stepfunctions")
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=self.state_machine_arn):
            for listed in page["executions"]:
                arn, status = listed["executionArn"], listed["status"]
                with self._lock:
                    known = self.sent.setdefault(arn, [])
                    if known and known[-1] == status:
                        continue
                    known.append(status)
                described = sfn.describe_execution(executionArn=arn)
                self.bus.put(status_event(described, self.account_id, self.region))

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.check()
            except Exception as error:  # a failed look is retried at the next poll; keep the reason
                self.errors.append(f"{type(error).__name__}: {error}")
