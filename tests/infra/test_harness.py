"""The mocks answer like AWS: ARNs in each service's documented format, policy documents rendered as JSON."""

from __future__ import annotations

import json

import pytest

from tests.infra.harness import REGION, mock_arn, render_policy_document

ACCOUNT = "111111111111"


@pytest.mark.parametrize(
    ("type_", "expected"),
    [
        ("aws:iam/role:Role", f"arn:aws:iam::{ACCOUNT}:role/r"),
        ("aws:s3/bucket:Bucket", "arn:aws:s3:::r"),
        ("aws:cloudwatch/logGroup:LogGroup", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:r"),
        ("aws:lambda/function:Function", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:r"),
        ("aws:ecr/repository:Repository", f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/r"),
        ("aws:sfn/stateMachine:StateMachine", f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:r"),
        ("aws:apigatewayv2/api:Api", f"arn:aws:apigatewayv2:{REGION}:{ACCOUNT}:api/r"),
    ],
)
def test_mock_arns_follow_each_service_format(type_, expected):
    assert mock_arn(type_, "r", ACCOUNT) == expected


def test_policy_documents_render_like_the_provider():
    rendered = json.loads(
        render_policy_document(
            {
                "statements": [
                    {
                        "sid": "Pull",
                        "actions": ["ecr:BatchGetImage"],
                        "resources": ["arn:aws:ecr:eu-west-1:111111111111:repository/models"],
                        "principals": [{"type": "AWS", "identifiers": ["arn:aws:iam::222222222222:root"]}],
                        "conditions": [
                            {"test": "StringLike", "variable": "aws:sourceArn", "values": ["arn:aws:lambda:*"]}
                        ],
                    }
                ],
            }
        )
    )
    assert rendered == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Sid": "Pull",
                "Action": ["ecr:BatchGetImage"],
                "Resource": ["arn:aws:ecr:eu-west-1:111111111111:repository/models"],
                "Principal": {"AWS": ["arn:aws:iam::222222222222:root"]},
                "Condition": {"StringLike": {"aws:sourceArn": ["arn:aws:lambda:*"]}},
            }
        ],
    }


def test_a_component_can_be_evaluated_on_its_own():
    import pulumi_aws as aws

    from tests.infra.harness import run_stack

    run = run_stack("tooling", program=lambda: aws.sns.Topic("alone", name="alone"))
    [topic] = run.resources
    assert topic.type == "aws:sns/topic:Topic" and topic.inputs == {"name": "alone"}
    assert topic.outputs["arn"] == f"arn:aws:sns:{REGION}:{ACCOUNT}:alone"
