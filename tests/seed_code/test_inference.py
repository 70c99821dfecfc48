"""The inference handler: valid requests get predictions and the model version; mistakes get 400s."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import inference
import pytest
import yaml
from features import FEATURES
from model_files import ModelFileError

RECORD = {"PORT_LOAD_LAT": 31.23, "PORT_LOAD_LONG": 121.47, "PORT_DEL_LAT": 51.95, "PORT_DEL_LONG": 4.14}


@pytest.fixture(scope="module")
def predictor(model_dir: Path) -> inference.Predictor:
    return inference.load_predictor({"MODEL_URI": str(model_dir), "MODEL_VERSION": "7", "MAX_BATCH_SIZE": "10"})


def call(predictor, event) -> tuple[int, dict]:
    response = inference.handle(event, predictor)
    assert response["headers"] == {"content-type": "application/json"}
    return response["statusCode"], json.loads(response["body"])


def url_event(body: str, method: str = "POST", encoded: bool = False) -> dict:
    return {
        "version": "2.0",
        "rawPath": "/",
        "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": method, "path": "/"}},
        "body": base64.b64encode(body.encode()).decode() if encoded else body,
        "isBase64Encoded": encoded,
    }


@pytest.mark.parametrize(
    "event",
    [
        {"records": [RECORD, RECORD]},
        [RECORD, RECORD],
        {"records": [[RECORD[f] for f in FEATURES]] * 2},
        url_event(json.dumps({"records": [RECORD, RECORD]})),
        url_event(json.dumps([RECORD, RECORD]), encoded=True),
    ],
    ids=["records", "list", "rows-as-lists", "function-url", "function-url-base64"],
)
def test_valid_batches_get_one_prediction_each(predictor, event):
    status, body = call(predictor, event)
    assert status == 200
    assert body["count"] == 2 and body["modelVersion"] == "7"
    assert body["predictions"][0] == body["predictions"][1] and 5 < body["predictions"][0] < 60


def test_a_single_record_is_a_batch_of_one(predictor):
    status, body = call(predictor, RECORD)
    assert status == 200 and body["count"] == 1


def test_longer_routes_take_longer(predictor):
    short = {"PORT_LOAD_LAT": 53.54, "PORT_LOAD_LONG": 9.97, "PORT_DEL_LAT": 51.95, "PORT_DEL_LONG": 4.14}
    _, body = call(predictor, [short, RECORD])
    assert body["predictions"][0] < body["predictions"][1]


def test_integer_coordinates_are_numbers(predictor):
    status, _ = call(predictor, {"PORT_LOAD_LAT": 31, "PORT_LOAD_LONG": 121, "PORT_DEL_LAT": 52, "PORT_DEL_LONG": 4})
    assert status == 200


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (
            {"records": [{k: v for k, v in RECORD.items() if k != "PORT_DEL_LAT"}]},
            "records[0]: missing field(s) PORT_DEL_LAT",
        ),
        ({"records": [RECORD, {**RECORD, "SPEED": 1}]}, "records[1]: unexpected field(s) SPEED"),
        ({"records": [{**RECORD, "PORT_LOAD_LAT": "31.2"}]}, "records[0].PORT_LOAD_LAT: expected a number, got '31.2'"),
        ({"records": [{**RECORD, "PORT_LOAD_LAT": None}]}, "records[0].PORT_LOAD_LAT: expected a number, got None"),
        ({"records": [{**RECORD, "PORT_DEL_LONG": True}]}, "records[0].PORT_DEL_LONG: expected a number, got True"),
        ({"records": [{**RECORD, "PORT_DEL_LONG": float("nan")}]}, "PORT_DEL_LONG: expected a finite number"),
        ({"records": [{**RECORD, "PORT_DEL_LONG": float("inf")}]}, "PORT_DEL_LONG: expected a finite number"),
        ({"records": [{**RECORD, "PORT_DEL_LAT": 91}]}, "PORT_DEL_LAT: expected a value between -90 and 90"),
        ({**RECORD, "PORT_LOAD_LONG": -200}, "record.PORT_LOAD_LONG: expected a value between -180 and 180"),
        ({"records": []}, "records: the batch is empty"),
        ([], "records: the batch is empty"),
        ({"records": [RECORD] * 11}, "11 records exceed the limit of 10"),
        ({"records": RECORD}, "records: expected a list"),
        ({"records": [RECORD], "model": "x"}, "unexpected field(s) model beside records"),
        ({"records": [[1, 2, 3]]}, "records[0]: expected 4 values in the order PORT_LOAD_LAT"),
        ({"records": ["text"]}, "records[0]: expected an object"),
        ("just text", "expected a record, a list of records"),
        (None, "expected a record, a list of records"),
        (url_event("{not json"), "body: not valid JSON"),
        (url_event(""), "body: expected a JSON request, got an empty body"),
        (url_event("%%%", encoded=False) | {"isBase64Encoded": True}, "body: expected base64-encoded UTF-8 JSON"),
        (url_event(json.dumps(RECORD), method="GET"), "method GET is not supported"),
    ],
    ids=[
        "missing",
        "extra",
        "string",
        "null",
        "bool",
        "nan",
        "inf",
        "lat-range",
        "long-range",
        "empty",
        "empty-list",
        "oversized",
        "records-not-list",
        "extra-top-level",
        "short-row",
        "row-not-object",
        "text",
        "null-payload",
        "bad-json",
        "empty-body",
        "bad-base64",
        "get",
    ],
)
def test_bad_requests_get_400_naming_the_field(predictor, event, message):
    status, body = call(predictor, event)
    assert status == 400
    assert message in body["error"]
    assert "Traceback" not in body["error"]


def test_model_version_defaults_to_unknown(model_dir):
    assert inference.load_predictor({"MODEL_URI": str(model_dir)}).version == "unknown"


def test_pickled_models_are_refused(model_dir, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    mlmodel = yaml.safe_load((copy / "MLmodel").read_text())
    mlmodel["flavors"]["sklearn"]["serialization_format"] = "cloudpickle"
    (copy / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    with pytest.raises(ModelFileError, match="only 'skops' is served"):
        inference.load_predictor({"MODEL_URI": str(copy)})


def test_a_folder_without_a_model_is_refused(tmp_path):
    with pytest.raises(ModelFileError, match="no MLmodel file"):
        inference.load_predictor({"MODEL_URI": str(tmp_path)})


def test_a_model_trained_on_other_features_is_refused(tmp_path, deliveries):
    import mlflow.sklearn
    from sklearn.linear_model import LinearRegression

    frame = deliveries.features.rename(columns={"PORT_DEL_LONG": "PORT_DEL_LON"})
    path = tmp_path / "model"
    mlflow.sklearn.save_model(LinearRegression().fit(frame, deliveries.target), str(path), serialization_format="skops")
    with pytest.raises(RuntimeError, match="the model expects features"):
        inference.load_predictor({"MODEL_URI": str(path)})


def test_handler_loads_the_model_once(model_dir, monkeypatch):
    monkeypatch.setattr(inference, "_PREDICTOR", None)
    monkeypatch.setenv("MODEL_URI", str(model_dir))
    loads = []
    real = inference.load_predictor
    monkeypatch.setattr(inference, "load_predictor", lambda: loads.append(1) or real())
    for _ in range(3):
        assert inference.handler(RECORD, None)["statusCode"] == 200
    assert loads == [1]
