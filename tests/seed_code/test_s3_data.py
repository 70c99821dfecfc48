"""Training data from S3: the exact object version is read and recorded; a bad URI or object exits 2."""

from __future__ import annotations

import io
import json
from pathlib import Path

import boto3
import mlflow
import pytest
import s3_data
import train
from botocore.stub import Stubber
from moto import mock_aws

DATA = Path(__file__).resolve().parents[2] / "seed_code" / "data" / "deliveries.csv"
BUCKET = "training-data"
KEY = "deliveries/deliveries.csv"
# A model good enough for the quality gate, trained in a fraction of the default time.
FAST = ["--n-estimators", "60", "--learning-rate", "0.2"]
# Its own experiment: other tests count the runs of the default one.
EXPERIMENT = ["--experiment", "s3-data-test"]


@pytest.fixture
def s3(aws_credentials):
    with mock_aws():
        yield boto3.client("s3")


@pytest.fixture
def versions(s3) -> dict[str, str]:
    """A versioned bucket holding two versions of the CSV: ``old`` (all rows) and ``new`` (the first 300)."""
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    lines = DATA.read_text().splitlines(keepends=True)
    old = s3.put_object(Bucket=BUCKET, Key=KEY, Body="".join(lines).encode())["VersionId"]
    new = s3.put_object(Bucket=BUCKET, Key=KEY, Body="".join(lines[:301]).encode())["VersionId"]
    return {"old": old, "new": new}


# ------------------------------------------------------------------------------------------------ URIs


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://b/k.csv", s3_data.S3Object("b", "k.csv")),
        ("s3://b/a/b/k.csv", s3_data.S3Object("b", "a/b/k.csv")),
        (
            "s3://b/k.csv?versionId=3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
            s3_data.S3Object("b", "k.csv", "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"),
        ),
    ],
)
def test_uris_name_an_object_and_optionally_a_version(uri, expected):
    parsed = s3_data.S3Object.parse(uri)
    assert parsed == expected
    assert str(parsed) == uri


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("s3://", "no bucket"),
        ("s3:///k.csv", "no bucket"),
        ("s3://b", "no object key"),
        ("s3://b/", "no object key"),
        ("s3://b/folder/", "no object key"),
        ("s3://b/k.csv?version=1", "the only query understood is ?versionId=<id>"),
        ("s3://b/k.csv?versionId=", "the only query understood is ?versionId=<id>"),
        ("s3://b/k.csv?versionId=1&x=2", "the only query understood is ?versionId=<id>"),
    ],
)
def test_malformed_uris_are_refused(uri, message):
    with pytest.raises(s3_data.S3DataError, match=message.replace("?", r"\?")):
        s3_data.S3Object.parse(uri)


# ------------------------------------------------------------------------------------------------ download


def test_download_reads_the_current_version_and_says_which(versions, tmp_path):
    fetched = s3_data.download(s3_data.S3Object(BUCKET, KEY), tmp_path)
    assert fetched.source == s3_data.S3Object(BUCKET, KEY, versions["new"])
    assert len(fetched.path.read_text().splitlines()) == 301


def test_download_reads_the_named_older_version(versions, tmp_path):
    fetched = s3_data.download(s3_data.S3Object(BUCKET, KEY, versions["old"]), tmp_path)
    assert fetched.source.version_id == versions["old"]
    assert fetched.path.read_bytes() == DATA.read_bytes()


def test_an_unversioned_bucket_reports_the_null_version(s3, tmp_path):
    s3.create_bucket(Bucket="plain", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket="plain", Key="d.csv", Body=b"x")
    assert s3_data.download(s3_data.S3Object("plain", "d.csv"), tmp_path).source.version_id == "null"


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (
            s3_data.S3Object("no-such-bucket", KEY),
            "s3://no-such-bucket/deliveries/deliveries.csv: bucket no-such-bucket",
        ),
        (s3_data.S3Object(BUCKET, "missing.csv"), f"s3://{BUCKET}/missing.csv: no object missing.csv in bucket"),
        (s3_data.S3Object(BUCKET, KEY, "nope"), f"s3://{BUCKET}/{KEY}?versionId=nope: no version nope of"),
    ],
    ids=["bucket", "key", "version"],
)
def test_missing_objects_are_named_in_the_error(versions, tmp_path, obj, message):
    with pytest.raises(s3_data.S3DataError) as raised:
        s3_data.download(obj, tmp_path)
    assert str(raised.value).startswith(message)


@pytest.mark.parametrize(("version", "permission"), [(None, "s3:GetObject on it"), ("v1", "s3:GetObjectVersion on it")])
def test_access_denied_names_the_uri_and_the_permission(aws_credentials, tmp_path, version, permission):
    # moto does not enforce IAM: the exact error S3 returns comes from a stubbed client.
    client = boto3.client("s3")
    with Stubber(client) as stub:
        stub.add_client_error("get_object", service_error_code="AccessDenied", http_status_code=403)
        with pytest.raises(s3_data.S3DataError) as raised:
            s3_data.download(s3_data.S3Object(BUCKET, KEY, version), tmp_path, client=client)
    assert str(raised.value).startswith(str(s3_data.S3Object(BUCKET, KEY, version)) + ": access denied")
    assert permission in str(raised.value)


def test_download_writes_the_body_and_reports_the_etag(aws_credentials, tmp_path):
    client = boto3.client("s3")
    with Stubber(client) as stub:
        stub.add_response("get_object", {"Body": io.BytesIO(b"a,b\n"), "VersionId": "v9", "ETag": '"e"'})
        fetched = s3_data.download(s3_data.S3Object(BUCKET, KEY), tmp_path, client=client)
    assert fetched.path.read_bytes() == b"a,b\n" and fetched.etag == "e"


# ------------------------------------------------------------------------------------------------ train.py


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        (f"s3://{BUCKET}/missing.csv", f"error: s3://{BUCKET}/missing.csv: no object missing.csv"),
        ("s3://no-such-bucket/d.csv", "error: s3://no-such-bucket/d.csv: bucket no-such-bucket does not exist"),
        (f"s3://{BUCKET}/d.csv?v=1", f"error: s3://{BUCKET}/d.csv?v=1: the only query understood"),
    ],
    ids=["missing-object", "missing-bucket", "bad-uri"],
)
def test_train_exits_2_naming_the_uri(versions, capsys, uri, message):
    # No MLflow call happens before the data is read, so no server is needed.
    assert train.main(["--data", uri, "--tracking-uri", "http://127.0.0.1:9"]) == train.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith(message) and "Traceback" not in err


def test_train_exits_2_when_the_s3_data_is_bad(s3, versions, capsys):
    s3.put_object(Bucket=BUCKET, Key="bad.csv", Body=DATA.read_text().replace("\n25,", "\nlate,", 1).encode())
    assert train.main(["--data", f"s3://{BUCKET}/bad.csv", "--tracking-uri", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert f"error: s3://{BUCKET}/bad.csv?versionId=" in err and "DELIVERY_TIME_DAYS is 'late'" in err


@pytest.mark.slow
def test_train_records_the_version_it_read(mlflow_tracking_uri, versions, tmp_path):
    output = tmp_path / "result.json"
    args = ["--data", f"s3://{BUCKET}/{KEY}", "--model-name", "s3-data-test", "--output", str(output)]
    code = train.main([*args, *FAST, *EXPERIMENT, "--tracking-uri", mlflow_tracking_uri])
    assert code == 0
    result = json.loads(output.read_text())
    client = mlflow.MlflowClient(tracking_uri=mlflow_tracking_uri)
    run = client.get_run(result["run_id"])
    assert run.data.tags["data_s3_uri"] == f"s3://{BUCKET}/{KEY}"
    assert run.data.tags["data_version_id"] == versions["new"]
    assert run.data.params["rows"] == "300"  # the new version, not the old one
    [dataset_input] = run.inputs.dataset_inputs
    assert json.loads(dataset_input.dataset.source) == {"uri": f"s3://{BUCKET}/{KEY}?versionId={versions['new']}"}
    assert {tag.key: tag.value for tag in dataset_input.tags}["data_version_id"] == versions["new"]
    version_tags = client.get_model_version("s3-data-test", result["model_version"]).tags
    assert version_tags["data_version_id"] == versions["new"]
    assert version_tags["data_s3_uri"] == f"s3://{BUCKET}/{KEY}"


@pytest.mark.slow
def test_train_reads_the_exact_older_version_asked_for(mlflow_tracking_uri, versions, tmp_path):
    output = tmp_path / "result.json"
    uri = f"s3://{BUCKET}/{KEY}?versionId={versions['old']}"
    # A refused model is enough here (and quick): the run records its data before the gate decides.
    args = ["--data", uri, "--min-improvement", "0.99", "--output", str(output), *FAST, *EXPERIMENT]
    code = train.main([*args, "--tracking-uri", mlflow_tracking_uri])
    assert code == train.EXIT_QUALITY_GATE
    run = mlflow.MlflowClient(tracking_uri=mlflow_tracking_uri).get_run(json.loads(output.read_text())["run_id"])
    assert run.data.tags["data_version_id"] == versions["old"]
    assert run.data.params["rows"] == "400"
    assert run.data.tags["data_sha256"] == train.dataset.sha256_of(DATA)
