"""Lambda archives hold exactly the function's code and the shared package, in a stable order."""

from __future__ import annotations

import pytest

from infra import packaging


def test_archive_holds_the_function_the_common_package_and_nothing_else():
    archive = packaging.function_archive("deploy")
    paths = list(archive.assets)
    assert "functions/__init__.py" in paths
    assert "functions/deploy/handler.py" in paths
    assert any(p.startswith("functions/common/") for p in paths)
    assert all(p.endswith(".py") and "__pycache__" not in p for p in paths)
    assert not any(p.startswith(("functions/tests", "tests/")) for p in paths)


def test_archive_is_stable():
    assert list(packaging.function_archive("deploy").assets) == list(packaging.function_archive("deploy").assets)


def test_handler_path_matches_the_archive_layout():
    module = packaging.handler_name("deploy").rsplit(".", 1)[0]
    assert f"{module.replace('.', '/')}.py" in packaging.function_archive("deploy").assets


def test_unknown_function_is_refused():
    with pytest.raises(FileNotFoundError, match="is 'nope' a function in functions/"):
        packaging.function_archive("nope")
