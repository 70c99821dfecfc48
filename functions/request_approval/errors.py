"""Errors of the request_approval function. A Step Functions ``Catch`` or ``Retry`` matches the class name
(``errorType``). No message ever contains the task token."""

from __future__ import annotations


class ApprovalError(Exception):
    """Base class: every failure the function raises on purpose."""


class ApprovalInputError(ApprovalError):
    """The event is missing a field or a field is invalid; the message names the field (never its value when
    the field is the task token)."""


class ApprovalConfigError(ApprovalError):
    """An environment variable is missing or invalid, or the Slack bot token secret cannot be read."""


class SlackPostFailed(ApprovalError):
    """The approval message could not be posted. Nothing is left behind (the stored approval is deleted), so
    the workflow may retry the task (it gets a new task token). The message names Slack's error code."""
