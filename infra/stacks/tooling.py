"""The tooling stack: the shared platform in the tooling account."""

from __future__ import annotations

from infra import contracts
from infra.config import ToolingConfig
from infra.contracts import ToolingOutput
from infra.provider import aws_provider


def build(settings: ToolingConfig) -> None:
    aws_provider(settings.project, settings.stack, settings.target, settings.model_name)
    contracts.export(ToolingOutput.TOOLING_ACCOUNT_ID, settings.target.account_id)
    contracts.export(ToolingOutput.MODEL_NAME, settings.model_name)
    contracts.export(ToolingOutput.ARCHITECTURE, settings.architecture)
