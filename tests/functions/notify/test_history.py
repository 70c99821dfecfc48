"""Reading a stopped run's last state and Slack thread from its execution history."""

from __future__ import annotations

import json
from typing import Any

from functions.notify.history import RunSnapshot, snapshot

THREAD = {"channel": "C0123456789", "ts": "1700000001.000001"}


def entered(event_id: int, name: str, data: Any) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "TaskStateEntered",
        "stateEnteredEventDetails": {"name": name, "input": json.dumps(data)},
    }


def exited(event_id: int, name: str, data: Any) -> dict[str, Any]:
    return {"id": event_id, "type": "TaskStateExited", "stateExitedEventDetails": {"name": name, "output": data}}


HISTORY = [
    {"id": 1, "type": "ExecutionStarted", "executionStartedEventDetails": {"input": "{}"}},
    entered(2, "Prepare", {"commit": "abc"}),
    exited(3, "Prepare", json.dumps({"commit": "abc", "slack": {"thread": None}})),
    entered(4, "NotifyStarted", {"commit": "abc", "slack": {"thread": None}}),
    exited(5, "NotifyStarted", json.dumps({"commit": "abc", "slack": {"thread": THREAD}})),
    entered(6, "Build", {"commit": "abc", "slack": {"thread": THREAD}}),
    exited(7, "Build", json.dumps({"commit": "abc", "build": {"modelVersion": "4"}, "slack": {"thread": THREAD}})),
    entered(8, "Approval", {"commit": "abc", "build": {"modelVersion": "4"}, "slack": {"thread": THREAD}}),
    {"id": 9, "type": "ExecutionAborted", "executionAbortedEventDetails": {"error": "Superseded"}},
]


def test_the_last_state_entered_and_the_latest_data_with_the_thread() -> None:
    for events in (HISTORY, list(reversed(HISTORY))):  # AWS answers in either order (reverseOrder)
        run = snapshot(events)
        assert run.last_state == "Approval"
        assert run.data["slack"]["thread"] == THREAD and run.data["build"]["modelVersion"] == "4"


def test_a_run_stopped_before_its_thread_existed_has_no_data() -> None:
    run = snapshot(HISTORY[:4])

    assert run.last_state == "NotifyStarted"
    assert run.data == {}


def test_unreadable_details_are_skipped() -> None:
    events = [*HISTORY[:5], exited(10, "Build", "not json"), exited(11, "Build", json.dumps([1, 2]))]

    assert snapshot(events).data["slack"]["thread"] == THREAD
    assert snapshot([]) == RunSnapshot()
