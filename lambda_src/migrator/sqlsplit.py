"""Split a migration file into the statements the server runs one at a time.

pymysql sends one statement per ``execute`` (multi-statements stay off, so a failure
names exactly one statement). The splitter ends a statement at a ``;`` outside quotes
('...', "...", `...`) and comments (``-- ``, ``#``, ``/* */``), the way the ``mysql``
client does with its default delimiter. ``DELIMITER`` is a client command the server
does not know: it is refused. A stored routine or trigger whose body holds ``;`` goes in
a file of its own whose header (the comments before its first statement) holds the line
``-- migrator: no-split``; that file is sent as one statement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lambda_src.migrator.errors import MigrationSetError

NO_SPLIT_DIRECTIVE = re.compile(r"^\s*--\s+migrator:\s*no-split\s*$", re.IGNORECASE | re.MULTILINE)
_DELIMITER = re.compile(r"DELIMITER\s", re.IGNORECASE)


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
    directive = NO_SPLIT_DIRECTIVE.search(text)
    if spans and directive is not None and directive.start() < spans[0][0]:  # only in the header
        spans = [(spans[0][0], spans[-1][1])]
    return [_statement(text, start, end, index, name) for index, (start, end) in enumerate(spans, 1)]


def _code_spans(text: str, name: str) -> list[tuple[int, int]]:
    """(start, end) of each statement: from its first code character to its ``;`` or the end."""
    spans: list[tuple[int, int]] = []
    i, n = 0, len(text)
    first_code: int | None = None
    while i < n:
        c = text[i]
        if c in "'\"`":
            first_code = i if first_code is None else first_code
            i = _skip_quoted(text, i, name)
        elif c == "#" or (c == "-" and text.startswith("--", i) and (i + 2 == n or text[i + 2] <= " ")):
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
        elif c == "/" and text.startswith("/*", i):
            # /*! ... */ and /*+ ... */ are executable comments and optimizer hints: code.
            if text.startswith(("/*!", "/*+"), i):
                first_code = i if first_code is None else first_code
            end = text.find("*/", i + 2)
            if end < 0:
                raise MigrationSetError(f"{name}: line {_line(text, i)}: comment '/*' is never closed")
            i = end + 2
        elif c == ";":
            if first_code is not None:
                spans.append((first_code, i))
            first_code = None
            i += 1
        else:
            if first_code is None and not c.isspace():
                first_code = i
            i += 1
    if first_code is not None:
        spans.append((first_code, n))
    return spans


def _statement(text: str, start: int, end: int, index: int, name: str) -> Statement:
    sql = text[start:end].rstrip()
    if _DELIMITER.match(sql + " "):
        raise MigrationSetError(
            f"{name}: line {_line(text, start)}: DELIMITER is a mysql client command the server does not "
            "know; put the routine or trigger in a file of its own that starts with '-- migrator: no-split'"
        )
    return Statement(index=index, line=_line(text, start), sql=sql)


def _skip_quoted(text: str, start: int, name: str) -> int:
    quote = text[start]
    i = start + 1
    while i < len(text):
        c = text[i]
        if c == "\\" and quote != "`":
            i += 2
        elif c == quote:
            if text.startswith(quote * 2, i):
                i += 2
            else:
                return i + 1
        else:
            i += 1
    raise MigrationSetError(f"{name}: line {_line(text, start)}: quote {quote} is never closed")


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1
