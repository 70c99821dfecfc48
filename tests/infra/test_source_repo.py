"""The source repository and its push rule: main created or updated starts a run; nothing else does."""

from __future__ import annotations

import copy
import json

import pytest
from moto.events.models import EventPattern

from infra.components.source_repo import SourceRepo, SourceRepoArgs
from tests.infra.component_runs import run_component

REPO_ARN = "arn:aws:codecommit:eu-west-1:111111111111:delivery-time"
PUSH = {
    "version": "0",
    "id": "01234567-0123-0123-0123-012345678901",
    "detail-type": "CodeCommit Repository State Change",
    "source": "aws.codecommit",
    "account": "111111111111",
    "time": "2026-11-25T12:00:00Z",
    "region": "eu-west-1",
    "resources": [REPO_ARN],
    "detail": {
        "callerUserArn": "arn:aws:iam::111111111111:user/data-scientist",
        "commitId": "5f1b4c0c2f9e8a7d6b5c4d3e2f1a0b9c8d7e6f5a",
        "oldCommitId": "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567",
        "event": "referenceUpdated",
        "referenceFullName": "refs/heads/main",
        "referenceName": "main",
        "referenceType": "branch",
        "repositoryId": "12345678-1234-1234-1234-123456789012",
        "repositoryName": "delivery-time",
    },
}


def event(**detail):
    changed = copy.deepcopy(PUSH)
    changed["detail"].update(detail)
    return changed


@pytest.fixture(scope="module")
def run():
    return run_component(lambda opts: SourceRepo("source", SourceRepoArgs(repository_name="delivery-time"), opts))


@pytest.fixture(scope="module")
def pattern(run):
    return run.one("aws:cloudwatch/eventRule:EventRule").inputs["eventPattern"]


def matches(pattern: str, sample: dict, repository_arn: str) -> bool:
    sample = copy.deepcopy(sample)
    sample["resources"] = [repository_arn]
    return EventPattern.load(pattern).matches_event(sample)


def test_rule_listens_to_this_repository_only(run, pattern):
    repository = run.one("aws:codecommit/repository:Repository")
    assert json.loads(pattern)["resources"] == [repository.outputs["arn"]]
    assert not EventPattern.load(pattern).matches_event(PUSH | {"resources": [REPO_ARN + "-other"]})


@pytest.mark.parametrize(
    ("sample", "starts"),
    [
        (PUSH, True),
        (event(event="referenceCreated", oldCommitId=None), True),
        (event(referenceName="feature/x", referenceFullName="refs/heads/feature/x"), False),
        (event(event="referenceDeleted"), False),
        (event(referenceType="tag", referenceName="main", referenceFullName="refs/tags/main"), False),
        (event(referenceName="main-old", referenceFullName="refs/heads/main-old"), False),
        (PUSH | {"detail-type": "CodeCommit Pull Request State Change"}, False),
    ],
    ids=[
        "push-to-main",
        "first-push-creates-main",
        "other-branch",
        "main-deleted",
        "tag-named-main",
        "branch-with-main-prefix",
        "pull-request",
    ],
)
def test_only_pushes_that_create_or_move_main_match(run, pattern, sample, starts):
    arn = run.one("aws:codecommit/repository:Repository").outputs["arn"]
    assert matches(pattern, sample, arn) is starts


def test_repository_name(run):
    assert run.one("aws:codecommit/repository:Repository").inputs["repositoryName"] == "delivery-time"
