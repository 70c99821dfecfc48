"""Read a model that MLflow saved, without MLflow: the inference image carries only what inference needs.

The model directory is MLflow's (``MLmodel`` plus the serialized estimator). Only the skops format is
accepted: unlike pickle, it never runs code from the file, and it loads only the types listed below.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import skops.io
import yaml

# The tree storage of a gradient-boosting model, which skops does not trust on its own. We trust it because
# the model is the one train.py just trained; train.py declares the same list when it logs the model.
SKOPS_TRUSTED_TYPES: list[str] = ["sklearn.tree._tree.Tree"]


class ModelFileError(RuntimeError):
    """The directory does not hold a model this handler can serve."""


@dataclass(frozen=True)
class LoadedModel:
    estimator: Any
    directory: Path
    mlflow_model_id: str | None
    run_id: str | None


def load_sklearn_model(directory: Path) -> LoadedModel:
    mlmodel_path = directory / "MLmodel"
    if not mlmodel_path.is_file():
        raise ModelFileError(f"{directory}: no MLmodel file; expected a model directory saved by MLflow")
    mlmodel = yaml.safe_load(mlmodel_path.read_text())
    flavor = (mlmodel.get("flavors") or {}).get("sklearn")
    if not flavor:
        raise ModelFileError(f"{mlmodel_path}: no sklearn flavor; expected a model logged with mlflow.sklearn")
    if flavor.get("serialization_format") != "skops":
        raise ModelFileError(
            f"{mlmodel_path}: serialization_format is {flavor.get('serialization_format')!r}; only 'skops' is "
            "served (pickle formats can run arbitrary code when loaded)"
        )
    estimator = skops.io.load(directory / flavor["pickled_model"], trusted=SKOPS_TRUSTED_TYPES)
    return LoadedModel(estimator, directory, mlmodel.get("model_id"), mlmodel.get("run_id"))
