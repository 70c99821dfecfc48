"""The boto3 layer, with botocore's Stubber where moto does not enforce a behaviour: exact request parameters
(RevisionId, CodeSha256, routing, metric dimensions, accepted media types) and exact AWS error codes."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber

from functions.common.logging import Logger
from functions.deploy import lambda_api
from functions.deploy.errors import AliasChanged, ConcurrentDeploy, DeployTargetError
from functions.deploy.models import ImageRef, Settings, Target
from tests.functions.deploy.fake_aws import FUNCTION, REGION, REPOSITORY, TOOLING

ROLE = "arn:aws:iam::222222222222:role/serverless-mlops-delivery-time-deployer"
SESSION = "deploy-stage-run-7"
TARGET = Target("stage", ROLE, FUNCTION, ())
SETTINGS = Settings(
    targets={"stage": TARGET},
    model_repository=REPOSITORY,
    region=REGION,
    waiter_delay=0,
    waiter_max_attempts=1,
    retry_base_delay=0,
    retry_max_attempts=4,
)
DIGEST = "sha256:" + "cd" * 32
IMAGE = ImageRef(f"{TOOLING}.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}@{DIGEST}", TOOLING, REGION, REPOSITORY, DIGEST)


def quiet() -> Logger:
    return Logger("test", stream=io.StringIO())


def client(service: str) -> object:
    return boto3.client(service, region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")


@pytest.fixture
def stubs() -> Iterator[dict[str, Stubber]]:
    """A LambdaTarget whose assumed-role clients are stubbed (the role counts as already assumed)."""
    lambda_api.clear_caches()
    clients = {"lambda": client("lambda"), "cloudwatch": client("cloudwatch")}
    clients["invoke"] = clients["lambda"]
    lambda_api._ASSUMED[(ROLE, SESSION)] = lambda_api._AssumedRole(
        credentials={}, expires=datetime.now(UTC) + timedelta(hours=1), clients=clients
    )
    stubbers = {name: Stubber(c) for name, c in clients.items() if name != "invoke"}
    for stubber in stubbers.values():
        stubber.activate()
    yield stubbers
    for stubber in stubbers.values():
        stubber.assert_no_pending_responses()
        stubber.deactivate()
    lambda_api.clear_caches()


def target() -> lambda_api.LambdaTarget:
    return lambda_api.LambdaTarget(TARGET, SESSION, SETTINGS, quiet())


# ------------------------------------------------------------------------------------------------ retries


def throttled(operation: str = "UpdateAlias", code: str = "TooManyRequestsException") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "Rate exceeded"}}, operation)


def test_throttling_is_retried_with_exponential_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr(lambda_api.time, "sleep", sleeps.append)
    settings = Settings(targets={}, model_repository=REPOSITORY, retry_base_delay=1, retry_max_attempts=4)
    answers: list[object] = [throttled(), throttled(code="ThrottlingException"), "done"]

    def operation(**_: object) -> object:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert lambda_api._call(operation, settings, quiet()) == "done"
    assert len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0


def test_retries_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lambda_api.time, "sleep", lambda _: None)
    calls: list[int] = []

    def operation(**_: object) -> object:
        calls.append(1)
        raise throttled()

    with pytest.raises(ClientError, match="TooManyRequestsException"):
        lambda_api._call(operation, SETTINGS, quiet())
    assert len(calls) == SETTINGS.retry_max_attempts


def test_access_denied_is_not_retried(stubs: dict[str, Stubber]) -> None:
    stubs["lambda"].add_client_error(
        "get_alias",
        service_error_code="AccessDeniedException",
        service_message="not authorized to perform: lambda:GetAlias",
        http_status_code=403,
    )

    with pytest.raises(DeployTargetError, match=f"lambda:GetAlias on {FUNCTION}:live was denied to role {ROLE}"):
        target().get_alias()


# ------------------------------------------------------------------------------------- exact requests


def test_publish_sends_the_code_hash_and_revision_and_reports_a_concurrent_change(stubs: dict[str, Stubber]) -> None:
    stubs["lambda"].add_client_error(
        "publish_version",
        service_error_code="PreconditionFailedException",
        service_message="The Revision Id provided does not match the latest Revision Id.",
        http_status_code=412,
        expected_params={
            "FunctionName": FUNCTION,
            "Description": "model=7",
            "CodeSha256": "c0de",
            "RevisionId": "rev-after-update",
        },
    )

    with pytest.raises(ConcurrentDeploy, match=r"\$LATEST changed .*Nothing was published"):
        target().publish_version("model=7", "c0de", "rev-after-update")


def test_alias_update_sends_the_revision_read_earlier_and_clears_routing(stubs: dict[str, Stubber]) -> None:
    stubs["lambda"].add_response(
        "update_alias",
        {"FunctionVersion": "3", "Name": "live", "RevisionId": "rev-2"},
        expected_params={
            "FunctionName": FUNCTION,
            "Name": "live",
            "FunctionVersion": "3",
            "RoutingConfig": {"AdditionalVersionWeights": {}},
            "RevisionId": "rev-1",
        },
    )
    stubs["lambda"].add_client_error(
        "update_alias", service_error_code="PreconditionFailedException", http_status_code=412
    )

    target().update_alias("3", {}, "rev-1")
    with pytest.raises(AliasChanged, match="changed after it was read"):
        target().update_alias("3", {}, "rev-1")


def test_canary_errors_are_read_for_the_new_version_behind_the_alias(stubs: dict[str, Stubber]) -> None:
    dimensions = [
        {"Name": "FunctionName", "Value": FUNCTION},
        {"Name": "Resource", "Value": f"{FUNCTION}:live"},
        {"Name": "ExecutedVersion", "Value": "3"},
    ]
    query = {
        "Id": "errors",
        "MetricStat": {
            "Metric": {"Namespace": "AWS/Lambda", "MetricName": "Errors", "Dimensions": dimensions},
            "Period": 60,
            "Stat": "Sum",
        },
        "ReturnData": True,
    }
    page = {"MetricDataQueries": [query], "StartTime": ANY, "EndTime": ANY}
    stubs["cloudwatch"].add_response(
        "get_metric_data",
        {"MetricDataResults": [{"Id": "errors", "Values": [1.0, 0.0]}], "NextToken": "page-2"},
        expected_params=page,
    )
    stubs["cloudwatch"].add_response(
        "get_metric_data",
        {"MetricDataResults": [{"Id": "errors", "Values": [2.0]}]},
        expected_params={**page, "NextToken": "page-2"},
    )
    now = datetime(2025, 1, 31, 12, 30, 45, tzinfo=UTC)

    assert target().sum_errors("3", now - timedelta(minutes=10), now) == 3.0


def test_version_info_prefers_the_deployed_digest(stubs: dict[str, Stubber]) -> None:
    stubs["lambda"].add_response(
        "get_function",
        {
            "Configuration": {
                "Version": "3",
                "Description": "model=8 commit=abc1234 execution=run-8 previous=2",
                "State": "Active",
                "LastModified": "2025-01-31T12:00:00.000+0000",
            },
            "Code": {"ImageUri": IMAGE.uri, "ResolvedImageUri": IMAGE.uri},
        },
        expected_params={"FunctionName": FUNCTION, "Qualifier": "3"},
    )

    info = target().get_version("3")

    assert (info.version, info.digest, info.model_version, info.fields["previous"]) == ("3", DIGEST, 8, "2")
    assert info.last_modified == datetime(2025, 1, 31, 12, 0, tzinfo=UTC)


# --------------------------------------------------------------------------------------------------- ECR


@pytest.fixture
def ecr(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    ecr_client = client("ecr")
    monkeypatch.setattr(lambda_api, "tooling_client", lambda service: ecr_client)
    with Stubber(ecr_client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


MANIFEST = '{"schemaVersion": 2}'
OCI = "application/vnd.oci.image.manifest.v1+json"


def expect_batch_get(ecr: Stubber) -> None:
    ecr.add_response(
        "batch_get_image",
        {"images": [{"imageManifest": MANIFEST, "imageManifestMediaType": OCI, "imageId": {"imageDigest": DIGEST}}]},
        expected_params={
            "repositoryName": REPOSITORY,
            "registryId": TOOLING,
            "imageIds": [{"imageDigest": DIGEST}],
            "acceptedMediaTypes": list(lambda_api.MANIFEST_MEDIA_TYPES),
        },
    )


def put(tag: str) -> dict[str, object]:
    return {
        "repositoryName": REPOSITORY,
        "registryId": TOOLING,
        "imageManifest": MANIFEST,
        "imageManifestMediaType": OCI,
        "imageTag": tag,
        "imageDigest": DIGEST,
    }


def test_protect_retags_the_same_manifest(ecr: Stubber) -> None:
    expect_batch_get(ecr)
    ecr.add_response("put_image", {"image": {"imageId": {"imageDigest": DIGEST}}}, expected_params=put("live-stage-3"))

    assert lambda_api.EcrRegistry(SETTINGS, quiet()).protect(IMAGE, "live-stage-3") == "live-stage-3"


def test_protect_accepts_the_tag_already_on_this_digest(ecr: Stubber) -> None:
    expect_batch_get(ecr)
    ecr.add_client_error("put_image", service_error_code="ImageTagAlreadyExistsException")
    ecr.add_response("describe_images", {"imageDetails": [{"imageDigest": DIGEST, "imageTags": ["live-stage-3"]}]})

    assert lambda_api.EcrRegistry(SETTINGS, quiet()).protect(IMAGE, "live-stage-3") == "live-stage-3"


def test_protect_falls_back_to_a_digest_suffixed_tag(ecr: Stubber) -> None:
    expect_batch_get(ecr)
    ecr.add_client_error("put_image", service_error_code="ImageTagAlreadyExistsException")
    ecr.add_response("describe_images", {"imageDetails": [{"imageDigest": "sha256:" + "ee" * 32}]})
    ecr.add_response(
        "put_image", {"image": {"imageId": {"imageDigest": DIGEST}}}, expected_params=put("live-stage-3-cdcdcdcdcdcd")
    )

    assert lambda_api.EcrRegistry(SETTINGS, quiet()).protect(IMAGE, "live-stage-3") == "live-stage-3-cdcdcdcdcdcd"


def test_lambda_time_stamps_are_parsed() -> None:
    assert lambda_api._parse_time("2025-01-31T12:00:00.000+0000") == datetime(2025, 1, 31, 12, tzinfo=UTC)
    assert lambda_api._parse_time("2025-01-31T12:00:00.123456") == datetime(2025, 1, 31, 12, 0, 0, 123456, tzinfo=UTC)
    assert lambda_api._parse_time("not a time") is None
