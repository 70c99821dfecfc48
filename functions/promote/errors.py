"""Errors of the promote function. A Step Functions ``Catch`` matches the class name (``errorType``), so each
name says what happened; every message says what was left untouched or what to fix."""

from __future__ import annotations


class PromoteError(Exception):
    """Base class: every failure the promote function raises on purpose."""


class PromoteInputError(PromoteError):
    """The event is missing a field or a field is invalid; the message names the field and what is expected."""


class UnknownAlias(PromoteInputError):
    """``alias`` is not one the pipeline manages (``staging``, ``production``)."""


class PromoteConfigError(PromoteError):
    """The MLflow login (secret) or tracking URI is missing or invalid: a stack problem, not the event."""


class VersionNotFound(PromoteError):
    """The registered model has no such version (or the model does not exist). Nothing was changed."""


class CommitMismatch(PromoteError):
    """The version's ``commit`` tag differs from the run's commit (or is missing): promoting it would label the
    wrong model with this run. Nothing was changed."""


class ImageMismatch(PromoteError):
    """The version's ``image_digest`` tag (set by the build) differs from the run's image. Nothing was changed."""


class Superseded(PromoteError):
    """The alias already points at a newer version: a late run never moves it back. Nothing was changed.
    (A deliberate rollback passes ``"rollback": true``.)"""


class RegistryUnavailable(PromoteError):
    """MLflow did not answer well within the retry window (down, or its database did not resume). Safe to retry:
    every step is idempotent."""


class RegistryError(PromoteError):
    """MLflow refused a call (401/403 login or permission, or another 4xx); the message has the call and status."""
