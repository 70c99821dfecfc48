"""The names of the outputs that cross stacks: the one place both sides of the contract read them from.

The tooling stack exports; the stage and prod stacks read through ``StackReference.require_output`` and
require only what they use. A name typed anywhere else is a bug.
"""

from __future__ import annotations

from enum import StrEnum

import pulumi


class ToolingOutput(StrEnum):
    # Consumed by the stage and prod stacks.
    TOOLING_ACCOUNT_ID = "toolingAccountId"
    ECR_REPOSITORY_URL = "ecrRepositoryUrl"
    ECR_REPOSITORY_ARN = "ecrRepositoryArn"
    BOOTSTRAP_IMAGE_URI = "bootstrapImageUri"
    DEPLOY_FUNCTION_ROLE_ARN = "deployFunctionRoleArn"
    MODEL_NAME = "modelName"
    ARCHITECTURE = "architecture"
    # For people and CI.
    MLFLOW_TRACKING_URI = "mlflowTrackingUri"
    MLFLOW_CREDENTIALS_SECRET_ARN = "mlflowCredentialsSecretArn"  # noqa: S105 - an output name, not a secret
    MLFLOW_ADMIN_SECRET_ARN = "mlflowAdminSecretArn"  # noqa: S105 - an output name, not a secret
    STATE_MACHINE_ARN = "stateMachineArn"
    SLACK_INTERACTIONS_URL = "slackInteractionsUrl"
    SOURCE_REPOSITORY_CLONE_URL = "sourceRepositoryCloneUrl"
    DASHBOARD_URL = "dashboardUrl"
    # For the operations runbooks (README "Operations", python -m ops.rollback).
    DEPLOY_FUNCTION_NAME = "deployFunctionName"
    PROMOTE_FUNCTION_NAME = "promoteFunctionName"
    NOTIFY_FUNCTION_NAME = "notifyFunctionName"
    MLFLOW_DB_CLUSTER_IDENTIFIER = "mlflowDbClusterIdentifier"
    MLFLOW_ARTIFACT_BUCKET_NAME = "mlflowArtifactBucketName"
    TRAINING_DATA_BUCKET_NAME = "trainingDataBucketName"


class EnvironmentOutput(StrEnum):
    INFERENCE_FUNCTION_NAME = "inferenceFunctionName"
    INFERENCE_FUNCTION_ARN = "inferenceFunctionArn"
    INFERENCE_ALIAS_ARN = "inferenceAliasArn"
    DEPLOYER_ROLE_ARN = "deployerRoleArn"
    # For people: the HTTPS endpoint of alias live.
    INFERENCE_URL = "inferenceUrl"
    # For people: the CloudWatch dashboard of alias live.
    DASHBOARD_URL = "dashboardUrl"


CONSUMED_BY_ENVIRONMENTS: frozenset[ToolingOutput] = frozenset(
    {
        ToolingOutput.TOOLING_ACCOUNT_ID,
        ToolingOutput.ECR_REPOSITORY_URL,
        ToolingOutput.ECR_REPOSITORY_ARN,
        ToolingOutput.BOOTSTRAP_IMAGE_URI,
        ToolingOutput.DEPLOY_FUNCTION_ROLE_ARN,
        ToolingOutput.MODEL_NAME,
        ToolingOutput.ARCHITECTURE,
    }
)
FOR_PEOPLE_AND_CI: frozenset[ToolingOutput] = frozenset(set(ToolingOutput) - CONSUMED_BY_ENVIRONMENTS)


def export(name: ToolingOutput | EnvironmentOutput, value: pulumi.Input[object]) -> None:
    """Export a stack output under its contract name (a plain string is refused)."""
    if not isinstance(name, ToolingOutput | EnvironmentOutput):
        raise TypeError(f"output name {name!r} is not in infra.contracts")
    pulumi.export(name.value, value)


def require(reference: pulumi.StackReference, name: ToolingOutput) -> pulumi.Output[object]:
    """Read a tooling output that a stage/prod stack consumes; fails the deployment if it is missing."""
    if name not in CONSUMED_BY_ENVIRONMENTS:
        raise ValueError(f"{name.value} is for people and CI, not for stage/prod stacks (see infra.contracts)")
    return reference.require_output(name.value)
