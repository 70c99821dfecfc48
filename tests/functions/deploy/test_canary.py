"""Canary (deploy with canaryPercent, shift, promote) and rollback, against the fake three-account AWS."""

from __future__ import annotations

import pytest

from functions.deploy.errors import AliasChanged, CanaryFailed, DeployInputError, DeployTargetError, Superseded
from tests.functions.deploy.fake_aws import ALARMS, FUNCTION, FakeAws, FakeImage


@pytest.fixture
def stage_on_model_7(aws: FakeAws) -> FakeImage:
    """Stage runs model 7 as version 2 (version 1 is the bootstrap image)."""
    image = aws.push_image("7")
    aws.run("deploy", "stage", image)
    return image


@pytest.fixture
def canary_of_model_8(aws: FakeAws, stage_on_model_7: FakeImage) -> tuple[FakeImage, dict]:
    """Model 8 published as version 3 and given 10 % of stage's traffic."""
    image = aws.push_image("8")
    return image, aws.run("deploy", "stage", image, canaryPercent=10)


def test_deploy_with_canary_publishes_tests_and_routes_a_share(
    aws: FakeAws, canary_of_model_8: tuple[FakeImage, dict]
) -> None:
    image, result = canary_of_model_8

    assert aws.alias("stage")["version"] == "2"
    assert aws.alias("stage")["weights"] == {"3": 0.1}
    assert (result["functionVersion"], result["previousVersion"], result["liveVersion"]) == ("3", "2", "2")
    assert result["canaryPercent"] == 10
    assert result["shiftedAt"].endswith("Z")
    assert "live-stage-3" in aws.tags(image)  # serving traffic, so protected
    assert [call.qualifier for call in aws.smoke_calls("stage")] == ["2", "3"]


def test_shift_changes_the_canary_share(aws: FakeAws, canary_of_model_8: tuple[FakeImage, dict]) -> None:
    image, _ = canary_of_model_8

    result = aws.run("shift", "stage", image, functionVersion="3", previousVersion="2", canaryPercent=50)

    assert aws.alias("stage")["version"] == "2"
    assert aws.alias("stage")["weights"] == {"3": 0.5}
    assert (result["functionVersion"], result["previousVersion"], result["canaryPercent"]) == ("3", "2", 50)
    again = aws.run("shift", "stage", image, functionVersion="3", previousVersion="2", canaryPercent=50)
    assert again["noop"] is True


def test_shift_refuses_a_version_that_does_not_run_the_image(
    aws: FakeAws, stage_on_model_7: FakeImage, canary_of_model_8: tuple[FakeImage, dict]
) -> None:
    with pytest.raises(DeployInputError, match=r"functionVersion: version 3 of .* runs sha256:.*not the imageUri's"):
        aws.run("shift", "stage", stage_on_model_7, functionVersion="3", previousVersion="2", canaryPercent=50)

    assert aws.alias("stage")["weights"] == {"3": 0.1}


def test_shift_then_promote(aws: FakeAws, canary_of_model_8: tuple[FakeImage, dict]) -> None:
    image, deployed = canary_of_model_8
    aws.put_errors("stage", "2", 4)  # errors of the old version do not count against the new one

    result = aws.run(
        "promote", "stage", image, functionVersion="3", previousVersion="2", shiftedAt=deployed["shiftedAt"]
    )

    assert aws.alias("stage")["version"] == "3"
    assert aws.alias("stage")["weights"] == {}
    assert (result["functionVersion"], result["previousVersion"], result["liveVersion"]) == ("3", "2", "3")
    assert result["canaryErrors"] == 0
    again = aws.run("promote", "stage", image, functionVersion="3", previousVersion="2")
    assert again["noop"] is True


def test_alarm_during_canary_fails_then_rollback_restores_previous(
    aws: FakeAws, canary_of_model_8: tuple[FakeImage, dict]
) -> None:
    image, _ = canary_of_model_8
    aws.set_alarm("stage", ALARMS[0])

    with pytest.raises(CanaryFailed, match=rf"alarm\(s\) in ALARM .*{ALARMS[0]}: Threshold Crossed"):
        aws.run("promote", "stage", image, functionVersion="3", previousVersion="2")
    assert aws.alias("stage")["weights"] == {"3": 0.1}  # promote changed nothing

    rolled = aws.run("rollback", "stage", image, functionVersion="3", previousVersion="2")

    assert aws.alias("stage")["version"] == "2"
    assert aws.alias("stage")["weights"] == {}
    assert (rolled["functionVersion"], rolled["previousVersion"], rolled["liveVersion"]) == ("3", "2", "2")
    assert rolled["imageUri"] == image.uri
    again = aws.run("rollback", "stage", image, functionVersion="3", previousVersion="2")
    assert again["noop"] is True
    assert aws.alias("stage")["version"] == "2"


def test_errors_of_the_new_version_fail_the_canary(aws: FakeAws, canary_of_model_8: tuple[FakeImage, dict]) -> None:
    image, _ = canary_of_model_8
    aws.put_errors("stage", "3", 2)

    with pytest.raises(CanaryFailed, match=r"version 3 had 2 error\(s\) behind alias live"):
        aws.run("promote", "stage", image, functionVersion="3", previousVersion="2")

    assert aws.alias("stage")["version"] == "2"
    assert aws.alias("stage")["weights"] == {"3": 0.1}


def test_missing_alarm_means_the_canary_cannot_be_judged(
    aws: FakeAws, canary_of_model_8: tuple[FakeImage, dict]
) -> None:
    image, _ = canary_of_model_8
    aws.client("stage", "cloudwatch").delete_alarms(AlarmNames=[ALARMS[1]])

    with pytest.raises(DeployTargetError, match=rf"alarm\(s\) {ALARMS[1]} not found"):
        aws.run("promote", "stage", image, functionVersion="3", previousVersion="2")


def test_promote_refuses_when_someone_rolled_back_meanwhile(
    aws: FakeAws, canary_of_model_8: tuple[FakeImage, dict]
) -> None:
    image, _ = canary_of_model_8
    aws.run("rollback", "stage")  # a person drops the canary

    with pytest.raises(AliasChanged, match=r"expected version 2 with a canary of version 3"):
        aws.run("promote", "stage", image, functionVersion="3", previousVersion="2")

    assert aws.alias("stage")["version"] == "2"
    assert aws.alias("stage")["weights"] == {}


def test_late_canary_of_an_older_model_is_superseded(aws: FakeAws) -> None:
    older, newer = aws.push_image("7"), aws.push_image("8")
    aws.run("deploy", "stage", newer)

    with pytest.raises(Superseded):
        aws.run("deploy", "stage", older, canaryPercent=10)

    assert aws.alias("stage")["weights"] == {}


def test_manual_rollback_steps_back_one_deploy_at_a_time(aws: FakeAws, stage_on_model_7: FakeImage) -> None:
    aws.run("deploy", "stage", aws.push_image("8"))  # version 3
    assert aws.alias("stage")["version"] == "3"

    first = aws.run("rollback", "stage")

    assert aws.alias("stage")["version"] == "2"
    assert (first["functionVersion"], first["previousVersion"], first["liveVersion"]) == ("3", "2", "2")
    assert first["restoredImageUri"] == stage_on_model_7.uri
    assert (first["modelVersion"], first["restoredModelVersion"]) == ("8", "7")  # where MLflow's alias goes back

    second = aws.run("rollback", "stage")
    assert aws.alias("stage")["version"] == "1"  # back to the bootstrap image
    assert second["modelVersion"] == "7" and "restoredModelVersion" not in second  # it serves no registered model

    with pytest.raises(DeployInputError, match=r"previousVersion: version 1 of .* records no previous version"):
        aws.run("rollback", "stage")
    assert aws.alias("stage")["version"] == "1"


def test_manual_rollback_with_the_version_is_safe_to_repeat(aws: FakeAws, stage_on_model_7: FakeImage) -> None:
    aws.run("deploy", "stage", aws.push_image("8"))  # version 3

    aws.run("rollback", "stage", functionVersion="3")
    again = aws.run("rollback", "stage", functionVersion="3")

    assert again["noop"] is True
    assert aws.alias("stage")["version"] == "2"


def test_manual_rollback_during_a_canary_drops_the_canary(
    aws: FakeAws, canary_of_model_8: tuple[FakeImage, dict]
) -> None:
    result = aws.run("rollback", "stage")

    assert aws.alias("stage")["version"] == "2"
    assert aws.alias("stage")["weights"] == {}
    assert (result["functionVersion"], result["liveVersion"]) == ("3", "2")


def test_rollback_refuses_to_undo_someone_elses_deploy(aws: FakeAws, stage_on_model_7: FakeImage) -> None:
    aws.run("deploy", "stage", aws.push_image("8"))  # version 3, then someone deploys model 9 as version 4
    aws.run("deploy", "stage", aws.push_image("9"))

    with pytest.raises(AliasChanged, match=r"does not involve version 3"):
        aws.run("rollback", "stage", functionVersion="3", previousVersion="2")

    assert aws.alias("stage")["version"] == "4"


def test_rollback_wakes_an_inactive_version_before_it_takes_traffic(aws: FakeAws, stage_on_model_7: FakeImage) -> None:
    aws.run("deploy", "stage", aws.push_image("8"))  # version 3
    aws.set_state("stage", "2", "Inactive")  # version 2 has not been called for weeks

    aws.run("rollback", "stage", functionVersion="3", previousVersion="2")

    assert aws.alias("stage")["version"] == "2"
    assert [call.qualifier for call in aws.smoke_calls("stage")][-1] == "2"  # the wake-up call
    state = aws.client("stage").get_function_configuration(FunctionName=FUNCTION, Qualifier="2")["State"]
    assert state == "Active"


def test_rollback_to_a_version_that_does_not_exist_names_it(aws: FakeAws, stage_on_model_7: FakeImage) -> None:
    with pytest.raises(DeployTargetError, match=rf"stage: {FUNCTION}:9 not found in account .*check the version"):
        aws.run("rollback", "stage", functionVersion="2", previousVersion="9")

    assert aws.alias("stage")["version"] == "2"
