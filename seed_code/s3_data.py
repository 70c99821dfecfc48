"""Training data in S3: name one object (optionally one version of it) and download exactly that.

    s3://<bucket>/<key>                    the object's current version
    s3://<bucket>/<key>?versionId=<id>     that version, even after the object was overwritten

The version ID that S3 returns with the bytes is the one recorded on the MLflow run, so a model version
names the data it was trained on. A bucket without versioning reports no version: the run then records
``null``, S3's own name for an unversioned object's only version (which a later upload replaces).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

SCHEME = "s3://"
VERSION_QUERY = "versionId="
NULL_VERSION = "null"


class S3DataError(ValueError):
    """The object cannot be named or read; the message names its URI and what to check."""


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str
    version_id: str | None = None

    @classmethod
    def parse(cls, uri: str) -> S3Object:
        if not is_s3_uri(uri):
            raise S3DataError(f"{uri}: expected s3://<bucket>/<key>[?versionId=<id>]")
        bucket, _, rest = uri.removeprefix(SCHEME).partition("/")
        key, question, query = rest.partition("?")
        version_id = None
        if question:
            if not query.startswith(VERSION_QUERY) or "&" in query or not query.removeprefix(VERSION_QUERY):
                raise S3DataError(f"{uri}: the only query understood is ?versionId=<id>")
            version_id = query.removeprefix(VERSION_QUERY)
        if not bucket:
            raise S3DataError(f"{uri}: no bucket; expected s3://<bucket>/<key>")
        if not key or key.endswith("/"):
            raise S3DataError(f"{uri}: no object key (a folder is not a data file); expected s3://<bucket>/<key>")
        return cls(bucket, key, version_id)

    @property
    def uri(self) -> str:
        """The object, without a version."""
        return f"{SCHEME}{self.bucket}/{self.key}"

    def __str__(self) -> str:
        return f"{self.uri}?{VERSION_QUERY}{self.version_id}" if self.version_id else self.uri


@dataclass(frozen=True)
class Downloaded:
    path: Path
    # The object as read: version_id is the version S3 served (NULL_VERSION in an unversioned bucket).
    source: S3Object
    etag: str


def is_s3_uri(value: str) -> bool:
    return value.startswith(SCHEME)


def download(obj: S3Object, directory: Path, client: Any | None = None) -> Downloaded:
    """Write the object (its named version, or the current one) to a file in ``directory``."""
    s3 = client or boto3.client("s3")
    request = {"Bucket": obj.bucket, "Key": obj.key} | ({"VersionId": obj.version_id} if obj.version_id else {})
    path = directory / "training-data.csv"  # a fixed name: a key's last part may be anything, even ".."
    try:
        response = s3.get_object(**request)
        with path.open("wb") as target:
            shutil.copyfileobj(response["Body"], target)
    except ClientError as error:
        raise S3DataError(f"{obj}: {_explain(error, obj)}") from error
    except BotoCoreError as error:
        raise S3DataError(f"{obj}: cannot read from S3 ({error})") from error
    served = replace(obj, version_id=response.get("VersionId") or NULL_VERSION)
    return Downloaded(path=path, source=served, etag=str(response.get("ETag", "")).strip('"'))


def _explain(error: ClientError, obj: S3Object) -> str:
    code = str(error.response.get("Error", {}).get("Code", ""))
    message = error.response.get("Error", {}).get("Message") or str(error)
    if code == "NoSuchBucket":
        return f"bucket {obj.bucket} does not exist"
    if code == "NoSuchKey":
        return f"no object {obj.key} in bucket {obj.bucket}"
    if code == "NoSuchVersion" or (code == "InvalidArgument" and obj.version_id):
        return f"no version {obj.version_id} of {obj.key} in bucket {obj.bucket}"
    if code in ("AccessDenied", "AllAccessDisabled"):
        needs = "s3:GetObjectVersion" if obj.version_id else "s3:GetObject"
        return (
            f"access denied ({message}); the role needs {needs} on it, and kms:Decrypt if it is encrypted with "
            "a KMS key (S3 also answers this way for a missing object when the role may not list the bucket)"
        )
    return f"S3 refused the download ({code or 'error'}: {message})"
