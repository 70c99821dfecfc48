"""The end of a run in words: what a person would go and check, read from where it lives.

Model version and metrics from MLflow, the image from the build's output, stage and prod from alias ``live``
of each inference function (and one prediction through prod's alias), the MLflow aliases, the run's Slack
thread as the channel shows it (Block Kit rendered as text), what was substituted, and where the logs are.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from local.pipeline.deployment import Deployment
from local.train_and_serve import SAMPLES

_LINK = re.compile(r"<([^|>]+)\|([^>]+)>")
_EMOJI = re.compile(r":([a-z_]+):")
_EMPHASIS = re.compile(r"(?<![\w*_])([*_])(\S(?:.*?\S)?)\1(?![\w*_])")
# The emoji the functions' messages use (Slack's short names).
EMOJI = {
    "white_check_mark": "✅",
    "x": "❌",
    "hourglass": "⌛",
    "hourglass_flowing_sand": "⏳",
    "rocket": "🚀",
    "no_entry": "⛔",
    "fast_forward": "⏩",
    "rewind": "⏪",
    "rotating_light": "🚨",
}
_MENTION = re.compile(r"<@([A-Z0-9]+)>")
_BARE_LINK = re.compile(r"<(https?://[^>]+)>")


def mrkdwn_text(text: str, names: Mapping[str, str] | None = None) -> str:
    """Slack mrkdwn as a terminal shows it: links as their label, mentions as @name, no escapes."""
    text = _LINK.sub(lambda m: m.group(2), text)
    text = _MENTION.sub(lambda m: "@" + (names or {}).get(m.group(1), m.group(1)), text)
    text = _BARE_LINK.sub(lambda m: m.group(1), text)
    text = _EMOJI.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), text)
    text = _EMPHASIS.sub(lambda m: m.group(2), text).replace("`", "")
    text = re.sub(r"^>", "│ ", text, flags=re.MULTILINE)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _texts(block: Mapping[str, Any]) -> Iterable[str]:
    kind = block.get("type")
    if kind in ("header", "section") and isinstance(block.get("text"), Mapping):
        yield str(block["text"].get("text", ""))
    if kind == "section":
        fields = [str(f.get("text", "")).replace("\n", " ") for f in block.get("fields") or []]
        if fields:
            yield " | ".join(fields)
    if kind == "context":
        yield "  ".join(str(e.get("text", "")) for e in block.get("elements") or [] if isinstance(e, Mapping))
    if kind == "actions":
        yield " ".join(f"[{(e.get('text') or {}).get('text', '')}]" for e in block.get("elements") or [])


def message_lines(message: Mapping[str, Any], names: Mapping[str, str] | None = None) -> list[str]:
    blocks = message.get("blocks") or []
    texts = [t for block in blocks for t in _texts(block)] if blocks else [str(message.get("text", ""))]
    lines = [line.rstrip() for text in texts for line in mrkdwn_text(text, names).splitlines()]
    return [line for line in lines if line.strip()]


def thread_text(messages: list[dict[str, Any]], names: Mapping[str, str] | None = None, width: int = 110) -> list[str]:
    """The thread as indented text: the parent message, then each reply after a ``↳``."""
    out: list[str] = []
    for index, message in enumerate(messages):
        lines = message_lines(message, names)
        lead, indent = ("", "  ") if index == 0 else ("  ↳ ", "    ")
        for number, line in enumerate(lines):
            text = (lead if number == 0 else indent) + line
            out.append(text if len(text) <= width else text[: width - 1] + "…")
    return out


def explain(cause: str | None, limit: int = 300) -> str:
    """A Fail state's cause (``<what>: <the recorded error as JSON>``) as one readable line."""
    if not cause:
        return ""
    head, separator, rest = cause.partition(": {")
    if not separator:
        return cause[:limit]
    try:
        error = json.loads("{" + rest)
    except ValueError:
        return cause[:limit]
    if not isinstance(error, dict):
        return cause[:limit]
    message: Any = error.get("Cause") or ""
    try:
        parsed = json.loads(message)
        message = parsed.get("errorMessage") or message if isinstance(parsed, dict) else message
    except (TypeError, ValueError):
        pass
    return f"{head}: {error.get('Error')}: {str(message)[:limit]}"


@dataclass(frozen=True)
class RunOutcome:
    execution_arn: str
    status: str
    error: str | None
    cause: str | None
    output: dict[str, Any]


def outcome_of(deployment: Deployment, execution_arn: str) -> RunOutcome:
    described = deployment.describe(execution_arn)
    output = json.loads(described.get("output") or "{}")
    return RunOutcome(
        execution_arn=execution_arn,
        status=str(described["status"]),
        error=described.get("error"),
        cause=described.get("cause"),
        output=output if isinstance(output, dict) else {},
    )


def build_outputs(deployment: Deployment, execution_arn: str) -> dict[str, str]:
    """The build's exported variables, from the execution history (a failed run has no output)."""
    found: dict[str, str] = {}
    for event in deployment.history(execution_arn):
        details = event.get("stateExitedEventDetails") or {}
        if details.get("name") == "ReadBuildOutputs":
            found = dict(json.loads(details.get("output") or "{}").get("build") or {})
    return found


def _digest(image_uri: str) -> str:
    digest = image_uri.rsplit("@", 1)[-1]
    return digest[:19] + "…" if digest.startswith("sha256:") else digest


def _metrics(metrics: Mapping[str, float]) -> str:
    parts = []
    if "test_mae_days" in metrics:
        parts.append(f"test MAE {metrics['test_mae_days']:.2f} days")
    if "baseline_mae_days" in metrics:
        parts.append(f"baseline {metrics['baseline_mae_days']:.2f}")
    if "test_r2" in metrics:
        parts.append(f"R² {metrics['test_r2']:.2f}")
    return ", ".join(parts) or ", ".join(f"{k} {v:.3g}" for k, v in sorted(metrics.items()))


def summary_lines(
    deployment: Deployment,
    runs: list[RunOutcome],
    live_before: Mapping[str, Mapping[str, str]],
    substituted: Mapping[str, str],
    names: Mapping[str, str],
) -> list[str]:
    lines = ["Summary"]

    def row(label: str, value: str) -> None:
        wrapped = textwrap.wrap(value, width=100, break_long_words=False, break_on_hyphens=False) or [""]
        lines.append(f"  {label:<15} {wrapped[0]}")
        lines.extend(f"  {'':<15} {more}" for more in wrapped[1:])

    for run in runs:
        state = run.status + (f" ({run.error}: {explain(run.cause, 160)})" if run.error else "")
        row("Run", f"{run.execution_arn.rsplit(':', 1)[-1]}: {state}")
    last = runs[-1]
    build = build_outputs(deployment, last.execution_arn)
    version = build.get("modelVersion")
    if version:
        found = deployment.model_version(version)
        row("Model", f"{deployment.model} version {version}: {_metrics(found['metrics'])}")
        row("Image", build.get("imageUri", "?"))
    for environment in ("stage", "prod"):
        now, before = deployment.live(environment), live_before[environment]
        moved = now["version"] != before["version"]
        change = f"(was {before['version']})" if moved else "(unchanged)"
        image = "the build's image" if now["imageUri"] == build.get("imageUri") else f"image {_digest(now['imageUri'])}"
        row(environment.title(), f"alias live -> version {now['version']} {change}, {image}")
    if version and deployment.live("prod")["version"] != live_before["prod"]["version"]:
        route, record = SAMPLES[0]
        answer = deployment.invoke_live("prod", {"records": [record]})
        body = json.loads(answer.get("body") or "{}")
        if answer.get("statusCode") == 200:
            row(
                "Prediction", f"{route}: {body['predictions'][0]} days (prod, alias live, model {body['modelVersion']})"
            )
    aliases = deployment.mlflow_aliases()
    row("MLflow aliases", ", ".join(f"{a} -> version {v}" for a, v in sorted(aliases.items())) or "none")
    for state, stand_in in substituted.items():
        row("Substituted", f"{state} ({stand_in})")
    for run in runs:
        thread = thread_text(deployment.thread(run.execution_arn), names)
        if thread:
            lines.append(f"  Slack thread of {run.execution_arn.rsplit(':', 1)[-1]} (#{deployment.slack_channel}):")
            lines.extend(f"    {line}" for line in thread)
    return lines
