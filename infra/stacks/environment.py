"""The stage and prod stacks: the same code, differing only in their stack files."""

from __future__ import annotations

import pulumi

from infra import contracts, naming
from infra.components.dashboard import Dashboard, DashboardArgs, InferenceView
from infra.components.inference_service import InferenceService, InferenceServiceArgs
from infra.config import EnvironmentConfig
from infra.contracts import EnvironmentOutput, ToolingOutput
from infra.provider import aws_provider, resource_options


def same_region(repository_url: str, region: str) -> str:
    """Lambda pulls images only from ECR in its own region: refuse a mismatch at preview, not at deploy."""
    registry_region = repository_url.split(".dkr.ecr.", 1)[-1].split(".", 1)[0]
    if registry_region != region:
        raise pulumi.RunError(
            f"aws:region: expected the tooling stack's region {registry_region} (its ECR repository is "
            f"{repository_url}), got {region!r}. Fix: pulumi config set aws:region {registry_region}"
        )
    return repository_url


def build(settings: EnvironmentConfig) -> None:
    tooling = pulumi.StackReference("tooling", stack_name=settings.tooling_stack)
    model = contracts.require(tooling, ToolingOutput.MODEL_NAME)
    project = settings.project
    provider = aws_provider(project, settings.stack, settings.target, model)
    repository_url = contracts.require(tooling, ToolingOutput.ECR_REPOSITORY_URL)

    service = InferenceService(
        "inference",
        InferenceServiceArgs(
            function_name=model.apply(lambda m: naming.inference_function_name(project, m)),
            deployer_role_name=model.apply(lambda m: naming.deployer_role_name(project, m)),
            alarm_names=(
                model.apply(lambda m: naming.inference_alarm_names(project, m)[0]),
                model.apply(lambda m: naming.inference_alarm_names(project, m)[1]),
            ),
            architecture=contracts.require(tooling, ToolingOutput.ARCHITECTURE),
            # Checked against this stack's region before the function is created from it.
            bootstrap_image_uri=pulumi.Output.all(
                repository_url.apply(lambda url: same_region(url, settings.target.region)),
                contracts.require(tooling, ToolingOutput.BOOTSTRAP_IMAGE_URI),
            ).apply(lambda values: values[1]),
            ecr_repository_arn=contracts.require(tooling, ToolingOutput.ECR_REPOSITORY_ARN),
            deploy_function_role_arn=contracts.require(tooling, ToolingOutput.DEPLOY_FUNCTION_ROLE_ARN),
            settings=settings.inference,
            log_retention_days=settings.log_retention_days,
            region=settings.target.region,
            account_id=settings.target.account_id,
            partition=settings.target.partition,
        ),
        opts=resource_options(provider),
    )

    dashboard = Dashboard(
        "dashboard",
        DashboardArgs(
            dashboard_name=model.apply(lambda m: naming.inference_dashboard_name(project, m)),
            region=settings.target.region,
            view=InferenceView(function_name=service.function.name, alarm_arns=[a.arn for a in service.alarms]),
        ),
        opts=resource_options(provider),
    )

    contracts.export(EnvironmentOutput.INFERENCE_FUNCTION_NAME, service.function.name)
    contracts.export(EnvironmentOutput.INFERENCE_FUNCTION_ARN, service.function.arn)
    contracts.export(EnvironmentOutput.INFERENCE_ALIAS_ARN, service.alias.arn)
    contracts.export(EnvironmentOutput.DEPLOYER_ROLE_ARN, service.deployer_role.arn)
    contracts.export(EnvironmentOutput.INFERENCE_URL, service.url.function_url)
    contracts.export(EnvironmentOutput.DASHBOARD_URL, dashboard.url)
