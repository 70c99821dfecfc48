"""The tooling stack: the shared platform in the tooling account."""

from __future__ import annotations

from infra import contracts, naming
from infra.components.deploy_function import DeployFunction, DeployFunctionArgs, DeployTarget
from infra.components.model_images import ModelImages, ModelImagesArgs
from infra.config import ToolingConfig
from infra.contracts import ToolingOutput
from infra.provider import aws_provider, resource_options


def deploy_targets(settings: ToolingConfig) -> dict[str, DeployTarget]:
    """Where the deploy function deploys: names in stage and prod are deterministic, so no stack reference."""
    project, model = settings.project, settings.model_name
    return {
        environment: DeployTarget(
            role_arn=naming.role_arn(settings.target.partition, account, naming.deployer_role_name(project, model)),
            function_name=naming.inference_function_name(project, model),
            alarm_names=naming.inference_alarm_names(project, model),
        )
        for environment, account in (("stage", settings.stage_account_id), ("prod", settings.prod_account_id))
    }


def build(settings: ToolingConfig) -> None:
    project, model = settings.project, settings.model_name
    provider = aws_provider(project, settings.stack, settings.target, model)
    opts = resource_options(provider)

    images = ModelImages(
        "model-images",
        ModelImagesArgs(
            repository_name=naming.model_repository_name(project, model),
            architecture=settings.architecture,
            region=settings.target.region,
            partition=settings.target.partition,
            consumer_account_ids=(settings.stage_account_id, settings.prod_account_id),
            inference_function_name=naming.inference_function_name(project, model),
            images_to_keep=settings.images_to_keep,
        ),
        opts=opts,
    )
    deploy = DeployFunction(
        "deploy",
        DeployFunctionArgs(
            function_name=naming.deploy_function_name(project, model),
            role_name=naming.deploy_function_role_name(project, model),
            targets=deploy_targets(settings),
            repository_name=images.repository.name,
            repository_arn=images.repository.arn,
            log_retention_days=settings.log_retention_days,
        ),
        opts=opts,
    )

    contracts.export(ToolingOutput.TOOLING_ACCOUNT_ID, settings.target.account_id)
    contracts.export(ToolingOutput.MODEL_NAME, model)
    contracts.export(ToolingOutput.ARCHITECTURE, settings.architecture)
    contracts.export(ToolingOutput.ECR_REPOSITORY_URL, images.repository.repository_url)
    contracts.export(ToolingOutput.ECR_REPOSITORY_ARN, images.repository.arn)
    contracts.export(ToolingOutput.BOOTSTRAP_IMAGE_URI, images.bootstrap_image_uri)
    contracts.export(ToolingOutput.DEPLOY_FUNCTION_ROLE_ARN, deploy.role.arn)
