"""Typed, validated stack configuration.

Every key is read and checked before any resource is declared. All problems are collected and raised
together as one ``pulumi.RunError`` (which the CLI prints without a traceback), one line per bad key, each
naming the key, what was expected and the ``pulumi config set`` command that fixes it.

Keys live in the ``mlops`` namespace, except the region, which is the AWS provider's own ``aws:region``.
Each key is documented in the ``Pulumi.<stack>.yaml`` files.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Container
from dataclasses import dataclass
from typing import Literal

import pulumi

from infra import cost_profiles, naming

NAMESPACE = "mlops"
Role = Literal["tooling", "stage", "prod"]
ROLES: tuple[Role, ...] = ("tooling", "stage", "prod")
ARCHITECTURES = ("arm64", "x86_64")
FUNCTION_URL_AUTH = ("AWS_IAM", "NONE")
# The values CloudWatch Logs accepts for retentionInDays.
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
DEFAULT_LOG_RETENTION_DAYS = 30

_ACCOUNT_ID = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$")
_MODEL_NAME = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")
_SLACK_CHANNEL = re.compile(r"^[CG][A-Z0-9]{8,12}$")
_SLACK_TEAM = re.compile(r"^[TE][A-Z0-9]{8,12}$")
_SLACK_APP = re.compile(r"^A[A-Z0-9]{8,12}$")
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{8,12}$")
_SLACK_USER_GROUP = re.compile(r"^S[A-Z0-9]{8,12}$")
_DOMAIN = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_ACM_ARN = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_STACK_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
# A DB cluster snapshot: its identifier (manual, or "rds:..." for an automated one) or its ARN.
_SNAPSHOT_ID = r"(rds:)?[A-Za-z][A-Za-z0-9-]{0,254}"
_CLUSTER_SNAPSHOT = re.compile(
    rf"^({_SNAPSHOT_ID}|arn:aws[a-z-]*:rds:[a-z0-9-]+:\d{{12}}:cluster-snapshot:{_SNAPSHOT_ID})$"
)


@dataclass(frozen=True)
class Target:
    """Where a stack deploys: the provider refuses credentials for any other account."""

    account_id: str
    region: str

    @property
    def partition(self) -> str:
        return naming.partition_for_region(self.region)


@dataclass(frozen=True)
class SlackSettings:
    channel_id: str
    approvers: tuple[str, ...]
    # The workspace and the app whose signed requests the interactions endpoint accepts.
    team_id: str
    app_id: str
    # AWS Chatbot relays run status to the channel (after a one-time authorisation in the Chatbot console).
    chatbot_enabled: bool
    bot_token: pulumi.Output[str]
    signing_secret: pulumi.Output[str]

    @property
    def approver_users(self) -> tuple[str, ...]:
        return tuple(a for a in self.approvers if _SLACK_USER.match(a))

    @property
    def approver_groups(self) -> tuple[str, ...]:
        return tuple(a for a in self.approvers if _SLACK_USER_GROUP.match(a))


@dataclass(frozen=True)
class BudgetSettings:
    """The tooling account's monthly AWS Budgets alert, and the idle cost the cost model must stay under."""

    monthly_usd: int
    alert_emails: tuple[str, ...]


@dataclass(frozen=True)
class PipelineSettings:
    approval_timeout_hours: int
    # 0: prod switches at once after approval; otherwise this share of prod traffic goes to the new version
    # for canary_wait_minutes, and the alarms decide between promote and rollback.
    canary_percent: int
    canary_wait_minutes: int


@dataclass(frozen=True)
class RegistrySettings:
    """The MLflow tracking server and model registry (values the code does not fix)."""

    # The cost profile the capacity values below start from (infra/cost_profiles.py); explicit keys override it.
    cost_profile: str
    fargate_spot: bool
    allowed_cidrs: tuple[str, ...]
    domain_name: str | None
    certificate_arn: str | None
    db_max_acu: int
    db_auto_pause_seconds: int
    db_deletion_protection: bool
    # Set to restore MLflow's database from a snapshot (README "Back up and restore MLflow"); keep it set after.
    db_restore_snapshot: str | None = None


@dataclass(frozen=True)
class ToolingConfig:
    project: str
    stack: str
    target: Target
    model_name: str
    architecture: str
    stage_account_id: str
    prod_account_id: str
    slack: SlackSettings
    log_retention_days: int
    images_to_keep: int
    budget: BudgetSettings
    registry: RegistrySettings
    pipeline: PipelineSettings
    role: Role = "tooling"
    # Teardown (README "Tear down"): empty buckets and ECR repositories on destroy, delete secrets without a
    # recovery window, and no deletion protection on MLflow's database. Needs a `pulumi up` before the destroy.
    allow_destroy: bool = False


@dataclass(frozen=True)
class InferenceSettings:
    memory_mb: int
    timeout_seconds: int
    function_url_auth: str
    # None leaves concurrency unreserved: new accounts have low quotas, and Lambda keeps 100 unreserved.
    reserved_concurrency: int | None


@dataclass(frozen=True)
class EnvironmentConfig:
    """A stage or prod stack: same code path, values from its own stack file."""

    project: str
    stack: str
    role: Role
    target: Target
    tooling_stack: str
    log_retention_days: int
    inference: InferenceSettings


StackConfig = ToolingConfig | EnvironmentConfig


class _Reader:
    """Reads keys and collects every problem instead of stopping at the first."""

    def __init__(self, stack: str) -> None:
        self.stack = stack
        self.errors: list[str] = []
        self._mlops = pulumi.Config(NAMESPACE)
        self._aws = pulumi.Config("aws")

    def fail(self, key: str, expected: str, got: object, fix: str) -> None:
        got_text = "nothing (the key is not set)" if got is None else repr(got)
        self.errors.append(f"{key}: expected {expected}, got {got_text}. Fix: {fix}")

    def set_command(self, key: str, example: str) -> str:
        return f"pulumi config set {key} {example} --stack {self.stack}"

    def text(
        self,
        name: str,
        *,
        expected: str,
        example: str,
        pattern: re.Pattern[str] | None = None,
        choices: tuple[str, ...] | None = None,
        default: str | None = None,
        check: Callable[[str], bool] | None = None,
        namespace: str = NAMESPACE,
    ) -> str:
        key = f"{namespace}:{name}"
        raw = (self._aws if namespace == "aws" else self._mlops).get(name)
        value = raw.strip() if raw is not None else default
        fix = self.set_command(key, example)
        ok = value is not None and (
            (pattern is None or pattern.match(value) is not None)
            and (choices is None or value in choices)
            and (check is None or check(value))
        )
        if not ok:
            self.fail(key, expected, raw, fix)
            return example
        return value

    def integer(
        self, name: str, *, expected: str, example: int, choices: Container[int], default: int | None
    ) -> int | None:
        key = f"{NAMESPACE}:{name}"
        raw = self._mlops.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            value = None
        if value is None or value not in choices:
            self.fail(key, expected, raw, self.set_command(key, str(example)))
            return default
        return value

    def string_list(
        self, name: str, *, expected: str, example: str, item: Callable[[str], bool], required: bool = True
    ) -> tuple[str, ...]:
        key = f"{NAMESPACE}:{name}"
        fix = f"pulumi config set --path '{key}[0]' {example} --stack {self.stack}"
        raw = self._mlops.get(name)
        if raw is None and not required:
            return ()
        try:
            value = json.loads(raw) if raw is not None else None
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, list) or not value:
            self.fail(key, expected, raw, fix)
            return ()
        bad = [v for v in value if not isinstance(v, str) or not item(v)]
        if bad:
            self.fail(key, expected, bad[0], fix)
            return ()
        return tuple(value)

    def is_set(self, name: str) -> bool:
        return self._mlops.get(name) is not None

    def boolean(self, name: str, *, default: bool) -> bool:
        key = f"{NAMESPACE}:{name}"
        raw = self._mlops.get(name)
        if raw is None:
            return default
        if raw.strip().lower() in ("true", "false"):
            return raw.strip().lower() == "true"
        self.fail(key, "true or false", raw, self.set_command(key, str(not default).lower()))
        return default

    def optional_text(self, name: str, *, expected: str, example: str, check: Callable[[str], bool]) -> str | None:
        key = f"{NAMESPACE}:{name}"
        raw = self._mlops.get(name)
        if raw is None or raw.strip() == "":
            return None
        if not check(raw.strip()):
            self.fail(key, expected, raw, self.set_command(key, example))
            return None
        return raw.strip()

    def secret(self, name: str, *, expected: str) -> pulumi.Output[str]:
        key = f"{NAMESPACE}:{name}"
        fix = f"pulumi config set --secret {key} --stack {self.stack} (it prompts for the value)"
        if self._mlops.get(name) is None:
            self.errors.append(f"{key}: expected {expected}, got nothing (the key is not set). Fix: {fix}")
        elif not pulumi.runtime.is_config_secret(key):
            self.errors.append(
                f"{key}: expected {expected} stored as a secret, got a plain-text value in the stack file. "
                f"Fix: {fix}, then check that Pulumi.{self.stack}.yaml shows it as 'secure:'"
            )
        else:
            return self._mlops.require_secret(name)
        return pulumi.Output.secret("")

    def raise_if_any(self) -> None:
        if self.errors:
            count = len(self.errors)
            header = f"Invalid configuration for stack '{self.stack}' ({count} problem{'s' * (count != 1)}):"
            raise pulumi.RunError("\n".join([header, *(f"  - {e}" for e in self.errors)]))


def _role(reader: _Reader) -> Role:
    default = reader.stack if reader.stack in ROLES else None
    value = reader.text(
        "role",
        expected=f"one of {', '.join(ROLES)} (defaults to the stack name when that is a role)",
        example="stage",
        choices=ROLES,
        default=default,
    )
    return value  # type: ignore[return-value]  # checked against ROLES above


def _account_id(reader: _Reader, key: str, whose: str, example: str) -> str:
    return reader.text(key, expected=f"the 12-digit ID of {whose}", example=example, pattern=_ACCOUNT_ID)


def _target(reader: _Reader) -> Target:
    account_id = _account_id(reader, "accountId", "the AWS account this stack deploys to", "123456789012")
    region = reader.text(
        "region",
        namespace="aws",
        expected="an AWS region such as eu-west-1",
        example="eu-west-1",
        pattern=_REGION,
    )
    return Target(account_id=account_id, region=region)


def _log_retention(reader: _Reader) -> int:
    return reader.integer(  # type: ignore[return-value]  # has a default
        "logRetentionDays",
        expected=f"a number of days CloudWatch Logs accepts ({', '.join(map(str, LOG_RETENTION_DAYS))})",
        example=DEFAULT_LOG_RETENTION_DAYS,
        choices=LOG_RETENTION_DAYS,
        default=DEFAULT_LOG_RETENTION_DAYS,
    )


def _is_cidr(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError:
        return False
    return True


def _deletion_protection(reader: _Reader, allow_destroy: bool) -> bool:
    """On by default; off by default when the stack is being torn down, and never on while allowDestroy is."""
    protection = reader.boolean("mlflowDbDeletionProtection", default=not allow_destroy)
    if allow_destroy and protection and reader.is_set("mlflowDbDeletionProtection"):
        reader.errors.append(
            "mlops:mlflowDbDeletionProtection: expected false (or unset) while mlops:allowDestroy is true, got "
            "'true': the database could not be deleted. Fix: "
            + reader.set_command("mlops:mlflowDbDeletionProtection", "false")
        )
        return False
    return protection


def _registry(reader: _Reader, allow_destroy: bool = False) -> RegistrySettings:
    domain = reader.optional_text(
        "mlflowDomainName",
        expected="a DNS name such as mlflow.example.com",
        example="mlflow.example.com",
        check=lambda v: bool(_DOMAIN.match(v)),
    )
    certificate = reader.optional_text(
        "mlflowCertificateArn",
        expected="the ARN of an ACM certificate in this region covering mlflowDomainName",
        example="arn:aws:acm:eu-west-1:111111111111:certificate/<id>",
        check=lambda v: bool(_ACM_ARN.match(v)),
    )
    if (domain is None) != (certificate is None):
        missing = "mlflowCertificateArn" if certificate is None else "mlflowDomainName"
        reader.errors.append(
            f"mlops:{missing}: expected it together with "
            f"{'mlops:mlflowDomainName' if missing.endswith('Arn') else 'mlops:mlflowCertificateArn'} (a custom "
            f"domain needs both), got nothing. Fix: {reader.set_command('mlops:' + missing, '<value>')}"
        )
        domain = certificate = None
    profile = cost_profiles.PROFILES[
        reader.text(
            cost_profiles.KEY,
            expected=f"one of {', '.join(cost_profiles.PROFILES)} (what each sets: Pulumi.tooling.yaml)",
            example=cost_profiles.DEFAULT,
            choices=tuple(cost_profiles.PROFILES),
            default=cost_profiles.DEFAULT,
        )
    ]
    # The profile supplies the defaults, so a key the user set explicitly keeps its value.
    return RegistrySettings(
        cost_profile=profile.name,
        fargate_spot=reader.boolean("mlflowFargateSpot", default=profile.fargate_spot),
        allowed_cidrs=reader.string_list(
            "mlflowAllowedCidrs",
            expected="a list of CIDR blocks such as 203.0.113.0/24",
            example="203.0.113.0/24",
            item=_is_cidr,
            required=False,
        ),
        domain_name=domain,
        certificate_arn=certificate,
        db_max_acu=reader.integer(  # type: ignore[arg-type]  # has a default
            "mlflowDbMaxAcu",
            expected="the most Aurora capacity units, 1 to 256",
            example=2,
            choices=range(1, 257),
            default=profile.db_max_acu,
        ),
        db_auto_pause_seconds=reader.integer(  # type: ignore[arg-type]  # has a default
            "mlflowDbAutoPauseSeconds",
            expected="seconds idle before Aurora pauses, 300 to 86400",
            example=300,
            choices=range(300, 86401),
            default=profile.db_auto_pause_seconds,
        ),
        db_deletion_protection=_deletion_protection(reader, allow_destroy),
        db_restore_snapshot=reader.optional_text(
            "mlflowDbRestoreSnapshot",
            expected="a DB cluster snapshot identifier (manual, or rds:... for an automated one) or its ARN",
            example="serverless-mlops-delivery-time-mlflow-20250201",
            check=lambda v: bool(_CLUSTER_SNAPSHOT.match(v)),
        ),
    )


def _tooling(reader: _Reader, project: str, target: Target) -> ToolingConfig:
    def model_name_fits(name: str) -> bool:
        return len(naming.longest_role_name(project, name)) <= naming.IAM_ROLE_NAME_MAX

    model_name = reader.text(
        "modelName",
        expected="a lower-case name of letters, digits and dashes, starting with a letter, short enough that "
        f"'{naming.longest_role_name(project, '<model>')}' fits IAM's {naming.IAM_ROLE_NAME_MAX} characters",
        example="delivery-time",
        pattern=_MODEL_NAME,
        check=model_name_fits,
    )
    architecture = reader.text(
        "architecture",
        expected=f"one of {', '.join(ARCHITECTURES)}",
        example="arm64",
        choices=ARCHITECTURES,
        default="arm64",
    )
    stage_account_id = _account_id(reader, "stageAccountId", "the stage AWS account", "234567890123")
    prod_account_id = _account_id(reader, "prodAccountId", "the prod AWS account", "345678901234")
    if stage_account_id == prod_account_id and _ACCOUNT_ID.match(stage_account_id):
        reader.errors.append(
            f"mlops:prodAccountId: expected an account other than stage's, got {prod_account_id!r} for both. "
            f"Fix: {reader.set_command('mlops:prodAccountId', '<prod account ID>')}"
        )
    channel_id = reader.text(
        "slackChannelId",
        expected="a Slack channel ID such as C0123456789 (channel details > About, at the bottom)",
        example="C0123456789",
        pattern=_SLACK_CHANNEL,
    )
    approvers = reader.string_list(
        "slackApprovers",
        expected="a non-empty list of Slack user IDs (U0123456789) or user-group IDs (S0123456789)",
        example="U0123456789",
        item=lambda v: bool(_SLACK_USER.match(v) or _SLACK_USER_GROUP.match(v)),
    )
    allow_destroy = reader.boolean("allowDestroy", default=False)
    slack = SlackSettings(
        channel_id=channel_id,
        approvers=approvers,
        team_id=reader.text(
            "slackTeamId",
            expected="the Slack workspace ID, such as T0123456789 (About this workspace)",
            example="T0123456789",
            pattern=_SLACK_TEAM,
        ),
        chatbot_enabled=reader.boolean("chatbotEnabled", default=False),
        app_id=reader.text(
            "slackAppId",
            expected="the Slack app's ID, such as A0123456789 (the app's Basic Information page)",
            example="A0123456789",
            pattern=_SLACK_APP,
        ),
        bot_token=reader.secret("slackBotToken", expected="the Slack app's bot token (xoxb-...)"),
        signing_secret=reader.secret("slackSigningSecret", expected="the Slack app's signing secret"),
    )
    return ToolingConfig(
        project=project,
        stack=reader.stack,
        target=target,
        model_name=model_name,
        architecture=architecture,
        stage_account_id=stage_account_id,
        prod_account_id=prod_account_id,
        slack=slack,
        log_retention_days=_log_retention(reader),
        images_to_keep=reader.integer(  # type: ignore[arg-type]  # has a default
            "imagesToKeep",
            expected="a number of model images from 5 to 1000",
            example=30,
            choices=range(5, 1001),
            default=30,
        ),
        registry=_registry(reader, allow_destroy),
        allow_destroy=allow_destroy,
        pipeline=PipelineSettings(
            approval_timeout_hours=reader.integer(  # type: ignore[arg-type]  # has a default
                "approvalTimeoutHours",
                expected="hours an approval waits in Slack, 1 to 720",
                example=24,
                choices=range(1, 721),
                default=24,
            ),
            canary_percent=reader.integer(  # type: ignore[arg-type]  # has a default
                "canaryPercent",
                expected="a share of prod traffic for the canary, 0 (none) to 99",
                example=10,
                choices=range(0, 100),
                default=0,
            ),
            canary_wait_minutes=reader.integer(  # type: ignore[arg-type]  # has a default
                "canaryWaitMinutes",
                expected="minutes the canary runs before the alarms decide, 5 to 120",
                example=10,
                choices=range(5, 121),
                default=10,
            ),
        ),
        budget=BudgetSettings(
            monthly_usd=reader.integer(  # type: ignore[arg-type]  # has a default
                "monthlyBudgetUsd",
                expected="a whole number of US dollars from 1 to 100000",
                example=60,
                choices=range(1, 100001),
                default=60,
            ),
            alert_emails=reader.string_list(
                "budgetAlertEmails",
                expected="a list of e-mail addresses",
                example="mlops-team@example.com",
                item=lambda v: bool(_EMAIL.match(v)),
                required=False,
            ),
        ),
    )


def _inference(reader: _Reader) -> InferenceSettings:
    memory = reader.integer(
        "inferenceMemoryMb",
        expected="Lambda memory in MB, 128 to 10240",
        example=1024,
        choices=range(128, 10241),
        default=1024,
    )
    timeout = reader.integer(
        "inferenceTimeoutSeconds",
        expected="a Lambda timeout in seconds, 1 to 900",
        example=30,
        choices=range(1, 901),
        default=30,
    )
    auth = reader.text(
        "functionUrlAuth",
        expected=f"one of {', '.join(FUNCTION_URL_AUTH)} (AWS_IAM: callers sign with SigV4)",
        example="AWS_IAM",
        choices=FUNCTION_URL_AUTH,
        default="AWS_IAM",
    )
    reserved = reader.integer(
        "reservedConcurrency",
        expected="a number of reserved concurrent executions, 0 to 1000, or unset",
        example=10,
        choices=range(0, 1001),
        default=None,
    )
    return InferenceSettings(
        memory_mb=memory,
        timeout_seconds=timeout,
        function_url_auth=auth,  # type: ignore[arg-type]
        reserved_concurrency=reserved,
    )


def _environment(reader: _Reader, project: str, role: Role, target: Target) -> EnvironmentConfig:
    tooling_stack = reader.text(
        "toolingStack",
        expected="the tooling stack's full name <organization>/<project>/<stack>",
        example=f"{pulumi.get_organization()}/{project}/tooling",
        pattern=_STACK_NAME,
        default=f"{pulumi.get_organization()}/{project}/tooling",
    )
    return EnvironmentConfig(
        project=project,
        stack=reader.stack,
        role=role,
        target=target,
        tooling_stack=tooling_stack,
        log_retention_days=_log_retention(reader),
        inference=_inference(reader),
    )


def load() -> StackConfig:
    """Read and validate this stack's configuration; raises ``pulumi.RunError`` listing every problem."""
    stack, project = pulumi.get_stack(), pulumi.get_project()
    reader = _Reader(stack)
    role = _role(reader)
    target = _target(reader)
    settings: StackConfig
    settings = _tooling(reader, project, target) if role == "tooling" else _environment(reader, project, role, target)
    reader.raise_if_any()
    return settings
