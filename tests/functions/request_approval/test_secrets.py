"""functions.common.secrets: read once per container, fail closed, never show the value."""

from __future__ import annotations

import pytest

from functions.common import secrets
from tests.functions.request_approval.world import World


def test_a_secret_is_read_once_and_cached(world: World) -> None:
    secrets.clear_cache()
    for _ in range(3):
        assert secrets.get_secret(world.signing_secret_arn, setting="X") == "test-signing-secret-0123456789abcdef"
    assert len(world.calls("secretsmanager", "GetSecretValue")) == 1
    secrets.forget(world.signing_secret_arn)
    secrets.get_secret(world.signing_secret_arn, setting="X")
    assert len(world.calls("secretsmanager", "GetSecretValue")) == 2


def test_the_cache_expires(world: World) -> None:
    secrets.clear_cache()
    now = [0.0]
    secrets.get_secret(world.bot_secret_arn, setting="X", clock=lambda: now[0])
    now[0] = secrets.CACHE_SECONDS + 1
    secrets.get_secret(world.bot_secret_arn, setting="X", clock=lambda: now[0])
    assert len(world.calls("secretsmanager", "GetSecretValue")) == 2


@pytest.mark.parametrize("problem", ["unset", "missing", "blank"])
def test_problems_name_the_setting_and_never_the_value(world: World, problem: str) -> None:
    secrets.clear_cache()
    arn = {"unset": "", "missing": world.bot_secret_arn + "x", "blank": world.bot_secret_arn}[problem]
    if problem == "blank":
        world.secretsmanager.put_secret_value(SecretId=arn, SecretString="  \n")
    with pytest.raises(secrets.SecretUnavailable, match=r"^SLACK_BOT_TOKEN_SECRET_ARN: ") as error:
        secrets.get_secret(arn, setting="SLACK_BOT_TOKEN_SECRET_ARN")
    assert "xoxb" not in str(error.value)
