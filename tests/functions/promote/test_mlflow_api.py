"""functions.common.mlflow_api against the real MLflow server, and a flaky server in front of it for retries."""

from __future__ import annotations

import io
import json
import socket
import time

import boto3
import pytest
from moto import mock_aws

from functions.common import mlflow_api, secrets
from functions.common.logging import Logger
from functions.common.mlflow_api import (
    Credentials,
    MlflowApiError,
    MlflowAuthError,
    MlflowClient,
    MlflowConfigError,
    MlflowNotFound,
    MlflowUnavailable,
    RetryPolicy,
)
from tests.functions.promote.conftest import FAST_RETRIES, Models, new_commit
from tests.functions.promote.flaky_mlflow import FlakyMlflow

pytestmark = pytest.mark.slow

PASSWORD = "s3cr3t-P@ss:/%#?word"
FAST = RetryPolicy(window_seconds=5, base_delay_seconds=0.05, max_delay_seconds=0.2, request_timeout_seconds=10)


def _client(uri: str, policy: RetryPolicy = FAST, **kwargs: object) -> MlflowClient:
    return MlflowClient(Credentials(tracking_uri=uri), policy, **kwargs)  # type: ignore[arg-type]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------------------------- the calls


def test_reads_a_version_with_its_tags_and_its_runs_metrics(models: Models, mlflow_env: str) -> None:
    name = models.new_model()
    commit = new_commit()
    version = models.register(name, commit)
    client = mlflow_api.connect()

    found = client.get_model_version(name, version)
    assert (found.name, found.version, found.status) == (name, version, "READY")
    assert found.tags["commit"] == commit
    assert found.run_id
    run = client.get_run(found.run_id)
    assert run.run_id == found.run_id
    assert run.metrics == {"rmse": 1.25}


def test_an_alias_is_none_until_set_then_names_its_version(models: Models, mlflow_env: str) -> None:
    name = models.new_model()
    first, second = models.register(name, new_commit()), models.register(name, new_commit())
    client = mlflow_api.connect()

    assert client.get_model_version_by_alias(name, "staging") is None
    client.set_registered_model_alias(name, "staging", first)
    assert client.get_model_version_by_alias(name, "staging").version == first
    client.set_registered_model_alias(name, "staging", second)
    current = client.get_model_version_by_alias(name, "staging")
    assert current.version == second
    assert current.aliases == ("staging",)
    assert models.alias(name, "staging") == second


def test_sets_a_version_tag(models: Models, mlflow_env: str) -> None:
    name = models.new_model()
    version = models.register(name, new_commit())
    mlflow_api.connect().set_model_version_tag(name, version, "staging_by", "pipeline")
    assert models.tags(name, version)["staging_by"] == "pipeline"


def test_a_missing_version_model_or_run_is_not_found_naming_the_call_and_status(
    models: Models, mlflow_env: str
) -> None:
    name = models.new_model()
    client = mlflow_api.connect()
    with pytest.raises(MlflowNotFound) as missing:
        client.get_model_version(name, "99")
    assert str(missing.value).startswith("MLflow get_model_version failed: HTTP 404 RESOURCE_DOES_NOT_EXIST")
    assert f"name={name}, version=99" in str(missing.value)
    with pytest.raises(MlflowNotFound):
        client.get_model_version_by_alias("no-such-model-anywhere", "staging")
    with pytest.raises(MlflowNotFound, match="get_run failed: HTTP 404"):
        client.get_run("0123456789abcdef0123456789abcdef")
    with pytest.raises(MlflowNotFound, match="set_registered_model_alias failed: HTTP 404"):
        client.set_registered_model_alias(name, "staging", "99")


def test_other_client_errors_fail_at_once_with_mlflows_code(models: Models, mlflow_env: str) -> None:
    name = models.new_model()
    with FlakyMlflow(mlflow_env) as flaky:
        with pytest.raises(MlflowApiError) as refused:
            _client(flaky.url).get_model_version(name, "abc")
        assert flaky.statuses == [400]  # no retry
    assert type(refused.value) is MlflowApiError
    assert (refused.value.call, refused.value.status, refused.value.code) == (
        "get_model_version",
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "must be an integer" in str(refused.value)


# ----------------------------------------------------------------------------------------------- retries


def test_a_503_for_a_few_seconds_is_retried_until_mlflow_answers(models: Models, mlflow_env: str) -> None:
    name = models.new_model()
    version = models.register(name, new_commit())
    stream = io.StringIO()
    policy = RetryPolicy(window_seconds=15, base_delay_seconds=0.2, max_delay_seconds=0.5, request_timeout_seconds=5)
    with FlakyMlflow(mlflow_env, outage_seconds=2) as flaky:
        started = time.monotonic()
        found = _client(flaky.url, policy, log=Logger("test", stream=stream)).get_model_version(name, version)
        elapsed = time.monotonic() - started
    assert found.version == version
    assert flaky.statuses[-1] == 200
    assert flaky.statuses.count(503) >= 3
    assert elapsed >= 2
    retries = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert {line["message"] for line in retries} == {"MLflow call failed, retrying"}
    assert {(line["call"], line["status"]) for line in retries} == {("get_model_version", 503)}


def test_the_default_window_outlasts_a_database_resume(models: Models, mlflow_env: str) -> None:
    """Aurora Serverless takes ~15 s to resume; the default settings keep trying for well over 30 s."""
    name = models.new_model()
    version = models.register(name, new_commit())
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    def clock() -> float:
        return now[0]

    assert RetryPolicy.from_env({}) == RetryPolicy()
    assert RetryPolicy().window_seconds > 30
    with FlakyMlflow(mlflow_env, outage_seconds=35, clock=clock) as flaky:
        found = _client(flaky.url, RetryPolicy(), clock=clock, sleep=sleep).get_model_version(name, version)
    assert found.version == version
    assert sum(slept) >= 35
    assert max(slept) <= RetryPolicy().max_delay_seconds
    assert flaky.statuses[-1] == 200 and set(flaky.statuses[:-1]) == {503}


@pytest.mark.parametrize("status", [500, 502, 429])
def test_5xx_and_429_are_retried_too(models: Models, mlflow_env: str, status: int) -> None:
    name = models.new_model()
    with FlakyMlflow(mlflow_env, outage_seconds=0.5, outage_status=status) as flaky:
        assert _client(flaky.url).get_model_version_by_alias(name, "staging") is None
    assert flaky.statuses[0] == status


def test_gives_up_after_the_window_naming_the_call_and_the_status(mlflow_env: str) -> None:
    policy = RetryPolicy(window_seconds=1, base_delay_seconds=0.1, max_delay_seconds=0.2, request_timeout_seconds=5)
    with FlakyMlflow(mlflow_env, outage_seconds=60) as flaky:
        started = time.monotonic()
        with pytest.raises(MlflowUnavailable) as down:
            _client(flaky.url, policy).set_registered_model_alias("m", "staging", "1")
        elapsed = time.monotonic() - started
    assert 0.5 < elapsed < 3
    assert len(flaky.statuses) >= 3
    assert down.value.status == 503
    assert str(down.value).startswith("MLflow set_registered_model_alias failed: HTTP 503:")
    assert "gave up after" in str(down.value)


def test_an_unreachable_server_is_unavailable_after_the_window() -> None:
    policy = RetryPolicy(window_seconds=0.5, base_delay_seconds=0.05, max_delay_seconds=0.1, request_timeout_seconds=1)
    with pytest.raises(MlflowUnavailable) as down:
        _client(f"http://127.0.0.1:{_closed_port()}", policy).get_model_version("m", "1")
    assert down.value.status is None
    assert "get_model_version failed: no answer" in str(down.value)
    assert "Connection refused" in str(down.value)


def test_retries_stop_at_the_deadline(mlflow_env: str) -> None:
    policy = RetryPolicy(window_seconds=60, base_delay_seconds=0.1, max_delay_seconds=0.2, request_timeout_seconds=5)
    with FlakyMlflow(mlflow_env, outage_seconds=60) as flaky:
        started = time.monotonic()
        with pytest.raises(MlflowUnavailable):
            _client(flaky.url, policy, deadline=started + 1).get_model_version("m", "1")
    assert time.monotonic() - started < 2.5


def test_retry_settings_come_from_the_environment() -> None:
    assert RetryPolicy.from_env(FAST_RETRIES) == FAST
    with pytest.raises(MlflowConfigError, match="MLFLOW_RETRY_WINDOW_SECONDS: expected a number"):
        RetryPolicy.from_env({"MLFLOW_RETRY_WINDOW_SECONDS": "soon"})


# ------------------------------------------------------------------------------------------------- login


@pytest.fixture
def secret_store(aws_env: None, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    secrets.clear_cache()
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="eu-west-1")
    secrets.clear_cache()


def test_logs_in_with_the_secret_and_its_tracking_uri(
    models: Models, mlflow_env: str, secret_store, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = models.new_model()
    version = models.register(name, new_commit())
    with FlakyMlflow(mlflow_env, require_login=("pipeline", PASSWORD)) as flaky:
        login = {"username": "pipeline", "password": PASSWORD, "tracking_uri": flaky.url + "/"}
        arn = secret_store.create_secret(Name="mlflow-pipeline", SecretString=json.dumps(login))["ARN"]
        monkeypatch.setenv("MLFLOW_CREDENTIALS_SECRET_ARN", arn)
        client = mlflow_api.connect()
        assert client.get_model_version(name, version).version == version
        assert flaky.statuses == [200]
        assert flaky.seen[0].authorization.startswith("Basic ")
    assert PASSWORD not in repr(client) and PASSWORD not in repr(client.credentials)


def test_the_tracking_uri_may_come_from_the_environment(mlflow_env: str, secret_store, monkeypatch) -> None:
    login = {"username": "pipeline", "password": PASSWORD}
    arn = secret_store.create_secret(Name="mlflow-pipeline", SecretString=json.dumps(login))["ARN"]
    monkeypatch.setenv("MLFLOW_CREDENTIALS_SECRET_ARN", arn)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://mlflow.example.com/")
    credentials = mlflow_api.load_credentials()
    assert (credentials.tracking_uri, credentials.username) == ("https://mlflow.example.com", "pipeline")


def test_a_wrong_password_fails_at_once_without_showing_it_and_is_read_again_next_time(
    models: Models, mlflow_env: str, secret_store, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = models.new_model()
    version = models.register(name, new_commit())
    stream = io.StringIO()
    with FlakyMlflow(mlflow_env, require_login=("pipeline", PASSWORD)) as flaky:
        wrong = {"username": "pipeline", "password": "old-" + PASSWORD, "tracking_uri": flaky.url}
        arn = secret_store.create_secret(Name="mlflow-pipeline", SecretString=json.dumps(wrong))["ARN"]
        monkeypatch.setenv("MLFLOW_CREDENTIALS_SECRET_ARN", arn)
        with pytest.raises(MlflowAuthError) as refused:
            mlflow_api.connect(log=Logger("test", stream=stream)).get_model_version(name, version)
        assert flaky.statuses == [401]
        message = str(refused.value)
        assert message.startswith("MLflow get_model_version failed: HTTP 401: You are not authenticated")
        assert "user 'pipeline'" in message
        assert PASSWORD not in message and PASSWORD not in stream.getvalue()

        # The password was rotated: the cached secret was dropped, so the next call reads the new one.
        secret_store.put_secret_value(SecretId=arn, SecretString=json.dumps({**wrong, "password": PASSWORD}))
        assert mlflow_api.connect().get_model_version(name, version).version == version


@pytest.mark.parametrize(
    ("secret", "expected"),
    [
        ("not json", "is not a JSON object"),
        (json.dumps({"username": "pipeline"}), "lacks a non-empty username or password"),
        (json.dumps({"username": "u", "password": PASSWORD}), "has no tracking_uri and MLFLOW_TRACKING_URI"),
        (json.dumps({"username": "u", "password": PASSWORD, "tracking_uri": "ftp://x"}), "expected an http"),
        (
            json.dumps({"username": "u", "password": "p", "tracking_uri": f"https://u:{PASSWORD}@mlflow.example.com"}),
            "must not contain a login",
        ),
    ],
)
def test_a_bad_secret_is_a_config_error_that_never_shows_the_password(
    secret_store, monkeypatch: pytest.MonkeyPatch, secret: str, expected: str
) -> None:
    arn = secret_store.create_secret(Name="mlflow-pipeline", SecretString=secret)["ARN"]
    monkeypatch.setenv("MLFLOW_CREDENTIALS_SECRET_ARN", arn)
    with pytest.raises(MlflowConfigError, match=expected) as bad:
        mlflow_api.load_credentials()
    assert PASSWORD not in str(bad.value)


def test_without_a_secret_or_a_uri_the_error_names_both_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(MlflowConfigError, match="MLFLOW_TRACKING_URI: not set, and neither is MLFLOW_CREDENTIALS"):
        mlflow_api.load_credentials({})
    missing = {"MLFLOW_CREDENTIALS_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:gone"}
    with pytest.raises(MlflowConfigError, match="MLFLOW_CREDENTIALS_SECRET_ARN: cannot read secret"), mock_aws():
        monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
        secrets.clear_cache()
        mlflow_api.load_credentials(missing)
    secrets.clear_cache()
