"""Statement splitting: time to split a migration file of 10,000 / 40,000 / 160,000 statements.

The file repeats a realistic mix (an INSERT with a quoted ';', a two-line CREATE TABLE, a
comment line), so the figures include quotes, comments and line counting. Linear work
shows as a constant time per statement across the rows. Run from the project root:
``python benchmarks/migration_split.py [--sizes 10000 40000 160000] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lambda_src.common.migration.sqlsplit import split_statements

PATTERN = (
    "INSERT INTO widgets VALUES ({i}, 'name; {i}', \"it''s\");\n",
    "-- a comment; not a statement\nCREATE TABLE t{i} (\n  id INT PRIMARY KEY /* key; */\n);\n",
    "UPDATE widgets SET name = `name` WHERE id = {i}; # trailing\n",
)


def migration_text(statements: int) -> str:
    return "".join(PATTERN[i % len(PATTERN)].format(i=i) for i in range(statements))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 40_000, 160_000])
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs per size")
    args = parser.parse_args()
    print(f"{'statements':>10}  {'file (MB)':>9}  {'best (s)':>8}  {'per statement (us)':>18}")
    for size in args.sizes:
        text = migration_text(size)
        best = float("inf")
        for _ in range(args.repeat):
            started = time.perf_counter()
            statements = split_statements(text, name="V0001__bench.sql")
            best = min(best, time.perf_counter() - started)
        assert len(statements) == size, (len(statements), size)
        print(f"{size:>10}  {len(text) / 1e6:>9.2f}  {best:>8.3f}  {best / size * 1e6:>18.2f}")


if __name__ == "__main__":
    main()
