"""The promote function's event, parsed and checked in one place.

Event (Step Functions passes it; unknown keys are ignored, known keys are checked):

    {"alias": "staging" | "production", "modelName": "delivery-time", "modelVersion": "7",
     "imageUri": "<account>.dkr.ecr.<region>.amazonaws.com/<repository>@sha256:<64 hex>",
     "commit": "<git sha>", "executionId": "<Step Functions execution ARN>",
     "approver": "U0ALICE01",          # optional: who approved (production)
     "rollback": true}                 # optional: move the alias back to an older version on purpose

With ``rollback``, ``imageUri``, ``commit`` and ``executionId`` become optional (a person rolling back may only
know the version); ``commit`` is still checked when given.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from functions.promote.errors import PromoteInputError, UnknownAlias

ALIASES = ("staging", "production")
BY_PIPELINE = "pipeline"
MANUAL_EXECUTION = "manual"

_VERSION = re.compile(r"^[1-9][0-9]{0,9}$")
_COMMIT = re.compile(r"^[0-9a-f]{7,64}$")
_IMAGE = re.compile(r"^[^@\s]+@(?P<digest>sha256:[0-9a-f]{64})$")
_MODEL_NAME = re.compile(r"^[^\x00-\x1f/]{1,256}$")
_PLAIN = re.compile(r"^[^\x00-\x1f]{1,256}$")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


@dataclass(frozen=True)
class PromoteRequest:
    alias: str
    model_name: str
    model_version: str
    execution_id: str
    commit: str | None = None
    image_uri: str | None = None
    image_digest: str | None = None
    approver: str | None = None
    rollback: bool = False

    @property
    def promoted_by(self) -> str:
        return self.approver or BY_PIPELINE


def _text(event: Mapping[str, Any], name: str, *, required: bool, expected: str) -> str | None:
    value = event.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise PromoteInputError(f"{name}: missing; expected {expected}")
        return None
    if not isinstance(value, str):
        raise PromoteInputError(f"{name}: expected {expected}, got {_shown(value)}")
    return value.strip()


def parse_event(event: Any) -> PromoteRequest:
    """Read and check the event; raise PromoteInputError (UnknownAlias for the alias) naming the first bad field."""
    if not isinstance(event, Mapping):
        raise PromoteInputError(f"event: expected a JSON object, got {type(event).__name__}")
    rollback = event.get("rollback", False)
    if not isinstance(rollback, bool):
        raise PromoteInputError(f"rollback: expected true or false, got {_shown(rollback)}")

    alias = _text(event, "alias", required=True, expected=" | ".join(ALIASES))
    if alias not in ALIASES:
        raise UnknownAlias(
            f"alias: {_shown(alias)} is not an alias the pipeline manages; expected one of {', '.join(ALIASES)}"
        )
    model_name = _text(event, "modelName", required=True, expected="the registered model's name")
    if not _MODEL_NAME.match(model_name or ""):
        raise PromoteInputError(f"modelName: expected a registered model name, got {_shown(model_name)}")
    model_version = _text(event, "modelVersion", required=True, expected="a model version number such as '7'")
    if not _VERSION.match(model_version or ""):
        raise PromoteInputError(
            f"modelVersion: expected a model version number such as '7', got {_shown(model_version)}"
        )

    commit = _text(event, "commit", required=not rollback, expected="the git commit SHA the model was built from")
    if commit is not None and not _COMMIT.match(commit):
        raise PromoteInputError(f"commit: expected a git commit SHA (7-64 lower-case hex digits), got {_shown(commit)}")

    image_uri = _text(event, "imageUri", required=not rollback, expected="the image URI by digest (...@sha256:...)")
    digest = None
    if image_uri is not None:
        match = _IMAGE.match(image_uri)
        if not match:
            raise PromoteInputError(
                "imageUri: expected <repository>@sha256:<64 hex digits> (by digest, not by tag), "
                f"got {_shown(image_uri)}"
            )
        digest = match["digest"]

    execution = _text(event, "executionId", required=not rollback, expected="the Step Functions execution ARN")
    if execution is not None and not _PLAIN.match(execution):
        raise PromoteInputError(f"executionId: expected the execution ARN, got {_shown(execution)}")
    approver = _text(event, "approver", required=False, expected="the approver's Slack user ID or name")
    if approver is not None and not _PLAIN.match(approver):
        raise PromoteInputError(f"approver: expected a Slack user ID or name, got {_shown(approver)}")

    return PromoteRequest(
        alias=alias,
        model_name=model_name or "",
        model_version=model_version or "",
        execution_id=execution or MANUAL_EXECUTION,
        commit=commit,
        image_uri=image_uri,
        image_digest=digest,
        approver=approver,
        rollback=rollback,
    )
