"""Reading the functions' output as CloudWatch Logs does: which lines are embedded metric format (EMF) documents,
and whether each one follows the specification's structure, written from the specification itself
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html),
not from ``functions/common/metrics.py``."""

from __future__ import annotations

import json
import re
from typing import Any

UNITS = {
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
_NAMESPACE = re.compile(r"^[A-Za-z0-9._#:/-]{1,255}$")
_DIMENSION_VALUE = re.compile(r"^[\x20-\x7e]{1,1024}$")


def problems(document: Any) -> list[str]:
    """Every way ``document`` breaks the EMF structure; empty when CloudWatch would extract its metrics."""
    if not isinstance(document, dict):
        return ["the root is not a JSON object"]
    aws = document.get("_aws")
    if not isinstance(aws, dict):
        return ["no _aws metadata object"]
    found: list[str] = []
    timestamp = aws.get("Timestamp")
    if not isinstance(timestamp, int) or isinstance(timestamp, bool) or timestamp < 10**12:
        found.append(f"Timestamp {timestamp!r} is not milliseconds since the epoch")
    directives = aws.get("CloudWatchMetrics")
    if not isinstance(directives, list) or not directives:
        return [*found, "CloudWatchMetrics is not a non-empty array"]
    for directive in directives:
        namespace = directive.get("Namespace")
        if not isinstance(namespace, str) or not _NAMESPACE.match(namespace) or namespace.startswith("AWS/"):
            found.append(f"Namespace {namespace!r} is invalid")
        for keys in directive.get("Dimensions", []):
            if not isinstance(keys, list) or len(keys) > 30:
                found.append(f"dimension set {keys!r} is not an array of at most 30 names")
                continue
            for key in keys:
                value = document.get(key)
                if not isinstance(value, str) or not _DIMENSION_VALUE.match(value) or not value.strip():
                    found.append(f"dimension {key!r} has no valid string value at the root: {value!r}")
        definitions = directive.get("Metrics")
        if not isinstance(definitions, list) or not 1 <= len(definitions) <= 100:
            found.append("Metrics is not an array of 1 to 100 definitions")
            continue
        for definition in definitions:
            name, unit = definition.get("Name"), definition.get("Unit", "None")
            if unit not in UNITS:
                found.append(f"metric {name!r} has unit {unit!r}")
            value = document.get(name)
            values = value if isinstance(value, list) else [value]
            if not values or any(isinstance(v, bool) or not isinstance(v, int | float) for v in values):
                found.append(f"metric {name!r} has no number at the root: {value!r}")
    return found


def emf_lines(output: str) -> list[dict[str, Any]]:
    """The EMF documents among the JSON lines of ``output`` (the structured log lines are left out)."""
    documents = []
    for line in output.splitlines():
        if not line.startswith("{"):
            continue
        parsed = json.loads(line)
        if isinstance(parsed, dict) and "_aws" in parsed:
            documents.append(parsed)
    return documents


def metric_lines(output: str, name: str) -> list[dict[str, Any]]:
    """The valid EMF documents of ``output`` that carry metric ``name`` (an invalid one fails the test)."""
    found = []
    for document in emf_lines(output):
        assert problems(document) == [], document
        names = [d["Name"] for directive in document["_aws"]["CloudWatchMetrics"] for d in directive["Metrics"]]
        if name in names:
            found.append(document)
    return found


def dimension_sets(document: dict[str, Any]) -> list[list[str]]:
    return [keys for directive in document["_aws"]["CloudWatchMetrics"] for keys in directive["Dimensions"]]
