"""Guardrail rules: Lambda functions: imports, API reachability, environment, IAM."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from model import naming
from orchestrator.analysis.guardrails.core import Graph, Hit, Node, _decode, rule

FUNCTION = "aws:lambda/function:Function"


def _subpackage(handler: str) -> str | None:
    parts = handler.split(".")
    return parts[1] if len(parts) >= 4 and parts[0] == "lambda_src" else None


@rule(
    "lambda-imports-satisfied",
    "error",
    "every import of a Lambda's code is satisfied by the runtime, its package or its layers",
    "FC-000-1, FC-001-4",
)
def _lambda_imports(graph: Graph) -> Iterator[Hit]:
    from components import lambda_packaging

    for node in graph.of_type(FUNCTION):
        sub = _subpackage(str(node.inputs.get("handler", "")))
        if sub is None:
            yield (
                node,
                f"handler {node.inputs.get('handler')!r} is not in lambda_src (its imports can't be checked)",
            )
            continue
        try:
            missing = lambda_packaging.unsatisfied_imports([sub])
        except lambda_packaging.PackagingError as exc:
            yield node, str(exc)
            continue
        needs_layer = (
            lambda_packaging.imported_top_level_modules([sub]) & lambda_packaging.layer_top_level_modules()
        )
        if missing:
            yield (
                node,
                f"imports {', '.join(sorted(missing))}, which neither the runtime nor the layer provides",
            )
        if needs_layer and not node.inputs.get("layers"):
            yield node, f"imports {', '.join(sorted(needs_layer))} from the layer but has no layer attached"


# boto3 service name -> VPC endpoint service name.
_ENDPOINT_FOR_SERVICE = {"cloudwatch": "monitoring", "logs": "logs", "secretsmanager": "secretsmanager",
                         "s3": "s3", "ssm": "ssm", "rds": "rds", "sns": "sns", "dynamodb": "dynamodb",
                         "sts": "sts", "kms": "kms", "lambda": "lambda"}  # fmt: skip


_CLIENT_FACTORIES = {"client", "aws", "_client", "make_client"}


def services_called(subpackage: str) -> set[str]:
    """AWS services a Lambda's code creates boto3 clients for (read from its sources): the first,
    literal argument of ``boto3.client(...)`` or of a client factory (``aws("ssm")``)."""
    import ast

    from components import lambda_packaging

    services: set[str] = set()
    for arcname, path in lambda_packaging.function_sources([subpackage]):
        if not arcname.endswith(".py"):
            continue
        for node in ast.walk(ast.parse(path.read_bytes())):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = (
                func.attr
                if isinstance(func, ast.Attribute)
                else func.id
                if isinstance(func, ast.Name)
                else ""
            )
            first = node.args[0]
            if name in _CLIENT_FACTORIES and isinstance(first, ast.Constant) and isinstance(first.value, str):
                services.add(first.value)
    return services


@rule(
    "lambda-apis-reachable",
    "error",
    "every AWS API an in-VPC Lambda calls is reachable: an endpoint for that service in its VPC, or a NAT gateway",
    "FC-000-2",
)
def _lambda_reachability(graph: Graph) -> Iterator[Hit]:
    from components import lambda_packaging

    for node in graph.of_type(FUNCTION):
        vpc = node.inputs.get("vpcConfig") or {}
        if not vpc.get("subnetIds"):
            continue
        sub = _subpackage(str(node.inputs.get("handler", "")))
        if sub is None:
            continue
        # The network the function runs in is the stack that owns its subnets: the failover
        # stack's probes run in the regional stacks' VPCs (their subnet ids are fed config).
        subnet_ids = {str(s) for s in vpc["subnetIds"]}
        network_stacks = {
            n.stack
            for n in graph.of_type("aws:ec2/subnet:Subnet")
            if n.resource.id and n.resource.id in subnet_ids
        } or {node.stack}
        stack_nodes = [n for n in graph.nodes if n.stack in network_stacks]
        if any(n.type == "aws:ec2/natGateway:NatGateway" for n in stack_nodes):
            continue
        try:
            called = services_called(sub)
        except lambda_packaging.PackagingError:
            continue  # lambda-imports-satisfied reports a handler whose code doesn't exist
        endpoints = {
            str(n.inputs.get("serviceName", "")).rsplit(".", 1)[-1]
            for n in stack_nodes
            if n.type == "aws:ec2/vpcEndpoint:VpcEndpoint"
        }
        for service in sorted(called):
            endpoint = _ENDPOINT_FOR_SERVICE.get(service, service)
            if endpoint not in endpoints:
                yield (
                    node,
                    (
                        f"calls {service} from private subnets but the VPC has no {endpoint} endpoint and no NAT "
                        "gateway: the call would time out"
                    ),
                )


@rule(
    "lambda-environment-plain-strings",
    "error",
    "Lambda environment variables are plain strings (an endpoint is its address, not an object)",
    "FC-004-2",
)
def _lambda_env(graph: Graph) -> Iterator[Hit]:
    for node in graph.of_type(FUNCTION):
        variables = (node.inputs.get("environment") or {}).get("variables") or {}
        for key, value in variables.items():
            if not isinstance(value, str):
                yield node, f"environment variable {key} is a {type(value).__name__}, not a string"
            elif key.endswith("_HOST") and (not value or "{" in value or " " in value):
                yield node, f"environment variable {key}={value!r} is not a host name"


# --- IAM --------------------------------------------------------------------------------------

# Actions AWS defines no resource-level permissions for: Resource "*" is required there.
WILDCARD_RESOURCE_ALLOWED = frozenset(
    {
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
        "cloudwatch:PutMetricData",
        "cloudwatch:GetMetricData",
        "secretsmanager:GetRandomPassword",
    }
)


def _statements(policy: Any) -> list[dict[str, Any]]:
    doc = _decode(policy)
    if not isinstance(doc, dict):
        return []
    statements = doc.get("Statement", [])
    return [statements] if isinstance(statements, dict) else list(statements)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@rule(
    "iam-least-privilege",
    "error",
    'IAM statements name exact actions, and use Resource "*" only where AWS requires it',
    "FC-002-7",
)
def _iam(graph: Graph) -> Iterator[Hit]:
    for node in graph.of_type("aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy"):
        for statement in _statements(node.inputs.get("policy")):
            if statement.get("Effect") != "Allow":
                continue
            actions = [str(a) for a in _as_list(statement.get("Action", []))]
            for action in actions:
                if "*" in action or "?" in action:
                    yield node, f"statement {statement.get('Sid', '?')} allows the wildcard action {action}"
            if "*" in _as_list(statement.get("Resource", [])):
                broad = [a for a in actions if a not in WILDCARD_RESOURCE_ALLOWED]
                if broad:
                    yield (
                        node,
                        (
                            f'statement {statement.get("Sid", "?")} grants {", ".join(broad)} on Resource "*"; '
                            "name the resources"
                        ),
                    )
    for node in graph.of_type("aws:kms/key:Key", "aws:kms/replicaKey:ReplicaKey"):
        for statement in _statements(node.inputs.get("policy")):
            principal = statement.get("Principal", {})
            aws_principal = principal.get("AWS") if isinstance(principal, dict) else principal
            if statement.get("Effect") == "Allow" and aws_principal == "*" and not statement.get("Condition"):
                yield (
                    node,
                    f"key policy statement {statement.get('Sid', '?')} allows any principal unconditionally",
                )


# --- Encryption, rotation ----------------------------------------------------------------------


def _grants(statements: list[dict[str, Any]], action: str, resource: str) -> bool:
    """Some Allow statement names ``action`` (or a pattern of it) on ``resource`` (or a pattern)."""
    from fnmatch import fnmatchcase

    for statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        actions = [str(a).lower() for a in _as_list(statement.get("Action", []))]
        resources = [str(r) for r in _as_list(statement.get("Resource", []))]
        if any(fnmatchcase(action.lower(), a) for a in actions) and any(
            fnmatchcase(resource, r) for r in resources
        ):
            return True
    return False


# Writing a version encrypts it with the secret's key (GenerateDataKey; reading it back needs
# Decrypt); Secrets Manager then replicates it as the caller, which needs kms:Encrypt and
# kms:GenerateDataKey on each replica's customer-managed key (Secrets Manager API Reference,
# ReplicateSecretToRegions; shared/AWS_FACTS.md).
_HOME_KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")
_REPLICA_KEY_ACTIONS = ("kms:Encrypt", "kms:GenerateDataKey")


@rule(
    "rotation-encrypts-every-replica",
    "error",
    "a secret's rotation function may encrypt with the secret's key and every replica's key, or new versions never replicate",
    "Secrets Manager API Reference, ReplicateSecretToRegions (KMS permissions); AWS_FACTS.md",
)
def _rotation_replica_keys(graph: Graph) -> Iterator[Hit]:
    from orchestrator.analysis.guardrails.core import UNKNOWN

    secrets = {n.resource.id: n for n in graph.of_type("aws:secretsmanager/secret:Secret")}
    for schedule in graph.of_type("aws:secretsmanager/secretRotation:SecretRotation"):
        secret = secrets.get(str(schedule.inputs.get("secretId")))
        function_arn = str(schedule.inputs.get("rotationLambdaArn") or "")
        function = next(
            (
                f
                for f in graph.of_type(FUNCTION)
                if f.stack == schedule.stack and function_arn.endswith(f":function:{f.inputs.get('name')}")
            ),
            None,
        )
        if secret is None or function is None:
            continue  # secrets-rotate and the plan itself report a schedule without its parts
        role = str(function.inputs.get("role") or "")
        policies = [
            p
            for p in graph.of_type("aws:iam/rolePolicy:RolePolicy")
            if p.stack == function.stack
            and p.inputs.get("role")
            and role.endswith(f"/{p.inputs.get('role')}")
        ]
        if any(UNKNOWN in str(p.inputs.get("policy")) for p in policies):
            continue  # a preview that doesn't know a key ARN yet can't be judged
        statements = [s for p in policies for s in _statements(p.inputs.get("policy"))]
        needed = [(str(secret.inputs.get("kmsKeyId") or ""), "the secret's key", _HOME_KEY_ACTIONS)]
        needed += [
            (str(r.get("kmsKeyId") or ""), f"the replica key in {r.get('region')}", _REPLICA_KEY_ACTIONS)
            for r in secret.inputs.get("replicas") or []
        ]
        for key, what, actions in needed:
            if not key or key == UNKNOWN:
                continue
            missing = [a for a in actions if not _grants(statements, a, key)]
            if missing:
                yield (
                    function,
                    f"rotation of {secret.inputs.get('name')} runs as {role}, which lacks {', '.join(missing)} on "
                    f"{what} {key}: new versions would not reach that replica; grant them in the rotation role",
                )


# --- Following the writer ----------------------------------------------------------------------

# The functions of the home region that follow the writer -> the purpose of their worker.
WRITER_FOLLOWERS = (
    ("rotation", naming.ROTATION_SQL_WORKER),
    ("bootstrap", naming.BOOTSTRAP_WORKER),
    ("migrator", naming.MIGRATOR_WORKER),
)


def in_vpc(node: Node) -> bool:
    config = node.inputs.get("vpcConfig")
    return isinstance(config, dict) and bool(config.get("subnetIds"))


def role_statements(graph: Graph, function: Node) -> list[dict[str, Any]]:
    """The statements of the inline policies of the function's role (same stack)."""
    role = str(function.inputs.get("role", ""))
    return [
        statement
        for node in graph.of_type("aws:iam/rolePolicy:RolePolicy")
        if node.stack == function.stack and role.endswith(f"/{node.inputs.get('role')}")
        for statement in _statements(node.inputs.get("policy"))
    ]


@rule(
    "writer-workers-placed",
    "error",
    "a secrets-region function that follows the writer (rotation, bootstrap, migrator) runs outside any VPC and may invoke "
    "the in-VPC worker that every region runs, so it works wherever the writer is",
    "issue 12; lambda_src/common/writer.py (deployment contract), DESIGN.md 4b",
    cross_stack=True,
)
def _writer_workers(graph: Graph) -> Iterator[Hit]:
    env = graph.env
    functions = {str(n.inputs.get("name", "")): n for n in graph.of_type(FUNCTION)}
    home = env.secrets_home  # where the functions acting on the secrets run
    for purpose, worker_purpose in WRITER_FOLLOWERS:
        name = naming.function_name(env.name, home, purpose)
        caller = functions.get(name)
        if caller is None or caller.region != home:
            continue  # not deployed: nothing follows the writer through it
        if in_vpc(caller):
            yield (
                caller,
                f"the {purpose} function {name} must run outside any VPC (vpcConfig): it invokes the worker of "
                f"whichever region holds the writer through that region's Lambda API, which no endpoint in {home} serves",
            )
        granted = {
            str(resource)
            for statement in role_statements(graph, caller)
            if statement.get("Effect") == "Allow"
            and "lambda:invokefunction" in {str(a).lower() for a in _as_list(statement.get("Action", []))}
            for resource in _as_list(statement.get("Resource", []))
        }
        for region, arn in sorted(naming.worker_arns(env, worker_purpose).items()):
            worker_name = naming.function_name(env.name, region, worker_purpose)
            worker = functions.get(worker_name)
            if worker is None or worker.region != region:
                yield (
                    None,
                    f"{env.name}'s {purpose} function follows the writer but region {region} has no worker "
                    f"{worker_name}: with the writer there it would fail; deploy the {env.name}.{region} stack",
                )
            elif not in_vpc(worker):
                yield (
                    worker,
                    f"the worker {worker_name} must run in the region's private subnets (vpcConfig): "
                    "it connects to its own region's cluster",
                )
            if arn not in granted:
                yield (
                    caller,
                    f"the {purpose} function {name} may not invoke {arn} (lambda:InvokeFunction): with the writer "
                    f"in {region} it would fail; name every region's worker (model.naming.{worker_purpose.replace('-', '_')}_arns)",
                )
