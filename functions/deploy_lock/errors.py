"""Errors of the deploy_lock function; the class name is the ``errorType`` a Step Functions Retry or Catch
matches."""

from __future__ import annotations


class DeployLockError(Exception):
    """Base class: every failure the deploy_lock function raises on purpose."""


class LockInputError(DeployLockError):
    """A field of the event is missing or invalid; the message starts with the field's name."""


class LockConfigError(DeployLockError):
    """An environment variable of the function is missing or invalid (a stack problem, not the event)."""


class LockBusy(DeployLockError):
    """Another run holds the environment's lock and its lease has not run out: the workflow retries later."""


class LockStoreError(DeployLockError):
    """DynamoDB did not answer as expected (throttled, unreachable, access denied)."""
