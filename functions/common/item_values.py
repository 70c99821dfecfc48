"""Reading DynamoDB item attributes as plain values: boto3's resource layer returns numbers as ``Decimal``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def number(value: Any) -> float | None:
    """A number attribute as a float; None for anything else (booleans included)."""
    if isinstance(value, Decimal | int | float) and not isinstance(value, bool):
        return float(value)
    return None


def text(value: Any) -> str | None:
    """A non-empty string attribute; None for anything else."""
    return value if isinstance(value, str) and value else None
