"""Tooling: the model image repository, its lifecycle, its cross-account policy and the bootstrap image."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from infra.components.model_images import lifecycle_policy
from tests.infra.harness import MODEL, PROD_ACCOUNT, REGION, STAGE_ACCOUNT, run_stack, tooling_config


@pytest.fixture
def tooling(stack_runs):
    return stack_runs["tooling"]


def test_repository_is_immutable_scanned_and_encrypted(tooling):
    repository = tooling.named("model-images-repository").inputs
    assert repository["name"] == f"serverless-mlops/{MODEL}"
    assert repository["imageTagMutability"] == "IMMUTABLE"
    assert repository["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repository["encryptionConfigurations"] == [{"encryptionType": "KMS"}]


def test_repository_policy_has_the_two_statements_lambda_needs_for_a_cross_account_pull(tooling):
    policy = json.loads(tooling.named("model-images-cross-account-pull").inputs["policy"])
    accounts, service = policy["Statement"]
    pull = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    assert accounts["Principal"] == {"AWS": [f"arn:aws:iam::{STAGE_ACCOUNT}:root", f"arn:aws:iam::{PROD_ACCOUNT}:root"]}
    assert sorted(accounts["Action"]) == pull
    assert service["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert sorted(service["Action"]) == pull
    function = f"serverless-mlops-{MODEL}-inference"
    assert service["Condition"] == {
        "StringLike": {
            "aws:sourceArn": [
                f"arn:aws:lambda:{REGION}:{STAGE_ACCOUNT}:function:{function}",
                f"arn:aws:lambda:{REGION}:{STAGE_ACCOUNT}:function:{function}:*",
                f"arn:aws:lambda:{REGION}:{PROD_ACCOUNT}:function:{function}",
                f"arn:aws:lambda:{REGION}:{PROD_ACCOUNT}:function:{function}:*",
            ]
        }
    }


def test_bootstrap_image_is_built_for_the_architecture_with_a_protected_content_tag(tooling):
    image = tooling.named("model-images-bootstrap").inputs
    assert image["platform"] == "linux/arm64"
    assert image["imageTag"].startswith("bootstrap-") and len(image["imageTag"]) == len("bootstrap-") + 12
    assert image["builderVersion"] == "BuilderV1"
    assert tooling.exports["bootstrapImageUri"].split("@sha256:")[0] == tooling.exports["ecrRepositoryUrl"]


def test_x86_architecture_builds_an_amd64_bootstrap_image():
    run = run_stack("tooling", tooling_config(**{"mlops:architecture": "x86_64"}))
    assert run.named("model-images-bootstrap").inputs["platform"] == "linux/amd64"
    assert run.exports["architecture"] == "x86_64"


# ECR lifecycle semantics, as AWS documents them ("Lifecycle policy evaluation rules"): rules apply in priority
# order; an image selected by a higher-priority rule is never expired by a lower one, but still counts for it;
# count rules sort the images they select from newest to oldest and expire those beyond the count.
@dataclass(frozen=True)
class Image:
    tags: tuple[str, ...]
    pushed: int  # higher is newer


def expired_by(policy: dict, images: list[Image]) -> set[Image]:
    claimed: set[Image] = set()
    expired: set[Image] = set()
    for rule in sorted(policy["rules"], key=lambda r: r["rulePriority"]):
        selection = rule["selection"]
        if selection["tagStatus"] == "any":
            selected = list(images)
        else:
            prefixes = selection["tagPrefixList"]
            selected = [i for i in images if all(any(t.startswith(p) for t in i.tags) for p in prefixes)]
        newest_first = sorted(selected, key=lambda i: -i.pushed)
        expired |= {i for i in newest_first[selection["countNumber"] :] if i not in claimed}
        claimed |= set(selected)
    return expired


def test_lifecycle_keeps_the_newest_images_and_never_expires_protected_ones(tooling):
    policy = json.loads(tooling.named("model-images-repository-lifecycle").inputs["policy"])
    assert policy == lifecycle_policy(30)
    bootstrap = Image(("bootstrap-0123456789ab",), pushed=0)
    live_prod = Image(("abc123-1", "live-prod-3"), pushed=1)
    builds = [Image((f"c{n}-{n}",), pushed=n) for n in range(2, 100)]
    expired = expired_by(policy, [bootstrap, live_prod, *builds])
    assert bootstrap not in expired and live_prod not in expired
    newest = sorted(builds, key=lambda i: -i.pushed)
    assert not set(newest[:30]) & expired
    assert set(newest[30:]) == expired


def test_images_to_keep_is_configurable():
    run = run_stack("tooling", tooling_config(**{"mlops:imagesToKeep": "50"}))
    policy = json.loads(run.named("model-images-repository-lifecycle").inputs["policy"])
    assert policy["rules"][-1]["selection"]["countNumber"] == 50
    assert policy["rules"][-1]["selection"]["tagStatus"] == "any"
