"""The data scientist's repository (CodeCommit) and the rule that turns a push to ``main`` into a pipeline run."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class SourceRepoArgs:
    repository_name: str
    branch: str = "main"


def push_pattern(repository_arn: pulumi.Input[str], branch: str) -> dict[str, object]:
    """EventBridge pattern: a push that creates or moves ``branch`` of this repository, and nothing else.

    The first push of ``main`` sends ``referenceCreated``, later ones ``referenceUpdated``; other branches,
    tags (``referenceType: tag``) and deletions (``referenceDeleted``) do not match.
    """
    return {
        "source": ["aws.codecommit"],
        "detail-type": ["CodeCommit Repository State Change"],
        "resources": [repository_arn],
        "detail": {
            "event": ["referenceCreated", "referenceUpdated"],
            "referenceType": ["branch"],
            "referenceName": [branch],
        },
    }


class SourceRepo(pulumi.ComponentResource):
    repository: aws.codecommit.Repository
    push_rule: aws.cloudwatch.EventRule

    def __init__(self, name: str, args: SourceRepoArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("serverless-mlops:source:SourceRepo", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.repository = aws.codecommit.Repository(
            f"{name}-repository",
            repository_name=args.repository_name,
            description="Model code: a push to main trains, registers and deploys the model",
            opts=child,
        )
        # Its target, the pipeline's start function, is attached by the pipeline component.
        self.push_rule = aws.cloudwatch.EventRule(
            f"{name}-push-to-{args.branch}",
            description=f"A push to {args.branch} of {args.repository_name} starts the pipeline",
            event_pattern=pulumi.Output.json_dumps(push_pattern(self.repository.arn, args.branch)),
            opts=child,
        )
        self.register_outputs(
            {
                "cloneUrlHttp": self.repository.clone_url_http,
                "repositoryArn": self.repository.arn,
                "pushRuleArn": self.push_rule.arn,
            }
        )
