"""Tooling: the deploy function may assume exactly the two deployer roles, which trust exactly its role."""

from __future__ import annotations

import json

import pytest

from tests.infra.harness import MODEL, PROD_ACCOUNT, REGION, STAGE_ACCOUNT, TOOLING_ACCOUNT, run_stack

ROLE_NAME = f"serverless-mlops-{MODEL}-deploy-function"
DEPLOYERS = [f"arn:aws:iam::{a}:role/serverless-mlops-{MODEL}-deployer" for a in (STAGE_ACCOUNT, PROD_ACCOUNT)]


@pytest.fixture
def tooling(stack_runs):
    return stack_runs["tooling"]


def test_role_has_a_fixed_name_and_is_exported(tooling):
    role = tooling.named("deploy-role")
    assert role.inputs["name"] == ROLE_NAME
    assert tooling.exports["deployFunctionRoleArn"] == f"arn:aws:iam::{TOOLING_ACCOUNT}:role/{ROLE_NAME}"
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}


def test_role_may_assume_only_the_two_deployer_roles(tooling):
    policy = json.loads(tooling.named("deploy-permissions").inputs["policy"])
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["AssumeDeployerRoles"] == {
        "Sid": "AssumeDeployerRoles",
        "Effect": "Allow",
        "Action": ["sts:AssumeRole"],
        "Resource": DEPLOYERS,
    }
    assert by_sid["TagLiveImages"]["Resource"] == [
        f"arn:aws:ecr:{REGION}:{TOOLING_ACCOUNT}:repository/serverless-mlops/{MODEL}"
    ]
    assert all(a.startswith(("sts:", "ecr:", "logs:")) for s in policy["Statement"] for a in s["Action"])


def test_function_knows_where_to_deploy(tooling):
    function = tooling.named("deploy-function").inputs
    assert function["handler"] == "functions.deploy.handler.handler"
    assert function["runtime"] == "python3.12" and function["architectures"] == ["arm64"]
    variables = function["environment"]["variables"]
    targets = json.loads(variables["DEPLOY_TARGETS"])
    inference = f"serverless-mlops-{MODEL}-inference"
    assert targets == {
        env: {
            "roleArn": role,
            "functionName": inference,
            "alarmNames": [f"{inference}-errors", f"{inference}-throttles"],
        }
        for env, role in zip(("prod", "stage"), reversed(DEPLOYERS), strict=True)
    }
    assert variables["MODEL_REPOSITORY_NAME"] == f"serverless-mlops/{MODEL}"


def test_function_logs_to_its_own_group_with_retention(tooling):
    log_group = tooling.named("deploy-logs")
    assert log_group.inputs["name"] == f"/aws/lambda/serverless-mlops-{MODEL}-deploy"
    assert log_group.inputs["retentionInDays"] == 30
    assert log_group.urn in tooling.named("deploy-function").depends_on


def test_stage_and_prod_built_from_the_tooling_outputs_match_what_tooling_deploys_to(tooling):
    """The contract end to end: tooling's exports feed the environments, whose names tooling predicted."""
    targets = json.loads(tooling.named("deploy-function").inputs["environment"]["variables"]["DEPLOY_TARGETS"])
    for environment in ("stage", "prod"):
        run = run_stack(environment, tooling_outputs=tooling.exports)
        assert run.exports["deployerRoleArn"] == targets[environment]["roleArn"]
        assert run.exports["inferenceFunctionName"] == targets[environment]["functionName"]
        alarms = sorted(a.inputs["name"] for a in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm"))
        assert alarms == sorted(targets[environment]["alarmNames"])
        trust = json.loads(run.named("inference-deployer").inputs["assumeRolePolicy"])
        assert trust["Statement"][0]["Principal"] == {"AWS": tooling.exports["deployFunctionRoleArn"]}
        assert run.one("aws:lambda/function:Function").inputs["imageUri"] == tooling.exports["bootstrapImageUri"]
