"""Stage and prod: the inference function, alias live, its URL, logs, alarms and the deployer role."""

from __future__ import annotations

import json

import pytest

from tests.infra.harness import (
    MODEL,
    PROD_ACCOUNT,
    REGION,
    STAGE_ACCOUNT,
    StackError,
    default_tooling_outputs,
    environment_config,
    run_stack,
)

FUNCTION = f"serverless-mlops-{MODEL}-inference"
ACCOUNTS = {"stage": STAGE_ACCOUNT, "prod": PROD_ACCOUNT}
TOOLING = default_tooling_outputs()


@pytest.fixture(params=["stage", "prod"])
def env_run(request, stack_runs):
    return stack_runs[request.param]


def function_of(run):
    return run.one("aws:lambda/function:Function")


def test_function_starts_from_the_bootstrap_image_on_a_numbered_version(env_run):
    function = function_of(env_run)
    assert function.inputs["name"] == FUNCTION
    assert function.inputs["packageType"] == "Image"
    assert function.inputs["imageUri"] == TOOLING["bootstrapImageUri"]
    assert function.inputs["architectures"] == ["arm64"]
    assert function.inputs["publish"] is True


def test_the_pipeline_owns_the_image_and_the_alias_after_creation(env_run):
    assert function_of(env_run).ignore_changes == ["imageUri"]
    alias = env_run.one("aws:lambda/alias:Alias")
    assert alias.inputs["name"] == "live" and alias.inputs["functionVersion"] == "1"
    assert sorted(alias.ignore_changes) == ["functionVersion", "routingConfig"]


def test_memory_timeout_and_concurrency_defaults(env_run):
    inputs = function_of(env_run).inputs
    assert inputs["memorySize"] == 1024 and inputs["timeout"] == 30
    assert "reservedConcurrentExecutions" not in inputs


def test_memory_timeout_and_concurrency_come_from_config():
    run = run_stack(
        "prod",
        environment_config(
            PROD_ACCOUNT,
            **{
                "mlops:inferenceMemoryMb": "2048",
                "mlops:inferenceTimeoutSeconds": "60",
                "mlops:reservedConcurrency": "5",
            },
        ),
    )
    inputs = function_of(run).inputs
    assert (inputs["memorySize"], inputs["timeout"], inputs["reservedConcurrentExecutions"]) == (2048, 60, 5)


def test_architecture_follows_the_tooling_stack():
    run = run_stack("stage", tooling_outputs={**TOOLING, "architecture": "x86_64"})
    assert function_of(run).inputs["architectures"] == ["x86_64"]


def test_log_group_with_retention_exists_before_the_function(env_run):
    log_group = env_run.one("aws:cloudwatch/logGroup:LogGroup")
    function = function_of(env_run)
    assert log_group.inputs["name"] == f"/aws/lambda/{FUNCTION}"
    assert log_group.inputs["retentionInDays"] == 30
    assert function.inputs["loggingConfig"]["logGroup"] == log_group.inputs["name"]
    assert log_group.urn in function.depends_on


def test_function_url_on_alias_live_with_iam_auth_by_default(env_run):
    url = env_run.one("aws:lambda/functionUrl:FunctionUrl")
    assert url.inputs["qualifier"] == "live" and url.inputs["authorizationType"] == "AWS_IAM"
    assert env_run.of_type("aws:lambda/permission:Permission") == []
    assert env_run.exports["inferenceUrl"].startswith("https://")


def test_a_public_url_grants_both_permissions_lambda_requires():
    run = run_stack("stage", environment_config(STAGE_ACCOUNT, **{"mlops:functionUrlAuth": "NONE"}))
    assert run.one("aws:lambda/functionUrl:FunctionUrl").inputs["authorizationType"] == "NONE"
    permissions = {p.inputs["action"]: p.inputs for p in run.of_type("aws:lambda/permission:Permission")}
    assert permissions["lambda:InvokeFunctionUrl"]["functionUrlAuthType"] == "NONE"
    assert permissions["lambda:InvokeFunction"]["invokedViaFunctionUrl"] is True
    assert all(p["principal"] == "*" and p["qualifier"] == "live" for p in permissions.values())


def test_alarms_on_errors_and_throttles_of_alias_live(env_run):
    alarms = {a.inputs["metricName"]: a.inputs for a in env_run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert set(alarms) == {"Errors", "Throttles"}
    for metric, alarm in alarms.items():
        assert alarm["name"] == f"{FUNCTION}-{metric.lower()}"
        assert alarm["namespace"] == "AWS/Lambda"
        assert alarm["dimensions"] == {"FunctionName": FUNCTION, "Resource": f"{FUNCTION}:live"}
        assert alarm["threshold"] == 1 and alarm["treatMissingData"] == "notBreaching"


def test_deployer_role_trusts_exactly_the_tooling_deploy_role(env_run):
    role = env_run.named("inference-deployer")
    assert role.inputs["name"] == f"serverless-mlops-{MODEL}-deployer"
    trust = json.loads(role.inputs["assumeRolePolicy"])
    [statement] = trust["Statement"]
    assert statement["Principal"] == {"AWS": TOOLING["deployFunctionRoleArn"]}
    assert statement["Action"] == "sts:AssumeRole" and statement["Effect"] == "Allow"
    assert ":root" not in role.inputs["assumeRolePolicy"]


def test_deployer_may_act_only_on_this_function_its_alarms_and_the_model_images(env_run):
    account = ACCOUNTS[env_run.stack]
    policy = json.loads(env_run.named("inference-deployer-permissions").inputs["policy"])
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    function_arn = f"arn:aws:lambda:{REGION}:{account}:function:{FUNCTION}"
    assert by_sid["DeployThisFunction"]["Resource"] == [function_arn, f"{function_arn}:*"]
    assert "lambda:UpdateFunctionCode" in by_sid["DeployThisFunction"]["Action"]
    assert "lambda:DeleteFunction" not in by_sid["DeployThisFunction"]["Action"]
    assert by_sid["ReadItsAlarms"]["Resource"] == [
        f"arn:aws:cloudwatch:{REGION}:{account}:alarm:{FUNCTION}-errors",
        f"arn:aws:cloudwatch:{REGION}:{account}:alarm:{FUNCTION}-throttles",
    ]
    assert by_sid["ReadModelImages"]["Resource"] == [TOOLING["ecrRepositoryArn"]]


def test_execution_role_only_writes_its_own_logs(env_run):
    policy = json.loads(env_run.named("inference-execution-logs").inputs["policy"])
    [statement] = policy["Statement"]
    assert statement["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert statement["Resource"] == [
        f"arn:aws:logs:{REGION}:{ACCOUNTS[env_run.stack]}:log-group:/aws/lambda/{FUNCTION}:log-stream:*"
    ]


def test_outputs(env_run):
    account = ACCOUNTS[env_run.stack]
    assert env_run.exports["inferenceFunctionName"] == FUNCTION
    assert env_run.exports["inferenceFunctionArn"] == f"arn:aws:lambda:{REGION}:{account}:function:{FUNCTION}"
    assert env_run.exports["inferenceAliasArn"] == f"arn:aws:lambda:{REGION}:{account}:function:{FUNCTION}:live"
    assert env_run.exports["deployerRoleArn"] == f"arn:aws:iam::{account}:role/serverless-mlops-{MODEL}-deployer"


def test_a_region_other_than_the_tooling_registry_fails_the_preview():
    with pytest.raises(StackError, match="aws:region: expected the tooling stack's region eu-west-1"):
        run_stack("stage", environment_config(STAGE_ACCOUNT, **{"aws:region": "us-east-1"}))
