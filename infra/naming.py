"""Resource names and tags, in one place.

Names that another stack or account must predict (the deployer roles, the tooling deploy role) are built
here and nowhere else, so the tooling stack can name a stage/prod role ARN from an account ID without
reading that stack.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

REQUIRED_TAG_KEYS: tuple[str, ...] = ("project", "stack", "model", "managed-by")
MANAGED_BY = "pulumi"

# IAM role names are limited to 64 characters; "<project>-<model>-deployer" must fit.
IAM_ROLE_NAME_MAX = 64


def partition_for_region(region: str) -> str:
    """The ARN partition of a region (aws, aws-cn or aws-us-gov)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def prefix(project: str, model: str) -> str:
    """The prefix every physical name of this project and model starts with."""
    return f"{project}-{model}"


def deployer_role_name(project: str, model: str) -> str:
    """The role in a stage or prod account that the tooling deploy function assumes."""
    return f"{prefix(project, model)}-deployer"


def deploy_function_role_name(project: str, model: str) -> str:
    """The tooling deploy function's role. Fixed, because IAM pins trust policies to a role's unique ID."""
    return f"{prefix(project, model)}-deploy-function"


INFERENCE_ALIAS = "live"
# ECR tag prefixes the lifecycle policy never expires: the bootstrap image, and every image an environment runs.
BOOTSTRAP_TAG_PREFIX = "bootstrap"
LIVE_TAG_PREFIX = "live-"


def inference_function_name(project: str, model: str) -> str:
    """The inference function in stage and prod: the same name in both, so the deploy function can name it."""
    return f"{prefix(project, model)}-inference"


def model_repository_name(project: str, model: str) -> str:
    """The tooling account's ECR repository of model images."""
    return f"{project}/{model}"


def state_machine_name(project: str, model: str) -> str:
    """Fixed, so the functions that stop or answer its runs can name its ARN without a reference cycle."""
    return f"{prefix(project, model)}-pipeline"


def deploy_function_name(project: str, model: str) -> str:
    return f"{prefix(project, model)}-deploy"


def pipeline_dashboard_name(project: str, model: str) -> str:
    """The tooling account's CloudWatch dashboard of the pipeline."""
    return f"{prefix(project, model)}-pipeline"


def inference_dashboard_name(project: str, model: str) -> str:
    """The CloudWatch dashboard of alias live in stage and prod (one account each, so the same name)."""
    return f"{prefix(project, model)}-inference"


def inference_alarm_names(project: str, model: str) -> tuple[str, str]:
    """The errors and throttles alarms of alias ``live``, which the deploy reads during a canary."""
    function = inference_function_name(project, model)
    return f"{function}-errors", f"{function}-throttles"


def role_arn(partition: str, account_id: str, role_name: str) -> str:
    return f"arn:{partition}:iam::{account_id}:role/{role_name}"


def longest_role_name(project: str, model: str) -> str:
    """The longest deterministic role name, used to validate the model name's length."""
    return max(deployer_role_name(project, model), deploy_function_role_name(project, model), key=len)


def default_tags(project: str, stack: str, model: pulumi.Input[str]) -> Mapping[str, pulumi.Input[str]]:
    """Tags that every taggable resource carries, applied once through the AWS provider's default tags."""
    return {"project": project, "stack": stack, "model": model, "managed-by": MANAGED_BY}
