"""Rotation's use of the writer lookup: the SQL step runs on the writer region's rotation SQL worker.

The home region owns the secret, so rotation runs there; the writer may be in any region
after a switchover or failover (DESIGN.md 4b). The lookup and the synchronous Invoke are
``lambda_src.common.writer`` (shared with the bootstrap); this module adapts them to the
rotation's request and answer (``lambda_src.common.rotation_sql``). When there is no writer
right now, WriterUnavailable is raised and Secrets Manager retries the step, by then
against the new writer.
"""

from __future__ import annotations

from collections.abc import Callable

from lambda_src.common.rotation_sql import SqlRequest, SqlResult
from lambda_src.common.writer import SqlWorkers

KIND = "rotation SQL worker"
RETRY = "Secrets Manager retries the step"


def sql_runner(workers: SqlWorkers) -> Callable[[SqlRequest], SqlResult]:
    """The rotation steps' SQL runner: find the writer, run the step on its region's worker."""

    def run(request: SqlRequest) -> SqlResult:
        return workers.run(
            request.to_payload(),
            subject=request.secret_id,
            action=request.step.value,
            parse=SqlResult.from_payload,
        )

    return run
