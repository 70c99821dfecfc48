"""The data scientist's local loop: train, register, promote to `staging`, and serve through the real handler.

    python -m local.train_and_serve [--workdir .work/train-and-serve] [--keep]

Starts a local MLflow server (SQLite and local artifacts in a git-ignored folder), runs
``seed_code/train.py`` against it exactly as CodeBuild would, points the ``staging`` alias at the new
version, loads that model back from ``models:/<name>@staging`` and prints predictions for sample port pairs
through the real inference handler. Stops everything it started, on success, failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from local.mlflow_server import mlflow_server
from local.processes import ServerError

ROOT = Path(__file__).resolve().parents[1]
SEED_CODE = ROOT / "seed_code"
DEFAULT_WORKDIR = ROOT / ".work" / "train-and-serve"
STAGING_ALIAS = "staging"

SAMPLES: list[tuple[str, dict[str, float]]] = [
    (
        "Shanghai -> Rotterdam",
        {"PORT_LOAD_LAT": 31.23, "PORT_LOAD_LONG": 121.47, "PORT_DEL_LAT": 51.95, "PORT_DEL_LONG": 4.14},
    ),
    (
        "Singapore -> Los Angeles",
        {"PORT_LOAD_LAT": 1.26, "PORT_LOAD_LONG": 103.84, "PORT_DEL_LAT": 33.74, "PORT_DEL_LONG": -118.27},
    ),
    (
        "Hamburg -> New York",
        {"PORT_LOAD_LAT": 53.54, "PORT_LOAD_LONG": 9.97, "PORT_DEL_LAT": 40.67, "PORT_DEL_LONG": -74.04},
    ),
    (
        "Valencia -> Jebel Ali",
        {"PORT_LOAD_LAT": 39.44, "PORT_LOAD_LONG": -0.32, "PORT_DEL_LAT": 25.01, "PORT_DEL_LONG": 55.06},
    ),
]


class StepFailed(RuntimeError):
    """A step of the loop failed; the message says which and why."""


def step(message: str) -> float:
    print(f"==> {message}", flush=True)
    return time.monotonic()


def done(started: float, detail: str = "") -> None:
    print(f"    done in {time.monotonic() - started:.1f} s{': ' + detail if detail else ''}", flush=True)


def current_commit() -> str:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=10
        )
        return result.stdout.strip() or "local"
    except (OSError, subprocess.SubprocessError):
        return "local"


def train(tracking_uri: str, workdir: Path, model_name: str, commit: str) -> dict[str, Any]:
    output, log = workdir / "train.json", workdir / "train.log"
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": tracking_uri,
        "MODEL_NAME": model_name,
        "COMMIT_ID": commit,
        "TRAIN_OUTPUT": str(output),
        "PYTHONWARNINGS": "ignore",
    }
    with log.open("w") as stream:
        result = subprocess.run(
            [sys.executable, "train.py"], cwd=SEED_CODE, env=env, stdout=stream, stderr=subprocess.STDOUT, check=False
        )
    if result.returncode != 0:
        errors = [line for line in log.read_text().splitlines() if line.startswith("error:")]
        reason = errors[-1] if errors else f"train.py exited with code {result.returncode}"
        raise StepFailed(f"training failed: {reason} (full log: {log})")
    return json.loads(output.read_text())


def promote(tracking_uri: str, model_name: str, version: str) -> None:
    import mlflow

    mlflow.MlflowClient(tracking_uri=tracking_uri).set_registered_model_alias(model_name, STAGING_ALIAS, version)


def serve(tracking_uri: str, model_name: str) -> dict[str, Any]:
    """Invoke the real inference handler with the model behind ``models:/<name>@staging``."""
    os.environ["MLFLOW_TRACKING_URI"] = tracking_uri
    os.environ["MODEL_URI"] = f"models:/{model_name}@{STAGING_ALIAS}"
    if str(SEED_CODE) not in sys.path:
        sys.path.insert(0, str(SEED_CODE))
    inference = importlib.import_module("inference")
    request = {"records": [record for _, record in SAMPLES]}
    response = inference.handler(request, None)
    if response["statusCode"] != 200:
        raise StepFailed(f"the inference handler answered {response['statusCode']}: {response['body']}")
    return json.loads(response["body"])


def print_predictions(body: dict[str, Any]) -> None:
    print(f"\n    Predictions of model version {body['modelVersion']} (models:/...@{STAGING_ALIAS}):")
    for (route, _), days in zip(SAMPLES, body["predictions"], strict=True):
        print(f"      {route:<26} {days:6.1f} days")
    print()


def run(workdir: Path, model_name: str, keep: bool) -> int:
    total = time.monotonic()
    shown = workdir.relative_to(ROOT) if workdir.is_relative_to(ROOT) else workdir
    started = step(f"Starting MLflow (SQLite and artifacts in {shown})")
    with mlflow_server(workdir) as tracking_uri:
        done(started, tracking_uri)
        commit = current_commit()
        started = step(f"Training on seed_code/data/deliveries.csv (commit {commit})")
        result = train(tracking_uri, workdir, model_name, commit)
        metrics = result["metrics"]
        done(
            started,
            f"registered {model_name} version {result['model_version']}, test MAE "
            f"{metrics['test_mae_days']:.2f} days vs baseline {metrics['baseline_mae_days']:.2f}",
        )
        started = step(f"Moving alias '{STAGING_ALIAS}' to version {result['model_version']}")
        promote(tracking_uri, model_name, result["model_version"])
        done(started)
        started = step(f"Serving models:/{model_name}@{STAGING_ALIAS} through seed_code/inference.py")
        body = serve(tracking_uri, model_name)
        done(started)
        print_predictions(body)
        if keep:
            print(f"MLflow UI: {tracking_uri} (Ctrl-C to stop)", flush=True)
            while True:
                time.sleep(3600)
    print(f"Finished in {time.monotonic() - total:.1f} s; MLflow stopped. Data kept in {workdir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workdir", type=Path, default=DEFAULT_WORKDIR, help="where MLflow keeps its database, artifacts and logs"
    )
    parser.add_argument("--model-name", default="delivery-time", help="registered model name")
    parser.add_argument("--keep", action="store_true", help="keep MLflow running for its UI until Ctrl-C")
    args = parser.parse_args(argv)
    try:
        return run(args.workdir.resolve(), args.model_name, args.keep)
    except (StepFailed, ServerError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted; MLflow stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
