"""Lambda code archives built from the repository's ``functions/`` package.

An archive holds ``functions/__init__.py``, ``functions/common/`` and one function's folder, so the handler's
import path (``functions.<name>.handler.handler``) is the same in Lambda as in the tests. Only ``.py`` files
are included, listed explicitly and in a stable order, so the archive (and its hash) changes only when the
code does: no ``__pycache__``, no timestamps.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pulumi

ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS = ROOT / "functions"


def source_files(function: str) -> list[Path]:
    folder = FUNCTIONS / function
    if not (folder / "handler.py").is_file():
        raise FileNotFoundError(f"{folder}/handler.py does not exist: is {function!r} a function in functions/?")
    files = [FUNCTIONS / "__init__.py"]
    for package in (FUNCTIONS / "common", folder):
        files.extend(sorted(p for p in package.rglob("*.py") if "__pycache__" not in p.parts))
    return files


def function_archive(function: str) -> pulumi.AssetArchive:
    """The code of ``functions/<function>``, keyed by its path inside the archive."""
    return pulumi.AssetArchive(
        {path.relative_to(ROOT).as_posix(): pulumi.FileAsset(str(path)) for path in source_files(function)}
    )


def handler_name(function: str) -> str:
    return f"functions.{function}.handler.handler"


def _package_folder(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{package} is not installed: run `make setup` (it is a project dependency)")
    return Path(next(iter(spec.submodule_search_locations)))


def installed_package_files(package: str) -> list[Path]:
    """The Python source files of an installed, pure-Python package (no compiled code, so any arch runs it)."""
    folder = _package_folder(package)
    compiled = [p for p in folder.rglob("*") if p.suffix in (".so", ".pyd")]
    if compiled:
        raise ValueError(
            f"{package} has compiled modules ({compiled[0].name}); a layer built this way needs pure Python"
        )
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def python_layer_archive(packages: tuple[str, ...]) -> pulumi.AssetArchive:
    """A Lambda layer: ``python/<package>/...`` for each package, taken from the locked, installed version."""
    assets: dict[str, pulumi.Asset | pulumi.Archive] = {}
    for package in packages:
        for path in installed_package_files(package):
            inside = path.relative_to(_package_folder(package).parent).as_posix()
            assets[f"python/{inside}"] = pulumi.FileAsset(str(path))
    return pulumi.AssetArchive(assets)
