"""Split a migration file into the statements the server runs one at a time.

pymysql sends one statement per ``execute`` (multi-statements stay off, so a failure
names exactly one statement). The splitter ends a statement at a ``;`` outside quotes
('...', "...", `...`) and comments (``-- ``, ``#``, ``/* */``), the way the ``mysql``
client does with its default delimiter. ``DELIMITER`` is a client command the server
does not know: it is refused. A stored routine or trigger whose body holds ``;`` goes in
a file of its own whose header (the comments before its first statement) holds the line
``-- migrator: no-split``; that file is sent as one statement. A body split into
fragments without that header is refused, and so are statements that would switch the
session to another schema (``USE``), other client commands, and statements naming the
migrator's own bookkeeping table: all before anything runs, naming the file and line.

Splitting is linear in the file's length (``benchmarks/migration_split.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lambda_src.common.migration.errors import MigrationSetError

NO_SPLIT_HEADER = "-- migrator: no-split"
NO_SPLIT_DIRECTIVE = re.compile(
    r"^[ \t]*--[ \t]+migrator:[ \t]*no-split[ \t\r]*$", re.IGNORECASE | re.MULTILINE
)
BOOKKEEPING_TABLE = "schema_migrations"
"""The migrator's record of each migration (created by the bootstrap function)."""
_SPECIAL = re.compile(r"['\"`#;]|--|/\*")
_NON_SPACE = re.compile(r"\S")
_QUOTE_STOPS = {"'": re.compile(r"['\\]"), '"': re.compile(r'["\\]'), "`": re.compile("`")}
_DELIMITER = re.compile(r"DELIMITER\s", re.IGNORECASE)
# An executable comment (/*!50001 USE x */) is run by the server: look inside it too.
_LEAD = r"(?:/\*[!+]\d*\s*)?"
_USE = re.compile(_LEAD + r"USE\b", re.IGNORECASE)
# mysql client commands the server does not know (``\u db``, ``connect``, ``source f.sql``, ``system``).
_CLIENT_COMMAND = re.compile(_LEAD + r"(?:\\|(?:CONNECT|SOURCE|SYSTEM)\b)", re.IGNORECASE)
_BOOKKEEPING = re.compile(rf"\b{BOOKKEEPING_TABLE}\b", re.IGNORECASE)
# Every statement inside BEGIN ... END ends with ';', so a split body always leaves its
# closing END (END, END label, END IF, END LOOP, ...) as a statement of its own.
_LONE_END = re.compile(r"END(?:\s+[A-Za-z_$][\w$]*)?", re.IGNORECASE)
_COMPOUND_START = re.compile(
    r"CREATE\s+(?:OR\s+REPLACE\s+)?(?:DEFINER\s*=\s*\S+\s+)?(?:SQL\s+SECURITY\s+\w+\s+)?"
    r"(?:AGGREGATE\s+)?(?P<kind>PROCEDURE|FUNCTION|TRIGGER|EVENT)\b"
    r"|(?:[A-Za-z_$][\w$]*\s*:\s*)?(?P<block>BEGIN\s+NOT\s+ATOMIC)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Statement:
    index: int
    """1-based position of the statement in its file."""
    line: int
    """1-based line on which the statement starts."""
    sql: str
    """The statement as written, without the terminating ``;`` and surrounding comments."""


def split_statements(text: str, *, name: str = "<sql>") -> list[Statement]:
    """Statements of ``text`` in order; raise MigrationSetError naming ``name`` and the line."""
    spans = _code_spans(text, name)
    if spans and NO_SPLIT_DIRECTIVE.search(text, 0, spans[0][0]) is not None:  # only in the header
        spans = [(spans[0][0], spans[-1][1])]
    lines = _LineCounter(text)
    statements = [
        _statement(text, start, end, index, lines.line_at(start), name)
        for index, (start, end) in enumerate(spans, 1)
    ]
    if len(statements) > 1:
        _refuse_split_bodies(statements, name)
    return statements


class _LineCounter:
    """Line numbers of increasing positions, counting each newline once (linear overall)."""

    def __init__(self, text: str) -> None:
        self.text, self.pos, self.line = text, 0, 1

    def line_at(self, pos: int) -> int:
        self.line += self.text.count("\n", self.pos, pos)
        self.pos = pos
        return self.line


def _refuse_split_bodies(statements: list[Statement], name: str) -> None:
    opened: Statement | None = None
    for statement in statements:
        start = _COMPOUND_START.match(statement.sql)
        if start is not None:
            opened = statement
        elif _LONE_END.fullmatch(statement.sql):
            fix = (
                "put it in a file of its own whose header (the comments before its first statement) "
                f"holds the line '{NO_SPLIT_HEADER}', so the file is sent as one statement"
            )
            end = f"'{statement.sql}' at line {statement.line} stands alone"
            if opened is None:
                raise MigrationSetError(
                    f"{name}: line {statement.line}: {end}: a BEGIN ... END body holding ';' was split "
                    f"into fragments; {fix}"
                )
            what = _COMPOUND_START.match(opened.sql)
            kind = (what["kind"] or what["block"]).upper() if what else "compound statement"
            raise MigrationSetError(
                f"{name}: line {opened.line}: the {kind} body holds ';', so it was split into fragments "
                f"({end}); {fix}"
            )


def _code_spans(text: str, name: str) -> list[tuple[int, int]]:
    """(start, end) of each statement: from its first code character to its ``;`` or the end.

    Jumps from one character that matters (quote, comment start, ``;``) to the next with a
    regular expression, so plain text is never looked at one character at a time in Python.
    """
    spans: list[tuple[int, int]] = []
    i, n = 0, len(text)
    first_code: int | None = None
    while i < n:
        special = _SPECIAL.search(text, i)
        stop = n if special is None else special.start()
        if first_code is None:
            code = _NON_SPACE.search(text, i, stop)
            first_code = code.start() if code is not None else None
        if special is None:
            break
        mark, i = special.group(), stop
        if mark in ("'", '"', "`"):
            first_code = i if first_code is None else first_code
            i = _skip_quoted(text, i, name)
        elif mark == "#" or (mark == "--" and (i + 2 == n or text[i + 2] <= " ")):
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
        elif mark == "--":  # '--' not followed by a space is code (``SELECT 1--1``)
            first_code = i if first_code is None else first_code
            i += 1
        elif mark == "/*":
            # /*! ... */ and /*+ ... */ are executable comments and optimizer hints: code.
            if text.startswith(("/*!", "/*+"), i):
                first_code = i if first_code is None else first_code
            end = text.find("*/", i + 2)
            if end < 0:
                raise MigrationSetError(f"{name}: line {_line(text, i)}: comment '/*' is never closed")
            i = end + 2
        else:  # ';'
            if first_code is not None:
                spans.append((first_code, i))
            first_code = None
            i += 1
    if first_code is not None:
        spans.append((first_code, n))
    return spans


def _statement(text: str, start: int, end: int, index: int, line: int, name: str) -> Statement:
    sql = text[start:end].rstrip()
    where = f"{name}: line {line}"
    if _DELIMITER.match(sql + " "):
        raise MigrationSetError(
            f"{where}: DELIMITER is a mysql client command the server does not know; put the routine or "
            f"trigger in a file of its own that starts with '{NO_SPLIT_HEADER}'"
        )
    if _USE.match(sql):
        raise MigrationSetError(
            f"{where}: {_excerpt(sql)!r} switches the session to another schema; a migration runs in the "
            "application database only and the migrator records it there: remove the USE and name "
            "the application database's tables without a schema"
        )
    if _CLIENT_COMMAND.match(sql):
        raise MigrationSetError(
            f"{where}: {_excerpt(sql)!r} is a mysql client command the server does not know; "
            "the migrator sends each statement to the server as written: remove it"
        )
    if _BOOKKEEPING.search(sql):
        raise MigrationSetError(
            f"{where}: {_excerpt(sql)!r} names {BOOKKEEPING_TABLE}, the migrator's record of every "
            "migration; a migration must not read or change it: remove the statement"
        )
    return Statement(index=index, line=line, sql=sql)


def _excerpt(sql: str, limit: int = 80) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _skip_quoted(text: str, start: int, name: str) -> int:
    """Position just after the quote that closes the one at ``start`` (doubled quotes and
    backslash escapes stay inside; backticks know no backslash escape)."""
    quote = text[start]
    stops = _QUOTE_STOPS[quote]
    i = start + 1
    while (found := stops.search(text, i)) is not None:
        i = found.start()
        if text[i] == "\\" or text.startswith(quote * 2, i):
            i += 2
        else:
            return i + 1
    raise MigrationSetError(f"{name}: line {_line(text, start)}: quote {quote} is never closed")


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1
