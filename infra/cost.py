"""The cost model: what each stack costs a month when idle, and what one pipeline run adds.

    python -m infra.cost --stack tooling            # text table (also: --json, --markdown)
    python -m infra.cost                            # every stack with a Pulumi.<stack>.yaml, and the reference design
    python -m infra.cost --stack tooling --runs-per-month 60 --build-minutes 10

The stack's whole program is evaluated under Pulumi's mocks (``infra.evaluate``) with the committed
``Pulumi.<stack>.yaml`` config (the two Slack secrets, never committed, get stand-in values), and every
captured resource is priced from ``infra/prices.json`` by a small rule keyed by its type (``RULES``). Prices are
on-demand list prices for eu-west-1 in USD, each with the date it was taken and its AWS pricing page; there is
no network at run time. A type with no rule is listed under "not priced", never counted as zero; a type AWS
does not charge for is listed in ``FREE`` with the reason.

Two figures per resource:
- idle: a month (730 h) with no pipeline run; this is what ``mlops:monthlyBudgetUsd`` must cover
  (``check_idle_budget``);
- per run: what one pipeline run (build, deploy to stage and prod, approval) adds.
The usage behind both is in ``Usage`` (named, documented defaults; the CLI flags override the main ones).

Free tiers are not deducted, except per-account allowances on counts the model sees: 3 CloudWatch
dashboards, 5 CodeCommit active users, 2 action-enabled budgets, 25 GB of DynamoDB storage.

After the stacks as their files configure them, the CLI prints every stack under each cost profile
(``mlops:costProfile``, ``infra/cost_profiles.py``) with that profile's own values, next to the reference design.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from infra import cost_profiles, evaluate
from infra.config import NAMESPACE, BudgetSettings

PRICES_PATH = Path(__file__).with_name("prices.json")
HOURS_PER_MONTH = 730
DAYS_PER_MONTH = 30.4
# Stand-in for the two secret keys, which are never committed (`pulumi config set --secret`).
CONFIG_STANDIN_VALUE = "stand-in-for-cost-model"

Resource = Mapping[str, Any]


# ---------------------------------------------------------------------------------------------------------------
# Usage: the settings that drive usage-based costs.


@dataclass(frozen=True)
class Usage:
    """What one pipeline run does, and how much sits around. Defaults are deliberate estimates for a small model
    (the seed project); the CLI overrides the main ones."""

    # Pipeline runs (pushes to main that reach the end) per month.
    runs_per_month: int = 20
    # Build-minutes of each CodeBuild project per run: train, evaluate, register, build and push the image.
    build_minutes_per_run: float = 6.0
    # Standard-workflow state transitions per run (start, build, deploy stage, promote, approval, deploy prod with
    # canary waits, notifications, retries).
    state_transitions_per_run: int = 40
    # Invocations per run and milliseconds per invocation of a Lambda function not named in LAMBDA_RUN_PROFILE.
    lambda_invocations_per_run: int = 2
    lambda_ms_per_invocation: int = 1500
    # Aurora Serverless v2: minutes of real work per run (MLflow logging and registry calls) at this average
    # capacity, then the instance idles at 0.5 ACU until secondsUntilAutoPause.
    aurora_active_minutes_per_run: float = 10.0
    aurora_run_acu: float = 0.75
    aurora_ios_per_run: int = 20_000
    # Aurora data (MLflow metadata only; artifacts live in S3).
    aurora_storage_gb: float = 1.0
    # Capacity an Aurora instance sits at while waiting to auto-pause.
    aurora_idle_acu: float = 0.5
    # Log volume written to each log group per run, and per month by each always-on ECS service.
    log_mb_per_run: float = 5.0
    service_log_mb_per_month: float = 50.0
    # S3: data already in each bucket, and what each run adds (model artifacts, kept a month) and requests.
    s3_baseline_gb: float = 1.0
    artifact_mb_per_run: float = 25.0
    s3_puts_per_run: int = 100
    s3_gets_per_run: int = 300
    # ECR: image data already in each repository, and new layers a run pushes (kept a month).
    ecr_baseline_gb: float = 1.0
    ecr_mb_per_run: float = 150.0
    # Requests per run through each API Gateway API (MLflow client calls if MLflow sits behind it; Slack).
    api_requests_per_run: int = 300
    # KMS requests per key, Secrets Manager calls per secret, SNS publishes per topic, SQS requests per queue,
    # custom EventBridge events per bus, DynamoDB request units per table, per run.
    kms_requests_per_run: int = 200
    secret_calls_per_run: int = 10
    sns_publishes_per_run: int = 10
    sqs_requests_per_run: int = 20
    events_per_run: int = 10
    dynamodb_writes_per_run: int = 20
    dynamodb_reads_per_run: int = 50
    dynamodb_table_gb: float = 0.1
    # Traffic through a NAT gateway per run (image layers, pip installs), if one exists.
    nat_gb_per_run: float = 1.0
    # Load balancer capacity units used per run.
    lb_lcu_hours_per_run: float = 0.1
    # CodeCommit users who push in a month (5 are free per account).
    codecommit_active_users: int = 3


# Invocations per run and milliseconds per invocation, for functions whose name contains the key (first match).
LAMBDA_RUN_PROFILE: Mapping[str, tuple[int, int]] = {
    # Deploys to stage and prod: update code, wait, publish, smoke test (the canary's wait is in Step Functions).
    "deploy": (2, 90_000),
    # Smoke tests and canary traffic against a new version.
    "inference": (10, 500),
    "notify": (8, 800),
    "approval": (2, 1500),
    "slack": (2, 800),
    "start": (1, 1000),
    "promote": (2, 2000),
}


# ---------------------------------------------------------------------------------------------------------------
# Prices.


@dataclass(frozen=True)
class Price:
    key: str
    usd: float
    unit: str
    region: str
    currency: str
    date: str
    source: str
    estimated: bool
    note: str


@dataclass(frozen=True)
class PriceTable:
    region: str
    currency: str
    prices: Mapping[str, Price]

    def __getitem__(self, key: str) -> Price:
        return self.prices[key]

    def __contains__(self, key: object) -> bool:
        return key in self.prices


@lru_cache(maxsize=4)
def load_prices(path: Path = PRICES_PATH) -> PriceTable:
    data = json.loads(path.read_text(encoding="utf-8"))
    prices = {key: Price(key=key, **entry) for key, entry in data["prices"].items()}
    return PriceTable(region=data["region"], currency=data["currency"], prices=prices)


# ---------------------------------------------------------------------------------------------------------------
# Outcomes of pricing one resource.


@dataclass(frozen=True)
class LineItem:
    name: str
    type: str
    idle_usd: float
    run_usd: float
    assumption: str
    price_keys: tuple[str, ...] = ()
    estimated: bool = False


@dataclass(frozen=True)
class Free:
    name: str
    type: str
    reason: str


@dataclass(frozen=True)
class NotPriced:
    name: str
    type: str
    reason: str


Outcome = LineItem | Free | NotPriced


@dataclass(frozen=True)
class Report:
    stack: str
    region: str
    usage: Usage
    items: tuple[LineItem, ...]
    free: tuple[Free, ...]
    not_priced: tuple[NotPriced, ...]
    warnings: tuple[str, ...] = ()

    @property
    def idle_usd(self) -> float:
        return sum(i.idle_usd for i in self.items)

    @property
    def run_usd(self) -> float:
        return sum(i.run_usd for i in self.items)

    @property
    def monthly_usd(self) -> float:
        """Idle plus ``usage.runs_per_month`` runs."""
        return self.idle_usd + self.usage.runs_per_month * self.run_usd

    def top_idle(self, count: int = 5) -> list[LineItem]:
        return sorted((i for i in self.items if i.idle_usd > 0), key=lambda i: -i.idle_usd)[:count]


class BudgetExceeded(Exception):
    """A stack's idle cost is over its monthly budget."""


def check_idle_budget(report: Report, budget: float) -> None:
    """Raise ``BudgetExceeded`` naming the largest idle line items when the idle total is over ``budget``."""
    if report.idle_usd <= budget:
        return
    items = "; ".join(f"{i.name} ({i.type}) ${i.idle_usd:.2f}/month: {i.assumption}" for i in report.top_idle())
    raise BudgetExceeded(
        f"stack '{report.stack}' costs ${report.idle_usd:.2f}/month when idle, over its budget of ${budget:.2f} "
        f"(mlops:monthlyBudgetUsd). Largest idle items: {items}"
    )


# ---------------------------------------------------------------------------------------------------------------
# The pricing context and small helpers.


@dataclass
class Context:
    prices: PriceTable
    usage: Usage
    resources: Sequence[Resource]
    counters: Counter[str] = field(default_factory=Counter)
    keys: list[str] = field(default_factory=list)

    def rate(self, key: str) -> float:
        """A unit price; the key is recorded so the line item can say whether it rests on an estimate."""
        self.keys.append(key)
        return self.prices[key].usd

    def of_type(self, *types: str) -> list[Resource]:
        return [r for r in self.resources if r.get("type") in types]


def _inputs(resource: Resource) -> Mapping[str, Any]:
    return resource.get("inputs") or {}


def _identities(resource: Resource) -> set[str]:
    """Every string another resource may use to point at this one: ARN, id, name."""
    outputs = resource.get("outputs") or {}
    found = {resource.get("id"), resource.get("name"), outputs.get("arn"), outputs.get("id"), outputs.get("name")}
    for key in ("name", "family", "clusterIdentifier", "arn"):
        found.add(_inputs(resource).get(key))
    return {str(v) for v in found if v}


def _refers_to(value: Any, target: Resource) -> bool:
    if not isinstance(value, str) or not value:
        return False
    names = _identities(target)
    family = _inputs(target).get("family")
    # A task definition ARN ends in family:revision; a family alone or family:revision also selects it.
    return value in names or (bool(family) and value.rsplit("/", 1)[-1].split(":")[0] == family)


def _linked(value: Any, candidates: Sequence[Resource]) -> Resource | None:
    """The resource ``value`` points at; with one candidate of the type in the stack, that one."""
    for candidate in candidates:
        if _refers_to(value, candidate):
            return candidate
    return candidates[0] if len(candidates) == 1 else None


def _as_list(value: Any) -> list[Any]:
    """A block pulumi-aws takes as one object in one version and a list in another, as a list."""
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _number(value: Any, default: float) -> float:
    if value is None or value == "":
        return default
    if isinstance(value, str):
        value = value.split()[0]  # "0.5 vCPU", "1 GB"
    return float(value)


def _money(value: float) -> str:
    return f"{value:.2f}" if value >= 0.01 or value == 0 else f"{value:.4f}"


def _log_cost_per_mb(ctx: Context, retention_days: float) -> float:
    """Ingesting one MB and keeping it for ``retention_days``."""
    months_kept = retention_days / 30
    return (ctx.rate("cloudwatch.logs_ingest_gb") + months_kept * ctx.rate("cloudwatch.logs_storage_gb_month")) / 1024


# ---------------------------------------------------------------------------------------------------------------
# Pricing rules, one small function per resource type.


def _fargate_task_hour(task: Resource, ctx: Context) -> tuple[float, str] | str:
    """The hourly price of one task of this definition and how it reads, or why it cannot be priced."""
    inputs = _inputs(task)
    platform = inputs.get("runtimePlatform") or {}
    if str(platform.get("operatingSystemFamily", "LINUX")).upper() != "LINUX":
        return f"Fargate {platform.get('operatingSystemFamily')} is not in the price table"
    arm = str(platform.get("cpuArchitecture", "X86_64")).upper() == "ARM64"
    cpu_units = _number(inputs.get("cpu"), 0)
    memory_mb = _number(inputs.get("memory"), 0)
    if not cpu_units or not memory_mb:
        return "its task definition sets no task-level cpu and memory"
    vcpu = cpu_units / 1024 if cpu_units >= 64 else cpu_units  # "512" units or "0.5 vCPU"
    memory_gb = memory_mb / 1024 if memory_mb >= 64 else memory_mb  # "1024" MB or "1 GB"
    kind = "linux_arm" if arm else "linux_x86"
    hourly = vcpu * ctx.rate(f"fargate.{kind}.vcpu_hour") + memory_gb * ctx.rate(f"fargate.{kind}.gb_hour")
    ephemeral = _number((inputs.get("ephemeralStorage") or {}).get("sizeInGib"), 20)
    text = f"Fargate {vcpu:g} vCPU/{memory_gb:g} GB {'ARM' if arm else 'x86'}"
    if ephemeral > 20:
        hourly += (ephemeral - 20) * ctx.rate("fargate.ephemeral_gb_hour")
        text += f", {ephemeral:g} GB ephemeral storage"
    return hourly, text


def _spot_share(service: Resource, desired: float) -> float:
    """The share of the service's tasks on FARGATE_SPOT: ``base`` tasks first, the rest split by weight."""
    strategies = _inputs(service).get("capacityProviderStrategies") or []
    if not strategies or desired <= 0:
        return 0.0
    placed: Counter[str] = Counter()
    remaining = desired
    for strategy in strategies:
        base = min(remaining, _number(strategy.get("base"), 0))
        placed[strategy.get("capacityProvider", "FARGATE")] += base
        remaining -= base
    total_weight = sum(_number(s.get("weight"), 0) for s in strategies)
    for strategy in strategies:
        if total_weight:
            placed[strategy.get("capacityProvider", "FARGATE")] += (
                remaining * _number(strategy.get("weight"), 0) / (total_weight)
            )
    return placed["FARGATE_SPOT"] / desired


def price_ecs_service(resource: Resource, ctx: Context) -> Outcome:
    inputs = _inputs(resource)
    name, type_ = resource["name"], resource["type"]
    providers = {s.get("capacityProvider") for s in inputs.get("capacityProviderStrategies") or []}
    if inputs.get("launchType") == "EC2" or providers - {"FARGATE", "FARGATE_SPOT", None}:
        return NotPriced(name, type_, "runs on EC2 capacity: its cost is in the instances behind it")
    task = _linked(inputs.get("taskDefinition"), ctx.of_type("aws:ecs/taskDefinition:TaskDefinition"))
    if task is None:
        return NotPriced(name, type_, "its task definition is not in the stack, so the task size is unknown")
    priced = _fargate_task_hour(task, ctx)
    if isinstance(priced, str):
        return NotPriced(name, type_, priced)
    hourly, text = priced
    desired = _number(inputs.get("desiredCount"), 0)
    spot = _spot_share(resource, desired)
    factor = (1 - spot) + spot * (1 - ctx.rate("fargate.spot_discount")) if spot else 1.0
    idle = desired * HOURS_PER_MONTH * hourly * factor
    parts = [f"{text}, {desired:g} task{'s' * (desired != 1)} x {HOURS_PER_MONTH} h"]
    if spot:
        parts.append(f"{spot:.0%} on Fargate Spot at {ctx.prices['fargate.spot_discount'].usd:.0%} off")
    if (inputs.get("networkConfiguration") or {}).get("assignPublicIp") and desired:
        idle += desired * HOURS_PER_MONTH * ctx.rate("vpc.public_ipv4_hour")
        parts.append("a public IPv4 for each task")
    if desired:
        idle += desired * ctx.usage.service_log_mb_per_month * _log_cost_per_mb(ctx, 30)
        parts.append(f"{ctx.usage.service_log_mb_per_month:g} MB/month of its logs")
    parts.append("always on, so a run adds nothing")
    return LineItem(name, type_, idle, 0.0, "; ".join(parts))


def price_task_definition(resource: Resource, ctx: Context) -> Outcome:
    definitions = ctx.of_type("aws:ecs/taskDefinition:TaskDefinition")
    services = ctx.of_type("aws:ecs/service:Service")
    if any(_linked(_inputs(s).get("taskDefinition"), definitions) is resource for s in services):
        return Free(resource["name"], resource["type"], "priced with the ECS service that runs it")
    return Free(
        resource["name"], resource["type"], "a definition: only running tasks cost, and no service here runs it"
    )


def price_ecs_cluster(resource: Resource, ctx: Context) -> Outcome:
    for setting in _inputs(resource).get("settings") or []:
        if setting.get("name") == "containerInsights" and setting.get("value") in ("enabled", "enhanced"):
            return NotPriced(
                resource["name"], resource["type"], "Container Insights metrics are not in the price table"
            )
    return Free(resource["name"], resource["type"], "an ECS cluster costs nothing; its tasks are priced")


def _aurora_cluster_of(instance: Resource, ctx: Context) -> Resource | None:
    return _linked(_inputs(instance).get("clusterIdentifier"), ctx.of_type("aws:rds/cluster:Cluster"))


def _is_aurora_mysql2(version: Any) -> bool:
    text = str(version or "")
    return text.startswith("5.7") or "mysql_aurora.2" in text


def price_rds_cluster(resource: Resource, ctx: Context) -> Outcome:
    inputs = _inputs(resource)
    name, type_ = resource["name"], resource["type"]
    if not str(inputs.get("engine", "aurora-mysql")).startswith("aurora"):
        return NotPriced(name, type_, f"Multi-AZ DB clusters of {inputs.get('engine')} are not in the price table")
    if inputs.get("engineMode") == "serverless":
        return NotPriced(name, type_, "Aurora Serverless v1 is retired and not in the price table")
    if inputs.get("storageType") == "aurora-iopt1":
        return NotPriced(name, type_, "Aurora I/O-Optimized storage is not in the price table")
    usage = ctx.usage
    idle = usage.aurora_storage_gb * ctx.rate("rds.aurora_storage_gb_month")
    run = usage.aurora_ios_per_run * ctx.rate("rds.aurora_io")
    text = (
        f"Aurora storage {usage.aurora_storage_gb:g} GB (billed while paused too; backups up to its size are free); "
        f"~{usage.aurora_ios_per_run:,} I/Os per run"
    )
    if inputs.get("manageMasterUserPassword"):
        # RDS keeps the master password in a Secrets Manager secret of its own, which no Pulumi resource shows.
        idle += ctx.rate("secretsmanager.secret_month")
        text += "; the master-password secret RDS manages in Secrets Manager"
    return LineItem(name, type_, idle, run, text)


# vCPUs of the DB instance classes the price table knows (RDS Extended Support is billed per vCPU).
DB_INSTANCE_VCPUS: Mapping[str, int] = {"db.t3.small": 2, "db.t3.medium": 2, "db.t4g.micro": 2, "db.t4g.medium": 2}


def price_rds_cluster_instance(resource: Resource, ctx: Context) -> Outcome:
    inputs = _inputs(resource)
    name, type_ = resource["name"], resource["type"]
    cluster = _aurora_cluster_of(resource, ctx)
    cluster_inputs = _inputs(cluster) if cluster else {}
    instance_class = str(inputs.get("instanceClass", ""))
    usage = ctx.usage
    if instance_class == "db.serverless":
        scaling = cluster_inputs.get("serverlessv2ScalingConfiguration")
        if not scaling:
            return NotPriced(
                name, type_, "a db.serverless instance whose cluster sets no serverlessv2ScalingConfiguration"
            )
        acu = ctx.rate("rds.aurora_acu_hour")
        minimum = _number(scaling.get("minCapacity"), 0.5)
        active = usage.aurora_active_minutes_per_run / 60
        if minimum == 0:
            pause_minutes = _number(scaling.get("secondsUntilAutoPause"), 300) / 60
            run = (active * usage.aurora_run_acu + pause_minutes / 60 * usage.aurora_idle_acu) * acu
            return LineItem(
                name,
                type_,
                0.0,
                run,
                "Aurora paused at 0 ACU: storage only (on the cluster line), resumes on connect in ~15 s "
                f"(~30 s after a day paused); one run: active ~{usage.aurora_active_minutes_per_run:g} min at "
                f"~{usage.aurora_run_acu:g} ACU, then {pause_minutes:g} min at {usage.aurora_idle_acu:g} ACU until "
                "auto-pause; assumes nothing holds a connection open between runs",
            )
        run = active * max(0.0, usage.aurora_run_acu - minimum) * acu
        return LineItem(
            name,
            type_,
            minimum * HOURS_PER_MONTH * acu,
            run,
            f"Aurora Serverless v2 never below {minimum:g} ACU: {minimum:g} ACU x {HOURS_PER_MONTH} h",
        )
    engine = str(inputs.get("engine") or cluster_inputs.get("engine") or "aurora-mysql")
    key = f"rds.{engine.replace('-', '_')}.{instance_class}_hour"
    if key not in ctx.prices:
        return NotPriced(name, type_, f"no price for {instance_class} ({engine}) in infra/prices.json")
    idle = HOURS_PER_MONTH * ctx.rate(key)
    text = f"{instance_class} {engine} on demand, {HOURS_PER_MONTH} h"
    version = inputs.get("engineVersion") or cluster_inputs.get("engineVersion")
    if engine == "aurora-mysql" and _is_aurora_mysql2(version):
        vcpus = DB_INSTANCE_VCPUS.get(instance_class)
        if vcpus is None:
            return NotPriced(
                name, type_, f"Extended Support is billed per vCPU and {instance_class}'s count is unknown"
            )
        idle += vcpus * HOURS_PER_MONTH * ctx.rate("rds.extended_support.aurora_mysql2_vcpu_hour")
        text += f"; RDS Extended Support for MySQL 5.7 (Aurora MySQL 2): {vcpus} vCPU x {HOURS_PER_MONTH} h"
    return LineItem(name, type_, idle, 0.0, text + "; always on, so a run adds nothing")


def price_rds_instance(resource: Resource, ctx: Context) -> Outcome:
    inputs = _inputs(resource)
    name, type_ = resource["name"], resource["type"]
    engine = str(inputs.get("engine", ""))
    instance_class = str(inputs.get("instanceClass", ""))
    key = f"rds.{engine}.{instance_class}_hour"
    if key not in ctx.prices:
        return NotPriced(name, type_, f"no price for {instance_class} ({engine}) in infra/prices.json")
    if inputs.get("storageType", "gp3") != "gp3":
        return NotPriced(name, type_, f"RDS {inputs.get('storageType')} storage is not in the price table")
    copies = 2 if inputs.get("multiAz") else 1
    storage = _number(inputs.get("allocatedStorage"), 20)
    idle = copies * (HOURS_PER_MONTH * ctx.rate(key) + storage * ctx.rate("rds.gp3_gb_month"))
    text = f"{instance_class} {engine}{' Multi-AZ' if copies == 2 else ''}, {HOURS_PER_MONTH} h, {storage:g} GB gp3"
    if engine == "mysql" and str(inputs.get("engineVersion", "")).startswith("5.7"):
        vcpus = DB_INSTANCE_VCPUS.get(instance_class)
        if vcpus is None:
            return NotPriced(
                name, type_, f"Extended Support is billed per vCPU and {instance_class}'s count is unknown"
            )
        idle += copies * vcpus * HOURS_PER_MONTH * ctx.rate("rds.extended_support.mysql57_vcpu_hour")
        text += f"; RDS Extended Support for MySQL 5.7 (Year 3): {vcpus} vCPU x {HOURS_PER_MONTH} h"
    return LineItem(name, type_, idle, 0.0, text)


def price_nat_gateway(resource: Resource, ctx: Context) -> Outcome:
    gb = ctx.usage.nat_gb_per_run
    return LineItem(
        resource["name"],
        resource["type"],
        HOURS_PER_MONTH * ctx.rate("ec2.nat_gateway_hour"),
        gb * ctx.rate("ec2.nat_gateway_gb"),
        f"NAT gateway {HOURS_PER_MONTH} h (its Elastic IP is a line of its own); ~{gb:g} GB through it per run",
    )


def price_eip(resource: Resource, ctx: Context) -> Outcome:
    return LineItem(
        resource["name"],
        resource["type"],
        HOURS_PER_MONTH * ctx.rate("vpc.public_ipv4_hour"),
        0.0,
        f"public IPv4 (Elastic IP) {HOURS_PER_MONTH} h",
    )


def price_ec2_instance(resource: Resource, ctx: Context) -> Outcome:
    inputs = _inputs(resource)
    name, type_ = resource["name"], resource["type"]
    instance_type = str(inputs.get("instanceType", ""))
    key = f"ec2.{instance_type}_hour"
    if key not in ctx.prices:
        return NotPriced(name, type_, f"no price for EC2 {instance_type} in infra/prices.json")
    root = inputs.get("rootBlockDevice") or {}
    if root.get("volumeType", "gp3") != "gp3":
        return NotPriced(name, type_, f"EBS {root.get('volumeType')} is not in the price table")
    volume = _number(root.get("volumeSize"), 8)
    idle = HOURS_PER_MONTH * ctx.rate(key) + volume * ctx.rate("ebs.gp3_gb_month")
    text = f"EC2 {instance_type} on demand {HOURS_PER_MONTH} h, {volume:g} GB gp3 root volume"
    if inputs.get("associatePublicIpAddress"):
        idle += HOURS_PER_MONTH * ctx.rate("vpc.public_ipv4_hour")
        text += ", a public IPv4"
    return LineItem(name, type_, idle, 0.0, text)


def price_ebs_volume(resource: Resource, ctx: Context) -> Outcome:
    inputs = _inputs(resource)
    if inputs.get("type", "gp3") != "gp3":
        return NotPriced(resource["name"], resource["type"], f"EBS {inputs.get('type')} is not in the price table")
    size = _number(inputs.get("size"), 8)
    return LineItem(
        resource["name"], resource["type"], size * ctx.rate("ebs.gp3_gb_month"), 0.0, f"EBS gp3 {size:g} GB"
    )


def price_load_balancer(resource: Resource, ctx: Context) -> Outcome:
    inputs = _inputs(resource)
    name, type_ = resource["name"], resource["type"]
    kind = inputs.get("loadBalancerType", "application")
    if kind not in ("application", "network"):
        return NotPriced(name, type_, f"{kind} load balancers are not in the price table")
    idle = HOURS_PER_MONTH * ctx.rate("elb.alb_hour" if kind == "application" else "elb.nlb_hour")
    internal = bool(inputs.get("internal", False))
    text = f"{'internal' if internal else 'internet-facing'} {kind} load balancer {HOURS_PER_MONTH} h"
    if not internal:
        zones = len(inputs.get("subnets") or inputs.get("subnetMappings") or []) or 2
        idle += zones * HOURS_PER_MONTH * ctx.rate("vpc.public_ipv4_hour")
        text += f", a public IPv4 in each of {zones} AZs"
    lcu = ctx.usage.lb_lcu_hours_per_run
    run = lcu * ctx.rate("elb.alb_lcu_hour") if kind == "application" else 0.0
    return LineItem(name, type_, idle, run, text + f"; ~{lcu:g} LCU-hour per run")


def price_vpc_endpoint(resource: Resource, ctx: Context) -> Outcome:
    inputs = _inputs(resource)
    kind = inputs.get("vpcEndpointType", "Gateway")
    if kind == "Gateway":
        return Free(resource["name"], resource["type"], "gateway endpoints (S3, DynamoDB) have no charge")
    if kind != "Interface":
        return NotPriced(resource["name"], resource["type"], f"{kind} endpoints are not in the price table")
    zones = len(inputs.get("subnetIds") or []) or 1
    return LineItem(
        resource["name"],
        resource["type"],
        zones * HOURS_PER_MONTH * ctx.rate("vpc.interface_endpoint_az_hour"),
        0.1 * ctx.rate("vpc.interface_endpoint_gb"),
        f"interface endpoint in {zones} AZ{'s' * (zones != 1)} x {HOURS_PER_MONTH} h; ~0.1 GB per run",
    )


def price_http_api(resource: Resource, ctx: Context) -> Outcome:
    protocol = _inputs(resource).get("protocolType", "HTTP")
    if protocol != "HTTP":
        return NotPriced(resource["name"], resource["type"], f"{protocol} APIs are not in the price table")
    requests = ctx.usage.api_requests_per_run
    return LineItem(
        resource["name"],
        resource["type"],
        0.0,
        requests * ctx.rate("apigw.http_request"),
        f"HTTP API: no charge when idle; ~{requests} requests per run",
    )


def price_rest_api(resource: Resource, ctx: Context) -> Outcome:
    requests = ctx.usage.api_requests_per_run
    return LineItem(
        resource["name"],
        resource["type"],
        0.0,
        requests * ctx.rate("apigw.rest_request"),
        f"REST API: no charge when idle; ~{requests} requests per run",
    )


def _lambda_profile(resource: Resource, usage: Usage) -> tuple[int, int]:
    name = str(_inputs(resource).get("name") or resource["name"]).lower()
    for key, profile in LAMBDA_RUN_PROFILE.items():
        if key in name:
            return profile
    return usage.lambda_invocations_per_run, usage.lambda_ms_per_invocation


def price_lambda_function(resource: Resource, ctx: Context) -> Outcome:
    inputs = _inputs(resource)
    memory_gb = _number(inputs.get("memorySize"), 128) / 1024
    arm = "arm64" in (inputs.get("architectures") or ["x86_64"])
    invocations, ms = _lambda_profile(resource, ctx.usage)
    per_invocation = ctx.rate("lambda.request") + ms / 1000 * memory_gb * ctx.rate(
        "lambda.arm_gb_second" if arm else "lambda.x86_gb_second"
    )
    return LineItem(
        resource["name"],
        resource["type"],
        0.0,
        invocations * per_invocation,
        f"Lambda {memory_gb * 1024:g} MB {'arm64' if arm else 'x86_64'}: nothing when idle (no provisioned "
        f"concurrency); {invocations} invocation{'s' * (invocations != 1)} x {ms:,} ms per run",
    )


def price_state_machine(resource: Resource, ctx: Context) -> Outcome:
    kind = _inputs(resource).get("type", "STANDARD")
    if kind != "STANDARD":
        return NotPriced(resource["name"], resource["type"], f"{kind} workflows are not in the price table")
    transitions = ctx.usage.state_transitions_per_run
    return LineItem(
        resource["name"],
        resource["type"],
        0.0,
        transitions * ctx.rate("sfn.standard_transition"),
        f"Standard workflow: ~{transitions} state transitions per run",
    )


# CodeBuild (environment type, compute type) -> price key.
CODEBUILD_RATES: Mapping[tuple[str, str], str] = {
    ("LINUX_CONTAINER", "BUILD_GENERAL1_SMALL"): "codebuild.linux_small_minute",
    ("LINUX_CONTAINER", "BUILD_GENERAL1_MEDIUM"): "codebuild.linux_medium_minute",
    ("LINUX_CONTAINER", "BUILD_GENERAL1_LARGE"): "codebuild.linux_large_minute",
    ("ARM_CONTAINER", "BUILD_GENERAL1_SMALL"): "codebuild.arm_small_minute",
    ("ARM_CONTAINER", "BUILD_GENERAL1_LARGE"): "codebuild.arm_large_minute",
}


def price_codebuild_project(resource: Resource, ctx: Context) -> Outcome:
    environment = _inputs(resource).get("environment") or {}
    kind = (environment.get("type", "LINUX_CONTAINER"), environment.get("computeType", "BUILD_GENERAL1_SMALL"))
    key = CODEBUILD_RATES.get(kind)
    if key is None:
        return NotPriced(resource["name"], resource["type"], f"no price for CodeBuild {kind[0]}/{kind[1]}")
    minutes = ctx.usage.build_minutes_per_run
    return LineItem(
        resource["name"],
        resource["type"],
        0.0,
        minutes * ctx.rate(key),
        f"CodeBuild {kind[1].split('_')[-1].lower()} {'ARM' if kind[0] == 'ARM_CONTAINER' else 'x86'}: nothing when "
        f"idle; ~{minutes:g} build-minutes per run",
    )


def price_log_group(resource: Resource, ctx: Context) -> Outcome:
    retention = _number(_inputs(resource).get("retentionInDays"), 0)
    kept = retention if retention else 365
    mb = ctx.usage.log_mb_per_run
    return LineItem(
        resource["name"],
        resource["type"],
        0.0,
        mb * _log_cost_per_mb(ctx, kept),
        f"~{mb:g} MB of logs per run, kept {kept:g} days"
        + ("" if retention else " (no retention set: a year counted, it grows forever)"),
    )


def price_metric_alarm(resource: Resource, ctx: Context) -> Outcome:
    inputs = _inputs(resource)
    queries = inputs.get("metricQueries") or []
    metrics = sum(1 for q in queries if q.get("metric")) or 1
    if inputs.get("thresholdMetricId"):
        metrics += 2  # an anomaly-detection band is billed as two more metrics
    high_resolution = _number(inputs.get("period"), 60) < 60 or any(
        _number((q.get("metric") or {}).get("period"), 60) < 60 for q in queries
    )
    key = "cloudwatch.alarm_high_resolution_month" if high_resolution else "cloudwatch.alarm_standard_month"
    return LineItem(
        resource["name"],
        resource["type"],
        metrics * ctx.rate(key),
        0.0,
        f"CloudWatch alarm, {'high' if high_resolution else 'standard'} resolution, {metrics} metric"
        f"{'s' * (metrics != 1)} (the 10 free alarms are not deducted)",
    )


def price_composite_alarm(resource: Resource, ctx: Context) -> Outcome:
    return LineItem(
        resource["name"], resource["type"], ctx.rate("cloudwatch.composite_alarm_month"), 0.0, "composite alarm"
    )


def price_dashboard(resource: Resource, ctx: Context) -> Outcome:
    ctx.counters["dashboards"] += 1
    if ctx.counters["dashboards"] <= 3:
        return LineItem(
            resource["name"], resource["type"], 0.0, 0.0, "CloudWatch dashboard within the 3 free per account"
        )
    return LineItem(
        resource["name"],
        resource["type"],
        ctx.rate("cloudwatch.dashboard_month"),
        0.0,
        "CloudWatch dashboard beyond the 3 free per account",
    )


def price_log_metric_filter(resource: Resource, ctx: Context) -> Outcome:
    return LineItem(
        resource["name"],
        resource["type"],
        ctx.rate("cloudwatch.custom_metric_month"),
        0.0,
        "a metric filter publishes one custom metric",
    )


def price_kms_key(resource: Resource, ctx: Context) -> Outcome:
    requests = ctx.usage.kms_requests_per_run
    return LineItem(
        resource["name"],
        resource["type"],
        ctx.rate("kms.key_month"),
        requests * ctx.rate("kms.request"),
        f"customer managed KMS key, $1/month; ~{requests} requests per run (20,000 free a month not deducted)",
    )


def price_secret(resource: Resource, ctx: Context) -> Outcome:
    copies = 1 + len(_inputs(resource).get("replicas") or [])
    calls = ctx.usage.secret_calls_per_run
    return LineItem(
        resource["name"],
        resource["type"],
        copies * ctx.rate("secretsmanager.secret_month"),
        calls * ctx.rate("secretsmanager.api_call"),
        f"Secrets Manager secret{f' with {copies - 1} replicas' if copies > 1 else ''}; ~{calls} reads per run "
        "(functions cache it)",
    )


def price_s3_bucket(resource: Resource, ctx: Context) -> Outcome:
    usage = ctx.usage
    storage = ctx.rate("s3.standard_gb_month")
    run = (
        usage.artifact_mb_per_run / 1024 * storage
        + usage.s3_puts_per_run * ctx.rate("s3.put_request")
        + usage.s3_gets_per_run * ctx.rate("s3.get_request")
    )
    return LineItem(
        resource["name"],
        resource["type"],
        usage.s3_baseline_gb * storage,
        run,
        f"S3 Standard {usage.s3_baseline_gb:g} GB stored; per run ~{usage.artifact_mb_per_run:g} MB of artifacts "
        f"(kept a month), {usage.s3_puts_per_run} PUTs, {usage.s3_gets_per_run} GETs",
    )


def price_ecr_repository(resource: Resource, ctx: Context) -> Outcome:
    usage = ctx.usage
    storage = ctx.rate("ecr.storage_gb_month")
    return LineItem(
        resource["name"],
        resource["type"],
        usage.ecr_baseline_gb * storage,
        usage.ecr_mb_per_run / 1024 * storage,
        f"ECR {usage.ecr_baseline_gb:g} GB of images (the lifecycle policy bounds it); ~{usage.ecr_mb_per_run:g} MB "
        "of new layers per run, kept a month",
    )


def price_dynamodb_table(resource: Resource, ctx: Context) -> Outcome:
    inputs = _inputs(resource)
    if inputs.get("billingMode") != "PAY_PER_REQUEST":
        return NotPriced(resource["name"], resource["type"], "provisioned capacity is not in the price table")
    usage = ctx.usage
    idle = 0.0
    text = f"on demand; {usage.dynamodb_table_gb:g} GB stored, inside the 25 GB free"
    if (inputs.get("pointInTimeRecovery") or {}).get("enabled"):
        idle += usage.dynamodb_table_gb * ctx.rate("dynamodb.pitr_gb_month")
        text += ", point-in-time recovery on"
    run = usage.dynamodb_writes_per_run * ctx.rate("dynamodb.write_request_unit") + usage.dynamodb_reads_per_run * (
        ctx.rate("dynamodb.read_request_unit")
    )
    return LineItem(
        resource["name"],
        resource["type"],
        idle,
        run,
        text + f"; ~{usage.dynamodb_writes_per_run} writes, {usage.dynamodb_reads_per_run} reads per run",
    )


def price_sqs_queue(resource: Resource, ctx: Context) -> Outcome:
    if _inputs(resource).get("fifoQueue"):
        return NotPriced(resource["name"], resource["type"], "FIFO queues are not in the price table")
    requests = ctx.usage.sqs_requests_per_run
    return LineItem(
        resource["name"],
        resource["type"],
        0.0,
        requests * ctx.rate("sqs.request"),
        f"standard queue: nothing when idle; ~{requests} requests per run",
    )


def price_sns_topic(resource: Resource, ctx: Context) -> Outcome:
    publishes = ctx.usage.sns_publishes_per_run
    return LineItem(
        resource["name"],
        resource["type"],
        0.0,
        publishes * ctx.rate("sns.publish"),
        f"SNS topic: nothing when idle; ~{publishes} publishes per run",
    )


def price_event_bus(resource: Resource, ctx: Context) -> Outcome:
    events = ctx.usage.events_per_run
    return LineItem(
        resource["name"],
        resource["type"],
        0.0,
        events * ctx.rate("eventbridge.custom_event"),
        f"custom event bus: ~{events} custom events per run",
    )


def price_codecommit_repository(resource: Resource, ctx: Context) -> Outcome:
    ctx.counters["codecommit"] += 1
    users = ctx.usage.codecommit_active_users
    if ctx.counters["codecommit"] > 1:
        return LineItem(resource["name"], resource["type"], 0.0, 0.0, "users are counted on the first repository")
    extra = max(0, users - 5)
    return LineItem(
        resource["name"],
        resource["type"],
        extra * ctx.rate("codecommit.active_user_month"),
        0.0,
        f"CodeCommit: {users} active users a month, 5 free per account",
    )


def price_hosted_zone(resource: Resource, ctx: Context) -> Outcome:
    return LineItem(
        resource["name"], resource["type"], ctx.rate("route53.hosted_zone_month"), 0.0, "Route 53 hosted zone"
    )


def price_dns_namespace(resource: Resource, ctx: Context) -> Outcome:
    private = resource["type"].endswith("PrivateDnsNamespace")
    return LineItem(
        resource["name"],
        resource["type"],
        ctx.rate("route53.hosted_zone_month"),
        0.0,
        f"Cloud Map {'private' if private else 'public'} DNS namespace: the namespace is free, the Route 53 hosted "
        "zone it creates is not",
    )


def price_discovery_service(resource: Resource, ctx: Context) -> Outcome:
    registering = [
        s
        for s in ctx.of_type("aws:ecs/service:Service")
        if any(_refers_to(r.get("registryArn"), resource) for r in _as_list(_inputs(s).get("serviceRegistries")))
    ]
    instances = sum(_number(_inputs(s).get("desiredCount"), 0) for s in registering) if registering else 1
    requests = ctx.usage.api_requests_per_run
    return LineItem(
        resource["name"],
        resource["type"],
        instances * ctx.rate("cloudmap.registered_resource_month"),
        requests * ctx.rate("cloudmap.discovery_call"),
        f"Cloud Map service with {instances:g} registered instance{'s' * (instances != 1)}"
        + ("" if registering else " (assumed: no ECS service here registers into it)")
        + f"; up to {requests} DiscoverInstances calls per run",
    )


def price_budget_action(resource: Resource, ctx: Context) -> Outcome:
    budget = str(_inputs(resource).get("budgetName", resource["name"]))
    seen = ctx.counters
    if f"budget:{budget}" in seen:
        return LineItem(resource["name"], resource["type"], 0.0, 0.0, "its budget is already counted")
    seen[f"budget:{budget}"] = 1
    seen["action_budgets"] += 1
    if seen["action_budgets"] <= 2:
        return LineItem(resource["name"], resource["type"], 0.0, 0.0, "one of the 2 free action-enabled budgets")
    return LineItem(
        resource["name"],
        resource["type"],
        DAYS_PER_MONTH * ctx.rate("budgets.action_enabled_budget_day"),
        0.0,
        "action-enabled budget beyond the 2 free",
    )


def price_registry_scanning(resource: Resource, ctx: Context) -> Outcome:
    if _inputs(resource).get("scanType", "BASIC") != "BASIC":
        return NotPriced(resource["name"], resource["type"], "enhanced scanning is billed by Amazon Inspector")
    return Free(resource["name"], resource["type"], "basic image scanning is free")


def price_ssm_parameter(resource: Resource, ctx: Context) -> Outcome:
    if _inputs(resource).get("tier", "Standard") != "Standard":
        return NotPriced(resource["name"], resource["type"], "advanced parameters are not in the price table")
    return Free(resource["name"], resource["type"], "standard parameters are free")


RULES: Mapping[str, Callable[[Resource, Context], Outcome]] = {
    "aws:ecs/service:Service": price_ecs_service,
    "aws:ecs/taskDefinition:TaskDefinition": price_task_definition,
    "aws:ecs/cluster:Cluster": price_ecs_cluster,
    "aws:rds/cluster:Cluster": price_rds_cluster,
    "aws:rds/clusterInstance:ClusterInstance": price_rds_cluster_instance,
    "aws:rds/instance:Instance": price_rds_instance,
    "aws:ec2/natGateway:NatGateway": price_nat_gateway,
    "aws:ec2/eip:Eip": price_eip,
    "aws:ec2/instance:Instance": price_ec2_instance,
    "aws:ebs/volume:Volume": price_ebs_volume,
    "aws:lb/loadBalancer:LoadBalancer": price_load_balancer,
    "aws:alb/loadBalancer:LoadBalancer": price_load_balancer,
    "aws:ec2/vpcEndpoint:VpcEndpoint": price_vpc_endpoint,
    "aws:apigatewayv2/api:Api": price_http_api,
    "aws:apigateway/restApi:RestApi": price_rest_api,
    "aws:lambda/function:Function": price_lambda_function,
    "aws:sfn/stateMachine:StateMachine": price_state_machine,
    "aws:codebuild/project:Project": price_codebuild_project,
    "aws:cloudwatch/logGroup:LogGroup": price_log_group,
    "aws:cloudwatch/metricAlarm:MetricAlarm": price_metric_alarm,
    "aws:cloudwatch/compositeAlarm:CompositeAlarm": price_composite_alarm,
    "aws:cloudwatch/dashboard:Dashboard": price_dashboard,
    "aws:cloudwatch/logMetricFilter:LogMetricFilter": price_log_metric_filter,
    "aws:kms/key:Key": price_kms_key,
    "aws:kms/replicaKey:ReplicaKey": price_kms_key,
    "aws:secretsmanager/secret:Secret": price_secret,
    "aws:s3/bucket:Bucket": price_s3_bucket,
    "aws:s3/bucketV2:BucketV2": price_s3_bucket,
    "aws:ecr/repository:Repository": price_ecr_repository,
    "aws:dynamodb/table:Table": price_dynamodb_table,
    "aws:sqs/queue:Queue": price_sqs_queue,
    "aws:sns/topic:Topic": price_sns_topic,
    "aws:cloudwatch/eventBus:EventBus": price_event_bus,
    "aws:codecommit/repository:Repository": price_codecommit_repository,
    "aws:route53/zone:Zone": price_hosted_zone,
    "aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace": price_dns_namespace,
    "aws:servicediscovery/publicDnsNamespace:PublicDnsNamespace": price_dns_namespace,
    "aws:servicediscovery/service:Service": price_discovery_service,
    "aws:budgets/budgetAction:BudgetAction": price_budget_action,
    "aws:ecr/registryScanningConfiguration:RegistryScanningConfiguration": price_registry_scanning,
    "aws:ssm/parameter:Parameter": price_ssm_parameter,
}

_NO_CHARGE_NETWORK = "VPC networking objects have no charge"
_S3_CONFIG = "bucket configuration has no charge; storage and requests are priced on the bucket"

# Types AWS charges nothing for (their own cost, if any, shows up on another resource), with the reason.
FREE: Mapping[str, str] = {
    "aws:ec2/vpc:Vpc": _NO_CHARGE_NETWORK,
    "aws:ec2/subnet:Subnet": _NO_CHARGE_NETWORK,
    "aws:ec2/internetGateway:InternetGateway": _NO_CHARGE_NETWORK + " (an internet gateway is free; data out is not)",
    "aws:ec2/internetGatewayAttachment:InternetGatewayAttachment": _NO_CHARGE_NETWORK,
    "aws:ec2/egressOnlyInternetGateway:EgressOnlyInternetGateway": _NO_CHARGE_NETWORK,
    "aws:ec2/routeTable:RouteTable": _NO_CHARGE_NETWORK,
    "aws:ec2/route:Route": _NO_CHARGE_NETWORK,
    "aws:ec2/routeTableAssociation:RouteTableAssociation": _NO_CHARGE_NETWORK,
    "aws:ec2/mainRouteTableAssociation:MainRouteTableAssociation": _NO_CHARGE_NETWORK,
    "aws:ec2/defaultRouteTable:DefaultRouteTable": _NO_CHARGE_NETWORK,
    "aws:ec2/defaultNetworkAcl:DefaultNetworkAcl": _NO_CHARGE_NETWORK,
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": _NO_CHARGE_NETWORK,
    "aws:ec2/networkAcl:NetworkAcl": _NO_CHARGE_NETWORK,
    "aws:ec2/networkAclRule:NetworkAclRule": _NO_CHARGE_NETWORK,
    "aws:ec2/networkAclAssociation:NetworkAclAssociation": _NO_CHARGE_NETWORK,
    "aws:ec2/securityGroup:SecurityGroup": "security groups have no charge",
    "aws:ec2/securityGroupRule:SecurityGroupRule": "security groups have no charge",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "security groups have no charge",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "security groups have no charge",
    "aws:ec2/vpcEndpointRouteTableAssociation:VpcEndpointRouteTableAssociation": _NO_CHARGE_NETWORK,
    "aws:ec2/eipAssociation:EipAssociation": "the address itself is priced on its Elastic IP",
    "aws:ec2/launchTemplate:LaunchTemplate": "a template; instances launched from it are priced",
    "aws:ec2/keyPair:KeyPair": "key pairs have no charge",
    "aws:s3/bucketPolicy:BucketPolicy": _S3_CONFIG,
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": _S3_CONFIG,
    "aws:s3/bucketVersioning:BucketVersioning": _S3_CONFIG + " (noncurrent versions count in its storage)",
    "aws:s3/bucketVersioningV2:BucketVersioningV2": _S3_CONFIG + " (noncurrent versions count in its storage)",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": _S3_CONFIG,
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2": _S3_CONFIG,
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": _S3_CONFIG,
    "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2": _S3_CONFIG,
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": _S3_CONFIG,
    "aws:s3/bucketNotification:BucketNotification": _S3_CONFIG,
    "aws:s3/bucketAclV2:BucketAclV2": _S3_CONFIG,
    "aws:s3/bucketCorsConfigurationV2:BucketCorsConfigurationV2": _S3_CONFIG,
    "aws:s3/bucketLoggingV2:BucketLoggingV2": _S3_CONFIG + " (the logs are stored in the target bucket)",
    "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock": _S3_CONFIG,
    "aws:s3/bucketObject:BucketObject": "a small object; storage is priced on its bucket",
    "aws:s3/bucketObjectv2:BucketObjectv2": "a small object; storage is priced on its bucket",
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": "ECR lifecycle policies have no charge (they reduce storage)",
    "aws:ecr/repositoryPolicy:RepositoryPolicy": "repository policies have no charge",
    "aws:ecs/clusterCapacityProviders:ClusterCapacityProviders": "capacity provider settings have no charge",
    "aws:lambda/permission:Permission": "Lambda permissions have no charge",
    "aws:lambda/alias:Alias": "aliases have no charge",
    "aws:lambda/functionUrl:FunctionUrl": "function URLs have no charge beyond the function's invocations",
    "aws:lambda/eventSourceMapping:EventSourceMapping": "event source mappings have no charge (invocations are priced)",
    "aws:lambda/layerVersion:LayerVersion": "layer storage has no charge (it counts against the code-storage quota)",
    "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig": "invoke settings have no charge",
    "aws:apigatewayv2/stage:Stage": "stages have no charge; requests are priced on the API",
    "aws:apigatewayv2/route:Route": "routes have no charge; requests are priced on the API",
    "aws:apigatewayv2/integration:Integration": "integrations have no charge; requests are priced on the API",
    "aws:apigatewayv2/deployment:Deployment": "deployments have no charge",
    "aws:apigatewayv2/vpcLink:VpcLink": "VPC links of HTTP APIs have no charge (API Gateway pricing page)",
    "aws:apigatewayv2/authorizer:Authorizer": "authorizers have no charge (a Lambda authorizer's invocations would be)",
    "aws:apigatewayv2/apiMapping:ApiMapping": "API mappings have no charge",
    "aws:apigatewayv2/domainName:DomainName": "custom domains of HTTP APIs have no charge",
    "aws:acm/certificate:Certificate": "public ACM certificates have no charge",
    "aws:acm/certificateValidation:CertificateValidation": "validation has no charge",
    "aws:cloudwatch/eventRule:EventRule": "rules on the default bus matching AWS service events have no charge",
    "aws:cloudwatch/eventTarget:EventTarget": "event targets have no charge; the targets' work is priced",
    "aws:cloudwatch/logResourcePolicy:LogResourcePolicy": "log resource policies have no charge",
    "aws:cloudwatch/logStream:LogStream": "log streams have no charge; ingestion is priced on the log group",
    "aws:cloudwatch/logSubscriptionFilter:LogSubscriptionFilter": "no charge; its destination is priced",
    "aws:sns/topicSubscription:TopicSubscription": (
        "deliveries to Lambda, SQS and Chatbot are free; e-mail has 1,000 free a month"
    ),
    "aws:sns/topicPolicy:TopicPolicy": "topic policies have no charge",
    "aws:sqs/queuePolicy:QueuePolicy": "queue policies have no charge",
    "aws:sqs/redrivePolicy:RedrivePolicy": "redrive policies have no charge",
    "aws:sfn/alias:Alias": "state machine aliases have no charge",
    "aws:sfn/activity:Activity": "activities have no charge; transitions are priced on the state machine",
    "aws:kms/alias:Alias": "KMS aliases have no charge",
    "aws:kms/keyPolicy:KeyPolicy": "key policies have no charge",
    "aws:kms/grant:Grant": "grants have no charge",
    "aws:secretsmanager/secretVersion:SecretVersion": "a version is part of its secret's price",
    "aws:secretsmanager/secretPolicy:SecretPolicy": "secret policies have no charge",
    "aws:secretsmanager/secretRotation:SecretRotation": "rotation has no charge beyond the rotation function",
    "aws:rds/subnetGroup:SubnetGroup": "DB subnet groups have no charge",
    "aws:rds/clusterParameterGroup:ClusterParameterGroup": "parameter groups have no charge",
    "aws:rds/parameterGroup:ParameterGroup": "parameter groups have no charge",
    "aws:rds/optionGroup:OptionGroup": "option groups have no charge",
    "aws:servicediscovery/httpNamespace:HttpNamespace": "HTTP namespaces create no hosted zone and have no charge",
    "aws:route53/record:Record": "records have no charge (queries to alias records of AWS resources are free)",
    "aws:codecommit/trigger:Trigger": "triggers have no charge",
    "aws:codecommit/approvalRuleTemplate:ApprovalRuleTemplate": "approval rules have no charge",
    "aws:codecommit/approvalRuleTemplateAssociation:ApprovalRuleTemplateAssociation": "approval rules have no charge",
    "aws:codebuild/sourceCredential:SourceCredential": "source credentials have no charge",
    "aws:codebuild/webhook:Webhook": "webhooks have no charge",
    "aws:codebuild/reportGroup:ReportGroup": "report groups have no charge (exports are stored in S3)",
    "aws:codestarnotifications/notificationRule:NotificationRule": "notification rules have no charge",
    "aws:chatbot/slackChannelConfiguration:SlackChannelConfiguration": "AWS Chatbot has no charge",
    "aws:budgets/budget:Budget": "budgets without actions cost $0.00 per budget-day (AWS Price List, AWSBudgets)",
    "aws:appautoscaling/target:Target": "Application Auto Scaling has no charge",
    "aws:appautoscaling/policy:Policy": "Application Auto Scaling has no charge",
    "aws:appautoscaling/scheduledAction:ScheduledAction": "Application Auto Scaling has no charge",
    "aws:scheduler/schedule:Schedule": "EventBridge Scheduler: 14 million invocations a month are free",
    "aws:scheduler/scheduleGroup:ScheduleGroup": "schedule groups have no charge",
    "aws:dynamodb/tableItem:TableItem": "an item; storage is priced on its table",
    "awsx:ecr:Image": "an image build and push; its storage is priced on the ECR repository",
    "pulumi:pulumi:StackReference": "reads another stack's outputs; not an AWS resource",
}

# Type prefixes with no charge, and why.
FREE_PREFIXES: Mapping[str, str] = {
    "aws:iam/": "IAM has no charge",
    "pulumi:providers:": "a Pulumi provider configuration, not an AWS resource",
    "random:": "generated by Pulumi itself; not an AWS resource",
}


def _free_reason(resource: Resource) -> str | None:
    type_ = str(resource.get("type", ""))
    if type_ in FREE:
        return FREE[type_]
    for prefix, reason in FREE_PREFIXES.items():
        if type_.startswith(prefix):
            return reason
    if resource.get("custom") is False and not type_.startswith("awsx:"):
        return "a Pulumi component: it groups the resources listed, and is not deployed itself"
    return None


def price_resource(resource: Resource, ctx: Context) -> Outcome:
    """Price one resource with the rule for its type; unknown types are never counted as zero."""
    name, type_ = str(resource.get("name")), str(resource.get("type"))
    rule = RULES.get(type_)
    if rule is None:
        reason = _free_reason(resource)
        if reason is not None:
            return Free(name, type_, reason)
        if type_.startswith("awsx:"):
            return NotPriced(
                name,
                type_,
                "a pulumi-awsx component: under the mocks its children are not visible, so they cannot be priced",
            )
        return NotPriced(name, type_, "no pricing rule: add one to RULES in infra/cost.py, or to FREE with the reason")
    ctx.keys = []
    outcome = rule(resource, ctx)
    if isinstance(outcome, LineItem):
        keys = tuple(dict.fromkeys(ctx.keys))
        outcome = replace(outcome, price_keys=keys, estimated=any(ctx.prices[k].estimated for k in keys))
    return outcome


def price_resources(
    resources: Iterable[Resource],
    usage: Usage | None = None,
    *,
    prices: PriceTable | None = None,
    stack: str = "",
    region: str | None = None,
) -> Report:
    """Price every resource; the result lists line items, free resources and resources that could not be priced."""
    table = prices or load_prices()
    usage = usage or Usage()
    resources = list(resources)
    ctx = Context(prices=table, usage=usage, resources=resources)
    items: list[LineItem] = []
    free: list[Free] = []
    not_priced: list[NotPriced] = []
    for resource in resources:
        outcome = price_resource(resource, ctx)
        if isinstance(outcome, LineItem):
            items.append(outcome)
        elif isinstance(outcome, Free):
            free.append(outcome)
        else:
            not_priced.append(outcome)
    region = region or table.region
    warnings = (
        (f"the stack deploys to {region} but infra/prices.json holds {table.region} prices",)
        if region != table.region
        else ()
    )
    return Report(stack, region, usage, tuple(items), tuple(free), tuple(not_priced), warnings)


# ---------------------------------------------------------------------------------------------------------------
# The reference design this project replaces.


def reference_design() -> list[dict[str, Any]]:
    """The MLflow platform the project replaces, as resources priced by the same rules: a NAT instance with a public
    address, provisioned Aurora MySQL 5.7 (db.t3.small, in RDS Extended Support), MLflow on Fargate 1 vCPU/2 GB x86
    always on, and an internal Application Load Balancer in front of it."""

    def resource(type_: str, name: str, **inputs: Any) -> dict[str, Any]:
        return {"type": type_, "name": name, "inputs": inputs}

    return [
        resource(
            "aws:ec2/instance:Instance",
            "nat-instance",
            instanceType="t3.micro",
            associatePublicIpAddress=True,
            sourceDestCheck=False,
            rootBlockDevice={"volumeSize": 8, "volumeType": "gp3"},
        ),
        resource(
            "aws:rds/cluster:Cluster", "mlflow-db", engine="aurora-mysql", engineVersion="5.7.mysql_aurora.2.11.2"
        ),
        resource(
            "aws:rds/clusterInstance:ClusterInstance",
            "mlflow-db-instance",
            clusterIdentifier="mlflow-db",
            instanceClass="db.t3.small",
            engine="aurora-mysql",
        ),
        resource(
            "aws:ecs/taskDefinition:TaskDefinition",
            "mlflow-task",
            family="mlflow",
            cpu="1024",
            memory="2048",
            runtimePlatform={"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
        ),
        resource(
            "aws:ecs/service:Service",
            "mlflow-service",
            taskDefinition="mlflow",
            desiredCount=1,
            launchType="FARGATE",
            networkConfiguration={"assignPublicIp": False},
        ),
        resource("aws:lb/loadBalancer:LoadBalancer", "mlflow-alb", internal=True, loadBalancerType="application"),
    ]


def reference_report(usage: Usage | None = None) -> Report:
    return price_resources(reference_design(), usage, stack="reference design")


# ---------------------------------------------------------------------------------------------------------------
# Stacks: config from the committed stack file, evaluation under the mocks.


class UnknownStack(Exception):
    pass


def known_stacks() -> list[str]:
    order = {"tooling": 0, "stage": 1, "prod": 2}
    names = [p.name[len("Pulumi.") : -len(".yaml")] for p in evaluate.ROOT.glob("Pulumi.*.yaml")]
    return sorted(names, key=lambda n: (order.get(n, 9), n))


def stack_config(stack: str) -> dict[str, str]:
    """The ``config:`` block of ``Pulumi.<stack>.yaml`` as the runtime takes it: non-string values JSON-encoded,
    stand-in values for the secret keys (never committed)."""
    path = evaluate.ROOT / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise UnknownStack(
            f"unknown stack '{stack}': there is no {path.name} in {evaluate.ROOT}. "
            f"Known stacks: {', '.join(known_stacks()) or 'none'}"
        )
    block = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("config") or {}
    config: dict[str, str] = {}
    for key, value in block.items():
        if isinstance(value, dict) and "secure" in value:
            continue  # encrypted in the file; a stand-in is added below
        full_key = key if ":" in key else f"{evaluate.PROJECT}:{key}"
        config[full_key] = value if isinstance(value, str) else json.dumps(value)
    role = config.get("mlops:role", stack)
    if role == "tooling":
        for key in evaluate.SECRET_KEYS:
            config.setdefault(key, CONFIG_STANDIN_VALUE)
    return config


def stack_resources(run: evaluate.StackRun) -> list[dict[str, Any]]:
    return [
        {
            "type": r.type,
            "name": r.name,
            "id": r.id,
            "inputs": r.inputs,
            "outputs": r.outputs,
            "custom": r.custom,
        }
        for r in run.resources
    ]


def stack_report(stack: str, usage: Usage | None = None, config: Mapping[str, str] | None = None) -> Report:
    """Evaluate ``stack`` under the mocks with its stack file's config (or ``config``) and price what it creates."""
    values = dict(config) if config is not None else stack_config(stack)
    run = evaluate.run_stack(stack, values)
    region = values.get("aws:region", evaluate.REGION)
    return price_resources(stack_resources(run), usage, stack=stack, region=region)


def budget_settings(config: Mapping[str, str]) -> BudgetSettings:
    """The tooling stack's budget settings, read and validated by ``infra.config`` from ``config``."""
    from infra import config as stack_settings

    found: list[BudgetSettings] = []

    def program() -> None:
        settings = stack_settings.load()
        assert isinstance(settings, stack_settings.ToolingConfig), "the budget is a tooling setting"
        found.append(settings.budget)

    evaluate.run_stack("tooling", config, program=program)
    return found[0]


# ---------------------------------------------------------------------------------------------------------------
# Cost profiles: every stack under each profile's own values.


def profile_config(config: Mapping[str, str], profile: str) -> dict[str, str]:
    """``config`` switched to ``profile``, without the explicit keys that would override the profile's values."""
    overrides = {f"{NAMESPACE}:{key}" for key in cost_profiles.PROFILE_KEYS}
    values = {key: value for key, value in config.items() if key not in overrides}
    values[f"{NAMESPACE}:{cost_profiles.KEY}"] = profile
    return values


def profile_reports(
    reports: Sequence[Report], configs: Mapping[str, Mapping[str, str]], usage: Usage | None = None
) -> dict[str, list[Report]]:
    """Per profile, a report for each stack of ``reports``. Only a tooling stack reads the profile: the others'
    reports are the same under every profile, so they are reused rather than evaluated again."""
    by_profile: dict[str, list[Report]] = {}
    for profile in cost_profiles.PROFILES:
        by_profile[profile] = [
            stack_report(report.stack, usage, profile_config(configs[report.stack], profile))
            if configs[report.stack].get(f"{NAMESPACE}:role", report.stack) == "tooling"
            else report
            for report in reports
        ]
    return by_profile


# ---------------------------------------------------------------------------------------------------------------
# Output.


def _short_type(type_: str) -> str:
    """'aws:ecs/service:Service' -> 'ecs/service'; other packages' types stay whole."""
    parts = type_.split(":")
    return parts[1] if len(parts) == 3 and parts[0] == "aws" else type_


def _pricing_header(prices: PriceTable) -> str:
    dates = sorted({p.date for p in prices.prices.values()})
    return (
        f"Prices: {prices.region} (the default region; every price in infra/prices.json is for {prices.region} unless "
        f"marked global), {prices.currency}, on-demand list prices taken {', '.join(dates)}; "
        "'*' marks an item resting on an estimated price."
    )


def _usage_line(usage: Usage) -> str:
    return (
        f"Usage: {usage.runs_per_month} runs/month; one run: ~{usage.build_minutes_per_run:g} build-minutes, "
        f"{usage.state_transitions_per_run} state transitions, Lambda invocations per function (see "
        f"LAMBDA_RUN_PROFILE), Aurora active ~{usage.aurora_active_minutes_per_run:g} min at "
        f"~{usage.aurora_run_acu:g} ACU, {usage.log_mb_per_run:g} MB logs per log group, "
        f"{usage.artifact_mb_per_run:g} MB artifacts per bucket, {usage.ecr_mb_per_run:g} MB image layers."
    )


def _totals_line(report: Report) -> str:
    return (
        f"Total {report.stack}: idle ${report.idle_usd:.2f}/month; one run ${report.run_usd:.4f}; "
        f"at {report.usage.runs_per_month} runs/month ${report.monthly_usd:.2f}/month"
    )


def _free_groups(report: Report) -> list[tuple[str, int, str]]:
    groups: dict[tuple[str, str], int] = {}
    for f in report.free:
        groups[(f.type, f.reason)] = groups.get((f.type, f.reason), 0) + 1
    return [(type_, count, reason) for (type_, reason), count in groups.items()]


ProfileReports = Mapping[str, Sequence[Report]]


def _profiles_title() -> str:
    keys = ", ".join(f"{NAMESPACE}:{key}" for key in cost_profiles.PROFILE_KEYS)
    return (
        f"Cost profiles ({NAMESPACE}:{cost_profiles.KEY}): every stack with each profile's own values (explicit {keys} "
        "left out: set, they override the profile)"
    )


def _profile_descriptions() -> list[str]:
    return [
        f"{name}{' (default)' if name == cost_profiles.DEFAULT else ''}: {profile.describe()}"
        for name, profile in cost_profiles.PROFILES.items()
    ]


def _profile_rows(profiles: ProfileReports, reference: Report | None) -> list[tuple[str, ...]]:
    """A header and one row per stack (and the reference design): idle, per run and monthly under each profile."""
    names = list(profiles)
    first = profiles[names[0]]
    runs = first[0].usage.runs_per_month if first else Usage().runs_per_month
    header = ["Stack"]
    for name in names:
        header += [f"{name} idle $/month", "per run $", f"at {runs} runs $/month"]

    def figures(report: Report) -> list[str]:
        return [f"{report.idle_usd:.2f}", f"{report.run_usd:.4f}", f"{report.monthly_usd:.2f}"]

    rows = [tuple(header)]
    for index, report in enumerate(first):
        rows.append((report.stack, *[cell for name in names for cell in figures(profiles[name][index])]))
    if reference is not None:
        rows.append(("reference design (no profiles)", *[c for _ in names for c in figures(reference)]))
    return rows


def _profiles_text(profiles: ProfileReports, reference: Report | None) -> list[str]:
    rows = _profile_rows(profiles, reference)
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = [_profiles_title()]
    lines.extend(f"  {description}" for description in _profile_descriptions())
    for row in rows:
        lines.append(
            "  " + "  ".join(cell.ljust(widths[c]) if c == 0 else cell.rjust(widths[c]) for c, cell in enumerate(row))
        )
    return [*lines, ""]


def render_text(
    reports: Sequence[Report],
    reference: Report | None,
    prices: PriceTable,
    profiles: ProfileReports | None = None,
) -> str:
    lines = [_pricing_header(prices), _usage_line(reports[0].usage if reports else Usage()), ""]

    def table(report: Report, title: str) -> None:
        lines.append(title)
        rows = [("Resource", "Type", "Idle $/month", "Per run $", "Assumption")]
        for item in sorted(report.items, key=lambda i: (-i.idle_usd, -i.run_usd, i.name)):
            mark = "*" if item.estimated else ""
            rows.append(
                (item.name + mark, _short_type(item.type), _money(item.idle_usd), _money(item.run_usd), item.assumption)
            )
        widths = [max(len(r[c]) for r in rows) for c in range(4)]
        for row in rows:
            lines.append(
                "  "
                + "  ".join(
                    cell.rjust(widths[c]) if c in (2, 3) else cell.ljust(widths[c]) for c, cell in enumerate(row[:4])
                )
                + "  "
                + row[4]
            )
        lines.append("  " + _totals_line(report))
        for warning in report.warnings:
            lines.append(f"  Warning: {warning}")
        if report.not_priced:
            lines.append("  Not priced (cost unknown, NOT counted as zero):")
            for n in report.not_priced:
                lines.append(f"    {n.name} ({n.type}): {n.reason}")
        if report.free:
            lines.append(f"  Free ({len(report.free)} resource{'s' * (len(report.free) != 1)}):")
            for type_, count, reason in _free_groups(report):
                lines.append(f"    {type_} x{count}: {reason}")
        lines.append("")

    for report in reports:
        table(report, f"Stack {report.stack} ({report.region})")
    if reference is not None:
        table(reference, "Reference design this project replaces (the MLflow platform only; same prices and usage)")
        ours = next((r for r in reports if r.stack == "tooling"), None)
        if ours is not None:
            lines.extend([_comparison(ours, reference), ""])
    if profiles:
        lines.extend(_profiles_text(profiles, reference))
    estimated = [p for p in prices.prices.values() if p.estimated]
    lines.append(f"Estimated prices ({len(estimated)}): " + ", ".join(p.key for p in estimated))
    return "\n".join(lines).rstrip() + "\n"


def _comparison(ours: Report, reference: Report) -> str:
    saving = reference.idle_usd - ours.idle_usd
    return (
        f"Idle: the whole tooling stack ${ours.idle_usd:.2f}/month vs the reference MLflow platform alone "
        f"${reference.idle_usd:.2f}/month: ${saving:.2f}/month less ({saving / reference.idle_usd:.0%}). At "
        f"{ours.usage.runs_per_month} runs/month: ${ours.monthly_usd:.2f} vs ${reference.monthly_usd:.2f} for the "
        "reference platform (its pipeline, which this project also has, not included)."
    )


def render_markdown(
    reports: Sequence[Report],
    reference: Report | None,
    prices: PriceTable,
    profiles: ProfileReports | None = None,
) -> str:
    lines = [
        "## Monthly cost",
        "",
        "Generated by `python -m infra.cost --markdown` from the stacks evaluated under Pulumi's mocks.",
        "",
        _pricing_header(prices),
        "",
        _usage_line(reports[0].usage if reports else Usage()),
        "",
    ]

    def table(report: Report, title: str) -> None:
        lines.extend(
            [f"### {title}", "", "| Resource | Type | Idle $/month | Per run $ | Assumption |", "|---|---|--:|--:|---|"]
        )
        for item in sorted(report.items, key=lambda i: (-i.idle_usd, -i.run_usd, i.name)):
            mark = "\\*" if item.estimated else ""
            lines.append(
                f"| {item.name}{mark} | `{_short_type(item.type)}` | {_money(item.idle_usd)} | {_money(item.run_usd)} "
                f"| {item.assumption} |"
            )
        lines.extend(["", f"**{_totals_line(report)}**", ""])
        if report.not_priced:
            lines.append("Not priced (cost unknown, not counted as zero):")
            lines.extend(f"- {n.name} (`{n.type}`): {n.reason}" for n in report.not_priced)
            lines.append("")
        if report.free:
            lines.append("Free: " + "; ".join(f"`{_short_type(t)}` x{c} ({r})" for t, c, r in _free_groups(report)))
            lines.append("")

    for report in reports:
        table(report, f"Stack `{report.stack}`")
    if reference is not None:
        table(reference, "Reference design this project replaces (MLflow platform only)")
        ours = next((r for r in reports if r.stack == "tooling"), None)
        if ours is not None:
            lines.extend([_comparison(ours, reference), ""])
    if profiles:
        rows = _profile_rows(profiles, reference)
        lines.extend([f"### {_profiles_title()}", ""])
        lines.extend(f"- {description}" for description in _profile_descriptions())
        lines.extend(["", "| " + " | ".join(rows[0]) + " |", "|---" + "|--:" * (len(rows[0]) - 1) + "|"])
        lines.extend("| " + " | ".join(row) + " |" for row in rows[1:])
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def report_json(report: Report) -> dict[str, Any]:
    return {
        "stack": report.stack,
        "region": report.region,
        "idle_usd_per_month": round(report.idle_usd, 4),
        "usd_per_run": round(report.run_usd, 6),
        "usd_per_month_at_runs": round(report.monthly_usd, 4),
        "items": [asdict(i) for i in report.items],
        "not_priced": [asdict(n) for n in report.not_priced],
        "free": [asdict(f) for f in report.free],
        "warnings": list(report.warnings),
    }


def _profiles_json(profiles: ProfileReports) -> dict[str, Any]:
    return {
        name: {
            "settings": asdict(cost_profiles.PROFILES[name]),
            "default": name == cost_profiles.DEFAULT,
            "stacks": [
                {
                    "stack": report.stack,
                    "idle_usd_per_month": round(report.idle_usd, 4),
                    "usd_per_run": round(report.run_usd, 6),
                    "usd_per_month_at_runs": round(report.monthly_usd, 4),
                }
                for report in reports
            ],
        }
        for name, reports in profiles.items()
    }


def render_json(
    reports: Sequence[Report],
    reference: Report | None,
    prices: PriceTable,
    profiles: ProfileReports | None = None,
) -> str:
    document = {
        "pricing": {"region": prices.region, "currency": prices.currency, "file": "infra/prices.json"},
        "usage": asdict(reports[0].usage if reports else Usage()),
        "lambda_run_profile": {k: {"invocations": v[0], "ms": v[1]} for k, v in LAMBDA_RUN_PROFILE.items()},
        "stacks": [report_json(r) for r in reports],
        "reference_design": report_json(reference) if reference is not None else None,
        "cost_profiles": _profiles_json(profiles) if profiles else None,
        "prices": {k: asdict(p) for k, p in prices.prices.items()},
    }
    return json.dumps(document, indent=2) + "\n"


# ---------------------------------------------------------------------------------------------------------------
# CLI.


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m infra.cost",
        description="Price a stack's resources (evaluated under Pulumi's mocks) from infra/prices.json: monthly idle "
        "cost and the marginal cost of one pipeline run, next to the reference design this project replaces.",
    )
    parser.add_argument(
        "--stack",
        action="append",
        metavar="NAME",
        help="a stack with a Pulumi.<NAME>.yaml (repeatable; default: every such stack)",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="machine-readable output")
    output.add_argument("--markdown", action="store_true", help="Markdown tables for the README")
    defaults = Usage()
    parser.add_argument("--runs-per-month", type=int, default=defaults.runs_per_month, help="pipeline runs a month")
    parser.add_argument(
        "--build-minutes", type=float, default=defaults.build_minutes_per_run, help="CodeBuild minutes per run"
    )
    parser.add_argument(
        "--transitions", type=int, default=defaults.state_transitions_per_run, help="state transitions per run"
    )
    parser.add_argument(
        "--aurora-active-minutes",
        type=float,
        default=defaults.aurora_active_minutes_per_run,
        help="minutes Aurora works per run",
    )
    parser.add_argument("--no-reference", action="store_true", help="leave out the reference design")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    usage = replace(
        Usage(),
        runs_per_month=args.runs_per_month,
        build_minutes_per_run=args.build_minutes,
        state_transitions_per_run=args.transitions,
        aurora_active_minutes_per_run=args.aurora_active_minutes,
    )
    stacks = args.stack or known_stacks()
    prices = load_prices()
    try:
        configs = {stack: stack_config(stack) for stack in stacks}
    except UnknownStack as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        reports = [stack_report(stack, usage, configs[stack]) for stack in stacks]
        profiles = profile_reports(reports, configs, usage)
    except evaluate.StackError as error:
        print(f"error: the program failed under the mocks:\n{error.message}", file=sys.stderr)
        return 1
    reference = None if args.no_reference else reference_report(usage)
    render = render_json if args.json else render_markdown if args.markdown else render_text
    sys.stdout.write(render(reports, reference, prices, profiles))
    return 0


if __name__ == "__main__":
    sys.exit(main())
