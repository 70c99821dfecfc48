"""The tooling stack: the shared platform in the tooling account."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra import contracts, naming, packaging
from infra.components.budget import Budget, BudgetArgs
from infra.components.dashboard import Dashboard, DashboardArgs, PipelineView
from infra.components.deploy_function import DeployFunction, DeployFunctionArgs, DeployTarget
from infra.components.image_build import ImageBuild, ImageBuildArgs
from infra.components.model_images import ModelImages, ModelImagesArgs
from infra.components.model_registry import ModelRegistry, ModelRegistryArgs
from infra.components.network import Network, NetworkArgs
from infra.components.notifications import Notifications, NotificationsArgs
from infra.components.pipeline import Pipeline, PipelineArgs
from infra.components.slack_approval import SlackApproval, SlackApprovalArgs
from infra.components.source_repo import SourceRepo, SourceRepoArgs
from infra.config import ToolingConfig
from infra.contracts import ToolingOutput
from infra.provider import aws_provider, resource_options
from infra.workflow import WorkflowSettings


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
    # Teardown (mlops:allowDestroy): nothing left behind blocks `pulumi destroy` or keeps a name taken.
    allow_destroy = settings.allow_destroy
    secret_recovery_window_days = 0 if allow_destroy else 7
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
            db_restore_snapshot=registry_settings.db_restore_snapshot,
            artifact_bucket_force_destroy=allow_destroy,
            image_repository_force_delete=allow_destroy,
            secret_recovery_window_days=secret_recovery_window_days,
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
            force_delete=allow_destroy,
        ),
        opts=opts,
    )
    source = SourceRepo("source", SourceRepoArgs(repository_name=model), opts=opts)
    build = ImageBuild(
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
            data_bucket_force_destroy=allow_destroy,
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
    # slack_sdk is pure Python: one layer, built from the locked version, serves every Slack-facing function.
    slack_layer = aws.lambda_.LayerVersion(
        "slack-sdk-layer",
        layer_name=f"{prefix}-slack-sdk",
        description="slack_sdk for the pipeline's Slack functions",
        code=packaging.python_layer_archive(("slack_sdk",)),
        compatible_runtimes=["python3.12"],
        compatible_architectures=["arm64"],
        opts=opts,
    )
    pipeline_settings = settings.pipeline
    state_machine_name = naming.state_machine_name(project, model)
    approval_timeout_seconds = pipeline_settings.approval_timeout_hours * 3600
    approval = SlackApproval(
        "approval",
        SlackApprovalArgs(
            name_prefix=prefix,
            region=target.region,
            account_id=target.account_id,
            partition=target.partition,
            state_machine_name=state_machine_name,
            slack=settings.slack,
            approval_timeout_seconds=approval_timeout_seconds,
            mlflow_ui_url=registry.tracking_uri,
            slack_layer_arn=slack_layer.arn,
            log_retention_days=settings.log_retention_days,
            secret_recovery_window_days=secret_recovery_window_days,
        ),
        opts=opts,
    )
    pipeline = Pipeline(
        "pipeline",
        PipelineArgs(
            name_prefix=prefix,
            state_machine_name=state_machine_name,
            region=target.region,
            account_id=target.account_id,
            partition=target.partition,
            settings=WorkflowSettings(
                build_project=f"{prefix}-build",
                model_name=model,
                approval_timeout_seconds=approval_timeout_seconds,
                canary_percent=pipeline_settings.canary_percent,
                canary_wait_seconds=pipeline_settings.canary_wait_minutes * 60,
            ),
            build_project_arn=build.project.arn,
            push_rule_name=source.push_rule.name,
            push_rule_arn=source.push_rule.arn,
            deploy_function_arn=deploy.function.arn,
            request_approval_function_arn=approval.request_function.arn,
            mlflow_credentials_secret_arn=registry.pipeline_credentials_secret_arn,
            slack_bot_token_secret_arn=approval.bot_token_secret.arn,
            slack_channel_id=settings.slack.channel_id,
            log_retention_days=settings.log_retention_days,
            slack_layer_arn=slack_layer.arn,
        ),
        opts=opts,
    )
    notifications = Notifications(
        "notifications",
        NotificationsArgs(
            name_prefix=prefix,
            account_id=target.account_id,
            partition=target.partition,
            state_machine_arn=pipeline.state_machine.arn,
            chatbot_enabled=settings.slack.chatbot_enabled,
            slack_team_id=settings.slack.team_id,
            slack_channel_id=settings.slack.channel_id,
        ),
        opts=opts,
    )
    # When a run ends, each function that keeps state for it cleans up: no Catch runs for a stopped or timed-out
    # run. request_approval closes its approval message, deploy_lock releases its locks, notify reports a stopped
    # or timed-out run in its Slack thread (the workflow itself reports failures and successes).
    cleanup = {
        "approval": approval.request_function,
        "deploy-lock": pipeline.lock_function,
        "notify": pipeline.notify_function,
    }
    for key, function in cleanup.items():
        aws.cloudwatch.EventTarget(
            f"{key}-cleanup-target", rule=notifications.status_rule.name, arn=function.arn, opts=opts
        )
        aws.lambda_.Permission(
            f"{key}-cleanup-invoke",
            action="lambda:InvokeFunction",
            function=function.name,
            principal="events.amazonaws.com",
            source_arn=notifications.status_rule.arn,
            opts=opts,
        )
    Budget("budget", BudgetArgs(budget_name=f"{prefix}-monthly", settings=settings.budget), opts=opts)
    pipeline_functions = [
        pipeline.start_function,
        deploy.function,
        pipeline.promote_function,
        approval.request_function,
        approval.interactions_function,
        pipeline.notify_function,
        pipeline.lock_function,
    ]
    dashboard = Dashboard(
        "dashboard",
        DashboardArgs(
            dashboard_name=naming.pipeline_dashboard_name(project, model),
            region=target.region,
            view=PipelineView(
                state_machine_arn=pipeline.state_machine.arn,
                state_machine_name=state_machine_name,
                function_names=[function.name for function in pipeline_functions],
                notify_log_group=pulumi.Output.concat("/aws/lambda/", pipeline.notify_function.name),
            ),
        ),
        opts=opts,
    )

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
    contracts.export(ToolingOutput.STATE_MACHINE_ARN, pipeline.state_machine.arn)
    contracts.export(ToolingOutput.SLACK_INTERACTIONS_URL, approval.interactions_url)
    # For the data scientist's first push (README): the repository to push seed_code/ to.
    contracts.export(ToolingOutput.SOURCE_REPOSITORY_CLONE_URL, source.repository.clone_url_http)
    contracts.export(ToolingOutput.DASHBOARD_URL, dashboard.url)
    contracts.export(ToolingOutput.DEPLOY_FUNCTION_NAME, deploy.function.name)
    contracts.export(ToolingOutput.PROMOTE_FUNCTION_NAME, pipeline.promote_function.name)
    contracts.export(ToolingOutput.NOTIFY_FUNCTION_NAME, pipeline.notify_function.name)
    contracts.export(ToolingOutput.MLFLOW_DB_CLUSTER_IDENTIFIER, registry.db_cluster_identifier)
    contracts.export(ToolingOutput.MLFLOW_ARTIFACT_BUCKET_NAME, registry.artifact_bucket_name)
    contracts.export(ToolingOutput.TRAINING_DATA_BUCKET_NAME, build.data_bucket.bucket.bucket)
