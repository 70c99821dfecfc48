"""The build project, its least-privilege role, and the versioned training-data bucket."""

from __future__ import annotations

import json

import pytest

from infra.components.image_build import ImageBuild, ImageBuildArgs
from policy import rules
from tests.infra.component_runs import run_component

SECRET = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:mlflow-pipeline-AbCdEf"
MODEL_REPO = "arn:aws:ecr:eu-west-1:111111111111:repository/serverless-mlops/delivery-time"
SOURCE = "arn:aws:codecommit:eu-west-1:111111111111:delivery-time"
ARTIFACTS = "arn:aws:s3:::mlflow-artifacts-0123abc"


def build_args(architecture: str = "arm64") -> ImageBuildArgs:
    return ImageBuildArgs(
        project_name="serverless-mlops-delivery-time-build",
        architecture=architecture,
        model_name="delivery-time",
        repository_arn=SOURCE,
        repository_clone_url="https://git-codecommit.eu-west-1.amazonaws.com/v1/repos/delivery-time",
        model_repository_arn=MODEL_REPO,
        model_repository_url="111111111111.dkr.ecr.eu-west-1.amazonaws.com/serverless-mlops/delivery-time",
        mlflow_tracking_uri="https://abc123.execute-api.eu-west-1.amazonaws.com",
        mlflow_credentials_secret_arn=SECRET,
        mlflow_artifact_bucket_arn=ARTIFACTS,
        log_retention_days=30,
    )


def run_build(architecture: str = "arm64"):
    return run_component(lambda opts: ImageBuild("build", build_args(architecture), opts))


@pytest.fixture(scope="module")
def run():
    return run_build()


def variables(run) -> dict[str, dict]:
    environment = run.one("aws:codebuild/project:Project").inputs["environment"]
    return {v["name"]: v for v in environment["environmentVariables"]}


def test_every_rule_passes(run):
    assert [str(v) for v in rules.check_all(run.rule_inputs())] == []


def test_project_builds_on_the_configured_architecture_with_docker():
    for architecture, compute, image in (
        ("arm64", "ARM_CONTAINER", "aws/codebuild/amazonlinux-aarch64-standard:3.0"),
        ("x86_64", "LINUX_CONTAINER", "aws/codebuild/amazonlinux-x86_64-standard:5.0"),
    ):
        environment = run_build(architecture).one("aws:codebuild/project:Project").inputs["environment"]
        assert (environment["type"], environment["image"]) == (compute, image)
        assert environment["privilegedMode"] is True


def test_source_is_the_repository_and_its_buildspec(run):
    source = run.one("aws:codebuild/project:Project").inputs["source"]
    assert source["type"] == "CODECOMMIT" and source["buildspec"] == "buildspec.yml"
    assert source["location"].endswith("/v1/repos/delivery-time")


def test_buildspec_inputs_are_set_and_the_mlflow_login_comes_from_secrets_manager(run):
    found = variables(run)
    assert found["MODEL_NAME"]["value"] == "delivery-time"
    assert found["ARCHITECTURE"]["value"] == "arm64"
    assert found["TRAINING_DATA_URI"]["value"].startswith("s3://") and found["TRAINING_DATA_URI"]["value"].endswith(
        "/training/deliveries.csv"
    )
    for name, key in (("MLFLOW_TRACKING_USERNAME", "username"), ("MLFLOW_TRACKING_PASSWORD", "password")):
        assert found[name] == {"name": name, "value": f"{SECRET}:{key}", "type": "SECRETS_MANAGER"}
    secret_backed = {n for n, v in found.items() if v["type"] != "PLAINTEXT"}
    assert secret_backed == {"MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"}


def test_role_is_limited_to_the_build_needs(run):
    policy = json.loads(run.named("build-permissions").inputs["policy"])
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    bucket = run.one("aws:s3/bucket:Bucket").outputs["arn"]
    assert by_sid["ReadTheCommit"]["Resource"] == [SOURCE]
    assert by_sid["ReadTrainingData"]["Resource"] == [f"{bucket}/*"]
    assert by_sid["ReadMlflowLogin"]["Resource"] == [SECRET]
    assert by_sid["PushModelImages"]["Resource"] == [MODEL_REPO]
    assert by_sid["MlflowArtifactsReadWrite"]["Resource"] == [f"{ARTIFACTS}/artifacts/*"]
    assert by_sid["LogInToRegistry"] == {
        "Sid": "LogInToRegistry",
        "Effect": "Allow",
        "Action": ["ecr:GetAuthorizationToken"],
        "Resource": ["*"],
    }
    deletes = {s["Sid"] for s in policy["Statement"] for a in s["Action"] if "Delete" in a}
    assert deletes <= {"MlflowArtifactsReadWrite"}  # MLflow clients may delete their own artifacts, nothing else


def test_build_logs_go_to_a_group_with_retention(run):
    log_group = run.one("aws:cloudwatch/logGroup:LogGroup")
    logs = run.one("aws:codebuild/project:Project").inputs["logsConfig"]["cloudwatchLogs"]
    assert log_group.inputs["retentionInDays"] == 30
    assert logs["groupName"] == log_group.inputs["name"] == "/aws/codebuild/serverless-mlops-delivery-time-build"


def test_sample_data_is_uploaded_to_a_versioned_bucket(run):
    versioning = run.one("aws:s3/bucketVersioning:BucketVersioning")
    assert versioning.inputs["versioningConfiguration"] == {"status": "Enabled"}
    sample = run.one("aws:s3/bucketObjectv2:BucketObjectv2")
    assert sample.inputs["key"] == "training/deliveries.csv"
    assert versioning.urn in sample.depends_on
    lifecycle = run.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    assert lifecycle.inputs["rules"][0]["noncurrentVersionExpiration"] == {"noncurrentDays": 90}
