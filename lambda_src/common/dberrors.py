"""Reading a database failure: the exception chain, the MySQL error number, timeouts.

pymysql wraps socket errors and DatabaseUnavailable wraps pymysql's, so the facts a caller
needs (was it a timeout? which server error?) sit somewhere along ``__cause__`` /
``__context__``; these helpers walk it once.
"""

from __future__ import annotations

import pymysql


def exception_chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if any(current is seen for seen in chain):
            continue
        chain.append(current)
        for linked in (current.__cause__, current.__context__, getattr(current, "original_exception", None)):
            if isinstance(linked, BaseException):
                pending.append(linked)
    return chain


def is_timeout(exc: BaseException) -> bool:
    return any(isinstance(e, TimeoutError) for e in exception_chain(exc))


def mysql_errno(exc: BaseException) -> int | None:
    for e in exception_chain(exc):
        if isinstance(e, pymysql.err.MySQLError) and e.args and isinstance(e.args[0], int):
            return e.args[0]
    return None
