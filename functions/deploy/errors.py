"""Errors of the deploy function. A Step Functions ``Catch`` matches the class name (``errorType``), so each
name says what happened and every message says what to do or what was left untouched."""

from __future__ import annotations


class DeployError(Exception):
    """Base class: every failure the deploy function raises on purpose."""


class DeployInputError(DeployError):
    """The event is missing a field or a field is invalid; the message names the field and what is expected."""


class DeployConfigError(DeployError):
    """An environment variable of the deploy function is missing or invalid (a stack problem, not the event)."""


class DeployTargetError(DeployError):
    """The target account refused or lacks something: AccessDenied (assume-role or any call), or the function,
    version or alarm does not exist. Retrying does not help; fix the stack or the role."""


class Superseded(DeployError):
    """The environment already runs a newer model version: a late run never replaces a newer model."""


class UpdateFailed(DeployError):
    """Lambda could not apply the image (``LastUpdateStatus: Failed``) or a version never became Active.
    Nothing was published or moved."""


class ConcurrentDeploy(DeployError):
    """``$LATEST`` changed between our update and publish (another deploy is running); nothing was published."""


class SmokeTestFailed(DeployError):
    """The new numbered version failed its test invocation; alias ``live`` was not touched."""


class AliasChanged(DeployError):
    """Alias ``live`` is not in the state this step expects (someone else moved it, or its RevisionId changed
    between our read and our write); this step did not change it."""


class CanaryFailed(DeployError):
    """During the canary an alarm fired or the new version had errors; the workflow should roll back."""
