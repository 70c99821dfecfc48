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


def test_slack_layer_holds_the_installed_slack_sdk_under_python():
    layer = packaging.python_layer_archive(("slack_sdk",))
    paths = list(layer.assets)
    assert "python/slack_sdk/__init__.py" in paths
    assert "python/slack_sdk/web/client.py" in paths
    assert all(p.startswith("python/slack_sdk/") and p.endswith(".py") for p in paths)
    assert list(packaging.python_layer_archive(("slack_sdk",)).assets) == paths


def test_a_missing_package_is_refused_with_the_fix():
    with pytest.raises(ModuleNotFoundError, match="make setup"):
        packaging.python_layer_archive(("no_such_package_here",))
