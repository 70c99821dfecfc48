"""Container images the program builds and the private ECR repositories that hold them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pulumi
import pulumi_aws as aws


def content_tag(context: Path, prefix: str) -> str:
    """A tag derived from the build context's files: tags are immutable, so changed content needs a new one."""
    digest = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(context).as_posix().encode() + b"\0" + path.read_bytes())
    return f"{prefix}-{digest.hexdigest()[:12]}"


def private_repository(
    name: str,
    repository_name: str,
    lifecycle_policy: dict[str, object],
    opts: pulumi.ResourceOptions,
    *,
    force_delete: bool = False,
) -> aws.ecr.Repository:
    """An ECR repository with immutable tags, scan on push, KMS encryption and a lifecycle policy.

    ``force_delete`` lets ``pulumi destroy`` delete it with its images (teardown only: ``mlops:allowDestroy``).
    """
    repository = aws.ecr.Repository(
        name,
        name=repository_name,
        # Every build pushes a unique tag, so a re-run never overwrites an image something runs.
        image_tag_mutability="IMMUTABLE",
        image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
        encryption_configurations=[aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS")],
        force_delete=force_delete,
        opts=opts,
    )
    aws.ecr.LifecyclePolicy(
        f"{name}-lifecycle",
        repository=repository.name,
        policy=json.dumps(lifecycle_policy),
        opts=opts,
    )
    return repository
