"""What a stopped run's execution history says about it (no boto3 here): the last state it entered, and its
data as last seen (which holds ``slack.thread``, the run's thread, once NotifyStarted answered).

Events as ``GetExecutionHistory(includeExecutionData=True)`` returns them, in any order (each has an ``id`` that
grows with time):
``{"type": "TaskStateEntered", "stateEnteredEventDetails": {"name", "input"}}``,
``{"type": "TaskStateExited", "stateExitedEventDetails": {"name", "output"}}``, ...
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RunSnapshot:
    last_state: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


def _json_object(text: Any) -> Mapping[str, Any] | None:
    if not isinstance(text, str):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, Mapping) else None


def _has_thread(data: Mapping[str, Any]) -> bool:
    slack = data.get("slack")
    return isinstance(slack, Mapping) and isinstance(slack.get("thread"), Mapping)


def _id(event: Mapping[str, Any]) -> int:
    value = event.get("id")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def snapshot(events: Iterable[Mapping[str, Any]]) -> RunSnapshot:
    last_state: str | None = None
    for event in sorted(events, key=_id, reverse=True):
        entered, exited = event.get("stateEnteredEventDetails"), event.get("stateExitedEventDetails")
        if last_state is None and isinstance(entered, Mapping) and isinstance(entered.get("name"), str):
            last_state = entered["name"]
        for details, key in ((exited, "output"), (entered, "input")):
            data = _json_object(details.get(key)) if isinstance(details, Mapping) else None
            if data is not None and _has_thread(data):
                return RunSnapshot(last_state, data)
    return RunSnapshot(last_state)
