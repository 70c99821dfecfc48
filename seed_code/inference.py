"""The inference Lambda handler: predicts delivery time in days for one or more port pairs.

The model is loaded once per container (at init in Lambda). Requests are checked against the feature list
in ``features.py``; a caller's mistake gets HTTP 400 naming the record and field, never a traceback.

Accepted requests (direct invocation payload, or the JSON body of a function-URL POST):

    {"records": [{"PORT_LOAD_LAT": 31.23, "PORT_LOAD_LONG": 121.47, "PORT_DEL_LAT": 51.95, "PORT_DEL_LONG": 4.14}]}
    [{"PORT_LOAD_LAT": ...}, ...]            a bare list of records
    {"PORT_LOAD_LAT": ..., ...}              a single record
    {"records": [[31.23, 121.47, 51.95, 4.14]]}   rows as lists, in the order of features.FEATURES

Response (both ways): ``{"statusCode": 200, "headers": {...}, "body": "<json>"}`` whose body is
``{"predictions": [days, ...], "modelVersion": "7", "count": n}``.

Environment: MODEL_URI (a model directory, default /opt/ml/model; or models:/<name>@<alias> for local
runs, which needs mlflow), MODEL_VERSION (the registry version baked into the image), MAX_BATCH_SIZE.
"""

from __future__ import annotations

import base64
import json
import math
import os
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from features import FEATURES, InvalidRecord, validate_record
from model_files import LoadedModel, load_sklearn_model

DEFAULT_MODEL_URI = "/opt/ml/model"
DEFAULT_MAX_BATCH_SIZE = 500
JSON_HEADERS = {"content-type": "application/json"}


class BadRequest(ValueError):
    """The request cannot be answered as sent; the message tells the caller what to change."""


@dataclass(frozen=True)
class Predictor:
    model: LoadedModel
    version: str
    max_batch_size: int

    def predict(self, rows: list[list[float]]) -> list[float]:
        with warnings.catch_warnings():
            # The model was fitted on named columns; rows are already in that order (checked at load).
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            values = self.model.estimator.predict(np.asarray(rows, dtype=float))
        return [round(float(v), 2) for v in values]


def _download_registry_model(uri: str) -> tuple[Path, str]:
    """Fetch ``models:/<name>@<alias>`` or ``models:/<name>/<version>`` into a temporary directory."""
    import mlflow  # only local runs load from the registry; the Lambda image does not ship mlflow

    name, _, selector = uri.removeprefix("models:/").partition("@")
    client = mlflow.MlflowClient()
    if selector:
        version = str(client.get_model_version_by_alias(name, selector).version)
    else:
        name, _, version = uri.removeprefix("models:/").partition("/")
    target = tempfile.mkdtemp(prefix="model-")
    local = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=target)
    return Path(local), version


def load_predictor(environ: Mapping[str, str] = os.environ) -> Predictor:
    uri = environ.get("MODEL_URI") or DEFAULT_MODEL_URI
    if uri.startswith("models:/"):
        directory, version = _download_registry_model(uri)
    else:
        directory, version = Path(uri), environ.get("MODEL_VERSION") or "unknown"
    model = load_sklearn_model(directory)
    names = tuple(getattr(model.estimator, "feature_names_in_", FEATURES))
    if names != FEATURES:
        raise RuntimeError(f"the model expects features {names}, the handler sends {FEATURES}")
    max_batch = int(environ.get("MAX_BATCH_SIZE") or DEFAULT_MAX_BATCH_SIZE)
    return Predictor(model=model, version=version, max_batch_size=max_batch)


_PREDICTOR: Predictor | None = None


def predictor() -> Predictor:
    global _PREDICTOR  # one model per container, loaded on first use
    if _PREDICTOR is None:
        _PREDICTOR = load_predictor()
    return _PREDICTOR


# ------------------------------------------------------------------------------------------------ requests


def _is_function_url_event(event: Any) -> bool:
    return isinstance(event, Mapping) and "requestContext" in event and "rawPath" in event


def request_payload(event: Any) -> Any:
    """The request: the invocation payload itself, or the JSON body of a function-URL event."""
    if not _is_function_url_event(event):
        return event
    method = ((event.get("requestContext") or {}).get("http") or {}).get("method", "POST")
    if method != "POST":
        raise BadRequest(f"method {method} is not supported; POST a JSON body")
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body, validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError) as error:
            raise BadRequest("body: expected base64-encoded UTF-8 JSON") from error
    if not body.strip():
        raise BadRequest("body: expected a JSON request, got an empty body")
    try:
        return json.loads(body)
    except json.JSONDecodeError as error:
        raise BadRequest(f"body: not valid JSON ({error.msg} at position {error.pos})") from error


def parse_rows(payload: Any, max_batch_size: int) -> list[list[float]]:
    """Validate the request and return its rows in model feature order."""
    if isinstance(payload, Mapping) and "records" in payload:
        extra = sorted(str(k) for k in payload if k != "records")
        if extra:
            raise BadRequest(f"unexpected field(s) {', '.join(extra)} beside records")
        records, label = payload["records"], "records"
    elif isinstance(payload, list):
        records, label = payload, "records"
    elif isinstance(payload, Mapping):
        records, label = [payload], "record"
    else:
        raise BadRequest(f"expected a record, a list of records or {{'records': [...]}}, got {type(payload).__name__}")
    if not isinstance(records, list):
        raise BadRequest(f"records: expected a list, got {type(records).__name__}")
    if not records:
        raise BadRequest("records: the batch is empty; send at least one record")
    if len(records) > max_batch_size:
        raise BadRequest(f"records: {len(records)} records exceed the limit of {max_batch_size} per request")
    return [_row(record, label if label == "record" else f"records[{i}]") for i, record in enumerate(records)]


def _row(record: Any, where: str) -> list[float]:
    if isinstance(record, list):
        if len(record) != len(FEATURES):
            raise BadRequest(
                f"{where}: expected {len(FEATURES)} values in the order {', '.join(FEATURES)}, got {len(record)}"
            )
        record = dict(zip(FEATURES, record, strict=True))
    try:
        return validate_record(record, where)
    except InvalidRecord as error:
        raise BadRequest(str(error)) from error


def _response(status: int, body: Mapping[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": JSON_HEADERS, "body": json.dumps(body, allow_nan=False)}


def handle(event: Any, model: Predictor) -> dict[str, Any]:
    """Answer one request with a model; the pure core of the handler."""
    try:
        rows = parse_rows(request_payload(event), model.max_batch_size)
    except BadRequest as error:
        return _response(400, {"error": str(error)})
    predictions = model.predict(rows)
    if not all(math.isfinite(p) for p in predictions):
        raise RuntimeError("the model returned a non-finite prediction")
    return _response(200, {"predictions": predictions, "modelVersion": model.version, "count": len(predictions)})


def handler(event: Any, context: Any) -> dict[str, Any]:
    return handle(event, predictor())


if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
    # In Lambda, load during init: it runs before the first request is timed and on a boosted CPU.
    predictor()
