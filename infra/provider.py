"""The one AWS provider each stack creates: pinned to the configured account and region, carrying the
default tags. Every resource is created through it (the stack files also disable the default provider)."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra import naming
from infra.config import Target


def aws_provider(project: str, stack: str, target: Target, model: pulumi.Input[str]) -> aws.Provider:
    return aws.Provider(
        "aws",
        region=target.region,
        # Credentials for any other account make every operation fail, so a stage config can never be
        # applied to prod with the wrong profile.
        allowed_account_ids=[target.account_id],
        default_tags=aws.ProviderDefaultTagsArgs(tags=naming.default_tags(project, stack, model)),
    )


def resource_options(provider: aws.Provider) -> pulumi.ResourceOptions:
    """Options for top-level components: their children inherit the provider."""
    return pulumi.ResourceOptions(providers={"aws": provider})
