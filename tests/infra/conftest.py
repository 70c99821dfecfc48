"""Fixtures that evaluate each stack once per test session (the program is deterministic)."""

from __future__ import annotations

import pytest

from tests.infra.harness import StackRun, run_stack

STACKS = ("tooling", "stage", "prod")


@pytest.fixture(scope="session")
def stack_runs() -> dict[str, StackRun]:
    return {stack: run_stack(stack) for stack in STACKS}


@pytest.fixture(params=STACKS)
def stack_run(request: pytest.FixtureRequest, stack_runs: dict[str, StackRun]) -> StackRun:
    return stack_runs[request.param]
