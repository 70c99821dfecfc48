"""Typed inputs of the deploy function: its settings (environment variables) and the event, parsed in one place.

Event (Step Functions passes it; unknown keys are ignored, known keys are checked):

    {"action": "deploy" | "shift" | "promote" | "rollback",
     "environment": "stage" | "prod",
     "imageUri": "<account>.dkr.ecr.<region>.amazonaws.com/<repository>@sha256:<64 hex>",
     "modelVersion": "7", "commit": "<git sha>", "executionId": "<Step Functions execution ARN>",
     "canaryPercent": 10,                      # deploy (optional: end in a canary), shift (required)
     "functionVersion": "8", "previousVersion": "7",  # shift / promote / rollback
     "shiftedAt": "2025-01-01T12:00:00Z"}      # promote (optional): when the canary started

``rollback`` needs only ``environment``; see ``actions.rollback`` for what it does without versions.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from functions.common.executions import EXECUTION_ARN, execution_name
from functions.deploy.errors import DeployConfigError, DeployInputError

ACTIONS = ("deploy", "shift", "promote", "rollback")
ENVIRONMENTS = ("stage", "prod")
ALIAS = "live"
LIVE_TAG_PREFIX = "live-"
DESCRIPTION_MAX = 256  # Lambda's limit for a version description
ROLE_SESSION_NAME_MAX = 64

# A digest reference to a private ECR image. Tags are refused: they are mutable, so what was tested in stage
# could differ from what reaches prod.
IMAGE_URI = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws\.com(?:\.cn)?"
    r"/(?P<repository>[a-z0-9]+(?:[._/-][a-z0-9]+)*)@(?P<digest>sha256:[0-9a-f]{64})$"
)
_COMMIT = re.compile(r"^[0-9a-f]{7,64}$")
_VERSION = re.compile(r"^[1-9][0-9]{0,9}$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_PLAIN_ID = re.compile(r"^\S{1,256}$")
_SESSION_UNSAFE = re.compile(r"[^\w+=,.@-]", re.ASCII)
_DESCRIPTION_FIELD = re.compile(r"(?P<key>[A-Za-z]+)=(?P<value>\S+)")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


# --------------------------------------------------------------------------------------------- images


@dataclass(frozen=True)
class ImageRef:
    """An ECR image by digest: ``<account>.dkr.ecr.<region>.amazonaws.com/<repository>@sha256:<hex>``."""

    uri: str
    account: str
    region: str
    repository: str
    digest: str

    @classmethod
    def parse(cls, value: Any, field_name: str = "imageUri") -> ImageRef:
        if not isinstance(value, str) or not value:
            raise DeployInputError(f"{field_name}: expected an ECR image URI by digest, got {_shown(value)}")
        match = IMAGE_URI.match(value)
        if match:
            return cls(uri=value, **match.groupdict())
        last = value.rsplit("/", 1)[-1]
        if "@" not in last and ":" in last:
            raise DeployInputError(
                f"{field_name}: {value!r} names a tag, and tags are mutable; expected a digest reference "
                "<account>.dkr.ecr.<region>.amazonaws.com/<repository>@sha256:<64 hex digits>"
            )
        raise DeployInputError(
            f"{field_name}: expected <account>.dkr.ecr.<region>.amazonaws.com/<repository>@sha256:<64 hex digits> "
            f"(a digest reference, no tag), got {_shown(value)}"
        )


def digest_of(uri: str | None) -> str | None:
    """The ``sha256:<hex>`` digest at the end of an image URI, or None for a tag reference."""
    if not uri:
        return None
    match = re.search(r"@(sha256:[0-9a-f]{64})$", uri)
    return match.group(1) if match else None


# ------------------------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Target:
    """Where an environment's inference function lives and how to reach it (one entry of DEPLOY_TARGETS)."""

    environment: str
    role_arn: str
    function_name: str
    alarm_names: tuple[str, ...] = ()

    @property
    def account(self) -> str:
        return self.role_arn.split(":")[4]


@dataclass(frozen=True)
class Settings:
    targets: Mapping[str, Target]
    model_repository: str
    region: str | None = None
    waiter_delay: float = 5.0
    waiter_max_attempts: int = 120
    retry_base_delay: float = 1.0
    retry_max_attempts: int = 6
    smoke_test_timeout: float = 120.0


def _number(environ: Mapping[str, str], name: str, default: float, *, minimum: float, integer: bool = False) -> Any:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return int(default) if integer else default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value < minimum:
        kind = "an integer" if integer else "a number"
        raise DeployConfigError(f"{name}: expected {kind} >= {minimum:g}, got {raw!r}")
    return value


def parse_targets(raw: str | None) -> dict[str, Target]:
    """DEPLOY_TARGETS: ``{"stage": {"roleArn", "functionName", "alarmNames"}, "prod": {...}}``."""
    name = "DEPLOY_TARGETS"
    if not raw:
        raise DeployConfigError(
            f"{name}: not set; expected JSON {{environment: {{roleArn, functionName, alarmNames}}}}"
        )
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as error:
        raise DeployConfigError(f"{name}: not valid JSON ({error.msg} at position {error.pos})") from error
    if not isinstance(data, dict) or not data:
        raise DeployConfigError(f"{name}: expected a non-empty JSON object keyed by environment")
    targets: dict[str, Target] = {}
    for environment, spec in data.items():
        where = f"{name}.{environment}"
        if environment not in ENVIRONMENTS:
            raise DeployConfigError(f"{name}: unknown environment {environment!r}; expected {', '.join(ENVIRONMENTS)}")
        if not isinstance(spec, dict):
            raise DeployConfigError(f"{where}: expected an object with roleArn, functionName, alarmNames")
        role_arn, function_name = spec.get("roleArn"), spec.get("functionName")
        alarm_names = spec.get("alarmNames", [])
        if not isinstance(role_arn, str) or not _ROLE_ARN.match(role_arn):
            raise DeployConfigError(f"{where}.roleArn: expected an IAM role ARN, got {_shown(role_arn)}")
        if not isinstance(function_name, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", function_name):
            raise DeployConfigError(
                f"{where}.functionName: expected a Lambda function name, got {_shown(function_name)}"
            )
        if not isinstance(alarm_names, list) or not all(isinstance(a, str) and a for a in alarm_names):
            raise DeployConfigError(f"{where}.alarmNames: expected a list of alarm names, got {_shown(alarm_names)}")
        targets[environment] = Target(environment, role_arn, function_name, tuple(alarm_names))
    return targets


def load_settings(environ: Mapping[str, str]) -> Settings:
    repository = (environ.get("MODEL_REPOSITORY_NAME") or "").strip()
    if not repository:
        raise DeployConfigError("MODEL_REPOSITORY_NAME: not set; expected the ECR repository that holds model images")
    return Settings(
        targets=parse_targets(environ.get("DEPLOY_TARGETS")),
        model_repository=repository,
        region=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or None,
        waiter_delay=_number(environ, "WAITER_DELAY_SECONDS", 5, minimum=0),
        waiter_max_attempts=_number(environ, "WAITER_MAX_ATTEMPTS", 120, minimum=1, integer=True),
        retry_base_delay=_number(environ, "RETRY_BASE_DELAY_SECONDS", 1, minimum=0),
        retry_max_attempts=_number(environ, "RETRY_MAX_ATTEMPTS", 6, minimum=1, integer=True),
        smoke_test_timeout=_number(environ, "SMOKE_TEST_TIMEOUT_SECONDS", 120, minimum=1),
    )


# ---------------------------------------------------------------------------------------------- event


@dataclass(frozen=True)
class DeployRequest:
    action: str
    environment: str
    execution_id: str
    image: ImageRef | None = None
    model_version: str | None = None
    commit: str | None = None
    canary_percent: int | None = None
    function_version: str | None = None
    previous_version: str | None = None
    shifted_at: datetime | None = None

    @property
    def execution_name(self) -> str:
        return execution_name(self.execution_id)

    @property
    def canary_weight(self) -> float | None:
        return None if self.canary_percent is None else self.canary_percent / 100


def role_session_name(environment: str, execution_id: str) -> str:
    """``deploy-<environment>-<execution name>`` made safe for STS: ``[\\w+=,.@-]``, at most 64 characters.

    CloudTrail in the target account then shows which run did what. A name cut to fit keeps a short hash of
    the whole, so two long execution names that share a prefix still get different session names.
    """
    full = f"deploy-{environment}-{execution_name(execution_id)}"
    safe = _SESSION_UNSAFE.sub("-", full)
    if len(safe) > ROLE_SESSION_NAME_MAX:
        suffix = hashlib.sha256(full.encode("utf-8")).hexdigest()[:8]
        safe = f"{safe[: ROLE_SESSION_NAME_MAX - len(suffix) - 1]}-{suffix}"
    return safe


def _require(event: Mapping[str, Any], name: str, expected: str) -> Any:
    value = event.get(name)
    if value is None or value == "":
        raise DeployInputError(f"{name}: missing; expected {expected}")
    return value


def _version(event: Mapping[str, Any], name: str, *, required: bool) -> str | None:
    value = event.get(name)
    if value is None or value == "":
        if required:
            raise DeployInputError(f"{name}: missing; expected a published version number such as '7'")
        return None
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not _VERSION.match(text):
        raise DeployInputError(
            f"{name}: expected a published version number such as '7' (not $LATEST or an alias), got {_shown(value)}"
        )
    return text


def _model_version(value: Any) -> str:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not _VERSION.match(text):
        raise DeployInputError(
            f"modelVersion: expected the registry's model version, a positive integer such as '7', got {_shown(value)}"
        )
    return text


def _canary_percent(value: Any) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 99:
        raise DeployInputError(f"canaryPercent: expected a whole number from 1 to 99, got {_shown(value)}")
    return value


def _timestamp(value: Any, name: str) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise DeployInputError(f"{name}: expected an ISO 8601 timestamp such as 2025-01-31T12:00:00Z, got {_shown(value)}")


def _execution_id(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise DeployInputError(f"executionId: expected the Step Functions execution ARN, got {_shown(value)}")
    if value.startswith("arn:"):
        if not EXECUTION_ARN.match(value):
            raise DeployInputError(
                "executionId: expected a Step Functions execution ARN "
                f"(arn:aws:states:<region>:<account>:execution:<state machine>:<name>), got {_shown(value)}"
            )
    elif not _PLAIN_ID.match(value):
        raise DeployInputError(f"executionId: expected an execution ARN or an ID without spaces, got {_shown(value)}")
    return value


def parse_event(
    event: Any, settings: Settings, *, request_id: str | None = None, own_account: str | None = None
) -> DeployRequest:
    """Read and check the event; raise DeployInputError naming the first bad field.

    ``own_account`` (the deploy function's account, from its ARN) is where model images must live.
    """
    if not isinstance(event, Mapping):
        raise DeployInputError(f"event: expected a JSON object, got {type(event).__name__}")
    action = _require(event, "action", " | ".join(ACTIONS))
    if action not in ACTIONS:
        raise DeployInputError(f"action: expected one of {', '.join(ACTIONS)}, got {_shown(action)}")
    environment = _require(event, "environment", " | ".join(ENVIRONMENTS))
    if environment not in ENVIRONMENTS:
        raise DeployInputError(f"environment: expected one of {', '.join(ENVIRONMENTS)}, got {_shown(environment)}")
    if environment not in settings.targets:
        raise DeployConfigError(f"DEPLOY_TARGETS: has no entry for environment {environment!r}")

    manual_rollback = action == "rollback"
    execution = event.get("executionId")
    if execution in (None, "") and manual_rollback:
        execution = f"manual-{request_id or 'rollback'}"
    execution = _execution_id(execution)

    image = model_version = commit = None
    if not manual_rollback or event.get("imageUri"):
        image = ImageRef.parse(_require(event, "imageUri", "an ECR image URI by digest"))
        if image.repository != settings.model_repository:
            raise DeployInputError(
                f"imageUri: expected an image in repository {settings.model_repository!r}, got {image.repository!r}"
            )
        if own_account and image.account != own_account:
            raise DeployInputError(
                f"imageUri: expected an image in the tooling account {own_account}, got account {image.account}"
            )
        if settings.region and image.region != settings.region:
            raise DeployInputError(
                f"imageUri: expected an image in {settings.region} (Lambda pulls images only from its own region), "
                f"got {image.region}"
            )
    if not manual_rollback or event.get("modelVersion") not in (None, ""):
        model_version = _model_version(_require(event, "modelVersion", "the registry's model version, such as '7'"))
    if not manual_rollback or event.get("commit"):
        commit = _require(event, "commit", "the git commit SHA the image was built from")
        if not isinstance(commit, str) or not _COMMIT.match(commit):
            raise DeployInputError(
                f"commit: expected a git commit SHA (7-64 lower-case hex digits), got {_shown(commit)}"
            )

    canary = event.get("canaryPercent")
    if action == "shift" and canary in (None, ""):
        raise DeployInputError("canaryPercent: missing; expected a whole number from 1 to 99")
    canary_percent = None if canary in (None, "") or action not in ("deploy", "shift") else _canary_percent(canary)

    function_version = _version(event, "functionVersion", required=action in ("shift", "promote"))
    previous_version = _version(event, "previousVersion", required=action == "promote")
    if function_version and function_version == previous_version:
        raise DeployInputError(f"previousVersion: must differ from functionVersion ({function_version})")

    shifted = event.get("shiftedAt")
    shifted_at = None if shifted in (None, "") or action != "promote" else _timestamp(shifted, "shiftedAt")

    return DeployRequest(
        action=action,
        environment=environment,
        execution_id=execution,
        image=image,
        model_version=model_version,
        commit=commit,
        canary_percent=canary_percent,
        function_version=function_version,
        previous_version=previous_version,
        shifted_at=shifted_at,
    )


# ----------------------------------------------------------------------------------- version descriptions


def version_description(model_version: str, commit: str, execution: str, previous: str | None) -> str:
    """``model=<v> commit=<sha> execution=<name> previous=<live version>``, at most 256 characters.

    ``previous`` is the version alias ``live`` pointed at when this one was published: a rollback without
    explicit versions reads it to know where to go back to.
    """
    head = f"model={model_version} commit={commit} execution="
    tail = f" previous={previous}" if previous else ""
    room = DESCRIPTION_MAX - len(head) - len(tail)
    name = _SESSION_UNSAFE.sub("-", execution)[: max(room, 1)]
    return f"{head}{name}{tail}"[:DESCRIPTION_MAX]


def parse_description(description: str | None) -> dict[str, str]:
    """The ``key=value`` pairs of a version description (empty for versions the deploy did not publish)."""
    return {m.group("key"): m.group("value") for m in _DESCRIPTION_FIELD.finditer(description or "")}
