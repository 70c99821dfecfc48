"""Run one component on its own under the mocks, through a provider with default tags like the stacks'."""

from __future__ import annotations

from collections.abc import Callable

import pulumi

from infra.config import Target
from infra.evaluate import MODEL, PROJECT, REGION, TOOLING_ACCOUNT, StackRun, run_stack
from infra.provider import aws_provider, resource_options


def run_component(build: Callable[[pulumi.ResourceOptions], object], stack: str = "tooling") -> StackRun:
    def program() -> None:
        provider = aws_provider(PROJECT, stack, Target(TOOLING_ACCOUNT, REGION), MODEL)
        build(resource_options(provider))

    return run_stack(stack, program=program)
