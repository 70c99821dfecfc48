"""Rules the GitHub workflows must follow, as pure functions over parsed files that return problems (empty when
the files comply), so the tests can run them on the real files and on copies broken on purpose."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.ci.pinned_actions import PINNED_ACTIONS

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
LOCAL_ACTIONS = ROOT / ".github" / "actions"

STACK_ORDER = ("tooling", "stage", "prod")
README_TEST_COMMAND = "make test"
TEST_WORKFLOW = "./.github/workflows/test.yml"
POLICY_PACK = "policy"
AWS_CREDENTIALS_ACTION = "aws-actions/configure-aws-credentials"
PULUMI_ACTION = "pulumi/actions"
# What a job's stack-name starts with before the stack itself (the optional Pulumi organization).
STACK_PREFIX = "${{ env.STACK_PREFIX }}"
# Long-lived AWS keys in any spelling (input, environment variable, secret name), compared in lower case with
# `_` read as `-`.
LONG_LIVED_KEY_MARKERS = ("aws-access-key-id", "aws-secret-access-key", "aws-session-token", "secrets.aws-")
PINNED_LINE = re.compile(r"uses:\s*([^@\s]+)@([0-9a-f]{40})\s*(#.*)?$")


@dataclass(frozen=True)
class YamlFile:
    """A workflow or a local action: its path (for messages), its text (for comments) and its parsed content."""

    path: Path
    text: str
    doc: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.path.relative_to(ROOT)) if self.path.is_relative_to(ROOT) else self.path.name


def load(path: Path) -> YamlFile:
    text = path.read_text()
    return YamlFile(path, text, yaml.safe_load(text))


def workflow_paths() -> list[Path]:
    return sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])


def local_action_paths() -> list[Path]:
    return sorted([*LOCAL_ACTIONS.glob("*/action.yml"), *LOCAL_ACTIONS.glob("*/action.yaml")])


# ----------------------------------------------------------------------------------------------------------------
# Reading workflows


def triggers(doc: dict[str, Any]) -> dict[str, Any]:
    """The `on:` section as a mapping (YAML 1.1 reads the bare key `on` as True)."""
    on = doc.get("on", doc.get(True))
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    return on or {}


def jobs(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return doc.get("jobs") or {}


def steps(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, step) for every step of a workflow's jobs or of a composite action."""
    for job_id, job in jobs(doc).items():
        for index, step in enumerate(job.get("steps") or []):
            yield f"job {job_id!r} step {index + 1}", step
    for index, step in enumerate((doc.get("runs") or {}).get("steps") or []):
        yield f"step {index + 1}", step


def action_name(uses: str) -> str:
    return uses.partition("@")[0]


def steps_using(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [step for step in job.get("steps") or [] if action_name(step.get("uses", "")) == action]


def matrix_rows(job: dict[str, Any]) -> list[dict[str, Any]]:
    """The job's matrix as rows (only `include` lists are used here); one empty row without a matrix."""
    matrix = (job.get("strategy") or {}).get("matrix") or {}
    return list(matrix.get("include") or []) or [{}]


def resolve(value: Any, row: dict[str, Any]) -> Any:
    """`value` with `${{ matrix.x }}` replaced by the row's x."""
    if not isinstance(value, str):
        return value
    return re.sub(r"\$\{\{\s*matrix\.([\w-]+)\s*\}\}", lambda m: str(row.get(m.group(1), m.group(0))), value)


def stack_of(stack_name: str) -> str:
    return stack_name.removeprefix(STACK_PREFIX)


def environment_name(job: dict[str, Any]) -> str | None:
    environment = job.get("environment")
    return environment.get("name") if isinstance(environment, dict) else environment


def needs(job: dict[str, Any]) -> list[str]:
    value = job.get("needs") or []
    return [value] if isinstance(value, str) else list(value)


def assumed_roles(job: dict[str, Any], row: dict[str, Any]) -> list[str]:
    return [
        resolve(step["with"]["role-to-assume"], row)
        for step in steps_using(job, AWS_CREDENTIALS_ACTION)
        if "role-to-assume" in (step.get("with") or {})
    ]


@dataclass(frozen=True)
class PulumiRun:
    job_id: str
    command: str
    stack: str
    role: str | None
    inputs: dict[str, Any]


def pulumi_runs(doc: dict[str, Any]) -> list[PulumiRun]:
    """Every Pulumi command a workflow runs, one per matrix row, with the role its job assumed."""
    runs = []
    for job_id, job in jobs(doc).items():
        for row in matrix_rows(job):
            roles = assumed_roles(job, row)
            for step in steps_using(job, PULUMI_ACTION):
                inputs = {key: resolve(value, row) for key, value in (step.get("with") or {}).items()}
                role = roles[0] if len(roles) == 1 else None
                runs.append(
                    PulumiRun(job_id, inputs.get("command", ""), stack_of(inputs.get("stack-name", "")), role, inputs)
                )
    return runs


def role_variable(kind: str, stack: str) -> str:
    """The repository variable holding a stack's role ARN: each stack lives in its own account."""
    return f"${{{{ vars.AWS_{kind}_ROLE_{stack.upper()} }}}}"


# ----------------------------------------------------------------------------------------------------------------
# Rules for every file


def pinning_problems(file: YamlFile) -> list[str]:
    """Third-party actions: only reviewed ones, each by its full commit, with inputs that commit declares."""
    problems = []
    references = [(where, step) for where, step in steps(file.doc) if "uses" in step]
    references += [(f"job {job_id!r}", job) for job_id, job in jobs(file.doc).items() if "uses" in job]
    for where, item in references:
        uses = item["uses"]
        if uses.startswith("./"):
            continue
        name, _, ref = uses.partition("@")
        pin = PINNED_ACTIONS.get(name)
        if pin is None:
            problems.append(f"{file.name}: {where} uses {name}, which tests/ci/pinned_actions.py does not list")
        elif ref != pin.commit:
            problems.append(f"{file.name}: {where} uses {uses}; pin it to {name}@{pin.commit} # {pin.version}")
        else:
            undeclared = sorted(set(item.get("with") or {}) - pin.inputs)
            if undeclared:
                problems.append(f"{file.name}: {where} passes {undeclared}, inputs {name} {pin.version} lacks")
    for number, line in enumerate(file.text.splitlines(), start=1):
        match = PINNED_LINE.search(line)
        pin = PINNED_ACTIONS.get(match.group(1)) if match else None
        if match and pin and match.group(3) != f"# {pin.version}":
            problems.append(f"{file.name}:{number}: the comment after the commit must say '# {pin.version}'")
    return problems


def long_lived_key_problems(file: YamlFile) -> list[str]:
    """AWS credentials come from OIDC role assumption only, never from stored keys."""
    return [
        f"{file.name}:{number}: long-lived AWS key: {line.strip()}"
        for number, line in enumerate(file.text.splitlines(), start=1)
        if any(marker in line.lower().replace("_", "-") for marker in LONG_LIVED_KEY_MARKERS)
    ]


def permission_problems(file: YamlFile) -> list[str]:
    """Nothing granted workflow-wide; each job asks for its own, and id-token: write only to assume a role."""
    problems = []
    if file.doc.get("permissions") != {}:
        problems.append(f"{file.name}: workflow-level permissions must be {{}} (each job asks for its own)")
    for job_id, job in jobs(file.doc).items():
        permissions = job.get("permissions")
        if not isinstance(permissions, dict):
            problems.append(f"{file.name}: job {job_id!r} must list its permissions, got {permissions!r}")
            continue
        assumes_role = bool(assumed_roles(job, {}))
        has_id_token = permissions.get("id-token") == "write"
        if has_id_token and not assumes_role:
            problems.append(f"{file.name}: job {job_id!r} has id-token: write but assumes no AWS role")
        if assumes_role and not has_id_token:
            problems.append(f"{file.name}: job {job_id!r} assumes an AWS role without id-token: write")
    return problems


# ----------------------------------------------------------------------------------------------------------------
# Rules for one workflow each


def preview_problems(file: YamlFile) -> list[str]:
    """Pull requests preview every stack, in its own account, under the policy pack, commenting the diff."""
    problems = []
    if "pull_request" not in triggers(file.doc):
        problems.append(f"{file.name}: must run on pull_request")
    runs = [run for run in pulumi_runs(file.doc) if run.command == "preview"]
    previewed = sorted(run.stack for run in runs)
    if previewed != sorted(STACK_ORDER):
        problems.append(f"{file.name}: previews {previewed}, expected each of {list(STACK_ORDER)} once")
    for run in runs:
        if run.role != role_variable("PREVIEW", run.stack):
            problems.append(f"{file.name}: preview of {run.stack} assumes {run.role!r}, not its account's role")
        if run.inputs.get("policyPacks") != POLICY_PACK:
            problems.append(f"{file.name}: preview of {run.stack} must run the policy pack {POLICY_PACK!r}")
        if run.inputs.get("comment-on-pr") not in (True, "true"):
            problems.append(f"{file.name}: preview of {run.stack} must post its diff (comment-on-pr: true)")
        if (jobs(file.doc)[run.job_id].get("permissions") or {}).get("pull-requests") != "write":
            problems.append(f"{file.name}: job {run.job_id!r} needs pull-requests: write to comment")
    return problems


def deploy_problems(file: YamlFile) -> list[str]:
    """Tests, then tooling, stage and prod in order, each in its own account; prod behind its environment."""
    problems = []
    on = triggers(file.doc)
    if "workflow_dispatch" not in on or (on.get("push") or {}).get("tags") != ["v*"]:
        problems.append(f"{file.name}: must run on workflow_dispatch and on push of tags ['v*']")
    concurrency = file.doc.get("concurrency") or {}
    if "${{" in str(concurrency.get("group", "${{")) or concurrency.get("cancel-in-progress") is not False:
        problems.append(f"{file.name}: needs one fixed concurrency group with cancel-in-progress: false")
    all_jobs = jobs(file.doc)
    runs = [run for run in pulumi_runs(file.doc) if run.command == "up"]
    if sorted(run.stack for run in runs) != sorted(STACK_ORDER):
        return [*problems, f"{file.name}: runs up on {[run.stack for run in runs]}, expected {list(STACK_ORDER)}"]
    job_of = {run.stack: run.job_id for run in runs}
    test_jobs = [job_id for job_id, job in all_jobs.items() if job.get("uses") == TEST_WORKFLOW]
    previous = test_jobs[0] if test_jobs else None
    if previous is None:
        problems.append(f"{file.name}: no job runs {TEST_WORKFLOW} before deploying")
    for run in sorted(runs, key=lambda run: STACK_ORDER.index(run.stack)):
        job = all_jobs[run.job_id]
        if previous is not None and needs(job) != [previous]:
            problems.append(f"{file.name}: job {run.job_id!r} must need exactly {previous!r}, got {needs(job)}")
        if environment_name(job) != run.stack:
            problems.append(f"{file.name}: job {run.job_id!r} must run in environment {run.stack!r}")
        if run.role != role_variable("DEPLOY", run.stack):
            problems.append(f"{file.name}: job {run.job_id!r} assumes {run.role!r}, not its account's role")
        if run.inputs.get("policyPacks") != POLICY_PACK:
            problems.append(f"{file.name}: up of {run.stack} must run the policy pack {POLICY_PACK!r}")
        previous = job_of[run.stack]
    return problems


def ci_command_problems(workflows: list[YamlFile], ci_run: str) -> list[str]:
    """The README's test command is what CI runs: test.yml runs .ci/run (which runs it) on pushes and pull
    requests, deploy.yml runs test.yml first, and no workflow runs its own variant of the tests."""
    problems = []
    by_name = {file.path.name: file for file in workflows}
    test_workflow, deploy_workflow = by_name.get("test.yml"), by_name.get("deploy.yml")
    if test_workflow is None or deploy_workflow is None:
        return ["both .github/workflows/test.yml and deploy.yml must exist"]
    if not {"push", "pull_request"} <= set(triggers(test_workflow.doc)):
        problems.append(f"{test_workflow.name}: must run on push and pull_request")
    runs = [step["run"].strip() for _, step in steps(test_workflow.doc) if "run" in step]
    if "bash .ci/run" not in runs:
        problems.append(f"{test_workflow.name}: must run `bash .ci/run`, got {runs}")
    if README_TEST_COMMAND not in [line.strip() for line in ci_run.splitlines()]:
        problems.append(f".ci/run must run {README_TEST_COMMAND!r}")
    if not any(job.get("uses") == TEST_WORKFLOW for job in jobs(deploy_workflow.doc).values()):
        problems.append(f"{deploy_workflow.name}: must run {TEST_WORKFLOW}")
    for file in workflows:
        for where, step in steps(file.doc):
            if re.search(r"\b(pytest|ruff)\b", step.get("run", "")):
                problems.append(f"{file.name}: {where} runs tests its own way; use {README_TEST_COMMAND!r}")
    return problems
