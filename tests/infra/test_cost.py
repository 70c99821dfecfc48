"""The cost model: the price table, the pricing rules on hand-built resources, the stacks' idle cost against the
budget in config, the reference design, and the CLI."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys

import pytest

from infra import cost
from infra.config import BudgetSettings
from infra.cost import BudgetExceeded, Free, LineItem, NotPriced, Usage, check_idle_budget, price_resources
from tests.infra.harness import ROOT, SECRET_KEYS, run_stack

PRICES = cost.load_prices()
HOURS = 730


def rate(key: str) -> float:
    return PRICES[key].usd


def resource(type_: str, logical_name: str, /, outputs: dict | None = None, **inputs) -> dict:
    return {"type": type_, "name": logical_name, "inputs": inputs, "outputs": outputs or {}}


def priced(*resources: dict, usage: Usage | None = None) -> dict[str, LineItem | Free | NotPriced]:
    report = price_resources(resources, usage)
    return {o.name: o for o in (*report.items, *report.free, *report.not_priced)}


def task_definition(name: str = "mlflow-task", cpu: str = "512", memory: str = "1024", arch: str = "ARM64") -> dict:
    return resource(
        "aws:ecs/taskDefinition:TaskDefinition",
        name,
        outputs={"arn": f"arn:aws:ecs:eu-west-1:111111111111:taskDefinition/{name}-0123abc"},
        family="mlflow",
        cpu=cpu,
        memory=memory,
        runtimePlatform={"cpuArchitecture": arch, "operatingSystemFamily": "LINUX"},
    )


def fargate_service(task: dict, name: str = "mlflow", **inputs) -> dict:
    return resource("aws:ecs/service:Service", name, taskDefinition=task["outputs"]["arn"], **inputs)


def nat_gateway(zone: str) -> list[dict]:
    return [
        resource("aws:ec2/eip:Eip", f"nat-ip-{zone}", domain="vpc"),
        resource("aws:ec2/natGateway:NatGateway", f"nat-gateway-{zone}", allocationId=f"nat-ip-{zone}", subnetId=zone),
    ]


# The price table -----------------------------------------------------------------------------------------------


def test_every_price_has_region_currency_date_and_source():
    assert PRICES.region == "eu-west-1" and PRICES.currency == "USD"
    for key, price in PRICES.prices.items():
        assert price.region in ("eu-west-1", "global"), key
        assert price.currency == "USD", key
        assert datetime.date.fromisoformat(price.date) <= datetime.date.today(), key
        assert price.source.startswith("https://aws.amazon.com/") and "pricing" in price.source, key
        assert price.unit and price.usd >= 0, key


def test_every_estimated_price_says_why():
    estimated = [p for p in PRICES.prices.values() if p.estimated]
    assert estimated, "some prices could not be checked; they must be marked"
    for price in estimated:
        assert len(price.note) > 20, f"{price.key} is estimated without a reason"


def test_the_prices_the_brief_names():
    assert rate("vpc.public_ipv4_hour") == 0.005
    assert rate("kms.key_month") == 1.0
    assert rate("secretsmanager.secret_month") == 0.4
    assert rate("cloudwatch.alarm_standard_month") == 0.1
    assert rate("cloudwatch.dashboard_month") == 3.0


# Pricing rules on hand-built resources -------------------------------------------------------------------------


def test_fargate_service_is_priced_from_its_task_definition_desired_count_and_public_ip():
    task = task_definition()
    service = fargate_service(task, desiredCount=1, networkConfiguration={"assignPublicIp": True})
    item = priced(task, service)["mlflow"]
    compute = HOURS * (0.5 * rate("fargate.linux_arm.vcpu_hour") + 1 * rate("fargate.linux_arm.gb_hour"))
    public_ip = HOURS * rate("vpc.public_ipv4_hour")
    logs = (
        Usage().service_log_mb_per_month
        / 1024
        * (rate("cloudwatch.logs_ingest_gb") + rate("cloudwatch.logs_storage_gb_month"))
    )
    assert item.idle_usd == pytest.approx(compute + public_ip + logs)
    assert item.run_usd == 0
    assert "Fargate 0.5 vCPU/1 GB ARM, 1 task x 730 h" in item.assumption
    assert "public IPv4" in item.assumption
    assert isinstance(priced(task, service)["mlflow-task"], Free)


def test_fargate_spot_and_x86_change_the_price():
    task = task_definition(cpu="1024", memory="2048", arch="X86_64")
    on_demand = priced(task, fargate_service(task, desiredCount=2))["mlflow"]
    spot = priced(
        task,
        fargate_service(
            task, desiredCount=2, capacityProviderStrategies=[{"capacityProvider": "FARGATE_SPOT", "weight": 1}]
        ),
    )["mlflow"]
    compute = 2 * HOURS * (rate("fargate.linux_x86.vcpu_hour") + 2 * rate("fargate.linux_x86.gb_hour"))
    logs = on_demand.idle_usd - compute
    assert compute == pytest.approx(2 * 36.06, abs=0.05)
    assert spot.idle_usd == pytest.approx(compute * (1 - rate("fargate.spot_discount")) + logs)
    assert spot.estimated, "the Spot discount is an estimate"


def test_fargate_base_tasks_run_on_demand_before_the_weights_split_the_rest():
    task = task_definition()
    strategies = [
        {"capacityProvider": "FARGATE", "base": 1, "weight": 0},
        {"capacityProvider": "FARGATE_SPOT", "weight": 1},
    ]
    item = priced(task, fargate_service(task, desiredCount=2, capacityProviderStrategies=strategies))["mlflow"]
    assert "50% on Fargate Spot" in item.assumption


def test_a_service_scaled_to_zero_costs_nothing_when_idle():
    task = task_definition()
    assert priced(task, fargate_service(task, desiredCount=0))["mlflow"].idle_usd == 0


def test_a_service_whose_task_definition_is_unknown_is_not_priced():
    service = resource(
        "aws:ecs/service:Service", "orphan", taskDefinition="arn:aws:ecs:eu-west-1:1:task-definition/x:1"
    )
    assert isinstance(priced(service)["orphan"], NotPriced)


def aurora(min_capacity: float, pause_seconds: int = 300) -> list[dict]:
    cluster = resource(
        "aws:rds/cluster:Cluster",
        "mlflow-db",
        engine="aurora-mysql",
        engineVersion="8.0.mysql_aurora.3.08.0",
        serverlessv2ScalingConfiguration={
            "minCapacity": min_capacity,
            "maxCapacity": 1.0,
            "secondsUntilAutoPause": pause_seconds,
        },
    )
    cluster["id"] = "mlflow-db-0123abc"
    instance = resource(
        "aws:rds/clusterInstance:ClusterInstance",
        "mlflow-db-writer",
        clusterIdentifier="mlflow-db-0123abc",
        instanceClass="db.serverless",
        engine="aurora-mysql",
    )
    return [cluster, instance]


def test_aurora_at_zero_acu_is_paused_storage_only_when_idle_and_pays_per_run():
    outcomes = priced(*aurora(0))
    writer, cluster = outcomes["mlflow-db-writer"], outcomes["mlflow-db"]
    assert writer.idle_usd == 0
    assert cluster.idle_usd == pytest.approx(Usage().aurora_storage_gb * rate("rds.aurora_storage_gb_month"))
    usage = Usage()
    active_acu_hours = usage.aurora_active_minutes_per_run / 60 * usage.aurora_run_acu + 5 / 60 * usage.aurora_idle_acu
    assert writer.run_usd == pytest.approx(active_acu_hours * rate("rds.aurora_acu_hour"))
    assert "paused" in writer.assumption and "~15 s" in writer.assumption


def test_a_master_password_managed_by_rds_is_a_secret_too():
    cluster, instance = aurora(0)
    cluster["inputs"]["manageMasterUserPassword"] = True
    outcome = priced(cluster, instance)["mlflow-db"]
    assert outcome.idle_usd == pytest.approx(
        Usage().aurora_storage_gb * rate("rds.aurora_storage_gb_month") + rate("secretsmanager.secret_month")
    )
    assert "master-password secret" in outcome.assumption


def test_aurora_at_half_an_acu_pays_for_it_all_month():
    writer = priced(*aurora(0.5))["mlflow-db-writer"]
    assert writer.idle_usd == pytest.approx(0.5 * HOURS * rate("rds.aurora_acu_hour"))
    assert "never below 0.5 ACU" in writer.assumption


def test_a_longer_auto_pause_delay_costs_more_per_run():
    quick = priced(*aurora(0, pause_seconds=300))["mlflow-db-writer"]
    slow = priced(*aurora(0, pause_seconds=3600))["mlflow-db-writer"]
    assert slow.run_usd > quick.run_usd


def test_provisioned_aurora_mysql_57_pays_rds_extended_support_per_vcpu():
    reference = {r["name"]: r for r in cost.reference_design()}
    item = priced(reference["mlflow-db"], reference["mlflow-db-instance"])["mlflow-db-instance"]
    expected = HOURS * (
        rate("rds.aurora_mysql.db.t3.small_hour") + 2 * rate("rds.extended_support.aurora_mysql2_vcpu_hour")
    )
    assert item.idle_usd == pytest.approx(expected)
    assert "Extended Support" in item.assumption


def test_a_nat_gateway_costs_its_hours_and_its_address_is_a_line_of_its_own():
    outcomes = priced(*nat_gateway("a"))
    assert outcomes["nat-gateway-a"].idle_usd == pytest.approx(HOURS * rate("ec2.nat_gateway_hour"))
    assert outcomes["nat-gateway-a"].run_usd == pytest.approx(Usage().nat_gb_per_run * rate("ec2.nat_gateway_gb"))
    assert outcomes["nat-ip-a"].idle_usd == pytest.approx(HOURS * 0.005)


def test_an_internet_facing_load_balancer_pays_for_a_public_ip_per_zone_an_internal_one_does_not():
    public = resource("aws:lb/loadBalancer:LoadBalancer", "public", internal=False, subnets=["a", "b"])
    internal = resource("aws:lb/loadBalancer:LoadBalancer", "internal", internal=True, subnets=["a", "b"])
    outcomes = priced(public, internal)
    assert outcomes["internal"].idle_usd == pytest.approx(HOURS * rate("elb.alb_hour"))
    assert outcomes["public"].idle_usd == pytest.approx(HOURS * (rate("elb.alb_hour") + 2 * 0.005))


def test_kms_key_secret_and_alarm():
    outcomes = priced(
        resource("aws:kms/key:Key", "key"),
        resource("aws:secretsmanager/secret:Secret", "secret"),
        resource("aws:secretsmanager/secret:Secret", "replicated", replicas=[{"region": "eu-central-1"}]),
        resource("aws:cloudwatch/metricAlarm:MetricAlarm", "alarm", period=60, metricName="Errors"),
        resource("aws:cloudwatch/metricAlarm:MetricAlarm", "fast", period=10, metricName="Errors"),
        resource(
            "aws:cloudwatch/metricAlarm:MetricAlarm",
            "ratio",
            metricQueries=[
                {"id": "e", "metric": {"metricName": "Errors", "period": 60}},
                {"id": "i", "metric": {"metricName": "Invocations", "period": 60}},
                {"id": "r", "expression": "e / i"},
            ],
        ),
    )
    assert outcomes["key"].idle_usd == 1.0
    assert outcomes["key"].run_usd == pytest.approx(Usage().kms_requests_per_run * 0.03 / 10_000)
    assert outcomes["secret"].idle_usd == pytest.approx(0.40)
    assert outcomes["replicated"].idle_usd == pytest.approx(0.80)
    assert outcomes["alarm"].idle_usd == pytest.approx(0.10)
    assert outcomes["fast"].idle_usd == pytest.approx(rate("cloudwatch.alarm_high_resolution_month"))
    assert outcomes["ratio"].idle_usd == pytest.approx(0.20), "metric math pays for each metric"


def test_three_dashboards_are_free_the_fourth_costs_three_dollars():
    dashboards = [resource("aws:cloudwatch/dashboard:Dashboard", f"d{n}") for n in range(4)]
    report = price_resources(dashboards)
    assert [i.idle_usd for i in report.items] == [0, 0, 0, 3.0]


def test_codebuild_runs_cost_build_minutes_by_compute_type():
    arm = resource(
        "aws:codebuild/project:Project",
        "arm",
        environment={"type": "ARM_CONTAINER", "computeType": "BUILD_GENERAL1_SMALL"},
    )
    x86 = resource(
        "aws:codebuild/project:Project",
        "x86",
        environment={"type": "LINUX_CONTAINER", "computeType": "BUILD_GENERAL1_SMALL"},
    )
    gpu = resource(
        "aws:codebuild/project:Project", "gpu", environment={"type": "LINUX_GPU_CONTAINER", "computeType": "X"}
    )
    outcomes = priced(arm, x86, gpu, usage=Usage(build_minutes_per_run=10))
    assert outcomes["arm"].idle_usd == 0
    assert outcomes["arm"].run_usd == pytest.approx(10 * rate("codebuild.arm_small_minute"))
    assert outcomes["x86"].run_usd == pytest.approx(10 * rate("codebuild.linux_small_minute"))
    assert outcomes["arm"].run_usd < outcomes["x86"].run_usd
    assert isinstance(outcomes["gpu"], NotPriced)


def test_a_private_dns_namespace_pays_for_its_hosted_zone_and_registered_tasks_for_cloud_map():
    namespace = resource("aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace", "ns", name="mlflow.local")
    discovery = resource(
        "aws:servicediscovery/service:Service",
        "mlflow-discovery",
        outputs={"arn": "arn:aws:servicediscovery:eu-west-1:1:service/srv-1"},
    )
    task = task_definition()
    service = fargate_service(
        task,
        desiredCount=1,
        serviceRegistries={"registryArn": "arn:aws:servicediscovery:eu-west-1:1:service/srv-1"},
    )
    http_namespace = resource("aws:servicediscovery/httpNamespace:HttpNamespace", "http-ns")
    outcomes = priced(namespace, discovery, task, service, http_namespace)
    assert outcomes["ns"].idle_usd == 0.5
    assert outcomes["mlflow-discovery"].idle_usd == pytest.approx(0.10)
    assert isinstance(outcomes["http-ns"], Free)


def test_unknown_types_are_listed_as_not_priced_never_as_zero():
    report = price_resources(
        [
            resource("aws:opensearch/domain:Domain", "search"),
            resource("awsx:ec2:Vpc", "vpc"),
            resource("aws:kms/key:Key", "key"),
        ]
    )
    assert {n.name for n in report.not_priced} == {"search", "vpc"}
    assert "no pricing rule" in next(n.reason for n in report.not_priced if n.name == "search")
    assert [i.name for i in report.items] == ["key"]
    assert report.idle_usd == 1.0


def test_free_types_are_listed_with_their_reason():
    free_types = [
        "aws:ec2/vpc:Vpc",
        "aws:ec2/subnet:Subnet",
        "aws:ec2/internetGateway:InternetGateway",
        "aws:ec2/routeTable:RouteTable",
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:iam/role:Role",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:ecr/lifecyclePolicy:LifecyclePolicy",
        "aws:apigatewayv2/vpcLink:VpcLink",
        "aws:budgets/budget:Budget",
    ]
    resources = [resource(t, f"r{n}") for n, t in enumerate(free_types)]
    resources.append(resource("aws:ec2/vpcEndpoint:VpcEndpoint", "s3-endpoint", vpcEndpointType="Gateway"))
    report = price_resources(resources)
    assert report.items == () and report.not_priced == ()
    assert len(report.free) == len(resources)
    assert all(f.reason for f in report.free)


def test_rules_and_free_list_do_not_overlap():
    assert not set(cost.RULES) & set(cost.FREE)


# The designed tooling stack, hand-built from design.md ----------------------------------------------------------


def designed_tooling() -> list[dict]:
    """What the design puts in the tooling account, at the sizes the brief names: no NAT, MLflow on Fargate ARM
    with a public IP, behind API Gateway + VPC link + Cloud Map, Aurora Serverless v2 at 0 ACU."""
    task = task_definition()
    service = fargate_service(
        task,
        desiredCount=1,
        networkConfiguration={"assignPublicIp": True},
        serviceRegistries={"registryArn": "arn:aws:servicediscovery:eu-west-1:1:service/srv-1"},
    )
    return [
        resource("aws:ec2/vpc:Vpc", "vpc"),
        resource("aws:ec2/vpcEndpoint:VpcEndpoint", "s3-endpoint", vpcEndpointType="Gateway"),
        task,
        service,
        resource("aws:ecs/cluster:Cluster", "cluster"),
        resource("aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace", "ns", name="mlflow.local"),
        resource(
            "aws:servicediscovery/service:Service",
            "mlflow-discovery",
            outputs={"arn": "arn:aws:servicediscovery:eu-west-1:1:service/srv-1"},
        ),
        resource("aws:apigatewayv2/api:Api", "mlflow-api", protocolType="HTTP"),
        resource("aws:apigatewayv2/vpcLink:VpcLink", "mlflow-link"),
        resource("aws:apigatewayv2/api:Api", "slack-api", protocolType="HTTP"),
        *aurora(0),
        *[resource("aws:s3/bucketV2:BucketV2", name) for name in ("artifacts", "pipeline")],
        *[resource("aws:secretsmanager/secret:Secret", name) for name in ("db", "mlflow", "slack-bot", "slack-sign")],
        *[resource("aws:kms/key:Key", name) for name in ("data", "logs")],
        resource("aws:codecommit/repository:Repository", "repo"),
        resource(
            "aws:codebuild/project:Project",
            "build",
            environment={"type": "ARM_CONTAINER", "computeType": "BUILD_GENERAL1_SMALL"},
        ),
        resource("aws:ecr/repository:Repository", "model-images"),
        resource("aws:ecr/repository:Repository", "mlflow-image"),
        resource("aws:cloudwatch/eventRule:EventRule", "on-push"),
        resource("aws:sfn/stateMachine:StateMachine", "pipeline"),
        resource("aws:dynamodb/table:Table", "deploy-locks", billingMode="PAY_PER_REQUEST"),
        resource("aws:sns/topic:Topic", "notifications"),
        *[
            resource("aws:lambda/function:Function", name, memorySize=256, architectures=["arm64"], name=name)
            for name in ("start", "deploy", "request_approval", "slack_interactions", "notify", "promote")
        ],
        *[resource("aws:cloudwatch/logGroup:LogGroup", f"logs-{n}", retentionInDays=30) for n in range(8)],
        *[resource("aws:cloudwatch/metricAlarm:MetricAlarm", f"alarm-{n}", period=300) for n in range(5)],
        resource("aws:cloudwatch/dashboard:Dashboard", "pipeline-dashboard"),
    ]


def test_the_designed_tooling_stack_is_fully_priced_and_well_inside_the_default_budget():
    report = price_resources(designed_tooling(), stack="designed tooling")
    assert report.not_priced == ()
    check_idle_budget(report, BudgetSettings(60, ()).monthly_usd * 0.8)  # under the 80 % alert, from idle alone
    assert report.run_usd < 1.0


# The real stacks, the budget in config, the reference design ----------------------------------------------------


@pytest.fixture(scope="module")
def committed_tooling_config() -> dict[str, str]:
    return cost.stack_config("tooling")


@pytest.fixture(scope="module")
def tooling_resources(committed_tooling_config) -> list[dict]:
    return cost.stack_resources(run_stack("tooling", committed_tooling_config))


@pytest.fixture(scope="module")
def tooling_report(tooling_resources) -> cost.Report:
    return price_resources(tooling_resources, stack="tooling")


@pytest.fixture(scope="module")
def budget(committed_tooling_config) -> float:
    return cost.budget_settings(committed_tooling_config).monthly_usd


def test_the_stack_file_config_is_read_as_the_runtime_takes_it(committed_tooling_config):
    config = committed_tooling_config
    assert config["aws:region"] == "eu-west-1"
    assert config["mlops:accountId"] == "111111111111"
    assert json.loads(config["mlops:slackApprovers"]) == ["U0123456789"]
    assert config["mlops:imagesToKeep"] == "30"
    assert json.loads(config["pulumi:disable-default-providers"]) == ["aws"]
    assert all(config[key] for key in SECRET_KEYS), "the never-committed secrets get stand-ins"


def test_the_budget_is_read_from_the_stack_file_through_infra_config(committed_tooling_config, budget):
    assert budget == 60
    without = {k: v for k, v in committed_tooling_config.items() if k != "mlops:monthlyBudgetUsd"}
    assert cost.budget_settings({**without, "mlops:monthlyBudgetUsd": "75"}).monthly_usd == 75


def test_the_tooling_stack_idle_cost_stays_under_the_budget_in_config(tooling_report, budget):
    check_idle_budget(tooling_report, budget)


def test_a_nat_gateway_per_zone_breaks_the_budget_and_the_error_names_it(tooling_resources, budget):
    """A NAT gateway and its address cost ~$38.69 a month idle; the usual one per AZ, in the two AZs a VPC needs
    for Aurora and the VPC link, cost ~$77, over the $60 default whatever else the stack holds."""
    with_nat = price_resources([*tooling_resources, *nat_gateway("a"), *nat_gateway("b")], stack="tooling")
    with pytest.raises(BudgetExceeded) as raised:
        check_idle_budget(with_nat, budget)
    message = str(raised.value)
    assert "nat-gateway-a (aws:ec2/natGateway:NatGateway) $35.04/month" in message
    assert "nat-gateway-b" in message
    assert f"over its budget of ${budget:.2f}" in message


@pytest.mark.parametrize("stack", ["tooling", "stage", "prod"])
def test_every_resource_of_every_stack_is_priced_or_listed_as_free(stack, tooling_report):
    report = tooling_report if stack == "tooling" else cost.stack_report(stack)
    assert [f"{n.name} ({n.type}): {n.reason}" for n in report.not_priced] == []
    assert report.items, "a stack with nothing priced is suspicious"


def test_the_reference_design_costs_more_than_ours(tooling_report):
    reference = cost.reference_report()
    assert reference.not_priced == ()
    assert {i.name for i in reference.items} >= {"nat-instance", "mlflow-db-instance", "mlflow-service", "mlflow-alb"}
    assert reference.idle_usd > 200, "Extended Support alone is ~$160 a month"
    assert reference.idle_usd > tooling_report.idle_usd
    assert reference.monthly_usd > tooling_report.monthly_usd


# Cost profiles ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def by_profile(tooling_report, committed_tooling_config) -> dict[str, list[cost.Report]]:
    configs = {"tooling": committed_tooling_config} | {s: cost.stack_config(s) for s in ("stage", "prod")}
    reports = [tooling_report, *(cost.stack_report(s, config=configs[s]) for s in ("stage", "prod"))]
    return cost.profile_reports(reports, configs)


def test_each_profile_prices_every_stack(by_profile):
    assert list(by_profile) == ["minimal", "standard"]
    for reports in by_profile.values():
        assert [r.stack for r in reports] == ["tooling", "stage", "prod"]
        assert all(r.not_priced == () for r in reports)


def test_minimal_costs_no_more_than_standard_in_every_stack(by_profile):
    for minimal, standard in zip(by_profile["minimal"], by_profile["standard"], strict=True):
        assert minimal.idle_usd <= standard.idle_usd, minimal.stack
        assert minimal.run_usd <= standard.run_usd, minimal.stack
        assert minimal.monthly_usd <= standard.monthly_usd, minimal.stack
    minimal_tooling, standard_tooling = by_profile["minimal"][0], by_profile["standard"][0]
    # Spot takes ~70 % off the task's compute; the shorter auto-pause takes Aurora's idle tail off each run.
    assert standard_tooling.idle_usd - minimal_tooling.idle_usd > 5
    assert minimal_tooling.run_usd < standard_tooling.run_usd


def test_each_profile_is_priced_with_its_own_values(by_profile):
    def item(report: cost.Report, name: str) -> LineItem:
        return next(i for i in report.items if i.name == name)

    minimal, standard = by_profile["minimal"][0], by_profile["standard"][0]
    assert "on Fargate Spot" in item(minimal, "mlflow-service").assumption
    assert "Spot" not in item(standard, "mlflow-service").assumption
    assert "then 5 min at 0.5 ACU until auto-pause" in item(minimal, "mlflow-db-instance").assumption
    assert "then 60 min at 0.5 ACU until auto-pause" in item(standard, "mlflow-db-instance").assumption


def test_the_profile_comparison_leaves_out_the_keys_that_would_override_it():
    config = {"mlops:accountId": "111111111111", "mlops:costProfile": "standard", "mlops:mlflowFargateSpot": "false"}
    config |= {"mlops:mlflowDbMaxAcu": "8", "mlops:mlflowDbAutoPauseSeconds": "900"}
    assert cost.profile_config(config, "minimal") == {"mlops:accountId": "111111111111", "mlops:costProfile": "minimal"}


def test_both_profiles_keep_the_tooling_stack_under_the_budget(by_profile, budget):
    for reports in by_profile.values():
        check_idle_budget(reports[0], budget)


def test_a_stack_in_another_region_is_flagged():
    report = price_resources([resource("aws:kms/key:Key", "key")], region="us-east-1")
    assert report.warnings and "eu-west-1" in report.warnings[0]


# The CLI -------------------------------------------------------------------------------------------------------


def test_cli_prints_the_tooling_table():
    result = subprocess.run(
        [sys.executable, "-m", "infra.cost", "--stack", "tooling"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Stack tooling (eu-west-1)" in result.stdout
    assert "Idle $/month" in result.stdout and "Per run $" in result.stdout
    assert "Total tooling: idle $" in result.stdout
    assert "Reference design this project replaces" in result.stdout
    assert "Prices: eu-west-1 (the default region" in result.stdout


def profile_section(output: str) -> list[str]:
    lines = output.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("Cost profiles (mlops:costProfile)"))
    end = lines.index("", start)
    return lines[start:end]


def test_cli_prints_both_profiles_per_stack_next_to_the_reference_design(by_profile):
    result = subprocess.run(
        [sys.executable, "-m", "infra.cost"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    section = profile_section(result.stdout)
    assert (
        "explicit mlops:mlflowFargateSpot, mlops:mlflowDbMaxAcu, mlops:mlflowDbAutoPauseSeconds left out"
        in (section[0])
    )
    assert section[1] == "  minimal: MLflow on one Fargate Spot task; Aurora 0-1 ACU, pausing after 5 idle minutes"
    assert section[2] == (
        "  standard (default): MLflow on one on-demand Fargate task; Aurora 0-4 ACU, pausing after 60 idle minutes"
    )
    assert section[3].split() == [
        "Stack",
        *["minimal", "idle", "$/month", "per", "run", "$", "at", "20", "runs", "$/month"],
        *["standard", "idle", "$/month", "per", "run", "$", "at", "20", "runs", "$/month"],
    ]
    rows = {line.split()[0]: line.split()[-6:] for line in section[4:]}
    assert list(rows) == ["tooling", "stage", "prod", "reference"]
    for index, stack in enumerate(("tooling", "stage", "prod")):
        minimal, standard = by_profile["minimal"][index], by_profile["standard"][index]
        assert rows[stack] == [
            f"{minimal.idle_usd:.2f}",
            f"{minimal.run_usd:.4f}",
            f"{minimal.monthly_usd:.2f}",
            f"{standard.idle_usd:.2f}",
            f"{standard.run_usd:.4f}",
            f"{standard.monthly_usd:.2f}",
        ]
    reference = cost.reference_report()
    assert rows["reference"][0] == rows["reference"][3] == f"{reference.idle_usd:.2f}"
    assert float(rows["tooling"][0]) < float(rows["tooling"][3]) < float(rows["reference"][0])


def test_cli_refuses_an_unknown_stack_with_exit_2():
    result = subprocess.run(
        [sys.executable, "-m", "infra.cost", "--stack", "staging"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "unknown stack 'staging'" in result.stderr
    assert "Known stacks: tooling, stage, prod" in result.stderr
    assert result.stdout == ""


def test_cli_json_and_markdown(capsys):
    assert cost.main(["--stack", "prod", "--json", "--runs-per-month", "40"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["usage"]["runs_per_month"] == 40
    assert [s["stack"] for s in document["stacks"]] == ["prod"]
    assert document["reference_design"]["idle_usd_per_month"] > 200
    assert document["prices"]["vpc.public_ipv4_hour"]["source"] == "https://aws.amazon.com/vpc/pricing/"
    profiles = document["cost_profiles"]
    assert {name: p["settings"]["fargate_spot"] for name, p in profiles.items()} == {"minimal": True, "standard": False}
    assert profiles["standard"]["default"] is True
    assert [s["stack"] for s in profiles["minimal"]["stacks"]] == ["prod"]
    assert profiles["minimal"]["stacks"][0]["idle_usd_per_month"] == document["stacks"][0]["idle_usd_per_month"]

    assert cost.main(["--stack", "prod", "--markdown", "--no-reference"]) == 0
    markdown = capsys.readouterr().out
    assert markdown.startswith("## Monthly cost")
    assert "| Resource | Type | Idle $/month | Per run $ | Assumption |" in markdown
    assert "Reference design" not in markdown
    assert "### Cost profiles (mlops:costProfile)" in markdown
    [prod_row] = [line for line in markdown.splitlines() if line.startswith("| prod |")]
    cells = prod_row.strip("|").split("|")[1:]
    assert len(cells) == 6 and cells[:3] == cells[3:], "nothing in the prod stack depends on the profile"
