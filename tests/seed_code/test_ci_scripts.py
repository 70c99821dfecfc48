"""The build's Python steps: fetch a registered model for the image, resolve the pushed digest, tag the version."""

from __future__ import annotations

import json

import boto3
import inference
import mlflow
import mlflow.sklearn
import pytest
from ci import fetch_model, resolve_image, tag_model
from model_files import SKOPS_TRUSTED_TYPES
from moto import mock_aws
from sklearn.ensemble import GradientBoostingRegressor

from functions.deploy.models import ImageRef

RECORD = {"PORT_LOAD_LAT": 31.23, "PORT_LOAD_LONG": 121.47, "PORT_DEL_LAT": 51.95, "PORT_DEL_LONG": 4.14}
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DIGEST = "sha256:" + "ab" * 32


def register(tracking_uri: str, name: str, deliveries, serialization_format: str = "skops") -> str:
    mlflow.set_tracking_uri(tracking_uri)
    model = GradientBoostingRegressor(n_estimators=20, random_state=0).fit(deliveries.features, deliveries.target)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model, name="model", serialization_format=serialization_format, skops_trusted_types=SKOPS_TRUSTED_TYPES
        )
    return str(mlflow.register_model(info.model_uri, name).version)


@pytest.fixture(scope="module")
def registered(mlflow_tracking_uri, deliveries) -> tuple[str, str]:
    return "ci-scripts-test", register(mlflow_tracking_uri, "ci-scripts-test", deliveries)


@pytest.fixture
def mlflow_env(mlflow_tracking_uri, monkeypatch) -> str:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_tracking_uri)
    return mlflow_tracking_uri


# --------------------------------------------------------------------------------------------- fetch_model


@pytest.mark.slow
def test_fetch_writes_a_model_the_handler_serves(registered, mlflow_env, tmp_path, capsys):
    name, version = registered
    output = tmp_path / "model"
    assert fetch_model.main(["--model-name", name, "--version", version, "--output", str(output)]) == 0
    assert (output / "MLmodel").is_file()
    assert f"models:/{name}/{version}" in capsys.readouterr().err

    # What the image does: MODEL_URI is the folder, MODEL_VERSION the build argument.
    predictor = inference.load_predictor({"MODEL_URI": str(output), "MODEL_VERSION": version})
    response = inference.handle({"records": [RECORD]}, predictor)
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["modelVersion"] == version


@pytest.mark.slow
def test_fetch_reads_names_from_the_environment(registered, mlflow_env, monkeypatch, tmp_path):
    name, version = registered
    monkeypatch.setenv("MODEL_NAME", name)
    monkeypatch.setenv("MODEL_VERSION", version)
    assert fetch_model.main(["--output", str(tmp_path / "model")]) == 0


@pytest.mark.slow
def test_fetch_refuses_a_folder_that_holds_something(registered, mlflow_env, tmp_path, capsys):
    name, version = registered
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "stale.skops").write_text("x")
    assert fetch_model.main(["--model-name", name, "--version", version, "--output", str(tmp_path / "model")]) == 1
    assert "is not an empty folder" in capsys.readouterr().err


@pytest.mark.slow
def test_fetch_of_an_unknown_version_exits_1_naming_it(registered, mlflow_env, tmp_path, capsys):
    name, _ = registered
    assert fetch_model.main(["--model-name", name, "--version", "999", "--output", str(tmp_path / "m")]) == 1
    err = capsys.readouterr().err
    assert f"error: MLflow could not provide models:/{name}/999" in err and "Traceback" not in err


@pytest.mark.slow
def test_fetch_refuses_a_model_the_handler_would_refuse(mlflow_env, deliveries, tmp_path, capsys):
    version = register(mlflow_env, "ci-pickled-test", deliveries, serialization_format="cloudpickle")
    args = ["--model-name", "ci-pickled-test", "--version", version, "--output", str(tmp_path / "model")]
    assert fetch_model.main(args) == 1
    assert "cannot be served by inference.py" in capsys.readouterr().err


def test_fetch_needs_a_version_number(tmp_path):
    with pytest.raises(fetch_model.FetchError, match="expected a registry version number"):
        fetch_model.fetch("m", "latest", tmp_path / "model", tracking_uri="http://127.0.0.1:9")


# ------------------------------------------------------------------------------------------- resolve_image


@pytest.fixture
def ecr(aws_credentials):
    with mock_aws():
        client = boto3.client("ecr")
        client.create_repository(repositoryName="mlops/models", imageTagMutability="IMMUTABLE")
        yield client


def push(ecr, tag: str, media_type: str) -> None:
    """What `docker push` leaves in ECR, as far as describe-images tells."""
    if media_type in (OCI_INDEX, DOCKER_LIST):
        manifest = {"schemaVersion": 2, "mediaType": media_type, "manifests": []}
    else:
        config = {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 7, "digest": DIGEST}
        layer = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "size": 9, "digest": "sha256:" + tag * 64}
        manifest = {"schemaVersion": 2, "mediaType": media_type, "config": config, "layers": [layer]}
    ecr.put_image(repositoryName="mlops/models", imageManifest=json.dumps(manifest), imageTag=tag)


def repository_uri(ecr) -> str:
    return ecr.describe_repositories(repositoryNames=["mlops/models"])["repositories"][0]["repositoryUri"]


@pytest.mark.parametrize("media_type", [DOCKER_MANIFEST, OCI_MANIFEST])
def test_resolve_prints_the_digest_reference_the_deploy_function_accepts(ecr, capsys, media_type):
    push(ecr, "a", media_type)
    uri = repository_uri(ecr)
    assert resolve_image.main(["--repository-uri", uri, "--tag", "a"]) == 0
    printed = capsys.readouterr().out.strip()
    [detail] = ecr.describe_images(repositoryName="mlops/models", imageIds=[{"imageTag": "a"}])["imageDetails"]
    assert printed == f"{uri}@{detail['imageDigest']}"
    assert ImageRef.parse(printed).digest == detail["imageDigest"]


@pytest.mark.parametrize("media_type", [OCI_INDEX, DOCKER_LIST])
def test_resolve_refuses_an_image_index(ecr, capsys, media_type):
    push(ecr, "b", media_type)
    assert resolve_image.main(["--repository-uri", repository_uri(ecr), "--tag", "b"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"is a {media_type}, not a single-platform image manifest" in captured.err
    assert "--provenance=false --sbom=false" in captured.err


def test_resolve_of_a_tag_that_was_not_pushed(ecr):
    with pytest.raises(resolve_image.ImageError, match=r"models:c0ffee-1: not in ECR \(ImageNotFoundException\)"):
        resolve_image.resolve(repository_uri(ecr), "c0ffee-1")


@pytest.mark.parametrize(
    "uri", ["mlops/models", "public.ecr.aws/lambda/python", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/x:tag"]
)
def test_resolve_needs_an_ecr_repository_uri(uri):
    with pytest.raises(resolve_image.ImageError, match="expected an ECR repository URI"):
        resolve_image.resolve(uri, "t")


# ---------------------------------------------------------------------------------------------- tag_model


@pytest.mark.slow
def test_tag_records_the_image_on_the_model_version(registered, mlflow_env):
    name, version = registered
    image_uri = f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops/models@{DIGEST}"
    args = ["--model-name", name, "--version", version, "--image-uri", image_uri, "--build-id", "proj:0b1c"]
    assert tag_model.main(args) == 0
    tags = mlflow.MlflowClient(tracking_uri=mlflow_env).get_model_version(name, version).tags
    assert tags["image_uri"] == image_uri
    assert tags["image_digest"] == DIGEST
    assert tags["build_id"] == "proj:0b1c"


@pytest.mark.parametrize(
    "image_uri",
    [
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops/models:0123abcd-7",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops/models@sha256:abc",
        "",
    ],
    ids=["tag", "short-digest", "empty"],
)
def test_tag_refuses_anything_but_a_digest_reference(image_uri):
    with pytest.raises(tag_model.TagError, match="expected <repository>@sha256:<64 hex digits>"):
        tag_model.image_tags(image_uri)


@pytest.mark.slow
def test_tag_of_an_unknown_version_exits_1_and_sets_nothing(registered, mlflow_env, capsys):
    name, _ = registered
    image_uri = f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops/models@{DIGEST}"
    assert tag_model.main(["--model-name", name, "--version", "999", "--image-uri", image_uri]) == 1
    assert f"error: MLflow could not tag {name} version 999" in capsys.readouterr().err
