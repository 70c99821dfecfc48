"""Lambda code archives built from the repository's ``functions/`` package.

An archive holds ``functions/__init__.py``, ``functions/common/`` and one function's folder, so the handler's
import path (``functions.<name>.handler.handler``) is the same in Lambda as in the tests. Only ``.py`` files
are included, listed explicitly and in a stable order, so the archive (and its hash) changes only when the
code does: no ``__pycache__``, no timestamps.
"""

from __future__ import annotations

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
