"""The configuration the operations runbooks rely on (README "Operations"): teardown with mlops:allowDestroy, an
MLflow database restored from a snapshot with mlops:mlflowDbRestoreSnapshot, and the outputs the runbooks read."""

from __future__ import annotations

import pytest

from infra.contracts import ToolingOutput
from tests.infra.harness import StackError, StackRun, run_stack, tooling_config

PREFIX = "serverless-mlops-delivery-time"
BUCKET = "aws:s3/bucket:Bucket"
REPOSITORY = "aws:ecr/repository:Repository"
SECRET = "aws:secretsmanager/secret:Secret"
CLUSTER = "aws:rds/cluster:Cluster"
INSTANCE = "aws:rds/clusterInstance:ClusterInstance"


@pytest.fixture(scope="module")
def teardown() -> StackRun:
    return run_stack("tooling", tooling_config(**{"mlops:allowDestroy": "true"}))


@pytest.fixture(scope="module")
def restored() -> StackRun:
    return run_stack("tooling", tooling_config(**{"mlops:mlflowDbRestoreSnapshot": f"{PREFIX}-mlflow-20250201"}))


def error_of(**config: str) -> str:
    with pytest.raises(StackError) as raised:
        run_stack("tooling", tooling_config(**config))
    return raised.value.message


# -------------------------------------------------------------------------------------------- teardown


def test_by_default_nothing_with_data_can_be_destroyed_by_accident(stack_runs: dict[str, StackRun]) -> None:
    run = stack_runs["tooling"]
    assert [b.name for b in run.of_type(BUCKET) if b.inputs.get("forceDestroy")] == []
    assert [r.name for r in run.of_type(REPOSITORY) if r.inputs.get("forceDelete")] == []
    assert {s.inputs["recoveryWindowInDays"] for s in run.of_type(SECRET)} == {7}
    assert run.one(CLUSTER).inputs["deletionProtection"] is True


def test_allow_destroy_removes_every_obstacle_to_pulumi_destroy(teardown: StackRun) -> None:
    buckets, repositories = teardown.of_type(BUCKET), teardown.of_type(REPOSITORY)
    assert len(buckets) == 2 and all(b.inputs["forceDestroy"] is True for b in buckets)  # artifacts, training data
    assert len(repositories) == 2 and all(r.inputs["forceDelete"] is True for r in repositories)  # models, MLflow
    assert {s.inputs["recoveryWindowInDays"] for s in teardown.of_type(SECRET)} == {0}  # MLflow's and Slack's
    assert teardown.one(CLUSTER).inputs["deletionProtection"] is False


def test_allow_destroy_still_keeps_a_final_snapshot_of_the_database(teardown: StackRun) -> None:
    cluster = teardown.one(CLUSTER).inputs
    assert cluster["skipFinalSnapshot"] is False
    assert cluster["finalSnapshotIdentifier"].startswith(f"{PREFIX}-mlflow-final-")


def test_deletion_protection_cannot_be_kept_on_while_destroy_is_allowed() -> None:
    message = error_of(**{"mlops:allowDestroy": "true", "mlops:mlflowDbDeletionProtection": "true"})
    assert "mlops:mlflowDbDeletionProtection: expected false (or unset) while mlops:allowDestroy is true" in message
    assert "pulumi config set mlops:mlflowDbDeletionProtection false --stack tooling" in message


def test_allow_destroy_must_be_a_boolean() -> None:
    message = error_of(**{"mlops:allowDestroy": "yes"})
    assert "mlops:allowDestroy: expected true or false, got 'yes'" in message


# ---------------------------------------------------------------------------------------------- restore


def test_a_restore_creates_a_new_cluster_from_the_snapshot_next_to_the_current_one(
    stack_runs: dict[str, StackRun], restored: StackRun
) -> None:
    before, after = stack_runs["tooling"].one(CLUSTER).inputs, restored.one(CLUSTER).inputs
    assert "snapshotIdentifier" not in before
    assert after["snapshotIdentifier"] == f"{PREFIX}-mlflow-20250201"
    # A new identifier: Pulumi creates the restored cluster before it deletes the current one.
    assert before["clusterIdentifier"] == f"{PREFIX}-mlflow"
    assert (
        after["clusterIdentifier"].startswith(f"{PREFIX}-mlflow-") and after["clusterIdentifier"] != f"{PREFIX}-mlflow"
    )
    assert restored.one(INSTANCE).inputs["identifier"] == after["clusterIdentifier"] + "-1"
    # Same subnets and protection: only the data source changes.
    assert after["dbSubnetGroupName"] == before["dbSubnetGroupName"] == f"{PREFIX}-mlflow"
    assert after["deletionProtection"] is True


def test_the_restored_cluster_is_what_the_runbooks_back_up_next(restored: StackRun) -> None:
    assert (
        restored.exports[ToolingOutput.MLFLOW_DB_CLUSTER_IDENTIFIER]
        == restored.one(CLUSTER).inputs["clusterIdentifier"]
    )


def test_identifiers_stay_within_rds_limits_for_the_longest_model_name() -> None:
    from infra.components.model_registry import db_cluster_identifier

    longest_prefix = "p" * 48  # ModelRegistryArgs.name_prefix is at most 48 characters
    identifier = db_cluster_identifier(longest_prefix, "rds:" + "s" * 200)
    assert len(f"{identifier}-1") <= 63  # the instance identifier, RDS's limit
    assert db_cluster_identifier(longest_prefix, "a") != db_cluster_identifier(longest_prefix, "b")


@pytest.mark.parametrize("value", ["2025-snapshot", "snap shot", "arn:aws:rds:eu-west-1:1:cluster-snapshot:x"])
def test_a_snapshot_that_is_not_one_is_refused_by_name(value: str) -> None:
    message = error_of(**{"mlops:mlflowDbRestoreSnapshot": value})
    assert "mlops:mlflowDbRestoreSnapshot: expected a DB cluster snapshot identifier" in message


# ---------------------------------------------------------------------------------------------- outputs


def test_the_tooling_stack_exports_what_the_runbooks_read(stack_runs: dict[str, StackRun]) -> None:
    run, exports = stack_runs["tooling"], stack_runs["tooling"].exports
    functions = {f.inputs["name"] for f in run.of_type("aws:lambda/function:Function")}
    assert exports[ToolingOutput.DEPLOY_FUNCTION_NAME] == f"{PREFIX}-deploy" in functions
    assert exports[ToolingOutput.PROMOTE_FUNCTION_NAME] == f"{PREFIX}-promote" in functions
    assert exports[ToolingOutput.NOTIFY_FUNCTION_NAME] == f"{PREFIX}-notify" in functions
    assert exports[ToolingOutput.MLFLOW_DB_CLUSTER_IDENTIFIER] == f"{PREFIX}-mlflow"
    buckets = {b.outputs.get("bucket") for b in run.of_type(BUCKET)}
    assert exports[ToolingOutput.MLFLOW_ARTIFACT_BUCKET_NAME] in buckets
    assert exports[ToolingOutput.TRAINING_DATA_BUCKET_NAME] in buckets
    assert exports[ToolingOutput.MLFLOW_ARTIFACT_BUCKET_NAME] != exports[ToolingOutput.TRAINING_DATA_BUCKET_NAME]
