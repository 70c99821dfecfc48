"""Execution ARNs and the run an event is about, as every pipeline function reads them."""

from __future__ import annotations

import pytest

from functions.common.executions import EXECUTION_ARN, execution_name, execution_of

STANDARD = "arn:aws:states:eu-west-1:123456789012:execution:mlops-pipeline:model-abc123"
EXPRESS = "arn:aws-cn:states:cn-north-1:123456789012:express:mlops-pipeline:run-1:0f8a"


def test_standard_and_express_arns_give_their_parts() -> None:
    assert EXECUTION_ARN.match(STANDARD).group("partition", "region", "machine", "name") == (
        "aws",
        "eu-west-1",
        "mlops-pipeline",
        "model-abc123",
    )
    assert execution_name(EXPRESS) == "run-1"
    assert execution_name("manual-rollback-prod") == "manual-rollback-prod"  # not an ARN: as is


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"executionId": STANDARD}, STANDARD),
        ({"action": "expire", "executionArn": STANDARD}, STANDARD),
        ({"detail-type": "Step Functions Execution Status Change", "detail": {"executionArn": STANDARD}}, STANDARD),
        ({"executionId": 7}, None),
        ({"detail": "not an object"}, None),
        ("not an event", None),
    ],
)
def test_the_run_an_event_is_about(event: object, expected: str | None) -> None:
    assert execution_of(event) == expected
