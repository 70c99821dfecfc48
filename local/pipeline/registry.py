"""The tooling stack's functions, tables and event rules as the local cloud deploys them: the one place that
mirrors what ``infra/components/*.py`` give each function.

One ``FunctionSpec`` per function: its folder in ``functions/`` (the handler is
``infra.packaging.handler_name(folder)``, the code ``infra.packaging.source_files(folder)``), its name, the
environment the stack gives it (``environment``, built from the deployment's ``Resources``), what only a local
run adds (``local_environment``: the Slack stand-in's URL, short waits), its timeout and memory, the tables it
needs, the event rules that target it, and the account it lives in. ``key`` is the function's field in
``infra.workflow.WorkflowArns`` when the state machine invokes it, so ``workflow_arns`` builds that dataclass
from this list without naming its fields. Adding a function to the pipeline is one entry here.

The event rules mirror the stack's EventBridge rules: their patterns are the components' own functions
(``source_repo.push_pattern``, ``notifications.status_pattern``); their targets are the functions whose
``rules`` name them, plus the topics listed on the rule.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from infra import naming, packaging
from infra.components.deploy_function import MEMORY_MB as DEPLOY_MEMORY_MB
from infra.components.deploy_function import TIMEOUT_SECONDS as DEPLOY_TIMEOUT_SECONDS
from infra.components.deploy_function import DeployTarget, deploy_targets_json
from infra.components.notifications import status_pattern
from infra.components.slack_approval import INTERACTIONS_TIMEOUT_SECONDS
from infra.components.source_repo import push_pattern
from infra.workflow import WorkflowArns

PROJECT = "serverless-mlops"  # Pulumi.yaml's name: the stem of every physical name
BRANCH = "main"
PUSH_RULE = "push"
STATUS_RULE = "status"


@dataclass(frozen=True)
class Resources:
    """What a deployment created that the functions' environments name."""

    prefix: str
    model_name: str
    state_machine_arn: str
    deploy_targets: Mapping[str, DeployTarget]
    model_repository_name: str
    mlflow_credentials_secret_arn: str
    slack_bot_token_secret_arn: str
    slack_signing_secret_arn: str
    slack_channel_id: str
    slack_team_id: str
    slack_app_id: str
    slack_approvers: tuple[str, ...]
    approval_timeout_seconds: int
    mlflow_ui_url: str
    tables: Mapping[str, str]  # TableSpec.key -> table name
    # Local only.
    slack_api_url: str
    waiter_delay_seconds: float


@dataclass(frozen=True)
class TableSpec:
    key: str
    hash_key: str
    ttl_attribute: str | None = None

    def table_name(self, prefix: str) -> str:
        return f"{prefix}-{self.key}"


@dataclass(frozen=True)
class FunctionSpec:
    key: str
    folder: str
    name: Callable[[str], str]  # from the deployment's prefix
    environment: Callable[[Resources], Mapping[str, str]]
    local_environment: Callable[[Resources], Mapping[str, str]] = lambda _: {}
    timeout_seconds: int = 30  # PythonFunctionArgs' default
    memory_mb: int = 256
    tables: tuple[TableSpec, ...] = ()
    rules: tuple[str, ...] = ()
    account: str = "tooling"
    role_name: Callable[[str, str], str] | None = None  # (project, model) -> a fixed role name

    @property
    def handler(self) -> str:
        return packaging.handler_name(self.folder)


@dataclass(frozen=True)
class RuleSpec:
    key: str
    name: Callable[[str], str]
    description: str
    pattern: Callable[[Mapping[str, str]], dict[str, Any]]  # from {"repositoryArn", "stateMachineArn"}
    topics: tuple[str, ...] = ()  # TopicSpec keys that also receive the events


@dataclass(frozen=True)
class TopicSpec:
    key: str
    name: Callable[[str], str]


def _slack(resources: Resources) -> dict[str, str]:
    return {"SLACK_API_URL": resources.slack_api_url}


APPROVALS = TableSpec("approvals", "approvalId", ttl_attribute="expiresAt")
LOCKS = TableSpec("locks", "lockId", ttl_attribute="expiresAt")

FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec(  # infra/components/pipeline.py, "{name}-start"
        key="start",
        folder="start",
        name=lambda prefix: f"{prefix}-start",
        environment=lambda r: {"STATE_MACHINE_ARN": r.state_machine_arn},
        rules=(PUSH_RULE,),
    ),
    FunctionSpec(  # infra/components/deploy_function.py
        key="deploy",
        folder="deploy",
        name=lambda prefix: f"{prefix}-deploy",
        environment=lambda r: {
            "DEPLOY_TARGETS": deploy_targets_json(dict(r.deploy_targets)),
            "MODEL_REPOSITORY_NAME": r.model_repository_name,
        },
        # moto answers at once; the waiters only need to look, not to wait 5 s between looks.
        local_environment=lambda r: {
            "WAITER_DELAY_SECONDS": f"{r.waiter_delay_seconds:g}",
            "RETRY_BASE_DELAY_SECONDS": f"{r.waiter_delay_seconds:g}",
        },
        timeout_seconds=DEPLOY_TIMEOUT_SECONDS,
        memory_mb=DEPLOY_MEMORY_MB,
        role_name=naming.deploy_function_role_name,
    ),
    FunctionSpec(  # infra/components/pipeline.py, "{name}-promote"
        key="promote",
        folder="promote",
        name=lambda prefix: f"{prefix}-promote",
        environment=lambda r: {"MLFLOW_CREDENTIALS_SECRET_ARN": r.mlflow_credentials_secret_arn},
        timeout_seconds=120,
    ),
    FunctionSpec(  # infra/components/pipeline.py, "{name}-notify"
        key="notify",
        folder="notify",
        name=lambda prefix: f"{prefix}-notify",
        environment=lambda r: {
            "SLACK_BOT_TOKEN_SECRET_ARN": r.slack_bot_token_secret_arn,
            "SLACK_CHANNEL_ID": r.slack_channel_id,
            "MODEL_NAME": r.model_name,
        },
        local_environment=_slack,
        rules=(STATUS_RULE,),
    ),
    FunctionSpec(  # infra/components/pipeline.py, "{name}-deploy-lock"; infra/stacks/tooling.py cleanup target
        key="lock",
        folder="deploy_lock",
        name=lambda prefix: f"{prefix}-deploy-lock",
        environment=lambda r: {"LOCK_TABLE_NAME": r.tables[LOCKS.key]},
        tables=(LOCKS,),
        rules=(STATUS_RULE,),
    ),
    FunctionSpec(  # infra/components/slack_approval.py, "{name}-request"; infra/stacks/tooling.py cleanup target
        key="request_approval",
        folder="request_approval",
        name=lambda prefix: f"{prefix}-request-approval",
        environment=lambda r: {
            "APPROVALS_TABLE": r.tables[APPROVALS.key],
            "SLACK_BOT_TOKEN_SECRET_ARN": r.slack_bot_token_secret_arn,
            "SLACK_CHANNEL_ID": r.slack_channel_id,
            "APPROVAL_TIMEOUT_SECONDS": str(r.approval_timeout_seconds),
            "MLFLOW_UI_URL": r.mlflow_ui_url,
        },
        local_environment=_slack,
        timeout_seconds=60,
        tables=(APPROVALS,),
        rules=(STATUS_RULE,),
    ),
    FunctionSpec(  # infra/components/slack_approval.py, "{name}-interactions" behind the HTTP API
        key="slack_interactions",
        folder="slack_interactions",
        name=lambda prefix: f"{prefix}-slack-interactions",
        environment=lambda r: {
            "APPROVALS_TABLE": r.tables[APPROVALS.key],
            "SLACK_SIGNING_SECRET_ARN": r.slack_signing_secret_arn,
            "SLACK_BOT_TOKEN_SECRET_ARN": r.slack_bot_token_secret_arn,
            "SLACK_TEAM_ID": r.slack_team_id,
            "SLACK_APP_ID": r.slack_app_id,
            "SLACK_APPROVERS": json.dumps(list(r.slack_approvers)),
        },
        local_environment=_slack,
        timeout_seconds=INTERACTIONS_TIMEOUT_SECONDS,
        memory_mb=512,
        tables=(APPROVALS,),
    ),
)

TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec("pipeline-status", lambda prefix: f"{prefix}-pipeline-status"),  # infra/components/notifications.py
)

RULES: tuple[RuleSpec, ...] = (
    RuleSpec(  # infra/components/source_repo.py
        key=PUSH_RULE,
        name=lambda prefix: f"{prefix}-push-to-{BRANCH}",
        description=f"A push to {BRANCH} starts the pipeline",
        pattern=lambda arns: push_pattern(arns["repositoryArn"], BRANCH),
    ),
    RuleSpec(  # infra/components/notifications.py (+ the approval cleanup target of infra/stacks/tooling.py)
        key=STATUS_RULE,
        name=lambda prefix: f"{prefix}-pipeline-status",
        description="A pipeline run ended: failed, timed out, stopped or succeeded",
        pattern=lambda arns: status_pattern(arns["stateMachineArn"]),
        topics=("pipeline-status",),
    ),
)


def function(key: str) -> FunctionSpec:
    for spec in FUNCTIONS:
        if spec.key == key:
            return spec
    raise KeyError(f"no function {key!r} in local/pipeline/registry.py (known: {', '.join(f.key for f in FUNCTIONS)})")


def tables() -> list[TableSpec]:
    """Every table some function needs, once."""
    seen: dict[str, TableSpec] = {}
    for spec in FUNCTIONS:
        for table in spec.tables:
            seen.setdefault(table.key, table)
    return list(seen.values())


def rule_targets(rule: str) -> list[FunctionSpec]:
    return [spec for spec in FUNCTIONS if rule in spec.rules]


def workflow_arns(arns: Mapping[str, str]) -> WorkflowArns:
    """``WorkflowArns`` from function ARNs keyed by ``FunctionSpec.key``: every field must have a function."""
    names = [f.name for f in fields(WorkflowArns)]
    missing = [name for name in names if name not in arns]
    if missing:
        raise KeyError(
            f"the workflow invokes {', '.join(missing)}, which local/pipeline/registry.py does not deploy: add a "
            "FunctionSpec whose key is that WorkflowArns field"
        )
    return WorkflowArns(**{name: arns[name] for name in names})
