"""The CrossGuard pack: every rule of policy/rules.py as a policy, fed pulumi_policy's own argument objects.

There is no Pulumi CLI here. Each policy's validator is called with ``ResourceValidationArgs`` /
``StackValidationArgs`` built by hand, their props wrapped in pulumi_policy's unknown-checking proxies as its
analyzer wraps them. Then ``policy/__main__.py`` is run the way ``pulumi preview --policy-pack policy`` runs it,
and the analyzer it builds is called with wire-form requests (camelCase protobuf structs, secrets, unknowns)
as the engine sends them. That part uses pulumi_policy 1.21's private ``_PolicyAnalyzerServicer``.
"""

from __future__ import annotations

import copy
import inspect
import runpy
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi_policy
import pulumi_policy.policy
import pytest
import yaml
from google.protobuf import struct_pb2
from pulumi.runtime import proto
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_NUMBER_VALUE, UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from policy import pack, rules
from tests.policy.test_rules import (
    LAMBDA_SERVICE_RETRY,
    PROVIDER_URN,
    ROLE_POLICY,
    SECRET_ARN,
    SLACK_TOKEN,
    allow,
    approval_state,
    lambda_function,
    lambda_state,
    policy,
    protected_bucket,
    provider,
    resource,
    state_machine,
)

POLICY_DIR = Path(pack.__file__).resolve().parent
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"


# ----------------------------------------------------------------------------- pulumi_policy argument objects


def options(parent: str | None = None, secret_outputs: tuple[str, ...] = ()) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=False,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=list(secret_outputs),
        parent=parent,
    )


def provider_resource(provider_: dict) -> PolicyProviderResource:
    return PolicyProviderResource(
        provider_["type"], unknown_checking_proxy(copy.deepcopy(provider_["inputs"])), provider_["urn"], "aws"
    )


def resource_args(resource_: dict, secret_outputs: tuple[str, ...] = ()) -> ResourceValidationArgs:
    """What pulumi_policy's analyzer hands a resource validation for this resource."""
    return ResourceValidationArgs(
        resource_["type"],
        unknown_checking_proxy(copy.deepcopy(resource_["inputs"])),
        resource_["urn"],
        resource_["name"],
        options(resource_["parent"], secret_outputs),
        provider_resource(provider()),
    )


def stack_args(resources: list[dict]) -> StackValidationArgs:
    """What pulumi_policy's analyzer hands a stack validation for these resources."""
    providers = {r["urn"]: r for r in resources if r["type"].startswith("pulumi:providers:")}
    built = {
        r["urn"]: PolicyResource(
            r["type"],
            unknown_checking_proxy(copy.deepcopy(r["inputs"])),
            r["urn"],
            r["name"],
            options(r["parent"]),
            provider_resource(providers[r["provider"].rsplit("::", 1)[0]]) if r["provider"] else None,
            None,
            [],
            {},
        )
        for r in resources
    }
    for r in resources:
        built[r["urn"]].parent = built.get(r["parent"]) if r["parent"] else None
    return StackValidationArgs(list(built.values()))


Reported = list[tuple[str, str | None]]


def run_policy(rule_name: str, args: ResourceValidationArgs | StackValidationArgs) -> Reported:
    """Call the pack's policy for ``rule_name`` and collect its ``report_violation`` calls."""
    [found] = [p for p in pack.policies() if p.name == rule_name]
    reported: Reported = []
    found.validate(args, lambda message, urn=None: reported.append((message, urn)))
    return reported


# ------------------------------------------------------------------------------ one example pair per rule


def with_retention(days: Any) -> dict:
    return resource("aws:cloudwatch/logGroup:LogGroup", "logs", retentionInDays=days)


def repository(mutability: str) -> dict:
    return resource(
        "aws:ecr/repository:Repository",
        imageTagMutability=mutability,
        imageScanningConfiguration={"scanOnPush": True},
    )


def approval_without_timeout() -> dict:
    approval = approval_state()
    del approval["TimeoutSeconds"]
    return state_machine({"Approval": approval})


def tagged_provider_missing(tag: str) -> list[dict]:
    tags = {"project": "p", "stack": "s", "model": "m", "managed-by": "pulumi"}
    del tags[tag]
    return [provider(tags), *protected_bucket()[1:]]


# rule name -> (failing example, passing example, what the failing report says). Resource rules take a resource,
# stack rules a list of resources.
EXAMPLES: dict[str, tuple[Any, Any, str]] = {
    "iam-no-wildcard-actions": (
        resource("aws:iam/role:Role", inlinePolicies=[{"name": "x", "policy": policy(allow(["s3:GetObject", "*"]))}]),
        resource("aws:iam/role:Role", inlinePolicies=[{"name": "x", "policy": policy(allow("s3:GetObject"))}]),
        "an Allow statement grants wildcard action(s) *",
    ),
    "iam-resource-star-only-where-required": (
        resource(ROLE_POLICY, policy=policy(allow("s3:GetObject", "*"))),
        resource(ROLE_POLICY, policy=policy(allow("ecr:GetAuthorizationToken", "*"))),
        'Resource "*" for s3:GetObject',
    ),
    "sg-no-world-ingress": (
        resource("aws:ec2/securityGroup:SecurityGroup", ingress=[{"cidrBlocks": ["10.0.0.0/8", "0.0.0.0/0"]}]),
        resource("aws:ec2/securityGroup:SecurityGroup", ingress=[{"securityGroups": ["sg-1"], "fromPort": 443}]),
        "ingress from 0.0.0.0/0 admits the whole internet",
    ),
    "rds-encrypted-private": (
        resource("aws:rds/cluster:Cluster", engine="aurora-mysql", storageEncrypted=False),
        resource("aws:rds/cluster:Cluster", engine="aurora-mysql", storageEncrypted=True),
        "storageEncrypted is not true",
    ),
    "no-plaintext-secrets": (
        lambda_function(SLACK_TOKEN=SLACK_TOKEN),
        lambda_function(SLACK_BOT_TOKEN_SECRET_ARN=SECRET_ARN),
        "environment variable SLACK_TOKEN holds what looks like a Slack token",
    ),
    "ecr-immutable-scan-on-push": (repository("MUTABLE"), repository("IMMUTABLE"), "imageTagMutability"),
    "sfn-logging-tracing": (
        state_machine({"A": lambda_state([LAMBDA_SERVICE_RETRY])}, tracingConfiguration={"enabled": False}),
        state_machine({"A": lambda_state([LAMBDA_SERVICE_RETRY])}),
        "tracingConfiguration.enabled is not true",
    ),
    "sfn-lambda-retries": (
        state_machine({"Notify": lambda_state()}),
        state_machine({"Notify": lambda_state([LAMBDA_SERVICE_RETRY])}),
        "Lambda task 'Notify' does not retry",
    ),
    "sfn-approval-timeout": (
        approval_without_timeout(),
        state_machine({"Approval": approval_state()}),
        "callback task 'Approval' has no TimeoutSeconds",
    ),
    "log-group-retention": (with_retention(0), with_retention(30), "no retentionInDays"),
    "no-nat-gateway": (
        resource("aws:ec2/natGateway:NatGateway", subnetId="subnet-1"),
        resource("aws:ec2/vpcEndpoint:VpcEndpoint", vpcEndpointType="Gateway"),
        "a NAT gateway bills by the hour",
    ),
    "s3-buckets-protected": (
        [provider(), resource("aws:s3/bucket:Bucket", "logs", bucket="logs")],
        protected_bucket(),
        "[s3-encryption] aws:s3/bucket:Bucket 'logs': needs a server-side encryption configuration",
    ),
    "tags": (tagged_provider_missing("model"), protected_bucket(), "[tags] pulumi:providers:aws 'aws': default tags"),
}


def args_for(rule_name: str, example: Any) -> ResourceValidationArgs | StackValidationArgs:
    return stack_args(example) if rule_name in rules.STACK_RULES else resource_args(example)


def test_every_rule_has_a_pack_example():
    assert set(EXAMPLES) == {rule.name for rule in rules.RULES}


@pytest.mark.parametrize("rule_name", list(EXAMPLES))
def test_failing_example_is_reported(rule_name):
    failing, _, expected = EXAMPLES[rule_name]
    reported = run_policy(rule_name, args_for(rule_name, failing))
    assert any(expected in message for message, _ in reported), reported


@pytest.mark.parametrize("rule_name", list(EXAMPLES))
def test_passing_example_is_not_reported(rule_name):
    _, passing, _ = EXAMPLES[rule_name]
    assert run_policy(rule_name, args_for(rule_name, passing)) == []


def test_stack_violations_point_at_the_resource():
    bucket = resource("aws:s3/bucket:Bucket", "logs", bucket="logs")
    reported = run_policy("s3-buckets-protected", stack_args([provider(), bucket]))
    assert {urn for _, urn in reported} == {"urn:logs"}
    assert len(reported) == 3


def test_a_resource_on_the_default_provider_is_caught_through_that_provider():
    # Unlike the mocks, the engine lists its default provider among the stack's resources; without the
    # aws:defaultTags config it has no default tags.
    default = {
        **provider(),
        "name": "default_7_0_0",
        "urn": "urn:pulumi:tooling::serverless-mlops::pulumi:providers:aws::default_7_0_0",
        "inputs": {"region": "eu-west-1"},
    }
    stray = {**resource("aws:s3/bucket:Bucket", "stray", bucket="stray"), "provider": f"{default['urn']}::id"}
    [(message, urn)] = run_policy("tags", stack_args([provider(), default, stray]))
    assert message.startswith("[tags] pulumi:providers:aws 'default_7_0_0': default tags lack project")
    assert urn == default["urn"]


def test_secretness_comes_from_the_properties_the_resource_declares_secret():
    # pulumi_policy hands secrets over decrypted and unmarked; pulumi-aws declares a secret version's
    # secretString secret (additionalSecretOutputs), which is what the pack can go by.
    version = resource(SECRET_VERSION, "v", secretId="s", secretString="x")
    assert run_policy("no-plaintext-secrets", resource_args(version, secret_outputs=("secretString",))) == []
    [(message, _)] = run_policy("no-plaintext-secrets", resource_args(version))
    assert message.startswith("secretString is not a Pulumi secret")


def test_an_unknown_value_the_rule_does_not_read_does_not_stop_it():
    # In a first preview most inputs hold unknowns (ARNs of resources not created yet).
    role_policy = resource(ROLE_POLICY, role=UNKNOWN_STRING_VALUE, policy=policy(allow("iam:*")))
    reported = run_policy("iam-no-wildcard-actions", resource_args(role_policy))
    assert [m for m, _ in reported] == ["an Allow statement grants wildcard action(s) iam:*"]


def test_an_unknown_value_the_rule_needs_is_left_to_pulumi_policy():
    # pulumi_policy turns this exception into an advisory "can't run policy during preview".
    with pytest.raises(UnknownValueError):
        run_policy("log-group-retention", resource_args(with_retention(UNKNOWN_NUMBER_VALUE)))


# ----------------------------------------------------------------------------------------- the pack itself


def test_every_rule_is_a_policy_with_its_metadata():
    by_name = {p.name: p for p in pack.policies()}
    assert list(by_name) == [rule.name for rule in rules.RULES]
    for rule in rules.RULES:
        found = by_name[rule.name]
        kind = ResourceValidationPolicy if isinstance(rule, rules.ResourceRule) else StackValidationPolicy
        assert isinstance(found, kind)
        assert found.description == rule.description
        assert found.enforcement_level.value == rule.enforcement
        assert found.tags == [rule.category]


def test_cost_rules_are_advisory_and_security_rules_mandatory():
    levels = {p.name: p.enforcement_level for p in pack.policies()}
    categories = {rule.name: rule.category for rule in rules.RULES}
    assert {n for n, level in levels.items() if level == EnforcementLevel.ADVISORY} == {
        n for n, c in categories.items() if c == "cost"
    }
    assert all(levels[n] == EnforcementLevel.MANDATORY for n, c in categories.items() if c == "security")


def _looks_like_a_rule(function: Callable[..., Any]) -> bool:
    parameters = list(inspect.signature(function).parameters)
    returns = inspect.signature(function).return_annotation
    return (parameters, returns) in ((["resource"], "list[str]"), (["resources"], "list[Violation]"))


def test_every_rule_function_in_rules_py_is_registered():
    # check_all takes the same argument as a stack rule: it is the one that runs them all.
    functions = [
        f
        for name, f in vars(rules).items()
        if inspect.isfunction(f) and not name.startswith("_") and f is not rules.check_all
    ]
    rule_functions = {f.__name__ for f in functions if f.__module__ == rules.__name__ and _looks_like_a_rule(f)}
    assert rule_functions == {rule.check.__name__ for rule in rules.RULES}
    assert len(rule_functions) == len(rules.RULES)


@pytest.fixture
def analyzer(monkeypatch) -> Any:
    """Run policy/__main__.py as ``pulumi preview --policy-pack policy`` does and return the analyzer it serves.

    The real ``PolicyPack`` validates the policies, starts its gRPC server on loopback and then sleeps until the
    engine stops it: the sleep is replaced by the KeyboardInterrupt it handles by stopping the server.
    """
    served = []
    add_servicer = pulumi_policy.policy.analyzer_pb2_grpc.add_AnalyzerServicer_to_server

    def keep(servicer: Any, server: Any) -> None:
        served.append(servicer)
        add_servicer(servicer, server)

    def stop(_seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(pulumi_policy.policy.analyzer_pb2_grpc, "add_AnalyzerServicer_to_server", keep)
    monkeypatch.setattr(pulumi_policy.policy, "time", types.SimpleNamespace(sleep=stop))
    monkeypatch.chdir(POLICY_DIR)
    monkeypatch.setattr(sys, "path", list(sys.path))  # __main__.py puts the repository root on it
    runpy.run_path(".", run_name="__main__")  # what `python -m pulumi.policy <engine> .` does
    [servicer] = served
    return servicer


def struct(value: dict) -> struct_pb2.Struct:
    wire = struct_pb2.Struct()
    wire.update(value)
    return wire


def wire_secret(value: Any) -> dict:
    return {rules.SECRET_SIGNATURE_KEY: rules.SECRET_SIGNATURE, "value": value}


def analyze(analyzer: Any, resource_: dict, secret_outputs: tuple[str, ...] = ()) -> list[Any]:
    request = proto.AnalyzeRequest(
        type=resource_["type"],
        urn=resource_["urn"],
        name=resource_["name"],
        properties=struct(resource_["inputs"]),
        options=proto.AnalyzerResourceOptions(additionalSecretOutputs=list(secret_outputs)),
        provider=proto.AnalyzerProviderResource(
            type="pulumi:providers:aws", urn=PROVIDER_URN, name="aws", properties=struct(provider()["inputs"])
        ),
    )
    return list(analyzer.Analyze(request, None).diagnostics)


def test_main_serves_every_rule_at_its_level(analyzer):
    info = analyzer.GetAnalyzerInfo(None, None)
    assert info.name == pack.PACK_NAME
    levels = {p.name: p.enforcementLevel for p in info.policies}
    assert levels == {
        rule.name: proto.MANDATORY if rule.enforcement == "mandatory" else proto.ADVISORY for rule in rules.RULES
    }


def test_wire_properties_are_camel_case_and_numbers_arrive_as_floats(analyzer):
    assert analyze(analyzer, with_retention(30)) == []
    [diagnostic] = analyze(analyzer, with_retention(0))
    assert diagnostic.policyName == "log-group-retention"
    assert diagnostic.enforcementLevel == proto.ADVISORY


def test_enforcement_levels_follow_the_policy_config(analyzer):
    nat = resource("aws:ec2/natGateway:NatGateway", "nat", subnetId="subnet-1")
    [default] = analyze(analyzer, nat)
    assert default.enforcementLevel == proto.ADVISORY
    # What `--policy-pack-config` with {"no-nat-gateway": "mandatory"} makes the engine send.
    config = proto.ConfigureAnalyzerRequest(policyConfig={"no-nat-gateway": proto.PolicyConfig(enforcementLevel=1)})
    analyzer.Configure(config, None)
    [configured] = analyze(analyzer, nat)
    assert configured.enforcementLevel == proto.MANDATORY


def test_secrets_reach_the_policy_unmarked(analyzer):
    # The engine sends the secret marker; pulumi_policy 1.21 strips it before any policy runs.
    version = resource(SECRET_VERSION, "v", secretId="s", secretString=wire_secret("x"))
    [diagnostic] = analyze(analyzer, version)
    assert "secretString is not a Pulumi secret" in diagnostic.message
    assert analyze(analyzer, version, secret_outputs=("secretString",)) == []


def test_a_value_unknown_in_preview_gives_an_advisory_note(analyzer):
    [diagnostic] = analyze(analyzer, with_retention(UNKNOWN_NUMBER_VALUE))
    assert "can't run policy 'log-group-retention'" in diagnostic.message
    assert diagnostic.enforcementLevel == proto.ADVISORY


def test_stack_policies_see_the_provider_of_each_resource(analyzer):
    def wire(resource_: dict, provider_: dict | None) -> Any:
        return proto.AnalyzerResource(
            type=resource_["type"],
            urn=resource_["urn"],
            name=resource_["name"],
            properties=struct(resource_["inputs"]),
            provider=None
            if provider_ is None
            else proto.AnalyzerProviderResource(
                type=provider_["type"], urn=provider_["urn"], name="aws", properties=struct(provider_["inputs"])
            ),
        )

    tagged = provider()
    resources = [wire(tagged, None), *(wire(r, tagged) for r in protected_bucket()[1:])]
    assert list(analyzer.AnalyzeStack(proto.AnalyzeStackRequest(resources=resources), None).diagnostics) == []
    stray = resource("aws:s3/bucket:Bucket", "stray", bucket="stray")
    response = analyzer.AnalyzeStack(proto.AnalyzeStackRequest(resources=[*resources, wire(stray, None)]), None)
    found = {(d.policyName, d.urn) for d in response.diagnostics}
    assert ("tags", "urn:stray") in found
    assert ("s3-buckets-protected", "urn:stray") in found


def test_pulumi_policy_yaml_runs_the_pack_in_the_programs_environment():
    project = yaml.safe_load((POLICY_DIR / "PulumiPolicy.yaml").read_text())
    assert project["runtime"]["name"] == "python"
    virtualenv = POLICY_DIR / project["runtime"]["options"]["virtualenv"]
    assert virtualenv.resolve() == (POLICY_DIR.parent / ".venv").resolve()
    assert isinstance(project["version"], str) and project["version"].count(".") == 2
