"""The tooling account's VPC: two public and two isolated subnets over two Availability Zones, and no NAT gateway.

- Public subnets route 0.0.0.0/0 to an internet gateway. The MLflow Fargate task runs here with a public IP and
  reaches ECR, Secrets Manager and CloudWatch Logs through the gateway, which has no hourly charge (a NAT gateway
  costs about $33 a month per AZ before data; interface endpoints about $7-8 a month each per AZ). Security groups,
  not the subnet, keep the task private: it admits traffic only from the API Gateway VPC link.
- Isolated subnets have no route out of the VPC. Aurora lives here, and the API Gateway VPC link's network
  interfaces, which only need to reach the task inside the VPC.
- An S3 gateway endpoint (free) on the public route table keeps S3 traffic (artifacts, ECR image layers) on the
  AWS network. It is left off the isolated route table on purpose: nothing there needs S3, and a route to it
  would be a way out.

Subnets leave ``map_public_ip_on_launch`` off: the ECS service asks for the task's public IP explicitly, so nothing
else launched into a public subnet is exposed by accident. The VPC's default security group is emptied of rules.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

AZ_COUNT = 2
# Each subnet is a sixteenth of the VPC: four are used, the rest are left for later tiers.
SUBNET_PREFIX_STEP = 4


@dataclass(frozen=True)
class NetworkArgs:
    region: str
    cidr_block: str = "10.40.0.0/16"
    # Two AZ names (e.g. ("eu-west-1a", "eu-west-1b")); empty: the region's first two available AZs that need no
    # opt-in (aws.get_availability_zones, through the component's provider).
    availability_zones: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        network = ipaddress.ip_network(self.cidr_block)  # raises ValueError for a malformed block or host bits
        if network.version != 4 or not 16 <= network.prefixlen <= 28 - SUBNET_PREFIX_STEP:
            raise ValueError(f"cidr_block {self.cidr_block!r}: expected an IPv4 block from /16 to /24")
        if self.availability_zones and len(self.availability_zones) != AZ_COUNT:
            raise ValueError(f"availability_zones: expected {AZ_COUNT} names or none, got {self.availability_zones!r}")

    def subnet_cidrs(self) -> tuple[list[str], list[str]]:
        """(public, isolated) CIDR blocks, one of each per AZ, in AZ order."""
        network = ipaddress.ip_network(self.cidr_block)
        blocks = [str(b) for b in network.subnets(prefixlen_diff=SUBNET_PREFIX_STEP)]
        return blocks[:AZ_COUNT], blocks[AZ_COUNT : 2 * AZ_COUNT]


class Network(pulumi.ComponentResource):
    vpc: aws.ec2.Vpc
    vpc_id: pulumi.Output[str]
    vpc_cidr_block: pulumi.Output[str]
    availability_zones: list[pulumi.Output[str]]
    public_subnet_ids: list[pulumi.Output[str]]
    isolated_subnet_ids: list[pulumi.Output[str]]
    public_route_table_id: pulumi.Output[str]
    isolated_route_table_id: pulumi.Output[str]
    route_table_ids: list[pulumi.Output[str]]
    s3_endpoint_id: pulumi.Output[str]
    s3_prefix_list_id: pulumi.Output[str]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("serverless-mlops:network:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.availability_zones = self._zones(args)

        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr_block,
            # Both are needed for the Cloud Map private DNS namespace (a Route 53 private hosted zone).
            enable_dns_support=True,
            enable_dns_hostnames=True,
            opts=child,
        )
        self.vpc_id = self.vpc.id
        self.vpc_cidr_block = self.vpc.cidr_block
        # No rules: nothing may use the default group by accident.
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", vpc_id=self.vpc.id, ingress=[], egress=[], opts=child)

        gateway = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=self.vpc.id, opts=child)
        public_table = aws.ec2.RouteTable(f"{name}-public", vpc_id=self.vpc.id, opts=child)
        aws.ec2.Route(
            f"{name}-public-internet",
            route_table_id=public_table.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=gateway.id,
            opts=child,
        )
        # Only the VPC's implicit local route: no way out.
        isolated_table = aws.ec2.RouteTable(f"{name}-isolated", vpc_id=self.vpc.id, opts=child)

        public_cidrs, isolated_cidrs = args.subnet_cidrs()
        self.public_subnet_ids = self._subnets(name, "public", public_cidrs, public_table, child)
        self.isolated_subnet_ids = self._subnets(name, "isolated", isolated_cidrs, isolated_table, child)
        self.public_route_table_id = public_table.id
        self.isolated_route_table_id = isolated_table.id
        self.route_table_ids = [public_table.id, isolated_table.id]

        s3_endpoint = aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=self.vpc.id,
            service_name=f"com.amazonaws.{args.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[public_table.id],
            opts=child,
        )
        self.s3_endpoint_id = s3_endpoint.id
        self.s3_prefix_list_id = s3_endpoint.prefix_list_id

        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "vpcCidrBlock": self.vpc_cidr_block,
                "availabilityZones": self.availability_zones,
                "publicSubnetIds": self.public_subnet_ids,
                "isolatedSubnetIds": self.isolated_subnet_ids,
                "publicRouteTableId": self.public_route_table_id,
                "isolatedRouteTableId": self.isolated_route_table_id,
                "s3EndpointId": self.s3_endpoint_id,
            }
        )

    def _zones(self, args: NetworkArgs) -> list[pulumi.Output[str]]:
        if args.availability_zones:
            return [pulumi.Output.from_input(zone) for zone in args.availability_zones]
        found = aws.get_availability_zones_output(
            state="available",
            # Local and Wavelength Zones need an opt-in; regular AZs do not.
            filters=[aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=["opt-in-not-required"])],
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        return [found.names.apply(lambda names, i=i: _nth_zone(names, i)) for i in range(AZ_COUNT)]

    def _subnets(
        self,
        name: str,
        tier: str,
        cidrs: Sequence[str],
        table: aws.ec2.RouteTable,
        child: pulumi.ResourceOptions,
    ) -> list[pulumi.Output[str]]:
        ids = []
        for index, (cidr, zone) in enumerate(zip(cidrs, self.availability_zones, strict=True)):
            subnet = aws.ec2.Subnet(
                f"{name}-{tier}-{index}",
                vpc_id=self.vpc.id,
                cidr_block=cidr,
                availability_zone=zone,
                map_public_ip_on_launch=False,
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-{tier}-{index}-routes", subnet_id=subnet.id, route_table_id=table.id, opts=child
            )
            ids.append(subnet.id)
        return ids


def _nth_zone(names: Sequence[str], index: int) -> str:
    if len(names) < AZ_COUNT:
        raise ValueError(f"the region has {len(names)} available AZ(s); the network needs {AZ_COUNT}")
    return sorted(names)[index]
