"""Run a stack's real program in-process under Pulumi's mocks, and record what it declares.

This is the engine of the offline plan and of the in-process runner: no Pulumi CLI, no
provider plugin, no AWS. Every resource registration is recorded with its type token,
name, parent, provider and engine-named (camelCase) inputs; secret values are masked. The
mocks compute plausible outputs (ids, ARNs, endpoint addresses) so later stacks can be fed,
and they fail loudly on any invoke they don't know.
"""

from __future__ import annotations

import contextvars
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from model.environment import PROJECT_NAME
from model.topology import encode_config

SECRET_MASK = "[secret]"
MOCK_REGION_FALLBACK = "us-east-1"


class UnexpectedInvokeError(RuntimeError):
    pass


@dataclass
class RecordedResource:
    urn: str
    type: str
    name: str
    parent: str | None
    provider: str | None
    inputs: dict[str, Any]
    custom: bool
    id: str = ""
    region: str | None = None
    dependencies: tuple[str, ...] = ()
    """URNs the resource explicitly waits for (depends_on and input dependencies); not in the
    plan document, read by tests and guardrails."""
    ignore_changes: tuple[str, ...] = ()
    """Input paths the engine never diffs (ignore_changes); not in the plan document."""

    def to_json(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "provider": self.provider,
            "region": self.region,
            "inputs": self.inputs,
        }


@dataclass
class StackRun:
    stack: str
    resources: list[RecordedResource]
    outputs: dict[str, Any]
    """Outputs with secret values masked (what may be printed)."""
    raw_outputs: dict[str, Any] = field(repr=False, default_factory=dict)
    """Outputs with mock secret values in clear (for feeding later stacks; never printed)."""
    secret_outputs: set[str] = field(default_factory=set)
    writer_lookups: list[str] = field(default_factory=list)
    """Invokes the program made that reveal where the writer is right now (none may: programs are
    writer-agnostic, DESIGN.md section 4b)."""


WRITER_REVEALING_INVOKES = frozenset({"aws:rds/getGlobalCluster:getGlobalCluster"})
"""Lookups that tell a program which member of the global cluster is the writer."""


@dataclass(frozen=True)
class WriterAssumption:
    """Where the offline plan pretends the writer is, for lookups that would reveal it."""

    region: str
    global_cluster_id: str
    members: tuple[tuple[str, str], ...]
    """(region, cluster ARN) of every member."""


def _mask(value: Any) -> Any:
    """Replace secret-wrapped values (as the monitor deserialises them) with a mask."""
    if rpc.is_rpc_secret(value):
        return SECRET_MASK
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    if isinstance(value, pulumi.Resource):
        return "<resource>"
    if isinstance(value, (pulumi.Asset, pulumi.Archive)):
        return f"<{type(value).__name__}>"
    return value


def _unwrap(value: Any) -> Any:
    if rpc.is_rpc_secret(value):
        return _unwrap(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


def _digest(*parts: str, length: int = 17) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


class PlanMocks(pulumi.runtime.Mocks):
    """Plausible AWS answers, deterministic per stack and resource name.

    ``minted_in`` names, by (type, name), resources whose answers are those they got in another
    stack: what `infra rehome` moves between states keeps its id and ARN.
    """

    def __init__(
        self,
        *,
        account_id: str,
        stack: str,
        writer: WriterAssumption | None = None,
        minted_in: Mapping[tuple[str, str], str] | None = None,
    ) -> None:
        self.account_id = account_id
        self.stack = stack
        self.writer = writer
        self.minted_in = dict(minted_in or {})
        self.provider_regions: dict[str, str] = {}
        self.writer_lookups: list[str] = []

    def region_of(self, provider_ref: str | None, inputs: Mapping[str, Any]) -> str:
        if inputs.get("region"):
            return str(inputs["region"])
        if provider_ref:
            # A provider reference is "<urn>::<id>"; the URN ends with the provider's name.
            provider_name = provider_ref.rsplit("::", 1)[0].rsplit("::", 1)[-1]
            if provider_name in self.provider_regions:
                return self.provider_regions[provider_name]
        return MOCK_REGION_FALLBACK

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        inputs = _unwrap(dict(args.inputs))
        if args.typ.startswith("pulumi:providers:"):
            self.provider_regions[args.name] = str(inputs.get("region", MOCK_REGION_FALLBACK))
            return f"{args.name}-provider-id", inputs
        region = self.region_of(args.provider, inputs)
        token = _digest(self.minted_in.get((args.typ, args.name), self.stack), args.typ, args.name)
        state = dict(inputs)
        resource_id = self._state_for(args.typ, args.name, inputs, state, region, token)
        state.setdefault("region", region)
        return resource_id, state

    def _arn(self, service: str, region: str, resource: str) -> str:
        return f"arn:aws:{service}:{region}:{self.account_id}:{resource}"

    def _state_for(
        self, typ: str, name: str, inputs: Mapping[str, Any], state: dict[str, Any], region: str, token: str
    ) -> str:
        prefixes = {
            "aws:ec2/vpc:Vpc": "vpc",
            "aws:ec2/subnet:Subnet": "subnet",
            "aws:ec2/securityGroup:SecurityGroup": "sg",
            "aws:ec2/routeTable:RouteTable": "rtb",
            "aws:ec2/vpcEndpoint:VpcEndpoint": "vpce",
            "aws:ec2/internetGateway:InternetGateway": "igw",
            "aws:ec2/natGateway:NatGateway": "nat",
            "aws:ec2/eip:Eip": "eipalloc",
            "aws:ec2/vpcPeeringConnection:VpcPeeringConnection": "pcx",
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "sgr",
            "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "sgr",
        }
        if typ in prefixes:
            rid = f"{prefixes[typ]}-{token}"
            if typ == "aws:ec2/vpcEndpoint:VpcEndpoint" and inputs.get("vpcEndpointType") == "Gateway":
                state["prefixListId"] = f"pl-{token[:8]}"
            if typ == "aws:ec2/securityGroup:SecurityGroup":
                state["arn"] = self._arn("ec2", region, f"security-group/{rid}")
            return rid
        if typ == "aws:kms/key:Key":
            prefix = "mrk-" if inputs.get("multiRegion") else ""
            key_id = f"{prefix}{token[:8]}-{token[8:12]}-{token[12:16]}-mock"
            state["arn"] = self._arn("kms", region, f"key/{key_id}")
            state["keyId"] = key_id
            return key_id
        if typ == "aws:kms/replicaKey:ReplicaKey":
            key_id = f"mrk-{token[:24]}"
            state["arn"] = self._arn("kms", region, f"key/{key_id}")
            state["keyId"] = key_id
            return key_id
        if typ == "aws:kms/alias:Alias":
            state["arn"] = self._arn("kms", region, str(inputs.get("name", name)))
            return str(inputs.get("name", name))
        if typ == "aws:secretsmanager/secret:Secret":
            secret_name = str(inputs.get("name", name))
            arn = self._arn("secretsmanager", region, f"secret:{secret_name}-{token[:6]}")
            state["arn"] = arn
            state["replicas"] = [
                {**r, "status": "InSync", "arn": arn.replace(f":{region}:", f":{r.get('region')}:")}
                for r in inputs.get("replicas", []) or []
            ]
            return arn
        if typ == "aws:rds/globalCluster:GlobalCluster":
            gid = str(inputs.get("globalClusterIdentifier", name))
            state["arn"] = f"arn:aws:rds::{self.account_id}:global-cluster:{gid}"
            state["globalClusterResourceId"] = f"cluster-{token[:12]}"
            state["endpoint"] = f"{gid}.global-{token[:10]}.global.rds.amazonaws.com"
            return gid
        if typ == "aws:rds/cluster:Cluster":
            cid = str(inputs.get("clusterIdentifier", name))
            state["arn"] = self._arn("rds", region, f"cluster:{cid}")
            state["endpoint"] = f"{cid}.cluster-c{token[:11]}.{region}.rds.amazonaws.com"
            state["readerEndpoint"] = f"{cid}.cluster-ro-c{token[:11]}.{region}.rds.amazonaws.com"
            state["port"] = inputs.get("port", 3306)
            state["clusterResourceId"] = f"cluster-{token.upper()[:26]}"
            return cid
        if typ == "aws:rds/clusterInstance:ClusterInstance":
            iid = str(inputs.get("identifier", name))
            state["arn"] = self._arn("rds", region, f"db:{iid}")
            state["endpoint"] = f"{iid}.c{token[:11]}.{region}.rds.amazonaws.com"
            return iid
        if typ in (
            "aws:rds/subnetGroup:SubnetGroup",
            "aws:rds/clusterParameterGroup:ClusterParameterGroup",
            "aws:rds/parameterGroup:ParameterGroup",
        ):
            kind = {"aws:rds/subnetGroup:SubnetGroup": "subgrp"}.get(typ, "pg")
            state["arn"] = self._arn("rds", region, f"{kind}:{inputs.get('name', name)}")
            return str(inputs.get("name", name))
        if typ == "aws:iam/role:Role":
            role_name = str(inputs.get("name", f"{name}-{token[:7]}"))
            state["name"] = role_name
            state["arn"] = f"arn:aws:iam::{self.account_id}:role/{role_name}"
            return role_name
        if typ == "aws:lambda/function:Function":
            fn = str(inputs.get("name", name))
            state["name"] = fn
            state["arn"] = self._arn("lambda", region, f"function:{fn}")
            state["invokeArn"] = (
                f"arn:aws:apigateway:{region}:lambda:path/functions/{state['arn']}/invocations"
            )
            state["qualifiedArn"] = f"{state['arn']}:1"
            state["version"] = "1"
            return fn
        if typ == "aws:lambda/layerVersion:LayerVersion":
            layer = str(inputs.get("layerName", name))
            state["layerArn"] = self._arn("lambda", region, f"layer:{layer}")
            state["arn"] = f"{state['layerArn']}:1"
            return str(state["arn"])
        if typ == "aws:sns/topic:Topic":
            topic = str(inputs.get("name", name))
            state["arn"] = self._arn("sns", region, topic)
            return str(state["arn"])
        if typ == "aws:cloudwatch/metricAlarm:MetricAlarm":
            alarm = str(inputs.get("name", name))
            state["arn"] = self._arn("cloudwatch", region, f"alarm:{alarm}")
            return alarm
        if typ == "aws:cloudwatch/logGroup:LogGroup":
            group = str(inputs.get("name", name))
            state["arn"] = self._arn("logs", region, f"log-group:{group}")
            return group
        if typ == "aws:route53/zone:Zone":
            zone_id = f"Z{token.upper()[:20]}"
            state["zoneId"] = zone_id
            state["arn"] = f"arn:aws:route53:::hostedzone/{zone_id}"
            state["nameServers"] = []
            return zone_id
        if typ == "aws:dynamodb/table:Table":
            table = str(inputs.get("name", name))
            state["arn"] = self._arn("dynamodb", region, f"table/{table}")
            return table
        if typ == "aws:s3/bucket:Bucket" or typ == "aws:s3/bucketV2:BucketV2":
            bucket = str(inputs.get("bucket", f"{name}-{token[:8]}"))
            state["bucket"] = bucket
            state["arn"] = f"arn:aws:s3:::{bucket}"
            return bucket
        if typ == "aws:ssm/parameter:Parameter":
            param = str(inputs.get("name", name))
            state["arn"] = self._arn("ssm", region, f"parameter{param}")
            return param
        if typ == "aws:cloudwatch/eventRule:EventRule":
            rule = str(inputs.get("name", name))
            state["arn"] = self._arn("events", region, f"rule/{rule}")
            return rule
        if typ.startswith("random:"):
            if typ == "random:index/randomPassword:RandomPassword":
                # Never a real password: the plan only shows that one exists (masked).
                state["result"] = f"mock-{token}"
                state["bcryptHash"] = "mock-hash"
            return f"{name}-{token[:8]}"
        state.setdefault("arn", self._arn(typ.split(":")[1].split("/")[0], region, f"{name}-{token[:8]}"))
        return f"{name}-{token[:8]}"

    def call(self, args: pulumi_mocks.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        region = self.region_of(args.provider, {})
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            names = [f"{region}{suffix}" for suffix in "abcd"]
            ids = [f"{region[:3]}{region.split('-')[-1]}-az{i + 1}" for i in range(4)]
            return {"names": names, "zoneIds": ids, "id": region, "groupNames": [region]}
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": self.account_id,
                "arn": f"arn:aws:sts::{self.account_id}:assumed-role/aurora-deploy/infra",
                "userId": "AROAMOCK:infra",
                "id": self.account_id,
            }
        if args.token in ("aws:index/getRegion:getRegion",):
            return {"name": region, "region": region, "id": region, "endpoint": f"ec2.{region}.amazonaws.com"}
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}
        if args.token in WRITER_REVEALING_INVOKES:
            # Answered (as if the writer were where the plan assumes) and recorded: the
            # writer-agnostic guardrail turns the lookup into an error finding.
            self.writer_lookups.append(args.token)
            writer = self.writer
            members = [
                {"dbClusterArn": arn, "isWriter": writer is not None and member_region == writer.region}
                for member_region, arn in (writer.members if writer else ())
            ]
            gid = writer.global_cluster_id if writer else str(args.args.get("identifier", ""))
            return {"identifier": gid, "id": gid, "members": members, "engine": "aurora-mysql"}
        raise UnexpectedInvokeError(
            f"the offline plan's mocks do not know invoke {args.token!r} (args {args.args}); "
            "add it to orchestrator/analysis/mock_runtime.py with a plausible answer"
        )


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A mock monitor that also records parents, providers and (masked) inputs."""

    def __init__(self, mocks: PlanMocks) -> None:
        super().__init__(mocks)
        self.plan_mocks = mocks
        self.recorded: list[RecordedResource] = []
        self.stack_urn = ""

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            self.stack_urn = response.urn
            return response
        inputs = rpc.deserialize_properties(request.object)
        provider = request.provider.rsplit("::", 1)[0] if request.provider else None
        region = None
        if request.custom:
            region = self.plan_mocks.region_of(request.provider or None, _unwrap(dict(inputs)))
        self.recorded.append(
            RecordedResource(
                urn=response.urn,
                type=request.type,
                name=request.name,
                parent=request.parent if request.parent and request.parent != self.stack_urn else None,
                provider=provider,
                inputs=_mask(inputs),
                custom=bool(request.custom),
                id=response.id,
                region=region if not request.type.startswith("pulumi:providers:") else None,
                dependencies=tuple(sorted(set(request.dependencies))),
                ignore_changes=tuple(request.ignoreChanges),
            )
        )
        return response


def program_order(resources: list[RecordedResource]) -> list[RecordedResource]:
    """The recorded resources in a deterministic order (the plan document's contract).

    Registrations reach the monitor in the order their inputs resolve, which varies between runs
    (asyncio tasks and the monitor's thread pool). The document orders them as a tree instead: a
    depth-first walk from the stack's top-level resources, every resource before its children,
    siblings by (providers first, then URN). Same inputs, same bytes."""
    by_urn = {r.urn: r for r in resources}

    def sibling_key(resource: RecordedResource) -> tuple[int, str]:
        return (0 if resource.type.startswith("pulumi:providers:") else 1, resource.urn)

    def path(resource: RecordedResource) -> tuple[tuple[int, str], ...]:
        chain: list[tuple[int, str]] = []
        seen: set[str] = set()
        current: RecordedResource | None = resource
        while current is not None and current.urn not in seen:
            seen.add(current.urn)
            chain.append(sibling_key(current))
            current = by_urn.get(current.parent) if current.parent else None
        return tuple(reversed(chain))

    return sorted(resources, key=path)


def run_program(
    *,
    stack: str,
    account_id: str,
    config: Mapping[str, Any],
    program: Callable[[], Mapping[str, Any]],
    writer: WriterAssumption | None = None,
    minted_in: Mapping[tuple[str, str], str] | None = None,
) -> StackRun:
    """Run ``program`` as stack ``stack`` under mocks with ``config``; return what it declared.

    ``writer`` is where lookups that reveal the writer pretend it is (``infra plan --writer``);
    ``minted_in`` see PlanMocks.

    Each run happens in a fresh ``contextvars`` context, so runs don't share Pulumi settings,
    root stack resources or config, and can be repeated in one process.
    """
    return contextvars.Context().run(_run_program, stack, account_id, config, program, writer, minted_in)


def _run_program(
    stack: str,
    account_id: str,
    config: Mapping[str, Any],
    program: Callable[[], Mapping[str, Any]],
    writer: WriterAssumption | None,
    minted_in: Mapping[tuple[str, str], str] | None,
) -> StackRun:
    _ensure_event_loop()  # worker threads of the orchestrator have none of their own
    mocks = PlanMocks(account_id=account_id, stack=stack, writer=writer, minted_in=minted_in)
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=PROJECT_NAME, stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(encode_config(config))
    result: dict[str, Any] = {}

    async def resolve(outputs: Mapping[str, Any]) -> None:
        masked: dict[str, Any] = {}
        raw: dict[str, Any] = {}
        secret: set[str] = set()
        for key, value in outputs.items():
            out = pulumi.Output.from_input(value)
            resolved = await out.future()
            raw[key] = resolved
            if await out.is_secret():
                secret.add(key)
                masked[key] = SECRET_MASK
            else:
                masked[key] = resolved
        result.update(outputs=masked, raw=raw, secret=secret)

    def body() -> None:
        outputs = program()
        _sync_await(resolve(outputs))

    _sync_await(run_pulumi_func(body))
    return StackRun(
        stack=stack,
        resources=program_order(monitor.recorded),
        outputs=result["outputs"],
        raw_outputs=result["raw"],
        secret_outputs=result["secret"],
        writer_lookups=list(mocks.writer_lookups),
    )
