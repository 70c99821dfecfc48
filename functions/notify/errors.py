"""Errors of the notify function. A Step Functions ``Catch`` matches the class name (``errorType``). The workflow
catches every notify failure and carries on, so these only need to say clearly what went wrong."""

from __future__ import annotations


class NotifyError(Exception):
    """Base class: every failure the notify function raises on purpose."""


class NotifyInputError(NotifyError):
    """The event is not one the workflow sends (unknown ``event``, no ``executionId``); the message names the field."""


class NotifyConfigError(NotifyError):
    """An environment variable is missing or invalid, or the bot token secret cannot be read."""


class NotifyFailed(NotifyError):
    """Slack did not take the message after bounded retries (down, rate-limited for too long, channel or token
    wrong). The message names Slack's error code; the token is never in it. The run itself is not affected."""
