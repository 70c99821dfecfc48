"""Train the delivery-time model, evaluate it against a constant baseline, and register it in MLflow.

Runs the same on a laptop and in CodeBuild: every flag defaults from an environment variable.

    MLFLOW_TRACKING_URI=http://127.0.0.1:5000 python train.py --commit "$(git rev-parse HEAD)"

The data is a local CSV or an S3 object, ``s3://<bucket>/<key>[?versionId=<id>]``: the run, its dataset input
and the model version record the object's version ID, so a model says exactly which data it came from.

MLflow reads MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD itself when the server has auth on, and
retries a failing request (MLFLOW_HTTP_REQUEST_MAX_RETRIES, MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR,
MLFLOW_HTTP_REQUEST_TIMEOUT; buildspec.yml sets them so a database that is resuming is waited for).
Exit codes: 0 registered, 2 bad input or settings, 3 the quality gate refused the model, 4 MLflow failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import dataset
import mlflow
import numpy as np
import s3_data
from features import FEATURES, TARGET
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from model_files import SKOPS_TRUSTED_TYPES
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE / "data" / "deliveries.csv"

EXIT_BAD_INPUT = 2
EXIT_QUALITY_GATE = 3
EXIT_MLFLOW = 4


@dataclass(frozen=True)
class Settings:
    data: Path | s3_data.S3Object
    tracking_uri: str
    experiment: str
    model_name: str
    commit: str
    test_size: float
    seed: int
    n_estimators: int
    max_depth: int
    learning_rate: float
    min_improvement: float
    max_mae_days: float | None
    output: Path | None


@dataclass(frozen=True)
class Evaluation:
    test_mae_days: float
    test_rmse_days: float
    test_r2: float
    test_within_2_days_ratio: float
    baseline_mae_days: float
    mae_improvement_vs_baseline: float


@dataclass(frozen=True)
class Result:
    run_id: str
    model_name: str
    model_version: str | None
    model_uri: str | None
    passed_quality_gate: bool
    gate_message: str
    metrics: dict[str, float]


class SettingsError(ValueError):
    """A flag or environment variable has a value the script cannot use."""


def _env_number(name: str, default: float | None, kind: type[int] | type[float]) -> Any:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        return kind(value)
    except ValueError as error:
        expected = "a whole number" if kind is int else "a number"
        raise SettingsError(f"{name}={value!r}: expected {expected}") from error


def _env_float(name: str, default: float | None) -> float | None:
    return _env_number(name, default, float)


def _env_int(name: str, default: int) -> int:
    return _env_number(name, default, int)


def parse_args(argv: list[str] | None = None) -> Settings:
    env = os.environ.get
    parser = argparse.ArgumentParser(description="Train, evaluate and register the delivery-time model.")
    parser.add_argument(
        "--data",
        default=env("TRAINING_DATA") or str(DEFAULT_DATA),
        help="training CSV: a local path or s3://<bucket>/<key>[?versionId=<id>] (env TRAINING_DATA)",
    )
    parser.add_argument(
        "--tracking-uri", default=env("MLFLOW_TRACKING_URI"), help="MLflow server (env MLFLOW_TRACKING_URI)"
    )
    parser.add_argument(
        "--experiment",
        default=env("MLFLOW_EXPERIMENT_NAME") or "delivery-time",
        help="MLflow experiment (env MLFLOW_EXPERIMENT_NAME)",
    )
    parser.add_argument(
        "--model-name", default=env("MODEL_NAME") or "delivery-time", help="registered model name (env MODEL_NAME)"
    )
    parser.add_argument(
        "--commit",
        default=env("COMMIT_ID") or "local",
        help="git commit of this code, tagged on the model version (env COMMIT_ID)",
    )
    parser.add_argument(
        "--test-size",
        type=float,
        default=_env_float("TEST_SIZE", 0.2),
        help="held-out share of the rows, 0 to 1 (env TEST_SIZE)",
    )
    parser.add_argument("--seed", type=int, default=_env_int("RANDOM_SEED", 42), help="(env RANDOM_SEED)")
    parser.add_argument(
        "--n-estimators", type=int, default=_env_int("N_ESTIMATORS", 300), help="boosting stages (env N_ESTIMATORS)"
    )
    parser.add_argument("--max-depth", type=int, default=_env_int("MAX_DEPTH", 3), help="(env MAX_DEPTH)")
    parser.add_argument(
        "--learning-rate", type=float, default=_env_float("LEARNING_RATE", 0.05), help="(env LEARNING_RATE)"
    )
    parser.add_argument(
        "--min-improvement",
        type=float,
        default=_env_float("QUALITY_GATE_MIN_IMPROVEMENT", 0.3),
        help="quality gate: required relative MAE reduction versus the constant baseline "
        "(env QUALITY_GATE_MIN_IMPROVEMENT)",
    )
    parser.add_argument(
        "--max-mae-days",
        type=float,
        default=_env_float("QUALITY_GATE_MAX_MAE_DAYS", None),
        help="quality gate: highest acceptable test MAE in days (env QUALITY_GATE_MAX_MAE_DAYS)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path(env("TRAIN_OUTPUT")) if env("TRAIN_OUTPUT") else None,
        help="write the result as JSON here (env TRAIN_OUTPUT)",
    )
    args = parser.parse_args(argv)
    if not args.tracking_uri:
        raise SettingsError("no MLflow server: set MLFLOW_TRACKING_URI or pass --tracking-uri")
    if not 0 < args.test_size < 1:
        raise SettingsError(f"--test-size / TEST_SIZE: expected a share between 0 and 1, got {args.test_size}")
    if not 0 <= args.min_improvement < 1:
        raise SettingsError(
            f"--min-improvement / QUALITY_GATE_MIN_IMPROVEMENT: expected 0 to 1, got {args.min_improvement}"
        )
    data = s3_data.S3Object.parse(args.data) if s3_data.is_s3_uri(args.data) else Path(args.data)
    return Settings(**(vars(args) | {"data": data}))


def load_data(source: Path | s3_data.S3Object) -> tuple[dataset.Dataset, dict[str, str]]:
    """Load the training data and the tags that say where it came from (for an S3 object, the version read)."""
    if isinstance(source, Path):
        return dataset.load(source), {}
    with tempfile.TemporaryDirectory(prefix="training-data-") as directory:
        fetched = s3_data.download(source, Path(directory))
        data = dataset.load(fetched.path, source=str(fetched.source))
    return data, {"data_s3_uri": fetched.source.uri, "data_version_id": str(fetched.source.version_id)}


def split(data: dataset.Dataset, test_size: float, seed: int) -> tuple[Any, Any, Any, Any]:
    return train_test_split(data.features, data.target, test_size=test_size, random_state=seed)


def fit(x_train: Any, y_train: Any, settings: Settings) -> GradientBoostingRegressor:
    model = GradientBoostingRegressor(
        n_estimators=settings.n_estimators,
        max_depth=settings.max_depth,
        learning_rate=settings.learning_rate,
        random_state=settings.seed,
    )
    return model.fit(x_train, y_train)


def evaluate(model: GradientBoostingRegressor, x_test: Any, y_test: Any, y_train: Any) -> Evaluation:
    predictions = model.predict(x_test)
    # The baseline a model must beat: always predict the training median.
    baseline = np.full(len(y_test), float(np.median(y_train)))
    mae = float(mean_absolute_error(y_test, predictions))
    baseline_mae = float(mean_absolute_error(y_test, baseline))
    return Evaluation(
        test_mae_days=mae,
        test_rmse_days=float(np.sqrt(mean_squared_error(y_test, predictions))),
        test_r2=float(r2_score(y_test, predictions)),
        test_within_2_days_ratio=float(np.mean(np.abs(predictions - np.asarray(y_test)) <= 2)),
        baseline_mae_days=baseline_mae,
        mae_improvement_vs_baseline=1 - mae / baseline_mae if baseline_mae else 0.0,
    )


def quality_gate(evaluation: Evaluation, settings: Settings) -> tuple[bool, str]:
    if evaluation.mae_improvement_vs_baseline < settings.min_improvement:
        return False, (
            f"test MAE {evaluation.test_mae_days:.2f} days is {evaluation.mae_improvement_vs_baseline:.0%} better "
            f"than the constant baseline's {evaluation.baseline_mae_days:.2f} days; the gate asks for at least "
            f"{settings.min_improvement:.0%} (QUALITY_GATE_MIN_IMPROVEMENT)"
        )
    if settings.max_mae_days is not None and evaluation.test_mae_days > settings.max_mae_days:
        return False, (
            f"test MAE {evaluation.test_mae_days:.2f} days is above the gate's {settings.max_mae_days:g} days "
            "(QUALITY_GATE_MAX_MAE_DAYS)"
        )
    return True, (
        f"test MAE {evaluation.test_mae_days:.2f} days, {evaluation.mae_improvement_vs_baseline:.0%} better than "
        f"the constant baseline ({evaluation.baseline_mae_days:.2f} days)"
    )


def log_and_register(
    settings: Settings,
    data: dataset.Dataset,
    origin: dict[str, str],
    model: GradientBoostingRegressor,
    x_test: Any,
    evaluation: Evaluation,
) -> Result:
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_experiment(settings.experiment)
    passed, message = quality_gate(evaluation, settings)
    metrics = asdict(evaluation)
    with mlflow.start_run(tags={"mlflow.source.git.commit": settings.commit, "commit": settings.commit}) as run:
        mlflow.log_params(
            {
                "model_type": type(model).__name__,
                "n_estimators": settings.n_estimators,
                "max_depth": settings.max_depth,
                "learning_rate": settings.learning_rate,
                "test_size": settings.test_size,
                "seed": settings.seed,
                "rows": len(data.frame),
                "features": ",".join(FEATURES),
                "target": TARGET,
            }
        )
        mlflow.log_input(
            mlflow.data.from_pandas(
                data.frame, source=data.source, targets=TARGET, name="deliveries", digest=data.sha256[:36]
            ),
            context="training",
            tags={"sha256": data.sha256, **origin},
        )
        mlflow.log_metrics(metrics)
        mlflow.set_tags(
            {
                "quality_gate": "passed" if passed else "failed",
                "quality_gate_reason": message,
                "data_sha256": data.sha256,
                **origin,
            }
        )
        if not passed:
            return Result(run.info.run_id, settings.model_name, None, None, False, message, metrics)
        example = x_test.head(3)
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(example, model.predict(example)),
            input_example=example,
            serialization_format="skops",
            skops_trusted_types=SKOPS_TRUSTED_TYPES,
        )
    version = mlflow.register_model(info.model_uri, settings.model_name, tags={"commit": settings.commit, **origin})
    return Result(
        run.info.run_id,
        settings.model_name,
        str(version.version),
        f"models:/{settings.model_name}/{version.version}",
        True,
        message,
        metrics,
    )


def train(settings: Settings) -> Result:
    data, origin = load_data(settings.data)
    x_train, x_test, y_train, y_test = split(data, settings.test_size, settings.seed)
    model = fit(x_train, y_train, settings)
    evaluation = evaluate(model, x_test, y_test, y_train)
    return log_and_register(settings, data, origin, model, x_test, evaluation)


def main(argv: list[str] | None = None) -> int:
    try:
        settings = parse_args(argv)
        result = train(settings)
    except (SettingsError, dataset.DatasetError, s3_data.S3DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except MlflowException as error:
        print(f"error: MLflow at {os.environ.get('MLFLOW_TRACKING_URI', '')} failed: {error.message}", file=sys.stderr)
        return EXIT_MLFLOW
    summary = json.dumps(asdict(result), indent=2)
    if settings.output:
        settings.output.write_text(summary + "\n")
    print(summary)
    if not result.passed_quality_gate:
        print(f"error: quality gate failed: {result.gate_message}", file=sys.stderr)
        return EXIT_QUALITY_GATE
    print(f"registered {result.model_name} version {result.model_version}: {result.gate_message}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
