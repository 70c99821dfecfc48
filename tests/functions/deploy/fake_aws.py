"""A fake three-account AWS for the deploy function: moto, plus what moto lacks, patched in one place.

Accounts: tooling 111111111111 (the deploy function's credentials, the model image repository), stage
222222222222 and prod 333333333333, each with the image-package inference function, alias ``live`` on version 1
(the stack's bootstrap image, deployed by tag) and the two alarms of alias ``live``. moto's STS AssumeRole into
another account ID returns credentials scoped to that account, so the deploy function really crosses accounts.

What moto 5.2 does not do, and how it is faked here (each is a class attribute patched for one test):

- Invoke ignores its ``Qualifier`` (moto reads ``qualifier``) and runs no code without Docker: the query
  parameter is passed on, and ``LambdaSimpleBackend.invoke`` dispatches to ``FakeInference``, which
  answers through the real ``seed_code/inference.handle`` (request parsing and response shape) with a stub
  model, or fails the way the image's ``behaviour`` says (function error, timeout, bad body, wrong model).
- Published versions share ``$LATEST``'s code dict, so updating ``$LATEST`` rewrote the image of every older
  version: ``LambdaFunction._set_function_code`` copies the dict before an update.
- ``LastUpdateStatus`` is always Successful: an image with behaviour ``update_fails`` leaves the old code and
  reports Failed with a reason, as Lambda does.
- Alias RevisionId is neither enforced nor changed: ``LambdaResponse.update_alias`` checks it (412
  ``PreconditionFailedException``) and issues a new one on every change.
- Inactive functions: a test sets a version's state to Inactive; the first invocation then fails with
  ``ResourceNotReadyException`` and the version becomes Active again.
- Error injection: ``fail_next`` makes the next call(s) of a backend method raise an exact AWS error code;
  ``deny_assume`` makes AssumeRole of a role answer AccessDenied (moto evaluates no trust policy).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from urllib.parse import unquote
from uuid import uuid4

import boto3
import inference  # seed_code/inference.py (on sys.path through tests/conftest.py): the real request contract
import moto.awslambda.models as lambda_models
import moto.awslambda.responses as lambda_responses
import moto.awslambda_simple.models as lambda_simple
import moto.sts.models as sts_models
import pytest
from botocore.exceptions import ReadTimeoutError
from moto.awslambda.exceptions import LambdaClientError, PreconditionFailedException
from moto.awslambda.utils import get_backend
from moto.sts.exceptions import STSClientError

from functions.deploy import handler as deploy_handler
from functions.deploy.models import digest_of

REGION = "eu-west-1"
TOOLING, STAGE, PROD = "111111111111", "222222222222", "333333333333"
ACCOUNTS = {"stage": STAGE, "prod": PROD}
REPOSITORY = "serverless-mlops/delivery-time"  # the tooling stack names it <project>/<model>
FUNCTION = "serverless-mlops-delivery-time-inference"
DEPLOYER_ROLE = "serverless-mlops-delivery-time-deployer"
DEPLOY_FUNCTION = "serverless-mlops-delivery-time-deploy"
ALARMS = (f"{FUNCTION}-errors", f"{FUNCTION}-throttles")
STATE_MACHINE = "serverless-mlops-delivery-time-pipeline"
COMMIT = "3f2c1a9e8b7d6c5b4a39281706f5e4d3c2b1a098"
BOOTSTRAP_URI = f"{TOOLING}.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}:bootstrap"


def deployer_role_arn(environment: str) -> str:
    return f"arn:aws:iam::{ACCOUNTS[environment]}:role/{DEPLOYER_ROLE}"


def execution_arn(name: str) -> str:
    return f"arn:aws:states:{REGION}:{TOOLING}:execution:{STATE_MACHINE}:{name}"


@dataclass
class FakeImage:
    """An image pushed to the tooling repository, and what it does when Lambda runs it."""

    uri: str
    digest: str
    model_version: str
    behaviour: str = "ok"  # ok | crash | timeout | read_timeout | bad_body | wrong_model | update_fails


@dataclass
class Call:
    account: str
    function: str
    qualifier: str | None
    payload: Any


class _StubModel:
    """Stands in for ``inference.Predictor``: the real handler parses the request and shapes the answer."""

    max_batch_size = 500

    def __init__(self, version: str, prediction: float) -> None:
        self.version = version
        self.prediction = prediction

    def predict(self, rows: list[list[float]]) -> list[float]:
        return [self.prediction for _ in rows]


class _ResourceNotReady(LambdaClientError):
    code = 502

    def __init__(self, arn: str) -> None:
        super().__init__(
            "ResourceNotReadyException",
            f"The function {arn} is inactive; Lambda is restoring it. Retry once it is Active.",
        )


class AwsError(LambdaClientError):
    """An error with an exact AWS code and HTTP status, raised from a moto backend method."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(code, message)
        self.code = status


@dataclass
class FakeInference:
    images: dict[str, FakeImage] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    on_invoke: Callable[[Call], None] | None = None  # runs during an invocation (e.g. a concurrent change)

    def invoke(
        self, backend: Any, function_name: str, qualifier: str | None, body: Any, response_headers: Any
    ) -> bytes:
        function = backend.get_function(function_name, qualifier)
        payload = json.loads(body) if body else {}
        call = Call(backend.account_id, function.function_name, qualifier, payload)
        self.calls.append(call)
        if self.on_invoke is not None:
            self.on_invoke(call)
        if function.state == "Inactive":
            function.state = "Active"  # Lambda refuses this call and restores the function (Pending, then Active)
            raise _ResourceNotReady(function.function_arn)
        image = self.images.get(digest_of(function.code.get("ImageUri")) or "")
        behaviour, model_version = (image.behaviour, image.model_version) if image else ("ok", "bootstrap")
        if behaviour == "read_timeout":
            raise ReadTimeoutError(endpoint_url=f"https://lambda.{REGION}.amazonaws.com")
        if behaviour == "timeout":
            response_headers["x-amz-function-error"] = "Unhandled"
            message = "2025-01-31T12:00:00.000Z 6d1f5c8e Task timed out after 30.00 seconds"
            return json.dumps({"errorMessage": message}).encode()
        if behaviour == "bad_body":
            return json.dumps({"statusCode": 200, "body": {"predictions": [23.8]}}).encode()
        version = str(int(model_version) - 1) if behaviour == "wrong_model" else model_version
        model = _StubModel(version, math.nan if behaviour == "crash" else 23.8)
        try:
            answer = inference.handle(payload, model)  # type: ignore[arg-type]
        except Exception as error:  # an unhandled error in the function, as Lambda reports it
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorMessage": str(error), "errorType": type(error).__name__}).encode()
        return json.dumps(answer).encode()


class FakeAws:
    """The three accounts, their clients, and the knobs tests turn."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.inference = FakeInference()
        self.denied_roles: set[str] = set()
        self.assumed: list[tuple[str, str]] = []  # (role ARN, session name) of every AssumeRole
        self.failures: dict[str, list[Exception]] = {}
        self._counter = itertools.count(1)
        self._patch_moto()
        # One boto3 session shares the loaded service models between every client the tests create.
        self._boto = boto3.Session(region_name=REGION)
        self._clients: dict[tuple[str, str], Any] = {}
        self._credentials = {env: self._assume(account) for env, account in ACCOUNTS.items()}
        self._credentials["tooling"] = self._assume(TOOLING, "serverless-mlops-delivery-time-deploy-function")
        self.ecr = self.client("tooling", "ecr")

    # ------------------------------------------------------------------------------------------ set-up

    def _assume(self, account: str, role: str = "admin") -> dict[str, str]:
        sts = self._boto.client("sts")
        response = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="test-setup")
        return response["Credentials"]

    def setup(self) -> None:
        # The deploy function runs with its own role's credentials in the tooling account, as in Lambda.
        credentials = self._credentials["tooling"]
        for name, key in (
            ("AWS_ACCESS_KEY_ID", "AccessKeyId"),
            ("AWS_SECRET_ACCESS_KEY", "SecretAccessKey"),
            ("AWS_SESSION_TOKEN", "SessionToken"),
        ):
            self.monkeypatch.setenv(name, credentials[key])
        self.ecr.create_repository(repositoryName=REPOSITORY, imageTagMutability="IMMUTABLE")
        for environment in ACCOUNTS:
            self.create_inference_function(environment)
        self.assumed.clear()  # only the deploy function's own AssumeRole calls count

    def create_inference_function(self, environment: str) -> None:
        role = self.client(environment, "iam").create_role(
            RoleName=f"{FUNCTION}-role",
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        )["Role"]["Arn"]
        client = self.client(environment)
        client.create_function(
            FunctionName=FUNCTION,
            Role=role,
            PackageType="Image",
            Code={"ImageUri": BOOTSTRAP_URI},
            Architectures=["arm64"],
            Timeout=30,
            MemorySize=1024,
        )
        client.publish_version(FunctionName=FUNCTION, Description="bootstrap image (managed by Pulumi)")
        client.create_alias(FunctionName=FUNCTION, Name="live", FunctionVersion="1")
        cloudwatch = self.client(environment, "cloudwatch")
        for name, metric in zip(ALARMS, ("Errors", "Throttles"), strict=True):
            cloudwatch.put_metric_alarm(
                AlarmName=name,
                Namespace="AWS/Lambda",
                MetricName=metric,
                Dimensions=[
                    {"Name": "FunctionName", "Value": FUNCTION},
                    {"Name": "Resource", "Value": f"{FUNCTION}:live"},
                ],
                Statistic="Sum",
                Period=60,
                EvaluationPeriods=1,
                Threshold=0,
                ComparisonOperator="GreaterThanThreshold",
                TreatMissingData="notBreaching",
            )

    def push_image(self, model_version: str, behaviour: str = "ok") -> FakeImage:
        """Push a single-platform OCI image, as the build does with --provenance=false --sbom=false."""
        n = next(self._counter)
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "size": 1469,
                "digest": f"sha256:{n:064x}",
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "size": 1024 * n,
                    "digest": f"sha256:{n + 1:064x}",
                }
            ],
        }
        response = self.ecr.put_image(
            repositoryName=REPOSITORY,
            imageManifest=json.dumps(manifest),
            imageManifestMediaType=manifest["mediaType"],
            imageTag=f"model-{model_version}-build-{n}",
        )
        digest = response["image"]["imageId"]["imageDigest"]
        image = FakeImage(
            f"{TOOLING}.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}@{digest}", digest, model_version, behaviour
        )
        self.inference.images[digest] = image
        return image

    def push_index(self, model_version: str) -> FakeImage:
        """A multi-platform build (or one with attestations): an OCI image index, which Lambda cannot run."""
        child = self.push_image(model_version)
        index = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": child.digest,
                    "size": 500,
                    "platform": {"architecture": "arm64", "os": "linux"},
                }
            ],
        }
        response = self.ecr.put_image(
            repositoryName=REPOSITORY,
            imageManifest=json.dumps(index),
            imageManifestMediaType=index["mediaType"],
            imageTag=f"model-{model_version}-index",
        )
        digest = response["image"]["imageId"]["imageDigest"]
        return FakeImage(f"{TOOLING}.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}@{digest}", digest, model_version)

    # ------------------------------------------------------------------------------------ what users check

    def client(self, account: str, service: str = "lambda") -> Any:
        """A client with administrator credentials in ``account`` (stage, prod or tooling)."""
        key = (account, service)
        if key not in self._clients:
            credentials = self._credentials[account]
            self._clients[key] = self._boto.client(
                service,
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials["SessionToken"],
            )
        return self._clients[key]

    def alias(self, environment: str) -> dict[str, Any]:
        alias = self.client(environment).get_alias(FunctionName=FUNCTION, Name="live")
        weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        return {"version": alias["FunctionVersion"], "weights": weights, "revision": alias["RevisionId"]}

    def versions(self, environment: str) -> dict[str, str]:
        """Published version -> description."""
        listed = self.client(environment).list_versions_by_function(FunctionName=FUNCTION)["Versions"]
        return {v["Version"]: v.get("Description", "") for v in listed if v["Version"] != "$LATEST"}

    def image_of(self, environment: str, qualifier: str) -> str:
        return self.client(environment).get_function(FunctionName=FUNCTION, Qualifier=qualifier)["Code"]["ImageUri"]

    def tags(self, image: FakeImage) -> list[str]:
        details = self.ecr.describe_images(repositoryName=REPOSITORY, imageIds=[{"imageDigest": image.digest}])
        return sorted(details["imageDetails"][0].get("imageTags", []))

    def live_tags(self) -> list[str]:
        details = self.ecr.describe_images(repositoryName=REPOSITORY)["imageDetails"]
        return sorted(tag for d in details for tag in d.get("imageTags", []) if tag.startswith("live-"))

    def smoke_calls(self, environment: str) -> list[Call]:
        return [c for c in self.inference.calls if c.account == ACCOUNTS[environment]]

    # ------------------------------------------------------------------------------------------- knobs

    def set_state(self, environment: str, qualifier: str | None, state: str) -> None:
        get_backend(ACCOUNTS[environment], REGION).get_function(FUNCTION, qualifier).state = state

    def set_alarm(self, environment: str, name: str, state: str = "ALARM") -> None:
        self.client(environment, "cloudwatch").set_alarm_state(
            AlarmName=name, StateValue=state, StateReason="Threshold Crossed: 1 datapoint [3.0] was > 0.0"
        )

    def put_errors(self, environment: str, version: str, count: float) -> None:
        dimensions = [
            {"Name": "FunctionName", "Value": FUNCTION},
            {"Name": "Resource", "Value": f"{FUNCTION}:live"},
            {"Name": "ExecutedVersion", "Value": version},
        ]
        self.client(environment, "cloudwatch").put_metric_data(
            Namespace="AWS/Lambda", MetricData=[{"MetricName": "Errors", "Dimensions": dimensions, "Value": count}]
        )

    def fail_next(self, method: str, *errors: Exception) -> None:
        """The next call(s) of ``LambdaBackend.<method>`` raise these errors, in order."""
        self.failures.setdefault(method, []).extend(errors)

    def deny_assume(self, environment: str) -> None:
        self.denied_roles.add(deployer_role_arn(environment))

    # ------------------------------------------------------------------------------------------ running

    def event(self, action: str, environment: str, image: FakeImage | None = None, **fields: Any) -> dict[str, Any]:
        event: dict[str, Any] = {"action": action, "environment": environment}
        if image is not None:
            event.update(imageUri=image.uri, modelVersion=image.model_version, commit=COMMIT)
        event["executionId"] = execution_arn(f"run-{image.model_version if image else 'manual'}")
        event.update(fields)
        return {key: value for key, value in event.items() if value is not None}

    def run(self, action: str, environment: str, image: FakeImage | None = None, **fields: Any) -> dict[str, Any]:
        return self.call(self.event(action, environment, image, **fields))

    @staticmethod
    def call(event: Any) -> dict[str, Any]:
        context = SimpleNamespace(
            aws_request_id="c0ffee00-0000-4000-8000-000000000001",
            function_name=DEPLOY_FUNCTION,
            invoked_function_arn=f"arn:aws:lambda:{REGION}:{TOOLING}:function:{DEPLOY_FUNCTION}",
        )
        return deploy_handler.handler(event, context)

    # ------------------------------------------------------------------------------------ moto patches

    def _patch_moto(self) -> None:
        fake, patch = self, self.monkeypatch.setattr

        def invoke(
            backend: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
        ) -> bytes:
            fake._raise_injected("invoke")
            return fake.inference.invoke(backend, function_name, qualifier, body, response_headers)

        patch(lambda_simple.LambdaSimpleBackend, "invoke", invoke)

        original_invoke_response = lambda_responses.LambdaResponse.invoke

        def invoke_response(response: Any) -> Any:
            # moto reads the query parameter "qualifier", botocore sends "Qualifier": without this every
            # invocation would run $LATEST instead of the version asked for.
            if "Qualifier" in response.querystring:
                response.querystring.setdefault("qualifier", response.querystring["Qualifier"])
            return original_invoke_response(response)

        patch(lambda_responses.LambdaResponse, "invoke", invoke_response)

        original_set_code = lambda_models.LambdaFunction._set_function_code

        def set_function_code(function: Any, updated_spec: dict[str, Any]) -> None:
            if updated_spec is not function.code:  # an update, not the creation
                image = fake.inference.images.get(digest_of(updated_spec.get("ImageUri")) or "")
                if image is not None and image.behaviour == "update_fails":
                    function.fake_update_failure = (
                        "Lambda does not have permission to access the ECR image. Check the ECR permissions.",
                        "ImageAccessDenied",
                    )
                    return  # Lambda abandons the update: the previous code stays
                function.fake_update_failure = None
                function.code = dict(function.code)  # stop sharing the dict with published versions
            original_set_code(function, updated_spec)

        patch(lambda_models.LambdaFunction, "_set_function_code", set_function_code)

        original_configuration = lambda_models.LambdaFunction.get_configuration

        def get_configuration(function: Any, on_create: bool = False) -> dict[str, Any]:
            configuration = original_configuration(function, on_create)
            failure = getattr(function, "fake_update_failure", None)
            if failure and not on_create:
                configuration.update(
                    LastUpdateStatus="Failed", LastUpdateStatusReason=failure[0], LastUpdateStatusReasonCode=failure[1]
                )
            return configuration

        patch(lambda_models.LambdaFunction, "get_configuration", get_configuration)

        def update_alias(response: Any) -> tuple[int, dict[str, Any], str]:
            function_name = unquote(response.path.rsplit("/")[-3])
            alias_name = unquote(response.path.rsplit("/", 2)[-1])
            params = json.loads(response.body)
            alias = response.backend.get_alias(alias_name, function_name)
            if params.get("RevisionId") not in (None, alias.revision_id):
                raise PreconditionFailedException(
                    "The Revision Id provided does not match the latest Revision Id. "
                    "Call the GetAlias API to retrieve the latest Revision Id"
                )
            alias = response.backend.update_alias(
                name=alias_name,
                function_name=function_name,
                function_version=params.get("FunctionVersion"),
                description=params.get("Description"),
                routing_config=params.get("RoutingConfig"),
            )
            alias.revision_id = str(uuid4())
            return 200, {"status": 200}, json.dumps(alias.to_json())

        patch(lambda_responses.LambdaResponse, "update_alias", update_alias)

        for method in ("update_function_code", "publish_version", "update_alias", "get_alias"):
            patch(lambda_simple.LambdaSimpleBackend, method, self._injecting(method))

        original_assume = sts_models.STSBackend.assume_role

        def assume_role(backend: Any, **kwargs: Any) -> Any:
            fake.assumed.append((kwargs.get("role_arn", ""), kwargs.get("role_session_name", "")))
            if kwargs.get("role_arn") in fake.denied_roles:
                raise STSClientError(
                    "AccessDenied",
                    f"User: arn:aws:sts::{TOOLING}:assumed-role/serverless-mlops-delivery-time-deploy-function/x is "
                    f"not authorized to perform: sts:AssumeRole on resource: {kwargs.get('role_arn')}",
                )
            return original_assume(backend, **kwargs)

        patch(sts_models.STSBackend, "assume_role", assume_role)

    def _injecting(self, method: str) -> Callable[..., Any]:
        original = getattr(lambda_models.LambdaBackend, method)
        fake = self

        def wrapper(backend: Any, *args: Any, **kwargs: Any) -> Any:
            fake._raise_injected(method)
            return original(backend, *args, **kwargs)

        return wrapper

    def _raise_injected(self, method: str) -> None:
        queue = self.failures.get(method)
        if queue:
            raise queue.pop(0)
