"""train.py against a real MLflow server: registers good models, refuses bad data and weak models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import train

pytestmark = pytest.mark.slow
SEED_CODE = Path(__file__).resolve().parents[2] / "seed_code"


@pytest.fixture
def client(mlflow_tracking_uri) -> mlflow.MlflowClient:
    return mlflow.MlflowClient(tracking_uri=mlflow_tracking_uri)


def run_train(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "train.py", *args],
        cwd=SEED_CODE,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore", **env},
        timeout=300,
    )


def test_trains_logs_and_registers_a_version_tagged_with_the_commit(mlflow_tracking_uri, client, tmp_path, monkeypatch):
    output = tmp_path / "result.json"
    result = run_train(
        {
            "MLFLOW_TRACKING_URI": mlflow_tracking_uri,
            "MODEL_NAME": "registry-test",
            "COMMIT_ID": "0123abcd",
            "TRAIN_OUTPUT": str(output),
        }
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(output.read_text())
    assert summary["passed_quality_gate"] is True
    version = client.get_model_version("registry-test", summary["model_version"])
    assert version.tags["commit"] == "0123abcd"

    run = client.get_run(summary["run_id"])
    assert run.data.metrics["test_mae_days"] < run.data.metrics["baseline_mae_days"]
    assert run.data.metrics["mae_improvement_vs_baseline"] >= 0.3
    assert run.data.tags["quality_gate"] == "passed"
    assert run.data.params["features"] == "PORT_LOAD_LAT,PORT_LOAD_LONG,PORT_DEL_LAT,PORT_DEL_LONG"
    [dataset_input] = run.inputs.dataset_inputs
    assert dataset_input.dataset.name == "deliveries"
    assert dataset_input.dataset.digest == run.data.tags["data_sha256"][:36]

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_tracking_uri)
    model_uri = f"models:/registry-test/{summary['model_version']}"
    model = mlflow.pyfunc.load_model(model_uri)
    assert model.metadata.get_input_schema().input_names() == list(train.FEATURES)
    assert model.predict(model.input_example).shape == (3,)


def test_quality_gate_failure_exits_3_and_registers_nothing(mlflow_tracking_uri, client, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_tracking_uri)
    monkeypatch.setenv("QUALITY_GATE_MIN_IMPROVEMENT", "0.99")
    code = train.main(["--model-name", "gate-test", "--n-estimators", "20"])
    assert code == train.EXIT_QUALITY_GATE
    assert "quality gate failed" in capsys.readouterr().err
    assert client.search_model_versions("name='gate-test'") == []
    [run] = client.search_runs(
        [client.get_experiment_by_name("delivery-time").experiment_id], "tags.quality_gate = 'failed'"
    )
    assert "QUALITY_GATE_MIN_IMPROVEMENT" in run.data.tags["quality_gate_reason"]


def test_max_mae_gate(mlflow_tracking_uri, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_tracking_uri)
    code = train.main(
        ["--model-name", "gate-test", "--n-estimators", "20", "--min-improvement", "0", "--max-mae-days", "0.5"]
    )
    assert code == train.EXIT_QUALITY_GATE
    assert "above the gate's 0.5 days" in capsys.readouterr().err


def test_bad_data_exits_2_with_the_line(mlflow_tracking_uri, monkeypatch, capsys, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "DELIVERY_TIME_DAYS,PORT_LOAD_LAT,PORT_LOAD_LONG,PORT_DEL_LAT,PORT_DEL_LONG\n"
        + "20,31.2,121.4,51.9,4.1\n" * 30
        + "x,1,1,1,1\n"
    )
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_tracking_uri)
    assert train.main(["--data", str(bad)]) == train.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "line 32: DELIVERY_TIME_DAYS is 'x'" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MLFLOW_TRACKING_URI": ""}, "set MLFLOW_TRACKING_URI"),
        ({"TEST_SIZE": "1.5"}, "expected a share between 0 and 1"),
        ({"N_ESTIMATORS": "many"}, "N_ESTIMATORS='many': expected a whole number"),
    ],
)
def test_bad_settings_exit_2(monkeypatch, capsys, env, message):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert train.main([]) == train.EXIT_BAD_INPUT
    assert message in capsys.readouterr().err


def test_unreachable_mlflow_exits_4():
    result = run_train(
        {
            "MLFLOW_TRACKING_URI": "http://127.0.0.1:9",
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
            "MLFLOW_HTTP_REQUEST_TIMEOUT": "2",
            "N_ESTIMATORS": "10",
        }
    )
    assert result.returncode == train.EXIT_MLFLOW, result.stderr
    assert "error: MLflow at http://127.0.0.1:9 failed" in result.stderr
