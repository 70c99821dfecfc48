"""The whole pipeline on this machine: ``python -m local.pipeline`` (``make demo``).

    python -m local.pipeline [--reject | --expire | --supersede | --interactive] [--keep] [--workdir DIR]

Starts the local cloud (moto, MLflow with basic auth, the Slack stand-in; ``cloud.py``) in a git-ignored
folder, deploys the three stacks of the model into it (``deployment.py``), commits ``seed_code/`` to the model
repository's ``main`` and puts CodeCommit's event on the bus: the push rule hands it to the real start
function, which starts the real state machine. Every step runs the project's real handler; only the build is
substituted (``codebuild.py``). When the approval request is in Slack the runner clicks Approve, as a person
would (a signed interaction request to the real interactions function), or:

    --reject       clicks Reject: prod stays as it was, alias production does not move
    --expire       clicks nothing; the approval times out after --approval-timeout (default 5 s here)
    --supersede    pushes a second commit while the first run waits for approval, then approves the second
    --interactive  waits for a person: serves the Slack stand-in's channel as a web page with working buttons
                   (``local/slack_web.py``, when present), and prints the signed click as curl commands

Prints one line per step, then a summary. Exits 0 when the run ends as the scenario expects, 1 with the reason
when anything else happens, 130 on Ctrl-C; every process it started is stopped in all cases (``--keep``
leaves them running for the MLflow UI until Ctrl-C).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import re
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from local.pipeline.cloud import CloudError, LocalCloud
from local.pipeline.deployment import (
    LOCAL_APPROVER,
    LOCAL_APPROVER_NAME,
    SEED_CODE,
    ApprovalRequest,
    Deployment,
    DeploymentSettings,
)
from local.pipeline.progress import Follower
from local.pipeline.source import SourceError
from local.pipeline.summary import RunOutcome, explain, outcome_of, summary_lines

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_WORKDIR = ROOT / ".work" / "pipeline"
# What infra/config.py accepts for mlops:modelName, and short enough for the training-data bucket's name.
MODEL_NAME = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")
MODEL_NAME_MAX = 30
DEFAULT_APPROVAL_TIMEOUT = {"expire": 5, "interactive": 900}
APPROVAL_TIMEOUT = 600
STAND_IN = (
    "the local CodeBuild: the commit's buildspec.yml (pre_build, build, post_build) ran on this machine, "
    "aws ecr and docker stubbed; the image is the build context, pushed to moto's ECR by digest"
)
# Beyond the approval timeout: how long a run may take before the runner gives up on it.
RUN_ALLOWANCE_SECONDS = 900.0


class RunFailed(RuntimeError):
    """The run did not end as the scenario expects; the message says how it ended."""


@dataclass
class Options:
    scenario: str = "approve"
    workdir: Path = DEFAULT_WORKDIR
    keep: bool = False
    model_name: str = "delivery-time"
    approval_timeout_seconds: int | None = None
    poll_seconds: float = 0.1
    build_variables: dict[str, str] = field(default_factory=dict)

    @property
    def approval_timeout(self) -> int:
        if self.approval_timeout_seconds is not None:
            return self.approval_timeout_seconds
        return DEFAULT_APPROVAL_TIMEOUT.get(self.scenario, APPROVAL_TIMEOUT)


class Output:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._started = time.monotonic()

    def step(self, message: str) -> None:
        self._started = time.monotonic()
        self.line(f"==> {message}")

    def done(self, detail: str = "") -> None:
        self.line(f"    done in {time.monotonic() - self._started:.1f} s{': ' + detail if detail else ''}")

    def line(self, text: str = "") -> None:
        self.stream.write(text + "\n")
        self.stream.flush()


def _short(execution_arn: str) -> str:
    return execution_arn.rsplit(":", 1)[-1]


@dataclass
class PipelineRun:
    """One scenario against one deployment; ``run`` returns the outcome of each execution it started."""

    deployment: Deployment
    options: Options
    out: Output
    followers: dict[str, Follower] = field(default_factory=dict)

    @property
    def poll(self) -> float:
        return self.options.poll_seconds

    def push(self, message: str, label: str = "") -> str:
        push = self.deployment.push(SEED_CODE, message)
        rules = ", ".join(sorted({d.rule for d in push.deliveries})) or "no rule"
        self.out.line(
            f"==> Pushed commit {push.commit.sha[:12]} to {push.commit.branch} of {self.deployment.model} "
            f"({push.event['detail']['event']}); EventBridge rule {rules} -> start function"
        )
        arn = self.deployment.wait_for_execution(push.commit.sha)
        self.out.line(f"    the start function started execution {_short(arn)}")
        self.followers[arn] = Follower(
            history=lambda: self.deployment.history(arn),
            stream=self.out.stream,
            label=label,
            substituted={name: "substituted" for name in self.deployment.substituted},
            codebuild=self.deployment.cloud.codebuild,
        )
        return arn

    def substitutions(self) -> dict[str, str]:
        return {name: f"{resource} -> {STAND_IN}" for name, resource in self.deployment.substituted.items()}

    def follow(self, arn: str, until: Callable[[], Any] | None = None, timeout: float | None = None) -> Any:
        """Print the run's steps until ``until()`` gives something (returned) or the run ends (None)."""
        follower = self.followers[arn]
        limit = timeout or self.options.approval_timeout + RUN_ALLOWANCE_SECONDS
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            follower.poll()
            value = until() if until is not None else None
            if value:
                return value
            if self.deployment.describe(arn)["status"] != "RUNNING":
                follower.finish()
                return None
            time.sleep(self.poll)
        raise RunFailed(f"{_short(arn)} was still running after {limit:.0f} s")

    def pending_request(self, arn: str) -> Callable[[], ApprovalRequest | None]:
        def pending() -> ApprovalRequest | None:
            request = self.deployment.approval_request(arn)
            return request if request is not None and request.status == "pending" else None

        return pending

    def decide(self, request: ApprovalRequest, action: str) -> None:
        clicked = self.deployment.slack_app.click(
            action, request.approval_id, request.message_ts, request.channel, LOCAL_APPROVER
        )
        self.out.line(
            f"    clicked {action.title()} in #{request.channel} as @{LOCAL_APPROVER_NAME}: a Slack-signed request "
            f"to the interactions endpoint answered HTTP {clicked.status}"
        )
        if clicked.status != 200:
            raise RunFailed(f"the interactions endpoint refused the click: HTTP {clicked.status} {clicked.body[:200]}")

    def slack_page(self) -> contextlib.AbstractContextManager[Any] | None:
        """The Slack stand-in's web page for this deployment's channel, if ``local/slack_web.py`` is there."""
        try:
            slack_web = importlib.import_module("local.slack_web")
        except ImportError:
            return None
        app = self.deployment.slack_app

        def click(*, action_id: str, value: str, message_ts: str, channel: str, user_id: str) -> Any:
            answer = app.click(action_id, value, message_ts, channel, user_id)
            return slack_web.ClickResult(ok=answer.status == 200, text="" if answer.status == 200 else answer.body)

        people = {LOCAL_APPROVER: LOCAL_APPROVER_NAME}
        channel = self.deployment.slack_channel
        return slack_web.SlackWeb(self.deployment.cloud.slack, channel, click, people=people, channel_name="mlops")

    def wait_for_person(self, request: ApprovalRequest) -> None:
        app = self.deployment.slack_app
        self.out.line(f"    waiting up to {self.options.approval_timeout} s for your decision. Click with:")
        for action in ("approve", "reject"):
            command = app.curl(action, request.approval_id, request.message_ts, request.channel, LOCAL_APPROVER)
            self.out.line(f"      {action.title()}: {command}")
        self.out.line("    (each command is signed now and valid for five minutes, Slack's window)")

    def run(self) -> list[str]:
        scenario = self.options.scenario
        if scenario == "supersede":
            return self._supersede()
        if scenario == "interactive":
            page = self.slack_page()
            if page is not None:
                with page as web:
                    self.out.line(f"==> The Slack channel, with working buttons: {web.url}")
                    return self._one_run(scenario)
        return self._one_run(scenario)

    def _one_run(self, scenario: str) -> list[str]:
        arn = self.push("Train and deploy the model")
        request = self.follow(arn, self.pending_request(arn))
        if request is not None:
            if scenario in ("approve", "reject"):
                self.decide(request, scenario)
            elif scenario == "expire":
                self.out.line(f"    not clicking: the approval expires after {self.options.approval_timeout} s")
            else:
                self.wait_for_person(request)
            self.follow(arn)
        return [arn]

    def _supersede(self) -> list[str]:
        first = self.push("Train and deploy the model", label="run 1")
        if self.follow(first, self.pending_request(first)) is None:
            return [first]
        self.out.line("    run 1 waits for approval; a newer commit arrives")
        second = self.push("Train again with the newer commit", label="run 2")
        request = self.follow(second, self.pending_request(second))
        ended = self.deployment.wait_until_finished(first, timeout_seconds=30)
        self.out.line(f"    run 1 ended {ended['status']}: {ended.get('error')}: {str(ended.get('cause'))[:120]}")
        if request is not None:
            self.decide(request, "approve")
            self.follow(second)
        return [first, second]


def expected(scenario: str, outcomes: list[RunOutcome]) -> str | None:
    """Why the outcomes are not what ``scenario`` should give, or None when they are."""
    last = outcomes[-1]
    wanted: dict[str, tuple[str, str | None]] = {
        "approve": ("SUCCEEDED", None),
        "reject": ("FAILED", "Rejected"),
        "expire": ("FAILED", "ApprovalExpired"),
        "supersede": ("SUCCEEDED", None),
    }
    if scenario == "supersede":
        first = outcomes[0]
        if len(outcomes) < 2 or (first.status, first.error) != ("ABORTED", "Superseded"):
            return f"run 1 ended {first.status} ({first.error}: {explain(first.cause)}), expected ABORTED as Superseded"
    if scenario == "interactive":
        if last.status == "SUCCEEDED" or last.error in ("Rejected", "ApprovalExpired"):
            return None
    elif (last.status, last.error) == wanted[scenario]:
        return None
    return f"{_short(last.execution_arn)} ended {last.status}" + (
        f" ({last.error}): {explain(last.cause, 600)}" if last.error else ""
    )


def run(options: Options, stream: TextIO = sys.stdout) -> int:
    out = Output(stream)
    total = time.monotonic()
    workdir = options.workdir
    shown = workdir.relative_to(ROOT) if workdir.is_relative_to(ROOT) else workdir
    out.step(f"Starting moto, MLflow (basic auth) and the Slack stand-in, on loopback, in {shown}")
    with LocalCloud(workdir, poll_seconds=options.poll_seconds) as cloud:
        out.done(f"moto {cloud.moto_url}, Slack {cloud.slack.url}, MLflow starting at {cloud.mlflow_address}")
        out.step("Deploying the tooling, stage and prod stacks into moto")
        settings = DeploymentSettings(
            model_name=options.model_name,
            approval_timeout_seconds=options.approval_timeout,
            build_variables=options.build_variables,
        )
        with Deployment.create(cloud, settings) as deployment:
            accounts = ", ".join(f"{k} {v}" for k, v in cloud.accounts.items())
            out.done(f"{len(deployment.arns)} functions and state machine {deployment.state_machine_name} ({accounts})")
            live_before = {env: deployment.live(env) for env in ("stage", "prod")}
            pipeline = PipelineRun(deployment, options, out)
            arns = pipeline.run()
            outcomes = [outcome_of(deployment, arn) for arn in arns]
            out.line()
            names = {LOCAL_APPROVER: LOCAL_APPROVER_NAME}
            for line in summary_lines(deployment, outcomes, live_before, pipeline.substitutions(), names):
                out.line(line)
            problem = expected(options.scenario, outcomes)
            out.line(f"  {'Logs':<15} {shown}/lambda/logs (functions), {shown}/builds (builds)")
            if options.keep:
                login = cloud.logins.admin.username
                out.line(
                    f"  {'MLflow UI':<15} {cloud.mlflow_url} (user {login}, password in "
                    f"{shown}/mlflow/logins.json); Ctrl-C stops everything"
                )
            else:
                out.line(f"  {'MLflow UI':<15} stopped with the rest; --keep (make demo ARGS=--keep) keeps it up")
            out.line(f"Total {time.monotonic() - total:.1f} s")
            if problem:
                out.line(f"error: {problem}")
            if options.keep:
                while True:
                    time.sleep(3600)
    return 1 if problem else 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def parse(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m local.pipeline", description=(__doc__ or "").splitlines()[0], allow_abbrev=False
    )
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--reject", action="store_const", dest="scenario", const="reject", help="click Reject")
    choice.add_argument(
        "--expire", action="store_const", dest="scenario", const="expire", help="let the approval time out"
    )
    choice.add_argument(
        "--supersede",
        action="store_const",
        dest="scenario",
        const="supersede",
        help="push a second commit while the first waits for approval",
    )
    choice.add_argument(
        "--interactive", action="store_const", dest="scenario", const="interactive", help="wait for a person"
    )
    parser.add_argument("--keep", action="store_true", help="keep everything running for the MLflow UI until Ctrl-C")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="the working folder (git-ignored)")
    parser.add_argument("--model-name", default="delivery-time", help="the registered model name")
    parser.add_argument("--approval-timeout", type=int, help="seconds the approval waits (5 with --expire, else 600)")
    parser.add_argument("--poll", type=float, default=0.1, help="seconds between looks at the run")
    args = parser.parse_args(argv)
    if args.approval_timeout is not None and args.approval_timeout < 1:
        parser.error("--approval-timeout: expected a whole number of seconds >= 1")
    if args.poll <= 0:
        parser.error("--poll: expected a positive number of seconds")
    if not MODEL_NAME.match(args.model_name) or len(args.model_name) > MODEL_NAME_MAX:
        parser.error(
            f"--model-name: expected lowercase letters, digits and hyphens, starting with a letter, at most "
            f"{MODEL_NAME_MAX} characters (the stack's names are built from it), got {args.model_name!r}"
        )
    return Options(
        scenario=args.scenario or "approve",
        workdir=args.workdir.resolve(),
        keep=args.keep,
        model_name=args.model_name,
        approval_timeout_seconds=args.approval_timeout,
        poll_seconds=args.poll,
    )


def main(argv: list[str] | None = None) -> int:
    options = parse(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return run(options)
    except (CloudError, SourceError, RunFailed) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted; every process this run started is stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
