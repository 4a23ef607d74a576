"""Reproducible Lambda layer and function archives (components.lambda_packaging)."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from components.lambda_packaging import (
    FILE_MODE,
    PROJECT_ROOT,
    Archive,
    PackagingError,
    build_function_archive,
    build_layer,
    layer_top_level_modules,
    layer_versions,
    unsatisfied_imports,
)
from lambda_src.common.db import RDS_CA_BUNDLE

# Modules the Lambda Python runtime ships: boto3 and what it needs. The layer comes first
# on sys.path (as /opt/python does in Lambda), so its jmespath is the one imported.
RUNTIME_MODULES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")


@pytest.fixture(scope="module")
def layer() -> Archive:
    return build_layer()


@pytest.fixture(scope="module")
def health_archive() -> Archive:
    return build_function_archive(["health"])


def infos(archive: Archive) -> list[zipfile.ZipInfo]:
    with zipfile.ZipFile(io.BytesIO(archive.data)) as zf:
        return zf.infolist()


def extract(archive: Archive, target: Path) -> Path:
    with zipfile.ZipFile(io.BytesIO(archive.data)) as zf:
        zf.extractall(target)
    return target


def fake_source_tree(root: Path) -> Path:
    """A lambda_src with common, two functions, caches and a data file."""
    package = root / "lambda_src"
    for relative, text in {
        "__init__.py": '"""pkg"""\n',
        "common/__init__.py": "",
        "common/db.py": "import pymysql\n",
        "common/__pycache__/db.cpython-311.pyc": "bytecode",
        "health/__init__.py": "",
        "health/handler.py": "import json\nfrom lambda_src.common import db\n",
        "health/sql/probe.sql": "SELECT 1;\n",
        "health/stale.pyc": "bytecode",
        "failover/__init__.py": "",
        "failover/handler.py": "import requests\n",
    }.items():
        path = package / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_two_builds_are_byte_identical(layer: Archive, health_archive: Archive) -> None:
    assert build_layer().data == layer.data
    assert build_function_archive(["health"]).data == health_archive.data


def test_function_archive_bytes_ignore_file_times_and_location(tmp_path: Path) -> None:
    # GIVEN the same sources in two places, one copy with different modification times
    first = fake_source_tree(tmp_path / "a")
    second = fake_source_tree(tmp_path / "b")
    for path in (second / "lambda_src").rglob("*.py"):
        os.utime(path, (1_700_000_000, 1_700_000_000))

    # WHEN both are packaged, THEN the bytes and the Lambda hash are the same
    one = build_function_archive(["health"], source_root=first)
    two = build_function_archive(["health"], source_root=second)
    assert one.data == two.data
    assert one.sha256_base64 == two.sha256_base64
    assert one.sha256_base64 == base64.b64encode(hashlib.sha256(one.data).digest()).decode()


@pytest.mark.parametrize("which", ["layer", "health_archive"])
def test_entries_are_sorted_with_fixed_timestamp_mode_and_compression(
    which: str, request: pytest.FixtureRequest
) -> None:
    archive: Archive = request.getfixturevalue(which)
    entries = infos(archive)
    assert entries, "empty archive"
    names = [info.filename for info in entries]
    assert names == sorted(names)
    for info in entries:
        assert info.date_time == (1980, 1, 1, 0, 0, 0), info.filename
        assert info.external_attr >> 16 == 0o100000 | FILE_MODE, info.filename
        assert info.compress_type == zipfile.ZIP_DEFLATED, info.filename
        assert not info.is_dir(), info.filename


def test_layer_holds_pymysql_powertools_and_their_dependencies_under_python(layer: Archive) -> None:
    names = set(layer.entries)
    for required in (
        "python/pymysql/__init__.py",
        "python/pymysql/connections.py",
        "python/aws_lambda_powertools/__init__.py",
        "python/aws_lambda_powertools/logging/logger.py",
        "python/jmespath/__init__.py",
        "python/typing_extensions.py",
        "python/pymysql-1.2.4.dist-info/METADATA",
    ):
        assert required in names, required
    assert all(name.startswith("python/") for name in names)
    assert not [n for n in names if n.endswith((".pyc", ".pyo")) or "__pycache__" in n]
    assert not [n for n in names if "/bin/" in n or ".." in n.split("/")]
    # installer bookkeeping is machine-specific and must not leak into the bytes
    assert not [n for n in names if n.endswith(("/RECORD", "/INSTALLER", "/direct_url.json"))]


def test_layer_contents_are_the_installed_files(layer: Archive) -> None:
    import pymysql.connections

    with zipfile.ZipFile(io.BytesIO(layer.data)) as zf:
        shipped = zf.read("python/pymysql/connections.py")
    assert shipped == Path(pymysql.connections.__file__).read_bytes()


def test_layer_declares_the_pinned_versions_and_its_top_level_modules() -> None:
    pins = dict(
        dep.split("==")
        for dep in tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    )
    versions = {name.lower().replace("_", "-"): version for name, version in layer_versions().items()}
    assert versions["pymysql"] == pins["pymysql"]
    assert versions["aws-lambda-powertools"] == pins["aws-lambda-powertools"]
    assert {"jmespath", "typing-extensions"} <= set(versions)
    assert layer_top_level_modules() == {"pymysql", "aws_lambda_powertools", "jmespath", "typing_extensions"}


def test_function_archive_holds_common_and_the_named_subpackage_only(tmp_path: Path) -> None:
    # GIVEN a tree with two functions, bytecode caches and a data file
    root = fake_source_tree(tmp_path)

    # WHEN the health function is packaged
    archive = build_function_archive(["health"], source_root=root)

    # THEN it holds the package root, common and health (data files included), nothing else
    assert archive.name == "health"
    assert archive.entries == [
        "lambda_src/__init__.py",
        "lambda_src/common/__init__.py",
        "lambda_src/common/db.py",
        "lambda_src/health/__init__.py",
        "lambda_src/health/handler.py",
        "lambda_src/health/sql/probe.sql",
    ]


def test_real_health_archive_has_no_other_function(health_archive: Archive) -> None:
    names = health_archive.entries
    assert "lambda_src/health/handler.py" in names and "lambda_src/common/db.py" in names
    assert {n.split("/")[1] for n in names if n.count("/") >= 2} == {"common", "health"}
    assert not [n for n in names if n.endswith(".pyc") or "__pycache__" in n]


@pytest.mark.parametrize("bad", ["common", "Health", "../tests", "absent"])
def test_function_archive_rejects_a_bad_subpackage_name(bad: str) -> None:
    with pytest.raises(PackagingError, match=r"subpackage|not a package"):
        build_function_archive([bad])


def test_unsatisfied_imports_names_what_neither_layer_nor_runtime_provides(tmp_path: Path) -> None:
    root = fake_source_tree(tmp_path)
    assert unsatisfied_imports(["health"], source_root=root) == frozenset()
    assert unsatisfied_imports(["failover"], source_root=root) == {"requests"}
    assert unsatisfied_imports(["health"]) == frozenset()


def _runtime_dir(target: Path) -> Path:
    """Stand-in for the Lambda runtime's own packages: boto3 and its dependencies."""
    target.mkdir()
    for module in RUNTIME_MODULES:
        spec = importlib.util.find_spec(module)
        assert spec is not None and spec.origin is not None, module
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (target / source.name).symlink_to(source)
    return target


def _isolated_import(paths: list[Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    script = (
        "import json, sys\n"
        f"sys.path[:0] = {[str(p) for p in paths]!r}\n"
        "import lambda_src.health.handler as h\n"
        "import pymysql, aws_lambda_powertools, jmespath\n"
        "print(json.dumps({'handler': callable(h.handler), 'pymysql': pymysql.__file__,"
        " 'powertools': aws_lambda_powertools.__file__, 'jmespath': jmespath.__file__,"
        " 'health': h.__file__}))\n"
    )
    # -I ignores PYTHON* variables and the user site; -S drops site-packages, so only the
    # extracted archives, the stand-in runtime and the standard library are importable.
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", script],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_handler_imports_are_satisfied_by_the_archive_and_layer_alone(
    tmp_path: Path, layer: Archive, health_archive: Archive
) -> None:
    # GIVEN the function archive and the layer extracted as Lambda does (/var/task, /opt)
    task = extract(health_archive, tmp_path / "task")
    opt_python = extract(layer, tmp_path / "opt") / "python"
    runtime = _runtime_dir(tmp_path / "runtime")

    # WHEN an isolated interpreter imports the handler
    done = _isolated_import([task, opt_python, runtime], tmp_path)

    # THEN it succeeds, with every dependency coming from the extracted layer
    assert done.returncode == 0, done.stderr
    origins = json.loads(done.stdout)
    assert origins["handler"] is True
    assert origins["health"].startswith(str(task))
    for name in ("pymysql", "powertools", "jmespath"):
        assert origins[name].startswith(str(opt_python)), (name, origins[name])

    # AND without the layer the same import fails (the check is not satisfied by the host)
    without_layer = _isolated_import([task, runtime], tmp_path)
    assert without_layer.returncode != 0
    assert re.search(
        r"ModuleNotFoundError: No module named '(aws_lambda_powertools|pymysql)'", without_layer.stderr
    )


# Every function the program deploys is a lambda_src subpackage with a handler module.
FUNCTIONS = sorted(p.parent.name for p in (PROJECT_ROOT / "lambda_src").glob("*/handler.py"))
BUNDLE_ENTRY = "lambda_src/common/rds-ca-bundle.pem"


def test_the_functions_found_are_the_ones_the_code_ships() -> None:
    # failover and probe are built and tested; the stacks deploy them once issue 13 is wired.
    assert FUNCTIONS == [
        "bootstrap",
        "bootstrap_worker",
        "failover",
        "health",
        "migrator",
        "migrator_worker",
        "probe",
        "rotation",
        "rotation_sql",
    ]


@pytest.mark.parametrize("subpackage", FUNCTIONS)
def test_every_function_archive_ships_the_rds_ca_bundle_byte_for_byte(subpackage: str) -> None:
    # GIVEN the bundle the database code trusts by default
    assert Path(RDS_CA_BUNDLE).relative_to(PROJECT_ROOT).as_posix() == BUNDLE_ENTRY

    # WHEN the function is packaged (twice)
    archive = build_function_archive([subpackage])

    # THEN the bundle is in it, unchanged, stored like every other entry, and the bytes repeat
    with zipfile.ZipFile(io.BytesIO(archive.data)) as zf:
        assert zf.read(BUNDLE_ENTRY) == Path(RDS_CA_BUNDLE).read_bytes()
        info = zf.getinfo(BUNDLE_ENTRY)
    assert (info.date_time, info.external_attr >> 16 & 0o777) == ((1980, 1, 1, 0, 0, 0), FILE_MODE)
    assert build_function_archive([subpackage]).data == archive.data


def test_extracted_function_trusts_the_bundle_inside_its_own_archive(
    tmp_path: Path, layer: Archive, health_archive: Archive
) -> None:
    # GIVEN the health function and the layer extracted as Lambda does
    task = extract(health_archive, tmp_path / "task")
    opt_python = extract(layer, tmp_path / "opt") / "python"
    runtime = _runtime_dir(tmp_path / "runtime")
    script = (
        "import json, ssl, sys\n"
        f"sys.path[:0] = {[str(p) for p in (task, opt_python, runtime)]!r}\n"
        "from lambda_src.common import db\n"
        "context = db.tls_context(db.RDS_CA_BUNDLE)\n"
        "print(json.dumps({'bundle': db.RDS_CA_BUNDLE, 'cas': len(context.get_ca_certs()),"
        " 'required': context.verify_mode == ssl.CERT_REQUIRED, 'hostname': context.check_hostname}))\n"
    )

    # WHEN an isolated interpreter loads the default TLS context
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )

    # THEN it reads the archive's own bundle and verifies certificate and host name
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    assert loaded == {"bundle": str(task / BUNDLE_ENTRY), "cas": 87, "required": True, "hostname": True}


def test_write_creates_the_file_and_rewrites_only_when_contents_differ(tmp_path: Path) -> None:
    archive = Archive(name="health", data=b"first")
    path = archive.write(tmp_path / "build" / "lambda")
    assert path == tmp_path / "build" / "lambda" / "health.zip" and path.read_bytes() == b"first"
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))

    assert Archive(name="health", data=b"first").write(tmp_path / "build" / "lambda") == path
    assert path.stat().st_mtime_ns == 1_000_000_000

    Archive(name="health", data=b"second").write(tmp_path / "build" / "lambda")
    assert path.read_bytes() == b"second"
    assert not list(path.parent.glob("*.partial"))


def test_layer_build_fails_clearly_for_a_missing_distribution() -> None:
    with pytest.raises(PackagingError, match="'no-such-dist' is not installed"):
        build_layer(["no-such-dist"])


def test_archive_round_trips_through_shutil(tmp_path: Path, health_archive: Archive) -> None:
    # Lambda unzips with standard tools; the files must come back with their content.
    zip_path = health_archive.write(tmp_path)
    shutil.unpack_archive(zip_path, tmp_path / "out")
    assert (tmp_path / "out" / "lambda_src" / "health" / "check.py").read_bytes() == (
        PROJECT_ROOT / "lambda_src" / "health" / "check.py"
    ).read_bytes()
