"""What the deploy function does, as plain logic over two small interfaces (no boto3 here).

``TargetFunction`` is the inference function in the stage or prod account (through the assumed deployer role);
``ImageRegistry`` is the model image repository in the tooling account (the deploy function's own role).
``lambda_api`` implements both with boto3; tests can also pass fakes.

Actions (``run`` dispatches on ``request.action``):

deploy
    image digest → refuse an image index → read alias ``live`` → refuse an older model (``Superseded``), or
    return ``noop`` when live already runs this digest → make sure ``$LATEST`` is Active → update the code and
    wait (``UpdateFailed`` publishes nothing) → publish a version described ``model= commit= execution=
    previous=`` → wait until it is Active → smoke-test that numbered version (``SmokeTestFailed`` leaves the
    alias alone) → tag the image ``live-<env>-<version>`` in ECR → move ``live`` (with the RevisionId read at
    the start, so a concurrent change fails with ``AliasChanged``). With ``canaryPercent`` the last step routes
    that share of traffic to the new version instead, and the workflow later calls ``promote``. The image is
    tagged before the alias moves, so live never runs an image the lifecycle policy could expire; if the move
    then fails, the extra protected tag only keeps that image longer.
shift
    route ``canaryPercent`` % of ``live`` to ``functionVersion``, primary stays on the live version.
promote
    no alarm in ALARM and no ``Errors`` of the new version behind ``live`` since the shift, else
    ``CanaryFailed``; then ``live`` → new version, routing cleared.
rollback
    ``live`` → ``previousVersion``, routing cleared; idempotent. See ``rollback`` for the manual form.

Inactive functions: Lambda marks an image function (and each version) Inactive after weeks without calls; the
next invocation fails with ResourceNotReadyException and sets it Pending until it is Active again. Before the
code update, and before any version receives traffic from ``live`` (deploy, shift, promote, rollback), the
function or version is made Active: Pending is waited for (``function_active_v2``); Inactive is woken with one
invocation of that same function or version (the smoke payload, whose answer is ignored), then waited for. A
newly published version is waited for with ``published_version_active`` first. So the smoke test never meets
an inactive version, and a rollback to a version idle for weeks does not answer live traffic with errors.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from functions.common.logging import Logger
from functions.deploy.errors import (
    AliasChanged,
    CanaryFailed,
    DeployInputError,
    DeployTargetError,
    SmokeTestFailed,
    Superseded,
    UpdateFailed,
)
from functions.deploy.models import (
    ALIAS,
    LIVE_TAG_PREFIX,
    DeployRequest,
    ImageRef,
    Target,
    digest_of,
    parse_description,
    version_description,
)

LATEST = "$LATEST"
IMAGE_INDEX_MEDIA_TYPES = frozenset(
    {"application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"}
)
SMOKE_TEST_PAYLOAD: Mapping[str, Any] = {
    "records": [{"PORT_LOAD_LAT": 31.23, "PORT_LOAD_LONG": 121.47, "PORT_DEL_LAT": 51.95, "PORT_DEL_LONG": 4.14}]
}
# Without shiftedAt, the canary's errors are counted from the version's publication (it cannot have served
# traffic through the alias before), but never further back than CloudWatch keeps one-minute data.
METRIC_LOOKBACK_MAX = timedelta(days=14)


# ------------------------------------------------------------------------------------ what the ports return


@dataclass(frozen=True)
class AliasState:
    function_version: str
    weights: Mapping[str, float]
    revision_id: str | None

    def describe(self) -> str:
        if not self.weights:
            return f"version {self.function_version}"
        routes = ", ".join(f"{weight:.0%} to version {version}" for version, weight in sorted(self.weights.items()))
        return f"version {self.function_version} with {routes}"


@dataclass(frozen=True)
class VersionInfo:
    version: str
    description: str = ""
    image_uri: str | None = None
    resolved_image_uri: str | None = None
    state: str | None = None
    state_reason: str | None = None
    last_modified: datetime | None = None

    @property
    def digest(self) -> str | None:
        # ImageUri is what was deployed: by digest for everything this function deploys. ResolvedImageUri covers
        # an image deployed by tag (the stack's bootstrap image).
        return digest_of(self.image_uri) or digest_of(self.resolved_image_uri)

    @property
    def fields(self) -> dict[str, str]:
        return parse_description(self.description)

    @property
    def model_version(self) -> int | None:
        value = self.fields.get("model", "")
        return int(value) if value.isdigit() else None


@dataclass(frozen=True)
class CodeUpdate:
    """``$LATEST`` after ``UpdateFunctionCode`` and the ``function_updated_v2`` wait."""

    code_sha256: str
    revision_id: str | None
    status: str | None
    reason: str | None = None
    reason_code: str | None = None


@dataclass(frozen=True)
class Invocation:
    status_code: int | None = None
    function_error: str | None = None
    payload: bytes = b""
    client_timeout: float | None = None  # the client stopped waiting after this many seconds
    error_code: str | None = None  # the Invoke call itself failed (e.g. ResourceNotReadyException)
    error_message: str | None = None


@dataclass(frozen=True)
class Alarm:
    name: str
    state: str
    reason: str = ""


class TargetFunction(Protocol):
    """The inference function of one environment, reached through its deployer role."""

    def get_alias(self) -> AliasState: ...

    def get_version(self, qualifier: str) -> VersionInfo: ...

    def update_code(self, image_uri: str) -> CodeUpdate: ...

    def publish_version(self, description: str, code_sha256: str, revision_id: str | None) -> str: ...

    def wait_published(self, version: str) -> None: ...

    def wait_active(self, qualifier: str) -> None: ...

    def wake(self, qualifier: str, payload: bytes) -> None: ...

    def invoke(self, qualifier: str, payload: bytes) -> Invocation: ...

    def update_alias(self, function_version: str, weights: Mapping[str, float], revision_id: str | None) -> None: ...

    def describe_alarms(self, names: Sequence[str]) -> list[Alarm]: ...

    def sum_errors(self, version: str, start: datetime, end: datetime) -> float: ...


class ImageRegistry(Protocol):
    """The model image repository in the tooling account."""

    def manifest_media_type(self, image: ImageRef) -> str: ...

    def protect(self, image: ImageRef, tag: str) -> str: ...


# ------------------------------------------------------------------------------------------------ outcome


@dataclass(frozen=True)
class Outcome:
    """The action's result. ``functionVersion`` is the version the run is about (the new one; for a rollback,
    the one rolled back), ``previousVersion`` the one before it, ``liveVersion`` where ``live`` points now."""

    action: str
    environment: str
    function_version: str
    previous_version: str | None
    image_uri: str | None
    live_version: str
    noop: bool = False
    canary_percent: int | None = None
    shifted_at: datetime | None = None
    canary_errors: float | None = None
    protected_tag: str | None = None
    restored_image_uri: str | None = None
    # Rollback only: the model of the version rolled back, and of the version live now (None for a version the
    # deploy function did not publish, such as the stack's bootstrap image), so a caller can move MLflow's alias.
    model_version: str | None = None
    restored_model_version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "action": self.action,
            "environment": self.environment,
            "functionVersion": self.function_version,
            "previousVersion": self.previous_version,
            "imageUri": self.image_uri,
            "liveVersion": self.live_version,
            "noop": self.noop,
        }
        optional = {
            "canaryPercent": self.canary_percent,
            "shiftedAt": self.shifted_at.isoformat().replace("+00:00", "Z") if self.shifted_at else None,
            "canaryErrors": self.canary_errors,
            "protectedTag": self.protected_tag,
            "restoredImageUri": self.restored_image_uri,
            "modelVersion": self.model_version,
            "restoredModelVersion": self.restored_model_version,
        }
        result.update({key: value for key, value in optional.items() if value is not None})
        return result


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    """Everything an action needs besides the request."""

    target: TargetFunction
    registry: ImageRegistry
    config: Target
    log: Logger
    now: Callable[[], datetime] = _utcnow

    @property
    def where(self) -> str:
        return f"{self.config.environment} ({self.config.function_name} in account {self.config.account})"


def run(request: DeployRequest, ctx: Context) -> Outcome:
    """Carry out ``request.action`` and return its outcome; raise a DeployError subclass on failure."""
    actions: Mapping[str, Callable[[DeployRequest, Context], Outcome]] = {
        "deploy": deploy,
        "shift": shift,
        "promote": promote,
        "rollback": rollback,
    }
    return actions[request.action](request, ctx)


# ---------------------------------------------------------------------------------------------- helpers


def _smoke_payload() -> bytes:
    return json.dumps(SMOKE_TEST_PAYLOAD).encode("utf-8")


def refuse_image_index(image: ImageRef, registry: ImageRegistry) -> None:
    """Lambda runs single-platform images only. An image index (a multi-platform build, or one with provenance
    or SBOM attestations; the build uses ``--provenance=false --sbom=false`` to avoid them) cannot be told
    from its URI, so ask ECR for the manifest's media type."""
    media_type = registry.manifest_media_type(image)
    if media_type in IMAGE_INDEX_MEDIA_TYPES:
        raise DeployInputError(
            f"imageUri: {image.digest} is an image index ({media_type}), which Lambda cannot run; deploy the "
            "digest of the single-platform image manifest (build with --provenance=false --sbom=false)"
        )


def refuse_older_model(request: DeployRequest, versions: Sequence[VersionInfo], ctx: Context) -> None:
    """Raise Superseded when a version behind ``live`` (primary or canary) carries a newer model."""
    assert request.model_version is not None
    wanted = int(request.model_version)
    for info in versions:
        model = info.model_version
        if model is not None and model > wanted:
            fields = info.fields
            raise Superseded(
                f"{ctx.where}: alias {ALIAS} serves version {info.version} with model {model} (commit "
                f"{fields.get('commit', '?')}, execution {fields.get('execution', '?')}), newer than model "
                f"{wanted} of this run; a late run never replaces a newer model. Nothing was changed."
            )


def ensure_active(ctx: Context, qualifier: str, *, published: bool = False) -> VersionInfo:
    """Return the version once its State is Active, waking it first if it is Inactive (see the module doc)."""
    if published:
        ctx.target.wait_published(qualifier)
    info = ctx.target.get_version(qualifier)
    if info.state in (None, "Active"):
        return info
    if info.state == "Failed":
        raise UpdateFailed(f"{ctx.where}: {qualifier} is in state Failed ({info.state_reason}); nothing was moved")
    if info.state == "Inactive":
        ctx.log.info("waking an inactive function version", qualifier=qualifier, stateReason=info.state_reason)
        ctx.target.wake(qualifier, _smoke_payload())
    ctx.target.wait_active(qualifier)
    info = ctx.target.get_version(qualifier)
    if info.state != "Active":
        raise UpdateFailed(
            f"{ctx.where}: {qualifier} is still {info.state} ({info.state_reason or 'no reason given'}) after "
            "waiting for it to become Active; alias live was not moved"
        )
    return info


def smoke_test(ctx: Context, version: str, model_version: str, live: str) -> None:
    """Invoke the numbered version once and check the answer; raise SmokeTestFailed saying why."""
    invocation = ctx.target.invoke(version, _smoke_payload())
    why = _smoke_test_problem(invocation, model_version)
    if why:
        raise SmokeTestFailed(
            f"{ctx.where}: smoke test of version {version} failed: {why}. Alias {ALIAS} was left on version {live}."
        )
    ctx.log.info("smoke test passed", functionVersion=version)


def _smoke_test_problem(invocation: Invocation, model_version: str) -> str | None:
    if invocation.client_timeout is not None:
        return f"no answer within {invocation.client_timeout:g} s (timed out)"
    if invocation.error_code:
        return f"the Invoke call failed with {invocation.error_code}: {invocation.error_message}"
    text = invocation.payload.decode("utf-8", errors="replace")
    if invocation.function_error:
        try:
            error = json.loads(text)
        except json.JSONDecodeError:
            error = {}
        message = str(error.get("errorMessage", text)) if isinstance(error, dict) else text
        if "Task timed out" in message:
            return f"the function timed out ({message.strip()})"
        kind = (
            error.get("errorType", invocation.function_error) if isinstance(error, dict) else invocation.function_error
        )
        return f"the function raised {kind}: {message.strip()[:300]}"
    try:
        response = json.loads(text)
    except json.JSONDecodeError:
        return f"the answer is not JSON: {text[:200]!r}"
    if not isinstance(response, dict) or response.get("statusCode") != 200:
        status = response.get("statusCode") if isinstance(response, dict) else None
        return f"expected statusCode 200, got {status!r}: {text[:300]}"
    try:
        body = json.loads(response.get("body") or "")
    except (TypeError, json.JSONDecodeError):
        return f"the body is not a JSON string: {str(response.get('body'))[:200]!r}"
    if not isinstance(body, dict):
        return f"the body is not a JSON object: {str(body)[:200]}"
    predictions = body.get("predictions")
    if (
        not isinstance(predictions, list)
        or len(predictions) != 1
        or isinstance(predictions[0], bool)
        or not isinstance(predictions[0], int | float)
        or not math.isfinite(predictions[0])
    ):
        return f"expected predictions to be a list of one finite number, got {str(predictions)[:200]}"
    if str(body.get("modelVersion")) != model_version:
        return f"the function serves model {body.get('modelVersion')!r}, expected {model_version!r}"
    return None


def protect_image(ctx: Context, image: ImageRef, version: str) -> str:
    """Tag the image ``live-<env>-<version>``: the repository's lifecycle policy never expires that prefix."""
    tag = ctx.registry.protect(image, f"{LIVE_TAG_PREFIX}{ctx.config.environment}-{version}")
    ctx.log.info("image protected in ECR", tag=tag, digest=image.digest)
    return tag


def move_alias(ctx: Context, alias: AliasState, version: str, weights: Mapping[str, float]) -> None:
    ctx.target.update_alias(version, weights, alias.revision_id)
    ctx.log.info("alias moved", aliasName=ALIAS, functionVersion=version, weights=dict(weights), was=alias.describe())


def _check_image(ctx: Context, info: VersionInfo, image: ImageRef, field_name: str) -> None:
    if info.digest != image.digest:
        raise DeployInputError(
            f"{field_name}: version {info.version} of {ctx.config.function_name} runs {info.digest}, "
            f"not the imageUri's {image.digest}"
        )


def _same_weights(left: Mapping[str, float], right: Mapping[str, float]) -> bool:
    return {k: round(v, 4) for k, v in left.items()} == {k: round(v, 4) for k, v in right.items()}


# ----------------------------------------------------------------------------------------------- actions


def deploy(request: DeployRequest, ctx: Context) -> Outcome:
    image, model_version, commit = request.image, request.model_version, request.commit
    assert image is not None and model_version is not None and commit is not None
    refuse_image_index(image, ctx.registry)

    alias = ctx.target.get_alias()
    live = ctx.target.get_version(alias.function_version)
    routed = [ctx.target.get_version(version) for version in alias.weights]
    refuse_older_model(request, [live, *routed], ctx)

    def outcome(version: str, previous: str | None, *, noop: bool = False, tag: str | None = None) -> Outcome:
        canary = request.canary_percent
        return Outcome(
            action="deploy",
            environment=request.environment,
            function_version=version,
            previous_version=previous,
            image_uri=image.uri,
            live_version=live.version if canary else version,
            noop=noop,
            canary_percent=canary,
            shifted_at=ctx.now() if canary and not noop else None,
            protected_tag=tag,
        )

    if live.digest == image.digest:
        ctx.log.info("live already runs this image; nothing to do", functionVersion=live.version)
        return Outcome(
            action="deploy",
            environment=request.environment,
            function_version=live.version,
            previous_version=live.fields.get("previous"),
            image_uri=image.uri,
            live_version=live.version,
            noop=True,
        )
    weight = request.canary_weight
    for info in routed:
        if weight is not None and info.digest == image.digest and _same_weights(alias.weights, {info.version: weight}):
            ctx.log.info("the canary already runs this image; nothing to do", functionVersion=info.version)
            return outcome(info.version, live.version, noop=True)

    ensure_active(ctx, LATEST)
    update = ctx.target.update_code(image.uri)
    if update.status != "Successful":
        reason = update.reason or "no reason given"
        raise UpdateFailed(
            f"{ctx.where}: updating the code to {image.uri} ended {update.status or 'without a status'}: {reason}"
            f"{f' ({update.reason_code})' if update.reason_code else ''}. No version was published; alias "
            f"{ALIAS} is still on version {alias.function_version}."
        )
    description = version_description(model_version, commit, request.execution_name, alias.function_version)
    version = ctx.target.publish_version(description, update.code_sha256, update.revision_id)
    ctx.log.info("version published", functionVersion=version, description=description)
    ensure_active(ctx, version, published=True)
    smoke_test(ctx, version, model_version, alias.function_version)
    tag = protect_image(ctx, image, version)
    if weight is None:
        move_alias(ctx, alias, version, {})
    else:
        move_alias(ctx, alias, alias.function_version, {version: weight})
    return outcome(version, alias.function_version, tag=tag)


def shift(request: DeployRequest, ctx: Context) -> Outcome:
    image, new, weight = request.image, request.function_version, request.canary_weight
    assert image is not None and new is not None and weight is not None
    alias = ctx.target.get_alias()

    def outcome(previous: str, *, noop: bool = False, tag: str | None = None) -> Outcome:
        live = new if alias.function_version == new else previous
        return Outcome(
            action="shift",
            environment=request.environment,
            function_version=new,
            previous_version=previous,
            image_uri=image.uri,
            live_version=live,
            noop=noop,
            canary_percent=request.canary_percent,
            shifted_at=None if noop else ctx.now(),
            protected_tag=tag,
        )

    if alias.function_version == new and not alias.weights:
        ctx.log.info("the version is already fully live; nothing to shift", functionVersion=new)
        return outcome(request.previous_version or new, noop=True)
    if alias.function_version == new or (
        request.previous_version and alias.function_version != request.previous_version
    ):
        raise AliasChanged(
            f"{ctx.where}: alias {ALIAS} is on {alias.describe()}, expected version "
            f"{request.previous_version or '(another version)'}; not shifting traffic to version {new}"
        )
    current = ctx.target.get_version(alias.function_version)
    others = [ctx.target.get_version(v) for v in alias.weights if v != new]
    refuse_older_model(request, [current, *others], ctx)
    _check_image(ctx, ctx.target.get_version(new), image, "functionVersion")
    if _same_weights(alias.weights, {new: weight}):
        ctx.log.info("the canary is already routed; nothing to do", functionVersion=new)
        return outcome(alias.function_version, noop=True)
    ensure_active(ctx, new)
    tag = protect_image(ctx, image, new)
    move_alias(ctx, alias, alias.function_version, {new: weight})
    return outcome(alias.function_version, tag=tag)


def promote(request: DeployRequest, ctx: Context) -> Outcome:
    image, new, previous = request.image, request.function_version, request.previous_version
    assert image is not None and new is not None and previous is not None
    alias = ctx.target.get_alias()

    def outcome(*, noop: bool = False, errors: float | None = None) -> Outcome:
        return Outcome(
            action="promote",
            environment=request.environment,
            function_version=new,
            previous_version=previous,
            image_uri=image.uri,
            live_version=new,
            noop=noop,
            canary_errors=errors,
        )

    if alias.function_version == new and not alias.weights:
        ctx.log.info("the version is already fully live; nothing to promote", functionVersion=new)
        return outcome(noop=True)
    if alias.function_version != previous or new not in alias.weights:
        raise AliasChanged(
            f"{ctx.where}: alias {ALIAS} is on {alias.describe()}, expected version {previous} with a canary of "
            f"version {new}; someone changed it (a rollback?), so version {new} was not promoted"
        )
    info = ctx.target.get_version(new)
    _check_image(ctx, info, image, "functionVersion")

    names = ctx.config.alarm_names
    alarms = ctx.target.describe_alarms(names) if names else []
    missing = sorted(set(names) - {alarm.name for alarm in alarms})
    if missing:
        raise DeployTargetError(
            f"{ctx.where}: alarm(s) {', '.join(missing)} not found, so the canary cannot be judged; "
            "check DEPLOY_TARGETS.alarmNames and the environment stack"
        )
    firing = [alarm for alarm in alarms if alarm.state == "ALARM"]
    if firing:
        detail = "; ".join(f"{alarm.name}: {alarm.reason}" for alarm in firing)
        raise CanaryFailed(
            f"{ctx.where}: alarm(s) in ALARM during the canary of version {new} ({detail}); not promoted, "
            f"alias {ALIAS} still on {alias.describe()}"
        )
    end = ctx.now()
    start = request.shifted_at or info.last_modified or end - METRIC_LOOKBACK_MAX
    start = max(start, end - METRIC_LOOKBACK_MAX)
    errors = ctx.target.sum_errors(new, start, end)
    if errors > 0:
        raise CanaryFailed(
            f"{ctx.where}: version {new} had {errors:g} error(s) behind alias {ALIAS} since "
            f"{start.isoformat(timespec='seconds')}; not promoted, alias {ALIAS} still on {alias.describe()}"
        )
    ensure_active(ctx, new)
    move_alias(ctx, alias, new, {})
    return outcome(errors=errors)


def rollback(request: DeployRequest, ctx: Context) -> Outcome:
    """Put ``live`` back on ``previousVersion`` with no routing. Idempotent: when live is already there with no
    routing, it returns ``noop``.

    Without versions (a person's rollback), it undoes the last step: during a canary it drops the canary;
    otherwise it moves ``live`` to the version recorded as ``previous=`` in the live version's description
    (the version that was live before it). Each such call steps back once; pass ``functionVersion`` (the
    version to roll back from) to make a repeated call safe. Only ``functionVersion``: back to its recorded
    previous version. Only ``previousVersion``: from whatever is live (or its canary) to that version.
    """
    alias = ctx.target.get_alias()
    routed = sorted(alias.weights)
    source, goal = request.function_version, request.previous_version
    if source is None and goal is None:
        if routed:
            source, goal = routed[0], alias.function_version
        else:
            source = alias.function_version
    elif source is None:
        source = routed[0] if routed and alias.function_version == goal else alias.function_version
    if goal is None:
        goal = ctx.target.get_version(source).fields.get("previous")
        if not goal:
            raise DeployInputError(
                f"previousVersion: version {source} of {ctx.config.function_name} records no previous version "
                "(it was not published by the deploy function); give previousVersion explicitly"
            )
    if goal == source:
        raise DeployInputError(f"previousVersion: must differ from the version rolled back ({source})")

    source_info = ctx.target.get_version(source)
    if alias.function_version == goal and not alias.weights:
        ctx.log.info("live is already on the previous version; nothing to roll back", functionVersion=goal)
        goal_info = ctx.target.get_version(goal)
        noop = True
    else:
        if source != alias.function_version and source not in alias.weights:
            raise AliasChanged(
                f"{ctx.where}: alias {ALIAS} is on {alias.describe()}, which does not involve version {source}; "
                f"someone else deployed since, so it was not rolled back to version {goal}"
            )
        goal_info = ensure_active(ctx, goal)
        move_alias(ctx, alias, goal, {})
        noop = False
    return Outcome(
        action="rollback",
        environment=request.environment,
        function_version=source,
        previous_version=goal,
        image_uri=source_info.image_uri,
        live_version=goal,
        noop=noop,
        restored_image_uri=goal_info.image_uri,
        model_version=_model_of(source_info),
        restored_model_version=_model_of(goal_info),
    )


def _model_of(info: VersionInfo) -> str | None:
    model = info.model_version
    return None if model is None else str(model)
