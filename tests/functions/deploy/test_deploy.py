"""The ``deploy`` action against a fake three-account AWS: what a user would check afterwards is where alias
``live`` points, which versions exist and how they are described, and which ECR tags protect the images."""

from __future__ import annotations

import json
import re

import pytest

from functions.deploy.actions import SMOKE_TEST_PAYLOAD
from functions.deploy.errors import (
    AliasChanged,
    DeployInputError,
    DeployTargetError,
    SmokeTestFailed,
    Superseded,
    UpdateFailed,
)
from tests.functions.deploy.fake_aws import (
    COMMIT,
    FUNCTION,
    PROD,
    REGION,
    REPOSITORY,
    STAGE,
    TOOLING,
    AwsError,
    Call,
    FakeAws,
    deployer_role_arn,
    execution_arn,
)


def assert_untouched(aws: FakeAws, environment: str, versions: tuple[str, ...] = ("1",)) -> None:
    assert aws.alias(environment)["version"] == "1"
    assert aws.alias(environment)["weights"] == {}
    assert tuple(aws.versions(environment)) == versions
    assert not [tag for tag in aws.live_tags() if tag.startswith(f"live-{environment}-")]


def test_deploys_to_stage_then_prod(aws: FakeAws) -> None:
    image = aws.push_image("7")

    stage = aws.run("deploy", "stage", image)

    assert stage == {
        "action": "deploy",
        "environment": "stage",
        "functionVersion": "2",
        "previousVersion": "1",
        "imageUri": image.uri,
        "liveVersion": "2",
        "noop": False,
        "protectedTag": "live-stage-2",
    }
    assert aws.alias("stage") == {"version": "2", "weights": {}, "revision": aws.alias("stage")["revision"]}
    assert aws.versions("stage")["2"] == f"model=7 commit={COMMIT} execution=run-7 previous=1"
    assert aws.image_of("stage", "2") == image.uri
    assert aws.image_of("stage", "1").endswith(":bootstrap")  # the old version keeps its image
    assert "live-stage-2" in aws.tags(image)
    # The smoke test called the numbered version with the documented request, before the alias moved.
    assert aws.smoke_calls("stage") == [Call(STAGE, FUNCTION, "2", SMOKE_TEST_PAYLOAD)]
    assert aws.alias("prod")["version"] == "1"  # prod waits for its own step

    prod = aws.run("deploy", "prod", image)

    assert (prod["functionVersion"], prod["previousVersion"], prod["liveVersion"]) == ("2", "1", "2")
    assert aws.alias("prod")["version"] == "2"
    assert aws.image_of("prod", "2") == image.uri
    assert aws.tags(image) == ["live-prod-2", "live-stage-2", "model-7-build-1"]
    assert [call.account for call in aws.inference.calls] == [STAGE, PROD]


def test_later_model_replaces_earlier_one_and_records_the_previous_version(aws: FakeAws) -> None:
    first, second = aws.push_image("7"), aws.push_image("8")
    aws.run("deploy", "stage", first)

    result = aws.run("deploy", "stage", second)

    assert (result["functionVersion"], result["previousVersion"]) == ("3", "2")
    assert aws.alias("stage")["version"] == "3"
    assert aws.versions("stage")["3"].endswith("execution=run-8 previous=2")
    assert aws.image_of("stage", "2") == first.uri  # version 2 still runs the first image, for a rollback
    assert aws.live_tags() == ["live-stage-2", "live-stage-3"]


@pytest.mark.parametrize(
    ("image_uri", "expected"),
    [
        (f"{TOOLING}.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}:7", "names a tag"),
        (f"{TOOLING}.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}:latest", "names a tag"),
        (f"{TOOLING}.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}", "a digest reference"),
        (f"{TOOLING}.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}:7@sha256:{'a' * 64}", "a digest reference"),
        (f"{TOOLING}.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}@sha256:{'a' * 63}", "a digest reference"),
        (f"{TOOLING}.dkr.ecr.{REGION}.amazonaws.com/other-repo@sha256:{'a' * 64}", "repository"),
        (f"{PROD}.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}@sha256:{'a' * 64}", "tooling account"),
        (f"{TOOLING}.dkr.ecr.us-east-1.amazonaws.com/{REPOSITORY}@sha256:{'a' * 64}", "eu-west-1"),
    ],
)
def test_refuses_anything_but_a_digest_of_the_model_repository(aws: FakeAws, image_uri: str, expected: str) -> None:
    event = aws.event("deploy", "stage", aws.push_image("7"), imageUri=image_uri)

    with pytest.raises(DeployInputError, match=r"^imageUri: .*" + re.escape(expected)):
        aws.call(event)

    assert_untouched(aws, "stage")
    assert aws.assumed == []  # refused before touching the stage account


def test_refuses_an_image_index(aws: FakeAws) -> None:
    index = aws.push_index("7")

    with pytest.raises(DeployInputError, match=r"imageUri: .*image index.*--provenance=false --sbom=false"):
        aws.run("deploy", "stage", index)

    assert_untouched(aws, "stage")
    assert aws.assumed == []


def test_refuses_a_digest_that_is_not_in_the_repository(aws: FakeAws) -> None:
    event = aws.event("deploy", "stage", aws.push_image("7"))
    event["imageUri"] = f"{TOOLING}.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}@sha256:{'e' * 64}"

    with pytest.raises(DeployInputError, match=rf"imageUri: sha256:e+ not found in {REPOSITORY}"):
        aws.call(event)

    assert_untouched(aws, "stage")


@pytest.mark.parametrize(
    ("behaviour", "why"),
    [
        ("crash", "the function raised RuntimeError: the model returned a non-finite prediction"),
        ("timeout", "the function timed out (.*Task timed out after 30.00 seconds)"),
        ("read_timeout", "no answer within 120 s"),
        ("bad_body", "the body is not a JSON string"),
        ("wrong_model", "the function serves model '6', expected '7'"),
    ],
)
def test_failed_smoke_test_leaves_the_alias_alone(aws: FakeAws, behaviour: str, why: str) -> None:
    image = aws.push_image("7", behaviour=behaviour)

    with pytest.raises(SmokeTestFailed) as failure:
        aws.run("deploy", "stage", image)

    assert re.search(f"smoke test of version 2 failed: {why}", str(failure.value))
    assert "Alias live was left on version 1" in str(failure.value)
    assert aws.alias("stage") == {"version": "1", "weights": {}, "revision": aws.alias("stage")["revision"]}
    assert aws.live_tags() == []  # the failed image is not protected from the lifecycle policy
    assert len(aws.smoke_calls("stage")) == 1  # invoked once, never retried


def test_failed_code_update_publishes_nothing(aws: FakeAws) -> None:
    image = aws.push_image("7", behaviour="update_fails")

    with pytest.raises(UpdateFailed, match=r"does not have permission to access the ECR image.*ImageAccessDenied"):
        aws.run("deploy", "stage", image)

    assert_untouched(aws, "stage")
    assert aws.smoke_calls("stage") == []


def test_update_in_progress_is_retried(aws: FakeAws) -> None:
    in_progress = AwsError(
        "ResourceConflictException",
        f"The operation cannot be performed at this time. An update is in progress for resource: {FUNCTION}",
        409,
    )
    aws.fail_next("update_function_code", in_progress, in_progress)

    result = aws.run("deploy", "stage", aws.push_image("7"))

    assert result["functionVersion"] == "2"
    assert aws.alias("stage")["version"] == "2"


def test_denied_assume_role_fails_fast(aws: FakeAws) -> None:
    aws.deny_assume("stage")

    with pytest.raises(DeployTargetError) as failure:
        aws.run("deploy", "stage", aws.push_image("7"))

    message = str(failure.value)
    assert f"cannot assume {deployer_role_arn('stage')} (AccessDenied" in message
    assert "trust policy" in message
    assert aws.assumed == [(deployer_role_arn("stage"), "deploy-stage-run-7")]  # once, not retried
    assert_untouched(aws, "stage")


def test_denied_call_names_the_role_the_action_and_the_function(aws: FakeAws) -> None:
    aws.fail_next(
        "update_function_code",
        AwsError(
            "AccessDeniedException",
            f"User: arn:aws:sts::{STAGE}:assumed-role/serverless-mlops-delivery-time-deployer/deploy-stage-run-7 is "
            "not authorized to perform: lambda:UpdateFunctionCode",
            403,
        ),
    )

    with pytest.raises(DeployTargetError) as failure:
        aws.run("deploy", "stage", aws.push_image("7"))

    assert f"lambda:UpdateFunctionCode on {FUNCTION} was denied to role {deployer_role_arn('stage')}" in str(
        failure.value
    )
    assert_untouched(aws, "stage")


def test_missing_function_is_a_target_error(aws: FakeAws) -> None:
    aws.client("prod").delete_function(FunctionName=FUNCTION)

    with pytest.raises(DeployTargetError, match=rf"prod: {FUNCTION}:live not found in account {PROD}.*stack deployed"):
        aws.run("deploy", "prod", aws.push_image("7"))


def test_redeploying_the_live_digest_is_a_noop(aws: FakeAws) -> None:
    image = aws.push_image("7")
    aws.run("deploy", "stage", image)
    revision = aws.alias("stage")["revision"]

    again = aws.call(aws.event("deploy", "stage", image, executionId=execution_arn("retry-of-run-7")))

    assert again["noop"] is True
    assert (again["functionVersion"], again["previousVersion"], again["liveVersion"]) == ("2", "1", "2")
    assert tuple(aws.versions("stage")) == ("1", "2")
    assert aws.alias("stage")["revision"] == revision
    assert len(aws.smoke_calls("stage")) == 1


def test_older_model_arriving_late_is_superseded(aws: FakeAws) -> None:
    older, newer = aws.push_image("7"), aws.push_image("8")
    aws.run("deploy", "stage", newer)

    with pytest.raises(Superseded, match=r"serves version 2 with model 8 .*newer than model 7"):
        aws.run("deploy", "stage", older)

    assert aws.alias("stage")["version"] == "2"
    assert aws.image_of("stage", "2") == newer.uri
    assert tuple(aws.versions("stage")) == ("1", "2")


def test_alias_moved_by_someone_else_during_the_deploy_is_left_alone(aws: FakeAws) -> None:
    previous, image = aws.push_image("6"), aws.push_image("7")
    aws.run("deploy", "stage", previous)  # version 2

    def operator_rolls_back(call: Call) -> None:  # while our smoke test runs, a person moves live to version 1
        if call.qualifier == "3":
            aws.client("stage").update_alias(FunctionName=FUNCTION, Name="live", FunctionVersion="1")

    aws.inference.on_invoke = operator_rolls_back

    with pytest.raises(AliasChanged, match=r"alias live of .* changed after it was read .*RevisionId"):
        aws.run("deploy", "stage", image)

    assert aws.alias("stage")["version"] == "1"  # the operator's choice stands
    assert "3" in aws.versions("stage")  # published and smoke-tested, but not live


def test_inactive_function_is_woken_before_the_update(aws: FakeAws) -> None:
    aws.set_state("stage", None, "Inactive")

    aws.run("deploy", "stage", aws.push_image("7"))

    assert aws.alias("stage")["version"] == "2"
    qualifiers = [call.qualifier for call in aws.smoke_calls("stage")]
    assert qualifiers == [None, "2"]  # one wake-up call of $LATEST, then the smoke test of version 2


def test_function_stuck_in_pending_fails_without_publishing(aws: FakeAws) -> None:
    aws.set_state("stage", None, "Pending")

    with pytest.raises(UpdateFailed, match=r"\$LATEST is still Pending .*alias live was not moved"):
        aws.run("deploy", "stage", aws.push_image("7"))

    assert_untouched(aws, "stage")


def test_role_session_name_is_safe_and_short(aws: FakeAws) -> None:
    name = "run-7-" + "x" * 70
    event = aws.event("deploy", "stage", aws.push_image("7"), executionId=execution_arn(name))

    aws.call(event)

    [(role, session)] = aws.assumed
    assert role == deployer_role_arn("stage")
    assert re.fullmatch(r"[\w+=,.@-]{2,64}", session, re.ASCII)
    assert session.startswith("deploy-stage-run-7-xxx")


def test_output_is_json_serialisable_for_step_functions(aws: FakeAws) -> None:
    result = aws.run("deploy", "stage", aws.push_image("7"), canaryPercent=10)

    assert json.loads(json.dumps(result)) == result
