"""``make bench``: every source's figures in one table, a failing source reported, never dropped."""

from __future__ import annotations

import pytest

from bench import results
from bench.results import Row, Section, SourceFailed, parse_pytest_summary, render


def test_the_pytest_summary_gives_counts_and_seconds() -> None:
    output = "....\n=== short test summary info ===\n1268 passed, 1 skipped, 4 warnings in 273.71s (0:04:33)\n"

    counts, seconds = parse_pytest_summary(output)

    assert counts == {"passed": 1268, "skipped": 1, "warnings": 4}
    assert seconds == 273.71
    with pytest.raises(SourceFailed, match="no summary line"):
        parse_pytest_summary("collected 0 items\n")


def test_the_cost_section_has_every_stack_in_both_profiles_and_the_reference() -> None:
    section = results.cost_section(quick=True)

    figures = {row.figure: row for row in section.rows}
    for profile in ("minimal", "standard (default)"):
        for stack in ("tooling", "stage", "prod"):
            assert figures[f"{stack}, {profile}, idle"].unit == "USD / month"
    minimal, standard = (float(figures[f"tooling, {p}, idle"].value) for p in ("minimal", "standard (default)"))
    assert 0 < minimal < standard < float(figures["reference design (three accounts), idle"].value)


def test_a_failing_source_is_in_the_file_and_fails_the_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path, capsys
) -> None:
    def broken(quick: bool) -> Section:
        raise SourceFailed("`-m bench.pipeline` exited 1: error: MLflow did not start")

    def fine(quick: bool) -> Section:
        return Section("Fine", "python -m fine", rows=[Row("answer", "42", "s")])

    monkeypatch.setattr(results, "SOURCES", {"pipeline": broken, "cost": fine})
    output = tmp_path / "RESULTS.md"

    assert results.main(["--output", str(output), "--skip-tests"]) == 1

    text = output.read_text()
    assert "## Local pipeline, one approved run (make demo)" in text
    assert "**not measured: `-m bench.pipeline` exited 1: error: MLflow did not start**" in text
    assert "| answer | 42 | s |" in text
    assert "not every figure was measured" in capsys.readouterr().err


def test_the_file_names_the_machine_the_date_and_the_commit() -> None:
    info = {"cpu_count": 2, "cpu": "Test CPU", "python": "CPython 3.11.7", "platform": "Linux"}
    text = render(
        [Section("S", "python -m s", rows=[Row("f", "1.00", "ms")])], info, "2026-11-25 16:00 UTC", "abc1234", False
    )

    assert "on 2026-11-25 16:00 UTC, at commit `abc1234`" in text
    assert "Machine: 2 CPUs (Test CPU), CPython 3.11.7, Linux." in text
    assert "| f | 1.00 | ms |" in text
