"""What the promote function does, as plain logic over a small registry interface (no HTTP here).

    1. read the version (``VersionNotFound`` if there is none);
    2. check it is this run's model: its ``commit`` tag must equal the run's commit (``CommitMismatch``, also when
       the tag is missing), and its ``image_digest`` tag, when the build set one, the run's image (``ImageMismatch``);
    3. read where the alias points now. Already at this version: ``noop`` (only tags that are missing are added,
       e.g. after someone moved the alias by hand). At a newer version: ``Superseded``, unless ``rollback``;
    4. tag the version: ``commit``, ``image_digest``, ``<alias>_at`` (UTC), ``<alias>_by`` (approver, else
       "pipeline"), ``<alias>_execution``, and ``<alias>_previous`` (the version the alias leaves);
    5. move the alias.

Tags go first and the alias last, so a failure half-way leaves the alias where it was and a retry (Step
Functions or a person) redoes the whole thing; a retry after the alias moved is a ``noop`` that answers with the
same ``previousVersion`` (from the ``<alias>_previous`` tag). MLflow has no conditional alias update, so two runs
promoting the same alias at the same instant could still race; the workflow serializes the runs of one model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from functions.common.logging import Logger
from functions.common.mlflow_api import MlflowApiError, MlflowNotFound, ModelVersion, Run
from functions.promote.errors import CommitMismatch, ImageMismatch, Superseded, VersionNotFound
from functions.promote.models import PromoteRequest

COMMIT_TAG = "commit"
DIGEST_TAG = "image_digest"


class Registry(Protocol):
    """The MLflow model registry (``functions.common.mlflow_api.MlflowClient``)."""

    def get_model_version(self, name: str, version: str) -> ModelVersion: ...

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion | None: ...

    def set_model_version_tag(self, name: str, version: str, key: str, value: str) -> None: ...

    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None: ...

    def get_run(self, run_id: str) -> Run: ...


@dataclass(frozen=True)
class Outcome:
    alias: str
    model_name: str
    model_version: str
    previous_version: str | None
    noop: bool = False
    tags: dict[str, str] = field(default_factory=dict)  # the tags this call wrote
    run_id: str | None = None  # the MLflow run that produced the version
    report: Mapping[str, Any] | None = None  # staging only: what the approval message shows (see ``report``)

    def to_dict(self) -> dict[str, Any]:
        return {
            "alias": self.alias,
            "modelName": self.model_name,
            "modelVersion": self.model_version,
            "previousVersion": self.previous_version,
            "noop": self.noop,
            **(dict(self.report) if self.report is not None else {}),
        }


def _utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def alias_tags(request: PromoteRequest, previous: str | None, now: datetime) -> dict[str, str]:
    """Every tag a promotion writes, in the order written."""
    alias = request.alias
    tags: dict[str, str] = {}
    if request.commit:
        tags[COMMIT_TAG] = request.commit
    if request.image_digest:
        tags[DIGEST_TAG] = request.image_digest
    tags[f"{alias}_at"] = iso(now)
    tags[f"{alias}_by"] = request.promoted_by
    tags[f"{alias}_execution"] = request.execution_id
    if previous:
        tags[f"{alias}_previous"] = previous
    return tags


def read_version(request: PromoteRequest, registry: Registry) -> ModelVersion:
    try:
        return registry.get_model_version(request.model_name, request.model_version)
    except MlflowNotFound as error:
        raise VersionNotFound(
            f"model {request.model_name!r} has no version {request.model_version} in MLflow (or the model does not "
            f"exist): {error.detail}. Alias {request.alias} was not moved."
        ) from None


def check_identity(request: PromoteRequest, version: ModelVersion) -> None:
    """The version must be this run's model: same commit, and the same image when the build recorded one."""
    where = f"model {request.model_name!r} version {request.model_version}"
    tagged = version.tags.get(COMMIT_TAG)
    if request.commit is not None:
        if not tagged:
            raise CommitMismatch(
                f"{where} has no {COMMIT_TAG!r} tag, so it cannot be shown to be built from commit {request.commit}; "
                f"alias {request.alias} was not moved. Versions registered by the build carry that tag."
            )
        if tagged.strip().lower() != request.commit:
            raise CommitMismatch(
                f"{where} was built from commit {tagged.strip()}, not {request.commit} of this run: promoting it "
                f"would label the wrong model. Alias {request.alias} was not moved."
            )
    recorded = version.tags.get(DIGEST_TAG)
    if request.image_digest and recorded and recorded.strip() != request.image_digest:
        raise ImageMismatch(
            f"{where} is recorded with image {recorded.strip()}, but this run deployed {request.image_digest}. "
            f"Alias {request.alias} was not moved."
        )


def promote(request: PromoteRequest, registry: Registry, log: Logger, now: Callable[[], datetime] = _utcnow) -> Outcome:
    """Move ``request.alias`` to the version (see the module doc); raise a PromoteError subclass on refusal."""
    name, wanted, alias = request.model_name, request.model_version, request.alias
    version = read_version(request, registry)
    check_identity(request, version)

    current = registry.get_model_version_by_alias(name, alias)
    previous = current.version if current is not None else None
    if previous == wanted:
        return _noop(request, version, registry, log, now())
    if previous is not None and int(previous) > int(wanted) and not request.rollback:
        tags = current.tags if current is not None else {}
        raise Superseded(
            f"alias {alias} of model {name!r} already points at version {previous} (commit "
            f"{tags.get(COMMIT_TAG, '?')}, execution {tags.get(f'{alias}_execution', '?')}), newer than version "
            f"{wanted} of this run; a late run never moves it back. Nothing was changed."
        )

    tags = alias_tags(request, previous, now())
    for key, value in tags.items():
        registry.set_model_version_tag(name, wanted, key, value)
    registry.set_registered_model_alias(name, alias, wanted)
    log.info("alias moved", alias=alias, modelVersion=wanted, previousVersion=previous, rollback=request.rollback)
    return Outcome(alias, name, wanted, previous, noop=False, tags=tags, run_id=version.run_id)


def _noop(request: PromoteRequest, version: ModelVersion, registry: Registry, log: Logger, now: datetime) -> Outcome:
    """The alias is already there (a retry, or a move by hand): add only the tags that are missing."""
    alias = request.alias
    previous = version.tags.get(f"{alias}_previous") or None
    wanted = alias_tags(request, None, now)
    if f"{alias}_at" in version.tags:
        wanted = {key: value for key, value in wanted.items() if not key.startswith(f"{alias}_")}
    missing = {key: value for key, value in wanted.items() if key not in version.tags}
    for key, value in missing.items():
        registry.set_model_version_tag(request.model_name, request.model_version, key, value)
    log.info("alias already at this version", alias=alias, modelVersion=request.model_version, tagsAdded=list(missing))
    return Outcome(
        alias, request.model_name, request.model_version, previous, noop=True, tags=missing, run_id=version.run_id
    )


# -------------------------------------------------------------------------------------- approval report

STAGING_ALIAS = "staging"
PRODUCTION_ALIAS = "production"
EMPTY_REPORT: Mapping[str, Any] = {
    "metrics": {},
    "productionVersion": None,
    "productionMetrics": {},
    "mlflowRunUrl": None,
}


def run_url(ui_url: str, run: Run) -> str | None:
    """The run's page in the MLflow UI (the tracking server serves both)."""
    if not run.experiment_id or not run.run_id:
        return None
    return f"{ui_url.rstrip('/')}/#/experiments/{run.experiment_id}/runs/{run.run_id}"


def report(outcome: Outcome, registry: Registry, ui_url: str, log: Logger) -> dict[str, Any]:
    """What the approval message compares: this version's run metrics, the production version's, and a link to
    the run. Always every key (the workflow's JsonPath reads them); a registry that fails here leaves them
    empty and never fails the promotion, which already happened."""
    found: dict[str, Any] = dict(EMPTY_REPORT)
    try:
        if outcome.run_id:
            run = registry.get_run(outcome.run_id)
            found["metrics"], found["mlflowRunUrl"] = dict(run.metrics), run_url(ui_url, run)
        production = registry.get_model_version_by_alias(outcome.model_name, PRODUCTION_ALIAS)
        if production is not None and production.version != outcome.model_version:
            found["productionVersion"] = production.version
            if production.run_id:
                found["productionMetrics"] = dict(registry.get_run(production.run_id).metrics)
    except (MlflowApiError, OSError) as error:
        log.warning("metrics for the approval unavailable", reason=str(error))
    return found
