"""Reproducible, offline Lambda archives: the dependency layer and one archive per function.

Same inputs, same bytes, so ``source_code_hash`` only changes when code or a pinned
dependency changes and previews show no spurious diff. Entries are sorted, stamped
1980-01-01 00:00:00, mode 0o644, deflated at a fixed level. Bytes are stable for a given
zlib build; a different zlib could compress differently, which changes the hash but
never the contents.

* The layer holds the *installed* distributions (``LAYER_DISTRIBUTIONS``) under
  ``python/``, copied from this environment through ``importlib.metadata``: no network,
  and the versions are the ones pinned in pyproject.toml that the tests ran against.
* A function archive holds ``lambda_src/__init__.py``, ``lambda_src/common/`` and the
  named subpackages of ``lambda_src``; handler strings read
  ``lambda_src.<subpackage>.handler.handler``.

Nothing here imports Pulumi: callers wrap ``Archive.data`` or ``Archive.write()``'s path.
"""

from __future__ import annotations

import argparse
import ast
import base64
import hashlib
import importlib.metadata as metadata
import io
import os
import re
import sys
import threading
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SOURCE_PACKAGE = "lambda_src"
SHARED_SUBPACKAGE = "common"
LAYER_PREFIX = "python"

LAYER_DISTRIBUTIONS: tuple[str, ...] = ("PyMySQL", "aws-lambda-powertools", "jmespath", "typing_extensions")
"""Distributions shipped in the layer: pymysql, Powertools and Powertools' own dependencies."""

RUNTIME_PROVIDED_MODULES = frozenset({"boto3", "botocore"})
"""Top-level modules the Lambda Python runtime provides; everything else must come from the layer."""

FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644
COMPRESS_LEVEL = 9

_EXCLUDED_DIRS = frozenset({"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
_EXCLUDED_SUFFIXES = (".pyc", ".pyo")
# Installer bookkeeping differs between pip and uv and between machines (direct_url.json
# holds a local path); importlib.metadata needs only METADATA.
_EXCLUDED_DIST_INFO = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})
_SUBPACKAGE_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


class PackagingError(Exception):
    """An archive cannot be built as asked (missing distribution, tampered file, bad name)."""


@dataclass(frozen=True)
class Archive:
    """A built zip archive and its identity."""

    name: str
    """File stem, e.g. ``dependencies`` or ``health``."""
    data: bytes

    @property
    def sha256_base64(self) -> str:
        """Base64 of the SHA-256 digest: the form Lambda's ``source_code_hash`` expects."""
        return base64.b64encode(hashlib.sha256(self.data).digest()).decode("ascii")

    @property
    def entries(self) -> list[str]:
        with zipfile.ZipFile(io.BytesIO(self.data)) as archive:
            return archive.namelist()

    def write(self, build_dir: Path | str = PROJECT_ROOT / "build" / "lambda") -> Path:
        """Write ``<build_dir>/<name>.zip``, leaving the file untouched when its bytes are equal."""
        target = Path(build_dir) / f"{self.name}.zip"
        if target.is_file() and target.read_bytes() == self.data:
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        # A partial file of this process's own: parallel test workers (or two `infra` runs)
        # writing the same archive must not replace each other's half-written file.
        partial = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.partial")
        partial.write_bytes(self.data)
        partial.replace(target)
        return target


def deterministic_zip(files: Iterable[tuple[str, bytes]]) -> bytes:
    """Zip ``(arcname, content)`` pairs with sorted names, fixed timestamps and modes."""
    by_name: dict[str, bytes] = {}
    for name, content in files:
        if name in by_name and by_name[name] != content:
            raise PackagingError(f"two different files would be stored as {name!r}")
        by_name[name] = content
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(by_name):
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE_TIME)
            info.create_system = 3  # Unix, so the mode bits below are honoured on extraction
            info.external_attr = (0o100000 | FILE_MODE) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, by_name[name], compresslevel=COMPRESS_LEVEL)
    return buffer.getvalue()


def _excluded(parts: Sequence[str]) -> bool:
    return any(part in _EXCLUDED_DIRS for part in parts) or parts[-1].endswith(_EXCLUDED_SUFFIXES)


def _distribution(name: str) -> metadata.Distribution:
    try:
        return metadata.distribution(name)
    except metadata.PackageNotFoundError:
        raise PackagingError(
            f"distribution {name!r} is not installed in {sys.prefix}; install the project's pinned "
            "dependencies (pip install -e '.[dev]') before building the layer"
        ) from None


def _layer_files(dist: metadata.Distribution) -> list[tuple[PurePosixPath, metadata.PackagePath]]:
    """(path relative to site-packages, RECORD entry) of the files the layer ships."""
    if dist.files is None:
        raise PackagingError(f"distribution {dist.metadata['Name']!r} has no RECORD; reinstall it with pip")
    chosen = []
    for record in dist.files:
        relative = PurePosixPath(record.as_posix())
        # Console scripts land outside site-packages (../../../bin/jp.py): not importable, not shipped.
        if relative.parts[0] == ".." or _excluded(relative.parts):
            continue
        if relative.parts[0].endswith(".dist-info") and relative.name in _EXCLUDED_DIST_INFO:
            continue
        chosen.append((relative, record))
    return chosen


def _read_verified(dist: metadata.Distribution, record: metadata.PackagePath) -> bytes:
    content = Path(str(dist.locate_file(record))).read_bytes()
    if record.hash is not None and record.hash.mode == "sha256":
        digest = base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=").decode("ascii")
        if digest != record.hash.value:
            raise PackagingError(
                f"{record} of {dist.metadata['Name']} differs from its RECORD hash: the installed copy "
                "was modified; reinstall the distribution"
            )
    return content


def build_layer(distributions: Sequence[str] = LAYER_DISTRIBUTIONS, *, name: str = "dependencies") -> Archive:
    """The dependency layer: ``python/<installed files>`` of each distribution."""
    files: list[tuple[str, bytes]] = []
    for dist_name in distributions:
        dist = _distribution(dist_name)
        for relative, record in _layer_files(dist):
            files.append((f"{LAYER_PREFIX}/{relative}", _read_verified(dist, record)))
    return Archive(name=name, data=deterministic_zip(files))


def layer_versions(distributions: Sequence[str] = LAYER_DISTRIBUTIONS) -> dict[str, str]:
    """``{distribution name: installed version}`` of what the layer ships."""
    return {str(_distribution(n).metadata["Name"]): _distribution(n).version for n in distributions}


def layer_top_level_modules(distributions: Sequence[str] = LAYER_DISTRIBUTIONS) -> frozenset[str]:
    """Top-level importable names the layer provides (``pymysql``, ``typing_extensions``, ...)."""
    modules: set[str] = set()
    for dist_name in distributions:
        for relative, _ in _layer_files(_distribution(dist_name)):
            top = relative.parts[0]
            if top.endswith((".dist-info", ".egg-info", ".data")):
                continue
            if len(relative.parts) == 1:
                if relative.suffix == ".py":
                    modules.add(relative.stem)
            else:
                modules.add(top)
    return frozenset(modules)


def _check_subpackage(source_root: Path, subpackage: str) -> Path:
    if not _SUBPACKAGE_NAME.match(subpackage) or subpackage == SHARED_SUBPACKAGE:
        raise PackagingError(
            f"subpackage must be a lower-case Python identifier other than {SHARED_SUBPACKAGE!r} "
            f"(it is always included), got {subpackage!r}"
        )
    folder = source_root / SOURCE_PACKAGE / subpackage
    if not (folder / "__init__.py").is_file():
        raise PackagingError(
            f"{folder} is not a package (no __init__.py): check the subpackage name {subpackage!r}"
        )
    return folder


def _tree(folder: Path, source_root: Path) -> list[tuple[str, Path]]:
    found = []
    for path in folder.rglob("*"):
        relative = path.relative_to(source_root)
        if path.is_file() and not _excluded(relative.parts):
            found.append((relative.as_posix(), path))
    return found


def function_sources(
    subpackages: Sequence[str], *, source_root: Path = PROJECT_ROOT
) -> list[tuple[str, Path]]:
    """Sorted ``(arcname, path)`` of what a function archive for ``subpackages`` contains."""
    if not subpackages:
        raise PackagingError("name at least one lambda_src subpackage, e.g. ['health']")
    package = source_root / SOURCE_PACKAGE
    selected = [(f"{SOURCE_PACKAGE}/__init__.py", package / "__init__.py")]
    selected += _tree(package / SHARED_SUBPACKAGE, source_root)
    for subpackage in sorted(set(subpackages)):
        selected += _tree(_check_subpackage(source_root, subpackage), source_root)
    return sorted(selected)


def build_function_archive(
    subpackages: Sequence[str], *, name: str | None = None, source_root: Path = PROJECT_ROOT
) -> Archive:
    """A function's code: ``lambda_src/__init__.py``, ``lambda_src/common/`` and ``subpackages``."""
    files = [
        (arcname, path.read_bytes())
        for arcname, path in function_sources(subpackages, source_root=source_root)
    ]
    return Archive(name=name or "-".join(sorted(set(subpackages))), data=deterministic_zip(files))


def imported_top_level_modules(
    subpackages: Sequence[str], *, source_root: Path = PROJECT_ROOT
) -> frozenset[str]:
    """Top-level modules imported (absolute imports) by the Python files of a function archive."""
    modules: set[str] = set()
    for arcname, path in function_sources(subpackages, source_root=source_root):
        if not arcname.endswith(".py"):
            continue
        for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return frozenset(modules)


def unsatisfied_imports(
    subpackages: Sequence[str],
    *,
    source_root: Path = PROJECT_ROOT,
    distributions: Sequence[str] = LAYER_DISTRIBUTIONS,
) -> frozenset[str]:
    """Imports of a function that neither the archive, the stdlib, the runtime nor the layer provide.

    Empty means every import is satisfied (FAILURE_CATALOG FC-000-1). The standard library
    is the building interpreter's; Lambda's python3.12 has the same top-level names.
    """
    provided = (
        {SOURCE_PACKAGE, "__future__"}
        | set(sys.stdlib_module_names)
        | RUNTIME_PROVIDED_MODULES
        | layer_top_level_modules(distributions)
    )
    return imported_top_level_modules(subpackages, source_root=source_root) - provided


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the Lambda layer and function archives.")
    parser.add_argument(
        "subpackages", nargs="*", help="lambda_src subpackages, one archive each (e.g. health)"
    )
    parser.add_argument("--build-dir", type=Path, default=PROJECT_ROOT / "build" / "lambda")
    args = parser.parse_args(argv)
    archives = [build_layer()] + [build_function_archive([s]) for s in args.subpackages]
    for archive in archives:
        print(f"{archive.write(args.build_dir)}  sha256={archive.sha256_base64}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
