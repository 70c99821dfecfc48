"""Fixtures of the slack_interactions tests: a fresh approval world per test (see ``world.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.functions.request_approval.world import World, open_world


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with open_world(monkeypatch) as world:
        yield world
