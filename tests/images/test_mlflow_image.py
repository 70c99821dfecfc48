"""The MLflow image's Dockerfile and pins, checked without Docker: what it installs covers what mlflow_start imports,
at the versions the tests ran, and the image keeps the container contract (non-root, port, entry point, no
HEALTHCHECK, a build context of exactly the copied files)."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
IMAGE = ROOT / "infra" / "images" / "mlflow"
DOCKERFILE = (IMAGE / "Dockerfile").read_text()


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", "\n".join(line for line in DOCKERFILE.splitlines() if not line.startswith("#")))
    result = []
    for line in text.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            result.append((keyword.upper(), " ".join(rest.split())))
    return result


def pins(path: Path) -> dict[str, Requirement]:
    result = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            result[canonicalize_name(requirement.name)] = requirement
    return result


def pinned_version(requirement: Requirement) -> str:
    (specifier,) = requirement.specifier
    assert specifier.operator == "==", requirement
    return specifier.version


def closure(requirements: list[Requirement]) -> set[str]:
    """Every distribution these requirements install, per the .venv's metadata (markers for this interpreter)."""
    seen: set[str] = set()
    pending = [(requirement, frozenset(requirement.extras)) for requirement in requirements]
    while pending:
        requirement, extras = pending.pop()
        name = canonicalize_name(requirement.name)
        key = f"{name}[{','.join(sorted(extras))}]"
        if key in seen:
            continue
        seen.add(key)
        for text in importlib.metadata.requires(name) or []:
            child = Requirement(text)
            environments = [{**default_environment(), "extra": extra} for extra in ("", *extras)]
            if child.marker is None or any(child.marker.evaluate(env) for env in environments):
                pending.append((child, frozenset(child.extras)))
    return {key.split("[")[0] for key in seen}


def test_the_image_is_a_slim_python_running_mlflow_start_as_a_non_root_user_on_port_5000():
    steps = instructions()
    keywords = [keyword for keyword, _ in steps]
    assert steps[0] == ("FROM", "python:3.12-slim")
    assert "HEALTHCHECK" not in keywords  # ECS runs the task definition's health check, documented in the file
    assert ("EXPOSE", "5000") in steps
    users = [argument for keyword, argument in steps if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert steps[-1] == ("ENTRYPOINT", '["python", "-m", "mlflow_start"]')
    assert (
        "ENV",
        "PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONPATH=/opt/mlflow-start",
    ) in steps
    assert '["CMD", "python", "-m", "mlflow_start", "healthcheck"]' in DOCKERFILE


def test_the_build_context_is_exactly_what_the_dockerfile_copies():
    copied = set()
    for keyword, argument in instructions():
        if keyword == "COPY":
            copied.update(argument.split()[:-1])
    allowed = {line[1:] for line in (IMAGE / ".dockerignore").read_text().splitlines() if line.startswith("!")}
    assert copied == allowed == {"requirements.in", "requirements.txt", "mlflow_start.py"}
    assert "*" in (IMAGE / ".dockerignore").read_text().splitlines()


def test_pip_installs_the_direct_requirements_constrained_by_the_full_pin_list():
    (run,) = [argument for keyword, argument in instructions() if keyword == "RUN" and "pip install" in argument]
    assert "--only-binary=:all:" in run and "--no-cache-dir" in run
    assert "-r /opt/mlflow-start/requirements.in -c /opt/mlflow-start/requirements.txt" in run


def test_direct_requirements_are_pinned_to_the_versions_in_the_venv():
    direct = pins(IMAGE / "requirements.in")
    assert set(direct) == {"mlflow", "pymysql", "boto3", "cryptography"}
    assert direct["mlflow"].extras == {"auth"}
    for name, requirement in direct.items():
        assert pinned_version(requirement) == importlib.metadata.version(name), name


def test_every_pin_matches_the_venv_and_covers_everything_the_direct_requirements_install():
    locked = pins(IMAGE / "requirements.txt")
    for name, requirement in locked.items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # needed by Python 3.12 only
        assert pinned_version(requirement) == installed, f"{name}: pinned {requirement}, the tests ran {installed}"
    needed = closure(list(pins(IMAGE / "requirements.in").values()))
    assert needed - set(locked) == set(), "requirements.txt lacks these; regenerate it (see its header)"


def imported_top_level_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):  # lazy imports inside functions count too
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names - {"__future__"}


def test_every_module_mlflow_start_imports_is_standard_library_or_installed_by_the_image():
    modules = imported_top_level_modules(IMAGE / "mlflow_start.py")
    third_party = {module for module in modules if module not in sys.stdlib_module_names}
    assert third_party == {"pymysql", "sqlalchemy", "mlflow"}
    distributions = importlib.metadata.packages_distributions()
    locked = pins(IMAGE / "requirements.txt")
    for module in third_party:
        providers = {canonicalize_name(name) for name in distributions[module]}
        assert providers & set(locked), f"{module} comes from {providers}, which the image does not install"
