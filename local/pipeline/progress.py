"""A run's progress as it goes: one line per step (from the execution history), a spinner while one runs.

``Follower`` reads an execution's history (what the Step Functions console's graph shows) and prints each
task, wait and end state once it is over, with its duration and what it did, read from the state's output.
On a terminal the step in progress is shown on a spinner line with its elapsed time (and, for the build, the
buildspec command it runs); piped output gets the finished lines only.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

from local.pipeline.codebuild import CodeBuildStandIn

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
SHOWN_TYPES = ("Task", "Wait")


def _short_digest(image_uri: str) -> str:
    return image_uri.rsplit("@", 1)[-1][:19] if "@" in image_uri else image_uri


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


def describe_step(name: str, output: dict[str, Any], failed: bool) -> str:
    """What a finished step did, in a few words, from the state's output (the run's data after it)."""
    error = output.get("error") if failed else None
    if isinstance(error, dict):
        cause = str(error.get("Cause") or "")
        with contextlib.suppress(ValueError, AttributeError):
            cause = str(json.loads(cause).get("errorMessage") or cause)
        return f"{error.get('Error')}: {cause[:160]}" if cause else str(error.get("Error"))
    build = output.get("build") or {}
    details: dict[str, Callable[[], str]] = {
        "NotifyStarted": lambda: "the run's Slack thread is open",
        "Build": lambda: (
            f"model version {_first(build.get('modelVersion'))}, image "
            f"{_short_digest(str(_first(build.get('imageUri'))))}"
        ),
        "DeployStage": lambda: _deployed("stage", output.get("stage")),
        "DeployProd": lambda: _deployed("prod", output.get("prod")),
        "PromoteStaging": lambda: _promoted(output.get("promoteStaging")),
        "PromoteProduction": lambda: _promoted(output.get("promoteProduction")),
        "Approval": lambda: (
            f"{(output.get('approval') or {}).get('decision')} by "
            f"{(output.get('approval') or {}).get('approverName') or (output.get('approval') or {}).get('approver')}"
        ),
        "ExpireApproval": lambda: "the approval request now says it expired",
        "Notify": lambda: "the summary is in the thread",
        "NotifyFailure": lambda: "the failure is in the thread",
    }
    describe = details.get(name)
    return describe() if describe else ""


def _deployed(environment: str, result: Any) -> str:
    outcome = (result or {}).get("output") or {}
    if outcome.get("noop"):
        return f"{environment} already ran this image (version {outcome.get('liveVersion')})"
    return (
        f"{environment} version {outcome.get('functionVersion')} smoke-tested, alias live moved from version "
        f"{outcome.get('previousVersion')}"
    )


def _promoted(result: Any) -> str:
    outcome = (result or {}).get("output") or {}
    was = outcome.get("previousVersion")
    return f"MLflow alias {outcome.get('alias')} -> version {outcome.get('modelVersion')}" + (
        f" (was {was})" if was else ""
    )


@dataclass
class Step:
    name: str
    kind: str
    entered: datetime
    failed: bool = False


@dataclass
class Follower:
    history: Callable[[], list[dict[str, Any]]]
    stream: TextIO = field(default_factory=lambda: sys.stdout)
    label: str = ""
    substituted: dict[str, str] = field(default_factory=dict)  # state name -> what stands in for it
    codebuild: CodeBuildStandIn | None = None
    tty: bool | None = None
    steps_done: list[tuple[str, float, bool]] = field(default_factory=list)
    _seen: int = 0
    _running: Step | None = None
    _spin: int = 0
    _spinner_shown: bool = False

    def __post_init__(self) -> None:
        if self.tty is None:
            self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def poll(self) -> None:
        """Print the steps that ended since the last poll, then the spinner line of the one running."""
        events = self.history()
        for event in events[self._seen :]:
            self._event(event)
        self._seen = len(events)
        self._spinner()

    def _event(self, event: dict[str, Any]) -> None:
        kind = str(event["type"])
        entered = event.get("stateEnteredEventDetails")
        exited = event.get("stateExitedEventDetails")
        if entered is not None:
            state_type = kind.removesuffix("StateEntered")
            self._running = Step(entered["name"], state_type, event["timestamp"])
            if state_type in ("Fail", "Succeed"):
                self._line(state_type == "Fail", entered["name"], 0.0, self._end_detail(state_type, entered))
                self._running = None
        elif kind in ("TaskScheduled", "LambdaFunctionScheduled") and self._running is not None:
            self._running.failed = False  # a new attempt (a retry)
        elif kind.endswith(("Failed", "TimedOut")) and self._running is not None:
            self._running.failed = True
        elif exited is not None and self._running is not None and self._running.name == exited["name"]:
            step, self._running = self._running, None
            if step.kind in SHOWN_TYPES:
                seconds = (event["timestamp"] - step.entered).total_seconds()
                output = json.loads(exited.get("output") or "{}")
                detail = describe_step(step.name, output if isinstance(output, dict) else {}, step.failed)
                if step.name in self.substituted:
                    detail += f" [{self.substituted[step.name]}]"
                self._line(step.failed, step.name, seconds, detail)

    @staticmethod
    def _end_detail(state_type: str, entered: dict[str, Any]) -> str:
        if state_type == "Succeed":
            return "the run succeeded"
        data = json.loads(entered.get("input") or "{}")
        failure = data.get("failure") or {} if isinstance(data, dict) else {}
        return f"{failure.get('outcome', 'failed')} at {failure.get('step', '?')}"

    def _line(self, failed: bool, name: str, seconds: float, detail: str) -> None:
        self._clear_spinner()
        mark = "✗" if failed else "✓"
        prefix = f"{self.label} " if self.label else ""
        duration = f"{seconds:5.1f} s" if seconds else "       "
        self.stream.write(f"  {mark} {prefix}{name:<18} {duration}  {detail}".rstrip() + "\n")
        self.stream.flush()
        self.steps_done.append((name, seconds, failed))

    def _spinner(self) -> None:
        if not self.tty or self._running is None or self._running.kind not in SHOWN_TYPES:
            self._clear_spinner()
            return
        step = self._running
        elapsed = time.time() - step.entered.timestamp()
        detail = ""
        if step.name == "Approval":
            detail = "waiting for a decision in Slack"
        elif self.codebuild is not None and self.codebuild.activity:
            detail = next(iter(self.codebuild.activity.values())).command
        self._spin = (self._spin + 1) % len(SPINNER)
        prefix = f"{self.label} " if self.label else ""
        text = f"  {SPINNER[self._spin]} {prefix}{step.name:<18} {elapsed:5.1f} s  {detail}"
        self.stream.write("\r\033[K" + text[:150])
        self.stream.flush()
        self._spinner_shown = True

    def _clear_spinner(self) -> None:
        if self._spinner_shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._spinner_shown = False

    def finish(self) -> None:
        self.poll()
        self._clear_spinner()
