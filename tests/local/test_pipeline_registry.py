"""The local pipeline deploys what the tooling stack deploys: its registry is checked against the stack itself
(the whole program under Pulumi's mocks), so a function, variable or rule target added to infra/ and not to
local/pipeline/registry.py fails here, naming what is missing."""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

import pytest
from moto.events.models import EventPattern

from infra.workflow import WorkflowArns
from local.pipeline import registry
from local.pipeline.eventbridge import status_event
from local.pipeline.source import Commit, push_event
from tests.infra.harness import MODEL, StackRun, run_stack

PREFIX = f"{registry.PROJECT}-{MODEL}"
FUNCTION = "aws:lambda/function:Function"


@pytest.fixture(scope="module")
def tooling() -> StackRun:
    return run_stack("tooling")


def stack_functions(tooling: StackRun) -> dict[str, dict[str, Any]]:
    return {str(f.inputs["name"]): f.inputs for f in tooling.of_type(FUNCTION)}


def test_every_function_of_the_stack_is_deployed_locally_with_its_handler_limits_and_variables(tooling):
    deployed = stack_functions(tooling)
    local = {spec.name(PREFIX): spec for spec in registry.FUNCTIONS}
    assert sorted(local) == sorted(deployed), "local/pipeline/registry.py must list the stack's functions"
    for name, spec in local.items():
        inputs = deployed[name]
        assert spec.handler == inputs["handler"], name
        assert (spec.timeout_seconds, spec.memory_mb) == (inputs["timeout"], inputs["memorySize"]), name
        stack_variables = sorted((inputs.get("environment") or {}).get("variables", {}))
        assert sorted(spec.environment(_resources())) == stack_variables, name


def test_the_rules_target_the_same_functions_and_topics_as_the_stacks_rules(tooling):
    rule_of_source = {"aws.codecommit": registry.PUSH_RULE, "aws.states": registry.STATUS_RULE}
    stack_rules = {
        str(r.outputs["name"]): rule_of_source[json.loads(r.inputs["eventPattern"])["source"][0]]
        for r in tooling.of_type("aws:cloudwatch/eventRule:EventRule")
    }
    stack_targets: dict[str, set[str]] = {}
    for target in tooling.of_type("aws:cloudwatch/eventTarget:EventTarget"):
        name = str(target.inputs["arn"]).rsplit(":", 1)[-1]
        stack_targets.setdefault(stack_rules[target.inputs["rule"]], set()).add(name)
    topics = {topic.key: topic.name(PREFIX) for topic in registry.TOPICS}
    local_targets = {
        rule.key: {spec.name(PREFIX) for spec in registry.rule_targets(rule.key)} | {topics[t] for t in rule.topics}
        for rule in registry.RULES
    }
    assert local_targets == stack_targets


def test_the_workflow_arns_come_from_the_registry_field_by_field():
    arns = {spec.key: f"arn:aws:lambda:eu-west-1:123456789012:function:{spec.key}" for spec in registry.FUNCTIONS}
    built = registry.workflow_arns(arns)
    assert {f.name: getattr(built, f.name) for f in fields(WorkflowArns)} == {
        f.name: arns[f.name] for f in fields(WorkflowArns)
    }
    with pytest.raises(KeyError, match="the workflow invokes deploy"):
        registry.workflow_arns({k: v for k, v in arns.items() if k != "deploy"})


def _matches(rule_key: str, event: dict[str, Any], arns: dict[str, str]) -> bool:
    rule = next(r for r in registry.RULES if r.key == rule_key)
    return EventPattern.load(json.dumps(rule.pattern(arns))).matches_event(event)


def test_a_push_event_matches_the_push_rule_only_for_the_branch():
    arns = {"repositoryArn": "arn:aws:codecommit:eu-west-1:123456789012:delivery-time", "stateMachineArn": "x"}
    commit = Commit(sha="a" * 40, parent=None, branch="main", author="someone")
    event = push_event(
        commit=commit,
        repository_name="delivery-time",
        repository_arn=arns["repositoryArn"],
        repository_id="id",
        account_id="123456789012",
        region="eu-west-1",
        caller="arn:aws:iam::123456789012:user/someone",
    )
    assert event["detail"]["event"] == "referenceCreated"
    assert _matches(registry.PUSH_RULE, event, arns)
    other_branch = {**event, "detail": {**event["detail"], "referenceName": "feature"}}
    assert not _matches(registry.PUSH_RULE, other_branch, arns)


@pytest.mark.parametrize(
    ("status", "delivered"),
    [("RUNNING", False), ("SUCCEEDED", True), ("FAILED", True), ("TIMED_OUT", True), ("ABORTED", True)],
)
def test_a_status_event_reaches_the_status_rule_when_a_run_ends(status, delivered):
    machine = f"arn:aws:states:eu-west-1:123456789012:stateMachine:{PREFIX}-pipeline"
    execution = {
        "executionArn": machine.replace(":stateMachine:", ":execution:") + ":run-1",
        "stateMachineArn": machine,
        "name": "run-1",
        "status": status,
        "input": "{}",
        "error": "Superseded" if status == "ABORTED" else None,
    }
    event = status_event(execution, "123456789012", "eu-west-1")
    assert event["detail"]["status"] == status and event["resources"] == [execution["executionArn"]]
    assert _matches(registry.STATUS_RULE, event, {"repositoryArn": "x", "stateMachineArn": machine}) is delivered


def _resources() -> registry.Resources:
    return registry.Resources(
        prefix=PREFIX,
        model_name=MODEL,
        state_machine_arn="arn",
        deploy_targets={},
        model_repository_name="repo",
        mlflow_credentials_secret_arn="arn",
        slack_bot_token_secret_arn="arn",
        slack_signing_secret_arn="arn",
        slack_channel_id="C0123456789",
        slack_team_id="T0123456789",
        slack_app_id="A0123456789",
        slack_approvers=("U0123456789",),
        approval_timeout_seconds=600,
        mlflow_ui_url="http://127.0.0.1:5000",
        tables={table.key: table.table_name(PREFIX) for table in registry.tables()},
        slack_api_url="http://127.0.0.1:1/api/",
        waiter_delay_seconds=0,
    )
