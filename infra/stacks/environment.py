"""The stage and prod stacks: the same code, differing only in their stack files."""

from __future__ import annotations

import pulumi

from infra import contracts
from infra.config import EnvironmentConfig
from infra.contracts import ToolingOutput
from infra.provider import aws_provider


def build(settings: EnvironmentConfig) -> None:
    tooling = pulumi.StackReference("tooling", stack_name=settings.tooling_stack)
    model_name = contracts.require(tooling, ToolingOutput.MODEL_NAME)
    aws_provider(settings.project, settings.stack, settings.target, model_name)
