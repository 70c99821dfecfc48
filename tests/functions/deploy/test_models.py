"""The event, the settings, role session names and version descriptions: checked before any AWS call."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace
from typing import Any

import pytest

from functions.deploy import handler
from functions.deploy.errors import DeployConfigError, DeployInputError
from functions.deploy.models import (
    ImageRef,
    Settings,
    Target,
    load_settings,
    parse_description,
    parse_event,
    role_session_name,
    version_description,
)
from tests.functions.deploy.fake_aws import COMMIT, FUNCTION, REGION, REPOSITORY, TOOLING, execution_arn

DIGEST = "sha256:" + "ab" * 32
IMAGE = f"{TOOLING}.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}@{DIGEST}"
SETTINGS = Settings(
    targets={
        "stage": Target("stage", "arn:aws:iam::222222222222:role/deployer", FUNCTION, ("a",)),
        "prod": Target("prod", "arn:aws:iam::333333333333:role/deployer", FUNCTION, ("a",)),
    },
    model_repository=REPOSITORY,
    region=REGION,
)


def event(**fields: Any) -> dict[str, Any]:
    base = {
        "action": "deploy",
        "environment": "stage",
        "imageUri": IMAGE,
        "modelVersion": "7",
        "commit": COMMIT,
        "executionId": execution_arn("run-7"),
    }
    base.update(fields)
    return {key: value for key, value in base.items() if value is not None}


def test_a_deploy_event_is_read_into_a_typed_request() -> None:
    request = parse_event(event(), SETTINGS, own_account=TOOLING)

    assert (request.action, request.environment) == ("deploy", "stage")
    assert (request.model_version, request.commit) == ("7", COMMIT)
    assert request.image == ImageRef(IMAGE, TOOLING, REGION, REPOSITORY, DIGEST)
    assert request.execution_name == "run-7"
    assert request.canary_percent is None


def test_numbers_may_arrive_as_json_numbers() -> None:
    request = parse_event(
        event(action="promote", modelVersion=7, functionVersion=3, previousVersion=2, shiftedAt="2025-01-31T12:00:00Z"),
        SETTINGS,
    )

    assert (request.model_version, request.function_version, request.previous_version) == ("7", "3", "2")
    assert request.shifted_at is not None and request.shifted_at.utcoffset() is not None


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"action": None}, "action"),
        ({"action": "destroy"}, "action"),
        ({"environment": None}, "environment"),
        ({"environment": "dev"}, "environment"),
        ({"imageUri": None}, "imageUri"),
        ({"imageUri": f"{TOOLING}.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}:latest"}, "imageUri"),
        ({"imageUri": 42}, "imageUri"),
        ({"modelVersion": None}, "modelVersion"),
        ({"modelVersion": "seven"}, "modelVersion"),
        ({"modelVersion": True}, "modelVersion"),
        ({"modelVersion": "0"}, "modelVersion"),
        ({"commit": None}, "commit"),
        ({"commit": "main"}, "commit"),
        ({"executionId": None}, "executionId"),
        ({"executionId": "arn:aws:states:eu-west-1:111111111111:stateMachine:pipeline"}, "executionId"),
        ({"executionId": "has spaces"}, "executionId"),
        ({"canaryPercent": 0}, "canaryPercent"),
        ({"canaryPercent": 100}, "canaryPercent"),
        ({"canaryPercent": "ten"}, "canaryPercent"),
        ({"canaryPercent": True}, "canaryPercent"),
        ({"action": "shift", "functionVersion": "3"}, "canaryPercent"),
        ({"action": "shift", "canaryPercent": 10}, "functionVersion"),
        ({"action": "shift", "canaryPercent": 10, "functionVersion": "$LATEST"}, "functionVersion"),
        ({"action": "promote", "functionVersion": "3"}, "previousVersion"),
        ({"action": "promote", "functionVersion": "3", "previousVersion": "3"}, "previousVersion"),
        ({"action": "promote", "functionVersion": "3", "previousVersion": "2", "shiftedAt": "yesterday"}, "shiftedAt"),
        ({"action": "rollback", "imageUri": None, "previousVersion": "live"}, "previousVersion"),
    ],
)
def test_bad_fields_are_named(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(DeployInputError) as failure:
        parse_event(event(**fields), SETTINGS)

    assert str(failure.value).startswith(f"{field}: ")
    assert "expected" in str(failure.value) or "must differ" in str(failure.value)


def test_a_person_can_roll_back_with_only_the_environment() -> None:
    request = parse_event({"action": "rollback", "environment": "prod"}, SETTINGS, request_id="req-1")

    assert (request.action, request.environment) == ("rollback", "prod")
    assert request.image is None and request.model_version is None
    assert request.execution_id == "manual-req-1"


def test_the_event_must_be_an_object() -> None:
    with pytest.raises(DeployInputError, match=r"^event: expected a JSON object, got list"):
        parse_event([], SETTINGS)


def test_handler_raises_the_input_error_before_any_aws_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_REPOSITORY_NAME", REPOSITORY)
    monkeypatch.setenv(
        "DEPLOY_TARGETS",
        json.dumps(
            {"stage": {"roleArn": "arn:aws:iam::222222222222:role/d", "functionName": FUNCTION, "alarmNames": []}}
        ),
    )
    context = SimpleNamespace(aws_request_id="r", invoked_function_arn=f"arn:aws:lambda:{REGION}:{TOOLING}:function:d")

    with pytest.raises(DeployInputError, match=r"^modelVersion: missing"):
        handler.handler(event(modelVersion=None), context)


# ------------------------------------------------------------------------------------------------ settings


def valid_environ(**overrides: str) -> dict[str, str]:
    environ = {
        "MODEL_REPOSITORY_NAME": REPOSITORY,
        "AWS_REGION": REGION,
        "DEPLOY_TARGETS": json.dumps(
            {
                "stage": {
                    "roleArn": "arn:aws:iam::222222222222:role/serverless-mlops-delivery-time-deployer",
                    "functionName": FUNCTION,
                    "alarmNames": [f"{FUNCTION}-errors", f"{FUNCTION}-throttles"],
                }
            }
        ),
    }
    environ.update(overrides)
    return environ


def test_settings_have_documented_defaults() -> None:
    settings = load_settings(valid_environ())

    assert (settings.waiter_delay, settings.waiter_max_attempts, settings.retry_base_delay) == (5.0, 120, 1.0)
    assert settings.targets["stage"].account == "222222222222"
    assert settings.targets["stage"].alarm_names == (f"{FUNCTION}-errors", f"{FUNCTION}-throttles")
    assert load_settings(valid_environ(WAITER_DELAY_SECONDS="0")).waiter_delay == 0


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"MODEL_REPOSITORY_NAME": ""}, "MODEL_REPOSITORY_NAME"),
        ({"DEPLOY_TARGETS": ""}, "DEPLOY_TARGETS"),
        ({"DEPLOY_TARGETS": "{not json"}, "DEPLOY_TARGETS"),
        ({"DEPLOY_TARGETS": '{"dev": {}}'}, "DEPLOY_TARGETS"),
        ({"DEPLOY_TARGETS": '{"stage": {"functionName": "f"}}'}, "DEPLOY_TARGETS.stage.roleArn"),
        (
            {"DEPLOY_TARGETS": '{"stage": {"roleArn": "arn:aws:iam::222222222222:role/d", "functionName": "a b"}}'},
            "DEPLOY_TARGETS.stage.functionName",
        ),
        (
            {
                "DEPLOY_TARGETS": '{"stage": {"roleArn": "arn:aws:iam::222222222222:role/d", "functionName": "f", '
                '"alarmNames": "x"}}'
            },
            "DEPLOY_TARGETS.stage.alarmNames",
        ),
        ({"WAITER_MAX_ATTEMPTS": "0"}, "WAITER_MAX_ATTEMPTS"),
        ({"WAITER_DELAY_SECONDS": "soon"}, "WAITER_DELAY_SECONDS"),
        ({"RETRY_BASE_DELAY_SECONDS": "-1"}, "RETRY_BASE_DELAY_SECONDS"),
    ],
)
def test_bad_settings_name_the_variable(overrides: dict[str, str], variable: str) -> None:
    with pytest.raises(DeployConfigError, match=f"^{re.escape(variable)}: "):
        load_settings(valid_environ(**overrides))


def test_an_environment_missing_from_deploy_targets_is_a_config_error() -> None:
    settings = load_settings(valid_environ())

    with pytest.raises(DeployConfigError, match=r"DEPLOY_TARGETS: has no entry for environment 'prod'"):
        parse_event(event(environment="prod"), settings)


# ------------------------------------------------------------------------------------- session names


SAFE_SESSION = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)


@pytest.mark.parametrize(
    ("execution_id", "expected"),
    [
        (execution_arn("run-7"), "deploy-stage-run-7"),
        (f"arn:aws:states:{REGION}:{TOOLING}:express:pipeline:run-7:0f1e2d3c", "deploy-stage-run-7"),
        ("manual-req-1", "deploy-stage-manual-req-1"),
        (execution_arn("déploiement#7!"), "deploy-stage-d-ploiement-7-"),
    ],
)
def test_role_session_name_comes_from_the_execution_name(execution_id: str, expected: str) -> None:
    assert role_session_name("stage", execution_id) == expected


def test_long_session_names_are_cut_to_64_and_stay_distinct() -> None:
    first = role_session_name("prod", execution_arn("a" * 75 + "-1"))
    second = role_session_name("prod", execution_arn("a" * 75 + "-2"))

    assert SAFE_SESSION.fullmatch(first) and SAFE_SESSION.fullmatch(second)
    assert len(first) == len(second) == 64
    assert first != second
    assert first.startswith("deploy-prod-aaaa")


# ------------------------------------------------------------------------------------ descriptions


def test_version_description_carries_model_commit_execution_and_previous() -> None:
    description = version_description("7", COMMIT, "run-7", "3")

    assert description == f"model=7 commit={COMMIT} execution=run-7 previous=3"
    assert parse_description(description) == {"model": "7", "commit": COMMIT, "execution": "run-7", "previous": "3"}


def test_version_description_fits_lambdas_limit() -> None:
    description = version_description("123456", "f" * 64, "x" * 300, "12345")

    assert len(description) <= 256
    assert parse_description(description)["previous"] == "12345"
    assert parse_description(description)["model"] == "123456"


def test_descriptions_not_written_by_the_deploy_have_no_fields() -> None:
    assert parse_description("bootstrap image (managed by Pulumi)") == {}
    assert parse_description(None) == {}
