"""The approval message, built with ``slack_sdk.models.blocks`` (no hand-written JSON).

    Production approval: delivery-time v7                      header
    Model / Commit / Stage / Image / MLflow / Decide by         section fields
    metric   new   production   change                          section with a monospace table
    Run <execution name>                                        context
    [Approve] [Reject]                                          actions (block_id ``approval_actions``)

The body (everything but the buttons) is stored with the approval, so any later update (decided, superseded,
expired) shows the same content with a status line instead of the buttons (``functions.common.slack``).
Every value that comes from the run is escaped; the buttons carry only the opaque approval ID.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from urllib.parse import quote, urlsplit

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from functions.common.slack import ACTIONS_BLOCK_ID, escape, slack_time
from functions.request_approval.models import ApprovalRequest, Settings, http_url

APPROVE, REJECT = "approve", "reject"
HEADER_MAX = 150
NO_PRODUCTION = "No production model yet: this would be the first."


def title(request: ApprovalRequest) -> str:
    return f"{request.model_name} version {request.model_version} (commit {request.short_commit})"


def fallback_text(request: ApprovalRequest) -> str:
    """The notification text (and what screen readers and old clients show)."""
    return f"Approval needed: deploy {escape(title(request))} to production"


def _number(value: float) -> str:
    return f"{value:.4g}"


def metrics_table(metrics: Mapping[str, float], production: Mapping[str, float]) -> str:
    """A small monospace table of the new version's metrics against production's (mrkdwn)."""
    if not metrics and not production:
        return "_No metrics were reported for this version._"
    names = [*metrics, *(name for name in production if name not in metrics)]
    if production:
        rows = [("metric", "new", "production", "change")]
        for name in names:
            new, prod = metrics.get(name), production.get(name)
            change = f"{new - prod:+.4g}" if new is not None and prod is not None else ""
            rows.append(
                (name, _number(new) if new is not None else "-", _number(prod) if prod is not None else "-", change)
            )
    else:
        rows = [("metric", "new")] + [(name, _number(value)) for name, value in metrics.items()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    table = "```\n" + escape("\n".join(line.rstrip() for line in lines)) + "\n```"
    return table if production else f"{table}\n_{NO_PRODUCTION}_"


def mlflow_link(request: ApprovalRequest, settings: Settings) -> str:
    """A link to the MLflow run when the event names one under MLFLOW_UI_URL (links elsewhere are not shown),
    else to the model version's page in the MLflow UI, else a plain note."""
    run_url = http_url(request.mlflow_run_url)
    ui = settings.mlflow_ui_url
    if run_url and (ui is None or _same_site(run_url, ui)):
        return f"<{run_url}|MLflow run>"
    if ui:
        page = f"{ui}/#/models/{quote(request.model_name, safe='')}/versions/{quote(request.model_version, safe='')}"
        return f"<{page}|model version in MLflow>"
    return "not available"


def _same_site(url: str, base: str) -> bool:
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc) and a.path.startswith(b.path.rstrip("/"))


def _stage(request: ApprovalRequest) -> str:
    if not request.stage_version:
        return ":white_check_mark: smoke test passed"
    previous = f" (was {escape(request.stage_previous_version)})" if request.stage_previous_version else ""
    return f":white_check_mark: smoke test passed on version {escape(request.stage_version)}{previous}"


def _image(image_uri: str) -> str:
    digest = image_uri.rsplit("@", 1)[-1] if "@" in image_uri else image_uri.rsplit("/", 1)[-1]
    return f"`{escape(digest[:19])}…`" if len(digest) > 19 else f"`{escape(digest)}`"


def body_blocks(request: ApprovalRequest, settings: Settings, timeout_at: datetime) -> list[Block]:
    """The message without its buttons."""
    author = f" by {escape(request.author)}" if request.author else ""
    header = f"Production approval: {request.model_name} v{request.model_version}"
    fields = [
        MarkdownTextObject(text=f"*Model*\n`{escape(request.model_name)}` version {escape(request.model_version)}"),
        MarkdownTextObject(text=f"*Commit*\n`{escape(request.short_commit)}`{author}"),
        MarkdownTextObject(text=f"*Stage*\n{_stage(request)}"),
        MarkdownTextObject(text=f"*Image*\n{_image(request.image_uri)}"),
        MarkdownTextObject(text=f"*MLflow*\n{mlflow_link(request, settings)}"),
        MarkdownTextObject(text=f"*Decide by*\n{slack_time(timeout_at)}"),
    ]
    return [
        HeaderBlock(text=PlainTextObject(text=header[:HEADER_MAX], emoji=False)),
        SectionBlock(fields=fields),
        SectionBlock(
            text=MarkdownTextObject(
                text=f"*Metrics against production*\n{metrics_table(request.metrics, request.production_metrics)}"
            )
        ),
        ContextBlock(elements=[MarkdownTextObject(text=f"Run `{escape(request.execution_name)}`")]),
    ]


def actions_block(approval_id: str, request: ApprovalRequest) -> ActionsBlock:
    """Approve (primary) and Reject (danger, with a confirm dialog). Each button's value is the approval ID."""
    confirm = ConfirmObject(
        title="Reject this model?",
        text=f"The run stops and version {request.model_version} is not deployed to production.",
        confirm="Reject",
        deny="Cancel",
        style="danger",
    )
    return ActionsBlock(
        block_id=ACTIONS_BLOCK_ID,
        elements=[
            ButtonElement(text="Approve", action_id=APPROVE, value=approval_id, style="primary"),
            ButtonElement(text="Reject", action_id=REJECT, value=approval_id, style="danger", confirm=confirm),
        ],
    )


def superseded_status(commit: str, at: datetime) -> str:
    return (
        f":fast_forward: Superseded by `{escape(commit[:7])}` at {slack_time(at)}: a newer run is waiting for approval"
    )


def expired_status(at: datetime) -> str:
    return f":hourglass: Expired at {slack_time(at)}: the run ended without a decision"
