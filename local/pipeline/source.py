"""The model repository: a bare git repository on disk stands in for CodeCommit's (moto stores no commits).

``commit`` records a folder (``seed_code/`` by default) as a new commit on ``main``, with git's plumbing so no
hook, signing or user configuration of this machine is involved; the build checks out exactly that commit
(``archive``). ``push_event`` is the EventBridge event CodeCommit sends for it ("CodeCommit Repository State
Change": ``referenceCreated`` for the first push of the branch, ``referenceUpdated`` after).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Not part of a commit: what running the seed code locally leaves behind.
IGNORED = ("__pycache__/", "*.pyc", ".pytest_cache/", "model/", "train-result.json", "mlruns/", "mlartifacts/")


class SourceError(RuntimeError):
    """git failed; the message has its output."""


@dataclass(frozen=True)
class Commit:
    sha: str
    parent: str | None
    branch: str
    author: str


def _git(args: list[str], env: dict[str, str], cwd: Path | None = None) -> bytes:
    completed = subprocess.run(["git", *args], env=env, cwd=cwd, capture_output=True, check=False, timeout=60)
    if completed.returncode != 0:
        message = completed.stderr.decode(errors="replace").strip()
        raise SourceError(f"git {' '.join(args[:2])} failed: {message}")
    return completed.stdout


class GitRepository:
    def __init__(self, path: Path, branch: str = "main") -> None:
        self.path = path
        self.branch = branch
        if not (path / "HEAD").is_file():
            path.mkdir(parents=True, exist_ok=True)
            _git(["init", "--quiet", "--bare", str(path)], self._env())
            _git(["symbolic-ref", "HEAD", f"refs/heads/{branch}"], self._env())
        exclude = path / "info" / "exclude"
        exclude.parent.mkdir(parents=True, exist_ok=True)
        exclude.write_text("\n".join(IGNORED) + "\n", encoding="utf-8")

    def _env(self, **extra: str) -> dict[str, str]:
        base = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
        return {**base, "GIT_DIR": str(self.path), "GIT_CONFIG_NOSYSTEM": "1", **extra}

    def head(self) -> str | None:
        completed = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"refs/heads/{self.branch}"],
            env=self._env(),
            capture_output=True,
            check=False,
            timeout=30,
        )
        return completed.stdout.decode().strip() or None

    def commit(self, folder: Path, message: str, author: str = "Local Data Scientist") -> Commit:
        """``folder``'s files as the next commit of the branch."""
        identity = {
            "GIT_AUTHOR_NAME": author,
            "GIT_AUTHOR_EMAIL": "data-scientist@example.com",
            "GIT_COMMITTER_NAME": author,
            "GIT_COMMITTER_EMAIL": "data-scientist@example.com",
        }
        with tempfile.TemporaryDirectory(prefix="index-") as scratch:
            env = self._env(GIT_WORK_TREE=str(folder), GIT_INDEX_FILE=str(Path(scratch) / "index"), **identity)
            _git(["add", "--all", "."], env, cwd=folder)
            tree = _git(["write-tree"], env).decode().strip()
            parent = self.head()
            args = ["commit-tree", tree, "-m", message] + (["-p", parent] if parent else [])
            sha = _git(args, env).decode().strip()
            _git(["update-ref", f"refs/heads/{self.branch}", sha, parent or ""], env)
        return Commit(sha=sha, parent=parent, branch=self.branch, author=author)

    def archive(self, commit: str, target: Path) -> None:
        """The commit's files in ``target`` (what CodeBuild checks out at ``sourceVersion``)."""
        target.mkdir(parents=True, exist_ok=True)
        data = _git(["archive", "--format=tar", commit], self._env())
        completed = subprocess.run(
            ["tar", "-x", "-C", str(target)], input=data, capture_output=True, check=False, timeout=60
        )
        if completed.returncode != 0:
            raise SourceError(f"extracting commit {commit[:12]} failed: {completed.stderr.decode().strip()}")


def push_event(
    *,
    commit: Commit,
    repository_name: str,
    repository_arn: str,
    repository_id: str,
    account_id: str,
    region: str,
    caller: str,
) -> dict[str, Any]:
    """What CodeCommit puts on the default event bus when ``commit`` is pushed to its branch."""
    detail: dict[str, Any] = {
        "callerUserArn": caller,
        "commitId": commit.sha,
        "event": "referenceUpdated" if commit.parent else "referenceCreated",
        "referenceFullName": f"refs/heads/{commit.branch}",
        "referenceName": commit.branch,
        "referenceType": "branch",
        "repositoryId": repository_id,
        "repositoryName": repository_name,
    }
    if commit.parent:
        detail["oldCommitId"] = commit.parent
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "CodeCommit Repository State Change",
        "source": "aws.codecommit",
        "account": account_id,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [repository_arn],
        "detail": detail,
    }
