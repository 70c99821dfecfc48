"""Run every benchmark and write one table of figures anyone can reproduce: ``make bench`` → bench/RESULTS.md.

    .venv/bin/python -m bench.results [--quick] [--skip-tests] [--skip-pipeline] [--output bench/RESULTS.md]

Each source runs in its own process, as a person would run it, and hands its figures over as JSON:

- ``bench.inference --json``: the inference handler's init and warm p50 / p99 (one record, a batch of 100);
- ``bench.pipeline --json``: a full approved run of the local pipeline (``make demo``), end to end and per step;
- the test suite (the README's test command without the lint): wall time and counts;
- ``infra.cost --json``: idle cost per stack and cost profile, next to the reference design.

A source that fails is reported in the table as not measured, with its reason, and makes the command exit 1
after the file is written: the table never silently drops a figure. The figures depend on the machine, which the
file names; nothing here is a pass/fail check.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.inference import machine

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "bench" / "RESULTS.md"
SECTION_TITLES = {
    "inference": "Inference handler (seed_code/inference.py)",
    "pipeline": "Local pipeline, one approved run (make demo)",
    "tests": "Test suite (make test, without the lint)",
    "cost": "Idle cost per stack and cost profile (infra/prices.json)",
}
# pytest's last line: "1268 passed, 1 skipped, 4 warnings in 273.71s (0:04:33)"
_PYTEST_SUMMARY = re.compile(r"(?P<counts>(?:\d+ \w+(?:, )?)+) in (?P<seconds>[\d.]+)s")


@dataclass(frozen=True)
class Row:
    figure: str
    value: str
    unit: str = ""


@dataclass
class Section:
    title: str
    command: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None


class SourceFailed(RuntimeError):
    """A benchmark could not produce its figures; the message says which command and why."""


def _python(*args: str) -> list[str]:
    return [sys.executable, *args]


def _run(command: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise SourceFailed(f"`{' '.join(command[1:])}` did not finish within {timeout:.0f} s") from None
    if result.returncode != 0:
        last = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()[-1]
        raise SourceFailed(f"`{' '.join(command[1:])}` exited {result.returncode}: {last}")
    return result


def _number(value: float) -> str:
    return f"{value:,.3f}" if value < 1 else f"{value:,.2f}" if value < 10 else f"{value:,.1f}"


def _figures_section(title: str, module: str, args: Sequence[str], timeout: float) -> Section:
    """A benchmark module that writes ``{"figures": [{"label", "value", "unit"}], "notes": [...]}`` with --json."""
    with tempfile.TemporaryDirectory(prefix="bench-results-") as folder:
        path = Path(folder) / "figures.json"
        command = _python("-m", module, *args, "--json", str(path))
        section = Section(title, "python -m " + " ".join([module, *args]))
        _run(command, timeout)
        document = json.loads(path.read_text(encoding="utf-8"))
    section.rows = [Row(f["label"], _number(float(f["value"])), f["unit"]) for f in document.get("figures", [])]
    section.notes = [str(note) for note in document.get("notes", [])]
    errors = document.get("errors") or []
    if errors:
        section.error = "; ".join(map(str, errors))
    return section


def inference_section(quick: bool) -> Section:
    args = ["--runs", "2", "--single-calls", "200", "--batch-calls", "50", "--skip-size"] if quick else []
    return _figures_section(SECTION_TITLES["inference"], "bench.inference", args, timeout=900)


def pipeline_section(quick: bool) -> Section:
    return _figures_section(SECTION_TITLES["pipeline"], "bench.pipeline", [], timeout=600)


def parse_pytest_summary(output: str) -> tuple[dict[str, int], float]:
    """The counts and seconds of pytest's final line; raises SourceFailed when there is none."""
    for line in reversed(output.strip().splitlines()):
        match = _PYTEST_SUMMARY.search(line)
        if match:
            counts = {
                kind: int(number)
                for number, kind in (part.split(" ", 1) for part in match["counts"].split(", ") if part)
            }
            return counts, float(match["seconds"])
    raise SourceFailed("pytest printed no summary line")


def test_suite_section(quick: bool) -> Section:
    command = _python("-m", "pytest", "-q", "-p", "no:cacheprovider")
    section = Section(SECTION_TITLES["tests"], "python -m pytest -q")
    started = time.monotonic()
    result = _run(command, timeout=1800)
    wall = time.monotonic() - started
    counts, seconds = parse_pytest_summary(result.stdout)
    section.rows = [
        Row("wall time, collection and interpreter start included", _number(wall), "s"),
        Row("time pytest reports", _number(seconds), "s"),
        *(Row(f"tests {kind}", str(number)) for kind, number in counts.items()),
    ]
    return section


def cost_section(quick: bool) -> Section:
    result = _run(_python("-m", "infra.cost", "--json"), timeout=600)
    document = json.loads(result.stdout)
    section = Section(SECTION_TITLES["cost"], "python -m infra.cost")
    runs = document.get("usage", {}).get("runs_per_month")
    for name, profile in document["cost_profiles"].items():
        default = " (default)" if profile.get("default") else ""
        for stack in profile["stacks"]:
            label = f"{stack['stack']}, {name}{default}"
            section.rows.append(Row(f"{label}, idle", _money(stack["idle_usd_per_month"]), "USD / month"))
            section.rows.append(Row(f"{label}, one pipeline run", _money(stack["usd_per_run"]), "USD"))
    reference = document["reference_design"]
    section.rows.append(
        Row("reference design (three accounts), idle", _money(reference["idle_usd_per_month"]), "USD / month")
    )
    if runs:
        section.notes.append(f"per month: idle plus {runs} runs is in `python -m infra.cost`")
    return section


def _money(value: float) -> str:
    return f"{value:,.4f}" if value < 0.1 else f"{value:,.2f}"


SOURCES: dict[str, Callable[[bool], Section]] = {
    "inference": inference_section,
    "pipeline": pipeline_section,
    "tests": test_suite_section,
    "cost": cost_section,
}


def run_sources(names: Sequence[str], quick: bool, log: Callable[[str], None]) -> list[Section]:
    sections = []
    for name in names:
        log(f"==> {name} ...")
        started = time.monotonic()
        try:
            section = SOURCES[name](quick)
        except (SourceFailed, OSError, ValueError, KeyError) as error:
            section = Section(SECTION_TITLES[name], f"bench source {name}", error=f"not measured: {error}")
        log(f"    done in {time.monotonic() - started:.1f} s" + (f" ({section.error})" if section.error else ""))
        sections.append(section)
    return sections


def commit() -> str:
    try:
        result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    except OSError:
        return "unknown"
    return result.stdout.strip() or "unknown"


def render(sections: Sequence[Section], info: dict[str, Any], date: str, revision: str, quick: bool) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench` (`python -m bench.results{' --quick' if quick else ''}`) on {date}, at commit "
        f"`{revision}`.",
        f"Machine: {info['cpu_count']} CPUs ({info['cpu']}), {info['python']}, {info['platform']}.",
        "Figures depend on the machine and on what else it runs; run `make bench` to get your own.",
    ]
    for section in sections:
        lines += ["", f"## {section.title}", "", f"`{section.command}`", ""]
        if section.rows:
            lines += ["| figure | value | unit |", "| --- | ---: | --- |"]
            lines += [f"| {row.figure} | {row.value} | {row.unit} |" for row in section.rows]
        if section.error:
            lines += ["", f"**{section.error}**"]
        if section.notes:
            lines += ["", *(f"- {note}" for note in section.notes)]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Options:
    sources: list[str]
    quick: bool
    output: Path


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.results", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples (for a check that it all runs)")
    parser.add_argument("--skip-tests", action="store_true", help="leave out the test suite (about 5 minutes)")
    parser.add_argument("--skip-pipeline", action="store_true", help="leave out the local pipeline run")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where to write the table")
    args = parser.parse_args(argv)
    skipped = {"tests"} if args.skip_tests else set()
    skipped |= {"pipeline"} if args.skip_pipeline else set()
    return Options([name for name in SOURCES if name not in skipped], args.quick, args.output)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    sections = run_sources(options.sources, options.quick, log)
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = render(sections, machine(), date, commit(), options.quick)
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(text, encoding="utf-8")
    print(text)
    log(f"wrote {options.output}")
    failed = [section.title for section in sections if section.error]
    if failed:
        log("error: not every figure was measured: " + "; ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
