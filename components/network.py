"""Network: a self-contained VPC per regional stack (nothing imported from outside, FC-002-1).

Private subnets in three AZs, a DB subnet group, security groups that open 3306 only from
the Lambda and application groups (never 0.0.0.0/0), and the VPC endpoints the in-VPC
Lambdas need to reach AWS APIs without a NAT gateway (FC-000-2). A NAT gateway exists only
behind an explicit flag.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.providers import child_opts
from components.tags import resource_tags

DB_PORT = 3306
HTTPS = 443

# Services the in-VPC Lambdas call (health check, workers, migrator, probe): Secrets
# Manager (credentials), CloudWatch metrics (`monitoring`) and Logs, RDS (status and
# rotation's DescribeDBClusters), SNS (notifications), SSM (schema version parameter).
DEFAULT_INTERFACE_ENDPOINTS: tuple[str, ...] = ("secretsmanager", "monitoring", "logs", "rds", "sns", "ssm")
# Gateway endpoints are free and routed through the route table: S3 (migration sets) and
# DynamoDB.
DEFAULT_GATEWAY_ENDPOINTS: tuple[str, ...] = ("s3", "dynamodb")


@dataclass(frozen=True, kw_only=True)
class NetworkArgs:
    cidr_block: str
    """VPC CIDR block (/16 to /24, validated by the environment model). Required."""
    region: str
    """Region of the VPC; used for endpoint service names. Required."""
    availability_zones: Sequence[str]
    """Exactly three AZ names; one private subnet in each. Required."""
    nat_gateway: bool = False
    """Create a public subnet, an internet gateway and one NAT gateway. Defaults to False."""
    interface_endpoints: Sequence[str] = DEFAULT_INTERFACE_ENDPOINTS
    """Interface endpoint services (com.amazonaws.<region>.<service>). Defaults to the services the
    Lambdas call."""
    gateway_endpoints: Sequence[str] = DEFAULT_GATEWAY_ENDPOINTS
    """Gateway endpoint services. Defaults to s3 and dynamodb."""
    db_port: int = DB_PORT
    """Database port opened from the Lambda and application groups. Defaults to 3306."""
    db_subnet_group_name: str
    """Physical name of the DB subnet group. Required."""
    extra_tags: dict[str, str] = field(default_factory=dict)
    """Tags added to every child besides the provider's default tags. Defaults to none."""


def subnet_cidrs(cidr_block: str, count: int = 3) -> tuple[list[str], str]:
    """Carve ``count`` private subnets (/n+4 each) and one public subnet from the last /n+4."""
    network = ipaddress.IPv4Network(cidr_block)
    quarters = list(network.subnets(prefixlen_diff=4))
    private = [str(s) for s in quarters[:count]]
    public = str(next(quarters[-1].subnets(new_prefix=min(quarters[-1].prefixlen + 4, 28))))
    return private, public


def pick_availability_zones(provider: aws.Provider, count: int = 3) -> list[str]:
    """The first ``count`` AZs of the provider's region that need no opt-in (no Local Zones)."""
    zones = aws.get_availability_zones(
        state="available",
        filters=[aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=["opt-in-not-required"])],
        opts=pulumi.InvokeOptions(provider=provider),
    )
    names = sorted(zones.names)
    if len(names) < count:
        raise ValueError(f"region has only {len(names)} standard AZs ({names}); the network needs {count}")
    return names[:count]


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    private_subnet_ids: pulumi.Output[list[str]]
    private_route_table_ids: pulumi.Output[list[str]]
    db_subnet_group_name: pulumi.Output[str]
    db_security_group_id: pulumi.Output[str]
    lambda_security_group_id: pulumi.Output[str]
    app_security_group_id: pulumi.Output[str]
    endpoint_security_group_id: pulumi.Output[str]

    def __init__(
        self, name: str, args: NetworkArgs, provider: aws.Provider, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("aurora:network:Network", name, None, opts)
        if len(args.availability_zones) != 3 or len(set(args.availability_zones)) != 3:
            raise ValueError(
                f"{name}: availability_zones must be three distinct AZs, got {args.availability_zones}"
            )
        tags = args.extra_tags

        def opts_(**kw: object) -> pulumi.ResourceOptions:
            return child_opts(self, provider, **kw)

        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr_block,
            enable_dns_support=True,
            enable_dns_hostnames=True,  # needed for private DNS of interface endpoints
            tags=resource_tags(f"{name}-vpc", tags),
            opts=opts_(),
        )
        private_cidrs, public_cidr = subnet_cidrs(args.cidr_block)
        self.private_subnets = [
            aws.ec2.Subnet(
                f"{name}-private-{az}",
                vpc_id=self.vpc.id,
                cidr_block=cidr,
                availability_zone=az,
                map_public_ip_on_launch=False,
                tags=resource_tags(f"{name}-private-{az}", {**tags, "Tier": "private"}),
                opts=opts_(),
            )
            for az, cidr in zip(args.availability_zones, private_cidrs, strict=True)
        ]
        self.private_route_table = aws.ec2.RouteTable(
            f"{name}-private-rt",
            vpc_id=self.vpc.id,
            tags=resource_tags(f"{name}-private-rt", tags),
            opts=opts_(),
        )
        for az, subnet in zip(args.availability_zones, self.private_subnets, strict=True):
            aws.ec2.RouteTableAssociation(
                f"{name}-private-rt-{az}",
                subnet_id=subnet.id,
                route_table_id=self.private_route_table.id,
                opts=opts_(),
            )
        if args.nat_gateway:
            self._nat(name, args, public_cidr, opts_, tags)

        self.db_subnet_group = aws.rds.SubnetGroup(
            f"{name}-db-subnets",
            name=args.db_subnet_group_name,
            description=f"Private subnets of {name} for Aurora",
            subnet_ids=[s.id for s in self.private_subnets],
            tags=resource_tags(args.db_subnet_group_name, tags),
            opts=opts_(),
        )
        self._security_groups(name, args, opts_, tags)
        self._endpoints(name, args, opts_, tags)

        self.vpc_id = self.vpc.id
        self.private_subnet_ids = pulumi.Output.all(*[s.id for s in self.private_subnets]).apply(list)
        # A list, though there is one table today: the failover stack routes to the peer VPCs
        # in every table listed here, so a second table cannot be left out by accident.
        self.private_route_table_ids = pulumi.Output.all(self.private_route_table.id).apply(list)
        self.db_subnet_group_name = self.db_subnet_group.name
        self.db_security_group_id = self.db_sg.id
        self.lambda_security_group_id = self.lambda_sg.id
        self.app_security_group_id = self.app_sg.id
        self.endpoint_security_group_id = self.endpoint_sg.id
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "private_subnet_ids": self.private_subnet_ids,
                "private_route_table_ids": self.private_route_table_ids,
                "db_subnet_group_name": self.db_subnet_group_name,
                "db_security_group_id": self.db_security_group_id,
                "lambda_security_group_id": self.lambda_security_group_id,
                "app_security_group_id": self.app_security_group_id,
                "endpoint_security_group_id": self.endpoint_security_group_id,
            }
        )

    def _nat(self, name: str, args: NetworkArgs, public_cidr: str, opts_, tags: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
        az = args.availability_zones[0]
        igw = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=self.vpc.id, tags=resource_tags(f"{name}-igw", tags), opts=opts_()
        )
        public = aws.ec2.Subnet(
            f"{name}-public-{az}",
            vpc_id=self.vpc.id,
            cidr_block=public_cidr,
            availability_zone=az,
            map_public_ip_on_launch=False,
            tags=resource_tags(f"{name}-public-{az}", {**tags, "Tier": "public"}),
            opts=opts_(),
        )
        public_rt = aws.ec2.RouteTable(
            f"{name}-public-rt",
            vpc_id=self.vpc.id,
            tags=resource_tags(f"{name}-public-rt", tags),
            opts=opts_(),
        )
        aws.ec2.Route(
            f"{name}-public-default", route_table_id=public_rt.id, destination_cidr_block="0.0.0.0/0",
            gateway_id=igw.id, opts=opts_(),
        )  # fmt: skip
        aws.ec2.RouteTableAssociation(
            f"{name}-public-rt-{az}", subnet_id=public.id, route_table_id=public_rt.id, opts=opts_()
        )
        eip = aws.ec2.Eip(
            f"{name}-nat-eip", domain="vpc", tags=resource_tags(f"{name}-nat-eip", tags), opts=opts_()
        )
        nat = aws.ec2.NatGateway(
            f"{name}-nat", allocation_id=eip.id, subnet_id=public.id, tags=resource_tags(f"{name}-nat", tags),
            opts=opts_(depends_on=[igw]),
        )  # fmt: skip
        aws.ec2.Route(
            f"{name}-private-default", route_table_id=self.private_route_table.id,
            destination_cidr_block="0.0.0.0/0", nat_gateway_id=nat.id, opts=opts_(),
        )  # fmt: skip

    def _security_groups(self, name: str, args: NetworkArgs, opts_, tags: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
        def group(kind: str, description: str) -> aws.ec2.SecurityGroup:
            # No inline rules: every rule is its own resource, so nothing is open by default.
            return aws.ec2.SecurityGroup(
                f"{name}-{kind}-sg",
                vpc_id=self.vpc.id,
                description=description,
                tags=resource_tags(f"{name}-{kind}-sg", tags),
                opts=opts_(),
            )

        self.db_sg = group("db", "Aurora cluster: MySQL from the Lambda and application groups only")
        self.lambda_sg = group("lambda", "In-VPC Lambdas: MySQL to the cluster, HTTPS to VPC endpoints")
        self.app_sg = group("app", "Applications allowed to reach the cluster")
        self.endpoint_sg = group("endpoints", "Interface VPC endpoints: HTTPS from the Lambda and app groups")

        for source_kind, source in (("lambda", self.lambda_sg), ("app", self.app_sg)):
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-db-from-{source_kind}",
                security_group_id=self.db_sg.id,
                referenced_security_group_id=source.id,
                ip_protocol="tcp",
                from_port=args.db_port,
                to_port=args.db_port,
                description=f"MySQL from the {source_kind} group",
                opts=opts_(),
            )
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-{source_kind}-to-db",
                security_group_id=source.id,
                referenced_security_group_id=self.db_sg.id,
                ip_protocol="tcp",
                from_port=args.db_port,
                to_port=args.db_port,
                description="MySQL to the cluster",
                opts=opts_(),
            )
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-endpoints-from-{source_kind}",
                security_group_id=self.endpoint_sg.id,
                referenced_security_group_id=source.id,
                ip_protocol="tcp",
                from_port=HTTPS,
                to_port=HTTPS,
                description=f"HTTPS from the {source_kind} group",
                opts=opts_(),
            )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-lambda-to-endpoints",
            security_group_id=self.lambda_sg.id,
            referenced_security_group_id=self.endpoint_sg.id,
            ip_protocol="tcp",
            from_port=HTTPS,
            to_port=HTTPS,
            description="HTTPS to interface VPC endpoints",
            opts=opts_(),
        )
        if args.nat_gateway:
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-lambda-to-internet",
                security_group_id=self.lambda_sg.id,
                cidr_ipv4="0.0.0.0/0",
                ip_protocol="tcp",
                from_port=HTTPS,
                to_port=HTTPS,
                description="HTTPS through the NAT gateway (network.nat_gateway: true)",
                opts=opts_(),
            )

    def _endpoints(self, name: str, args: NetworkArgs, opts_, tags: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
        self.interface_endpoints = {
            service: aws.ec2.VpcEndpoint(
                f"{name}-endpoint-{service}",
                vpc_id=self.vpc.id,
                service_name=f"com.amazonaws.{args.region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=[s.id for s in self.private_subnets],
                security_group_ids=[self.endpoint_sg.id],
                tags=resource_tags(f"{name}-endpoint-{service}", tags),
                opts=opts_(),
            )
            for service in args.interface_endpoints
        }
        self.gateway_endpoints = {}
        for service in args.gateway_endpoints:
            endpoint = aws.ec2.VpcEndpoint(
                f"{name}-endpoint-{service}",
                vpc_id=self.vpc.id,
                service_name=f"com.amazonaws.{args.region}.{service}",
                vpc_endpoint_type="Gateway",
                route_table_ids=[self.private_route_table.id],
                tags=resource_tags(f"{name}-endpoint-{service}", tags),
                opts=opts_(),
            )
            self.gateway_endpoints[service] = endpoint
            # Gateway endpoints are routes to the service's prefix list; the Lambdas' group
            # must allow HTTPS to it.
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-lambda-to-{service}",
                security_group_id=self.lambda_sg.id,
                prefix_list_id=endpoint.prefix_list_id,
                ip_protocol="tcp",
                from_port=HTTPS,
                to_port=HTTPS,
                description=f"HTTPS to the {service} gateway endpoint",
                opts=opts_(),
            )
