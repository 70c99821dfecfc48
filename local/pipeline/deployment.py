"""The three stacks of one model, deployed into the local cloud: what ``pulumi up`` of tooling, stage and prod
would create, as far as a pipeline run uses it.

Tooling (account 123456789012): the model image repository with the bootstrap image, the CodeCommit repository
(its commits live in a local git repository), the versioned training-data bucket, the CodeBuild project, the
secrets (MLflow pipeline login, Slack bot token and signing secret), the tables, the status topic, one role per
function, every function of ``registry.FUNCTIONS`` with its deployed archive
(``infra.packaging.source_files``) and environment, the state machine built by ``infra.workflow.definition``
(with only the Build task pointed at the CodeBuild stand-in), and the EventBridge rules with their targets.
Stage (222222222222) and prod (333333333333): the inference function from the bootstrap image on version 1,
alias ``live``, its two alarms, and the deployer role the deploy function assumes.

``Deployment`` is also what a run and the tests drive and inspect: push a commit, find its execution, read
the approval request, and read what a person would check (aliases, versions, MLflow aliases, the Slack thread).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import secrets
import threading
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from moto.awslambda.utils import get_backend

from infra import naming, packaging
from infra.components.deploy_function import DeployTarget
from infra.components.image_build import BUILD_TIMEOUT_MINUTES, SAMPLE_DATA, TRAINING_DATA_KEY
from infra.components.model_images import BOOTSTRAP_CONTEXT, bootstrap_tag
from infra.workflow import WorkflowSettings, check_definition, definition, replace_build_resource
from local.fake_slack import TEAM_ID
from local.fake_slack import TOKEN as SLACK_BOT_TOKEN
from local.pipeline import registry
from local.pipeline.cloud import LocalCloud
from local.pipeline.codebuild import HANDLER as CODEBUILD_HANDLER
from local.pipeline.eventbridge import Delivery, StatusEvents
from local.pipeline.slack_app import SlackApp
from local.pipeline.source import Commit, push_event

ROOT = Path(__file__).resolve().parents[2]
SEED_CODE = ROOT / "seed_code"
ENVIRONMENTS = ("stage", "prod")
SLACK_APP_ID = "A0LOCALAPP"
LOCAL_APPROVER = "U0LOCALDEV"  # the person at this machine, an approver of every local deployment
LOCAL_APPROVER_NAME = "you"
DEVELOPER = "local-data-scientist"  # the IAM user who pushes


@dataclass(frozen=True)
class DeploymentSettings:
    model_name: str = "delivery-time"
    architecture: str = "arm64"
    approval_timeout_seconds: int = 600
    # Between looks of the deploy function's waiters; moto is ready at once.
    waiter_delay_seconds: float = 1.0
    # Extra plain variables of the CodeBuild project (tests train a smaller model this way).
    build_variables: Mapping[str, str] = field(default_factory=dict)
    prewarm: bool = True


@dataclass(frozen=True)
class Push:
    commit: Commit
    event: dict[str, Any]
    deliveries: list[Delivery]


@dataclass(frozen=True)
class ApprovalRequest:
    approval_id: str
    status: str
    channel: str
    message_ts: str
    execution_arn: str


def _zip(files: Mapping[str, bytes]) -> bytes:
    """A deterministic zip (fixed dates and order), as infra/packaging.py's archives are."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[name])
    return buffer.getvalue()


@cache
def function_archive(folder: str) -> bytes:
    """The deployment package of ``functions/<folder>``: the files ``infra.packaging`` puts in the stack's."""
    return _zip(
        {path.relative_to(packaging.ROOT).as_posix(): path.read_bytes() for path in packaging.source_files(folder)}
    )


def _trust(principal: Mapping[str, str]) -> str:
    statement = {"Effect": "Allow", "Principal": dict(principal), "Action": "sts:AssumeRole"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


class Deployment:
    def __init__(self, cloud: LocalCloud, settings: DeploymentSettings) -> None:
        self.cloud = cloud
        self.settings = settings
        self.model = settings.model_name
        self.prefix = naming.prefix(registry.PROJECT, self.model)
        self.tooling = cloud.accounts["tooling"]
        self.region = cloud.region
        self.function_names = {spec.key: spec.name(self.prefix) for spec in registry.FUNCTIONS}
        self.arns: dict[str, str] = {}
        self.inference_function = naming.inference_function_name(registry.PROJECT, self.model)
        self.state_machine_name = naming.state_machine_name(registry.PROJECT, self.model)
        self.state_machine_arn = f"arn:aws:states:{self.region}:{self.tooling}:stateMachine:{self.state_machine_name}"
        self.build_project = f"{self.prefix}-build"
        self.codebuild_function = f"{self.prefix}-codebuild-start-build-sync"
        digest = hashlib.sha256(self.model.encode()).hexdigest()[:8].upper()
        self.slack_channel = f"C0{digest}"
        self.signing_secret = secrets.token_hex(32)
        self.repository = cloud.repository(self.model)
        self.status_events: StatusEvents | None = None
        self._prewarming: list[threading.Thread] = []

    # ----------------------------------------------------------------------------------------- create

    @classmethod
    def create(cls, cloud: LocalCloud, settings: DeploymentSettings | None = None) -> Deployment:
        deployment = cls(cloud, settings or DeploymentSettings())
        try:
            deployment._create()
        except BaseException:
            deployment.close()
            raise
        return deployment

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _create(self) -> None:
        self._create_tooling_storage()
        self._create_environment_stacks()
        self._create_functions()
        self._create_state_machine()
        self._create_rules()
        self.cloud.slack.channels.add(self.slack_channel)
        self.interactions_url = self.cloud.route(
            f"/{self.prefix}/slack/interactions", "tooling", self.function_names["slack_interactions"]
        )
        self.slack_app = SlackApp(
            url=self.interactions_url,
            signing_secret=self.signing_secret,
            team_id=TEAM_ID,
            app_id=SLACK_APP_ID,
            user_names={LOCAL_APPROVER: LOCAL_APPROVER_NAME},
            find_message=self._slack_message,
        )
        self.status_events = StatusEvents(
            clients=self.cloud.client,
            bus=self.cloud.events,
            state_machine_arn=self.state_machine_arn,
            account_id=self.tooling,
            region=self.region,
            poll_seconds=self.cloud.poll_seconds,
        ).start()
        if self.settings.prewarm:
            self._prewarm()

    def _slack_message(self, channel: str, ts: str) -> Mapping[str, Any] | None:
        try:
            return self.cloud.slack.message(channel, ts)
        except KeyError:
            return None

    def _role(self, name: str, principal: Mapping[str, str], account: str = "tooling") -> str:
        iam = self.cloud.client("iam", account)
        try:
            return str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=_trust(principal))["Role"]["Arn"])
        except iam.exceptions.EntityAlreadyExistsException:
            return str(iam.get_role(RoleName=name)["Role"]["Arn"])

    def _create_tooling_storage(self) -> None:
        client = self.cloud.client
        # Images: the model repository and the bootstrap image every inference function starts from.
        self.repository_name = naming.model_repository_name(registry.PROJECT, self.model)
        repository = client("ecr").create_repository(
            repositoryName=self.repository_name, imageTagMutability="IMMUTABLE"
        )
        self.repository_uri = repository["repository"]["repositoryUri"]
        self.bootstrap_image_uri = self.cloud.images.push(
            client("ecr"), self.repository_uri, bootstrap_tag(), BOOTSTRAP_CONTEXT, {}
        )
        # Source: CodeCommit knows the repository; its commits are in the local git repository.
        source = client("codecommit").create_repository(repositoryName=self.model)["repositoryMetadata"]
        self.source_arn, self.source_id = source["Arn"], source["repositoryId"]
        self.clone_url = source["cloneUrlHttp"]
        # Training data: a versioned bucket seeded with the sample data (infra/components/image_build.py).
        bucket = f"{self.prefix}-training-data"
        s3 = client("s3")
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": self.region})
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_object(Bucket=bucket, Key=TRAINING_DATA_KEY, Body=SAMPLE_DATA.read_bytes(), ContentType="text/csv")
        self.training_data_uri = f"s3://{bucket}/{TRAINING_DATA_KEY}"
        # Secrets, as the stack stores them.
        manager = client("secretsmanager")
        pipeline = self.cloud.logins.pipeline
        login = {
            "username": pipeline.username,
            "password": pipeline.password,
            "tracking_uri": self.cloud.mlflow_address,
        }
        self.mlflow_secret_arn = manager.create_secret(
            Name=f"{self.prefix}/mlflow/pipeline", SecretString=json.dumps(login)
        )["ARN"]
        self.bot_token_secret_arn = manager.create_secret(
            Name=f"{self.prefix}/slack/bot-token", SecretString=SLACK_BOT_TOKEN
        )["ARN"]
        self.signing_secret_arn = manager.create_secret(
            Name=f"{self.prefix}/slack/signing-secret", SecretString=self.signing_secret
        )["ARN"]
        # Tables and topics.
        self.tables: dict[str, str] = {}
        dynamodb = client("dynamodb")
        for table in registry.tables():
            name = table.table_name(self.prefix)
            dynamodb.create_table(
                TableName=name,
                AttributeDefinitions=[{"AttributeName": table.hash_key, "AttributeType": "S"}],
                KeySchema=[{"AttributeName": table.hash_key, "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
            )
            if table.ttl_attribute:
                dynamodb.update_time_to_live(
                    TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute}
                )
            self.tables[table.key] = name
        self.topics = {
            topic.key: client("sns").create_topic(Name=topic.name(self.prefix))["TopicArn"] for topic in registry.TOPICS
        }
        # The build project (infra/components/image_build.py's environment variables).
        build_role = self._role(f"{self.prefix}-build", {"Service": "codebuild.amazonaws.com"})
        plain = {
            "MODEL_NAME": self.model,
            "ARCHITECTURE": self.settings.architecture,
            "ECR_REPOSITORY_URI": self.repository_uri,
            "MLFLOW_TRACKING_URI": self.cloud.mlflow_address,
            "TRAINING_DATA_URI": self.training_data_uri,
            **self.settings.build_variables,
        }
        secret = {
            "MLFLOW_TRACKING_USERNAME": f"{self.mlflow_secret_arn}:username",
            "MLFLOW_TRACKING_PASSWORD": f"{self.mlflow_secret_arn}:password",
        }
        variables = [{"name": k, "value": v, "type": "PLAINTEXT"} for k, v in plain.items()]
        variables += [{"name": k, "value": v, "type": "SECRETS_MANAGER"} for k, v in secret.items()]
        client("codebuild").create_project(
            name=self.build_project,
            source={"type": "CODECOMMIT", "location": self.clone_url, "buildspec": "buildspec.yml"},
            artifacts={"type": "NO_ARTIFACTS"},
            environment={
                "type": "ARM_CONTAINER" if self.settings.architecture == "arm64" else "LINUX_CONTAINER",
                "image": "aws/codebuild/amazonlinux-aarch64-standard:3.0",
                "computeType": "BUILD_GENERAL1_SMALL",
                "privilegedMode": True,
                "environmentVariables": variables,
            },
            serviceRole=build_role,
            timeoutInMinutes=BUILD_TIMEOUT_MINUTES,
        )

    def _create_environment_stacks(self) -> None:
        deploy_role = naming.role_arn(
            "aws", self.tooling, naming.deploy_function_role_name(registry.PROJECT, self.model)
        )
        alarms = naming.inference_alarm_names(registry.PROJECT, self.model)
        self.deploy_targets: dict[str, DeployTarget] = {}
        for environment in ENVIRONMENTS:
            account = self.cloud.accounts[environment]
            lam = self.cloud.client("lambda", environment)
            execution_role = self._role(
                f"{self.inference_function}-execution", {"Service": "lambda.amazonaws.com"}, environment
            )
            lam.create_function(
                FunctionName=self.inference_function,
                Role=execution_role,
                PackageType="Image",
                Code={"ImageUri": self.bootstrap_image_uri},
                Architectures=[self.settings.architecture],
                MemorySize=1024,
                Timeout=30,
                Description="Predicts delivery time in days; alias live serves callers",
            )
            lam.publish_version(FunctionName=self.inference_function, Description="bootstrap image (managed by Pulumi)")
            lam.create_alias(FunctionName=self.inference_function, Name=naming.INFERENCE_ALIAS, FunctionVersion="1")
            cloudwatch = self.cloud.client("cloudwatch", environment)
            resource = f"{self.inference_function}:{naming.INFERENCE_ALIAS}"
            for name, metric in zip(alarms, ("Errors", "Throttles"), strict=True):
                cloudwatch.put_metric_alarm(
                    AlarmName=name,
                    Namespace="AWS/Lambda",
                    MetricName=metric,
                    Dimensions=[
                        {"Name": "FunctionName", "Value": self.inference_function},
                        {"Name": "Resource", "Value": resource},
                    ],
                    Statistic="Sum",
                    Period=60,
                    EvaluationPeriods=5,
                    DatapointsToAlarm=1,
                    Threshold=1,
                    ComparisonOperator="GreaterThanOrEqualToThreshold",
                    TreatMissingData="notBreaching",
                )
            role_name = naming.deployer_role_name(registry.PROJECT, self.model)
            self._role(role_name, {"AWS": deploy_role}, environment)
            self.deploy_targets[environment] = DeployTarget(
                role_arn=naming.role_arn("aws", account, role_name),
                function_name=self.inference_function,
                alarm_names=alarms,
            )

    def resources(self) -> registry.Resources:
        return registry.Resources(
            prefix=self.prefix,
            model_name=self.model,
            state_machine_arn=self.state_machine_arn,
            deploy_targets=self.deploy_targets,
            model_repository_name=self.repository_name,
            mlflow_credentials_secret_arn=self.mlflow_secret_arn,
            slack_bot_token_secret_arn=self.bot_token_secret_arn,
            slack_signing_secret_arn=self.signing_secret_arn,
            slack_channel_id=self.slack_channel,
            slack_team_id=TEAM_ID,
            slack_app_id=SLACK_APP_ID,
            slack_approvers=(LOCAL_APPROVER,),
            approval_timeout_seconds=self.settings.approval_timeout_seconds,
            mlflow_ui_url=self.cloud.mlflow_address,
            tables=self.tables,
            slack_api_url=self.cloud.slack.url,
            waiter_delay_seconds=self.settings.waiter_delay_seconds,
        )

    def _create_functions(self) -> None:
        resources = self.resources()
        for spec in registry.FUNCTIONS:
            name = self.function_names[spec.key]
            role_name = spec.role_name(registry.PROJECT, self.model) if spec.role_name else f"{name}-role"
            role = self._role(role_name, {"Service": "lambda.amazonaws.com"}, spec.account)
            environment = {**spec.environment(resources), **spec.local_environment(resources)}
            created = self.cloud.client("lambda", spec.account).create_function(
                FunctionName=name,
                Runtime="python3.12",
                Role=role,
                Handler=spec.handler,
                Code={"ZipFile": function_archive(spec.folder)},
                Timeout=spec.timeout_seconds,
                MemorySize=spec.memory_mb,
                Architectures=["arm64"],
                Environment={"Variables": environment},
                LoggingConfig={"LogFormat": "JSON", "LogGroup": f"/aws/lambda/{name}"},
            )
            self.arns[spec.key] = created["FunctionArn"]
        # The CodeBuild stand-in, a function only so the Build task can call it (see codebuild.py).
        role = self._role(f"{self.codebuild_function}-role", {"Service": "lambda.amazonaws.com"})
        self.codebuild_arn = self.cloud.client("lambda").create_function(
            FunctionName=self.codebuild_function,
            Runtime="python3.12",
            Role=role,
            Handler=CODEBUILD_HANDLER,
            Code={"ZipFile": _zip({"README.txt": b"Served by the local runner: local/pipeline/codebuild.py\n"})},
            Timeout=BUILD_TIMEOUT_MINUTES * 60,
            Description="Local stand-in for codebuild:startBuild.sync (moto cannot run builds)",
        )["FunctionArn"]

    def _create_state_machine(self) -> None:
        self.workflow_settings = WorkflowSettings(
            build_project=self.build_project,
            model_name=self.model,
            approval_timeout_seconds=self.settings.approval_timeout_seconds,
        )
        real = definition(registry.workflow_arns(self.arns), self.workflow_settings)
        problems = check_definition(real)
        if problems:
            raise ValueError("the workflow definition has problems: " + "; ".join(problems))
        self.definition = replace_build_resource(real, self.codebuild_arn)
        # The states whose task runs something else here than in AWS: state name -> the AWS resource.
        self.substituted = {
            name: str(state["Resource"])
            for name, state in real["States"].items()
            if state.get("Resource") != self.definition["States"][name].get("Resource")
        }
        role = self._role(f"{self.prefix}-pipeline", {"Service": "states.amazonaws.com"})
        created = self.cloud.client("stepfunctions").create_state_machine(
            name=self.state_machine_name, definition=json.dumps(self.definition), roleArn=role, type="STANDARD"
        )
        if created["stateMachineArn"] != self.state_machine_arn:
            raise ValueError(f"state machine ARN {created['stateMachineArn']}, expected {self.state_machine_arn}")

    def _create_rules(self) -> None:
        events = self.cloud.client("events")
        arns = {"repositoryArn": self.source_arn, "stateMachineArn": self.state_machine_arn}
        self.rules: dict[str, str] = {}
        for rule in registry.RULES:
            name = rule.name(self.prefix)
            events.put_rule(
                Name=name, EventPattern=json.dumps(rule.pattern(arns)), State="ENABLED", Description=rule.description
            )
            targets = [self.arns[spec.key] for spec in registry.rule_targets(rule.key)]
            targets += [self.topics[topic] for topic in rule.topics]
            events.put_targets(Rule=name, Targets=[{"Id": f"target-{i}", "Arn": arn} for i, arn in enumerate(targets)])
            self.rules[rule.key] = name

    def _prewarm(self) -> None:
        backend = get_backend(self.tooling, self.region)

        def warm(name: str) -> None:
            with contextlib.suppress(Exception):  # a function that cannot start says so when it is invoked
                self.cloud.lambdas.prewarm(self.cloud.lambdas.runtime_of(self.tooling, backend.get_function(name)))

        for spec in registry.FUNCTIONS:
            thread = threading.Thread(target=warm, args=(self.function_names[spec.key],), daemon=True)
            thread.start()
            self._prewarming.append(thread)

    # ------------------------------------------------------------------------------------------ close

    def close(self) -> None:
        if self.status_events is not None:
            self.status_events.stop()
        with contextlib.suppress(Exception):
            sfn = self.cloud.client("stepfunctions")
            for listed in sfn.list_executions(stateMachineArn=self.state_machine_arn, statusFilter="RUNNING")[
                "executions"
            ]:
                sfn.stop_execution(
                    executionArn=listed["executionArn"], error="LocalRunEnded", cause="the local run ended"
                )
        for thread in self._prewarming:
            thread.join(timeout=30)
        # What the last status event started (request_approval's clean-up) finishes before its function stops.
        self.cloud.lambdas.wait_idle(timeout_seconds=10)
        for name in self.function_names.values():
            self.cloud.lambdas.stop_function(self.tooling, name)
        for environment in ENVIRONMENTS:
            self.cloud.lambdas.stop_function(self.cloud.accounts[environment], self.inference_function)
        self.cloud.routes.pop(f"/{self.prefix}/slack/interactions", None)

    # ------------------------------------------------------------------------------------------- runs

    def push(self, folder: Path = SEED_CODE, message: str = "Update the model") -> Push:
        """Commit ``folder`` to ``main`` and put CodeCommit's event on the bus (the push rule routes it)."""
        commit = self.repository.commit(folder, message)
        event = push_event(
            commit=commit,
            repository_name=self.model,
            repository_arn=self.source_arn,
            repository_id=self.source_id,
            account_id=self.tooling,
            region=self.region,
            caller=f"arn:aws:iam::{self.tooling}:user/{DEVELOPER}",
        )
        return Push(commit, event, self.cloud.events.put(event))

    def executions(self) -> list[dict[str, Any]]:
        sfn = self.cloud.client("stepfunctions")
        found: list[dict[str, Any]] = []
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=self.state_machine_arn):
            found.extend(page["executions"])
        return found

    def execution_of(self, commit: str) -> str | None:
        sfn = self.cloud.client("stepfunctions")
        for listed in self.executions():
            described = sfn.describe_execution(executionArn=listed["executionArn"])
            if json.loads(described.get("input") or "{}").get("commit") == commit:
                return str(listed["executionArn"])
        return None

    def wait_for_execution(self, commit: str, timeout_seconds: float = 120) -> str:
        """The execution the start function started for ``commit``."""
        return str(
            self.cloud.wait_until(
                lambda: self.execution_of(commit), f"an execution for commit {commit[:12]}", timeout_seconds
            )
        )

    def describe(self, execution_arn: str) -> dict[str, Any]:
        return dict(self.cloud.client("stepfunctions").describe_execution(executionArn=execution_arn))

    def wait_until_finished(self, execution_arn: str, timeout_seconds: float) -> dict[str, Any]:
        def finished() -> dict[str, Any] | None:
            described = self.describe(execution_arn)
            return described if described["status"] != "RUNNING" else None

        described = self.cloud.wait_until(finished, f"{execution_arn.rsplit(':', 1)[-1]} to end", timeout_seconds)
        if self.status_events is not None:
            self.status_events.check()
        return dict(described)

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        sfn = self.cloud.client("stepfunctions")
        events: list[dict[str, Any]] = []
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
            events.extend(page["events"])
        return events

    def approval_requests(self) -> list[ApprovalRequest]:
        """The approvals table as request_approval and slack_interactions keep it (no token is read)."""
        table = self.tables[registry.APPROVALS.key]
        attributes = ["approvalId", "executionArn", "#s", "channel", "messageTs"]
        items = self.cloud.client("dynamodb").scan(
            TableName=table, ProjectionExpression=", ".join(attributes), ExpressionAttributeNames={"#s": "status"}
        )["Items"]
        found = []
        for item in items:
            values = {key: TypeDeserializer().deserialize(value) for key, value in item.items()}
            if values.get("messageTs"):
                found.append(
                    ApprovalRequest(
                        approval_id=str(values["approvalId"]),
                        status=str(values.get("status")),
                        channel=str(values.get("channel")),
                        message_ts=str(values["messageTs"]),
                        execution_arn=str(values.get("executionArn")),
                    )
                )
        return found

    def approval_request(self, execution_arn: str) -> ApprovalRequest | None:
        for request in self.approval_requests():
            if request.execution_arn == execution_arn:
                return request
        return None

    def wait_for_approval_request(self, execution_arn: str, timeout_seconds: float) -> ApprovalRequest:
        def posted() -> ApprovalRequest | None:
            request = self.approval_request(execution_arn)
            if request is None and self.describe(execution_arn)["status"] != "RUNNING":
                raise RuntimeError(f"{execution_arn.rsplit(':', 1)[-1]} ended before asking for approval")
            return request

        return self.cloud.wait_until(posted, "the approval request in Slack", timeout_seconds)  # type: ignore[no-any-return]

    # --------------------------------------------------------------------------- what a person checks

    def live(self, environment: str) -> dict[str, str]:
        """Alias ``live`` of the environment's inference function: its version and that version's image."""
        lam = self.cloud.client("lambda", environment)
        version = lam.get_alias(FunctionName=self.inference_function, Name=naming.INFERENCE_ALIAS)["FunctionVersion"]
        image = lam.get_function(FunctionName=self.inference_function, Qualifier=version)["Code"]["ImageUri"]
        return {"version": str(version), "imageUri": str(image)}

    def versions(self, environment: str) -> dict[str, str]:
        """Published versions of the environment's inference function -> their descriptions."""
        lam = self.cloud.client("lambda", environment)
        listed = lam.list_versions_by_function(FunctionName=self.inference_function)["Versions"]
        return {str(v["Version"]): str(v.get("Description", "")) for v in listed if v["Version"] != "$LATEST"}

    def invoke_live(self, environment: str, request: Mapping[str, Any]) -> dict[str, Any]:
        """Call the model through alias ``live`` (what a caller in that account does)."""
        lam = self.cloud.client("lambda", environment)
        response = lam.invoke(
            FunctionName=f"{self.inference_function}:{naming.INFERENCE_ALIAS}", Payload=json.dumps(dict(request))
        )
        return dict(json.loads(response["Payload"].read()))

    def mlflow_aliases(self) -> dict[str, str]:
        try:
            model = self.cloud.mlflow_get("/api/2.0/mlflow/registered-models/get", name=self.model)
        except RuntimeError:
            return {}
        return {str(a["alias"]): str(a["version"]) for a in model["registered_model"].get("aliases", [])}

    def model_version(self, version: str) -> dict[str, Any]:
        """The registered version (tags as a dict) and its run's metrics."""
        found = self.cloud.mlflow_get("/api/2.0/mlflow/model-versions/get", name=self.model, version=version)
        model_version = found["model_version"]
        tags = {t["key"]: t["value"] for t in model_version.get("tags", [])}
        run = self.cloud.mlflow_get("/api/2.0/mlflow/runs/get", run_id=model_version["run_id"])["run"]
        metrics = {m["key"]: m["value"] for m in run["data"].get("metrics", [])}
        return {"version": version, "tags": tags, "metrics": metrics, "runId": model_version["run_id"]}

    def thread(self, execution_arn: str) -> list[dict[str, Any]]:
        """The run's Slack thread as the channel shows it now: the parent first, then the replies."""
        parent = None
        for event in self.history(execution_arn):
            details = event.get("stateExitedEventDetails") or {}
            if details.get("name") == "NotifyStarted":
                parent = (json.loads(details.get("output") or "{}").get("slack") or {}).get("thread")
        if not parent:
            return []
        channel, ts = parent["channel"], parent["ts"]
        messages = dict(self.cloud.slack.messages)
        thread = [m for (c, _), m in messages.items() if c == channel and (m["ts"] == ts or m.get("thread_ts") == ts)]
        return sorted(thread, key=lambda m: float(m["ts"]))
