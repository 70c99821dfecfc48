"""The inference image's Dockerfile and build context: what the handler needs, and nothing else."""

from __future__ import annotations

import ast
import json
import shlex
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import inference
import pytest

SEED_CODE = Path(__file__).resolve().parents[2] / "seed_code"
DOCKERFILE = SEED_CODE / "Dockerfile"
TASK_ROOT = "${LAMBDA_TASK_ROOT}"
BASE_IMAGE = "public.ecr.aws/lambda/python:3.12"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per logical line: continuations joined, comments and blank lines dropped."""
    logical, current = [], ""
    for line in text.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        keyword, _, arguments = current.strip().partition(" ")
        logical.append((keyword.upper(), arguments.strip()))
        current = ""
    return logical


def dockerfile() -> list[tuple[str, str]]:
    return instructions(DOCKERFILE.read_text())


def copies() -> list[tuple[list[str], str]]:
    """(sources, destination) of each COPY."""
    result = []
    for keyword, arguments in dockerfile():
        if keyword == "COPY":
            *sources, destination = [t for t in shlex.split(arguments) if not t.startswith("--")]
            result.append((sources, destination))
    return result


def imported_modules(path: Path, module_level_only: bool = False) -> set[str]:
    """Top-level names of the absolute imports in a module (optionally only those run at import time)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def local_modules(entry: str, root: Path) -> set[str]:
    """``entry`` and every module of ``root`` it imports, directly or through another one."""
    found, pending = set(), [entry]
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found.add(name)
        pending += [m for m in imported_modules(root / f"{name}.py") if (root / f"{m}.py").is_file()]
    return found


# ------------------------------------------------------------------------------------------------ imports


def test_local_modules_follows_imports_through_the_seed_code(tmp_path):
    (tmp_path / "handler.py").write_text("import json\nimport helpers\n")
    (tmp_path / "helpers.py").write_text("from schema import X\n\ndef f():\n    import lazy\n")
    (tmp_path / "schema.py").write_text("X = 1\n")
    (tmp_path / "lazy.py").write_text("")
    (tmp_path / "unused.py").write_text("")
    assert local_modules("handler", tmp_path) == {"handler", "helpers", "schema", "lazy"}


def test_the_image_copies_every_seed_module_the_handler_imports():
    needed = {f"{name}.py" for name in local_modules("inference", SEED_CODE)}
    copied = {source for sources, destination in copies() if destination.rstrip("/") == TASK_ROOT for source in sources}
    assert needed == copied - {"requirements-inference.txt"}


def test_the_handler_runs_without_training_only_packages():
    # What inference.py and its seed modules import when loaded must come from requirements-inference.txt.
    pinned = {
        line.split("==")[0].strip().lower()
        for line in (SEED_CODE / "requirements-inference.txt").read_text().splitlines()
        if "==" in line
    }
    distributions = packages_distributions()
    for name in local_modules("inference", SEED_CODE):
        for module in imported_modules(SEED_CODE / f"{name}.py", module_level_only=True):
            if module in sys.stdlib_module_names or module == "__future__" or (SEED_CODE / f"{module}.py").is_file():
                continue
            providers = {d.lower() for d in distributions.get(module, [])}
            assert providers & pinned, f"{name}.py imports {module}, which requirements-inference.txt does not pin"


# ------------------------------------------------------------------------------------------------ Dockerfile


def test_the_base_is_the_lambda_python_3_12_image_and_the_build_picks_the_platform():
    froms = [arguments for keyword, arguments in dockerfile() if keyword == "FROM"]
    assert froms == [BASE_IMAGE]  # one stage, no --platform


def test_only_the_inference_requirements_are_installed_without_a_cache():
    runs = [shlex.split(arguments) for keyword, arguments in dockerfile() if keyword == "RUN"]
    installs = [tokens for tokens in runs if "install" in tokens]
    assert len(installs) == 1
    [tokens] = installs
    assert tokens[:2] == ["pip", "install"] and "--no-cache-dir" in tokens
    assert [t for t in tokens[2:] if not t.startswith("--")] == ["-r", f"{TASK_ROOT}/requirements-inference.txt"]
    assert (["requirements-inference.txt"], f"{TASK_ROOT}/") in copies()


def test_the_model_is_copied_where_the_handler_loads_it_from():
    assert (["model/"], inference.DEFAULT_MODEL_URI + "/") in copies()


def test_the_model_version_argument_becomes_the_environment_variable():
    keywords = dockerfile()
    assert ("ARG", "MODEL_VERSION") in keywords
    assert ("ENV", "MODEL_VERSION=${MODEL_VERSION}") in keywords
    assert keywords.index(("ARG", "MODEL_VERSION")) < keywords.index(("ENV", "MODEL_VERSION=${MODEL_VERSION}"))


def test_the_command_is_the_handler():
    [command] = [arguments for keyword, arguments in dockerfile() if keyword == "CMD"]
    module, function = json.loads(command)[0].split(".")
    assert (module, function) == ("inference", "handler") and callable(getattr(inference, function))
    assert dockerfile()[-1][0] == "CMD"


# ------------------------------------------------------------------------------------------------ context


def dockerignore() -> list[str]:
    lines = (SEED_CODE / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def test_the_context_is_only_what_the_dockerfile_copies():
    patterns = dockerignore()
    assert patterns[0] == "*", "start by excluding everything"
    included = {pattern.removeprefix("!").rstrip("/") for pattern in patterns[1:]}
    assert all(pattern.startswith("!") for pattern in patterns[1:])
    assert included == {source.rstrip("/") for sources, _ in copies() for source in sources}


@pytest.mark.parametrize("path", ["data/deliveries.csv", "train.py", "buildspec.yml", "ci", "train-result.json"])
def test_training_files_stay_out_of_the_context(path):
    included = {pattern.removeprefix("!").rstrip("/") for pattern in dockerignore()[1:]}
    assert path.split("/")[0] not in included
