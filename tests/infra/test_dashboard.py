"""The dashboards under mocks: one per stack, reading the right state machine or alias, every widget valid."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from functions.common import metrics as emf
from infra.components import dashboard
from tests.infra.harness import MODEL, REGION, TOOLING_ACCOUNT

PREFIX = f"serverless-mlops-{MODEL}"
STATE_MACHINE = f"{PREFIX}-pipeline"
STATE_MACHINE_ARN = f"arn:aws:states:{REGION}:{TOOLING_ACCOUNT}:stateMachine:{STATE_MACHINE}"
INFERENCE = f"{PREFIX}-inference"
PIPELINE_FUNCTIONS = {
    f"{PREFIX}-{name}"
    for name in ("start", "deploy", "promote", "request-approval", "slack-interactions", "notify", "deploy-lock")
}
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
_EXPRESSION_ID = re.compile(r"^[a-z][A-Za-z0-9_]*$")


def metric_row_problems(row: Any) -> list[str]:
    """A row of a metric widget as the dashboard body structure defines it: a namespace, a metric name, pairs of
    dimension name and value, an optional options object; or a single expression object."""
    if not isinstance(row, list) or not row:
        return [f"{row!r} is not a non-empty array"]
    if isinstance(row[0], dict):
        options = row[0]
        ok = (
            len(row) == 1 and isinstance(options.get("expression"), str) and _EXPRESSION_ID.match(options.get("id", ""))
        )
        return [] if ok else [f"expression row {row!r} needs one object with an expression and an id"]
    options = row[-1] if isinstance(row[-1], dict) else None
    fields = row[:-1] if options is not None else row
    if len(fields) < 2 or len(fields) % 2 or not all(isinstance(v, str) and v for v in fields):
        return [f"{row!r}: expected namespace, metric name and dimension name/value pairs, all strings"]
    if options is not None and "id" in options and not _EXPRESSION_ID.match(options["id"]):
        return [f"{row!r}: id must start with a lower-case letter"]
    return []


def body_problems(body: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    cells: set[tuple[int, int]] = set()
    for widget in body["widgets"]:
        x, y, width, height = widget["x"], widget["y"], widget["width"], widget["height"]
        if x < 0 or x + width > 24:
            problems.append(f"{widget['type']} widget leaves the 24-column grid")
        covered = {(column, line) for column in range(x, x + width) for line in range(y, y + height)}
        if covered & cells:
            problems.append(f"{widget['type']} widget at {(x, y)} overlaps another")
        cells |= covered
        properties = widget["properties"]
        if widget["type"] in ("metric", "log") and properties.get("region") != REGION:
            problems.append(f"{properties.get('title')}: region {properties.get('region')!r}")
        if widget["type"] == "metric":
            rows = properties["metrics"]
            problems += [p for row in rows for p in metric_row_problems(row)]
            ids = {o["id"] for row in rows for o in row if isinstance(o, dict) and "id" in o}
            for row in rows:
                if isinstance(row[0], dict) and "SEARCH(" not in row[0]["expression"]:
                    used = set(re.findall(r"\b[a-z][A-Za-z0-9_]*\b", row[0]["expression"]))
                    problems += [f"expression uses unknown id {name}" for name in used - ids]
    return problems


def metric_rows(body: dict[str, Any]) -> list[list[Any]]:
    return [row for w in body["widgets"] if w["type"] == "metric" for row in w["properties"]["metrics"]]


def dimensions_of(row: list[Any]) -> dict[str, str]:
    fields = row[:-1] if isinstance(row[-1], dict) else row
    return dict(zip(fields[2::2], fields[3::2], strict=True))


def body_of(stack_run: Any) -> tuple[Any, dict[str, Any]]:
    [resource] = stack_run.of_type(DASHBOARD)
    return resource, json.loads(resource.inputs["dashboardBody"])


# ----------------------------------------------------------------------------------------------- tooling


@pytest.fixture
def tooling(stack_runs):
    return stack_runs["tooling"]


def test_the_tooling_dashboard_reads_this_state_machine(tooling) -> None:
    resource, body = body_of(tooling)
    assert resource.inputs["dashboardName"] == STATE_MACHINE
    assert tooling.exports["stateMachineArn"] == STATE_MACHINE_ARN
    states = [row for row in metric_rows(body) if row[0] == "AWS/States"]
    assert {row[1] for row in states} == {
        "ExecutionsStarted",
        "ExecutionsSucceeded",
        "ExecutionsFailed",
        "ExecutionsAborted",
        "ExecutionsTimedOut",
        "ExecutionTime",
    }
    assert all(dimensions_of(row) == {"StateMachineArn": STATE_MACHINE_ARN} for row in states)
    assert body_problems(body) == []


def test_the_tooling_dashboard_shows_the_functions_metrics_of_this_pipeline(tooling) -> None:
    _, body = body_of(tooling)
    custom = [row for row in metric_rows(body) if row[0] == emf.NAMESPACE]
    assert {row[1] for row in custom} >= {
        emf.RUNS_STARTED,
        emf.RUNS_SUCCEEDED,
        emf.RUNS_FAILED,
        emf.APPROVAL_WAIT_TIME,
        emf.DEPLOYMENTS_SUCCEEDED,
        emf.DEPLOYMENTS_FAILED,
    }
    assert all(dimensions_of(row)["Pipeline"] == STATE_MACHINE for row in custom)
    waits = [row[-1]["stat"] for row in custom if row[1] == emf.APPROVAL_WAIT_TIME]
    assert waits == ["p50", "Maximum"]
    searches = [row[0]["expression"] for row in metric_rows(body) if isinstance(row[0], dict)]
    assert (
        f'SEARCH(\'{{{emf.NAMESPACE},Pipeline,Step}} MetricName="{emf.RUNS_FAILED}" Pipeline="{STATE_MACHINE}"\', '
        "'Sum', 86400)"
    ) in searches


def test_the_tooling_dashboard_shows_the_errors_of_every_pipeline_function(tooling) -> None:
    _, body = body_of(tooling)
    functions = {r.inputs["name"] for r in tooling.of_type("aws:lambda/function:Function")}
    assert functions >= PIPELINE_FUNCTIONS
    errors = [row for row in metric_rows(body) if row[:2] == ["AWS/Lambda", "Errors"]]
    assert {dimensions_of(row)["FunctionName"] for row in errors} == PIPELINE_FUNCTIONS


def test_the_latest_failed_runs_are_read_from_the_notify_log_group(tooling) -> None:
    _, body = body_of(tooling)
    [log] = [w for w in body["widgets"] if w["type"] == "log"]
    query = log["properties"]["query"]
    assert query.startswith(f"SOURCE '/aws/lambda/{PREFIX}-notify' |")
    assert "executionId" in query and "ispresent(RunsFailed)" in query
    log_groups = {r.inputs["name"] for r in tooling.of_type("aws:cloudwatch/logGroup:LogGroup")}
    assert f"/aws/lambda/{PREFIX}-notify" in log_groups


def test_no_pipeline_function_may_put_metric_data(tooling) -> None:
    # EMF lines travel in the functions' logs: no role needs cloudwatch:PutMetricData.
    policies = [r.inputs["policy"] for r in tooling.of_type("aws:iam/rolePolicy:RolePolicy")]
    assert policies and all("cloudwatch:PutMetricData" not in policy for policy in policies)


def test_the_tooling_dashboard_url_is_exported(tooling) -> None:
    assert tooling.exports["dashboardUrl"] == (
        f"https://{REGION}.console.aws.amazon.com/cloudwatch/home?region={REGION}#dashboards/dashboard/{STATE_MACHINE}"
    )


# ---------------------------------------------------------------------------------------- stage, prod


@pytest.mark.parametrize("stack", ["stage", "prod"])
def test_the_environment_dashboard_reads_alias_live(stack_runs, stack: str) -> None:
    run = stack_runs[stack]
    resource, body = body_of(run)
    assert resource.inputs["dashboardName"] == INFERENCE
    rows = [row for row in metric_rows(body) if row[0] == "AWS/Lambda"]
    assert all(dimensions_of(row) == {"FunctionName": INFERENCE, "Resource": f"{INFERENCE}:live"} for row in rows)
    shown = [(row[1], row[-1].get("stat")) for row in rows]
    assert shown == [
        ("Invocations", None),
        ("Errors", None),
        ("Duration", "p50"),
        ("Duration", "p99"),
        ("Throttles", None),
    ]
    assert body_problems(body) == []
    assert run.exports["dashboardUrl"].endswith(f"#dashboards/dashboard/{INFERENCE}")


@pytest.mark.parametrize("stack", ["stage", "prod"])
def test_the_environment_dashboard_shows_the_alarms_of_alias_live(stack_runs, stack: str) -> None:
    run = stack_runs[stack]
    _, body = body_of(run)
    [widget] = [w for w in body["widgets"] if w["type"] == "alarm"]
    alarms = run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    assert len(alarms) == 2
    assert widget["properties"]["alarms"] == [alarm.outputs["arn"] for alarm in alarms]


def test_every_dashboard_stays_within_the_free_tier(stack_runs) -> None:
    # The first three dashboards of an account are free with up to 50 metrics each.
    for run in stack_runs.values():
        _, body = body_of(run)
        assert len(metric_rows(body)) <= 50, run.stack


# ------------------------------------------------------------------------------------------- pure parts


def test_an_inference_dashboard_without_alarms_has_no_alarm_widget() -> None:
    body = dashboard.inference_body(region="us-east-1", function_name="f", alias="live")
    assert [w["type"] for w in body["widgets"]] == ["text", "metric", "metric", "metric"]
    assert all(w["properties"]["region"] == "us-east-1" for w in body["widgets"] if w["type"] == "metric")


def test_widgets_wrap_onto_a_new_row_when_the_grid_is_full() -> None:
    widgets = [{"type": "metric", "width": w, "height": h, "properties": {}} for w, h in ((12, 6), (12, 4), (12, 6))]
    assert [(w["x"], w["y"]) for w in dashboard.laid_out(widgets)] == [(0, 0), (12, 0), (0, 6)]


@pytest.mark.parametrize(
    ("region", "host"),
    [
        ("eu-west-1", "eu-west-1.console.aws.amazon.com"),
        ("cn-north-1", "cn-north-1.console.amazonaws.cn"),
        ("us-gov-west-1", "console.amazonaws-us-gov.com"),
    ],
)
def test_the_console_url_follows_the_partition(region: str, host: str) -> None:
    assert (
        dashboard.console_url(region, "d") == f"https://{host}/cloudwatch/home?region={region}#dashboards/dashboard/d"
    )
