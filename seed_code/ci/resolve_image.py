"""Turn the tag a build just pushed into the image's digest reference, refusing what Lambda cannot run.

    IMAGE_URI="$(python -m ci.resolve_image --repository-uri "$ECR_REPOSITORY_URI" --tag "$IMAGE_TAG")"

Prints ``<repository-uri>@sha256:<hex>``: the pipeline deploys by digest, because a tag can point elsewhere
later and a digest cannot. Lambda runs a single-platform image manifest only; ECR's record of what was
pushed is checked here, so an image index (what buildx pushes with provenance or SBOM attestations, or for
several platforms) fails the build instead of the deployment.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

REPOSITORY_URI = re.compile(
    r"^(?P<registry_id>\d{12})\.dkr\.ecr\.(?P<region>[a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws\.com(?:\.cn)?"
    r"/(?P<name>[a-z0-9]+(?:[._/-][a-z0-9]+)*)$"
)
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
# The manifest kinds Lambda accepts: Docker image manifest v2 schema 2 and the OCI image manifest.
IMAGE_MANIFESTS = frozenset(
    {"application/vnd.docker.distribution.manifest.v2+json", "application/vnd.oci.image.manifest.v1+json"}
)


class ImageError(RuntimeError):
    """The pushed image cannot be deployed to Lambda, or cannot be found; the message says which."""


@dataclass(frozen=True)
class Repository:
    uri: str
    registry_id: str
    region: str
    name: str

    @classmethod
    def parse(cls, uri: str) -> Repository:
        match = REPOSITORY_URI.match(uri)
        if not match:
            raise ImageError(f"{uri!r}: expected an ECR repository URI <account>.dkr.ecr.<region>.amazonaws.com/<name>")
        return cls(uri=uri, **match.groupdict())


def resolve(repository_uri: str, tag: str, client: Any | None = None) -> str:
    """The digest reference of ``<repository_uri>:<tag>``, if it is a single-platform image manifest."""
    repository = Repository.parse(repository_uri)
    reference = f"{repository_uri}:{tag}"
    ecr = client or boto3.client("ecr", region_name=repository.region)
    try:
        details = ecr.describe_images(
            registryId=repository.registry_id, repositoryName=repository.name, imageIds=[{"imageTag": tag}]
        )["imageDetails"]
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in ("ImageNotFoundException", "RepositoryNotFoundException"):
            raise ImageError(f"{reference}: not in ECR ({code}); was the push successful?") from error
        raise ImageError(f"{reference}: ECR refused to describe it ({code}: {error})") from error
    except BotoCoreError as error:
        raise ImageError(f"{reference}: cannot reach ECR ({error})") from error
    if len(details) != 1:
        raise ImageError(f"{reference}: ECR describes {len(details)} images for one tag, expected 1")
    media_type = details[0].get("imageManifestMediaType")
    if media_type not in IMAGE_MANIFESTS:
        raise ImageError(
            f"{reference} is a {media_type or 'manifest of unknown type'}, not a single-platform image manifest; "
            "Lambda cannot run it. Build with one --platform and --provenance=false --sbom=false."
        )
    digest = str(details[0].get("imageDigest", ""))
    if not DIGEST.match(digest):
        raise ImageError(f"{reference}: ECR reports digest {digest!r}, expected sha256:<64 hex digits>")
    return f"{repository_uri}@{digest}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print the digest reference of a pushed inference image.")
    parser.add_argument("--repository-uri", required=True, help="<account>.dkr.ecr.<region>.amazonaws.com/<name>")
    parser.add_argument("--tag", required=True, help="the tag this build pushed")
    args = parser.parse_args(argv)
    try:
        print(resolve(args.repository_uri, args.tag))
    except ImageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
