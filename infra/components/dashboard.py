"""A CloudWatch dashboard per stack: the pipeline in the tooling account, alias ``live`` in stage and prod.

The bodies are pure functions of names and ARNs (``pipeline_body``, ``inference_body``) returning the dashboard
body as a dict in CloudWatch's dashboard body structure: widgets on a 24-column grid, metric widgets whose
``metrics`` rows are ``[namespace, metric name, dimension name, value, ..., {rendering options}]`` or
``[{"expression": ...}]``. The component resolves the Outputs once and serialises the body. Each dashboard keeps
under 50 metrics, so it is one of the three dashboards CloudWatch gives each account for free.

Tooling (``pipeline_body``): the state machine's own metrics (AWS/States, dimension ``StateMachineArn``), the
metrics the pipeline functions write as EMF lines (``functions/common/metrics.py``: runs by outcome, failures by
step, approval wait, deployments), the functions' Lambda errors, and a Logs Insights table of the latest failed
runs with their execution IDs. Stage and prod (``inference_body``): the inference function's alias ``live``, from
Lambda's per-alias metrics (dimensions ``FunctionName`` and ``Resource`` = ``<function>:live``), and its alarms.

The functions need no CloudWatch permission for their metrics: EMF lines travel in their logs (see
``functions/common/metrics.py``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from functions.common.metrics import (
    APPROVAL_WAIT_TIME,
    DEPLOYMENTS_FAILED,
    DEPLOYMENTS_SUCCEEDED,
    NAMESPACE,
    RUNS_FAILED,
    RUNS_STARTED,
    RUNS_SUCCEEDED,
)
from infra import naming

# The pipeline functions' metrics, named where the functions write them.
PIPELINE_NAMESPACE = NAMESPACE
ENVIRONMENTS = ("stage", "prod")

STATES_NAMESPACE = "AWS/States"
EXECUTION_COUNTS = (
    ("ExecutionsStarted", "Started"),
    ("ExecutionsSucceeded", "Succeeded"),
    ("ExecutionsFailed", "Failed"),
    ("ExecutionsAborted", "Aborted"),
    ("ExecutionsTimedOut", "Timed out"),
)
LAMBDA_NAMESPACE = "AWS/Lambda"

DAY = 86_400  # pipeline runs are a few a day: daily sums read best
FIVE_MINUTES = 300  # the inference function serves traffic: 5-minute points
GRID_COLUMNS = 24


# ------------------------------------------------------------------------------------------- widgets


def metric(namespace: str, name: str, dimensions: Mapping[str, str], **options: Any) -> list[Any]:
    """One row of a metric widget: namespace, name, dimension name/value pairs, then rendering options."""
    row: list[Any] = [namespace, name]
    for key, value in dimensions.items():
        row += [key, value]
    return [*row, options] if options else row


def expression(expr: str, label: str, row_id: str, **options: Any) -> list[Any]:
    """A math or SEARCH expression row (ids start with a lower-case letter)."""
    return [{"expression": expr, "label": label, "id": row_id, **options}]


def search(namespace: str, dimension_names: Sequence[str], metric_name: str, filters: Mapping[str, str]) -> str:
    """A SEARCH over exactly this dimension schema, values matched exactly (quoted)."""
    schema = ",".join([namespace, *dimension_names])
    terms = " ".join([f'MetricName="{metric_name}"', *(f'{key}="{value}"' for key, value in filters.items())])
    return f"SEARCH('{{{schema}}} {terms}', 'Sum', {DAY})"


def graph(
    title: str,
    rows: Sequence[list[Any]],
    *,
    region: str,
    period: int,
    stat: str = "Sum",
    width: int = 12,
    height: int = 6,
    **properties: Any,
) -> dict[str, Any]:
    return {
        "type": "metric",
        "width": width,
        "height": height,
        "properties": {
            "title": title,
            "region": region,
            "view": "timeSeries",
            "stat": stat,
            "period": period,
            "metrics": [list(row) for row in rows],
            **properties,
        },
    }


def text(markdown: str, *, height: int = 2) -> dict[str, Any]:
    return {"type": "text", "width": GRID_COLUMNS, "height": height, "properties": {"markdown": markdown}}


def laid_out(widgets: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Place widgets left to right on the 24-column grid, starting a new row when one does not fit."""
    placed, x, y, row_height = [], 0, 0, 0
    for widget in widgets:
        if x + widget["width"] > GRID_COLUMNS:
            x, y, row_height = 0, y + row_height, 0
        placed.append({**widget, "x": x, "y": y})
        x, row_height = x + widget["width"], max(row_height, widget["height"])
    return placed


# -------------------------------------------------------------------------------------------- bodies


def pipeline_body(
    *,
    region: str,
    state_machine_arn: str,
    state_machine_name: str,
    function_names: Sequence[str],
    notify_log_group: str,
) -> dict[str, Any]:
    """The tooling dashboard: the pipeline's runs, where they fail, how long approvals wait, what deploys."""
    machine = {"StateMachineArn": state_machine_arn}
    pipeline = {"Pipeline": state_machine_name}
    custom = PIPELINE_NAMESPACE
    widgets = [
        text(
            f"# Pipeline `{state_machine_name}`\n"
            "Runs as Step Functions counts them (left) and as the pipeline functions report them (right, "
            f"namespace `{custom}`). One run's logs and data points: Logs Insights over the pipeline functions' "
            'log groups, `filter executionId = "<execution ARN>"`.'
        ),
        graph(
            "Runs (Step Functions)",
            [metric(STATES_NAMESPACE, name, machine, label=label) for name, label in EXECUTION_COUNTS],
            region=region,
            period=DAY,
        ),
        graph(
            "Runs by outcome (pipeline functions)",
            [
                metric(custom, RUNS_STARTED, pipeline, label="Started"),
                metric(custom, RUNS_SUCCEEDED, pipeline, label="Succeeded"),
                metric(custom, RUNS_FAILED, pipeline, label="Failed"),
                expression(
                    search(custom, ["Pipeline", "Outcome"], RUNS_FAILED, pipeline), "Failed:", "outcomes", period=DAY
                ),
            ],
            region=region,
            period=DAY,
        ),
        graph(
            "Run duration, ms (Step Functions ExecutionTime, approval wait included)",
            [
                metric(STATES_NAMESPACE, "ExecutionTime", machine, stat="p50", label="p50"),
                metric(STATES_NAMESPACE, "ExecutionTime", machine, stat="Maximum", label="max"),
            ],
            region=region,
            period=DAY,
            stat="p50",
        ),
        graph(
            "Failed runs by step",
            [expression(search(custom, ["Pipeline", "Step"], RUNS_FAILED, pipeline), "", "steps", period=DAY)],
            region=region,
            period=DAY,
        ),
        graph(
            "Approval wait, seconds (request to decision or expiry)",
            [
                metric(custom, APPROVAL_WAIT_TIME, pipeline, stat="p50", label="p50"),
                metric(custom, APPROVAL_WAIT_TIME, pipeline, stat="Maximum", label="max"),
            ],
            region=region,
            period=DAY,
            stat="p50",
        ),
        graph(
            "Deployments by environment",
            [
                metric(custom, name, {**pipeline, "Environment": environment}, label=f"{environment} {outcome}")
                for environment in ENVIRONMENTS
                for name, outcome in ((DEPLOYMENTS_SUCCEEDED, "succeeded"), (DEPLOYMENTS_FAILED, "failed"))
            ],
            region=region,
            period=DAY,
        ),
        graph(
            "Pipeline function errors (Lambda)",
            [metric(LAMBDA_NAMESPACE, "Errors", {"FunctionName": name}, label=name) for name in function_names],
            region=region,
            period=DAY,
        ),
        {
            "type": "log",
            "width": 12,
            "height": 6,
            "properties": {
                "title": "Latest failed runs (notify function's metric lines)",
                "region": region,
                "view": "table",
                "query": (
                    f"SOURCE '{notify_log_group}' | filter ispresent({RUNS_FAILED}) "
                    "| fields @timestamp, executionId, Step, Outcome | sort @timestamp desc | limit 20"
                ),
            },
        },
    ]
    return {"start": "-P14D", "periodOverride": "inherit", "widgets": laid_out(widgets)}


def inference_body(
    *, region: str, function_name: str, alias: str = naming.INFERENCE_ALIAS, alarm_arns: Sequence[str] = ()
) -> dict[str, Any]:
    """The stage or prod dashboard: what alias ``live`` serves, how fast, and what fails or is throttled."""
    live = {"FunctionName": function_name, "Resource": f"{function_name}:{alias}"}
    widgets = [
        text(
            f"# `{function_name}:{alias}`\n"
            f"Lambda's metrics of alias `{alias}` (what callers and the function URL reach): dimensions "
            f"FunctionName and Resource `{function_name}:{alias}`."
        ),
        graph(
            "Invocations and errors",
            [
                metric(LAMBDA_NAMESPACE, "Invocations", live, id="invocations", label="Invocations"),
                metric(LAMBDA_NAMESPACE, "Errors", live, id="errors", label="Errors"),
                expression("100 * errors / invocations", "Error rate (%)", "rate", yAxis="right"),
            ],
            region=region,
            period=FIVE_MINUTES,
        ),
        graph(
            "Duration, ms",
            [
                metric(LAMBDA_NAMESPACE, "Duration", live, stat="p50", label="p50"),
                metric(LAMBDA_NAMESPACE, "Duration", live, stat="p99", label="p99"),
            ],
            region=region,
            period=FIVE_MINUTES,
            stat="p50",
        ),
        graph(
            "Throttles",
            [metric(LAMBDA_NAMESPACE, "Throttles", live, label="Throttles")],
            region=region,
            period=FIVE_MINUTES,
        ),
    ]
    if alarm_arns:
        widgets.append(
            {
                "type": "alarm",
                "width": 12,
                "height": 6,
                "properties": {"title": f"Alarms of alias {alias}", "alarms": list(alarm_arns)},
            }
        )
    return {"start": "-PT24H", "periodOverride": "inherit", "widgets": laid_out(widgets)}


def console_url(region: str, dashboard_name: str) -> str:
    """The dashboard's page in the CloudWatch console."""
    partition = naming.partition_for_region(region)
    host = {
        "aws-cn": f"{region}.console.amazonaws.cn",
        "aws-us-gov": "console.amazonaws-us-gov.com",
    }.get(partition, f"{region}.console.aws.amazon.com")
    return f"https://{host}/cloudwatch/home?region={region}#dashboards/dashboard/{dashboard_name}"


# ----------------------------------------------------------------------------------------- component


@dataclass(frozen=True)
class PipelineView:
    state_machine_arn: pulumi.Input[str]
    state_machine_name: str
    function_names: Sequence[pulumi.Input[str]]
    notify_log_group: pulumi.Input[str]


@dataclass(frozen=True)
class InferenceView:
    function_name: pulumi.Input[str]
    alarm_arns: Sequence[pulumi.Input[str]] = ()
    alias: str = naming.INFERENCE_ALIAS


@dataclass(frozen=True)
class DashboardArgs:
    dashboard_name: pulumi.Input[str]
    region: str
    view: PipelineView | InferenceView


def body_json(args: DashboardArgs) -> pulumi.Output[str]:
    view, region = args.view, args.region
    if isinstance(view, PipelineView):
        return pulumi.Output.all(
            view.state_machine_arn, view.notify_log_group, pulumi.Output.all(*view.function_names)
        ).apply(
            lambda values: json.dumps(
                pipeline_body(
                    region=region,
                    state_machine_arn=values[0],
                    state_machine_name=view.state_machine_name,
                    function_names=list(values[2]),
                    notify_log_group=values[1],
                )
            )
        )
    return pulumi.Output.all(view.function_name, pulumi.Output.all(*view.alarm_arns)).apply(
        lambda values: json.dumps(
            inference_body(region=region, function_name=values[0], alias=view.alias, alarm_arns=list(values[1]))
        )
    )


class Dashboard(pulumi.ComponentResource):
    dashboard: aws.cloudwatch.Dashboard
    url: pulumi.Output[str]

    def __init__(self, name: str, args: DashboardArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("serverless-mlops:observability:Dashboard", name, None, opts)
        self.dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=args.dashboard_name,
            dashboard_body=body_json(args),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.url = self.dashboard.dashboard_name.apply(lambda dashboard: console_url(args.region, dashboard))
        self.register_outputs({"dashboardName": self.dashboard.dashboard_name, "url": self.url})
