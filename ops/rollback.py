"""Roll stage or prod back to the version it ran before, and say so everywhere: ``make rollback ENV=prod``.

    python -m ops.rollback --env prod --tooling-outputs "$(pulumi stack output --json --stack tooling)"
        [--from-version N] [--reason TEXT] [--region R]
        [--deploy-function NAME] [--promote-function NAME] [--notify-function NAME] [--model-name NAME]

Three steps, each through one of the tooling account's functions, so the caller needs only
``lambda:InvokeFunction`` on those three (no role in stage or prod, no MLflow login, no Slack token):

deploy   the deploy function's manual rollback: alias ``live`` goes back to the version recorded as ``previous=``
         in the live version's description (during a canary, the canary is dropped). Its answer names the
         function versions and the model versions they serve.
mlflow   the promote function with ``"rollback": true`` moves the MLflow alias (``staging`` for stage,
         ``production`` for prod) to the model version live now. Skipped when the version live now serves no
         registered model (the stack's bootstrap image).
slack    the notify function posts a ``rolled_back`` message in the pipeline's channel: what is live now, where
         the alias went, or why it did not move.

If the deploy step fails, nothing else runs, and the report says nothing was changed in MLflow or Slack. If a
later step fails, the report says what was done and what was not, and how to finish: the same command with
``--from-version <the version rolled back>``, which leaves ``live`` where it is (the deploy step is then a
no-op) and runs the remaining steps again. Each step can be repeated safely.

Exit codes: 0 every step done (or skipped for a reason the report gives), 1 a step failed, 2 a wrong argument.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from ops import stack_outputs
from ops.lambda_invoke import CLIENT_CONFIG, Invoke, InvokeError, LambdaInvoker

# The MLflow alias that follows each environment's live version.
ALIASES: Mapping[str, str] = {"stage": "staging", "prod": "production"}
DONE, SKIPPED, FAILED, NOT_RUN = "done", "skipped", "failed", "not run"
# The promote function records who moved the alias in a tag; it accepts at most 256 characters.
ACTOR_MAX = 256


@dataclass(frozen=True)
class Functions:
    """The tooling functions a rollback invokes, and the registered model whose alias it moves."""

    deploy: str
    promote: str
    notify: str
    model_name: str


@dataclass
class Step:
    name: str
    status: str = NOT_RUN
    detail: str = ""


@dataclass
class Report:
    environment: str
    run_id: str
    steps: dict[str, Step] = field(default_factory=lambda: {name: Step(name) for name in ("deploy", "mlflow", "slack")})
    deploy_output: dict[str, Any] = field(default_factory=dict)
    promote_output: dict[str, Any] = field(default_factory=dict)
    alias_not_moved: str | None = None  # why the MLflow alias was not moved, for Slack

    @property
    def succeeded(self) -> bool:
        return all(step.status in (DONE, SKIPPED) for step in self.steps.values())

    @property
    def rolled_back_from(self) -> str | None:
        """The function version rolled back: what ``--from-version`` needs to finish the remaining steps."""
        value = self.deploy_output.get("functionVersion")
        return str(value) if value else None

    def lines(self) -> list[str]:
        lines = [f"Rollback of {self.environment}, run {self.run_id}:"]
        lines += [f"  [{step.status}] {step.name}: {step.detail}" for step in self.steps.values()]
        if self.succeeded:
            return lines
        if self.steps["deploy"].status != DONE:
            lines.append("Nothing was changed in MLflow or Slack.")
            return lines
        pending = [step.name for step in self.steps.values() if step.status not in (DONE, SKIPPED)]
        lines.append(f"live is rolled back; not done: {', '.join(pending)}. To finish, fix the cause and run:")
        lines.append(f"  make rollback ENV={self.environment} FROM_VERSION={self.rolled_back_from}")
        return lines


def run_id(environment: str, now: datetime) -> str:
    """The rollback's name in the deploy function's logs and session name, the MLflow tags and Slack."""
    return f"manual-rollback-{environment}-{now.astimezone(UTC):%Y%m%d%H%M%S}"


def _version_text(version: Any, model: Any) -> str:
    return f"version {version}" + (f" (model {model})" if model else " (no registered model)")


def _deploy(report: Report, functions: Functions, invoke: Invoke, from_version: str | None) -> bool:
    step = report.steps["deploy"]
    event: dict[str, Any] = {"action": "rollback", "environment": report.environment, "executionId": report.run_id}
    if from_version:
        event["functionVersion"] = from_version
    try:
        output = invoke(functions.deploy, event)
    except InvokeError as error:
        step.status, step.detail = FAILED, str(error)
        if error.outcome_unknown:
            step.detail += (
                f". Whether live moved is unknown: read the log group /aws/lambda/{functions.deploy} before running "
                "again (with --from-version, if it did)"
            )
        return False
    report.deploy_output = output
    live = _version_text(output.get("liveVersion"), output.get("restoredModelVersion"))
    if output.get("noop"):
        step.status, step.detail = DONE, f"live already on {live}; nothing changed"
    else:
        was = _version_text(output.get("functionVersion"), output.get("modelVersion"))
        step.status, step.detail = DONE, f"live moved to {live}, was {was}"
    return True


def _mlflow(report: Report, functions: Functions, invoke: Invoke, actor: str | None) -> None:
    step, alias = report.steps["mlflow"], ALIASES[report.environment]
    model_version = report.deploy_output.get("restoredModelVersion")
    if not model_version:
        report.alias_not_moved = "the version live now serves no registered model"
        step.status = SKIPPED
        step.detail = f"{report.alias_not_moved}, so alias {alias} of {functions.model_name!r} was left where it is"
        return
    event: dict[str, Any] = {
        "alias": alias,
        "modelName": functions.model_name,
        "modelVersion": str(model_version),
        "rollback": True,
        "executionId": report.run_id,
    }
    if actor:
        event["approver"] = actor if len(actor) <= ACTOR_MAX else actor.rsplit("/", 1)[-1][:ACTOR_MAX]
    try:
        output = invoke(functions.promote, event)
    except InvokeError as error:
        report.alias_not_moved = f"{error.error_type}: {error.message}"
        step.status, step.detail = FAILED, f"alias {alias} not moved to version {model_version}: {error}"
        return
    report.promote_output = output
    previous = output.get("previousVersion")
    if output.get("noop"):
        step.status, step.detail = DONE, f"alias {alias} already on version {model_version}"
    else:
        step.status, step.detail = DONE, f"alias {alias} moved to version {model_version}, was {previous or 'unset'}"


def _slack(report: Report, functions: Functions, invoke: Invoke, actor: str | None, reason: str | None) -> None:
    step = report.steps["slack"]
    event = {
        "event": "rolled_back",
        "executionId": report.run_id,
        "modelName": functions.model_name,
        "author": actor,
        "environment": report.environment,
        "deploy": report.deploy_output,
        "alias": ALIASES[report.environment],
        "promote": report.promote_output or None,
        "promoteError": report.alias_not_moved,
        "reason": reason,
    }
    try:
        output = invoke(functions.notify, event)
    except InvokeError as error:
        step.status, step.detail = FAILED, f"no message posted: {error}"
        return
    step.status, step.detail = DONE, f"posted in channel {output.get('channel')} (ts {output.get('ts')})"


def rollback(
    environment: str,
    functions: Functions,
    invoke: Invoke,
    *,
    actor: str | None = None,
    reason: str | None = None,
    from_version: str | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Report:
    """Run the three steps (see the module doc) and report each; raises only ValueError for a wrong argument."""
    if environment not in ALIASES:
        raise ValueError(f"--env: expected one of {', '.join(ALIASES)}, got {environment!r}")
    if from_version is not None and not (from_version.isdigit() and not from_version.startswith("0")):
        raise ValueError(f"--from-version: expected a published function version such as 8, got {from_version!r}")
    report = Report(environment, run_id(environment, now()))
    if not _deploy(report, functions, invoke, from_version):
        return report
    _mlflow(report, functions, invoke, actor)
    _slack(report, functions, invoke, actor, reason)
    return report


# ------------------------------------------------------------------------------------------------- command


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m ops.rollback",
        description="Roll stage or prod back to the version it ran before, move the MLflow alias back and post "
        "to the Slack channel (what make rollback ENV=<env> calls). Run with the tooling account's credentials.",
    )
    parser.add_argument("--env", required=True, help="stage or prod")
    parser.add_argument(
        "--tooling-outputs",
        help="the JSON of `pulumi stack output --json --stack tooling`: the functions, model and region",
    )
    parser.add_argument(
        "--from-version",
        help="the function version to roll back from; live stays put if it is already back (finishes a rollback)",
    )
    parser.add_argument("--reason", help="shown in Slack with the rollback")
    parser.add_argument("--region", help="the tooling region; defaults to the region of the stateMachineArn output")
    parser.add_argument("--deploy-function", help="defaults to the output deployFunctionName")
    parser.add_argument("--promote-function", help="defaults to the output promoteFunctionName")
    parser.add_argument("--notify-function", help="defaults to the output notifyFunctionName")
    parser.add_argument("--model-name", help="the registered model; defaults to the output modelName")
    return parser.parse_args(argv)


def functions_from(args: argparse.Namespace, outputs: dict[str, Any]) -> Functions:
    pick = stack_outputs.pick
    return Functions(
        deploy=pick(outputs, args.deploy_function, "deployFunctionName", "--deploy-function"),
        promote=pick(outputs, args.promote_function, "promoteFunctionName", "--promote-function"),
        notify=pick(outputs, args.notify_function, "notifyFunctionName", "--notify-function"),
        model_name=pick(outputs, args.model_name, "modelName", "--model-name"),
    )


def caller_arn(session: Any) -> str | None:
    try:
        return str(session.client("sts").get_caller_identity()["Arn"])
    except (BotoCoreError, ClientError):
        return None


def main(argv: Sequence[str] | None = None, *, session: Any | None = None) -> int:
    args = parse_args(argv)
    try:
        outputs = stack_outputs.parse(args.tooling_outputs)
        functions = functions_from(args, outputs)
        region = args.region or stack_outputs.region_of_arn(outputs.get("stateMachineArn"))
        session = session or boto3.Session(region_name=region)
        if not session.region_name:
            raise ValueError("--region: not given and not found in the tooling outputs (stateMachineArn)")
        invoke = LambdaInvoker(session.client("lambda", config=CLIENT_CONFIG))
        report = rollback(
            args.env,
            functions,
            invoke,
            actor=caller_arn(session),
            reason=args.reason,
            from_version=args.from_version,
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("\n".join(report.lines()))
    return 0 if report.succeeded else 1


if __name__ == "__main__":
    sys.exit(main())
