"""The ECR repository for model images, shared with the stage and prod accounts, and its bootstrap image."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_awsx as awsx

from infra import naming, policies
from infra.containers import content_tag, private_repository

BOOTSTRAP_CONTEXT = Path(__file__).resolve().parents[1] / "images" / "bootstrap"
# ECR keeps every image a higher-priority rule selects: "keep more than 9999" protects a tag prefix forever.
KEEP_FOREVER = 9999
PULL_ACTIONS = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")


@dataclass(frozen=True)
class ModelImagesArgs:
    repository_name: str
    architecture: str
    region: str
    partition: str
    # Accounts whose inference function pulls images from this repository.
    consumer_account_ids: tuple[str, ...]
    inference_function_name: str
    images_to_keep: int
    # Teardown only (mlops:allowDestroy): `pulumi destroy` deletes the repository with its images.
    force_delete: bool = False


def lifecycle_policy(images_to_keep: int) -> dict[str, object]:
    """Keep the newest ``images_to_keep`` images; never expire the bootstrap image or one an environment runs."""

    def keep(priority: int, prefix: str, what: str) -> dict[str, object]:
        return {
            "rulePriority": priority,
            "description": f"Never expire {what} (tag prefix {prefix})",
            "selection": {
                "tagStatus": "tagged",
                "tagPrefixList": [prefix],
                "countType": "imageCountMoreThan",
                "countNumber": KEEP_FOREVER,
            },
            "action": {"type": "expire"},
        }

    return {
        "rules": [
            keep(1, naming.BOOTSTRAP_TAG_PREFIX, "the bootstrap image"),
            keep(2, naming.LIVE_TAG_PREFIX, "images an environment runs"),
            {
                "rulePriority": 100,
                "description": f"Keep the newest {images_to_keep} images",
                "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": images_to_keep},
                "action": {"type": "expire"},
            },
        ]
    }


def repository_policy(args: ModelImagesArgs) -> dict[str, object]:
    """The two statements Lambda documents for a cross-account image pull."""
    accounts = [f"arn:{args.partition}:iam::{account}:root" for account in args.consumer_account_ids]
    functions = [
        f"arn:{args.partition}:lambda:{args.region}:{account}:function:{args.inference_function_name}{suffix}"
        for account in args.consumer_account_ids
        for suffix in ("", ":*")
    ]
    return policies.document(
        # Whoever creates or updates the function in those accounts (Pulumi, the deployer role) reads the image.
        {
            "Sid": "CrossAccountImagePull",
            "Effect": "Allow",
            "Principal": {"AWS": accounts},
            "Action": list(PULL_ACTIONS),
        },
        # Lambda itself pulls the image, but only for the inference function of those accounts.
        {
            "Sid": "LambdaECRImageCrossAccountRetrievalPolicy",
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": list(PULL_ACTIONS),
            "Condition": {"StringLike": {"aws:sourceArn": functions}},
        },
    )


def bootstrap_tag() -> str:
    """A content-addressed tag under the protected prefix the lifecycle policy never expires."""
    return content_tag(BOOTSTRAP_CONTEXT, naming.BOOTSTRAP_TAG_PREFIX)


class ModelImages(pulumi.ComponentResource):
    repository: aws.ecr.Repository
    bootstrap_image_uri: pulumi.Output[str]

    def __init__(self, name: str, args: ModelImagesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("serverless-mlops:images:ModelImages", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # Every build pushes a unique tag (<commit>-<build>), so a re-run never overwrites what is deployed.
        self.repository = private_repository(
            f"{name}-repository",
            args.repository_name,
            lifecycle_policy(args.images_to_keep),
            child,
            force_delete=args.force_delete,
        )
        aws.ecr.RepositoryPolicy(
            f"{name}-cross-account-pull",
            repository=self.repository.name,
            policy=json.dumps(repository_policy(args)),
            opts=child,
        )
        # Built with Docker on the machine that runs `pulumi up`. The legacy builder writes a single-platform
        # image manifest; BuildKit's default provenance attestation would turn it into an image index, which
        # Lambda rejects.
        bootstrap = awsx.ecr.Image(
            f"{name}-bootstrap",
            repository_url=self.repository.repository_url,
            context=str(BOOTSTRAP_CONTEXT),
            platform=f"linux/{'arm64' if args.architecture == 'arm64' else 'amd64'}",
            image_tag=bootstrap_tag(),
            builder_version="BuilderV1",
            opts=child,
        )
        self.bootstrap_image_uri = bootstrap.image_uri
        self.register_outputs(
            {
                "repositoryUrl": self.repository.repository_url,
                "repositoryArn": self.repository.arn,
                "bootstrapImageUri": self.bootstrap_image_uri,
            }
        )
