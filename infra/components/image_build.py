"""The build: a CodeBuild project that runs ``seed_code/buildspec.yml`` at the pushed commit (train, register
in MLflow, build and push the inference image), and the versioned bucket it trains from."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from infra import policies
from infra.components.model_registry import artifact_access_statements
from infra.components.secure_bucket import SecureBucket, SecureBucketArgs

SAMPLE_DATA = Path(__file__).resolve().parents[2] / "seed_code" / "data" / "deliveries.csv"
TRAINING_DATA_KEY = "training/deliveries.csv"
BUILD_TIMEOUT_MINUTES = 60
# Lambda images must match the function's architecture, so the build runs on the same one (no emulation).
BUILD_ENVIRONMENTS: dict[str, tuple[str, str]] = {
    "arm64": ("ARM_CONTAINER", "aws/codebuild/amazonlinux-aarch64-standard:3.0"),
    "x86_64": ("LINUX_CONTAINER", "aws/codebuild/amazonlinux-x86_64-standard:5.0"),
}
ECR_PUSH_ACTIONS = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:CompleteLayerUpload",
    "ecr:DescribeImages",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
)


@dataclass(frozen=True)
class ImageBuildArgs:
    project_name: str
    architecture: str
    model_name: str
    repository_arn: pulumi.Input[str]
    repository_clone_url: pulumi.Input[str]
    model_repository_arn: pulumi.Input[str]
    model_repository_url: pulumi.Input[str]
    mlflow_tracking_uri: pulumi.Input[str]
    mlflow_credentials_secret_arn: pulumi.Input[str]
    mlflow_artifact_bucket_arn: pulumi.Input[str]
    log_retention_days: int
    # Teardown only (mlops:allowDestroy): `pulumi destroy` empties the training data bucket, every version.
    data_bucket_force_destroy: bool = False


def build_permissions(
    args: ImageBuildArgs, data_bucket_arn: pulumi.Input[str], log_group_arn: pulumi.Input[str]
) -> dict[str, object]:
    """The build reads its commit and its data, writes images and MLflow artifacts, reads its MLflow login."""
    return policies.document(
        policies.allow("ReadTheCommit", ["codecommit:GitPull"], args.repository_arn),
        policies.allow(
            "ReadTrainingData",
            ["s3:GetObject", "s3:GetObjectVersion"],
            pulumi.Output.concat(data_bucket_arn, "/*"),
        ),
        policies.allow("ListTrainingData", ["s3:ListBucket", "s3:ListBucketVersions"], data_bucket_arn),
        # Clients write MLflow artifacts straight to S3 (the tracking server does not proxy them).
        *artifact_access_statements(args.mlflow_artifact_bucket_arn, write=True),
        policies.allow("ReadMlflowLogin", ["secretsmanager:GetSecretValue"], args.mlflow_credentials_secret_arn),
        policies.allow("PushModelImages", ECR_PUSH_ACTIONS, args.model_repository_arn),
        # The registry login token is account-wide: GetAuthorizationToken has no resource type.
        policies.allow("LogInToRegistry", ["ecr:GetAuthorizationToken"], "*"),
        policies.allow(
            "WriteBuildLogs",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            pulumi.Output.concat(log_group_arn, ":log-stream:*"),
        ),
    )


def environment_variables(
    args: ImageBuildArgs, training_data_uri: pulumi.Input[str]
) -> list[aws.codebuild.ProjectEnvironmentEnvironmentVariableArgs]:
    """The buildspec's inputs (documented at the top of seed_code/buildspec.yml)."""
    plain = {
        "MODEL_NAME": args.model_name,
        "ARCHITECTURE": args.architecture,
        "ECR_REPOSITORY_URI": args.model_repository_url,
        "MLFLOW_TRACKING_URI": args.mlflow_tracking_uri,
        "TRAINING_DATA_URI": training_data_uri,
    }
    # CodeBuild resolves these from Secrets Manager when the build starts; they never appear in the project.
    secrets = {
        "MLFLOW_TRACKING_USERNAME": pulumi.Output.concat(args.mlflow_credentials_secret_arn, ":username"),
        "MLFLOW_TRACKING_PASSWORD": pulumi.Output.concat(args.mlflow_credentials_secret_arn, ":password"),
    }
    return [
        *(
            aws.codebuild.ProjectEnvironmentEnvironmentVariableArgs(name=k, value=v, type="PLAINTEXT")
            for k, v in plain.items()
        ),
        *(
            aws.codebuild.ProjectEnvironmentEnvironmentVariableArgs(name=k, value=v, type="SECRETS_MANAGER")
            for k, v in secrets.items()
        ),
    ]


class ImageBuild(pulumi.ComponentResource):
    project: aws.codebuild.Project
    data_bucket: SecureBucket
    training_data_uri: pulumi.Output[str]

    def __init__(self, name: str, args: ImageBuildArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("serverless-mlops:build:ImageBuild", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.data_bucket = SecureBucket(
            f"{name}-data", SecureBucketArgs(force_destroy=args.data_bucket_force_destroy), opts=child
        )
        sample = aws.s3.BucketObjectv2(
            f"{name}-sample-data",
            bucket=self.data_bucket.bucket.id,
            key=TRAINING_DATA_KEY,
            source=pulumi.FileAsset(str(SAMPLE_DATA)),
            content_type="text/csv",
            # Versioning must be on before the first object, so every upload gets a version ID to log.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.data_bucket.versioning]),
        )
        self.training_data_uri = pulumi.Output.concat("s3://", sample.bucket, "/", sample.key)

        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/codebuild/{args.project_name}",
            retention_in_days=args.log_retention_days,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-role",
            description="Trains the model and builds the inference image for one commit",
            assume_role_policy=json.dumps(policies.trust_service("codebuild.amazonaws.com")),
            opts=child,
        )
        permissions = aws.iam.RolePolicy(
            f"{name}-permissions",
            role=role.id,
            policy=policies.to_json(build_permissions(args, self.data_bucket.bucket.arn, log_group.arn)),
            opts=child,
        )
        compute, image = BUILD_ENVIRONMENTS[args.architecture]
        self.project = aws.codebuild.Project(
            f"{name}-project",
            name=args.project_name,
            description="Trains, registers and packages the model at the commit the pipeline passes",
            service_role=role.arn,
            # The pipeline starts each build with sourceVersion = the pushed commit, so what is built is exactly
            # what was pushed, even if main moved on meanwhile.
            source=aws.codebuild.ProjectSourceArgs(
                type="CODECOMMIT", location=args.repository_clone_url, buildspec="buildspec.yml", git_clone_depth=1
            ),
            artifacts=aws.codebuild.ProjectArtifactsArgs(type="NO_ARTIFACTS"),
            environment=aws.codebuild.ProjectEnvironmentArgs(
                type=compute,
                image=image,
                compute_type="BUILD_GENERAL1_SMALL",
                image_pull_credentials_type="CODEBUILD",
                # Needed only because the build runs Docker to build the inference image.
                privileged_mode=True,
                environment_variables=environment_variables(args, self.training_data_uri),
            ),
            logs_config=aws.codebuild.ProjectLogsConfigArgs(
                cloudwatch_logs=aws.codebuild.ProjectLogsConfigCloudwatchLogsArgs(
                    group_name=log_group.name, status="ENABLED"
                ),
                s3_logs=aws.codebuild.ProjectLogsConfigS3LogsArgs(status="DISABLED"),
            ),
            build_timeout=BUILD_TIMEOUT_MINUTES,
            queued_timeout=60,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[permissions, log_group]),
        )
        self.register_outputs(
            {
                "projectName": self.project.name,
                "projectArn": self.project.arn,
                "trainingDataUri": self.training_data_uri,
                "dataBucketArn": self.data_bucket.bucket.arn,
            }
        )
