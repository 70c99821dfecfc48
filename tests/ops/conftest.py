"""The world a runbook command meets, all local: the tooling, stage and prod accounts in moto (the deploy function's
fake three-account AWS), the tooling functions deploy, promote and notify created in moto and answering through
their real handlers, a real MLflow server, and the Slack stand-in.

``lambda:Invoke`` of a tooling function goes through boto3 and moto; moto runs no code without Docker, so its
Lambda backend's ``invoke`` is patched to call the function's real handler in-process (the same patch the deploy
tests use for the inference function, extended to the tooling functions), and to answer a raised exception the
way Lambda does: ``X-Amz-Function-Error: Unhandled`` and ``{"errorType", "errorMessage"}``.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import mlflow
import moto.awslambda_simple.models as lambda_simple
import pytest

from functions.common import secrets
from functions.deploy import handler as deploy_handler
from functions.notify import handler as notify_handler
from functions.notify import services as notify_services
from functions.promote import handler as promote_handler
from local.fake_slack import TOKEN, FakeSlack
from tests.functions.deploy.conftest import aws, shared_loader  # noqa: F401 - fixtures used here
from tests.functions.deploy.fake_aws import DEPLOY_FUNCTION, REGION, TOOLING, FakeAws, FakeImage
from tests.functions.promote.conftest import FAST_RETRIES, Models

CHANNEL = "C0123456789"
PREFIX = "serverless-mlops-delivery-time"
PROMOTE_FUNCTION = f"{PREFIX}-promote"
NOTIFY_FUNCTION = f"{PREFIX}-notify"
STATE_MACHINE_ARN = f"arn:aws:states:{REGION}:{TOOLING}:stateMachine:{PREFIX}-pipeline"
SLACK_FAST = {"SLACK_TIMEOUT_SECONDS": "2", "SLACK_MAX_ATTEMPTS": "2", "SLACK_RETRY_BASE_DELAY_SECONDS": "0.05"}

HANDLERS: dict[str, Callable[[Any, Any], Any]] = {
    DEPLOY_FUNCTION: deploy_handler.handler,
    PROMOTE_FUNCTION: promote_handler.handler,
    NOTIFY_FUNCTION: notify_handler.handler,
}


def _context(function: str) -> SimpleNamespace:
    return SimpleNamespace(
        aws_request_id=str(uuid.uuid4()),
        function_name=function,
        invoked_function_arn=f"arn:aws:lambda:{REGION}:{TOOLING}:function:{function}",
        get_remaining_time_in_millis=lambda: 60_000,
    )


@dataclass
class Ops:
    """Everything a test sets up or checks: the three accounts, MLflow, Slack, and which functions ran."""

    aws: FakeAws
    models: Models
    slack: FakeSlack
    model_name: str
    invoked: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def outputs(self) -> dict[str, Any]:
        """What `pulumi stack output --json --stack tooling` prints (the keys a rollback reads, and a few more)."""
        return {
            "modelName": self.model_name,
            "deployFunctionName": DEPLOY_FUNCTION,
            "promoteFunctionName": PROMOTE_FUNCTION,
            "notifyFunctionName": NOTIFY_FUNCTION,
            "stateMachineArn": STATE_MACHINE_ARN,
            "mlflowCredentialsSecretArn": "[secret]",
        }

    def functions_invoked(self) -> list[str]:
        return [name for name, _ in self.invoked]

    def deploy(self, environment: str, model_version: str) -> FakeImage:
        """The pipeline's deploy of a registered model version (its image pushed first)."""
        image = self.aws.push_image(model_version)
        self.aws.run("deploy", environment, image)
        return image

    def register(self, count: int) -> None:
        for n in range(1, count + 1):
            assert self.models.register(self.model_name, f"{n:040x}") == str(n)

    def alias(self, alias: str) -> str | None:
        return self.models.alias(self.model_name, alias)

    def channel_messages(self) -> list[dict[str, Any]]:
        return [message for (channel, _), message in sorted(self.slack.messages.items()) if channel == CHANNEL]


def _create_tooling_functions(fake: FakeAws) -> None:
    role = fake.client("tooling", "iam").create_role(
        RoleName="tooling-functions",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )["Role"]["Arn"]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("handler.py", "def handler(event, context):\n    return event\n")
    for name in HANDLERS:
        fake.client("tooling").create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler="handler.handler",
            Code={"ZipFile": archive.getvalue()},
        )


@pytest.fixture
def ops(
    aws: FakeAws,  # noqa: F811 - the imported fixture
    mlflow_tracking_uri: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Ops]:
    for key, value in FAST_RETRIES.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_tracking_uri)
    monkeypatch.delenv("MLFLOW_CREDENTIALS_SECRET_ARN", raising=False)
    secrets.clear_cache()
    notify_services.clear_caches()
    models = Models(mlflow.MlflowClient(tracking_uri=mlflow_tracking_uri, registry_uri=mlflow_tracking_uri))
    model_name = models.new_model()

    with FakeSlack(channels=[CHANNEL]) as slack:
        token = aws.client("tooling", "secretsmanager").create_secret(Name="slack-bot-token", SecretString=TOKEN)
        for key, value in {
            "SLACK_BOT_TOKEN_SECRET_ARN": token["ARN"],
            "SLACK_CHANNEL_ID": CHANNEL,
            "SLACK_API_URL": slack.url,
            **SLACK_FAST,
        }.items():
            monkeypatch.setenv(key, value)
        _create_tooling_functions(aws)
        world = Ops(aws=aws, models=models, slack=slack, model_name=model_name)

        inference_invoke = lambda_simple.LambdaSimpleBackend.invoke

        def invoke(
            backend: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
        ) -> bytes:
            name = function_name.split(":")[6] if function_name.startswith("arn:") else function_name
            if backend.account_id != TOOLING or name not in HANDLERS:
                return inference_invoke(backend, function_name, qualifier, body, headers, response_headers)
            event = json.loads(body) if body else {}
            world.invoked.append((name, event))
            try:
                answer = HANDLERS[name](event, _context(name))
            except Exception as error:  # an unhandled error, as Lambda reports it
                response_headers["x-amz-function-error"] = "Unhandled"
                return json.dumps({"errorType": type(error).__name__, "errorMessage": str(error)}).encode()
            return json.dumps(answer).encode()

        monkeypatch.setattr(lambda_simple.LambdaSimpleBackend, "invoke", invoke)
        yield world
    secrets.clear_cache()
    notify_services.clear_caches()
