"""The bootstrap image answers every request with a clear 'no model deployed yet'."""

from __future__ import annotations

import importlib.util
import json

from infra.components.model_images import BOOTSTRAP_CONTEXT, bootstrap_tag


def load_handler():
    spec = importlib.util.spec_from_file_location("bootstrap_handler", BOOTSTRAP_CONTEXT / "handler.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


def test_bootstrap_handler_says_no_model_is_deployed():
    response = load_handler()({"records": []}, None)
    assert response["statusCode"] == 503
    body = json.loads(response["body"])
    assert body["modelVersion"] is None and "no model deployed yet" in body["error"]


def test_bootstrap_image_is_a_lambda_python_312_image_running_that_handler():
    dockerfile = (BOOTSTRAP_CONTEXT / "Dockerfile").read_text()
    assert "FROM public.ecr.aws/lambda/python:3.12" in dockerfile
    assert 'CMD ["handler.handler"]' in dockerfile


def test_bootstrap_tag_changes_only_with_the_image_content(tmp_path, monkeypatch):
    first = bootstrap_tag()
    assert first == bootstrap_tag()
    copy = tmp_path / "bootstrap"
    copy.mkdir()
    for path in BOOTSTRAP_CONTEXT.iterdir():
        if path.is_file():
            (copy / path.name).write_bytes(path.read_bytes())
    monkeypatch.setattr("infra.components.model_images.BOOTSTRAP_CONTEXT", copy)
    assert bootstrap_tag() == first
    (copy / "handler.py").write_text((copy / "handler.py").read_text() + "\n# changed\n")
    assert bootstrap_tag() != first
