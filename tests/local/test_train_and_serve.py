"""The local loop behind `make train-and-serve`, run as a user runs it, in a fresh working folder."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def run_loop(workdir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "local.train_and_serve", "--workdir", str(workdir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )


def processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            command = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in command:
            found.append(command)
    return found


def test_trains_promotes_and_prints_predictions_then_stops_mlflow(tmp_path):
    workdir = tmp_path / "loop"
    result = run_loop(workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "registered delivery-time version 1" in out
    assert "Moving alias 'staging' to version 1" in out
    assert "Predictions of model version 1" in out
    days = re.findall(r"->\s.+?\s+(\d+\.\d) days", out)
    assert len(days) == 4 and all(3 < float(d) < 60 for d in days)
    assert "MLflow stopped" in out
    assert (workdir / "mlflow.db").exists() and (workdir / "artifacts").is_dir()
    assert processes_mentioning(str(workdir)) == []


def test_a_failed_step_exits_non_zero_with_the_reason_and_stops_mlflow(tmp_path):
    workdir = tmp_path / "loop"
    result = run_loop(workdir, QUALITY_GATE_MIN_IMPROVEMENT="0.99")
    assert result.returncode == 1
    assert "error: training failed: error: quality gate failed" in result.stderr
    assert "Traceback" not in result.stderr
    assert processes_mentioning(str(workdir)) == []
