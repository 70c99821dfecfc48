"""Container images as the local Lambda runtime runs them: the build context of each pushed digest.

There is no Docker here. When the build's (stubbed) ``docker buildx build --push`` puts a manifest into moto's
ECR, it also keeps the build context under the digest (``local/pipeline/buildspec.py``). A function deployed
from ``<repository>@sha256:<hex>`` then runs that context's handler: the Dockerfile's ``CMD``, with its
``ENV`` (build arguments substituted) and the context as ``LAMBDA_TASK_ROOT``.

One thing a local process cannot have is the image's absolute paths: the seed code's Dockerfile copies the
model to ``/opt/ml/model``, inference.py's default ``MODEL_URI``. For an image whose context holds ``model/``
the runtime sets ``MODEL_URI`` to that folder: the same files, where this machine has them.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DIGEST = re.compile(r"@(sha256:[0-9a-f]{64})$")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
# What the Lambda base image sets; the Dockerfiles refer to it.
LAMBDA_TASK_ROOT = "/var/task"


class ImageError(RuntimeError):
    """An image cannot be run locally; the message says which and why."""


@dataclass(frozen=True)
class LocalImage:
    digest: str
    reference: str
    root: Path  # the build context: the function's task root
    handler: str
    environment: dict[str, str] = field(default_factory=dict)


def digest_of(image_uri: str | None) -> str | None:
    match = DIGEST.search(image_uri or "")
    return match.group(1) if match else None


def _logical_lines(text: str) -> list[str]:
    lines, current = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        lines.append(current + line)
        current = ""
    if current:
        lines.append(current)
    return lines


def _substitute(text: str, values: dict[str, str]) -> str:
    return _VARIABLE.sub(lambda m: values.get(m.group(1) or m.group(2), ""), text)


def read_dockerfile(path: Path, build_args: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The handler (``CMD``) and the environment (``ENV``) a Lambda image built from ``path`` runs with."""
    values: dict[str, str] = {"LAMBDA_TASK_ROOT": LAMBDA_TASK_ROOT}
    environment: dict[str, str] = {}
    handler: str | None = None
    for line in _logical_lines(path.read_text(encoding="utf-8")):
        instruction, _, rest = line.partition(" ")
        instruction, rest = instruction.upper(), rest.strip()
        if instruction == "ARG":
            name, _, default = rest.partition("=")
            values[name] = build_args.get(name, default)
        elif instruction == "ENV":
            pairs = (
                [item.split("=", 1) for item in shlex.split(rest)] if "=" in rest.split()[0] else [rest.split(None, 1)]
            )
            for name, value in pairs:
                environment[name] = values[name] = _substitute(value, values)
        elif instruction == "CMD":
            try:
                command = json.loads(rest)
            except json.JSONDecodeError:
                command = shlex.split(rest)
            handler = str(command[0]) if command else None
    if not handler:
        raise ImageError(f'{path}: no CMD naming the handler (e.g. CMD ["inference.handler"])')
    return handler, environment


class ImageStore:
    """``<root>/<digest hex>/{context/, image.json}``, written by the build's docker stub or ``push``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def push(self, ecr: Any, repository_uri: str, tag: str, context: Path, build_args: dict[str, str]) -> str:
        """What ``docker buildx build --push`` does for ``context``: a single-platform manifest in ECR under
        ``tag``, kept here under the digest ECR gives it. Returns ``<repository_uri>@<digest>``."""
        layer = "sha256:" + _tree_hash(context, build_args)
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 1,
                "digest": "sha256:" + hashlib.sha256(b"config" + layer.encode()).hexdigest(),
            },
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 1, "digest": layer}],
        }
        pushed = ecr.put_image(
            repositoryName=repository_uri.split("/", 1)[1], imageTag=tag, imageManifest=json.dumps(manifest)
        )
        digest = str(pushed["image"]["imageId"]["imageDigest"])
        target = self.root / digest.split(":", 1)[1]
        if not target.exists():
            shutil.copytree(context, target / "context", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            image = {"reference": f"{repository_uri}@{digest}", "tag": tag, "buildArgs": build_args}
            (target / "image.json").write_text(json.dumps(image, indent=2), encoding="utf-8")
        return f"{repository_uri}@{digest}"

    def get(self, image_uri: str | None) -> LocalImage:
        digest = digest_of(image_uri)
        if digest is None:
            raise ImageError(f"{image_uri!r}: the local runtime runs images by digest only (<repository>@sha256:...)")
        folder = self.root / digest.split(":", 1)[1]
        if not (folder / "image.json").is_file():
            raise ImageError(f"{image_uri}: no such image was built here (nothing in {folder})")
        image = json.loads((folder / "image.json").read_text(encoding="utf-8"))
        context = folder / "context"
        handler, environment = read_dockerfile(context / "Dockerfile", dict(image.get("buildArgs") or {}))
        if (context / "model").is_dir():
            environment.setdefault("MODEL_URI", str(context / "model"))
        return LocalImage(
            digest=digest, reference=str(image["reference"]), root=context, handler=handler, environment=environment
        )


def _tree_hash(context: Path, build_args: dict[str, str]) -> str:
    content = hashlib.sha256(json.dumps(build_args, sort_keys=True).encode())
    for path in sorted(p for p in context.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        content.update(str(path.relative_to(context)).encode() + b"\0" + path.read_bytes())
    return content.hexdigest()
