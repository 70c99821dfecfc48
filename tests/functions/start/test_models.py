"""The push event, the execution's name and input: plain functions, no AWS."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from functions.start.errors import IgnoredEvent, StartConfigError
from functions.start.models import (
    NAME_MAX,
    StateMachine,
    execution_input,
    execution_name,
    load_settings,
    parse_push_event,
    rerun_name,
)
from tests.functions.start.conftest import COMMIT, EVENT, REPOSITORY, push_event

NAME_CHARACTERS = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


def test_a_push_to_main_is_read() -> None:
    push = parse_push_event(EVENT)

    assert (push.commit, push.repository, push.branch) == (COMMIT, REPOSITORY, "main")
    assert push.author == "arn:aws:iam::123456789012:user/alice"
    assert push.event_id == EVENT["id"]
    assert execution_input(push) == {
        "commit": COMMIT,
        "repositoryName": REPOSITORY,
        "branch": "main",
        "author": "arn:aws:iam::123456789012:user/alice",
        "source": "codecommit",
        "eventId": EVENT["id"],
    }


def test_the_first_push_creates_the_branch() -> None:
    assert parse_push_event(push_event(event="referenceCreated")).commit == COMMIT


def _other_source() -> dict[str, Any]:
    return {**EVENT, "source": "aws.codebuild"}


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ("not an event", "event: expected an EventBridge event"),
        (_other_source(), "event: not a CodeCommit push"),
        ({**EVENT, "detail-type": "CodeCommit Pull Request State Change"}, "event: not a CodeCommit push"),
        ({k: v for k, v in EVENT.items() if k != "detail"}, "detail: missing"),
        (push_event(event="referenceDeleted"), "detail.event: 'referenceDeleted' is not a push"),
        (push_event(referenceType="tag", referenceName="v1"), "detail.referenceType: 'tag' is not a branch"),
        (push_event(referenceName="feature/x"), "detail.referenceName: 'feature/x' is not the pipeline's branch"),
        (push_event(commitId=None), "detail.commitId: expected a git commit SHA"),
        (push_event(commitId="HEAD; rm -rf /"), "detail.commitId: expected a git commit SHA"),
        (push_event(repositoryName=""), "detail.repositoryName: expected the repository's name"),
    ],
)
def test_anything_but_a_push_to_main_is_ignored_with_a_reason(event: Any, reason: str) -> None:
    with pytest.raises(IgnoredEvent, match=re.escape(reason)):
        parse_push_event(event)


def test_the_branch_is_configurable() -> None:
    assert parse_push_event(push_event(referenceName="release"), branch="release").branch == "release"


def test_the_name_is_the_repository_and_the_commit() -> None:
    assert execution_name(REPOSITORY, COMMIT) == f"{REPOSITORY}-{COMMIT[:12]}"
    assert execution_name(REPOSITORY, COMMIT) == execution_name(REPOSITORY, COMMIT)  # deterministic


@pytest.mark.parametrize(
    ("repository", "expected_prefix"),
    [
        ("my.model repo", "my-model-repo-"),
        ("models/ünïcode:v2", "models-n-code-v2-"),
        ("...", ""),
        ("a" * 100, "a" * 40 + "-"),
    ],
)
def test_names_are_sanitised_and_short(repository: str, expected_prefix: str) -> None:
    name = execution_name(repository, COMMIT)

    assert NAME_CHARACTERS.match(name), name
    assert name == f"{expected_prefix}{COMMIT[:12]}"
    assert len(name) <= NAME_MAX


def test_rerun_names_are_new_for_each_second_and_keep_the_commit() -> None:
    first = rerun_name(COMMIT, datetime(2025, 1, 31, 12, 0, 5, tzinfo=UTC))
    later = rerun_name(COMMIT, datetime(2025, 1, 31, 12, 0, 6, tzinfo=UTC))
    local_time = rerun_name(COMMIT, datetime(2025, 1, 31, 13, 0, 5, tzinfo=timezone(timedelta(hours=1))))

    assert first == f"{COMMIT[:12]}-rerun-20250131120005"
    assert later != first
    assert local_time == first  # always UTC
    assert NAME_CHARACTERS.match(first)
    assert first != execution_name(REPOSITORY, COMMIT)


def test_settings_need_a_state_machine_arn() -> None:
    arn = "arn:aws:states:eu-west-1:123456789012:stateMachine:mlops-pipeline"
    settings = load_settings({"STATE_MACHINE_ARN": arn})

    assert settings.branch == "main"
    assert (
        settings.state_machine.execution_arn("x") == "arn:aws:states:eu-west-1:123456789012:execution:mlops-pipeline:x"
    )
    with pytest.raises(StartConfigError, match="STATE_MACHINE_ARN: not set"):
        load_settings({})
    with pytest.raises(StartConfigError, match="STATE_MACHINE_ARN: expected arn:aws:states"):
        load_settings({"STATE_MACHINE_ARN": "arn:aws:lambda:eu-west-1:123456789012:function:x"})
    assert StateMachine.parse(arn).region == "eu-west-1"
