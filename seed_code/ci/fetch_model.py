"""Download a registered model version into a folder, and check the inference handler can serve it.

    python -m ci.fetch_model --model-name delivery-time --version 7 --output model

buildspec.yml runs it after train.py: the folder is the Docker build context's ``model/``, which the image
holds at /opt/ml/model. Loading it here with the handler's own loader turns a model the function could not
serve (not skops, other features) into a failed build instead of a failed deployment. The MLflow server and
its credentials come from the environment, as for train.py.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import inference
import mlflow
from mlflow.exceptions import MlflowException


class FetchError(RuntimeError):
    """The model version cannot be put into the folder; the message says why."""


def fetch(model_name: str, version: str, output: Path, tracking_uri: str | None = None) -> inference.Predictor:
    """Write ``models:/<model_name>/<version>`` into ``output`` and load it as the Lambda function would."""
    if not version.isdigit():
        raise FetchError(f"version {version!r}: expected a registry version number such as 7")
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise FetchError(f"{output}: already exists and is not an empty folder; the image must hold one model only")
    uri = f"models:/{model_name}/{version}"
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=uri, dst_path=str(output), tracking_uri=tracking_uri, registry_uri=tracking_uri
    )
    if Path(local).resolve() != output.resolve():
        raise FetchError(f"{uri}: MLflow wrote the model to {local}, expected {output}")
    try:
        return inference.load_predictor({"MODEL_URI": str(output), "MODEL_VERSION": version})
    except (RuntimeError, ValueError) as error:  # a ModelFileError, other features, a type skops does not trust
        raise FetchError(f"{uri} cannot be served by inference.py: {error}") from error


def main(argv: list[str] | None = None) -> int:
    env = os.environ.get
    parser = argparse.ArgumentParser(description="Download a registered model version for the inference image.")
    parser.add_argument("--model-name", default=env("MODEL_NAME"), help="registered model name (env MODEL_NAME)")
    parser.add_argument("--version", default=env("MODEL_VERSION"), help="registry version (env MODEL_VERSION)")
    parser.add_argument("--output", type=Path, default=Path("model"), help="folder to create (default: model)")
    parser.add_argument("--tracking-uri", default=env("MLFLOW_TRACKING_URI"), help="(env MLFLOW_TRACKING_URI)")
    args = parser.parse_args(argv)
    if not args.model_name or not args.version:
        parser.error("--model-name and --version (or MODEL_NAME and MODEL_VERSION) are required")
    try:
        predictor = fetch(args.model_name, args.version, args.output, args.tracking_uri)
    except FetchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except MlflowException as error:
        uri = f"models:/{args.model_name}/{args.version}"
        print(f"error: MLflow could not provide {uri}: {error.message}", file=sys.stderr)
        return 1
    run = predictor.model.run_id or "unknown run"
    print(f"models:/{args.model_name}/{args.version} (from {run}) is in {args.output}/", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
