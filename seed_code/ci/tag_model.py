"""Tag a registered model version with the image built for it, so the registry answers "which image serves
this model?" and the image answers "which model is this?" (its MODEL_VERSION).

    python -m ci.tag_model --model-name delivery-time --version 7 --image-uri <repository>@sha256:<hex>

Sets ``image_uri``, ``image_digest`` and, when given, ``build_id`` (the CodeBuild build that made both).
"""

from __future__ import annotations

import argparse
import os
import re
import sys

import mlflow
from mlflow.exceptions import MlflowException

DIGEST_REFERENCE = re.compile(r"^(?P<repository>[^@\s]+)@(?P<digest>sha256:[0-9a-f]{64})$")


class TagError(ValueError):
    """The tags cannot be set as asked; the message says which value is wrong."""


def image_tags(image_uri: str, build_id: str | None = None) -> dict[str, str]:
    match = DIGEST_REFERENCE.match(image_uri)
    if not match:
        raise TagError(
            f"image URI {image_uri!r}: expected <repository>@sha256:<64 hex digits>; a tag is not an image identity"
        )
    tags = {"image_uri": image_uri, "image_digest": match["digest"]}
    return tags | ({"build_id": build_id} if build_id else {})


def tag(
    model_name: str, version: str, image_uri: str, build_id: str | None = None, tracking_uri: str | None = None
) -> dict[str, str]:
    """Set the image tags on the model version and return them."""
    tags = image_tags(image_uri, build_id)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    client.get_model_version(model_name, version)  # a clear "not found" before any tag is written
    for key, value in tags.items():
        client.set_model_version_tag(model_name, version, key, value)
    return tags


def main(argv: list[str] | None = None) -> int:
    env = os.environ.get
    parser = argparse.ArgumentParser(description="Tag a model version with its inference image.")
    parser.add_argument("--model-name", default=env("MODEL_NAME"), help="registered model name (env MODEL_NAME)")
    parser.add_argument("--version", default=env("MODEL_VERSION"), help="registry version (env MODEL_VERSION)")
    parser.add_argument("--image-uri", default=env("IMAGE_URI"), help="<repository>@sha256:<hex> (env IMAGE_URI)")
    parser.add_argument("--build-id", default=None, help="the CodeBuild build ID, tagged as build_id")
    parser.add_argument("--tracking-uri", default=env("MLFLOW_TRACKING_URI"), help="(env MLFLOW_TRACKING_URI)")
    args = parser.parse_args(argv)
    if not args.model_name or not args.version or not args.image_uri:
        parser.error("--model-name, --version and --image-uri (or MODEL_NAME, MODEL_VERSION, IMAGE_URI) are required")
    try:
        tags = tag(args.model_name, args.version, args.image_uri, args.build_id, args.tracking_uri)
    except TagError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except MlflowException as error:
        print(f"error: MLflow could not tag {args.model_name} version {args.version}: {error.message}", file=sys.stderr)
        return 1
    print(f"tagged {args.model_name} version {args.version}: {', '.join(sorted(tags))}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
