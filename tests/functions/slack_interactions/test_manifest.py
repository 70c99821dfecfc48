"""slack/manifest.yml: the scopes cover every Web API method the code calls, and nothing more is asked."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from functions.common.slack import WEB_API_METHODS, SlackApi, required_scopes
from local.fake_slack import MANIFEST, SCOPES_REQUIRED

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def manifest() -> dict:
    return yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))


def test_the_bot_scopes_are_exactly_what_the_called_methods_need(manifest: dict) -> None:
    scopes = manifest["oauth_config"]["scopes"]
    assert set(scopes["bot"]) == required_scopes() == {"chat:write", "usergroups:read"}
    assert "user" not in scopes


def test_every_listed_method_needs_the_scopes_slack_documents(manifest: dict) -> None:
    for method, spec in WEB_API_METHODS.items():
        assert method in SCOPES_REQUIRED, f"{method}: the fake Slack does not know it"
        assert set(spec.scopes) == set(SCOPES_REQUIRED[method]), method


def test_interactivity_is_on_and_nothing_else_is(manifest: dict) -> None:
    settings = manifest["settings"]
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["interactivity"]["request_url"] == "https://<your API>/slack/interactions"
    assert "event_subscriptions" not in settings
    assert settings["socket_mode_enabled"] is False
    assert "slash_commands" not in manifest["features"] and "shortcuts" not in manifest["features"]


def test_the_code_calls_slack_only_through_the_listed_methods() -> None:
    sources = [
        path
        for folder in ("functions/request_approval", "functions/slack_interactions", "functions/common")
        for path in (ROOT / folder).glob("*.py")
    ]
    for path in sources:
        text = path.read_text(encoding="utf-8")
        assert "WebClient(" not in text or path.name == "slack.py", f"{path}: use functions.common.slack"
        assert ".api_call(" not in text or path.name == "slack.py", f"{path}: use SlackApi.call"
    with pytest.raises(ValueError, match="not in WEB_API_METHODS"):
        SlackApi(client=None).call("chat.delete", channel="C1", ts="1")  # type: ignore[arg-type]
