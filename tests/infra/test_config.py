"""Bad configuration fails at program start with one readable line per bad key."""

from __future__ import annotations

import json

import pytest

from infra import config
from infra.config import RegistrySettings
from tests.infra.harness import (
    PROD_ACCOUNT,
    STAGE_ACCOUNT,
    StackError,
    environment_config,
    run_stack,
    tooling_config,
)


def error_of(stack: str, config: dict[str, str], **kwargs) -> str:
    with pytest.raises(StackError) as raised:
        run_stack(stack, config, **kwargs)
    return raised.value.message


def problem_lines(message: str) -> list[str]:
    return [line for line in message.splitlines() if line.startswith("  - ")]


@pytest.mark.parametrize(
    ("key", "value", "expected", "fix"),
    [
        ("mlops:accountId", "12345", "12-digit ID", "pulumi config set mlops:accountId 123456789012 --stack stage"),
        ("mlops:accountId", None, "not set", "pulumi config set mlops:accountId"),
        ("aws:region", "europe", "AWS region", "pulumi config set aws:region eu-west-1 --stack stage"),
        ("aws:region", None, "not set", "pulumi config set aws:region"),
        ("mlops:role", "staging", "one of tooling, stage, prod", "pulumi config set mlops:role stage --stack stage"),
        ("mlops:logRetentionDays", "10", "CloudWatch Logs accepts", "pulumi config set mlops:logRetentionDays 30"),
        ("mlops:toolingStack", "tooling", "<organization>/<project>/<stack>", "pulumi config set mlops:toolingStack"),
    ],
)
def test_environment_key_errors_name_the_key_and_the_fix(key, value, expected, fix):
    message = error_of("stage", environment_config(STAGE_ACCOUNT, **{key: value}))
    [line] = problem_lines(message)
    assert line.startswith(f"  - {key}: expected ")
    assert expected in line and fix in line


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("mlops:modelName", "Delivery_Time", "lower-case name"),
        ("mlops:modelName", "a-model-name-that-is-far-too-long-for-iam-roles", "fits IAM's 64 characters"),
        ("mlops:stageAccountId", "abc", "stage AWS account"),
        ("mlops:prodAccountId", None, "prod AWS account"),
        ("mlops:architecture", "amd64", "arm64, x86_64"),
        ("mlops:slackChannelId", "#mlops", "Slack channel ID"),
        ("mlops:slackApprovers", json.dumps([]), "non-empty list"),
        ("mlops:slackApprovers", json.dumps(["@alice"]), "'@alice'"),
        ("mlops:slackApprovers", "U0123456789", "non-empty list"),
        ("mlops:slackBotToken", None, "bot token"),
        ("mlops:slackSigningSecret", None, "signing secret"),
        ("mlops:costProfile", "cheap", "one of minimal, standard"),
    ],
)
def test_tooling_key_errors_name_the_key(key, value, expected):
    [line] = problem_lines(error_of("tooling", tooling_config(**{key: value})))
    assert line.startswith(f"  - {key}: expected ")
    assert expected in line
    assert "Fix: pulumi config set" in line and "--stack tooling" in line


def test_list_keys_show_the_path_syntax():
    [line] = problem_lines(error_of("tooling", tooling_config(**{"mlops:slackApprovers": None})))
    assert "pulumi config set --path 'mlops:slackApprovers[0]' U0123456789 --stack tooling" in line


def test_missing_secret_is_set_with_secret_flag_and_no_value_on_the_command_line():
    [line] = problem_lines(error_of("tooling", tooling_config(**{"mlops:slackBotToken": None})))
    assert "pulumi config set --secret mlops:slackBotToken --stack tooling (it prompts for the value)" in line


def test_secret_stored_in_plain_text_is_refused_without_echoing_it():
    message = error_of("tooling", tooling_config(), plaintext_keys=("mlops:slackSigningSecret",))
    [line] = problem_lines(message)
    assert line.startswith("  - mlops:slackSigningSecret: ") and "plain-text" in line
    assert "test-signing-secret" not in message


def test_same_stage_and_prod_account_is_refused():
    [line] = problem_lines(error_of("tooling", tooling_config(**{"mlops:prodAccountId": STAGE_ACCOUNT})))
    assert line.startswith("  - mlops:prodAccountId: expected an account other than stage's")


def test_every_problem_is_reported_at_once_one_line_each():
    message = error_of(
        "tooling",
        tooling_config(
            **{
                "mlops:accountId": "1",
                "aws:region": None,
                "mlops:slackApprovers": "[]",
                "mlops:modelName": "X",
            }
        ),
    )
    assert message.splitlines()[0] == "Invalid configuration for stack 'tooling' (4 problems):"
    keys = [line.split(":", 2)[0] + ":" + line.split(":", 2)[1] for line in problem_lines(message)]
    assert keys == ["  - mlops:accountId", "  - aws:region", "  - mlops:modelName", "  - mlops:slackApprovers"]


def test_stack_with_a_custom_name_needs_a_role():
    message = error_of("stage-eu", environment_config(STAGE_ACCOUNT))
    [line] = problem_lines(message)
    assert line.startswith("  - mlops:role: expected one of tooling, stage, prod") and "not set" in line


def test_role_key_lets_any_stack_name_take_a_role():
    run = run_stack("prod-eu", environment_config(PROD_ACCOUNT, **{"mlops:role": "prod"}))
    assert run.stack_references


def test_values_are_trimmed_of_stray_whitespace():
    run_stack("stage", environment_config(STAGE_ACCOUNT, **{"mlops:accountId": f" {STAGE_ACCOUNT} "}))


def test_missing_tooling_output_fails_the_environment_stack():
    with pytest.raises(Exception, match="modelName"):
        run_stack("stage", environment_config(STAGE_ACCOUNT), tooling_outputs={})


# Cost profiles ---------------------------------------------------------------------------------------------------


def registry_settings(**overrides: str | None) -> RegistrySettings:
    found: list[RegistrySettings] = []

    def program() -> None:
        settings = config.load()
        assert isinstance(settings, config.ToolingConfig)
        found.append(settings.registry)

    run_stack("tooling", tooling_config(**overrides), program=program)
    return found[0]


def capacity(settings: RegistrySettings) -> tuple[str, bool, int, int]:
    return settings.cost_profile, settings.fargate_spot, settings.db_max_acu, settings.db_auto_pause_seconds


def test_cost_profile_defaults_to_standard():
    assert capacity(registry_settings()) == ("standard", False, 4, 3600)


def test_cost_profile_sets_the_registry_capacity():
    assert capacity(registry_settings(**{"mlops:costProfile": "minimal"})) == ("minimal", True, 1, 300)
    assert capacity(registry_settings(**{"mlops:costProfile": " standard "})) == ("standard", False, 4, 3600)


def test_explicit_keys_win_over_the_profile():
    settings = registry_settings(
        **{"mlops:costProfile": "minimal", "mlops:mlflowFargateSpot": "false", "mlops:mlflowDbMaxAcu": "2"}
    )
    assert capacity(settings) == ("minimal", False, 2, 300)
    settings = registry_settings(**{"mlops:costProfile": "standard", "mlops:mlflowDbAutoPauseSeconds": "300"})
    assert capacity(settings) == ("standard", False, 4, 300)


def test_an_unknown_cost_profile_names_the_key_the_allowed_values_and_the_fix():
    message = error_of("tooling", tooling_config(**{"mlops:costProfile": "Minimal"}))
    assert message.splitlines()[0] == "Invalid configuration for stack 'tooling' (1 problem):"
    [line] = problem_lines(message)
    assert line == (
        "  - mlops:costProfile: expected one of minimal, standard (what each sets: Pulumi.tooling.yaml), got "
        "'Minimal'. Fix: pulumi config set mlops:costProfile standard --stack tooling"
    )


def test_a_bad_override_under_a_profile_is_still_refused():
    message = error_of("tooling", tooling_config(**{"mlops:costProfile": "minimal", "mlops:mlflowDbMaxAcu": "0"}))
    [line] = problem_lines(message)
    assert line.startswith("  - mlops:mlflowDbMaxAcu: expected the most Aurora capacity units, 1 to 256, got '0'")
