"""CloudWatch metrics written as embedded metric format (EMF) lines: one JSON object per line on stdout.

Why EMF and not PutMetricData: Lambda already sends stdout to the function's log group, and CloudWatch Logs
extracts the metrics of every EMF line it receives. So a function needs no ``cloudwatch:PutMetricData``
permission (its role keeps only the log writing it already has), makes no extra API call on its path, and every
data point sits in the log next to the lines of its run. No Powertools layer: the format is small enough to
write here, following the specification
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):

    {"_aws": {"Timestamp": 1767225600000,                              # milliseconds since the epoch
              "CloudWatchMetrics": [{"Namespace": "ServerlessMlops/Pipeline",
                                     "Dimensions": [["Pipeline"], ["Pipeline", "Step"]],
                                     "Metrics": [{"Name": "RunsFailed", "Unit": "Count"}]}]},
     "Pipeline": "serverless-mlops-delivery-time-pipeline", "Step": "DeployStage",   # dimension values
     "RunsFailed": 1,                                                                 # the metric's value
     "executionId": "arn:aws:states:...:execution:...:run-7", "outcome": "DeployStageFailed"}  # properties

Dimensions are few and low-cardinality on purpose: each distinct combination of values is a custom metric that
CloudWatch bills (per hour in which it receives data). They are the pipeline (the state machine's name), the
step, the outcome, the approval decision and the environment. The execution ID is never a dimension; it is a
plain property of the line, the same ``executionId`` key as in the structured logs, so one Logs Insights filter
(``filter executionId = "<execution ARN>"``) finds a run's log lines and its data points together.

Limits enforced (the specification's and PutMetricData's): at most 100 metrics per line, 30 dimensions per
dimension set, namespace ``[A-Za-z0-9._#:/-]`` (not ``AWS/...``), metric and dimension names up to 255 / 250
characters, a known unit, finite numbers. A mistake in those raises ``ValueError`` (a bug in the caller). Dimension
VALUES come from events, so they are made valid instead of refused: printable ASCII, at most 1024 characters,
``"Unknown"`` when empty, so no value read from an event can make a metric raise.
"""

from __future__ import annotations

import json
import math
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from functions.common.executions import EXECUTION_ARN
from functions.common.logging import redact

NAMESPACE = "ServerlessMlops/Pipeline"
MAX_METRICS_PER_LINE = 100
MAX_DIMENSIONS_PER_SET = 30
MAX_DIMENSION_VALUE_LENGTH = 1024
MAX_DIMENSION_NAME_LENGTH = 250
MAX_METRIC_NAME_LENGTH = 255
MAX_NAMESPACE_LENGTH = 255
UNKNOWN = "Unknown"
# The units CloudWatch accepts (MetricDatum.Unit).
UNITS = frozenset(
    {
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    }
)
_NAMESPACE = re.compile(r"^[A-Za-z0-9._#:/-]+$")
_NOT_PRINTABLE_ASCII = re.compile(r"[^\x20-\x7e]")

# The pipeline's metrics (the dashboard in infra/components/dashboard.py reads the same names).
RUNS_STARTED = "RunsStarted"
RUNS_SUCCEEDED = "RunsSucceeded"
RUNS_FAILED = "RunsFailed"
APPROVAL_WAIT_TIME = "ApprovalWaitTime"
DEPLOYMENTS_SUCCEEDED = "DeploymentsSucceeded"
DEPLOYMENTS_FAILED = "DeploymentsFailed"


@dataclass(frozen=True)
class Metric:
    name: str
    value: float
    unit: str = "Count"


def dimension_value(value: Any) -> str:
    """``value`` as a valid dimension value: printable ASCII (anything else becomes ``?``), at most 1024
    characters, never blank (``"Unknown"``)."""
    text = _NOT_PRINTABLE_ASCII.sub("?", str(value).strip() if value is not None else "")
    return text[:MAX_DIMENSION_VALUE_LENGTH].strip() or UNKNOWN


def _check_name(kind: str, name: Any, limit: int) -> None:
    if not isinstance(name, str) or not name.strip() or len(name) > limit or _NOT_PRINTABLE_ASCII.search(name):
        raise ValueError(f"{kind}: expected 1 to {limit} printable ASCII characters, got {name!r}")
    if kind == "dimension name" and name.startswith(":"):
        raise ValueError(f"dimension name: must not start with ':', got {name!r}")


def _check_namespace(namespace: Any) -> None:
    if (
        not isinstance(namespace, str)
        or len(namespace) > MAX_NAMESPACE_LENGTH
        or not _NAMESPACE.match(namespace)
        or namespace.startswith("AWS/")
    ):
        raise ValueError(
            f"namespace: expected up to {MAX_NAMESPACE_LENGTH} of A-Z a-z 0-9 . _ # : / - and not AWS/..., "
            f"got {namespace!r}"
        )


def _check_metric(metric: Metric) -> None:
    _check_name("metric name", metric.name, MAX_METRIC_NAME_LENGTH)
    if metric.unit not in UNITS:
        raise ValueError(f"unit of {metric.name}: expected one of CloudWatch's units, got {metric.unit!r}")
    value = metric.value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"value of {metric.name}: expected a finite number, got {value!r}")


def document(
    metrics: Sequence[Metric],
    dimensions: Mapping[str, Any],
    *,
    dimension_sets: Sequence[Sequence[str]] | None = None,
    properties: Mapping[str, Any] | None = None,
    namespace: str = NAMESPACE,
    timestamp_ms: int,
) -> dict[str, Any]:
    """One EMF document. ``dimension_sets`` defaults to one set of every dimension; each set yields its own
    metric (e.g. ``[["Pipeline"], ["Pipeline", "Step"]]``: failures per pipeline, and per pipeline and step)."""
    _check_namespace(namespace)
    if not metrics or len(metrics) > MAX_METRICS_PER_LINE:
        raise ValueError(f"metrics: expected 1 to {MAX_METRICS_PER_LINE} per line, got {len(metrics)}")
    names = [metric.name for metric in metrics]
    if len(set(names)) != len(names):
        raise ValueError(f"metrics: each name once per line, got {names}")
    for metric in metrics:
        _check_metric(metric)
    for name in dimensions:
        _check_name("dimension name", name, MAX_DIMENSION_NAME_LENGTH)
    if "_aws" in dimensions or set(names) & set(dimensions):
        raise ValueError(f"dimensions {sorted(dimensions)}: a name is _aws or also a metric's name")
    sets = [list(dimensions)] if dimension_sets is None else [list(keys) for keys in dimension_sets]
    for keys in sets:
        if len(keys) > MAX_DIMENSIONS_PER_SET or len(set(keys)) != len(keys):
            raise ValueError(f"dimension set {keys}: expected at most {MAX_DIMENSIONS_PER_SET} distinct names")
        missing = [key for key in keys if key not in dimensions]
        if missing:
            raise ValueError(f"dimension set {keys}: no value for {missing}")
    extra = dict(redact(properties or {}))
    taken = {"_aws", *names, *dimensions}
    clashes = sorted(taken & set(extra))
    if clashes:
        raise ValueError(f"properties: {clashes} would overwrite a metric, a dimension or _aws")
    return {
        "_aws": {
            "Timestamp": int(timestamp_ms),
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": sets,
                    "Metrics": [{"Name": metric.name, "Unit": metric.unit} for metric in metrics],
                }
            ],
        },
        **{name: dimension_value(value) for name, value in dimensions.items()},
        **{metric.name: metric.value for metric in metrics},
        **extra,
    }


def emit(
    metrics: Sequence[Metric],
    dimensions: Mapping[str, Any],
    *,
    dimension_sets: Sequence[Sequence[str]] | None = None,
    properties: Mapping[str, Any] | None = None,
    namespace: str = NAMESPACE,
    stream: TextIO | None = None,
    clock: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """Write one EMF line (to stdout unless ``stream`` is given) and return its document."""
    line = document(
        metrics,
        dimensions,
        dimension_sets=dimension_sets,
        properties=properties,
        namespace=namespace,
        timestamp_ms=int(clock() * 1000),
    )
    out = stream or sys.stdout
    out.write(json.dumps(line, default=str, ensure_ascii=True, separators=(",", ":")) + "\n")
    out.flush()
    return line


# ------------------------------------------------------------------------------------- the pipeline's


def pipeline_of(execution_arn: str | None) -> str:
    """The state machine's name in an execution ARN (the ``Pipeline`` dimension); ``"Unknown"`` for anything
    else (a manual deploy's ID)."""
    match = EXECUTION_ARN.match(execution_arn or "")
    return dimension_value(match["machine"]) if match else UNKNOWN


def _properties(execution_arn: str | None, extra: Mapping[str, Any]) -> dict[str, Any]:
    return {"executionId": execution_arn, **{key: value for key, value in extra.items() if value is not None}}


def run_started(execution_arn: str, **properties: Any) -> dict[str, Any]:
    """The start function started a pipeline run."""
    return emit(
        [Metric(RUNS_STARTED, 1)],
        {"Pipeline": pipeline_of(execution_arn)},
        properties=_properties(execution_arn, properties),
    )


def run_succeeded(execution_arn: str, **properties: Any) -> dict[str, Any]:
    """A run reached its end with prod on the new model (seen by the notify function)."""
    return emit(
        [Metric(RUNS_SUCCEEDED, 1)],
        {"Pipeline": pipeline_of(execution_arn)},
        properties=_properties(execution_arn, properties),
    )


def run_failed(execution_arn: str, step: str | None, outcome: str | None, **properties: Any) -> dict[str, Any]:
    """A run failed at ``step`` with ``outcome`` (Rejected, ApprovalExpired, Superseded, <Step>Failed...):
    counted per pipeline, per step and per outcome."""
    return emit(
        [Metric(RUNS_FAILED, 1)],
        {"Pipeline": pipeline_of(execution_arn), "Step": dimension_value(step), "Outcome": dimension_value(outcome)},
        dimension_sets=[["Pipeline"], ["Pipeline", "Step"], ["Pipeline", "Outcome"]],
        properties=_properties(execution_arn, properties),
    )


def approval_waited(execution_arn: str, seconds: float, decision: str, **properties: Any) -> dict[str, Any]:
    """How long an approval request waited for its end: a delivered decision (approved / rejected) or its
    expiry. Per pipeline, and per pipeline and decision."""
    return emit(
        [Metric(APPROVAL_WAIT_TIME, round(max(float(seconds), 0.0), 3), "Seconds")],
        {"Pipeline": pipeline_of(execution_arn), "Decision": dimension_value(decision)},
        dimension_sets=[["Pipeline"], ["Pipeline", "Decision"]],
        properties=_properties(execution_arn, properties),
    )


def deployment_finished(
    execution_id: str | None, environment: str, *, succeeded: bool, **properties: Any
) -> dict[str, Any]:
    """A deploy function action ended, per pipeline and environment (a manual rollback: pipeline Unknown)."""
    name = DEPLOYMENTS_SUCCEEDED if succeeded else DEPLOYMENTS_FAILED
    return emit(
        [Metric(name, 1)],
        {"Pipeline": pipeline_of(execution_id), "Environment": dimension_value(environment)},
        properties=_properties(execution_id, properties),
    )
