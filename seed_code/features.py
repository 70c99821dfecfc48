"""The model's input schema, in one place: the training code and the inference handler both read it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

TARGET = "DELIVERY_TIME_DAYS"
FEATURES: tuple[str, ...] = ("PORT_LOAD_LAT", "PORT_LOAD_LONG", "PORT_DEL_LAT", "PORT_DEL_LONG")
# Inclusive bounds of each feature: latitudes and longitudes in decimal degrees.
RANGES: Mapping[str, tuple[float, float]] = {
    "PORT_LOAD_LAT": (-90.0, 90.0),
    "PORT_LOAD_LONG": (-180.0, 180.0),
    "PORT_DEL_LAT": (-90.0, 90.0),
    "PORT_DEL_LONG": (-180.0, 180.0),
}


class InvalidRecord(ValueError):
    """A record that does not match the schema; the message names the field and what was expected."""


def validate_record(record: Any, where: str = "record") -> list[float]:
    """Check one input record and return its feature values in model order.

    ``where`` names the record in messages (for example ``records[3]``).
    """
    if not isinstance(record, Mapping):
        raise InvalidRecord(f"{where}: expected an object with {', '.join(FEATURES)}, got {type(record).__name__}")
    missing = [f for f in FEATURES if f not in record]
    if missing:
        raise InvalidRecord(f"{where}: missing field(s) {', '.join(missing)}")
    extra = sorted(str(k) for k in record if k not in FEATURES)
    if extra:
        raise InvalidRecord(f"{where}: unexpected field(s) {', '.join(extra)}; expected only {', '.join(FEATURES)}")
    return [_number(record[name], f"{where}.{name}", name) for name in FEATURES]


def _number(value: Any, label: str, feature: str) -> float:
    # bool is an int in Python, but true/false is never a coordinate.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRecord(f"{label}: expected a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidRecord(f"{label}: expected a finite number, got {value!r}")
    low, high = RANGES[feature]
    if not low <= number <= high:
        raise InvalidRecord(f"{label}: expected a value between {low:g} and {high:g}, got {value!r}")
    return number
