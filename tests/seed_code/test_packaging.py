"""What the inference image ships: pinned like the tests run, and enough without pandas or mlflow."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

SEED_CODE = Path(__file__).resolve().parents[2] / "seed_code"


def pins(name: str) -> dict[str, str]:
    lines = (SEED_CODE / name).read_text().splitlines()
    entries = [line.split("#")[0].strip() for line in lines]
    return dict(entry.split("==") for entry in entries if entry)


@pytest.mark.parametrize("name", ["requirements.txt", "requirements-inference.txt"])
def test_requirements_pin_the_versions_the_tests_run(name):
    pinned = pins(name)
    assert pinned, f"{name} pins nothing"
    assert {package: version(package) for package in pinned} == pinned


def test_training_and_inference_use_the_same_model_libraries():
    training, inference = pins("requirements.txt"), pins("requirements-inference.txt")
    for package in ("scikit-learn", "skops", "numpy"):
        assert training[package] == inference[package]
    assert "mlflow" not in inference and "pandas" not in inference


def test_inference_answers_without_pandas_or_mlflow_installed(model_dir):
    script = f"""
import json, sys
sys.modules["pandas"] = None  # as in the image: importing it fails
sys.modules["mlflow"] = None
sys.path.insert(0, {str(SEED_CODE)!r})
import inference
model = inference.load_predictor({{"MODEL_URI": {str(model_dir)!r}, "MODEL_VERSION": "3"}})
record = {{"PORT_LOAD_LAT": 1.26, "PORT_LOAD_LONG": 103.84, "PORT_DEL_LAT": 33.74, "PORT_DEL_LONG": -118.27}}
print(json.dumps(inference.handle({{"records": [record]}}, model)))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["modelVersion"] == "3"
