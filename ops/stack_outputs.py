"""The tooling stack's outputs, as ``pulumi stack output --json --stack tooling`` prints them.

Commands take that JSON in an argument (the Makefile passes it), so they find the functions, the model and the
region from the stack itself; a flag given explicitly wins over the output.
"""

from __future__ import annotations

import json
from typing import Any

HOW = "pass the output of: pulumi stack output --json --stack tooling"


class OutputsError(ValueError):
    """The outputs are missing, not JSON, or lack a value a command needs; the message says which and how."""


def parse(text: str | None, flag: str = "--tooling-outputs") -> dict[str, Any]:
    """The outputs as a dict; an empty or missing text gives an empty dict (every value then needs its flag)."""
    if text is None or not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise OutputsError(f"{flag}: not valid JSON ({error.msg} at position {error.pos}); {HOW}") from None
    if not isinstance(data, dict):
        raise OutputsError(f"{flag}: expected a JSON object of stack outputs, got {type(data).__name__}; {HOW}")
    return data


def pick(outputs: dict[str, Any], explicit: str | None, key: str, flag: str) -> str:
    """``explicit`` (a flag's value) if given, else the output ``key``; raise OutputsError naming both."""
    value = explicit if explicit else outputs.get(key)
    if not isinstance(value, str) or not value.strip():
        raise OutputsError(f"{flag}: not given, and the tooling outputs have no {key!r}; {HOW}, or pass {flag}")
    return value.strip()


def region_of_arn(arn: Any) -> str | None:
    """The region field of an ARN (``arn:aws:states:eu-west-1:...``), or None."""
    parts = arn.split(":") if isinstance(arn, str) else []
    return parts[3] if len(parts) > 5 and parts[0] == "arn" and parts[3] else None
