"""The tooling account's monthly AWS Budgets cost budget: alerts at 80 % of actual and 100 % of forecast spend.

The same amount (``mlops:monthlyBudgetUsd``) is what the cost model's idle total must stay under
(``infra.cost.check_idle_budget``). A budget without actions costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.config import BudgetSettings

ACTUAL_ALERT_PERCENT = 80.0
FORECAST_ALERT_PERCENT = 100.0


@dataclass(frozen=True)
class BudgetArgs:
    budget_name: str
    settings: BudgetSettings


def notifications(settings: BudgetSettings) -> list[aws.budgets.BudgetNotificationArgs]:
    """One alert at 80 % of actual spend and one at 100 % of forecast spend, e-mailed to ``alert_emails``.

    AWS requires a subscriber for every notification, so without e-mails there are none: the budget still
    tracks spend in the console and in Cost Explorer.
    """
    if not settings.alert_emails:
        return []
    emails = list(settings.alert_emails)
    return [
        aws.budgets.BudgetNotificationArgs(
            notification_type="ACTUAL",
            comparison_operator="GREATER_THAN",
            threshold=ACTUAL_ALERT_PERCENT,
            threshold_type="PERCENTAGE",
            subscriber_email_addresses=emails,
        ),
        aws.budgets.BudgetNotificationArgs(
            notification_type="FORECASTED",
            comparison_operator="GREATER_THAN",
            threshold=FORECAST_ALERT_PERCENT,
            threshold_type="PERCENTAGE",
            subscriber_email_addresses=emails,
        ),
    ]


class Budget(pulumi.ComponentResource):
    budget: aws.budgets.Budget

    def __init__(self, name: str, args: BudgetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("serverless-mlops:cost:Budget", name, None, opts)
        alerts = notifications(args.settings)
        if not alerts:
            pulumi.log.warn(
                "mlops:budgetAlertEmails is not set: the monthly budget tracks spend but alerts nobody. Fix: "
                "pulumi config set --path 'mlops:budgetAlertEmails[0]' you@example.com",
                resource=self,
            )
        # The whole tooling account, unfiltered: it holds nothing but this project.
        self.budget = aws.budgets.Budget(
            f"{name}-monthly",
            name=args.budget_name,
            budget_type="COST",
            time_unit="MONTHLY",
            limit_amount=str(args.settings.monthly_usd),
            limit_unit="USD",
            notifications=alerts or None,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"budgetName": self.budget.name, "limitUsd": self.budget.limit_amount})
