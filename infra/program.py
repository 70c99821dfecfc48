"""The program's entry function: read the stack's role and call that role's builder."""

from __future__ import annotations

from infra import config
from infra.stacks import environment, tooling


def main() -> None:
    settings = config.load()
    if isinstance(settings, config.ToolingConfig):
        tooling.build(settings)
    else:
        environment.build(settings)
