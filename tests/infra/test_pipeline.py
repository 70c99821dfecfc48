"""Tooling: the state machine, the functions around it and the Slack approval endpoint, as deployed."""

from __future__ import annotations

import json

import pytest

from infra import workflow
from tests.infra.harness import MODEL, REGION, TOOLING_ACCOUNT, run_stack, tooling_config

PREFIX = f"serverless-mlops-{MODEL}"
STATE_MACHINE_ARN = f"arn:aws:states:{REGION}:{TOOLING_ACCOUNT}:stateMachine:{PREFIX}-pipeline"


@pytest.fixture
def tooling(stack_runs):
    return stack_runs["tooling"]


def policy_of(run, name):
    return json.loads(run.named(name).inputs["policy"])


def statements_by_sid(run, name):
    return {s["Sid"]: s for s in policy_of(run, name)["Statement"]}


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{TOOLING_ACCOUNT}:function:{PREFIX}-{name}"


def test_state_machine_is_standard_logged_and_traced(tooling):
    machine = tooling.one("aws:sfn/stateMachine:StateMachine").inputs
    assert machine["name"] == f"{PREFIX}-pipeline" and machine["type"] == "STANDARD"
    logging = machine["loggingConfiguration"]
    assert logging["level"] == "ALL" and logging["includeExecutionData"] is False
    assert logging["logDestination"].endswith(":log-group:/aws/vendedlogs/states/" + f"{PREFIX}-pipeline:*")
    assert machine["tracingConfiguration"] == {"enabled": True}
    assert tooling.exports["stateMachineArn"] == STATE_MACHINE_ARN


def test_definition_is_the_workflow_builders_and_builds_the_pushed_commit(tooling):
    definition = json.loads(tooling.one("aws:sfn/stateMachine:StateMachine").inputs["definition"])
    assert workflow.check_definition(definition) == []
    build = definition["States"]["Build"]["Parameters"]
    assert build["ProjectName"] == f"{PREFIX}-build"
    assert build["SourceVersion.$"] == "$.commit"
    invoked = {
        s["Parameters"]["FunctionName"]
        for s in definition["States"].values()
        if s.get("Type") == "Task" and "FunctionName" in s.get("Parameters", {})
    }
    assert invoked == {function_arn(n) for n in ("deploy", "promote", "request-approval", "notify", "deploy-lock")}
    assert definition["States"]["Approval"]["TimeoutSeconds"] == 24 * 3600


def test_canary_settings_reach_the_definition():
    run = run_stack(
        "tooling",
        tooling_config(
            **{"mlops:canaryPercent": "10", "mlops:canaryWaitMinutes": "15", "mlops:approvalTimeoutHours": "2"}
        ),
    )
    definition = json.loads(run.one("aws:sfn/stateMachine:StateMachine").inputs["definition"])
    assert definition["States"]["WaitCanary"]["Seconds"] == 15 * 60
    assert definition["States"]["Approval"]["TimeoutSeconds"] == 2 * 3600
    request = run.named("approval-request-function").inputs["environment"]["variables"]
    assert request["APPROVAL_TIMEOUT_SECONDS"] == str(2 * 3600)


def test_state_machine_may_invoke_only_the_pipeline_functions_and_its_build(tooling):
    by_sid = statements_by_sid(tooling, "pipeline-permissions")
    functions = [function_arn(n) for n in ("deploy", "request-approval", "promote", "notify", "deploy-lock")]
    assert sorted(by_sid["InvokePipelineFunctions"]["Resource"]) == sorted(
        [arn for f in functions for arn in (f, f"{f}:*")]
    )
    assert by_sid["RunTheBuild"]["Resource"] == [f"arn:aws:codebuild:{REGION}:{TOOLING_ACCOUNT}:project/{PREFIX}-build"]
    assert by_sid["WatchTheBuild"]["Resource"] == [
        f"arn:aws:events:{REGION}:{TOOLING_ACCOUNT}:rule/StepFunctionsGetEventForCodeBuildStartBuildRule"
    ]
    assert sorted(by_sid["WatchTheBuild"]["Action"]) == ["events:DescribeRule", "events:PutRule", "events:PutTargets"]


def test_a_push_reaches_the_start_function(tooling):
    rule = tooling.named("source-push-to-main")
    start = tooling.named("pipeline-start-function")
    target = tooling.named("pipeline-push-target")
    assert target.inputs["rule"] == rule.outputs["name"] and target.inputs["arn"] == start.outputs["arn"]
    permission = tooling.named("pipeline-start-on-push")
    assert permission.inputs["principal"] == "events.amazonaws.com"
    assert permission.inputs["sourceArn"] == rule.outputs["arn"]
    assert start.inputs["environment"]["variables"]["STATE_MACHINE_ARN"] == STATE_MACHINE_ARN
    by_sid = statements_by_sid(tooling, "pipeline-start-permissions")
    assert by_sid["StartRuns"]["Resource"] == [STATE_MACHINE_ARN]


def test_only_the_interactions_function_may_answer_a_waiting_run(tooling):
    answering = set()
    for resource in tooling.of_type("aws:iam/rolePolicy:RolePolicy"):
        for statement in json.loads(resource.inputs["policy"])["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if any(a.startswith("states:SendTask") for a in actions):
                answering.add(resource.name)
                assert statement["Resource"] == [STATE_MACHINE_ARN]
    assert answering == {"approval-interactions-permissions"}


def test_slack_clicks_arrive_over_https_at_one_throttled_route(tooling):
    route = tooling.named("approval-route")
    assert route.inputs["routeKey"] == "POST /slack/interactions"
    integration = tooling.named("approval-integration")
    assert integration.inputs["payloadFormatVersion"] == "2.0"
    assert integration.inputs["integrationUri"] == tooling.named("approval-interactions-function").outputs["arn"]
    stage = tooling.named("approval-stage").inputs
    assert stage["defaultRouteSettings"]["throttlingRateLimit"] == 10
    assert tooling.exports["slackInteractionsUrl"].startswith("https://")
    assert tooling.exports["slackInteractionsUrl"].endswith("/slack/interactions")


def test_slack_secrets_live_only_in_secrets_manager(tooling):
    # Marked secret (Pulumi's secret signature), so the value is encrypted in the state and masked in output.
    stored = tooling.named("approval-bot-token-value").inputs["secretString"]
    assert stored == {
        "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
        "value": "xoxb-test-bot-token",
    }
    for resource in tooling:
        if resource.type == "aws:secretsmanager/secretVersion:SecretVersion":
            continue
        flat = json.dumps(resource.inputs, default=str)
        assert "xoxb-test-bot-token" not in flat and "test-signing-secret" not in flat, resource.name
    interactions = tooling.named("approval-interactions-function").inputs["environment"]["variables"]
    assert interactions["SLACK_SIGNING_SECRET_ARN"].startswith("arn:aws:secretsmanager:")
    assert json.loads(interactions["SLACK_APPROVERS"]) == ["U0123456789", "S0ABCDEFGH1"]


def test_approvals_expire_from_the_table(tooling):
    table = tooling.named("approval-approvals").inputs
    assert table["hashKey"] == "approvalId" and table["billingMode"] == "PAY_PER_REQUEST"
    assert table["ttl"] == {"attributeName": "expiresAt", "enabled": True}
    assert table["serverSideEncryption"] == {"enabled": True}


def test_deploy_locks_live_in_their_own_table_that_only_the_lock_function_writes(tooling):
    table = tooling.named("pipeline-locks")
    assert table.inputs["hashKey"] == "lockId" and table.inputs["billingMode"] == "PAY_PER_REQUEST"
    assert table.inputs["ttl"] == {"attributeName": "expiresAt", "enabled": True}
    assert table.inputs["serverSideEncryption"] == {"enabled": True}
    lock = tooling.named("pipeline-deploy-lock-function").inputs
    assert lock["environment"]["variables"] == {"LOCK_TABLE_NAME": table.outputs["name"]}
    statement = statements_by_sid(tooling, "pipeline-deploy-lock-permissions")["HoldDeployLocks"]
    assert sorted(statement["Action"]) == ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem"]
    assert statement["Resource"] == [table.outputs["arn"]]
    writers = {
        resource.name
        for resource in tooling.of_type("aws:iam/rolePolicy:RolePolicy")
        for statement in json.loads(resource.inputs["policy"])["Statement"]
        if table.outputs["arn"] in statement["Resource"]
    }
    assert writers == {"pipeline-deploy-lock-permissions"}


def test_the_end_of_every_run_reaches_each_function_that_keeps_state_for_it(tooling):
    rule = tooling.named("notifications-status")
    pattern = json.loads(rule.inputs["eventPattern"])
    assert sorted(pattern["detail"]["status"]) == ["ABORTED", "FAILED", "SUCCEEDED", "TIMED_OUT"]
    targets = {
        target.inputs["arn"]
        for target in tooling.of_type("aws:cloudwatch/eventTarget:EventTarget")
        if target.inputs["rule"] == rule.outputs["name"]
    }
    functions = {
        tooling.named(f"{name}-function").outputs["arn"]
        for name in ("approval-request", "pipeline-deploy-lock", "pipeline-notify")
    }
    assert functions <= targets
    for key in ("approval", "deploy-lock", "notify"):
        permission = tooling.named(f"{key}-cleanup-invoke").inputs
        assert permission["principal"] == "events.amazonaws.com" and permission["sourceArn"] == rule.outputs["arn"]


def test_notify_may_read_only_this_pipelines_run_histories(tooling):
    statement = statements_by_sid(tooling, "pipeline-notify-permissions")["FindTheRunsThread"]
    assert statement["Action"] == ["states:GetExecutionHistory"]
    assert statement["Resource"] == [STATE_MACHINE_ARN.replace(":stateMachine:", ":execution:") + ":*"]
    assert tooling.named("pipeline-notify-function").inputs["environment"]["variables"]["MODEL_NAME"] == MODEL
