"""Measure the inference Lambda handler as Lambda would see it, and print the figures as a table.

    .venv/bin/python -m bench.inference [--runs 5] [--single-calls 1000] [--batch-calls 200] [--warmup 20]
                                        [--skip-size] [--json PATH]

1. Trains the model the way train.py does (its estimator settings and split, on the sample CSV) and saves it
   with mlflow.sklearn in the skops format, into a temporary folder.
2. Init: in --runs fresh processes of this interpreter, with pandas and mlflow blocked as in the image,
   the time to import ``inference`` and to ``load_predictor`` the model (medians), plus the first request.
   A first, separate run fills a bytecode cache in the scratch folder (pip-installed packages have .pyc);
   its import time is reported too, as the cost of an image without .pyc.
3. Warm latency of ``handle()`` for one record and for a batch of 100: p50 and p99 in one fresh process,
   after --warmup calls of each.
4. A proxy for the image size: what ``pip install --target`` puts on disk for requirements-inference.txt,
   for the arm64 Lambda (Python 3.12, manylinux aarch64 wheels), or for this machine if that fails.

The figures depend on the machine, which the table names; they are never pass/fail checks. ``--json`` writes
them with stable keys so that ``make bench`` can collect several runs into one results table.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.metadata
import importlib.util
import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SEED_CODE = ROOT / "seed_code"
SAMPLE_DATA = SEED_CODE / "data" / "deliveries.csv"
INFERENCE_REQUIREMENTS = SEED_CODE / "requirements-inference.txt"
WORKER = "bench.inference_worker"
BATCH_SIZE = 100
WORKER_TIMEOUT_SECONDS = 900
PIP_TIMEOUT_SECONDS = 1800
MEGABYTE = 1_000_000

# train.py's defaults (tests/bench checks that they still are), passed as flags so that its environment
# variables (N_ESTIMATORS, ...) cannot change the model measured here.
TRAINING_FLAGS: dict[str, str] = {
    "--n-estimators": "300",
    "--max-depth": "3",
    "--learning-rate": "0.05",
    "--seed": "42",
    "--test-size": "0.2",
}
# The arm64 Lambda's Python 3.12 image runs on Amazon Linux 2023 (glibc 2.34): manylinux2014 wheels and the
# newer manylinux_2_28 ones (the only aarch64 wheels of recent scikit-learn) both install there.
LAMBDA_PIP_TARGET: tuple[str, ...] = (
    "--platform=manylinux2014_aarch64",
    "--platform=manylinux_2_28_aarch64",
    "--python-version=3.12",
    "--implementation=cp",
)
LIBRARIES = ("scikit-learn", "skops", "numpy", "pyyaml", "mlflow")


@dataclass(frozen=True)
class Options:
    runs: int
    single_calls: int
    batch_calls: int
    warmup: int
    skip_size: bool
    json_path: Path | None


@dataclass(frozen=True)
class Figure:
    key: str  # stable, for collecting results: section.name_unit
    label: str
    value: float
    unit: str


@dataclass
class Report:
    date: str
    machine: dict[str, Any]
    settings: dict[str, Any]
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # measurements asked for but not taken


class BenchError(RuntimeError):
    """A measurement could not be taken; the message says which and why."""


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text}")
    return value


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.inference", description="Measure the inference Lambda handler (figures, not checks)."
    )
    parser.add_argument("--runs", type=positive_int, default=5, help="fresh processes for the init time (median)")
    parser.add_argument("--single-calls", type=positive_int, default=1000, help="timed calls with one record")
    parser.add_argument("--batch-calls", type=positive_int, default=200, help=f"timed calls with {BATCH_SIZE} records")
    parser.add_argument("--warmup", type=int, default=20, help="untimed calls before each latency series")
    parser.add_argument("--skip-size", action="store_true", help="skip the pip install that measures package size")
    parser.add_argument("--json", dest="json_path", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args(argv)
    if args.warmup < 0:
        parser.error(f"--warmup: expected 0 or more, got {args.warmup}")
    return Options(**vars(args))


# ------------------------------------------------------------------------------------------------ the model


def seed_code_importable() -> None:
    if str(SEED_CODE) not in sys.path:
        sys.path.insert(0, str(SEED_CODE))


@contextlib.contextmanager
def quiet_mlflow() -> Iterator[None]:
    """Without MLflow's notes on the environment it records beside the model: they say nothing here."""
    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def build_model_dir(target: Path) -> dict[str, Any]:
    """Train and save the model as train.py does, without an MLflow server; returns what was built."""
    seed_code_importable()
    import dataset
    import mlflow.sklearn
    import train
    from mlflow.models import infer_signature
    from model_files import SKOPS_TRUSTED_TYPES

    flags = [item for pair in TRAINING_FLAGS.items() for item in pair]
    settings = train.parse_args([*flags, "--tracking-uri", "unused: the model is saved to a folder"])
    data = dataset.load(SAMPLE_DATA)
    x_train, x_test, y_train, _ = train.split(data, settings.test_size, settings.seed)
    model = train.fit(x_train, y_train, settings)
    example = x_test.head(3)
    with quiet_mlflow():
        mlflow.sklearn.save_model(
            model,
            str(target),
            serialization_format="skops",
            skops_trusted_types=SKOPS_TRUSTED_TYPES,
            signature=infer_signature(example, model.predict(example)),
            input_example=example,
        )
    return {
        "estimator": type(model).__name__,
        **{name: getattr(settings, name) for name in ("n_estimators", "max_depth", "learning_rate", "seed")},
        "training_rows": len(x_train),
        "model_file_bytes": sum(path.stat().st_size for path in target.glob("*.skops")),
    }


# ------------------------------------------------------------------------------------------------ fresh processes


def worker_environment(bytecode_cache: Path) -> dict[str, str]:
    """This environment, with bytecode as an image has it, and minus what would change the measurement."""
    environ = dict(os.environ)
    environ.pop("AWS_LAMBDA_FUNCTION_NAME", None)  # it makes inference.py load MODEL_URI at import
    # pip compiles what it installs into the image; a virtualenv made with PYTHONDONTWRITEBYTECODE set (or by
    # uv) has no .pyc, and compiling scikit-learn and SciPy at every import would swamp the figure. The cache
    # lives in the scratch folder, so nothing is written beside the sources.
    environ.pop("PYTHONDONTWRITEBYTECODE", None)
    environ["PYTHONPYCACHEPREFIX"] = str(bytecode_cache)
    return environ


def run_worker(bytecode_cache: Path, *args: str) -> dict[str, Any]:
    command = [sys.executable, "-m", WORKER, *args]
    result = subprocess.run(
        command,
        cwd=ROOT,
        env=worker_environment(bytecode_cache),
        capture_output=True,
        text=True,
        timeout=WORKER_TIMEOUT_SECONDS,
    )
    if result.returncode != 0:
        raise BenchError(f"{' '.join(command)} exited with {result.returncode}:\n{result.stderr.strip()}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure_init(model_dir: Path, bytecode_cache: Path, runs: int) -> list[Figure]:
    compiling = run_worker(bytecode_cache, "init", str(model_dir))  # fills the empty bytecode cache
    samples = [run_worker(bytecode_cache, "init", str(model_dir)) for _ in range(runs)]

    def median(name: str) -> float:
        return statistics.median(sample[name] for sample in samples)

    init_ms = statistics.median(sample["import_ms"] + sample["load_ms"] for sample in samples)
    of_runs = f"median of {runs} fresh processes"
    return [
        Figure("init.import_ms", f"import inference ({of_runs})", median("import_ms"), "ms"),
        Figure("init.load_ms", f"load_predictor ({of_runs})", median("load_ms"), "ms"),
        Figure("init.total_ms", f"import + load ({of_runs})", init_ms, "ms"),
        Figure("init.first_call_ms", "first handle() call, one record (median)", median("first_call_ms"), "ms"),
        Figure("init.peak_memory_mb", "peak memory of the process after init (median)", median("peak_memory_mb"), "MB"),
        Figure(
            "init.import_without_pyc_ms",
            "import inference without .pyc (one run, compiles)",
            compiling["import_ms"],
            "ms",
        ),
    ]


def percentile(samples: Sequence[float], percent: int) -> float:
    """Linear interpolation between closest ranks, as numpy.percentile does by default."""
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[percent - 1]


def measure_latency(model_dir: Path, bytecode_cache: Path, options: Options) -> list[Figure]:
    counts = (options.warmup, options.single_calls, options.batch_calls, BATCH_SIZE)
    samples = run_worker(bytecode_cache, "latency", str(model_dir), *(str(count) for count in counts))
    series = (
        ("single", "1 record", samples["single_ms"]),
        (f"batch{BATCH_SIZE}", f"{BATCH_SIZE} records", samples["batch_ms"]),
    )
    return [
        Figure(f"latency.{name}_p{percent}_ms", f"warm handle(), {label}: p{percent} of {len(values)}", value, "ms")
        for name, label, values in series
        for percent, value in ((50, percentile(values, 50)), (99, percentile(values, 99)))
    ]


# ------------------------------------------------------------------------------------------------ image size


def pip_command() -> list[str] | None:
    """A pip to run: this interpreter's, else one on PATH (uv virtualenvs come without pip)."""
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip"]
    found = shutil.which("pip3") or shutil.which("pip")
    return [found] if found else None


def pip_install(pip: list[str], target: Path, platform_flags: Sequence[str]) -> subprocess.CompletedProcess[str]:
    shutil.rmtree(target, ignore_errors=True)
    command = [
        *pip,
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--target",
        str(target),
        "--only-binary=:all:",
        *platform_flags,
        "--requirement",
        str(INFERENCE_REQUIREMENTS),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_SECONDS)


def install_image_packages(target: Path, report: Report) -> str:
    """Install requirements-inference.txt into ``target``; returns the platform the wheels are for."""
    pip = pip_command()
    if pip is None:
        raise BenchError("no pip found (neither in this interpreter nor on PATH)")
    for_lambda = pip_install(pip, target, LAMBDA_PIP_TARGET)
    if for_lambda.returncode == 0:
        return "arm64 Lambda: cp312 manylinux aarch64 wheels"
    reason = last_error_line(for_lambda.stderr)
    report.notes.append(f"no install for the arm64 Lambda ({reason}); the size is for this machine instead")
    local = pip_install(pip, target, ())
    if local.returncode != 0:
        raise BenchError(f"pip install failed: {last_error_line(local.stderr)}")
    return f"this machine: {platform.machine()} wheels for the Python of {' '.join(pip)}"


def last_error_line(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("ERROR")]
    return (errors or stderr.strip().splitlines() or ["no message"])[-1]


def tree_bytes(path: Path) -> int:
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file() and not item.is_symlink())


def distribution_bytes(target: Path) -> dict[str, int]:
    """Bytes of each installed distribution, from the file lists pip records (RECORD)."""
    sizes: dict[str, int] = {}
    for distribution in importlib.metadata.distributions(path=[str(target)]):
        files = [Path(str(distribution.locate_file(file))) for file in distribution.files or ()]
        sizes[distribution.metadata["Name"]] = sum(file.stat().st_size for file in files if file.is_file())
    return dict(sorted(sizes.items(), key=lambda item: item[1], reverse=True))


def measure_image_packages(target: Path, report: Report) -> list[Figure]:
    wheels_for = install_image_packages(target, report)
    report.settings["image_proxy_wheels"] = wheels_for
    total = Figure(
        "image_proxy.packages_mb",
        "PROXY for the image size: pip --target of requirements-inference.txt",
        tree_bytes(target) / MEGABYTE,
        "MB",
    )
    largest = [
        Figure(f"image_proxy.{name.lower()}_mb", f"  of which {name}", size / MEGABYTE, "MB")
        for name, size in distribution_bytes(target).items()
        if size >= MEGABYTE
    ]
    report.notes.append(
        f"image size proxy: installed files only ({wheels_for}); the Lambda base image, the handler and "
        "the model come on top"
    )
    return [total, *largest]


# ------------------------------------------------------------------------------------------------ the report


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    versions = {}
    for name in LIBRARIES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    return {
        "cpu_count": os.cpu_count(),
        "cpu": cpu_model(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "libraries": versions,
    }


def new_report(options: Options) -> Report:
    return Report(
        date=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        machine=machine(),
        settings={
            "runs": options.runs,
            "warmup_calls": options.warmup,
            "single_calls": options.single_calls,
            "batch_calls": options.batch_calls,
            "batch_size": BATCH_SIZE,
            "blocked_modules": ["pandas", "mlflow"],
        },
    )


def format_value(value: float) -> str:
    return f"{value:,.3f}" if value < 1 else f"{value:,.2f}" if value < 10 else f"{value:,.1f}"


def render(report: Report) -> str:
    info = report.machine
    model = report.settings.get("model", {})
    libraries = ", ".join(f"{name} {version}" for name, version in info["libraries"].items())
    lines = [
        f"Inference handler benchmark, {report.date}",
        f"machine: {info['cpu_count']} CPUs ({info['cpu']}), {info['python']}, {info['platform']}",
        f"libraries: {libraries}",
        f"model: {model.get('estimator')} n_estimators={model.get('n_estimators')} max_depth={model.get('max_depth')}"
        f" learning_rate={model.get('learning_rate')}, {model.get('training_rows')} training rows,"
        f" {model.get('model_file_bytes', 0) / 1000:,.0f} kB skops file",
        "",
    ]
    width = max((len(figure.label) for figure in report.figures), default=10)
    values = [format_value(figure.value) for figure in report.figures]
    value_width = max((len(value) for value in values), default=5)
    lines.append(f"{'figure':<{width}}  {'value':>{value_width}}  unit")
    lines.append(f"{'-' * width}  {'-' * value_width}  ----")
    lines += [
        f"{figure.label:<{width}}  {value:>{value_width}}  {figure.unit}"
        for figure, value in zip(report.figures, values, strict=True)
    ]
    lines += ["", *(f"note: {note}" for note in report.notes), *(f"error: {error}" for error in report.errors)]
    return "\n".join(lines).rstrip()


def as_json(report: Report) -> str:
    return json.dumps({"benchmark": "inference", **asdict(report)}, indent=2) + "\n"


@contextlib.contextmanager
def scratch_folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="bench-inference-") as folder:
        yield Path(folder)


def run(options: Options) -> Report:
    report = new_report(options)
    report.notes += [
        "times are inside the process (no Lambda runtime, network or container start); "
        "the Lambda runs Python 3.12 on arm64 with CPU in proportion to its memory",
        "init runs use cached .pyc for every module, as pip-installed packages have; Lambda also compiles "
        "the handler's own three files at each cold start (a few ms)",
    ]
    with scratch_folder() as scratch:
        model_dir, bytecode_cache = scratch / "model", scratch / "pycache"
        print("training and saving the model ...", file=sys.stderr)
        report.settings["model"] = build_model_dir(model_dir)
        print(f"init: 1 + {options.runs} fresh processes ...", file=sys.stderr)
        report.figures += measure_init(model_dir, bytecode_cache, options.runs)
        print("warm latency ...", file=sys.stderr)
        report.figures += measure_latency(model_dir, bytecode_cache, options)
        if options.skip_size:
            report.notes.append("image size proxy: skipped (--skip-size)")
        else:
            print("installing the image's packages with pip ...", file=sys.stderr)
            try:
                report.figures += measure_image_packages(scratch / "packages", report)
            except BenchError as error:
                report.errors.append(f"image size proxy: not measured: {error}")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    try:
        report = run(options)
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(render(report))
    if options.json_path:
        options.json_path.parent.mkdir(parents=True, exist_ok=True)
        options.json_path.write_text(as_json(report))
        print(f"\nwrote {options.json_path}", file=sys.stderr)
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
