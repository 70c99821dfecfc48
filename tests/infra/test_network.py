"""Tooling network: two public and two isolated subnets over two AZs, an internet gateway, no NAT gateway."""

from __future__ import annotations

import ipaddress

import pulumi
import pulumi_aws as aws
import pytest

from infra import naming
from infra.components.network import Network, NetworkArgs
from policy import rules
from tests.infra.harness import MODEL, PROJECT, REGION, TOOLING_ACCOUNT, StackRun, run_stack


def tagged_provider() -> pulumi.ResourceOptions:
    provider = aws.Provider(
        "aws",
        region=REGION,
        allowed_account_ids=[TOOLING_ACCOUNT],
        default_tags=aws.ProviderDefaultTagsArgs(tags=naming.default_tags(PROJECT, "tooling", MODEL)),
    )
    return pulumi.ResourceOptions(providers={"aws": provider})


def run_network(args: NetworkArgs) -> StackRun:
    def program() -> None:
        network = Network("network", args, opts=tagged_provider())
        pulumi.export("vpcId", network.vpc_id)
        pulumi.export("publicSubnetIds", network.public_subnet_ids)
        pulumi.export("isolatedSubnetIds", network.isolated_subnet_ids)
        pulumi.export("publicRouteTableId", network.public_route_table_id)
        pulumi.export("isolatedRouteTableId", network.isolated_route_table_id)
        pulumi.export("routeTableIds", network.route_table_ids)
        pulumi.export("availabilityZones", network.availability_zones)

    return run_stack("tooling", program=program)


@pytest.fixture(scope="module")
def run() -> StackRun:
    return run_network(NetworkArgs(region=REGION))


def subnets(run: StackRun, tier: str) -> list:
    # Sorted by name: resources register concurrently, so their order in the run varies.
    found = [s for s in run.of_type("aws:ec2/subnet:Subnet") if s.name.startswith(f"network-{tier}-")]
    return sorted(found, key=lambda s: s.name)


def table_of(run: StackRun, subnet_id: str) -> str:
    [association] = [
        a
        for a in run.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")
        if a.inputs["subnetId"] == subnet_id
    ]
    return association.inputs["routeTableId"]


def test_no_nat_gateway_and_no_elastic_ip(run):
    types = {r.type for r in run}
    assert "aws:ec2/natGateway:NatGateway" not in types
    assert "aws:ec2/eip:Eip" not in types


def test_vpc_resolves_private_dns_names(run):
    vpc = run.one("aws:ec2/vpc:Vpc").inputs
    assert vpc["cidrBlock"] == "10.40.0.0/16"
    assert vpc["enableDnsSupport"] is True and vpc["enableDnsHostnames"] is True


def test_two_public_and_two_isolated_subnets_one_of_each_per_az(run):
    public, isolated = subnets(run, "public"), subnets(run, "isolated")
    assert len(public) == len(isolated) == 2
    # The lookup answers b, a, c: the network takes the first two in name order, stable across runs.
    zones = ["eu-west-1a", "eu-west-1b"]
    assert [s.inputs["availabilityZone"] for s in public] == zones
    assert [s.inputs["availabilityZone"] for s in isolated] == zones
    assert run.exports["availabilityZones"] == zones
    vpc = ipaddress.ip_network(run.one("aws:ec2/vpc:Vpc").inputs["cidrBlock"])
    blocks = [ipaddress.ip_network(s.inputs["cidrBlock"]) for s in public + isolated]
    assert all(b.subnet_of(vpc) for b in blocks)
    assert not any(a.overlaps(b) for i, a in enumerate(blocks) for b in blocks[i + 1 :])
    # The ECS service asks for its task's public IP; nothing else gets one by launching into a public subnet.
    assert all(s.inputs["mapPublicIpOnLaunch"] is False for s in public + isolated)


def test_public_subnets_route_to_the_internet_gateway_and_isolated_ones_nowhere(run):
    gateway = run.one("aws:ec2/internetGateway:InternetGateway")
    [route] = run.of_type("aws:ec2/route:Route")
    public_table, isolated_table = run.named("network-public"), run.named("network-isolated")
    assert route.inputs == {
        "routeTableId": public_table.id,
        "destinationCidrBlock": "0.0.0.0/0",
        "gatewayId": gateway.id,
    }
    assert not public_table.inputs.get("routes") and not isolated_table.inputs.get("routes")
    assert {table_of(run, s.id) for s in subnets(run, "public")} == {public_table.id}
    assert {table_of(run, s.id) for s in subnets(run, "isolated")} == {isolated_table.id}


def test_s3_gateway_endpoint_is_on_the_public_route_table_only(run):
    endpoint = run.one("aws:ec2/vpcEndpoint:VpcEndpoint").inputs
    assert endpoint["vpcEndpointType"] == "Gateway"
    assert endpoint["serviceName"] == f"com.amazonaws.{REGION}.s3"
    assert endpoint["routeTableIds"] == [run.named("network-public").id]


def test_default_security_group_has_no_rules(run):
    default = run.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup").inputs
    assert default["ingress"] == [] and default["egress"] == []


def test_outputs_name_what_was_created(run):
    assert run.exports["vpcId"] == run.one("aws:ec2/vpc:Vpc").id
    assert run.exports["publicSubnetIds"] == [s.id for s in subnets(run, "public")]
    assert run.exports["isolatedSubnetIds"] == [s.id for s in subnets(run, "isolated")]
    tables = [run.named("network-public").id, run.named("network-isolated").id]
    assert [run.exports["publicRouteTableId"], run.exports["isolatedRouteTableId"]] == tables
    assert run.exports["routeTableIds"] == tables


def test_every_policy_rule_passes(run):
    assert rules.check_all(run.rule_inputs()) == []


def test_zones_and_block_can_be_given():
    run = run_network(
        NetworkArgs(region=REGION, cidr_block="10.8.0.0/20", availability_zones=("eu-west-1c", "eu-west-1a"))
    )
    assert [s.inputs["availabilityZone"] for s in subnets(run, "public")] == ["eu-west-1c", "eu-west-1a"]
    assert [s.inputs["cidrBlock"] for s in subnets(run, "public") + subnets(run, "isolated")] == [
        "10.8.0.0/24",
        "10.8.1.0/24",
        "10.8.2.0/24",
        "10.8.3.0/24",
    ]


@pytest.mark.parametrize(
    "overrides",
    [{"cidr_block": "10.0.0.1/16"}, {"cidr_block": "10.0.0.0/26"}, {"availability_zones": ("eu-west-1a",)}],
)
def test_bad_args_are_refused(overrides):
    with pytest.raises(ValueError):
        NetworkArgs(region=REGION, **overrides)
