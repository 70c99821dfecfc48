"""Start the pipeline again for a commit, on purpose: ``make rerun COMMIT=<sha>`` calls this.

    python -m functions.start.rerun --commit <full sha> --state-machine-arn <arn> [--region R]
        [--repository NAME] [--branch main] [--reason TEXT]

The push that brought the commit named its run ``<repository>-<commit12>``, and that name stays taken for 90
days, so a re-run gets a new one: ``<commit12>-rerun-<yyyymmddHHMMSS>``. Repository and branch are copied from
the newest earlier run of the commit unless given; ``author`` is the caller's identity. Prints the result as
JSON; exits 0 when an execution was started, 1 when it could not be, 2 for a wrong argument.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from functions.start import sfn_api, starter
from functions.start.errors import StartConfigError, StartError
from functions.start.models import DEFAULT_BRANCH, Push, StateMachine, execution_input, is_full_commit, rerun_name


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m functions.start.rerun",
        description="Start the pipeline again for a commit, on purpose (what make rerun COMMIT=<sha> calls).",
    )
    parser.add_argument("--commit", required=True, help="the full commit SHA to build and deploy again")
    parser.add_argument("--state-machine-arn", required=True, help="the tooling stack's output stateMachineArn")
    parser.add_argument("--region", help="defaults to the state machine's region")
    parser.add_argument("--repository", help="defaults to the repository of the commit's earlier run")
    parser.add_argument("--branch", help=f"defaults to the earlier run's branch, or {DEFAULT_BRANCH}")
    parser.add_argument("--reason", default="", help="shown with the run (Slack, the console)")
    return parser.parse_args(argv)


def caller_arn(session: Any) -> str | None:
    try:
        return str(session.client("sts").get_caller_identity()["Arn"])
    except (BotoCoreError, ClientError):
        return None


def rerun(
    args: argparse.Namespace,
    *,
    session: Any | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, Any]:
    commit = args.commit.strip().lower()
    if not is_full_commit(commit):
        raise ValueError(f"--commit: expected the full SHA (40 or 64 hex digits), got {args.commit!r}")
    machine = StateMachine.parse(args.state_machine_arn, "--state-machine-arn")
    session = session or boto3.Session(region_name=args.region or machine.region)
    executions = sfn_api.StepFunctions(machine, session.client("stepfunctions", config=sfn_api.CLIENT_CONFIG))
    previous = executions.latest_input_for_commit(commit)
    earlier_arn, earlier = previous if previous else (None, {})
    push = Push(
        commit=commit,
        repository=args.repository or earlier.get("repositoryName"),
        branch=args.branch or earlier.get("branch") or DEFAULT_BRANCH,
        author=caller_arn(session),
        event_id=None,
    )
    name = rerun_name(commit, now())
    payload = execution_input(push, source="rerun", rerunOf=earlier_arn, reason=args.reason or None)
    result = starter.start_once(executions, name, payload).to_dict()
    return {**result, "rerunOf": earlier_arn}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        result = rerun(args)
    except (ValueError, StartConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (StartError, BotoCoreError, ClientError) as error:
        print(f"error: could not start the re-run: {error}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0 if result["started"] else 1


if __name__ == "__main__":
    sys.exit(main())
