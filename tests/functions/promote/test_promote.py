"""The promote function's handler against the real MLflow server: versions registered here with a ``commit`` tag,
as the build registers them, then promoted as the workflow's PromoteStaging / PromoteProduction states do."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from functions.common import secrets
from functions.promote import handler
from functions.promote.errors import (
    CommitMismatch,
    ImageMismatch,
    PromoteConfigError,
    PromoteInputError,
    RegistryError,
    RegistryUnavailable,
    Superseded,
    UnknownAlias,
    VersionNotFound,
)
from tests.conftest import ROOT
from tests.functions.promote.conftest import DIGEST, EXECUTION, IMAGE_URI, Models, new_commit
from tests.functions.promote.flaky_mlflow import FlakyMlflow

pytestmark = pytest.mark.slow


class Context:
    """The bits of the Lambda context the handler reads."""

    aws_request_id = "req-1"

    def __init__(self, remaining_ms: int = 120_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def event(name: str, version: str, commit: str, alias: str = "staging", **extra: Any) -> dict[str, Any]:
    """The payload of ``promote_payload`` in infra/workflow.py, as Step Functions resolves it."""
    return {
        "alias": alias,
        "modelName": name,
        "modelVersion": version,
        "imageUri": IMAGE_URI,
        "commit": commit,
        "executionId": EXECUTION,
        **extra,
    }


def promote(payload: dict[str, Any]) -> dict[str, Any]:
    return handler.handler(payload, Context())


# ----------------------------------------------------------------------------------------------- promote


def test_staging_moves_to_the_version_and_tags_it(models: Models) -> None:
    name = models.new_model()
    commit = new_commit()
    version = models.register(name, commit)

    before = datetime.now(UTC).replace(microsecond=0)
    result = promote(event(name, version, commit))

    assert result == {
        "alias": "staging",
        "modelName": name,
        "modelVersion": version,
        "previousVersion": None,
        "noop": False,
        # What the approval message compares (no production version yet).
        "metrics": {"rmse": 1.25},
        "productionVersion": None,
        "productionMetrics": {},
        "mlflowRunUrl": result["mlflowRunUrl"],
    }
    assert models.alias(name, "staging") == version
    tags = models.tags(name, version)
    assert tags["commit"] == commit
    assert tags["image_digest"] == DIGEST
    assert tags["staging_by"] == "pipeline"
    assert tags["staging_execution"] == EXECUTION
    assert "staging_previous" not in tags
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", tags["staging_at"])
    at = datetime.fromisoformat(tags["staging_at"].replace("Z", "+00:00"))
    assert before <= at <= datetime.now(UTC) + timedelta(seconds=1)


def test_staging_reports_the_metrics_next_to_productions_and_links_the_run(models: Models, mlflow_env: str) -> None:
    name = models.new_model()
    old_commit, new_commit_ = new_commit(), new_commit()
    in_production = models.register(name, old_commit, rmse=1.5)
    promote(event(name, in_production, old_commit, alias="production"))
    candidate = models.register(name, new_commit_, rmse=1.2)

    result = promote(event(name, candidate, new_commit_))

    assert result["metrics"] == {"rmse": 1.2}
    assert (result["productionVersion"], result["productionMetrics"]) == (in_production, {"rmse": 1.5})
    run = models.client.get_model_version(name, candidate).run_id
    experiment = models.client.get_run(run).info.experiment_id
    assert result["mlflowRunUrl"] == f"{mlflow_env}/#/experiments/{experiment}/runs/{run}"
    # Production's own promotion reports nothing of the kind.
    assert "metrics" not in promote(event(name, candidate, new_commit_, alias="production"))


def test_the_next_version_reports_the_previous_one_for_a_rollback(models: Models) -> None:
    name = models.new_model()
    first_commit, second_commit = new_commit(), new_commit()
    first = models.register(name, first_commit)
    second = models.register(name, second_commit)
    promote(event(name, first, first_commit))

    result = promote(event(name, second, second_commit))
    assert (result["modelVersion"], result["previousVersion"], result["noop"]) == (second, first, False)
    assert models.alias(name, "staging") == second
    assert models.tags(name, second)["staging_previous"] == first


def test_production_is_tagged_with_the_approver(models: Models) -> None:
    name = models.new_model()
    commit = new_commit()
    version = models.register(name, commit)
    promote(event(name, version, commit))

    result = promote(event(name, version, commit, alias="production", approver="U0ALICE01"))
    assert (result["alias"], result["previousVersion"]) == ("production", None)
    assert models.alias(name, "production") == version
    assert models.alias(name, "staging") == version
    tags = models.tags(name, version)
    assert tags["production_by"] == "U0ALICE01"
    assert tags["staging_by"] == "pipeline"
    assert tags["production_execution"] == EXECUTION


def test_promoting_the_version_the_alias_already_points_at_is_a_noop(models: Models) -> None:
    name = models.new_model()
    commits = [new_commit(), new_commit()]
    first, second = (models.register(name, commit) for commit in commits)
    promote(event(name, first, commits[0]))
    done = promote(event(name, second, commits[1]))
    tags = models.tags(name, second)

    again = promote(event(name, second, commits[1]))
    assert again == {**done, "noop": True}  # the same previousVersion as the first answer
    assert models.tags(name, second) == tags  # nothing rewritten, not even the time
    assert models.alias(name, "staging") == second


def test_a_noop_after_a_move_by_hand_adds_the_missing_tags(models: Models) -> None:
    name = models.new_model()
    commit = new_commit()
    version = models.register(name, commit)
    models.client.set_registered_model_alias(name, "staging", version)

    result = promote(event(name, version, commit))
    assert (result["noop"], result["previousVersion"]) == (True, None)
    tags = models.tags(name, version)
    assert tags["image_digest"] == DIGEST
    assert tags["staging_execution"] == EXECUTION


# ------------------------------------------------------------------------------------------------ refusals


def test_a_commit_that_differs_from_the_versions_tag_is_refused(models: Models) -> None:
    name = models.new_model()
    tagged, other = new_commit(), new_commit()
    version = models.register(name, tagged)
    with pytest.raises(CommitMismatch) as refused:
        promote(event(name, version, other))
    assert f"was built from commit {tagged}, not {other}" in str(refused.value)
    assert "Alias staging was not moved" in str(refused.value)
    assert models.alias(name, "staging") is None
    assert "staging_at" not in models.tags(name, version)


def test_a_version_without_a_commit_tag_is_refused(models: Models) -> None:
    name = models.new_model()
    version = models.register(name, None)
    with pytest.raises(CommitMismatch, match="has no 'commit' tag"):
        promote(event(name, version, new_commit()))
    assert models.alias(name, "staging") is None


def test_an_image_other_than_the_one_the_build_recorded_is_refused(models: Models) -> None:
    name = models.new_model()
    commit = new_commit()
    version = models.register(name, commit, digest="sha256:" + "c" * 64)
    with pytest.raises(ImageMismatch, match=f"recorded with image sha256:c+, but this run deployed {DIGEST}"):
        promote(event(name, version, commit))
    assert models.alias(name, "staging") is None


def test_a_version_that_does_not_exist_is_refused(models: Models) -> None:
    name = models.new_model()
    with pytest.raises(VersionNotFound, match=rf"model '{name}' has no version 42 in MLflow"):
        promote(event(name, "42", new_commit()))
    with pytest.raises(VersionNotFound, match="Model Version \\(name=never-registered-model, version=1\\) not found"):
        promote(event("never-registered-model", "1", new_commit()))


def test_an_unknown_alias_is_refused_before_mlflow_is_asked(models: Models) -> None:
    name = models.new_model()
    commit = new_commit()
    version = models.register(name, commit)
    for alias in ("champion", "latest", "Staging"):
        with pytest.raises(UnknownAlias, match="expected one of staging, production"):
            promote(event(name, version, commit, alias=alias))
    assert UnknownAlias.__mro__[1] is PromoteInputError


def test_a_late_run_never_moves_the_alias_back_but_a_rollback_does(models: Models) -> None:
    name = models.new_model()
    commits = [new_commit(), new_commit()]
    older, newer = (models.register(name, commit) for commit in commits)
    promote(event(name, newer, commits[1]))

    with pytest.raises(Superseded) as late:
        promote(event(name, older, commits[0]))
    assert f"already points at version {newer} (commit {commits[1]}, execution {EXECUTION})" in str(late.value)
    assert models.alias(name, "staging") == newer

    rollback = {"alias": "staging", "modelName": name, "modelVersion": older, "rollback": True}
    result = promote(rollback)
    assert (result["modelVersion"], result["previousVersion"]) == (older, newer)
    assert models.alias(name, "staging") == older
    tags = models.tags(name, older)
    assert (tags["staging_execution"], tags["staging_by"]) == ("manual", "pipeline")


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"modelVersion": "seven"}, PromoteInputError, "modelVersion: expected a model version number"),
        ({"modelVersion": None}, PromoteInputError, "modelVersion: missing"),
        ({"commit": "not-a-sha"}, PromoteInputError, "commit: expected a git commit SHA"),
        ({"commit": None}, PromoteInputError, "commit: missing"),
        ({"imageUri": "repo/model:latest"}, PromoteInputError, "imageUri: expected <repository>@sha256:"),
        ({"executionId": ""}, PromoteInputError, "executionId: missing"),
        ({"modelName": ""}, PromoteInputError, "modelName: missing"),
        ({"rollback": "yes"}, PromoteInputError, "rollback: expected true or false"),
        ({"alias": None}, PromoteInputError, "alias: missing"),
    ],
)
def test_a_bad_event_names_the_field(
    models: Models, change: dict[str, Any], error: type[Exception], message: str
) -> None:
    payload = {**event("some-model", "1", new_commit()), **change}
    with pytest.raises(error, match=message):
        promote(payload)


def test_a_version_number_may_come_as_a_json_number(models: Models) -> None:
    name = models.new_model()
    commit = new_commit()
    version = models.register(name, commit)
    assert promote(event(name, int(version), commit))["modelVersion"] == version  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------- registry


def test_mlflow_down_is_registry_unavailable(monkeypatch: pytest.MonkeyPatch, mlflow_env: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("MLFLOW_RETRY_WINDOW_SECONDS", "0.5")
    with pytest.raises(RegistryUnavailable, match=r"MLflow get_model_version failed: no answer.*retrying is safe"):
        promote(event("m", "1", new_commit()))


def test_a_paused_database_is_waited_for(models: Models, mlflow_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    name = models.new_model()
    commit = new_commit()
    version = models.register(name, commit)
    with FlakyMlflow(mlflow_env, outage_seconds=1.5) as flaky:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", flaky.url)
        result = promote(event(name, version, commit))
    assert result["modelVersion"] == version and result["metrics"] == {"rmse": 1.25}
    assert flaky.statuses[0] == 503 and 503 not in flaky.statuses[flaky.statuses.index(200) :]
    assert models.alias(name, "staging") == version


def test_without_mlflow_settings_it_is_a_config_error(monkeypatch: pytest.MonkeyPatch, mlflow_env: str) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    with pytest.raises(PromoteConfigError, match="MLFLOW_TRACKING_URI: not set"):
        promote(event("m", "1", new_commit()))


def test_the_login_comes_from_the_secret_and_is_never_logged(
    models: Models, mlflow_env: str, aws_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    password = "pipeline-P@ss:/%#?"
    name = models.new_model()
    commit = new_commit()
    version = models.register(name, commit)
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    secrets.clear_cache()
    with mock_aws(), FlakyMlflow(mlflow_env, require_login=("pipeline", password)) as flaky:
        store = boto3.client("secretsmanager", region_name="eu-west-1")
        login = {"username": "pipeline", "password": password, "tracking_uri": flaky.url}
        arn = store.create_secret(Name="mlflow-pipeline", SecretString=json.dumps(login))["ARN"]
        monkeypatch.setenv("MLFLOW_CREDENTIALS_SECRET_ARN", arn)
        assert promote(event(name, version, commit))["modelVersion"] == version
        assert 401 not in flaky.statuses  # (400 is MLflow's answer for "no such alias yet")
        assert {seen.authorization for seen in flaky.seen} != {None}

        store.put_secret_value(SecretId=arn, SecretString=json.dumps({**login, "password": "wrong"}))
        secrets.clear_cache()
        with pytest.raises(RegistryError, match="MLflow get_model_version failed: HTTP 401"):
            promote(event(name, version, commit, alias="production"))
    secrets.clear_cache()
    logs = capsys.readouterr().out
    assert "promotion finished" in logs and "promotion failed" in logs
    assert password not in logs and "wrong" not in logs.replace("wrong model", "")


def test_every_line_logged_names_the_execution(models: Models, capsys: pytest.CaptureFixture) -> None:
    name = models.new_model()
    commit = new_commit()
    version = models.register(name, commit)
    promote(event(name, version, commit))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [line["message"] for line in lines] == ["promotion started", "alias moved", "promotion finished"]
    assert {line["executionId"] for line in lines} == {EXECUTION}
    assert lines[-1]["previousVersion"] is None


def test_the_retry_window_never_outlasts_the_function() -> None:
    deadline = handler.deadline(Context(remaining_ms=20_000))
    assert deadline is not None
    assert 14 < deadline - time.monotonic() <= 15
    assert handler.deadline(None) is None


def test_the_function_imports_nothing_its_lambda_lacks() -> None:
    """The zip holds functions/ only, on Python 3.12 with boto3: no mlflow, and no Slack layer for promote."""
    code = (
        "import sys\n"
        "for name in ('mlflow', 'slack_sdk', 'requests', 'pandas'):\n"
        "    sys.modules[name] = None\n"
        "import functions.promote.handler\n"
        "import functions.common.mlflow_api\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
