"""The committed stack files are valid examples: each evaluates as its stack, and documents its keys."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from tests.infra.harness import ROOT, run_stack

STACKS = ("tooling", "stage", "prod")


def stack_file(stack: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())


def as_runtime_config(config: dict[str, Any]) -> dict[str, str]:
    """Config values as the CLI hands them to the program: objects and lists as JSON text."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def test_project_uses_python_with_the_locked_uv_toolchain():
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["name"] == "serverless-mlops"
    assert project["runtime"]["name"] == "python"
    assert project["runtime"]["options"]["toolchain"] == "uv"
    assert (ROOT / "uv.lock").exists()


@pytest.mark.parametrize("stack", STACKS)
def test_stack_file_evaluates(stack):
    config = as_runtime_config(stack_file(stack)["config"])
    if stack == "tooling":  # secrets are set with `pulumi config set --secret`, never committed in plain text
        config |= {"mlops:slackBotToken": "xoxb-1", "mlops:slackSigningSecret": "s"}
    run = run_stack(stack, config)
    assert run.one("pulumi:providers:aws")


@pytest.mark.parametrize("stack", STACKS)
def test_stack_file_disables_the_default_aws_provider(stack):
    assert stack_file(stack)["config"]["pulumi:disable-default-providers"] == ["aws"]


def test_every_key_the_code_reads_is_documented_in_a_stack_file():
    source = (ROOT / "infra" / "config.py").read_text()
    documented = "\n".join((ROOT / f"Pulumi.{s}.yaml").read_text() for s in STACKS)
    keys = set(
        re.findall(r'reader\.(?:text|integer|string_list|secret|boolean|optional_text)\(\s*"([A-Za-z]+)"', source)
    )
    assert keys, "no keys found in infra/config.py"
    missing = sorted(k for k in keys if f"mlops:{k}" not in documented and k != "region")
    assert missing == []


def test_no_secret_is_committed_in_plain_text():
    for stack in STACKS:
        for key, value in stack_file(stack)["config"].items():
            if key in ("mlops:slackBotToken", "mlops:slackSigningSecret"):
                assert isinstance(value, dict) and "secure" in value, f"{key} in Pulumi.{stack}.yaml"
