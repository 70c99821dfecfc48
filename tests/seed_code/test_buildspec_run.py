"""buildspec.yml run end to end as CodeBuild would, against real MLflow and moto (S3, ECR, Secrets Manager).

Only `aws ecr get-login-password` and `docker` are stubs (see ``local/pipeline/buildspec.py``): there is no
Docker engine here. Everything else is the real thing: train.py reads the data from S3, registers the model,
ci/ fetches it and resolves and tags the pushed image; MLflow credentials come from the secret the buildspec
names.
"""

from __future__ import annotations

import http.client
import json
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import inference
import mlflow
import pytest
import train
from moto.server import ThreadedMotoServer

from functions.deploy.models import ImageRef
from local.pipeline.buildspec import run_buildspec, write_stubs
from local.processes import free_port

pytestmark = pytest.mark.slow

SEED_CODE = Path(__file__).resolve().parents[2] / "seed_code"
REGION = "eu-west-1"
BUCKET = "mlops-training-data"
KEY = "deliveries.csv"
COMMIT = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c"


def moto_client(service: str, endpoint: str):
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    return session.client(service, endpoint_url=endpoint)


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def aws(moto_endpoint) -> dict[str, str]:
    """The tooling account as the build sees it: a versioned data bucket, the image repository, the secret."""
    environ = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": moto_endpoint,
    }
    s3 = moto_client("s3", moto_endpoint)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    version = s3.put_object(Bucket=BUCKET, Key=KEY, Body=(SEED_CODE / "data" / "deliveries.csv").read_bytes())
    ecr = moto_client("ecr", moto_endpoint)
    repository = ecr.create_repository(repositoryName="serverless-mlops/models", imageTagMutability="IMMUTABLE")
    secrets = moto_client("secretsmanager", moto_endpoint)
    secret = secrets.create_secret(
        Name="serverless-mlops/mlflow-ci", SecretString=json.dumps({"username": "ci", "password": "p@ss:w/rd"})
    )
    return environ | {
        "TEST_DATA_VERSION": version["VersionId"],
        "TEST_REPOSITORY_URI": repository["repository"]["repositoryUri"],
        "TEST_SECRET_ARN": secret["ARN"],
    }


@pytest.fixture
def project(aws, mlflow_tracking_uri, tmp_path) -> dict[str, str]:
    """The CodeBuild project's environment, plus what CodeBuild itself sets."""
    return {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",  # this venv's python is CodeBuild's
        "HOME": str(tmp_path),
        "PYTHONWARNINGS": "ignore",
        # Train faster than the default, in an experiment of its own; train.py reads these (they are not
        # buildspec inputs).
        "N_ESTIMATORS": "60",
        "LEARNING_RATE": "0.2",
        "MLFLOW_EXPERIMENT_NAME": "buildspec-run-test",
        **{k: v for k, v in aws.items() if not k.startswith("TEST_")},
        "MLFLOW_TRACKING_URI": mlflow_tracking_uri,
        # As the CodeBuild project defines them: type SECRETS_MANAGER, resolved at build start.
        "MLFLOW_TRACKING_USERNAME": f"{aws['TEST_SECRET_ARN']}:username",
        "MLFLOW_TRACKING_PASSWORD": f"{aws['TEST_SECRET_ARN']}:password",
        "MODEL_NAME": "buildspec-run-test",
        "TRAINING_DATA_URI": f"s3://{BUCKET}/{KEY}",
        "ECR_REPOSITORY_URI": aws["TEST_REPOSITORY_URI"],
        "ARCHITECTURE": "arm64",
        "CODEBUILD_RESOLVED_SOURCE_VERSION": COMMIT,
        "CODEBUILD_BUILD_NUMBER": str(time.time_ns() % 10**9),  # a new build each test (tags are immutable)
        "CODEBUILD_BUILD_ID": "serverless-mlops-train:6f0e7a1c",
    }


@pytest.fixture
def source(tmp_path) -> Path:
    """The checked-out repository, as CodeBuild's source directory."""
    return Path(
        shutil.copytree(
            SEED_CODE, tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__", "model", "train-result.json")
        )
    )


SECRET_VARIABLES = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")


@pytest.fixture
def stubs(tmp_path) -> Path:
    return write_stubs(tmp_path / "stubs")


def test_a_build_registers_pushes_and_exports_the_image_by_digest(buildspec, project, aws, source, stubs):
    result = run_buildspec(buildspec, source, project, stubs, secret_variables=SECRET_VARIABLES)
    assert result.succeeded, result.output

    version = json.loads((source / "train-result.json").read_text())["model_version"]
    assert result.exported["MODEL_VERSION"] == version
    tag = f"{COMMIT[:12]}-{project['CODEBUILD_BUILD_NUMBER']}"
    ecr = moto_client("ecr", project["AWS_ENDPOINT_URL"])
    [image] = ecr.describe_images(repositoryName="serverless-mlops/models", imageIds=[{"imageTag": tag}])[
        "imageDetails"
    ]
    assert result.exported["IMAGE_URI"] == f"{aws['TEST_REPOSITORY_URI']}@{image['imageDigest']}"
    assert ImageRef.parse(result.exported["IMAGE_URI"])  # what the deploy function will accept

    [login] = result.stub_calls("docker", "login")
    assert login["password_received"] and login["args"][-1] == aws["TEST_REPOSITORY_URI"].split("/")[0]
    [build] = result.stub_calls("docker", "buildx", "build")
    args = build["args"]
    assert args[args.index("--platform") + 1] == "linux/arm64"
    assert args[args.index("--build-arg") + 1] == f"MODEL_VERSION={version}"
    assert "model/MLmodel" in build["context_files"] and "Dockerfile" in build["context_files"]

    client = mlflow.MlflowClient(tracking_uri=project["MLFLOW_TRACKING_URI"])
    tags = client.get_model_version("buildspec-run-test", version).tags
    assert tags["image_uri"] == result.exported["IMAGE_URI"]
    assert tags["image_digest"] == image["imageDigest"]
    assert tags["build_id"] == project["CODEBUILD_BUILD_ID"]
    assert tags["commit"] == COMMIT
    assert tags["data_version_id"] == aws["TEST_DATA_VERSION"]

    # The folder the image copies to /opt/ml/model is a model the handler serves, as that version.
    predictor = inference.load_predictor({"MODEL_URI": str(source / "model"), "MODEL_VERSION": version})
    assert predictor.predict([[31.23, 121.47, 51.95, 4.14]])[0] > 0


def test_the_quality_gate_fails_the_build_before_any_image(buildspec, project, source, stubs):
    result = run_buildspec(
        buildspec, source, project | {"QUALITY_GATE_MIN_IMPROVEMENT": "0.99"}, stubs, secret_variables=SECRET_VARIABLES
    )
    assert not result.succeeded
    assert result.failed_command[:2] == ("build", 0) and result.exit_code == train.EXIT_QUALITY_GATE
    assert "quality gate failed" in result.output
    assert result.stub_calls("docker", "buildx") == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"MODEL_NAME": ""}, "error: MODEL_NAME is not set"),
        ({"ARCHITECTURE": "sparc"}, "ARCHITECTURE is 'sparc'; expected arm64 or x86_64"),
    ],
)
def test_bad_inputs_fail_before_training(buildspec, project, source, stubs, change, message):
    result = run_buildspec(buildspec, source, project | change, stubs, secret_variables=SECRET_VARIABLES)
    assert not result.succeeded and result.failed_command[0] == "pre_build"
    assert message in result.output
    assert not (source / "train-result.json").exists()


# ------------------------------------------------------------------------------ a paused MLflow database


class PausedDatabaseProxy(ThreadingHTTPServer):
    """MLflow behind a database that is paused: the first request wakes it, and for ``pause_seconds`` every
    request gets 503 (what MLflow's server answers while Aurora Serverless resumes); then requests pass."""

    daemon_threads = True

    def __init__(self, upstream: str, pause_seconds: float) -> None:
        super().__init__(("127.0.0.1", 0), _Relay)
        self.upstream = urlsplit(upstream)
        self.pause_seconds = pause_seconds
        self.resumed_at: float | None = None
        self.refused = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Relay(BaseHTTPRequestHandler):
    server: PausedDatabaseProxy

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def _relay(self) -> None:
        proxy = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with proxy.lock:
            now = time.monotonic()
            proxy.resumed_at = proxy.resumed_at or now + proxy.pause_seconds
            paused = now < proxy.resumed_at
            proxy.refused += paused
        if paused:
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        connection = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=120)
        hop = {"host", "connection", "keep-alive", "transfer-encoding", "content-length"}
        headers = {k: v for k, v in self.headers.items() if k.lower() not in hop}
        connection.request(self.command, self.path, body=body or None, headers=headers)
        response = connection.getresponse()
        data = response.read()
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in hop:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        connection.close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _relay


@pytest.fixture
def paused_mlflow(mlflow_tracking_uri) -> Iterator[PausedDatabaseProxy]:
    proxy = PausedDatabaseProxy(mlflow_tracking_uri, pause_seconds=3)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()


def test_train_waits_for_a_resuming_database_with_the_buildspec_settings(buildspec, paused_mlflow, monkeypatch):
    for name, value in buildspec["env"]["variables"].items():
        monkeypatch.setenv(name, value)
    args = ["--tracking-uri", paused_mlflow.url, "--model-name", "paused-db-test", "--experiment", "paused-db-test"]
    assert train.main([*args, "--n-estimators", "60", "--learning-rate", "0.2"]) == 0
    assert paused_mlflow.refused >= 2  # the first request and at least one retry met the paused database


def test_without_retries_a_resuming_database_fails_the_run(paused_mlflow, monkeypatch):
    # The failing case of the test above: it is the retries, not luck, that carry a build through.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    args = ["--tracking-uri", paused_mlflow.url, "--experiment", "paused-db-test", "--n-estimators", "10"]
    assert train.main(args) == train.EXIT_MLFLOW
    assert paused_mlflow.refused == 1
