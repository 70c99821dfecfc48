"""The MLflow tracking server and model registry of the tooling account.

```
client ──HTTPS──▶ API Gateway HTTP API ──VPC link──▶ Cloud Map (SRV) ──▶ Fargate task :5000 ──▶ Aurora MySQL
  │                (execute-api domain,                                   (public subnet,      Serverless v2
  │                 optional custom domain)                                public IP for AWS    (isolated subnets,
  │                                                                        APIs only)           0 ACU when idle)
  └──────────── artifacts: directly to S3 with the client's own AWS credentials ─────────────▶ S3 artifact bucket
```

Front end. An HTTP API is HTTPS-only on its ``execute-api`` domain (no certificate or domain to own), is billed per
request and costs nothing when idle; an Application Load Balancer would cost about $16+ a month idle, before
CloudFront or a certificate for HTTPS. The HTTP API's limits shape the design:

- Integration timeout 30 s and payload 10 MB. So the server runs with ``--no-serve-artifacts`` and
  ``--default-artifact-root s3://<bucket>/artifacts`` (``ARTIFACTS_DESTINATION``): MLflow clients read and write
  artifacts **directly in S3 with their own AWS credentials**; only metadata goes through the API. Whoever logs or
  loads models needs read/write on the artifact bucket: the CodeBuild role and the pipeline functions (grant them
  ``artifact_access_statements(bucket_arn)``), and data scientists (AWS credentials with the same access).
- Aurora resumes from 0 ACU in about 15 s (about 30 s after a pause longer than a day), so the first request after
  a quiet period is slow and may time out once (504); the MLflow client retries 5xx responses by default.
- API Gateway sets the ``Host`` header to a constant (the custom domain if any, else the execute-api host), which is
  also in ``ALLOWED_HOSTS``; it would otherwise carry the task's private address.

Access. The API is open to the internet by default (CodeBuild and Lambda have no fixed IPs) and protected by
MLflow's basic auth (admin and pipeline users, their credentials in Secrets Manager). With ``allowed_cidrs`` set, a
small Lambda REQUEST authorizer admits only those source IPs (``$context.identity.sourceIp``, which a client cannot
forge; results cached 5 minutes per IP). HTTP APIs support neither resource policies nor AWS WAF, which is why a
Lambda authorizer is the mechanism.

Container contract (implemented by ``infra/images/mlflow/``). Plain environment: ``DB_HOST``, ``DB_PORT``,
``DB_NAME`` (mlflow), ``DB_AUTH_NAME`` (mlflow_auth), ``ARTIFACTS_DESTINATION``, ``ALLOWED_HOSTS`` (comma-separated),
``PORT`` (5000), ``MLFLOW_SQLALCHEMYSTORE_POOLCLASS`` (NullPool, so no idle connection keeps Aurora awake).
Secrets, injected by ARN (``valueFrom``) and never as plain values: ``DB_MASTER_SECRET`` (the RDS-managed, rotating
master secret), ``DB_MLFLOW_SECRET``, ``MLFLOW_ADMIN_SECRET``, ``MLFLOW_PIPELINE_SECRET`` (JSON
``{"username", "password"}``; the pipeline one also carries ``tracking_uri``) and ``MLFLOW_FLASK_SERVER_SECRET_KEY``
(a plain string). The pre-start step creates the never-rotated MLflow database user with the master secret, so a
master rotation never breaks MLflow. ``GET /health`` must not touch the database, or health checks would keep it
awake; the image's ``python -m mlflow_start healthcheck`` only calls ``/health``.

Roles. The execution role pulls the image, writes the log group and reads exactly the five injected secrets (all
encrypted with AWS managed keys, so no kms:Decrypt). The task role reads and writes only the ``artifacts/`` prefix
of the artifact bucket (the UI's artifact browser reads through the server).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_awsx as awsx
import pulumi_random as random

from infra import policies
from infra.containers import content_tag, private_repository
from infra.http_api import logged_default_stage

MLFLOW_CONTEXT = Path(__file__).resolve().parents[1] / "images" / "mlflow"
CONTAINER_NAME = "mlflow"
CONTAINER_PORT = 5000
DB_PORT = 3306
DB_NAME = "mlflow"
DB_AUTH_NAME = "mlflow_auth"
DB_MLFLOW_USER = "mlflow"
DB_MASTER_USER = "dbmaster"
ARTIFACTS_PREFIX = "artifacts"
ENGINE = "aurora-mysql"
# Aurora MySQL scales to 0 ACU from 3.08.0; 3.10 is a long-term-support release (AWS advises against automatic minor
# upgrades on LTS versions, so they are off and the version moves only when this value does).
DEFAULT_ENGINE_VERSION = "8.0.mysql_aurora.3.10.0"
# Characters safe in URLs, INI files and shells, so the container never has to escape a password.
PASSWORD_SPECIALS = "-_.~"  # noqa: S105 - a character set, not a password
PASSWORD_LENGTH = 32
FLASK_SECRET_KEY_LENGTH = 64
# The image's own check (infra/images/mlflow/mlflow_start.py): exit 0 when http://127.0.0.1:$PORT/health answers 200.
HEALTH_CHECK = ("CMD", "python", "-m", "mlflow_start", "healthcheck")
PULL_ACTIONS = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")
ARTIFACT_READ_ACTIONS = ("s3:GetObject",)
ARTIFACT_WRITE_ACTIONS = ("s3:DeleteObject", "s3:PutObject")
AUTHORIZER_IDENTITY_SOURCE = "$context.identity.sourceIp"
AUTHORIZER_CACHE_SECONDS = 300
# Fargate's valid task sizes: CPU units -> memory in MiB.
FARGATE_MEMORY_MB: Mapping[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4097, 1024)),
    1024: tuple(range(2048, 8193, 1024)),
    2048: tuple(range(4096, 16385, 1024)),
    4096: tuple(range(8192, 30721, 1024)),
}

# The source-IP allow-list authorizer, deployed inline (simple responses, payload format 2.0).
AUTHORIZER_SOURCE = '''\
"""Admits a request only when its source IP is in ALLOWED_CIDRS (a JSON list)."""
import ipaddress
import json
import os

NETWORKS = tuple(ipaddress.ip_network(c) for c in json.loads(os.environ["ALLOWED_CIDRS"]))


def handler(event, context):
    source = event.get("requestContext", {}).get("http", {}).get("sourceIp", "")
    try:
        address = ipaddress.ip_address(source)
    except ValueError:
        return {"isAuthorized": False}
    return {"isAuthorized": any(address in network for network in NETWORKS)}
'''


@dataclass(frozen=True)
class ModelRegistryArgs:
    # Start of every physical name (e.g. "serverless-mlops-delivery-time"); at most 48 characters.
    name_prefix: str
    region: str
    account_id: str
    partition: str
    vpc_id: pulumi.Input[str]
    # From infra.components.network.Network: the task runs in the public subnets, Aurora and the VPC link's
    # interfaces in the isolated ones.
    public_subnet_ids: Sequence[pulumi.Input[str]]
    isolated_subnet_ids: Sequence[pulumi.Input[str]]
    log_retention_days: int = 30
    # The MLflow server image: built from this folder into the registry's own ECR repository.
    image_context: Path = MLFLOW_CONTEXT
    image_repository_name: str | None = None  # None: "<name_prefix>/mlflow"
    images_to_keep: int = 5
    # The Fargate task (ARM64).
    cpu: int = 512
    memory_mb: int = 1024
    fargate_spot: bool = False
    # The front end.
    allowed_cidrs: tuple[str, ...] = ()
    domain_name: str | None = None
    certificate_arn: str | None = None  # ACM, same region, covering domain_name
    throttling_burst_limit: int = 100
    throttling_rate_limit: float = 50.0
    # Aurora MySQL Serverless v2.
    db_engine_version: str = DEFAULT_ENGINE_VERSION
    db_max_capacity: float = 2.0
    db_seconds_until_auto_pause: int = 300
    db_backup_retention_days: int = 7
    db_deletion_protection: bool = True
    db_final_snapshot: bool = True
    # Restore: create the cluster from this DB cluster snapshot (identifier or ARN). The cluster then gets a new
    # identifier, so Pulumi creates it next to the old one and deletes the old one last (see _database).
    db_restore_snapshot: str | None = None
    # Artifacts and secrets.
    artifact_noncurrent_version_days: int = 30
    artifact_bucket_force_destroy: bool = False
    image_repository_force_delete: bool = False
    secret_recovery_window_days: int = 7
    admin_username: str = "admin"
    pipeline_username: str = "pipeline"

    def __post_init__(self) -> None:
        problems = []
        if self.memory_mb not in FARGATE_MEMORY_MB.get(self.cpu, ()):
            problems.append(f"cpu={self.cpu}, memory_mb={self.memory_mb} is not a Fargate task size")
        for cidr in self.allowed_cidrs:
            try:
                ipaddress.ip_network(cidr)
            except ValueError:
                problems.append(f"allowed_cidrs: {cidr!r} is not a CIDR block without host bits")
        if (self.domain_name is None) != (self.certificate_arn is None):
            problems.append("domain_name and certificate_arn go together: set both or neither")
        if not 1 <= self.db_max_capacity <= 256:
            problems.append(f"db_max_capacity {self.db_max_capacity}: expected 1 to 256 ACU")
        if not 300 <= self.db_seconds_until_auto_pause <= 86400:
            problems.append(f"db_seconds_until_auto_pause {self.db_seconds_until_auto_pause}: expected 300 to 86400")
        if not 1 <= self.db_backup_retention_days <= 35:
            problems.append(f"db_backup_retention_days {self.db_backup_retention_days}: expected 1 to 35")
        if self.secret_recovery_window_days != 0 and not 7 <= self.secret_recovery_window_days <= 30:
            problems.append(f"secret_recovery_window_days {self.secret_recovery_window_days}: expected 0 or 7 to 30")
        if self.artifact_noncurrent_version_days < 1 or self.images_to_keep < 1:
            problems.append("artifact_noncurrent_version_days and images_to_keep must be at least 1")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def repository_name(self) -> str:
        return self.image_repository_name or f"{self.name_prefix}/mlflow"


def db_cluster_identifier(name_prefix: str, restore_snapshot: str | None) -> str:
    """``<prefix>-mlflow``, or with a restore ``<prefix>-mlflow-<5 hex of the snapshot>``.

    A restore replaces the cluster (the snapshot is read only at creation). With a new identifier Pulumi creates the
    restored cluster and its instance first, points MLflow's task at them, and deletes the old ones last, so a
    failed restore leaves the old database in place. Five hex digits keep ``<identifier>-1`` (the instance) within
    RDS's 63 characters for the longest allowed prefix.
    """
    base = f"{name_prefix}-mlflow"
    if not restore_snapshot:
        return base
    return f"{base}-{hashlib.sha256(restore_snapshot.encode('utf-8')).hexdigest()[:5]}"


def artifact_access_statements(
    bucket_arn: pulumi.Input[str], *, write: bool = True, sid_prefix: str = "MlflowArtifacts"
) -> list[policies.Statement]:
    """Read (and write) MLflow artifacts under ``artifacts/``: for the task role, CodeBuild and pipeline functions."""
    objects = pulumi.Output.concat(bucket_arn, f"/{ARTIFACTS_PREFIX}/*")
    actions = ARTIFACT_READ_ACTIONS + (ARTIFACT_WRITE_ACTIONS if write else ())
    return [
        policies.allow(
            f"{sid_prefix}List",
            ["s3:ListBucket"],
            bucket_arn,
            condition={"StringLike": {"s3:prefix": [ARTIFACTS_PREFIX, f"{ARTIFACTS_PREFIX}/*"]}},
        ),
        policies.allow(f"{sid_prefix}{'ReadWrite' if write else 'Read'}", actions, objects),
    ]


def image_lifecycle_policy(images_to_keep: int) -> dict[str, object]:
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"Keep the newest {images_to_keep} MLflow server images",
                "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": images_to_keep},
                "action": {"type": "expire"},
            }
        ]
    }


def image_tag(context: Path) -> str:
    return content_tag(context, "mlflow")


def container_definition(
    image: pulumi.Input[str],
    environment: Mapping[str, pulumi.Input[str]],
    secrets: Mapping[str, pulumi.Input[str]],
    log_group: pulumi.Input[str],
    region: str,
) -> dict[str, Any]:
    """The one container: secrets by ARN (valueFrom), everything else as plain environment."""
    return {
        "name": CONTAINER_NAME,
        "image": image,
        "essential": True,
        "portMappings": [{"name": "http", "containerPort": CONTAINER_PORT, "protocol": "tcp"}],
        "environment": [{"name": k, "value": environment[k]} for k in sorted(environment)],
        "secrets": [{"name": k, "valueFrom": secrets[k]} for k in sorted(secrets)],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {"awslogs-group": log_group, "awslogs-region": region, "awslogs-stream-prefix": "mlflow"},
        },
        # Starting may wait for Aurora to resume, then migrate two schemas: the image asks for 300 s.
        "healthCheck": {"command": list(HEALTH_CHECK), "interval": 30, "timeout": 5, "retries": 3, "startPeriod": 300},
        # An init process reaps the server's orphaned worker processes (the image runs Python as PID 1).
        "linuxParameters": {"initProcessEnabled": True},
    }


class ModelRegistry(pulumi.ComponentResource):
    tracking_uri: pulumi.Output[str]
    api_endpoint: pulumi.Output[str]
    pipeline_credentials_secret_arn: pulumi.Output[str]
    artifact_bucket_name: pulumi.Output[str]
    artifact_bucket_arn: pulumi.Output[str]
    artifacts_uri: pulumi.Output[str]
    task_security_group_id: pulumi.Output[str]
    cluster_name: pulumi.Output[str]
    service_name: pulumi.Output[str]
    image_uri: pulumi.Output[str]
    image_repository_url: pulumi.Output[str]
    db_cluster_identifier: pulumi.Output[str]
    execution_role_arn: pulumi.Output[str]
    task_role_arn: pulumi.Output[str]
    custom_domain_target: pulumi.Output[str] | None
    custom_domain_hosted_zone_id: pulumi.Output[str] | None

    def __init__(self, name: str, args: ModelRegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("serverless-mlops:registry:ModelRegistry", name, None, opts)
        self._name = name
        self._args = args
        self._opts = child = pulumi.ResourceOptions(parent=self)
        prefix = args.name_prefix

        # ---------------------------------------------------------------------------------- artifacts
        bucket = self._artifact_bucket()
        self.artifact_bucket_name = bucket.bucket
        self.artifact_bucket_arn = bucket.arn
        self.artifacts_uri = pulumi.Output.concat("s3://", bucket.bucket, f"/{ARTIFACTS_PREFIX}")

        # ---------------------------------------------------------------------------------- network
        vpc_link_sg, task_sg, db_sg = self._security_groups()
        self.task_security_group_id = task_sg.id

        # ---------------------------------------------------------------------------------- database
        cluster, instance = self._database(db_sg)
        self.db_cluster_identifier = cluster.cluster_identifier
        master_secret_arn = cluster.master_user_secrets.apply(_master_secret_arn)

        # ---------------------------------------------------------------------------------- front end
        namespace = aws.servicediscovery.PrivateDnsNamespace(
            f"{name}-namespace",
            name=f"{prefix}.internal",
            description="MLflow tasks, found by the API Gateway VPC link",
            vpc=args.vpc_id,
            opts=child,
        )
        # API Gateway needs each task's address and port: ECS registers the port only for SRV records.
        discovery = aws.servicediscovery.Service(
            f"{name}-discovery",
            name=CONTAINER_NAME,
            dns_config=aws.servicediscovery.ServiceDnsConfigArgs(
                namespace_id=namespace.id,
                dns_records=[aws.servicediscovery.ServiceDnsConfigDnsRecordArgs(type="SRV", ttl=10)],
                routing_policy="MULTIVALUE",
            ),
            # ECS reports the container health check; Cloud Map stops returning a task that fails it.
            health_check_custom_config=aws.servicediscovery.ServiceHealthCheckCustomConfigArgs(),
            force_destroy=True,
            opts=child,
        )
        api = aws.apigatewayv2.Api(
            f"{name}-api",
            name=f"{prefix}-mlflow",
            description="MLflow tracking server and model registry (HTTPS only)",
            protocol_type="HTTP",
            opts=child,
        )
        self.api_endpoint = api.api_endpoint
        execute_api_host = api.api_endpoint.apply(lambda url: url.removeprefix("https://").rstrip("/"))
        public_host: pulumi.Output[str] = (
            pulumi.Output.from_input(args.domain_name) if args.domain_name else execute_api_host
        )
        self.tracking_uri = pulumi.Output.concat("https://", public_host)
        allowed_hosts = pulumi.Output.from_input([execute_api_host, *filter(None, [args.domain_name])]).apply(",".join)

        vpc_link = aws.apigatewayv2.VpcLink(
            f"{name}-vpc-link",
            name=f"{prefix}-mlflow",
            subnet_ids=list(args.isolated_subnet_ids),
            security_group_ids=[vpc_link_sg.id],
            opts=child,
        )
        integration = aws.apigatewayv2.Integration(
            f"{name}-integration",
            api_id=api.id,
            description="The MLflow tasks registered in Cloud Map",
            integration_type="HTTP_PROXY",
            integration_method="ANY",
            integration_uri=discovery.arn,
            connection_type="VPC_LINK",
            connection_id=vpc_link.id,
            payload_format_version="1.0",
            timeout_milliseconds=30000,
            # A constant (API Gateway accepts no variable here); MLflow checks it against ALLOWED_HOSTS.
            request_parameters={"overwrite:header.host": public_host},
            opts=child,
        )
        authorizer = self._source_ip_authorizer(api) if args.allowed_cidrs else None
        aws.apigatewayv2.Route(
            f"{name}-route",
            api_id=api.id,
            route_key="$default",
            target=pulumi.Output.concat("integrations/", integration.id),
            authorization_type="CUSTOM" if authorizer else "NONE",
            authorizer_id=authorizer.id if authorizer else None,
            opts=child,
        )
        # A ceiling on what an open endpoint can cost.
        stage = logged_default_stage(
            name,
            api.id,
            f"/aws/apigateway/{prefix}-mlflow",
            args.log_retention_days,
            args.throttling_burst_limit,
            args.throttling_rate_limit,
            child,
        )
        self.custom_domain_target = None
        self.custom_domain_hosted_zone_id = None
        if args.domain_name and args.certificate_arn:
            self._custom_domain(api, stage, args.domain_name, args.certificate_arn)

        # ---------------------------------------------------------------------------------- secrets
        admin_secret = self._credentials("admin", "MLflow admin user", args.admin_username)
        # For people who add users (README): the admin's login.
        self.admin_credentials_secret_arn = admin_secret.arn
        secrets = {
            "DB_MASTER_SECRET": master_secret_arn,
            "DB_MLFLOW_SECRET": self._credentials("db-mlflow", "MLflow's own database user", DB_MLFLOW_USER).arn,
            "MLFLOW_ADMIN_SECRET": admin_secret.arn,
        }
        pipeline_secret = self._credentials(
            "pipeline", "MLflow user of the pipeline (CodeBuild, functions)", args.pipeline_username, self.tracking_uri
        )
        secrets["MLFLOW_PIPELINE_SECRET"] = pipeline_secret.arn
        self.pipeline_credentials_secret_arn = pipeline_secret.arn
        flask_key = random.RandomPassword(
            f"{name}-flask-secret-key", length=FLASK_SECRET_KEY_LENGTH, special=False, opts=child
        )
        secrets["MLFLOW_FLASK_SERVER_SECRET_KEY"] = self._secret(
            "flask-secret-key", "Flask session key of the MLflow server", pulumi.Output.secret(flask_key.result)
        ).arn

        # ---------------------------------------------------------------------------------- image and roles
        repository = private_repository(
            f"{name}-repository",
            args.repository_name,
            image_lifecycle_policy(args.images_to_keep),
            child,
            force_delete=args.image_repository_force_delete,
        )
        # Built with Docker on the machine that runs `pulumi up`, for the task's ARM64 platform (on an x86 machine
        # that needs QEMU emulation). The legacy builder writes a plain image manifest, without the provenance
        # attestation BuildKit would add (the image's Dockerfile asks for none).
        image = awsx.ecr.Image(
            f"{name}-image",
            repository_url=repository.repository_url,
            context=str(args.image_context),
            platform="linux/arm64",
            image_tag=image_tag(args.image_context),
            builder_version="BuilderV1",
            opts=child,
        )
        self.image_uri = image.image_uri
        self.image_repository_url = repository.repository_url

        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs", name=f"/ecs/{prefix}/mlflow", retention_in_days=args.log_retention_days, opts=child
        )
        execution_role, execution_policy = self._role(
            "execution",
            "Starts the MLflow task: pulls its image, reads its injected secrets, writes its logs",
            policies.trust_service("ecs-tasks.amazonaws.com"),
            execution_permissions(repository.arn, log_group.arn, list(secrets.values())),
        )
        task_role, task_policy = self._role(
            "task",
            "The MLflow server at run time: reads and writes the artifact bucket, nothing else",
            ecs_task_trust(args.partition, args.region, args.account_id),
            policies.document(*artifact_access_statements(bucket.arn)),
        )
        self.execution_role_arn = execution_role.arn
        self.task_role_arn = task_role.arn

        # ---------------------------------------------------------------------------------- ECS
        ecs_cluster = aws.ecs.Cluster(
            f"{name}-cluster",
            name=f"{prefix}-mlflow",
            # Container Insights bills per metric; the service's own CloudWatch metrics are enough here.
            settings=[aws.ecs.ClusterSettingArgs(name="containerInsights", value="disabled")],
            opts=child,
        )
        capacity = aws.ecs.ClusterCapacityProviders(
            f"{name}-capacity",
            cluster_name=ecs_cluster.name,
            capacity_providers=["FARGATE", "FARGATE_SPOT"],
            opts=child,
        )
        environment = {
            "DB_HOST": cluster.endpoint,
            "DB_PORT": cluster.port.apply(str),
            "DB_NAME": DB_NAME,
            "DB_AUTH_NAME": DB_AUTH_NAME,
            "ARTIFACTS_DESTINATION": self.artifacts_uri,
            "ALLOWED_HOSTS": allowed_hosts,
            "PORT": str(CONTAINER_PORT),
            "MLFLOW_SQLALCHEMYSTORE_POOLCLASS": "NullPool",
            # One worker (~420 MB resident) fits the 1 GB task with room to spare; a team's traffic needs no more.
            "WORKERS": "1",
        }
        task_definition = aws.ecs.TaskDefinition(
            f"{name}-task",
            family=f"{prefix}-mlflow",
            cpu=str(args.cpu),
            memory=str(args.memory_mb),
            network_mode="awsvpc",
            requires_compatibilities=["FARGATE"],
            runtime_platform=aws.ecs.TaskDefinitionRuntimePlatformArgs(
                operating_system_family="LINUX", cpu_architecture="ARM64"
            ),
            execution_role_arn=execution_role.arn,
            task_role_arn=task_role.arn,
            container_definitions=pulumi.Output.json_dumps(
                [container_definition(image.image_uri, environment, secrets, log_group.name, args.region)]
            ),
            opts=child,
        )
        service = aws.ecs.Service(
            f"{name}-service",
            name=CONTAINER_NAME,
            cluster=ecs_cluster.arn,
            task_definition=task_definition.arn,
            desired_count=1,
            capacity_provider_strategies=[
                aws.ecs.ServiceCapacityProviderStrategyArgs(
                    capacity_provider="FARGATE_SPOT" if args.fargate_spot else "FARGATE", weight=1
                )
            ],
            platform_version="LATEST",
            network_configuration=aws.ecs.ServiceNetworkConfigurationArgs(
                subnets=list(args.public_subnet_ids),
                security_groups=[task_sg.id],
                # Only to reach AWS APIs through the internet gateway; the security group admits the VPC link only.
                assign_public_ip=True,
            ),
            service_registries=aws.ecs.ServiceServiceRegistriesArgs(
                registry_arn=discovery.arn, container_name=CONTAINER_NAME, container_port=CONTAINER_PORT
            ),
            deployment_circuit_breaker=aws.ecs.ServiceDeploymentCircuitBreakerArgs(enable=True, rollback=True),
            deployment_minimum_healthy_percent=100,
            deployment_maximum_percent=200,
            propagate_tags="SERVICE",
            enable_ecs_managed_tags=True,
            enable_execute_command=False,
            # The database must exist before the first task's pre-start step creates MLflow's user in it.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[capacity, execution_policy, task_policy, instance]),
        )
        self.cluster_name = ecs_cluster.name
        self.service_name = service.name

        self.register_outputs(
            {
                "trackingUri": self.tracking_uri,
                "pipelineCredentialsSecretArn": self.pipeline_credentials_secret_arn,
                "artifactBucketName": self.artifact_bucket_name,
                "artifactBucketArn": self.artifact_bucket_arn,
                "taskSecurityGroupId": self.task_security_group_id,
                "clusterName": self.cluster_name,
                "serviceName": self.service_name,
                "imageUri": self.image_uri,
                "dbClusterIdentifier": self.db_cluster_identifier,
                # What the cost model prices (it can also read them from the resources' inputs).
                "taskCpu": args.cpu,
                "taskMemoryMb": args.memory_mb,
                "fargateSpot": args.fargate_spot,
                "dbMinCapacity": 0,
                "dbMaxCapacity": args.db_max_capacity,
                "dbSecondsUntilAutoPause": args.db_seconds_until_auto_pause,
                "sourceIpAuthorizer": bool(args.allowed_cidrs),
            }
        )

    # -------------------------------------------------------------------------------------- helpers

    def _artifact_bucket(self) -> aws.s3.Bucket:
        name, args, child = self._name, self._args, self._opts
        bucket = aws.s3.Bucket(f"{name}-artifacts", force_destroy=args.artifact_bucket_force_destroy, opts=child)
        block = aws.s3.BucketPublicAccessBlock(
            f"{name}-artifacts-public-access",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-artifacts-encryption",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="AES256"
                    )
                )
            ],
            opts=child,
        )
        versioning = aws.s3.BucketVersioning(
            f"{name}-artifacts-versioning",
            bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-artifacts-lifecycle",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-noncurrent-versions",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=args.artifact_noncurrent_version_days
                    ),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(expired_object_delete_marker=True),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=7
                    ),
                )
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )
        aws.s3.BucketPolicy(
            f"{name}-artifacts-tls-only",
            bucket=bucket.id,
            policy=policies.to_json(policies.deny_insecure_transport(bucket.arn)),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[block]),
        )
        return bucket

    def _security_groups(self) -> tuple[aws.ec2.SecurityGroup, aws.ec2.SecurityGroup, aws.ec2.SecurityGroup]:
        """VPC link -> task :5000 -> Aurora :3306; the task also reaches AWS APIs on 443. Nothing else."""
        name, args, child = self._name, self._args, self._opts

        def group(suffix: str, description: str) -> aws.ec2.SecurityGroup:
            # No inline rules: the provider then removes AWS's default allow-all egress rule.
            return aws.ec2.SecurityGroup(f"{name}-{suffix}-sg", description=description, vpc_id=args.vpc_id, opts=child)

        vpc_link = group("vpc-link", "API Gateway VPC link to the MLflow tasks")
        task = group("task", "MLflow tasks: HTTP from the VPC link only")
        db = group("db", "MLflow's Aurora cluster: MySQL from the MLflow tasks only")

        def rule(
            kind: type[aws.vpc.SecurityGroupIngressRule] | type[aws.vpc.SecurityGroupEgressRule],
            rule_name: str,
            security_group: aws.ec2.SecurityGroup,
            port: int,
            description: str,
            peer: aws.ec2.SecurityGroup | None = None,
            cidr: str | None = None,
        ) -> None:
            kind(
                f"{name}-{rule_name}",
                security_group_id=security_group.id,
                description=description,
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                referenced_security_group_id=peer.id if peer else None,
                cidr_ipv4=cidr,
                opts=child,
            )

        ingress, egress = aws.vpc.SecurityGroupIngressRule, aws.vpc.SecurityGroupEgressRule
        rule(egress, "vpc-link-to-task", vpc_link, CONTAINER_PORT, "To the MLflow tasks", peer=task)
        rule(ingress, "task-from-vpc-link", task, CONTAINER_PORT, "From the API Gateway VPC link", peer=vpc_link)
        rule(egress, "task-to-db", task, DB_PORT, "To the MLflow database", peer=db)
        # ECR, Secrets Manager, CloudWatch Logs and S3 through the internet gateway (no NAT, no interface endpoints).
        rule(egress, "task-to-aws-apis", task, 443, "HTTPS to AWS APIs", cidr="0.0.0.0/0")
        rule(ingress, "db-from-task", db, DB_PORT, "From the MLflow tasks", peer=task)
        return vpc_link, task, db

    def _database(self, db_sg: aws.ec2.SecurityGroup) -> tuple[aws.rds.Cluster, aws.rds.ClusterInstance]:
        name, args, child = self._name, self._args, self._opts
        base = f"{args.name_prefix}-mlflow"
        identifier = db_cluster_identifier(args.name_prefix, args.db_restore_snapshot)
        subnets = aws.rds.SubnetGroup(
            f"{name}-db-subnets",
            name=base,
            description="Isolated subnets of MLflow's Aurora cluster",
            subnet_ids=list(args.isolated_subnet_ids),
            opts=child,
        )
        final_snapshot: pulumi.Output[str] | None = None
        if args.db_final_snapshot:
            # A fresh suffix per stack lifetime: a second teardown never collides with an earlier final snapshot.
            suffix = random.RandomId(f"{name}-final-snapshot-suffix", byte_length=4, opts=child)
            final_snapshot = pulumi.Output.concat(identifier, "-final-", suffix.hex)
        cluster = aws.rds.Cluster(
            f"{name}-db",
            cluster_identifier=identifier,
            engine=ENGINE,
            engine_mode="provisioned",
            engine_version=args.db_engine_version,
            database_name=DB_NAME,
            master_username=DB_MASTER_USER,
            # RDS creates and rotates the master password in Secrets Manager; it never passes through Pulumi.
            manage_master_user_password=True,
            serverlessv2_scaling_configuration=aws.rds.ClusterServerlessv2ScalingConfigurationArgs(
                min_capacity=0,
                max_capacity=args.db_max_capacity,
                seconds_until_auto_pause=args.db_seconds_until_auto_pause,
            ),
            storage_encrypted=True,
            db_subnet_group_name=subnets.name,
            vpc_security_group_ids=[db_sg.id],
            backup_retention_period=args.db_backup_retention_days,
            copy_tags_to_snapshot=True,
            deletion_protection=args.db_deletion_protection,
            skip_final_snapshot=not args.db_final_snapshot,
            final_snapshot_identifier=final_snapshot,
            snapshot_identifier=args.db_restore_snapshot,
            opts=child,
        )
        instance = aws.rds.ClusterInstance(
            f"{name}-db-instance",
            identifier=f"{identifier}-1",
            cluster_identifier=cluster.id,
            instance_class="db.serverless",
            engine=ENGINE,
            engine_version=args.db_engine_version,
            db_subnet_group_name=subnets.name,
            publicly_accessible=False,
            auto_minor_version_upgrade=False,
            # Performance Insights can hold capacity above the minimum, which would stop the auto-pause.
            performance_insights_enabled=False,
            opts=child,
        )
        return cluster, instance

    def _secret(self, key: str, description: str, value: pulumi.Output[str]) -> aws.secretsmanager.Secret:
        name, args = self._name, self._args
        secret = aws.secretsmanager.Secret(
            f"{name}-{key}",
            name_prefix=f"{args.name_prefix}/mlflow/{key}-",
            description=description,
            recovery_window_in_days=args.secret_recovery_window_days,
            opts=self._opts,
        )
        aws.secretsmanager.SecretVersion(
            f"{name}-{key}-value", secret_id=secret.id, secret_string=value, opts=self._opts
        )
        return secret

    def _credentials(
        self, key: str, description: str, username: str, tracking_uri: pulumi.Output[str] | None = None
    ) -> aws.secretsmanager.Secret:
        """A generated password, stored (as a Pulumi secret) only in the Secrets Manager secret's value."""
        password = random.RandomPassword(
            f"{self._name}-{key}-password",
            length=PASSWORD_LENGTH,
            special=True,
            override_special=PASSWORD_SPECIALS,
            opts=self._opts,
        )
        value: dict[str, pulumi.Input[str]] = {"username": username, "password": pulumi.Output.secret(password.result)}
        if tracking_uri is not None:
            value["tracking_uri"] = tracking_uri
        return self._secret(key, f"{description}: JSON username and password", pulumi.Output.json_dumps(value))

    def _role(
        self, kind: str, description: str, trust: Mapping[str, Any], permissions: Mapping[str, Any]
    ) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
        role = aws.iam.Role(
            f"{self._name}-{kind}-role",
            description=description,
            assume_role_policy=json.dumps(trust),
            opts=self._opts,
        )
        policy = aws.iam.RolePolicy(
            f"{self._name}-{kind}-permissions",
            role=role.id,
            policy=policies.to_json(permissions),
            opts=self._opts,
        )
        return role, policy

    def _source_ip_authorizer(self, api: aws.apigatewayv2.Api) -> aws.apigatewayv2.Authorizer:
        """A Lambda REQUEST authorizer admitting only ``allowed_cidrs``; created only when the list is non-empty."""
        name, args = self._name, self._args
        function_name = f"{args.name_prefix}-mlflow-cidrs"
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-authorizer-logs",
            name=f"/aws/lambda/{function_name}",
            retention_in_days=args.log_retention_days,
            opts=self._opts,
        )
        role, policy = self._role(
            "authorizer",
            "The MLflow API's source-IP authorizer: writes its logs, nothing else",
            policies.trust_service("lambda.amazonaws.com"),
            policies.document(policies.write_logs(log_group.arn)),
        )
        function = aws.lambda_.Function(
            f"{name}-authorizer",
            name=function_name,
            description="Admits MLflow API requests from the allowed CIDR blocks only",
            runtime="python3.12",
            architectures=["arm64"],
            handler="authorizer.handler",
            code=pulumi.AssetArchive({"authorizer.py": pulumi.StringAsset(AUTHORIZER_SOURCE)}),
            role=role.arn,
            memory_size=128,
            timeout=5,
            environment=aws.lambda_.FunctionEnvironmentArgs(
                variables={"ALLOWED_CIDRS": json.dumps(list(args.allowed_cidrs))}
            ),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="JSON", log_group=log_group.name),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_group, policy]),
        )
        authorizer = aws.apigatewayv2.Authorizer(
            f"{name}-authorizer",
            api_id=api.id,
            name="source-ip-allow-list",
            authorizer_type="REQUEST",
            authorizer_uri=function.invoke_arn,
            authorizer_payload_format_version="2.0",
            enable_simple_responses=True,
            identity_sources=[AUTHORIZER_IDENTITY_SOURCE],
            authorizer_result_ttl_in_seconds=AUTHORIZER_CACHE_SECONDS,
            opts=self._opts,
        )
        aws.lambda_.Permission(
            f"{name}-authorizer-invoke",
            action="lambda:InvokeFunction",
            function=function.name,
            principal="apigateway.amazonaws.com",
            source_arn=pulumi.Output.concat(api.execution_arn, "/authorizers/", authorizer.id),
            opts=self._opts,
        )
        return authorizer

    def _custom_domain(
        self, api: aws.apigatewayv2.Api, stage: aws.apigatewayv2.Stage, domain_name: str, certificate_arn: str
    ) -> None:
        """Maps ``domain_name`` to the API; the DNS record (CNAME or alias to the outputs) is yours to create."""
        domain = aws.apigatewayv2.DomainName(
            f"{self._name}-domain",
            domain_name=domain_name,
            domain_name_configuration=aws.apigatewayv2.DomainNameDomainNameConfigurationArgs(
                certificate_arn=certificate_arn, endpoint_type="REGIONAL", security_policy="TLS_1_2"
            ),
            opts=self._opts,
        )
        aws.apigatewayv2.ApiMapping(
            f"{self._name}-domain-mapping", api_id=api.id, domain_name=domain.id, stage=stage.id, opts=self._opts
        )
        self.custom_domain_target = domain.domain_name_configuration.apply(lambda c: c.target_domain_name or "")
        self.custom_domain_hosted_zone_id = domain.domain_name_configuration.apply(lambda c: c.hosted_zone_id or "")


def execution_permissions(
    repository_arn: pulumi.Input[str], log_group_arn: pulumi.Input[str], secret_arns: list[pulumi.Input[str]]
) -> dict[str, Any]:
    """Exactly what starting the task needs."""
    return policies.document(
        policies.allow("PullMlflowImage", PULL_ACTIONS, repository_arn),
        # The registry login token has no resource type (allow-listed in policy/rules.py).
        policies.allow("RegistryLogin", ["ecr:GetAuthorizationToken"], "*"),
        policies.write_logs(log_group_arn),
        # Secrets encrypted with the AWS managed key aws/secretsmanager: no kms:Decrypt needed.
        policies.allow("ReadInjectedSecrets", ["secretsmanager:GetSecretValue"], secret_arns),
    )


def ecs_task_trust(partition: str, region: str, account_id: str) -> dict[str, Any]:
    """ECS tasks of this account and region only, as the ECS task role documentation recommends."""
    return policies.document(
        {
            "Effect": "Allow",
            "Principal": {"Service": "ecs-tasks.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {
                "ArnLike": {"aws:SourceArn": f"arn:{partition}:ecs:{region}:{account_id}:*"},
                "StringEquals": {"aws:SourceAccount": account_id},
            },
        }
    )


def _master_secret_arn(secrets: Sequence[Any] | None) -> str:
    if not secrets:
        raise ValueError("the Aurora cluster reported no master user secret: is manage_master_user_password on?")
    first = secrets[0]
    return first["secret_arn"] if isinstance(first, Mapping) else first.secret_arn
