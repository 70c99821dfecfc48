"""The one substituted step: CodeBuild's ``startBuild.sync``, which moto cannot run.

The deployment points the state machine's Build task at a Lambda function whose handler is
``HANDLER`` (``infra.workflow.replace_build_resource``); the local Lambda service serves that handler here. It
does what CodeBuild would do for the task's parameters (``ProjectName``, ``SourceVersion``,
``EnvironmentVariablesOverride``): reads the project from moto (its source and environment variables, as
``infra/components/image_build.py`` defines them), checks out the commit from the model repository, resolves
the ``SECRETS_MANAGER`` variables, and runs the buildspec's ``pre_build``, ``build`` and ``post_build`` phases
with ``local/pipeline/buildspec.py`` (``install`` is this machine's .venv; ``aws ecr get-login-password`` and
``docker`` are stubs: the "image" is the build context, pushed to moto's ECR by digest and kept in the image
store). It answers with CodeBuild's output shape, so the state's ResultSelector runs unchanged. A failed build
is a ``BuildFailed`` function error (Step Functions reserves ``States.TaskFailed``, which a real failed build
raises) naming the phase, the command and the log's path, with the build description as ``Build``.
"""

from __future__ import annotations

import itertools
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from local.pipeline.buildspec import run_buildspec, write_stubs
from local.pipeline.lambdas import FunctionFailure, ServiceContext
from local.pipeline.source import GitRepository

HANDLER = "local.pipeline.codebuild.start_build_sync"
PHASES = ("pre_build", "build", "post_build")
BUILD_FAILED = "BuildFailed"


@dataclass
class BuildActivity:
    """What a running build is doing (the progress display shows it)."""

    project: str
    number: int
    started: float
    command: str = ""


@dataclass
class CodeBuildStandIn:
    clients: Callable[[str], Any]  # boto3 clients for moto in the tooling account
    role_credentials: Callable[[str, str], dict[str, str]]
    repositories: Callable[[str], GitRepository]  # CodeCommit repository name -> its local git repository
    workdir: Path
    region: str
    moto_url: str
    image_store: Path
    # Called before each build: blocks until what the build needs is up (the MLflow server starts meanwhile).
    ready: Callable[[], object] = lambda: None
    activity: dict[str, BuildActivity] = field(default_factory=dict)
    stopped: threading.Event = field(default_factory=threading.Event)
    # The last build of each project: (command, seconds) for each command run (bench/pipeline.py prints them).
    timings: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    _numbers: dict[str, itertools.count[int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, event: Any, context: ServiceContext) -> dict[str, Any]:
        if not isinstance(event, dict) or not event.get("ProjectName"):
            raise FunctionFailure(BUILD_FAILED, "ProjectName: expected the CodeBuild project's name")
        name = str(event["ProjectName"])
        projects = self.clients("codebuild").batch_get_projects(names=[name])["projects"]
        if not projects:
            raise FunctionFailure(BUILD_FAILED, f"ProjectName: no CodeBuild project {name!r}")
        project = projects[0]
        with self._lock:
            number = next(self._numbers.setdefault(name, itertools.count(1)))
        build_id = f"{name}:{uuid.uuid4()}"
        activity = BuildActivity(name, number, time.monotonic(), command="waiting for the MLflow server to start")
        self.activity[name] = activity
        try:
            self.ready()
            activity.command = "checking out the commit"
            return self._build(project, event, build_id, number, activity)
        finally:
            self.activity.pop(name, None)

    def _build(
        self, project: dict[str, Any], event: dict[str, Any], build_id: str, number: int, activity: BuildActivity
    ) -> dict[str, Any]:
        name = project["name"]
        folder = self.workdir / f"{name}-{number}"
        shutil.rmtree(folder, ignore_errors=True)
        source = folder / "src"
        commit = str(event.get("SourceVersion") or project.get("sourceVersion") or "")
        repository = self.repositories(project["source"]["location"].rstrip("/").rsplit("/", 1)[-1])
        repository.archive(commit or repository.branch, source)
        resolved = commit or (repository.head() or "")
        buildspec = yaml.safe_load((source / (project["source"].get("buildspec") or "buildspec.yml")).read_text())

        variables = list(project.get("environment", {}).get("environmentVariables", []))
        for override in event.get("EnvironmentVariablesOverride") or []:
            variables = [v for v in variables if v["name"] != override["Name"]]
            variables.append({"name": override["Name"], "value": override["Value"], "type": override.get("Type")})
        environment = {v["name"]: str(v["value"]) for v in variables}
        secret_variables = [v["name"] for v in variables if v.get("type") == "SECRETS_MANAGER"]
        arn = f"arn:aws:codebuild:{self.region}:{project['arn'].split(':')[4]}:build/{build_id}"
        environment |= {
            # What CodeBuild sets for every build.
            "CODEBUILD_BUILD_ID": build_id,
            "CODEBUILD_BUILD_ARN": arn,
            "CODEBUILD_BUILD_NUMBER": str(number),
            "CODEBUILD_SOURCE_VERSION": commit,
            "CODEBUILD_RESOLVED_SOURCE_VERSION": resolved,
            "CODEBUILD_SRC_DIR": str(source),
            "CODEBUILD_INITIATOR": "states/local",
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            **self._role_environment(project["serviceRole"], build_id),
            # Local only: this .venv's Python is the build image's, AWS is moto, the image store keeps builds.
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(folder),
            "LANG": "C.UTF-8",
            "AWS_ENDPOINT_URL": self.moto_url,
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "LOCAL_IMAGE_STORE": str(self.image_store),
        }

        def on_command(phase: str, index: int, command: str) -> None:
            activity.command = f"{phase}: {command.splitlines()[0][:80]}"

        timeout = float(project.get("timeoutInMinutes") or 60) * 60
        result = run_buildspec(
            buildspec,
            source,
            environment,
            write_stubs(folder / "stubs"),
            phases=PHASES,
            timeout_seconds=timeout,
            secret_variables=secret_variables,
            on_command=on_command,
            cancel=self.stopped,
        )
        self.timings[name] = result.seconds
        log = folder / "build.log"
        log.write_text(result.output, encoding="utf-8")
        build = {
            "Id": build_id,
            "Arn": arn,
            "BuildNumber": number,
            "ProjectName": name,
            "SourceVersion": commit,
            "ResolvedSourceVersion": resolved,
            "BuildStatus": "SUCCEEDED" if result.succeeded else "FAILED",
            "Phases": _phases(result.failed_command, result.exit_code),
            "Logs": {"GroupName": f"/aws/codebuild/{name}", "StreamName": build_id.split(":", 1)[1]},
        }
        if not result.succeeded:
            phase, _, command = result.failed_command or ("build", 0, "")
            raise FunctionFailure(
                BUILD_FAILED,
                f"{_reason(result.output)} (phase {phase.upper()}, `{command.splitlines()[0][:60]}...` exited "
                f"{result.exit_code}; log: {log})",
                Build=build,
            )
        exported = [{"Name": key, "Value": value} for key, value in result.exported.items() if value is not None]
        return {"Build": {**build, "ExportedEnvironmentVariables": exported}}

    def stop(self) -> None:
        """Stop every running build (the local cloud is closing): their commands are killed."""
        self.stopped.set()

    def _role_environment(self, role_arn: str, build_id: str) -> dict[str, str]:
        return dict(self.role_credentials(role_arn, f"codebuild-{build_id.rsplit(':', 1)[-1][:40]}"))


def _reason(output: str) -> str:
    """The last error line the failed command printed (train.py and ci/ print ``error: ...``)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.lower().startswith("error")]
    return (errors or lines or ["the build failed"])[-1][:200]


def _phases(failed: tuple[str, int, str] | None, exit_code: int) -> list[dict[str, Any]]:
    phases: list[dict[str, Any]] = [{"PhaseType": "INSTALL", "PhaseStatus": "SUCCEEDED"}]
    for phase in PHASES:
        if failed is not None and failed[0] == phase:
            message = (
                f"Error while executing command: {failed[2].splitlines()[0][:200]}. Reason: exit status {exit_code}"
            )
            phases.append(
                {
                    "PhaseType": phase.upper(),
                    "PhaseStatus": "FAILED",
                    "Contexts": [{"StatusCode": "COMMAND_EXECUTION_ERROR", "Message": message}],
                }
            )
            break
        phases.append({"PhaseType": phase.upper(), "PhaseStatus": "SUCCEEDED"})
    return phases
