"""Time the pipeline in a box: a full approved run, end to end and step by step, and print the figures.

    .venv/bin/python -m bench.pipeline [--runs 1] [--fast-training] [--json PATH]

Each run starts from an empty working folder, so MLflow's start (a new database) is included, as on a fresh
clone: start the local cloud, deploy the three stacks into moto, push seed_code/ to main, run the state
machine with the real handlers, click Approve as soon as the request is in Slack, wait for the end, stop
everything. Reported per run and as the median of the runs: each phase, each step of the state machine (from
the execution history), and the Lambda invocations (cold and warm). ``--fast-training`` trains the smaller
model the e2e tests use. Goal on this 2-core machine: the whole run under 60 s. Figures, never checks.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from local.pipeline.cloud import LocalCloud
from local.pipeline.deployment import LOCAL_APPROVER, Deployment, DeploymentSettings

GOAL_SECONDS = 60.0
RUN_TIMEOUT_SECONDS = 600.0
FAST_TRAINING = {"N_ESTIMATORS": "60", "LEARNING_RATE": "0.2"}


def one_run(workdir: Path, fast_training: bool) -> dict[str, float]:
    """Seconds of each phase and step of one approved run, keyed by a stable name."""
    figures: dict[str, float] = {}
    started = time.monotonic()
    cloud = LocalCloud(workdir, poll_seconds=0.05)
    mlflow_ready: list[float] = []
    try:
        cloud.start()
        figures["start moto, Slack stand-in and endpoint"] = time.monotonic() - started

        def wait_for_mlflow() -> None:
            cloud.mlflow_url  # noqa: B018 - waits for the server (and creates the pipeline's user)
            mlflow_ready.append(time.monotonic() - started)

        threading.Thread(target=wait_for_mlflow, daemon=True).start()
        mark = time.monotonic()
        settings = DeploymentSettings(build_variables=FAST_TRAINING if fast_training else {})
        deployment = Deployment.create(cloud, settings)
        figures["deploy tooling, stage and prod into moto"] = time.monotonic() - mark
        mark = time.monotonic()
        push = deployment.push()
        run = deployment.wait_for_execution(push.commit.sha)
        figures["push -> execution started (EventBridge, start function)"] = time.monotonic() - mark
        request = deployment.wait_for_approval_request(run, RUN_TIMEOUT_SECONDS)
        click = time.monotonic()
        answer = deployment.slack_app.click(
            "approve", request.approval_id, request.message_ts, request.channel, LOCAL_APPROVER
        )
        figures["signed click answered (slack_interactions)"] = time.monotonic() - click
        if answer.status != 200:
            raise RuntimeError(f"the click was refused: HTTP {answer.status} {answer.body[:200]}")
        ended = deployment.wait_until_finished(run, RUN_TIMEOUT_SECONDS)
        if ended["status"] != "SUCCEEDED":
            raise RuntimeError(f"the run ended {ended['status']}: {ended.get('error')}: {ended.get('cause')}")
        figures["end to end: nothing running -> prod live"] = time.monotonic() - started
        figures.update(step_seconds(deployment, run))
        for command, seconds in cloud.codebuild.timings.get(deployment.build_project, []):
            figures[f"build: {command.splitlines()[0].split(' --', 1)[0][:60]}"] = seconds
        for record in cloud.lambdas.records:
            kind = "cold" if record.cold else "warm"
            key = f"lambda {kind}: {record.function.removeprefix(deployment.prefix + '-')}"
            figures[key] = max(figures.get(key, 0.0), record.seconds)
        deployment.close()
    finally:
        mark = time.monotonic()
        cloud.close()
        figures["stop everything"] = time.monotonic() - mark
    if mlflow_ready:
        figures["MLflow healthy, pipeline user ready (from start)"] = mlflow_ready[0]
    return figures


def step_seconds(deployment: Deployment, run: str) -> dict[str, float]:
    """Each task state's duration, from the execution history."""
    entered: dict[str, Any] = {}
    found: dict[str, float] = {}
    for event in deployment.history(run):
        if details := event.get("stateEnteredEventDetails"):
            entered[details["name"]] = event["timestamp"]
        elif (details := event.get("stateExitedEventDetails")) and event["type"] == "TaskStateExited":
            name = details["name"]
            label = f"step {name}" + (" (substituted)" if name in deployment.substituted else "")
            found[label] = (event["timestamp"] - entered[name]).total_seconds()
    return found


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="full runs, each from an empty folder (default 1)")
    parser.add_argument("--fast-training", action="store_true", help="train the e2e tests' smaller model")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs: expected at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    runs: list[dict[str, float]] = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as folder:
            runs.append(one_run(Path(folder), args.fast_training))
    keys = list(dict.fromkeys(key for run in runs for key in run))
    medians = {key: statistics.median(run[key] for run in runs if key in run) for key in keys}
    machine = f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    training = "e2e model (N_ESTIMATORS=60)" if args.fast_training else "train.py's defaults"
    print(f"Pipeline in a box: full approved run, median of {len(runs)} ({machine}; training: {training})")
    print("| figure | seconds |\n| --- | --- |")
    for key in keys:
        print(f"| {key} | {medians[key]:.2f} |")
    total = medians.get("end to end: nothing running -> prod live")
    if total is not None:
        verdict = "within" if total < GOAL_SECONDS else "over"
        print(f"End to end {total:.1f} s: {verdict} the {GOAL_SECONDS:.0f} s goal (MLflow's start included).")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "benchmark": "pipeline",
            "machine": machine,
            "runs": runs,
            "median": medians,
            # The shape bench/results.py collects (as bench/inference.py writes it).
            "figures": [{"label": key, "value": medians[key], "unit": "s"} for key in keys],
            "notes": [
                f"median of {len(runs)} run(s) from an empty folder, MLflow's start included; training: "
                f"{training}; goal: the whole run under {GOAL_SECONDS:.0f} s"
            ],
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
