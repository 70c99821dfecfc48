"""Tooling: the monthly AWS Budgets cost budget and its alerts, evaluated under the mocks on its own."""

from __future__ import annotations

import json

from infra import config
from infra.components.budget import Budget, BudgetArgs
from infra.config import BudgetSettings, Target
from infra.provider import aws_provider, resource_options
from tests.infra.harness import MODEL, REGION, TOOLING_ACCOUNT, StackRun, run_stack, tooling_config

BUDGET_NAME = f"serverless-mlops-{MODEL}-monthly"
EMAILS = ("mlops-team@example.com", "lead@example.com")


def budget_program(settings: BudgetSettings | None = None) -> StackRun:
    """Creates the component through a provider like the stack's; ``settings=None`` reads them from config."""

    def program() -> None:
        budget = settings
        if budget is None:
            loaded = config.load()
            assert isinstance(loaded, config.ToolingConfig)
            budget = loaded.budget
        provider = aws_provider("serverless-mlops", "tooling", Target(TOOLING_ACCOUNT, REGION), MODEL)
        Budget("budget", BudgetArgs(budget_name=BUDGET_NAME, settings=budget), opts=resource_options(provider))

    return program


def run(settings: BudgetSettings | None = None, **config_overrides: str | None) -> StackRun:
    return run_stack("tooling", tooling_config(**config_overrides), program=budget_program(settings))


def test_a_monthly_cost_budget_with_the_configured_limit():
    budget = run(BudgetSettings(monthly_usd=60, alert_emails=EMAILS)).one("aws:budgets/budget:Budget").inputs
    assert budget["name"] == BUDGET_NAME
    assert budget["budgetType"] == "COST"
    assert budget["timeUnit"] == "MONTHLY"
    assert budget["limitAmount"] == "60"
    assert budget["limitUnit"] == "USD"
    assert "costFilters" not in budget, "the whole tooling account, unfiltered"


def test_alerts_at_80_percent_of_actual_and_100_percent_of_forecast_to_every_address():
    budget = run(BudgetSettings(monthly_usd=60, alert_emails=EMAILS)).one("aws:budgets/budget:Budget").inputs
    alerts = {(n["notificationType"], n["threshold"]): n for n in budget["notifications"]}
    assert set(alerts) == {("ACTUAL", 80.0), ("FORECASTED", 100.0)}
    for alert in alerts.values():
        assert alert["comparisonOperator"] == "GREATER_THAN"
        assert alert["thresholdType"] == "PERCENTAGE"
        assert alert["subscriberEmailAddresses"] == list(EMAILS)


def test_without_addresses_the_budget_tracks_spend_but_has_no_notifications():
    # AWS rejects a notification with no subscriber.
    budget = run(BudgetSettings(monthly_usd=60, alert_emails=())).one("aws:budgets/budget:Budget").inputs
    assert "notifications" not in budget or not budget["notifications"]
    assert budget["limitAmount"] == "60"


def test_limit_and_addresses_come_from_the_stack_config():
    stack = run(**{"mlops:monthlyBudgetUsd": "75", "mlops:budgetAlertEmails": json.dumps(["finance@example.com"])})
    budget = stack.one("aws:budgets/budget:Budget").inputs
    assert budget["limitAmount"] == "75"
    assert {a for n in budget["notifications"] for a in n["subscriberEmailAddresses"]} == {"finance@example.com"}


def test_the_defaults_are_60_dollars_and_no_alerts():
    budget = run(**{"mlops:monthlyBudgetUsd": None, "mlops:budgetAlertEmails": None}).one("aws:budgets/budget:Budget")
    assert budget.inputs["limitAmount"] == "60"
    assert not budget.inputs.get("notifications")


def test_the_budget_is_a_child_of_the_component_created_through_the_tagged_provider():
    stack = run(BudgetSettings(monthly_usd=60, alert_emails=EMAILS))
    component = stack.one("serverless-mlops:cost:Budget")
    budget = stack.one("aws:budgets/budget:Budget")
    provider = stack.one("pulumi:providers:aws")
    assert budget.parent == component.urn
    assert budget.provider == f"{provider.urn}::{provider.id}"
    assert json.loads(provider.inputs["defaultTags"])["tags"]["managed-by"] == "pulumi"
