"""Run a buildspec's phases on this machine the way CodeBuild runs them, with `aws` and `docker` stubbed.

Shared by the buildspec tests (tests/seed_code) and the local pipeline's CodeBuild stand-in
(``local.pipeline.codebuild``).

What is emulated, from CodeBuild's buildspec reference: `env.variables` and the resolved `env.secrets-manager`
values are in the environment; commands run one at a time, in order, each in `env.shell` (bash); a command
that exits non-zero fails the build and nothing after it runs; variables a command exports are seen by the
next ones; `env.exported-variables` are read from the environment at the end.

Stricter than CodeBuild on purpose: every command runs under `set -euo pipefail`, so an unset variable or a
failing pipeline stage fails here even where CodeBuild's plain bash would carry on.

The stubs log each call (JSON lines) and act just enough for the build to go on: `aws ecr
get-login-password` prints a password, `docker login` checks it gets one on stdin, and `docker buildx build
... --push` checks the context holds what the Dockerfile copies, then puts an image manifest into the
(moto) ECR repository under the tag, as a push would. The manifest's layer is the SHA-256 of the build
arguments and every file of the context, so the image digest ECR computes is a function of what was built.
With ``LOCAL_IMAGE_STORE`` set, the pushed image is also kept as a folder, ``<store>/<digest hex>/context``
(the build context) and ``image.json`` (reference, build arguments, platform): what the local Lambda runtime
runs when a function is deployed from that digest.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

import boto3

# The secret ID of a secrets-manager reference is an ARN (7 colon-separated parts) or a plain name.
ARN_PARTS = 7
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")

AWS_STUB = """\
import json, os, sys
with open(os.environ["STUB_LOG"], "a") as log:
    log.write(json.dumps({"tool": "aws", "args": sys.argv[1:]}) + "\\n")
if sys.argv[1:3] == ["ecr", "get-login-password"]:
    print("stub-ecr-password")
    sys.exit(0)
print(f"aws stub: unexpected call {sys.argv[1:]}", file=sys.stderr)
sys.exit(2)
"""

DOCKER_STUB = """\
import hashlib, json, os, sys
from pathlib import Path
import boto3

args = sys.argv[1:]
entry = {"tool": "docker", "args": args, "cwd": os.getcwd()}
if args[:1] == ["login"]:
    entry["password_received"] = bool(sys.stdin.read().strip())
elif args[:2] == ["buildx", "build"]:
    context = Path(args[-1])
    entry["context_files"] = sorted(str(p.relative_to(context)) for p in context.rglob("*") if p.is_file())
with open(os.environ["STUB_LOG"], "a") as log:
    log.write(json.dumps(entry) + "\\n")

if args[:1] == ["login"]:
    sys.exit(0 if "--password-stdin" in args and entry["password_received"] else 1)
if args[:2] != ["buildx", "build"]:
    print(f"docker stub: unexpected call {args}", file=sys.stderr)
    sys.exit(2)
context = Path(args[-1])
if not (context / "Dockerfile").is_file() or not (context / "model" / "MLmodel").is_file():
    print("docker stub: the context has no Dockerfile or no model/MLmodel", file=sys.stderr)
    sys.exit(1)
if "--push" not in args:
    sys.exit(0)
reference = args[args.index("--tag") + 1]
repository_uri, tag = reference.rsplit(":", 1)
content = hashlib.sha256(json.dumps(args).encode())
for path in sorted(p for p in context.rglob("*") if p.is_file()):
    content.update(str(path).encode() + path.read_bytes())
layer = {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 1,
         "digest": "sha256:" + content.hexdigest()}
config = {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1,
          "digest": "sha256:" + hashlib.sha256(b"config" + content.digest()).hexdigest()}
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": config, "layers": [layer]}
pushed = boto3.client("ecr").put_image(repositoryName=repository_uri.split("/", 1)[1], imageTag=tag,
                                       imageManifest=json.dumps(manifest))
store = os.environ.get("LOCAL_IMAGE_STORE")
if store:
    import shutil
    digest = pushed["image"]["imageId"]["imageDigest"]
    target = Path(store) / digest.split(":", 1)[1]
    if not target.exists():
        staging = Path(store) / f".staging-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(context, staging / "context", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        build_args = dict(a.split("=", 1) for a in (args[i + 1] for i, x in enumerate(args) if x == "--build-arg"))
        platform = args[args.index("--platform") + 1] if "--platform" in args else None
        image = {"reference": f"{repository_uri}@{digest}", "tag": tag, "buildArgs": build_args, "platform": platform}
        (staging / "image.json").write_text(json.dumps(image, indent=2))
        staging.rename(target)
"""


TIMED_OUT, CANCELLED = 124, 130


def _run_command(
    script: str, cwd: Path, env: dict[str, str], timeout_seconds: float, cancel: threading.Event | None
) -> tuple[int, str]:
    """Run one command in its own process group; returns its exit code and its output (stdout, then stderr)."""
    process = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout_seconds
    while True:
        try:
            stdout, stderr = process.communicate(timeout=0.2)
            return process.returncode, stdout + stderr
        except subprocess.TimeoutExpired:
            cancelled = cancel is not None and cancel.is_set()
            if not cancelled and time.monotonic() < deadline:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
            reason = "the build was stopped" if cancelled else f"the command ran longer than {timeout_seconds:g} s"
            return (CANCELLED if cancelled else TIMED_OUT), f"{stdout}{stderr}\n{reason}\n"


@dataclass
class BuildResult:
    succeeded: bool
    failed_command: tuple[str, int, str] | None  # (phase, index, command)
    exit_code: int
    exported: dict[str, str | None]
    output: str  # stdout and stderr of every command run, in order
    calls: list[dict] = field(default_factory=list)
    seconds: list[tuple[str, float]] = field(default_factory=list)  # (command, wall time) of each command run

    def stub_calls(self, tool: str, *prefix: str) -> list[dict]:
        return [c for c in self.calls if c["tool"] == tool and c["args"][: len(prefix)] == list(prefix)]


def expand(text: str, environ: dict[str, str]) -> str:
    """``$VAR`` and ``${VAR}`` from ``environ`` (an unset one is an error, as it would be for CodeBuild)."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in environ:
            raise KeyError(f"{text!r} refers to {name}, which is not set")
        return environ[name]

    return _VARIABLE.sub(value, text)


def parse_secret_reference(reference: str) -> tuple[str, str | None, str | None, str | None]:
    """``secret-id:json-key:version-stage:version-id``, where the secret ID may be an ARN full of colons."""
    parts = reference.split(":")
    cut = ARN_PARTS if reference.startswith("arn:") else 1
    secret_id, rest = ":".join(parts[:cut]), parts[cut:]
    json_key, stage, version_id = [*(p or None for p in rest), None, None, None][:3]
    return secret_id, json_key, stage, version_id


def resolve_secrets(references: dict[str, str], environ: dict[str, str]) -> dict[str, str]:
    """What CodeBuild puts in the environment for ``env.secrets-manager`` (via the endpoint in ``environ``)."""
    session = boto3.Session(
        aws_access_key_id=environ.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=environ.get("AWS_SECRET_ACCESS_KEY"),
        region_name=environ["AWS_REGION"],
    )
    client = session.client("secretsmanager", endpoint_url=environ.get("AWS_ENDPOINT_URL"))
    resolved = {}
    for name, reference in references.items():
        secret_id, json_key, stage, version_id = parse_secret_reference(expand(reference, environ))
        request = {"SecretId": secret_id} | ({"VersionStage": stage} if stage else {})
        request |= {"VersionId": version_id} if version_id else {}
        secret = client.get_secret_value(**request)["SecretString"]
        resolved[name] = json.loads(secret)[json_key] if json_key else secret
    return resolved


def write_stubs(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, source in (("aws", AWS_STUB), ("docker", DOCKER_STUB)):
        stub = directory / name
        stub.write_text(f"#!{sys.executable}\n{source}")
        stub.chmod(0o755)
    return directory


def run_buildspec(
    buildspec: dict,
    source: Path,
    project_environment: dict[str, str],
    stubs: Path,
    phases: tuple[str, ...] = ("pre_build", "build", "post_build"),
    timeout_seconds: float = 300,
    secret_variables: Collection[str] = (),
    on_command: Callable[[str, int, str], None] | None = None,
    cancel: threading.Event | None = None,
) -> BuildResult:
    """Run ``phases`` of ``buildspec`` in ``source``; ``install`` is left out (this venv is the install).

    ``on_command(phase, index, command)`` is called before each command (progress display). A command that
    outlives ``timeout_seconds``, or runs when ``cancel`` is set, is killed with everything it started and fails
    the build (exit code 124 or 130, as ``timeout`` and an interrupted shell report)."""
    env_section = buildspec.get("env", {})
    if env_section.get("shell") != "bash":
        raise ValueError("env.shell: the commands are written for bash; set `shell: bash` in the buildspec")
    log = stubs.parent / f"{stubs.name}-calls.jsonl"
    log.unlink(missing_ok=True)
    environ = {str(k): str(v) for k, v in env_section.get("variables", {}).items()}
    environ |= project_environment  # the project's values take precedence over the buildspec's
    # Project variables of type SECRETS_MANAGER hold a reference that CodeBuild resolves at build start.
    environ |= resolve_secrets({name: environ[name] for name in secret_variables}, environ)
    environ |= resolve_secrets(env_section.get("secrets-manager", {}), environ)
    environ |= {"PATH": f"{stubs}{os.pathsep}{environ.get('PATH', os.environ['PATH'])}", "STUB_LOG": str(log)}
    environ["CODEBUILD_SRC_DIR"] = str(source)

    output: list[str] = []
    seconds: list[tuple[str, float]] = []
    failed, code = None, 0
    for phase in phases:
        for index, command in enumerate(buildspec.get("phases", {}).get(phase, {}).get("commands", [])):
            if on_command is not None:
                on_command(phase, index, command)
            env_file = stubs.parent / "env-after-command"
            script = f"{command}\n__status=$?\nenv -0 > {env_file}\nexit $__status\n"
            started = time.monotonic()
            returncode, text = _run_command(script, source, environ, timeout_seconds, cancel)
            seconds.append((command, time.monotonic() - started))
            output.append(f"$ {textwrap.shorten(command, 200)}\n{text}")
            if returncode != 0:
                failed, code = (phase, index, command), returncode
                break
            pairs = (item.split("=", 1) for item in env_file.read_text().split("\0") if "=" in item)
            environ = {k: v for k, v in pairs if k not in ("_", "SHLVL", "PWD", "OLDPWD")}
        if failed:
            break
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    exported = {name: environ.get(name) for name in env_section.get("exported-variables", [])}
    exported = exported if failed is None else {}
    return BuildResult(failed is None, failed, code, exported, "\n".join(output), calls, seconds)
