"""Placeholder inference handler: the function exists, but no model has been deployed to it yet."""

import json
from typing import Any

MESSAGE = "no model deployed yet: push to the main branch to train one and let the pipeline deploy it"


def handler(event: Any, context: Any) -> dict[str, Any]:
    return {
        "statusCode": 503,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"error": MESSAGE, "modelVersion": None}),
    }
