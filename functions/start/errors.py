"""Errors of the start function. An event that is not a push to the pipeline's branch is not an error: the
handler ignores it and says why (``IgnoredEvent``); a retry could not change it."""

from __future__ import annotations


class StartError(Exception):
    """Base class: every failure the start function raises on purpose."""


class StartConfigError(StartError):
    """An environment variable of the start function is missing or invalid (a stack problem, not the event)."""


class IgnoredEvent(StartError):
    """The event is not a push to the pipeline's branch, or lacks what a run needs; the message says which."""


class ExecutionExists(StartError):
    """An execution with this name exists or existed (names stay taken for 90 days after it closes)."""
