"""Tooling MLflow registry: HTTPS-only HTTP API -> VPC link -> Fargate -> Aurora Serverless v2 at 0 ACU when idle."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest
from pulumi.runtime import rpc

from infra.components import model_registry
from infra.components.model_registry import (
    AUTHORIZER_SOURCE,
    MLFLOW_CONTEXT,
    ModelRegistry,
    ModelRegistryArgs,
    artifact_access_statements,
)
from infra.components.network import Network, NetworkArgs
from policy import rules
from tests.infra.harness import REGION, TOOLING_ACCOUNT, StackRun, run_stack, tooling_config
from tests.infra.test_network import tagged_provider

PREFIX = "serverless-mlops-delivery-time"
SECRET_NAMES = {
    "DB_MASTER_SECRET",
    "DB_MLFLOW_SECRET",
    "MLFLOW_ADMIN_SECRET",
    "MLFLOW_PIPELINE_SECRET",
    "MLFLOW_FLASK_SERVER_SECRET_KEY",
}
ENVIRONMENT_NAMES = {
    "DB_HOST",
    "DB_PORT",
    "DB_NAME",
    "DB_AUTH_NAME",
    "ARTIFACTS_DESTINATION",
    "ALLOWED_HOSTS",
    "PORT",
    "MLFLOW_SQLALCHEMYSTORE_POOLCLASS",
    "WORKERS",
}
SG_RULES = (
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
)


def run_registry(**overrides: Any) -> StackRun:
    """The registry on the real network component, through a tagged provider."""

    def program() -> None:
        opts = tagged_provider()
        network = Network("network", NetworkArgs(region=REGION), opts=opts)
        args = ModelRegistryArgs(
            name_prefix=PREFIX,
            region=REGION,
            account_id=TOOLING_ACCOUNT,
            partition="aws",
            vpc_id=network.vpc_id,
            public_subnet_ids=network.public_subnet_ids,
            isolated_subnet_ids=network.isolated_subnet_ids,
            **overrides,
        )
        registry = ModelRegistry("mlflow", args, opts=opts)
        for attribute in (
            "tracking_uri",
            "pipeline_credentials_secret_arn",
            "artifact_bucket_name",
            "artifact_bucket_arn",
            "task_security_group_id",
            "cluster_name",
            "service_name",
            "image_uri",
            "custom_domain_target",
        ):
            pulumi.export(attribute, getattr(registry, attribute))
        pulumi.export("publicSubnetIds", network.public_subnet_ids)
        pulumi.export("isolatedSubnetIds", network.isolated_subnet_ids)

    return run_stack("tooling", program=program)


@pytest.fixture(scope="module")
def run() -> StackRun:
    return run_registry()


@pytest.fixture(scope="module")
def restricted() -> StackRun:
    """Every option away from its default."""
    return run_registry(
        allowed_cidrs=("203.0.113.0/24", "2001:db8::/32"),
        domain_name="mlflow.example.com",
        certificate_arn=f"arn:aws:acm:{REGION}:{TOOLING_ACCOUNT}:certificate/0123",
        fargate_spot=True,
        cpu=1024,
        memory_mb=2048,
        db_max_capacity=4,
        db_seconds_until_auto_pause=600,
        db_deletion_protection=False,
        db_final_snapshot=False,
        artifact_noncurrent_version_days=90,
        secret_recovery_window_days=0,
    )


def container(run: StackRun) -> dict[str, Any]:
    [definition] = json.loads(run.one("aws:ecs/taskDefinition:TaskDefinition").inputs["containerDefinitions"])
    return definition


def environment(run: StackRun) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container(run)["environment"]}


def injected_secrets(run: StackRun) -> dict[str, str]:
    return {s["name"]: s["valueFrom"] for s in container(run)["secrets"]}


def policy_of(run: StackRun, name: str) -> dict[str, dict[str, Any]]:
    document = json.loads(run.named(name).inputs["policy"])
    return {s["Sid"]: s for s in document["Statement"]}


def passwords(run: StackRun) -> list[str]:
    return [p.outputs["result"] for p in run.of_type("random:index/randomPassword:RandomPassword")]


def is_pulumi_secret(value: Any) -> bool:
    """Inputs reach the engine in wire form: a Pulumi secret is wrapped in Pulumi's secret signature."""
    return isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig


def secret_value(run: StackRun, key: str) -> str:
    value = run.named(f"mlflow-{key}-value").inputs["secretString"]
    assert is_pulumi_secret(value), f"the value of {key} is not a Pulumi secret"
    return value["value"]


# ---------------------------------------------------------------------------------------------- database


def test_aurora_is_serverless_v2_scaling_to_zero_with_auto_pause(run):
    cluster = run.one("aws:rds/cluster:Cluster").inputs
    assert cluster["engine"] == "aurora-mysql" and cluster["engineMode"] == "provisioned"
    major, minor, patch = map(int, cluster["engineVersion"].removeprefix("8.0.mysql_aurora.").split("."))
    assert cluster["engineVersion"].startswith("8.0.mysql_aurora.3.") and (major, minor, patch) >= (3, 8, 0)
    assert cluster["serverlessv2ScalingConfiguration"] == {
        "minCapacity": 0,
        "maxCapacity": 2,
        "secondsUntilAutoPause": 300,
    }
    [instance] = run.of_type("aws:rds/clusterInstance:ClusterInstance")
    assert instance.inputs["instanceClass"] == "db.serverless"
    assert instance.inputs["clusterIdentifier"] == run.one("aws:rds/cluster:Cluster").id
    assert instance.inputs["engineVersion"] == cluster["engineVersion"]
    # Performance Insights would hold capacity above the minimum and keep the cluster from pausing.
    assert instance.inputs["performanceInsightsEnabled"] is False


def test_aurora_is_encrypted_private_and_kept_by_default(run):
    cluster = run.one("aws:rds/cluster:Cluster").inputs
    assert cluster["storageEncrypted"] is True
    assert run.one("aws:rds/clusterInstance:ClusterInstance").inputs["publiclyAccessible"] is False
    assert cluster["deletionProtection"] is True
    assert cluster["skipFinalSnapshot"] is False
    suffix = run.one("random:index/randomId:RandomId").outputs["hex"]
    assert cluster["finalSnapshotIdentifier"] == f"{PREFIX}-mlflow-final-{suffix}"
    assert cluster["backupRetentionPeriod"] == 7


def test_aurora_master_password_is_managed_by_rds_and_never_passes_through_pulumi(run):
    cluster = run.one("aws:rds/cluster:Cluster")
    assert cluster.inputs["manageMasterUserPassword"] is True
    assert not {"masterPassword", "masterPasswordWo"} & set(cluster.inputs)
    master_secret = cluster.outputs["masterUserSecrets"][0]["secretArn"]
    assert injected_secrets(run)["DB_MASTER_SECRET"] == master_secret


def test_aurora_lives_in_the_isolated_subnets(run):
    group = run.one("aws:rds/subnetGroup:SubnetGroup")
    assert group.inputs["subnetIds"] == run.exports["isolatedSubnetIds"]
    assert run.one("aws:rds/cluster:Cluster").inputs["dbSubnetGroupName"] == group.outputs["name"]
    assert run.one("aws:rds/cluster:Cluster").inputs["vpcSecurityGroupIds"] == [run.named("mlflow-db-sg").id]


def test_scaling_and_protection_follow_the_args(restricted):
    cluster = restricted.one("aws:rds/cluster:Cluster").inputs
    assert cluster["serverlessv2ScalingConfiguration"] == {
        "minCapacity": 0,
        "maxCapacity": 4,
        "secondsUntilAutoPause": 600,
    }
    assert cluster["deletionProtection"] is False and cluster["skipFinalSnapshot"] is True
    assert "finalSnapshotIdentifier" not in cluster
    assert not restricted.of_type("random:index/randomId:RandomId")


# ---------------------------------------------------------------------------------------------- front end


def test_front_end_is_an_https_only_http_api_without_load_balancer_or_cdn(run, restricted):
    for stack in (run, restricted):
        types = {r.type for r in stack}
        assert not {t for t in types if t.startswith(("aws:lb/", "aws:alb/", "aws:elb/", "aws:cloudfront/"))}
        assert not [t for t in types if "listener" in t.lower()]
        assert stack.one("aws:apigatewayv2/api:Api").inputs["protocolType"] == "HTTP"
        assert stack.exports["tracking_uri"].startswith("https://")
        [route] = stack.of_type("aws:apigatewayv2/route:Route")
        assert route.inputs["routeKey"] == "$default"
    api = run.one("aws:apigatewayv2/api:Api")
    assert run.exports["tracking_uri"] == api.outputs["apiEndpoint"]
    assert restricted.exports["tracking_uri"] == "https://mlflow.example.com"


def test_custom_domain_uses_tls_1_2_and_is_optional(run, restricted):
    assert not run.of_type("aws:apigatewayv2/domainName:DomainName")
    assert run.exports["custom_domain_target"] is None
    domain = restricted.one("aws:apigatewayv2/domainName:DomainName")
    assert domain.inputs["domainName"] == "mlflow.example.com"
    configuration = domain.inputs["domainNameConfiguration"]
    assert configuration["securityPolicy"] == "TLS_1_2" and configuration["endpointType"] == "REGIONAL"
    mapping = restricted.one("aws:apigatewayv2/apiMapping:ApiMapping").inputs
    assert mapping["stage"] == "$default" and mapping["domainName"] == domain.id
    assert restricted.exports["custom_domain_target"] == domain.outputs["domainNameConfiguration"]["targetDomainName"]


def test_requests_reach_the_tasks_through_the_vpc_link_and_cloud_map_srv_records(run):
    api = run.one("aws:apigatewayv2/api:Api")
    integration = run.one("aws:apigatewayv2/integration:Integration").inputs
    discovery = run.one("aws:servicediscovery/service:Service")
    vpc_link = run.one("aws:apigatewayv2/vpcLink:VpcLink")
    assert integration["integrationType"] == "HTTP_PROXY" and integration["integrationMethod"] == "ANY"
    assert integration["connectionType"] == "VPC_LINK" and integration["connectionId"] == vpc_link.id
    assert integration["integrationUri"] == discovery.outputs["arn"]
    assert integration["timeoutMilliseconds"] == 30000
    host = api.outputs["apiEndpoint"].removeprefix("https://")
    assert integration["requestParameters"] == {"overwrite:header.host": host}
    assert discovery.inputs["dnsConfig"]["dnsRecords"] == [{"type": "SRV", "ttl": 10}]
    assert (
        discovery.inputs["dnsConfig"]["namespaceId"]
        == run.one("aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace").id
    )
    assert "healthCheckCustomConfig" in discovery.inputs
    assert vpc_link.inputs["subnetIds"] == run.exports["isolatedSubnetIds"]
    [route] = run.of_type("aws:apigatewayv2/route:Route")
    assert route.inputs["target"] == f"integrations/{run.one('aws:apigatewayv2/integration:Integration').id}"


def test_stage_throttles_and_logs_with_retention(run):
    stage = run.one("aws:apigatewayv2/stage:Stage").inputs
    assert stage["name"] == "$default" and stage["autoDeploy"] is True
    assert stage["defaultRouteSettings"] == {"throttlingBurstLimit": 100, "throttlingRateLimit": 50}
    logs = run.named("mlflow-api-logs")
    assert stage["accessLogSettings"]["destinationArn"] == logs.outputs["arn"]
    assert logs.inputs["retentionInDays"] == 30


def test_open_to_the_internet_without_an_authorizer_by_default(run):
    [route] = run.of_type("aws:apigatewayv2/route:Route")
    assert route.inputs["authorizationType"] == "NONE"
    assert not run.of_type("aws:apigatewayv2/authorizer:Authorizer")
    assert not run.of_type("aws:lambda/function:Function")


def test_cidr_allow_list_is_a_source_ip_lambda_authorizer(restricted):
    authorizer = restricted.one("aws:apigatewayv2/authorizer:Authorizer")
    function = restricted.one("aws:lambda/function:Function")
    assert authorizer.inputs["authorizerType"] == "REQUEST"
    assert authorizer.inputs["identitySources"] == ["$context.identity.sourceIp"]
    assert authorizer.inputs["enableSimpleResponses"] is True
    assert authorizer.inputs["authorizerPayloadFormatVersion"] == "2.0"
    assert authorizer.inputs["authorizerUri"] == function.outputs["invokeArn"]
    [route] = restricted.of_type("aws:apigatewayv2/route:Route")
    assert route.inputs["authorizationType"] == "CUSTOM" and route.inputs["authorizerId"] == authorizer.id
    variables = function.inputs["environment"]["variables"]
    assert json.loads(variables["ALLOWED_CIDRS"]) == ["203.0.113.0/24", "2001:db8::/32"]
    permission = restricted.one("aws:lambda/permission:Permission").inputs
    api = restricted.one("aws:apigatewayv2/api:Api")
    assert permission["principal"] == "apigateway.amazonaws.com"
    assert permission["sourceArn"] == f"{api.outputs['executionArn']}/authorizers/{authorizer.id}"
    statements = policy_of(restricted, "mlflow-authorizer-permissions")
    assert list(statements) == ["WriteLogs"]
    assert statements["WriteLogs"]["Resource"] == [
        f"{restricted.named('mlflow-authorizer-logs').outputs['arn']}:log-stream:*"
    ]


@pytest.mark.parametrize(
    ("source_ip", "allowed"),
    [("203.0.113.7", True), ("2001:db8::1", True), ("198.51.100.1", False), ("", False), ("not-an-ip", False)],
)
def test_authorizer_admits_only_the_allowed_blocks(monkeypatch, source_ip, allowed):
    monkeypatch.setenv("ALLOWED_CIDRS", json.dumps(["203.0.113.0/24", "2001:db8::/32"]))
    module: dict[str, Any] = {}
    exec(compile(AUTHORIZER_SOURCE, "authorizer.py", "exec"), module)  # noqa: S102 - the component's own source
    event = {"version": "2.0", "requestContext": {"http": {"sourceIp": source_ip}}}
    assert module["handler"](event, None) == {"isAuthorized": allowed}


# ---------------------------------------------------------------------------------------------- security groups


def sg_rules(run: StackRun) -> set[tuple[str, str, int, int, str]]:
    """(direction, group, from port, to port, peer) for every rule, groups and peers by resource name."""
    names = {g.id: g.name for g in run.of_type("aws:ec2/securityGroup:SecurityGroup")}
    found = set()
    for rule in (r for t in SG_RULES for r in run.of_type(t)):
        inputs = rule.inputs
        assert inputs["ipProtocol"] == "tcp"
        peer = names.get(inputs.get("referencedSecurityGroupId")) or inputs.get("cidrIpv4") or inputs.get("cidrIpv6")
        direction = "in" if rule.type == SG_RULES[0] else "out"
        found.add((direction, names[inputs["securityGroupId"]], inputs["fromPort"], inputs["toPort"], peer))
    return found


def test_security_groups_admit_only_what_they_must(run):
    assert sg_rules(run) == {
        ("out", "mlflow-vpc-link-sg", 5000, 5000, "mlflow-task-sg"),
        ("in", "mlflow-task-sg", 5000, 5000, "mlflow-vpc-link-sg"),
        ("out", "mlflow-task-sg", 3306, 3306, "mlflow-db-sg"),
        ("out", "mlflow-task-sg", 443, 443, "0.0.0.0/0"),
        ("in", "mlflow-db-sg", 3306, 3306, "mlflow-task-sg"),
    }
    # Rules live in their own resources only: no inline rule, and so no default allow-all egress either.
    for group in run.of_type("aws:ec2/securityGroup:SecurityGroup"):
        assert not group.inputs.get("ingress") and not group.inputs.get("egress")
    assert not run.of_type("aws:ec2/securityGroupRule:SecurityGroupRule")


def test_nothing_admits_the_internet(run, restricted):
    for stack in (run, restricted):
        for resource in stack.rule_inputs():
            assert rules.security_group_no_world_ingress(resource) == []


def test_the_task_is_in_the_public_subnets_with_a_public_ip_behind_its_group(run):
    network = run.one("aws:ecs/service:Service").inputs["networkConfiguration"]
    assert network["subnets"] == run.exports["publicSubnetIds"]
    assert network["assignPublicIp"] is True
    assert network["securityGroups"] == [run.exports["task_security_group_id"]]
    assert run.exports["task_security_group_id"] == run.named("mlflow-task-sg").id


# ---------------------------------------------------------------------------------------------- ECS


def test_task_is_an_arm64_fargate_task_sized_by_the_args(run, restricted):
    task = run.one("aws:ecs/taskDefinition:TaskDefinition").inputs
    assert task["runtimePlatform"] == {"operatingSystemFamily": "LINUX", "cpuArchitecture": "ARM64"}
    assert task["requiresCompatibilities"] == ["FARGATE"] and task["networkMode"] == "awsvpc"
    assert (task["cpu"], task["memory"]) == ("512", "1024")
    bigger = restricted.one("aws:ecs/taskDefinition:TaskDefinition").inputs
    assert (bigger["cpu"], bigger["memory"]) == ("1024", "2048")


def test_service_runs_one_task_registered_in_cloud_map(run):
    service = run.one("aws:ecs/service:Service").inputs
    assert service["desiredCount"] == 1
    assert service["capacityProviderStrategies"] == [{"capacityProvider": "FARGATE", "weight": 1}]
    assert "launchType" not in service
    assert service["serviceRegistries"] == {
        "registryArn": run.one("aws:servicediscovery/service:Service").outputs["arn"],
        "containerName": "mlflow",
        "containerPort": 5000,
    }
    assert service["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert service["enableExecuteCommand"] is False
    assert (
        run.one("aws:ecs/clusterCapacityProviders:ClusterCapacityProviders").urn
        in run.one("aws:ecs/service:Service").depends_on
    )
    assert run.one("aws:rds/clusterInstance:ClusterInstance").urn in run.one("aws:ecs/service:Service").depends_on


def test_fargate_spot_is_optional(restricted):
    service = restricted.one("aws:ecs/service:Service").inputs
    assert service["capacityProviderStrategies"] == [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]


def test_container_checks_its_health_and_logs_with_retention(run):
    definition = container(run)
    assert definition["portMappings"] == [{"name": "http", "containerPort": 5000, "protocol": "tcp"}]
    assert definition["healthCheck"]["command"] == ["CMD", "python", "-m", "mlflow_start", "healthcheck"]
    assert definition["healthCheck"]["startPeriod"] == 300
    assert definition["linuxParameters"] == {"initProcessEnabled": True}
    logs = run.named("mlflow-logs")
    assert logs.inputs["retentionInDays"] == 30
    assert definition["logConfiguration"]["options"]["awslogs-group"] == logs.inputs["name"]


def test_container_environment_follows_the_contract(run, restricted):
    env = environment(run)
    assert set(env) == ENVIRONMENT_NAMES
    cluster = run.one("aws:rds/cluster:Cluster").outputs
    bucket = run.exports["artifact_bucket_name"]
    host = run.exports["tracking_uri"].removeprefix("https://")
    assert env == {
        "DB_HOST": cluster["endpoint"],
        "DB_PORT": "3306",
        "DB_NAME": "mlflow",
        "DB_AUTH_NAME": "mlflow_auth",
        "ARTIFACTS_DESTINATION": f"s3://{bucket}/artifacts",
        "ALLOWED_HOSTS": host,
        "PORT": "5000",
        "MLFLOW_SQLALCHEMYSTORE_POOLCLASS": "NullPool",
        "WORKERS": "1",
    }
    execute_api = restricted.one("aws:apigatewayv2/api:Api").outputs["apiEndpoint"].removeprefix("https://")
    assert environment(restricted)["ALLOWED_HOSTS"] == f"{execute_api},mlflow.example.com"


# ---------------------------------------------------------------------------------------------- secrets


def test_secrets_are_injected_by_arn_never_as_plain_environment(run):
    secrets = injected_secrets(run)
    assert set(secrets) == SECRET_NAMES
    assert not SECRET_NAMES & set(environment(run))
    managed = {s.name: s.outputs["arn"] for s in run.of_type("aws:secretsmanager/secret:Secret")}
    assert secrets["DB_MLFLOW_SECRET"] == managed["mlflow-db-mlflow"]
    assert secrets["MLFLOW_ADMIN_SECRET"] == managed["mlflow-admin"]
    assert secrets["MLFLOW_PIPELINE_SECRET"] == managed["mlflow-pipeline"]
    assert secrets["MLFLOW_FLASK_SERVER_SECRET_KEY"] == managed["mlflow-flask-secret-key"]
    assert run.exports["pipeline_credentials_secret_arn"] == managed["mlflow-pipeline"]


def test_secret_values_have_the_contract_shape(run):
    database, admin, pipeline = (json.loads(secret_value(run, k)) for k in ("db-mlflow", "admin", "pipeline"))
    assert set(database) == set(admin) == {"username", "password"}
    assert (database["username"], admin["username"]) == ("mlflow", "admin")
    assert pipeline == {
        "username": "pipeline",
        "password": pipeline["password"],
        "tracking_uri": run.exports["tracking_uri"],
    }
    flask_key = secret_value(run, "flask-secret-key")
    assert set(passwords(run)) == {database["password"], admin["password"], pipeline["password"], flask_key}
    assert len(set(passwords(run))) == 4


def test_no_plaintext_secret_in_any_other_input(run, restricted):
    for stack in (run, restricted):
        generated = passwords(stack)
        assert len(generated) == 4 and all(len(p) >= 24 for p in generated)
        for resource in stack:
            if resource.type == "aws:secretsmanager/secretVersion:SecretVersion":
                continue
            text = json.dumps(resource.inputs, default=str)
            assert not [p for p in generated if p in text], f"a generated password is in {resource.name}'s inputs"


def test_secret_values_are_pulumi_secrets(run, restricted):
    for stack in (run, restricted):
        versions = stack.of_type("aws:secretsmanager/secretVersion:SecretVersion")
        assert len(versions) == 4
        assert all(is_pulumi_secret(v.inputs["secretString"]) for v in versions)


def test_passwords_are_long_and_need_no_escaping_in_urls_or_ini_files(run):
    for password in run.of_type("random:index/randomPassword:RandomPassword"):
        assert password.inputs["length"] >= 32
        assert password.inputs["special"] is False or password.inputs["overrideSpecial"] == "-_.~"


def test_secrets_keep_a_recovery_window(run, restricted):
    assert {s.inputs["recoveryWindowInDays"] for s in run.of_type("aws:secretsmanager/secret:Secret")} == {7}
    assert {s.inputs["recoveryWindowInDays"] for s in restricted.of_type("aws:secretsmanager/secret:Secret")} == {0}
    assert all(
        s.inputs["namePrefix"].startswith(f"{PREFIX}/mlflow/") for s in run.of_type("aws:secretsmanager/secret:Secret")
    )


# ---------------------------------------------------------------------------------------------- roles


def test_execution_and_task_roles_are_separate_and_trust_only_ecs_tasks(run):
    task = run.one("aws:ecs/taskDefinition:TaskDefinition").inputs
    execution, task_role = run.named("mlflow-execution-role"), run.named("mlflow-task-role")
    assert task["executionRoleArn"] == execution.outputs["arn"]
    assert task["taskRoleArn"] == task_role.outputs["arn"]
    assert execution.outputs["arn"] != task_role.outputs["arn"]
    for role in (execution, task_role):
        [statement] = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
        assert statement["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
        assert statement["Action"] == "sts:AssumeRole"
    [trust] = json.loads(task_role.inputs["assumeRolePolicy"])["Statement"]
    assert trust["Condition"] == {
        "ArnLike": {"aws:SourceArn": f"arn:aws:ecs:{REGION}:{TOOLING_ACCOUNT}:*"},
        "StringEquals": {"aws:SourceAccount": TOOLING_ACCOUNT},
    }
    # Nothing else is attached to either role.
    attached = [p.inputs["role"] for p in run.of_type("aws:iam/rolePolicy:RolePolicy")]
    assert sorted(attached) == sorted([execution.id, task_role.id])
    assert not run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")


def test_execution_role_pulls_the_image_reads_exactly_the_injected_secrets_and_writes_logs(run):
    statements = policy_of(run, "mlflow-execution-permissions")
    repository = run.one("aws:ecr/repository:Repository").outputs["arn"]
    assert statements == {
        "PullMlflowImage": {
            "Sid": "PullMlflowImage",
            "Effect": "Allow",
            "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            "Resource": [repository],
        },
        "RegistryLogin": {
            "Sid": "RegistryLogin",
            "Effect": "Allow",
            "Action": ["ecr:GetAuthorizationToken"],
            "Resource": ["*"],
        },
        "WriteLogs": {
            "Sid": "WriteLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [f"{run.named('mlflow-logs').outputs['arn']}:log-stream:*"],
        },
        "ReadInjectedSecrets": {
            "Sid": "ReadInjectedSecrets",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": statements["ReadInjectedSecrets"]["Resource"],
        },
    }
    # Exactly the five secrets the container gets, no more: no kms:Decrypt (AWS managed keys), no S3.
    assert sorted(statements["ReadInjectedSecrets"]["Resource"]) == sorted(injected_secrets(run).values())


def test_task_role_reads_and_writes_only_the_artifact_prefix(run):
    statements = policy_of(run, "mlflow-task-permissions")
    bucket = run.exports["artifact_bucket_arn"]
    assert statements == {
        "MlflowArtifactsList": {
            "Sid": "MlflowArtifactsList",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [bucket],
            "Condition": {"StringLike": {"s3:prefix": ["artifacts", "artifacts/*"]}},
        },
        "MlflowArtifactsReadWrite": {
            "Sid": "MlflowArtifactsReadWrite",
            "Effect": "Allow",
            "Action": ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
            "Resource": [f"{bucket}/artifacts/*"],
        },
    }


def test_read_only_artifact_access_for_other_roles():
    read = artifact_access_statements("arn:aws:s3:::b", write=False, sid_prefix="Models")
    assert [s["Sid"] for s in read] == ["ModelsList", "ModelsRead"]
    assert read[1]["Action"] == ["s3:GetObject"]


# ---------------------------------------------------------------------------------------------- artifacts


def test_artifact_bucket_is_versioned_encrypted_private_and_tls_only(run, restricted):
    bucket = run.one("aws:s3/bucket:Bucket")
    assert bucket.outputs["bucket"] == run.exports["artifact_bucket_name"]
    for_bucket = {r.type: r.inputs for r in run if r.inputs.get("bucket") == bucket.id}
    assert for_bucket["aws:s3/bucketVersioning:BucketVersioning"]["versioningConfiguration"] == {"status": "Enabled"}
    sse = for_bucket["aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"]
    assert sse["rules"][0]["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    [rule] = for_bucket["aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"]["rules"]
    assert rule["status"] == "Enabled" and rule["noncurrentVersionExpiration"] == {"noncurrentDays": 30}
    assert rules.s3_buckets_are_protected(run.rule_inputs()) == []
    [longer] = restricted.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs["rules"]
    assert longer["noncurrentVersionExpiration"] == {"noncurrentDays": 90}


# ---------------------------------------------------------------------------------------------- image


def test_mlflow_image_has_its_own_immutable_scanned_encrypted_repository(run):
    repository = run.one("aws:ecr/repository:Repository").inputs
    assert repository["name"] == f"{PREFIX}/mlflow"
    assert repository["imageTagMutability"] == "IMMUTABLE"
    assert repository["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repository["encryptionConfigurations"] == [{"encryptionType": "KMS"}]
    lifecycle = json.loads(run.one("aws:ecr/lifecyclePolicy:LifecyclePolicy").inputs["policy"])
    assert lifecycle == model_registry.image_lifecycle_policy(5)


def test_image_is_built_for_arm64_from_the_mlflow_folder_and_run_by_digest(run):
    image = run.one("awsx:ecr:Image").inputs
    assert image["context"] == str(MLFLOW_CONTEXT) and MLFLOW_CONTEXT.as_posix().endswith("infra/images/mlflow")
    assert image["platform"] == "linux/arm64" and image["builderVersion"] == "BuilderV1"
    assert image["imageTag"] == model_registry.image_tag(MLFLOW_CONTEXT)
    assert container(run)["image"] == run.exports["image_uri"] and "@sha256:" in run.exports["image_uri"]


def test_image_tag_follows_the_folder_content(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM python:3.12-slim\n")
    first = model_registry.image_tag(tmp_path)
    (tmp_path / "Dockerfile").write_text("FROM python:3.13-slim\n")
    assert model_registry.image_tag(tmp_path) != first and first.startswith("mlflow-") and len(first) == 19


# ---------------------------------------------------------------------------------------------- cost profiles
# The whole tooling stack from config: mlops:costProfile and the keys that override it.


def tooling_stack(**config: str) -> StackRun:
    return run_stack("tooling", tooling_config(**config))


def capacity_and_scaling(run: StackRun) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    service = run.one("aws:ecs/service:Service").inputs
    cluster = run.one("aws:rds/cluster:Cluster").inputs
    return service["capacityProviderStrategies"], cluster["serverlessv2ScalingConfiguration"]


@pytest.fixture(scope="module")
def profiles() -> dict[str, StackRun]:
    return {name: tooling_stack(**{"mlops:costProfile": name}) for name in ("minimal", "standard")}


def test_minimal_profile_runs_mlflow_on_spot_with_a_small_quickly_pausing_database(profiles):
    strategies, scaling = capacity_and_scaling(profiles["minimal"])
    assert strategies == [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]
    assert scaling == {"minCapacity": 0, "maxCapacity": 1, "secondsUntilAutoPause": 300}


def test_standard_profile_runs_mlflow_on_demand_with_more_capacity_and_a_longer_pause(profiles):
    strategies, scaling = capacity_and_scaling(profiles["standard"])
    assert strategies == [{"capacityProvider": "FARGATE", "weight": 1}]
    assert scaling == {"minCapacity": 0, "maxCapacity": 4, "secondsUntilAutoPause": 3600}


def test_the_default_profile_is_standard(profiles):
    assert capacity_and_scaling(tooling_stack()) == capacity_and_scaling(profiles["standard"])


def comparable(value: Any) -> Any:
    """Inputs with Pulumi assets and archives (which compare by identity) as plain data."""
    if isinstance(value, pulumi.Asset | pulumi.Archive):
        return (type(value).__name__, comparable(vars(value)))
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [comparable(v) for v in value]
    return value


def test_a_profile_changes_capacity_only_never_https_auth_or_the_shape(profiles):
    """Same resources under both profiles, with the same inputs except the ECS service's capacity and Aurora's
    scaling: the HTTPS-only API, its route and stage, the secrets and every policy are untouched."""
    minimal = {(r.type, r.name): comparable(r.inputs) for r in profiles["minimal"]}
    standard = {(r.type, r.name): comparable(r.inputs) for r in profiles["standard"]}
    assert minimal.keys() == standard.keys()
    changed = {key: sorted(k for k in minimal[key] if minimal[key][k] != standard[key].get(k)) for key in minimal}
    assert {key: fields for key, fields in changed.items() if fields} == {
        ("aws:ecs/service:Service", "mlflow-service"): ["capacityProviderStrategies"],
        ("aws:rds/cluster:Cluster", "mlflow-db"): ["serverlessv2ScalingConfiguration"],
    }
    for run in profiles.values():
        assert rules.check_all(run.rule_inputs()) == []


def test_explicit_keys_override_the_profile_one_by_one():
    on_demand_minimal = tooling_stack(**{"mlops:costProfile": "minimal", "mlops:mlflowFargateSpot": "false"})
    strategies, scaling = capacity_and_scaling(on_demand_minimal)
    assert strategies == [{"capacityProvider": "FARGATE", "weight": 1}]
    assert scaling == {"minCapacity": 0, "maxCapacity": 1, "secondsUntilAutoPause": 300}, "the rest stays minimal"

    tuned_standard = tooling_stack(
        **{
            "mlops:costProfile": "standard",
            "mlops:mlflowFargateSpot": "true",
            "mlops:mlflowDbMaxAcu": "2",
            "mlops:mlflowDbAutoPauseSeconds": "900",
        }
    )
    strategies, scaling = capacity_and_scaling(tuned_standard)
    assert strategies == [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]
    assert scaling == {"minCapacity": 0, "maxCapacity": 2, "secondsUntilAutoPause": 900}


# ---------------------------------------------------------------------------------------------- the whole


def test_outputs_name_what_was_created(run):
    assert run.exports["cluster_name"] == run.one("aws:ecs/cluster:Cluster").inputs["name"] == f"{PREFIX}-mlflow"
    assert run.exports["service_name"] == "mlflow"
    assert run.exports["artifact_bucket_arn"] == run.one("aws:s3/bucket:Bucket").outputs["arn"]


def test_every_policy_rule_passes(run, restricted):
    assert rules.check_all(run.rule_inputs()) == []
    assert rules.check_all(restricted.rule_inputs()) == []


@pytest.mark.parametrize(
    "overrides",
    [
        {"cpu": 512, "memory_mb": 512},
        {"allowed_cidrs": ("203.0.113.1/24",)},
        {"allowed_cidrs": ("everyone",)},
        {"domain_name": "mlflow.example.com"},
        {"db_seconds_until_auto_pause": 60},
        {"db_max_capacity": 0.5},
        {"secret_recovery_window_days": 3},
    ],
)
def test_bad_args_are_refused(overrides):
    base = {
        "name_prefix": PREFIX,
        "region": REGION,
        "account_id": TOOLING_ACCOUNT,
        "partition": "aws",
        "vpc_id": "vpc-1",
        "public_subnet_ids": ["subnet-1", "subnet-2"],
        "isolated_subnet_ids": ["subnet-3", "subnet-4"],
    }
    with pytest.raises(ValueError):
        ModelRegistryArgs(**base, **overrides)
