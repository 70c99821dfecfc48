"""The whole program, evaluated once per stack under Pulumi's mocks."""

from __future__ import annotations

import json

import pytest

from infra import contracts
from infra.contracts import ToolingOutput
from policy import rules
from tests.infra.harness import (
    MODEL,
    PROD_ACCOUNT,
    REGION,
    STAGE_ACCOUNT,
    TOOLING_ACCOUNT,
    default_tooling_outputs,
    environment_config,
    run_stack,
)

ACCOUNTS = {"tooling": TOOLING_ACCOUNT, "stage": STAGE_ACCOUNT, "prod": PROD_ACCOUNT}


def test_every_stack_passes_every_rule(stack_run):
    assert [str(v) for v in rules.check_all(stack_run.rule_inputs())] == []


def test_one_provider_pinned_to_the_stack_account_and_region(stack_run):
    provider = stack_run.one("pulumi:providers:aws")
    assert json.loads(provider.inputs["allowedAccountIds"]) == [ACCOUNTS[stack_run.stack]]
    assert provider.inputs["region"] == REGION


def test_default_tags_name_project_stack_model_and_pulumi(stack_run):
    provider = stack_run.one("pulumi:providers:aws")
    assert json.loads(provider.inputs["defaultTags"])["tags"] == {
        "project": "serverless-mlops",
        "stack": stack_run.stack,
        "model": MODEL,
        "managed-by": "pulumi",
    }


def test_every_aws_resource_uses_the_tagged_provider(stack_run):
    provider = stack_run.one("pulumi:providers:aws")
    reference = f"{provider.urn}::{provider.id}"
    strays = [r.name for r in stack_run if r.type.startswith("aws:") and r.provider != reference]
    assert strays == []


def test_tooling_exports_only_contract_names(stack_runs):
    exports = stack_runs["tooling"].exports
    assert set(exports) <= {o.value for o in ToolingOutput}
    assert exports[ToolingOutput.TOOLING_ACCOUNT_ID] == TOOLING_ACCOUNT
    assert exports[ToolingOutput.MODEL_NAME] == MODEL
    assert exports[ToolingOutput.ARCHITECTURE] == "arm64"


@pytest.mark.parametrize("stack", ["stage", "prod"])
def test_environments_read_the_tooling_stack_of_their_organization(stack_runs, stack):
    assert stack_runs[stack].stack_references == {"tooling": "acme/serverless-mlops/tooling"}


def test_tooling_stack_name_is_configurable():
    run = run_stack(
        "stage", environment_config(STAGE_ACCOUNT, **{"mlops:toolingStack": "organization/serverless-mlops/tooling-eu"})
    )
    assert run.stack_references == {"tooling": "organization/serverless-mlops/tooling-eu"}


def test_environment_tags_carry_the_model_name_read_from_tooling():
    run = run_stack(
        "prod",
        environment_config(PROD_ACCOUNT),
        tooling_outputs={**default_tooling_outputs(), "modelName": "churn"},
    )
    tags = json.loads(run.one("pulumi:providers:aws").inputs["defaultTags"])["tags"]
    assert tags["model"] == "churn"


def test_the_tooling_stack_creates_no_stack_reference(stack_runs):
    assert stack_runs["tooling"].stack_references == {}


def test_environments_cannot_require_outputs_meant_for_people():
    with pytest.raises(ValueError, match="mlflowTrackingUri is for people and CI"):
        contracts.require(object(), ToolingOutput.MLFLOW_TRACKING_URI)  # type: ignore[arg-type]


def test_contract_splits_consumed_from_informational_outputs():
    assert set(ToolingOutput) == contracts.CONSUMED_BY_ENVIRONMENTS | contracts.FOR_PEOPLE_AND_CI
    assert not contracts.CONSUMED_BY_ENVIRONMENTS & contracts.FOR_PEOPLE_AND_CI
    assert {o.value for o in contracts.FOR_PEOPLE_AND_CI} == {
        "mlflowTrackingUri",
        "mlflowCredentialsSecretArn",
        "stateMachineArn",
        "slackInteractionsUrl",
        "sourceRepositoryCloneUrl",
        "mlflowAdminSecretArn",
        "dashboardUrl",
        # The operations runbooks (README "Operations").
        "deployFunctionName",
        "promoteFunctionName",
        "notifyFunctionName",
        "mlflowDbClusterIdentifier",
        "mlflowArtifactBucketName",
        "trainingDataBucketName",
    }


def test_export_refuses_names_outside_the_contract():
    with pytest.raises(TypeError, match=r"not in infra\.contracts"):
        contracts.export("modelname", "x")  # type: ignore[arg-type]
