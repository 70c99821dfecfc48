"""The AWS side of the deploy function, and the only module that imports boto3.

``LambdaTarget`` reaches an environment's inference function through that account's deployer role (STS
AssumeRole, session name ``deploy-<environment>-<execution name>``), with Lambda and CloudWatch clients.
``EcrRegistry`` reads and tags model images in the tooling account with the function's own credentials.

Clients are created once per container: the tooling clients at first use, the assumed-role session and its
clients per (role, session name) for as long as the credentials have 15 minutes left, so the shift and the
promote of one execution reuse them when Lambda keeps the container warm.

Every call goes through ``_call``: throttling (``TooManyRequestsException``, ``ThrottlingException``) and
``ResourceConflictException`` (an update in progress) are retried with exponential backoff and jitter, up to
RETRY_MAX_ATTEMPTS; AccessDenied and a missing function, version or alias fail at once with a
``DeployTargetError`` naming the role and the resource. Underneath, botocore's standard retry mode (3 attempts)
retries transient network and 5xx errors and throttling with short delays; the Invoke client makes exactly one
attempt, so a smoke test never runs twice by accident.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ReadTimeoutError, WaiterError

from functions.common.logging import Logger
from functions.deploy.actions import LATEST, Alarm, AliasState, CodeUpdate, Invocation, VersionInfo
from functions.deploy.errors import (
    AliasChanged,
    ConcurrentDeploy,
    DeployConfigError,
    DeployInputError,
    DeployTargetError,
)
from functions.deploy.models import ALIAS, ImageRef, Settings, Target

RETRYABLE = frozenset(
    {
        "TooManyRequestsException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "ResourceConflictException",
    }
)
ACCESS_DENIED = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
    }
)
NOT_FOUND = "ResourceNotFoundException"
MAX_BACKOFF_SECONDS = 20.0
CREDENTIALS_MIN_REMAINING = timedelta(minutes=15)
# Ask ECR for the manifest as stored, whatever its type, so put_image re-tags exactly the same digest.
MANIFEST_MEDIA_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)

_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 3},
    connect_timeout=5,
    read_timeout=60,
    user_agent_extra="serverless-mlops-deploy",
)


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message", ""))


def _backoff(base: float, attempt: int) -> float:
    # Exponential, capped, with jitter so parallel executions do not retry in step. Not security-sensitive.
    return min(base * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS) * random.uniform(0.5, 1.0)  # noqa: S311


def _call(
    operation: Callable[..., Any],
    settings: Settings,
    log: Logger,
    on_error: Callable[[ClientError], None] | None = None,
    **kwargs: Any,
) -> Any:
    """Call ``operation(**kwargs)``, retrying RETRYABLE errors; ``on_error`` may raise a clearer error."""
    attempt = 1
    while True:
        try:
            return operation(**kwargs)
        except ClientError as error:
            code = _code(error)
            if code in RETRYABLE and attempt < settings.retry_max_attempts:
                delay = _backoff(settings.retry_base_delay, attempt)
                log.warning(
                    "retrying an AWS call", operation=error.operation_name, code=code, attempt=attempt, delay=delay
                )
                time.sleep(delay)
                attempt += 1
                continue
            if on_error is not None:
                on_error(error)
            raise


# ----------------------------------------------------------------------------------------------- clients


@functools.cache
def _base_session() -> boto3.session.Session:
    """The container's one boto3 session: its credentials are the function's own, and every client (own or
    assumed-role) shares its loaded service models."""
    return boto3.session.Session()


@functools.cache
def tooling_client(service: str) -> Any:
    """A client with the deploy function's own credentials (tooling account), one per container."""
    return _base_session().client(service, config=_CONFIG)


@dataclass
class _AssumedRole:
    credentials: Mapping[str, Any]
    expires: datetime
    clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str, region: str | None, config: Config) -> Any:
        return _base_session().client(
            service,
            region_name=region,
            aws_access_key_id=self.credentials["AccessKeyId"],
            aws_secret_access_key=self.credentials["SecretAccessKey"],
            aws_session_token=self.credentials["SessionToken"],
            config=config,
        )


_ASSUMED: dict[tuple[str, str], _AssumedRole] = {}


def clear_caches() -> None:
    """Forget every client and assumed-role session (tests use a fresh fake AWS each time)."""
    tooling_client.cache_clear()
    _base_session.cache_clear()
    _ASSUMED.clear()


def _assume(target: Target, session_name: str, settings: Settings, log: Logger) -> _AssumedRole:
    key = (target.role_arn, session_name)
    cached = _ASSUMED.get(key)
    if cached and cached.expires - datetime.now(UTC) > CREDENTIALS_MIN_REMAINING:
        return cached

    def explain(error: ClientError) -> None:
        if _code(error) in ACCESS_DENIED or _code(error) == "RegionDisabledException":
            raise DeployTargetError(
                f"{target.environment}: cannot assume {target.role_arn} ({_code(error)}: {_message(error)}). The "
                "role's trust policy must allow the deploy function's role, and that role needs sts:AssumeRole on it."
            ) from error

    sts = tooling_client("sts")
    response = _call(sts.assume_role, settings, log, explain, RoleArn=target.role_arn, RoleSessionName=session_name)
    credentials = response["Credentials"]
    expires = credentials["Expiration"]
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    assumed = _AssumedRole(credentials=credentials, expires=expires)
    _ASSUMED[key] = assumed
    log.info("assumed the deployer role", roleArn=target.role_arn, roleSessionName=session_name)
    return assumed


def _parse_time(value: Any) -> datetime | None:
    """Lambda's LastModified (``2025-01-31T12:00:00.000+0000``) as an aware datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# ------------------------------------------------------------------------------------ the target function


class LambdaTarget:
    """``actions.TargetFunction`` for one environment. The role is assumed at the first call, not before."""

    def __init__(self, target: Target, session_name: str, settings: Settings, log: Logger) -> None:
        self.target = target
        self.session_name = session_name
        self.settings = settings
        self.log = log
        self.function = target.function_name

    # -- plumbing

    def _client(self, name: str) -> Any:
        assumed = _assume(self.target, self.session_name, self.settings, self.log)
        if name not in assumed.clients:
            if name == "invoke":
                # One attempt only (a retried invocation would run the smoke test twice), and long enough a read
                # timeout for a cold start; a function that outlives it is reported as timed out.
                config = _CONFIG.merge(
                    Config(
                        retries={"mode": "standard", "total_max_attempts": 1},
                        read_timeout=self.settings.smoke_test_timeout,
                    )
                )
                assumed.clients[name] = assumed.client("lambda", self.settings.region, config)
            else:
                assumed.clients[name] = assumed.client(name, self.settings.region, _CONFIG)
        return assumed.clients[name]

    def _fail(self, code: str, message: str, action: str, resource: str) -> None:
        """Raise DeployTargetError for AccessDenied or a missing resource; return for anything else."""
        env, role = self.target.environment, self.target.role_arn
        if code in ACCESS_DENIED:
            raise DeployTargetError(
                f"{env}: {action} on {resource} was denied to role {role} ({code}: {message}); "
                "grant it in the deployer role's policy"
            )
        if code == NOT_FOUND:
            qualifier = resource.rsplit(":", 1)[-1] if ":" in resource else ""
            hint = (
                f"check the version number ({qualifier})"
                if qualifier.isdigit()
                else f"is the {env} stack deployed, and is DEPLOY_TARGETS.{env}.functionName right?"
            )
            raise DeployTargetError(f"{env}: {resource} not found in account {self.target.account} ({message}); {hint}")
        return None

    def _lambda(self, operation: str, qualifier: str | None = None, client: str = "lambda", **kwargs: Any) -> Any:
        resource = self.function if qualifier in (None, LATEST) else f"{self.function}:{qualifier}"
        method = getattr(self._client(client), _snake(operation))
        action = "lambda:InvokeFunction" if operation == "Invoke" else f"lambda:{operation}"

        def explain(error: ClientError) -> None:
            self._fail(_code(error), _message(error), action, resource)

        return _call(method, self.settings, self.log, explain, **kwargs)

    def _wait(self, waiter_name: str, qualifier: str | None = None) -> None:
        kwargs: dict[str, Any] = {"FunctionName": self.function}
        if qualifier not in (None, LATEST):
            kwargs["Qualifier"] = qualifier
        config = {"Delay": self.settings.waiter_delay, "MaxAttempts": self.settings.waiter_max_attempts}
        waiter = self._client("lambda").get_waiter(waiter_name)
        attempt = 1
        while True:
            try:
                waiter.wait(**kwargs, WaiterConfig=config)
                return
            except WaiterError as error:
                last = (error.last_response or {}).get("Error") or {}
                code, message = str(last.get("Code", "")), str(last.get("Message", ""))
                if code in RETRYABLE and attempt < self.settings.retry_max_attempts:
                    time.sleep(_backoff(self.settings.retry_base_delay, attempt))
                    attempt += 1
                    continue
                resource = f"{self.function}:{qualifier}" if "Qualifier" in kwargs else self.function
                self._fail(code, message, "lambda:GetFunction", resource)
                # The caller reads the state again and reports it; this only records why the wait ended.
                self.log.warning("waiter stopped", waiter=waiter_name, qualifier=qualifier, reason=str(error))
                return

    @staticmethod
    def _qualified(qualifier: str) -> dict[str, str]:
        return {} if qualifier == LATEST else {"Qualifier": qualifier}

    # -- actions.TargetFunction

    def get_alias(self) -> AliasState:
        response = self._lambda("GetAlias", ALIAS, FunctionName=self.function, Name=ALIAS)
        weights = (response.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        return AliasState(
            function_version=str(response["FunctionVersion"]),
            weights={str(version): float(weight) for version, weight in weights.items()},
            revision_id=response.get("RevisionId"),
        )

    def get_version(self, qualifier: str) -> VersionInfo:
        response = self._lambda("GetFunction", qualifier, FunctionName=self.function, **self._qualified(qualifier))
        configuration, code = response.get("Configuration", {}), response.get("Code", {})
        return VersionInfo(
            version=str(configuration.get("Version", qualifier)),
            description=configuration.get("Description") or "",
            image_uri=code.get("ImageUri"),
            resolved_image_uri=code.get("ResolvedImageUri"),
            state=configuration.get("State"),
            state_reason=configuration.get("StateReason"),
            last_modified=_parse_time(configuration.get("LastModified")),
        )

    def update_code(self, image_uri: str) -> CodeUpdate:
        response = self._lambda("UpdateFunctionCode", FunctionName=self.function, ImageUri=image_uri)
        self._wait("function_updated_v2")
        # Read the settled configuration: its RevisionId is the one PublishVersion must match.
        configuration = self._lambda("GetFunctionConfiguration", FunctionName=self.function)
        return CodeUpdate(
            code_sha256=response["CodeSha256"],
            revision_id=configuration.get("RevisionId"),
            status=configuration.get("LastUpdateStatus"),
            reason=configuration.get("LastUpdateStatusReason"),
            reason_code=configuration.get("LastUpdateStatusReasonCode"),
        )

    def publish_version(self, description: str, code_sha256: str, revision_id: str | None) -> str:
        kwargs: dict[str, Any] = {"FunctionName": self.function, "Description": description, "CodeSha256": code_sha256}
        if revision_id:
            kwargs["RevisionId"] = revision_id
        try:
            response = self._lambda("PublishVersion", **kwargs)
        except ClientError as error:
            code, message = _code(error), _message(error)
            if code == "PreconditionFailedException" or (
                code == "InvalidParameterValueException" and "sha256" in message.lower()
            ):
                raise ConcurrentDeploy(
                    f"{self.target.environment}: {self.function} $LATEST changed between our code update and "
                    f"publishing ({code}: {message}); another deploy is probably running. Nothing was published."
                ) from error
            raise
        return str(response["Version"])

    def wait_published(self, version: str) -> None:
        self._wait("published_version_active", version)

    def wait_active(self, qualifier: str) -> None:
        self._wait("function_active_v2", qualifier)

    def wake(self, qualifier: str, payload: bytes) -> None:
        """One invocation that makes Lambda restore an Inactive function; its failure is expected."""
        try:
            self._lambda(
                "Invoke",
                qualifier,
                client="invoke",
                FunctionName=self.function,
                Payload=payload,
                **self._qualified(qualifier),
            )
        except ClientError as error:
            self.log.info("wake-up invocation answered", qualifier=qualifier, code=_code(error))
        except ReadTimeoutError:
            self.log.info("wake-up invocation timed out", qualifier=qualifier)

    def invoke(self, qualifier: str, payload: bytes) -> Invocation:
        try:
            response = self._lambda(
                "Invoke",
                qualifier,
                client="invoke",
                FunctionName=self.function,
                InvocationType="RequestResponse",
                Payload=payload,
                **self._qualified(qualifier),
            )
        except ReadTimeoutError:
            return Invocation(client_timeout=self.settings.smoke_test_timeout)
        except ClientError as error:
            return Invocation(error_code=_code(error), error_message=_message(error))
        return Invocation(
            status_code=response.get("StatusCode"),
            function_error=response.get("FunctionError"),
            payload=response["Payload"].read(),
        )

    def update_alias(self, function_version: str, weights: Mapping[str, float], revision_id: str | None) -> None:
        kwargs: dict[str, Any] = {
            "FunctionName": self.function,
            "Name": ALIAS,
            "FunctionVersion": function_version,
            "RoutingConfig": {"AdditionalVersionWeights": dict(weights)},
        }
        if revision_id:
            kwargs["RevisionId"] = revision_id
        try:
            self._lambda("UpdateAlias", ALIAS, **kwargs)
        except ClientError as error:
            if _code(error) == "PreconditionFailedException":
                raise AliasChanged(
                    f"{self.target.environment}: alias {ALIAS} of {self.function} changed after it was read (its "
                    f"RevisionId no longer matches: {_message(error)}); someone else moved it, so this step left "
                    "it alone. Read the alias and run the step again if it still applies."
                ) from error
            raise

    def describe_alarms(self, names: Sequence[str]) -> list[Alarm]:
        cloudwatch = self._client("cloudwatch")
        resource = f"alarm(s) {', '.join(names)}"

        def explain(error: ClientError) -> None:
            self._fail(_code(error), _message(error), "cloudwatch:DescribeAlarms", resource)

        alarms: list[Alarm] = []
        kwargs: dict[str, Any] = {"AlarmNames": list(names), "AlarmTypes": ["MetricAlarm", "CompositeAlarm"]}
        while True:
            response = _call(cloudwatch.describe_alarms, self.settings, self.log, explain, **kwargs)
            for alarm in [*response.get("MetricAlarms", []), *response.get("CompositeAlarms", [])]:
                alarms.append(Alarm(alarm["AlarmName"], alarm.get("StateValue", ""), alarm.get("StateReason", "")))
            if not response.get("NextToken"):
                return alarms
            kwargs["NextToken"] = response["NextToken"]

    def sum_errors(self, version: str, start: datetime, end: datetime) -> float:
        """The ``Errors`` of ``version`` behind alias ``live`` (dimensions FunctionName, Resource, ExecutedVersion)."""
        cloudwatch = self._client("cloudwatch")

        def explain(error: ClientError) -> None:
            self._fail(_code(error), _message(error), "cloudwatch:GetMetricData", "AWS/Lambda metrics")

        dimensions = [
            {"Name": "FunctionName", "Value": self.function},
            {"Name": "Resource", "Value": f"{self.function}:{ALIAS}"},
            {"Name": "ExecutedVersion", "Value": version},
        ]
        query = {
            "Id": "errors",
            "MetricStat": {
                "Metric": {"Namespace": "AWS/Lambda", "MetricName": "Errors", "Dimensions": dimensions},
                "Period": 60,
                "Stat": "Sum",
            },
            "ReturnData": True,
        }
        kwargs: dict[str, Any] = {
            "MetricDataQueries": [query],
            "StartTime": start.replace(second=0, microsecond=0),
            "EndTime": end.replace(second=0, microsecond=0) + timedelta(minutes=1),
        }
        total = 0.0
        while True:
            response = _call(cloudwatch.get_metric_data, self.settings, self.log, explain, **kwargs)
            for result in response.get("MetricDataResults", []):
                total += sum(float(value) for value in result.get("Values", []))
            if not response.get("NextToken"):
                return total
            kwargs["NextToken"] = response["NextToken"]


def _snake(operation: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")


# ---------------------------------------------------------------------------------------- the image registry


class EcrRegistry:
    """``actions.ImageRegistry``: the model repository, with the deploy function's own credentials."""

    def __init__(self, settings: Settings, log: Logger) -> None:
        self.settings = settings
        self.log = log

    def _ecr(self, operation: str, image: ImageRef, **kwargs: Any) -> Any:
        ecr = tooling_client("ecr")

        def explain(error: ClientError) -> None:
            code, message = _code(error), _message(error)
            if code in ACCESS_DENIED:
                raise DeployTargetError(
                    f"ecr:{operation} on repository {image.repository} (account {image.account}) was denied to the "
                    f"deploy function's role ({message}); grant it in that role's policy"
                ) from error
            if code == "RepositoryNotFoundException":
                raise DeployConfigError(
                    f"MODEL_REPOSITORY_NAME: repository {image.repository} not found in account {image.account}"
                ) from error
            if code == "ImageNotFoundException" and "imageDigest" in str(kwargs.get("imageIds")):
                raise DeployInputError(
                    f"imageUri: {image.digest} not found in {image.repository} (account {image.account}); "
                    "push the image first or check the digest"
                ) from error

        method = getattr(ecr, _snake(operation))
        return _call(
            method,
            self.settings,
            self.log,
            explain,
            repositoryName=image.repository,
            registryId=image.account,
            **kwargs,
        )

    def manifest_media_type(self, image: ImageRef) -> str:
        response = self._ecr("DescribeImages", image, imageIds=[{"imageDigest": image.digest}])
        details = response.get("imageDetails") or []
        if not details:
            raise DeployInputError(f"imageUri: {image.digest} not found in {image.repository}")
        return str(details[0].get("imageManifestMediaType") or "")

    def protect(self, image: ImageRef, tag: str) -> str:
        """Add ``tag`` to the image (same manifest, same digest). The repository's tags are immutable: the tag
        already on this digest is success; on another digest (a function recreated, versions counting again),
        the tag gets the digest's first 12 hex digits appended, still under the protected prefix."""
        response = self._ecr(
            "BatchGetImage",
            image,
            imageIds=[{"imageDigest": image.digest}],
            acceptedMediaTypes=list(MANIFEST_MEDIA_TYPES),
        )
        images = response.get("images") or []
        if not images:
            failures = "; ".join(
                f"{f.get('failureCode')}: {f.get('failureReason')}" for f in response.get("failures", [])
            )
            raise DeployInputError(f"imageUri: {image.digest} cannot be read from {image.repository} ({failures})")
        manifest = images[0]
        for candidate in (tag, f"{tag}-{image.digest.removeprefix('sha256:')[:12]}"):
            kwargs: dict[str, Any] = {
                "imageManifest": manifest["imageManifest"],
                "imageTag": candidate,
                "imageDigest": image.digest,
            }
            if manifest.get("imageManifestMediaType"):
                kwargs["imageManifestMediaType"] = manifest["imageManifestMediaType"]
            try:
                self._ecr("PutImage", image, **kwargs)
                return candidate
            except ClientError as error:
                code = _code(error)
                if code == "ImageAlreadyExistsException":
                    return candidate
                if code != "ImageTagAlreadyExistsException":
                    raise
                owner = self._ecr("DescribeImages", image, imageIds=[{"imageTag": candidate}])["imageDetails"][0]
                if owner.get("imageDigest") == image.digest:
                    return candidate
                self.log.warning("tag already names another image", tag=candidate, other=owner.get("imageDigest"))
        raise DeployTargetError(
            f"ECR: tags {tag} and its digest-suffixed form both name other images in {image.repository}"
        )


def connect(target: Target, session_name: str, settings: Settings, log: Logger) -> tuple[LambdaTarget, EcrRegistry]:
    """The two ports an action works through, for one environment."""
    return LambdaTarget(target, session_name, settings, log), EcrRegistry(settings, log)
