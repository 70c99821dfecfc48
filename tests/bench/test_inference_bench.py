"""The inference benchmark measures the model train.py makes, and reports figures; it never checks them."""

from __future__ import annotations

import json

import pytest
import train

from bench import inference as bench

TRAIN_ENVIRONMENT = ("N_ESTIMATORS", "MAX_DEPTH", "LEARNING_RATE", "RANDOM_SEED", "TEST_SIZE")


def test_the_benchmark_trains_with_train_py_defaults(monkeypatch):
    for name in TRAIN_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    defaults = train.parse_args(["--tracking-uri", "unused"])
    flags = [item for pair in bench.TRAINING_FLAGS.items() for item in pair]
    benchmarked = train.parse_args([*flags, "--tracking-uri", "unused"])
    assert benchmarked == defaults


def test_percentiles_interpolate_like_numpy():
    samples = [float(value) for value in range(1, 101)]
    assert bench.percentile(samples, 50) == pytest.approx(50.5)
    assert bench.percentile(samples, 99) == pytest.approx(99.01)
    assert bench.percentile([3.0], 99) == 3.0


@pytest.mark.parametrize("argv", [["--runs", "0"], ["--single-calls", "-1"], ["--warmup", "-1"]])
def test_counts_must_be_sensible(argv):
    with pytest.raises(SystemExit):
        bench.parse_args(argv)


def test_a_short_run_reports_every_figure_from_fresh_processes_without_pandas(tmp_path, capsys):
    output = tmp_path / "results" / "inference.json"
    argv = ["--runs", "1", "--single-calls", "3", "--batch-calls", "2", "--warmup", "1", "--skip-size"]
    assert bench.main([*argv, "--json", str(output)]) == 0
    report = json.loads(output.read_text())
    keys = {figure["key"] for figure in report["figures"]}
    assert {"init.import_ms", "init.load_ms", "latency.single_p99_ms", "latency.batch100_p50_ms"} <= keys
    assert all(figure["value"] > 0 for figure in report["figures"])
    assert report["settings"]["model"]["n_estimators"] == 300
    assert report["machine"]["cpu_count"] >= 1
    assert "import inference" in capsys.readouterr().out
