"""The measured side of ``bench.inference``: runs in a fresh interpreter, as a new Lambda container would.

Before it measures, it imports nothing but ``sys``, ``os`` and ``time`` (modules the interpreter has already
loaded), so the import time it reports is the handler's own. It blocks pandas and mlflow the way the test of
the image does (``sys.modules[name] = None``), because the Lambda image does not install them. It prints its
figures as one JSON object on stdout; ``bench.inference`` starts it, there is no need to run it by hand:

    python -m bench.inference_worker init MODEL_DIR
    python -m bench.inference_worker latency MODEL_DIR WARMUP_CALLS SINGLE_CALLS BATCH_CALLS BATCH_SIZE
"""

from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False  # the typing module is not imported before the measurement, so no typing.TYPE_CHECKING
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType
    from typing import Any

SEED_CODE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "seed_code")
SAMPLE_DATA = os.path.join(SEED_CODE, "data", "deliveries.csv")
MODULES_NOT_IN_THE_IMAGE = ("pandas", "mlflow")
MODEL_VERSION = "bench"


def milliseconds_since(start_ns: int) -> float:
    return (time.perf_counter_ns() - start_ns) / 1e6


def block_modules_not_in_the_image() -> None:
    for name in MODULES_NOT_IN_THE_IMAGE:
        sys.modules[name] = None  # type: ignore[assignment]  # importing it now raises ImportError


def import_handler() -> tuple[ModuleType, float]:
    sys.path.insert(0, SEED_CODE)
    start = time.perf_counter_ns()
    import inference

    return inference, milliseconds_since(start)


def load_predictor(inference: ModuleType, model_dir: str) -> tuple[Any, float]:
    start = time.perf_counter_ns()
    predictor = inference.load_predictor({"MODEL_URI": model_dir, "MODEL_VERSION": MODEL_VERSION})
    return predictor, milliseconds_since(start)


def answer(handle: Callable[[Any, Any], dict[str, Any]], event: Any, predictor: Any) -> None:
    """Call the handler once and stop the benchmark if it did not predict (a wrong figure is worse than none)."""
    response = handle(event, predictor)
    if response.get("statusCode") != 200:
        raise SystemExit(f"the handler answered {response.get('statusCode')}: {response.get('body')}")


def timed_call(handle: Callable[[Any, Any], dict[str, Any]], event: Any, predictor: Any) -> float:
    start = time.perf_counter_ns()
    answer(handle, event, predictor)
    return milliseconds_since(start)


def peak_memory_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def sample_records(features: tuple[str, ...], count: int) -> list[dict[str, float]]:
    """``count`` records from the sample CSV (repeated if it is shorter), as a client would send them."""
    import csv

    with open(SAMPLE_DATA, newline="") as stream:
        rows = [{name: float(row[name]) for name in features} for row in csv.DictReader(stream)]
    return [rows[i % len(rows)] for i in range(count)]


def measure_init(model_dir: str) -> dict[str, float]:
    block_modules_not_in_the_image()
    inference, import_ms = import_handler()
    predictor, load_ms = load_predictor(inference, model_dir)
    record = sample_records(inference.FEATURES, 1)
    first_call_ms = timed_call(inference.handle, {"records": record}, predictor)
    return {
        "import_ms": import_ms,
        "load_ms": load_ms,
        "first_call_ms": first_call_ms,
        "peak_memory_mb": peak_memory_mb(),
    }


def measure_latency(
    model_dir: str, warmup: int, single_calls: int, batch_calls: int, batch_size: int
) -> dict[str, list[float]]:
    block_modules_not_in_the_image()
    inference, _ = import_handler()
    predictor, _ = load_predictor(inference, model_dir)
    records = sample_records(inference.FEATURES, batch_size)
    samples: dict[str, list[float]] = {}
    for name, event, calls in (
        ("single_ms", {"records": records[:1]}, single_calls),
        ("batch_ms", {"records": records}, batch_calls),
    ):
        for _ in range(warmup):
            answer(inference.handle, event, predictor)
        samples[name] = [timed_call(inference.handle, event, predictor) for _ in range(calls)]
    return samples


def main(argv: list[str]) -> None:
    if argv[:1] == ["init"] and len(argv) == 2:
        figures: dict[str, Any] = measure_init(argv[1])
    elif argv[:1] == ["latency"] and len(argv) == 6:
        warmup, single_calls, batch_calls, batch_size = (int(value) for value in argv[2:])
        figures = measure_latency(argv[1], warmup, single_calls, batch_calls, batch_size)
    else:
        raise SystemExit(__doc__)
    if sys.modules.get("pandas") is not None or sys.modules.get("mlflow") is not None:
        raise SystemExit("pandas or mlflow was imported although the image does not have them")
    import json

    print(json.dumps(figures))


if __name__ == "__main__":
    main(sys.argv[1:])
