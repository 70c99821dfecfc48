"""The tooling stack: the shared platform in the tooling account."""

from __future__ import annotations

from infra import contracts, naming
from infra.components.budget import Budget, BudgetArgs
from infra.components.deploy_function import DeployFunction, DeployFunctionArgs, DeployTarget
from infra.components.image_build import ImageBuild, ImageBuildArgs
from infra.components.model_images import ModelImages, ModelImagesArgs
from infra.components.model_registry import ModelRegistry, ModelRegistryArgs
from infra.components.network import Network, NetworkArgs
from infra.components.source_repo import SourceRepo, SourceRepoArgs
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
    project, model, target = settings.project, settings.model_name, settings.target
    prefix = naming.prefix(project, model)
    provider = aws_provider(project, settings.stack, target, model)
    opts = resource_options(provider)

    network = Network("network", NetworkArgs(region=target.region), opts=opts)
    registry_settings = settings.registry
    registry = ModelRegistry(
        "mlflow",
        ModelRegistryArgs(
            name_prefix=prefix,
            region=target.region,
            account_id=target.account_id,
            partition=target.partition,
            vpc_id=network.vpc_id,
            public_subnet_ids=network.public_subnet_ids,
            isolated_subnet_ids=network.isolated_subnet_ids,
            log_retention_days=settings.log_retention_days,
            fargate_spot=registry_settings.fargate_spot,
            allowed_cidrs=registry_settings.allowed_cidrs,
            domain_name=registry_settings.domain_name,
            certificate_arn=registry_settings.certificate_arn,
            db_max_capacity=float(registry_settings.db_max_acu),
            db_seconds_until_auto_pause=registry_settings.db_auto_pause_seconds,
            db_deletion_protection=registry_settings.db_deletion_protection,
        ),
        opts=opts,
    )
    images = ModelImages(
        "model-images",
        ModelImagesArgs(
            repository_name=naming.model_repository_name(project, model),
            architecture=settings.architecture,
            region=target.region,
            partition=target.partition,
            consumer_account_ids=(settings.stage_account_id, settings.prod_account_id),
            inference_function_name=naming.inference_function_name(project, model),
            images_to_keep=settings.images_to_keep,
        ),
        opts=opts,
    )
    source = SourceRepo("source", SourceRepoArgs(repository_name=model), opts=opts)
    ImageBuild(
        "build",
        ImageBuildArgs(
            project_name=f"{prefix}-build",
            architecture=settings.architecture,
            model_name=model,
            repository_arn=source.repository.arn,
            repository_clone_url=source.repository.clone_url_http,
            model_repository_arn=images.repository.arn,
            model_repository_url=images.repository.repository_url,
            mlflow_tracking_uri=registry.tracking_uri,
            mlflow_credentials_secret_arn=registry.pipeline_credentials_secret_arn,
            mlflow_artifact_bucket_arn=registry.artifact_bucket_arn,
            log_retention_days=settings.log_retention_days,
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
    Budget("budget", BudgetArgs(budget_name=f"{prefix}-monthly", settings=settings.budget), opts=opts)

    contracts.export(ToolingOutput.TOOLING_ACCOUNT_ID, target.account_id)
    contracts.export(ToolingOutput.MODEL_NAME, model)
    contracts.export(ToolingOutput.ARCHITECTURE, settings.architecture)
    contracts.export(ToolingOutput.ECR_REPOSITORY_URL, images.repository.repository_url)
    contracts.export(ToolingOutput.ECR_REPOSITORY_ARN, images.repository.arn)
    contracts.export(ToolingOutput.BOOTSTRAP_IMAGE_URI, images.bootstrap_image_uri)
    contracts.export(ToolingOutput.DEPLOY_FUNCTION_ROLE_ARN, deploy.role.arn)
    contracts.export(ToolingOutput.MLFLOW_TRACKING_URI, registry.tracking_uri)
    contracts.export(ToolingOutput.MLFLOW_CREDENTIALS_SECRET_ARN, registry.pipeline_credentials_secret_arn)
    contracts.export(ToolingOutput.MLFLOW_ADMIN_SECRET_ARN, registry.admin_credentials_secret_arn)
    # For the data scientist's first push (README): the repository to push seed_code/ to.
    contracts.export(ToolingOutput.SOURCE_REPOSITORY_CLONE_URL, source.repository.clone_url_http)
