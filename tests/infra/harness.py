"""The tests' view of infra.evaluate: the whole program under Pulumi's mocks."""

from infra.evaluate import (  # noqa: F401 - re-exported for the tests
    MAIN,
    MODEL,
    ORGANIZATION,
    PROD_ACCOUNT,
    PROJECT,
    REGION,
    ROOT,
    SECRET_KEYS,
    STAGE_ACCOUNT,
    TOOLING_ACCOUNT,
    Resource,
    StackError,
    StackRun,
    default_config,
    default_tooling_outputs,
    environment_config,
    mock_arn,
    render_policy_document,
    run_stack,
    tooling_config,
)
