"""Health check: warm connection reuse vs reconnecting, and time to report a black hole.

Starts a private MariaDB server with TLS (certificates from tests/support/tls.py; every
connection verifies them, as in production), runs ``lambda_src.health.check.check_health`` against it
(secrets from an in-memory stand-in, no CloudWatch), prints two tables and stops the
server. Run from the project root: ``python benchmarks/health_check.py [--iterations N]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lambda_src.common.db import connect as plain_connect
from lambda_src.health.check import (
    CheckResult,
    HealthConfig,
    WarmState,
    check_health,
    connect_within_budget,
)
from tests.support.mariadb import MariaDBServer, SilentListener, free_port
from tests.support.tls import create_pki


class StaticSecrets:
    """Answers GetSecretValue with fixed credentials, like a warm Secrets Manager call."""

    def __init__(self, username: str, password: str) -> None:
        self.secret = json.dumps({"username": username, "password": password})

    def get_secret_value(self, **_: Any) -> dict[str, str]:
        return {"SecretString": self.secret}


def config(
    port: int, ca_bundle: str, *, connect_timeout: float = 2.0, read_timeout: float = 2.0
) -> HealthConfig:
    return HealthConfig(
        secret_arn="arn:aws:secretsmanager:eu-west-1:123456789012:secret:bench",  # noqa: S106 - an ARN
        db_host="127.0.0.1",
        db_port=port,
        namespace="AuroraGlobal/Health",
        environment="bench",
        region="eu-west-1",
        cluster_id="bench",
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        ca_bundle=ca_bundle,
    )


def percentiles(samples_ms: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(samples_ms, n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98]


def timed_checks(
    cfg: HealthConfig, secrets: StaticSecrets, iterations: int, *, reuse: bool
) -> tuple[list[float], int]:
    state = WarmState()
    check_health(cfg, state, secrets_client=secrets)  # warm-up: reads the secret once
    samples: list[float] = []
    unhealthy = 0
    for _ in range(iterations):
        if not reuse:
            state.drop_connection()
        started = time.perf_counter()
        result = check_health(cfg, state, secrets_client=secrets)
        samples.append((time.perf_counter() - started) * 1000.0)
        unhealthy += not result.healthy
    state.drop_connection()
    return samples, unhealthy


def time_to_report(
    cfg: HealthConfig, secrets: StaticSecrets, connect: Callable[..., Any]
) -> tuple[float, CheckResult]:
    state = WarmState()
    started = time.perf_counter()
    result = check_health(cfg, state, secrets_client=secrets, connect=connect)
    return time.perf_counter() - started, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=500, help="checks per mode (default 500)")
    parser.add_argument("--repeats", type=int, default=2, help="black-hole runs per timeout (default 2)")
    args = parser.parse_args()

    pki = create_pki(Path(tempfile.mkdtemp(prefix="bench-pki-")))
    server = MariaDBServer(tls=pki)
    started = time.perf_counter()
    server.start()
    print(f"MariaDB {server.execute('SELECT VERSION()')[0][0]} on 127.0.0.1:{server.port}")
    try:
        user, password = f"bench_{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
        server.execute("CREATE USER %s@'127.0.0.1' IDENTIFIED BY %s", (user, password))
        secrets = StaticSecrets(user, password)
        cfg = config(server.port, server.ca_bundle)

        print(
            f"\nWarm health check, {args.iterations} iterations each (ms, wall clock per check_health call)"
        )
        print(f"{'mode':<34}{'p50':>9}{'p95':>9}{'p99':>9}{'unhealthy':>11}")
        rows = {}
        for label, reuse in (("reuse warm connection", True), ("reconnect every invocation", False)):
            samples, unhealthy = timed_checks(cfg, secrets, args.iterations, reuse=reuse)
            rows[label] = percentiles(samples)
            p50, p95, p99 = rows[label]
            print(f"{label:<34}{p50:>9.3f}{p95:>9.3f}{p99:>9.3f}{unhealthy:>11}")
        reuse_p, reconnect_p = rows["reuse warm connection"], rows["reconnect every invocation"]
        ratios = " / ".join(f"{b / a:.1f}x" for a, b in zip(reuse_p, reconnect_p, strict=True))
        print(f"{'reconnect / reuse (p50/p95/p99)':<34}{ratios:>27}")
    finally:
        server.cleanup()

    print(f"\nTime to report unhealthy (read timeout 5 s, {args.repeats} runs each, seconds)")
    print(f"{'endpoint':<44}{'connect_timeout':>16}{'worst':>8}{'reason':>16}")
    listener = SilentListener()
    closed_port = free_port()  # nothing listens: connection refused
    try:
        cases: list[tuple[str, int, float, Callable[..., Any]]] = [
            ("refused (nothing listening)", closed_port, 2.0, connect_within_budget),
        ]
        cases += [
            ("black hole, connect_within_budget", listener.port, t, connect_within_budget)
            for t in (0.5, 1.0, 2.0)
        ]
        # pymysql's own semantics: connect_timeout covers TCP only, the handshake waits read_timeout.
        cases.append(("black hole, plain pymysql timeouts", listener.port, 0.5, plain_connect))
        for label, port, connect_timeout, connect in cases:
            cfg = config(port, str(pki.ca_file), connect_timeout=connect_timeout, read_timeout=5.0)
            runs = [time_to_report(cfg, secrets, connect) for _ in range(args.repeats)]
            worst = max(elapsed for elapsed, _ in runs)
            reasons = {str(result.reason) for _, result in runs}
            print(f"{label:<44}{connect_timeout:>16.1f}{worst:>8.2f}{'/'.join(sorted(reasons)):>16}")
    finally:
        listener.close()
    print(f"\ntotal {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
