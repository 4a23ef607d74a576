"""Reading an environment file (issue 10 §1): a file never says two things, never makes the tool
work or talk without bound, and every way a path can fail is an environment-file error with a fix."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from model import yaml_loader
from model.environment import (
    DeletionPolicy,
    EnvironmentFileError,
    UnknownEnvironmentError,
    environment_path,
    load_environment,
    load_environment_file,
)
from model.excerpt import EXCERPT_CHARS, excerpt

PROD = environment_path("prod").read_text()
BOUND = EnvironmentFileError.MAX_PROBLEMS * (EnvironmentFileError.MAX_PROBLEM_CHARS + 10) + 400
"""No message about a file may be longer than this, whatever the file holds."""


def write(tmp_path: Path, text: str, name: str = "candidate.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problem_of(path: Path) -> str:
    with pytest.raises(EnvironmentFileError) as info:
        load_environment_file(path, check_organisation=False)
    assert len(info.value.problems) == 1, info.value.problems
    assert len(str(info.value)) < BOUND
    return info.value.problems[0]


# --- Duplicate keys -----------------------------------------------------------------------------


def test_a_second_deletion_policy_appended_to_prod_is_refused_naming_both_lines(tmp_path):
    # GIVEN prod's file with `deletion_policy: ephemeral` appended (YAML would keep the last one)
    lines = PROD.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("deletion_policy:")) + 1
    path = write(tmp_path, PROD + "deletion_policy: ephemeral\n")

    # WHEN it is loaded THEN it is refused, naming both lines and the key
    problem = problem_of(path)
    assert f"lines {first} and {len(lines) + 1}" in problem
    assert "'deletion_policy' is given twice" in problem
    assert "Fix: keep exactly one of them" in problem
    # AND the checked-in prod is still protected
    assert load_environment("prod").deletion_policy is DeletionPolicy.PROTECTED


def test_a_duplicate_key_deep_in_the_file_is_refused_naming_both_lines(tmp_path):
    text = "a: 1\nnetwork:\n  cidrs:\n    us-east-1: 10.0.0.0/16\n    us-east-1: 10.1.0.0/16\n"
    problem = problem_of(write(tmp_path, text))
    assert "lines 4 and 5" in problem and "'us-east-1' is given twice" in problem


def test_keys_equal_as_values_but_spelled_differently_are_duplicates(tmp_path):
    problem = problem_of(write(tmp_path, "name: dev\n'name': prod\n"))
    assert "lines 1 and 2" in problem


def test_the_same_key_in_two_different_mappings_is_not_a_duplicate():
    assert yaml_loader.parse_yaml("a: {x: 1}\nb: {x: 2}\n") == {"a": {"x": 1}, "b": {"x": 2}}


# --- Aliases, anchors, merge keys, nesting ------------------------------------------------------

ALIAS_BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_a_nine_line_alias_bomb_is_refused_with_a_short_message(tmp_path):
    problem = problem_of(write(tmp_path, ALIAS_BOMB))
    assert "line 1" in problem and "anchors" in problem
    assert "Fix: remove the anchor" in problem
    assert len(problem) < 400


def test_an_alias_is_refused_saying_environment_files_need_none():
    with pytest.raises(yaml_loader.EnvironmentYamlError) as info:
        yaml_loader._StrictLoader("a: *x\n").get_single_data()
    assert "aliases" in info.value.problem and "never needed" in info.value.problem


def test_a_merge_key_is_refused(tmp_path):
    problem = problem_of(write(tmp_path, "database:\n  <<: {instance_count: 3}\n"))
    assert "merge keys" in problem and "line 2" in problem


def test_nesting_beyond_the_limit_is_refused(tmp_path):
    depth = yaml_loader.MAX_DEPTH + 5
    problem = problem_of(write(tmp_path, "a: " + "[" * depth + "]" * depth + "\n"))
    assert f"nested deeper than {yaml_loader.MAX_DEPTH} levels" in problem


# --- Size and bounded messages ------------------------------------------------------------------


def test_a_file_above_the_size_limit_is_refused_before_parsing_naming_the_limit(tmp_path):
    path = write(tmp_path, PROD + "# " + "x" * (yaml_loader.MAX_FILE_BYTES) + "\n")
    problem = problem_of(path)
    assert f"above the limit of {yaml_loader.MAX_FILE_BYTES} bytes" in problem
    assert "Fix: " in problem


def test_a_huge_value_is_echoed_as_a_bounded_excerpt(tmp_path):
    huge = "x" * 100_000  # within the size limit
    path = write(tmp_path, PROD.replace("name: prod", f"name: {huge}"))
    with pytest.raises(EnvironmentFileError) as info:
        load_environment_file(path, check_organisation=False)
    message = str(info.value)
    assert len(message) < 2000
    assert f"…({len(repr(huge))} chars)" in message


def test_a_huge_unknown_key_and_many_problems_keep_the_message_bounded(tmp_path):
    data = yaml.safe_load(PROD)
    data.update({f"unknown_{i}_{'k' * 1000}": "v" * 1000 for i in range(60)})
    path = write(tmp_path, yaml.safe_dump(data))
    with pytest.raises(EnvironmentFileError) as info:
        load_environment_file(path, check_organisation=False)
    assert len(info.value.problems) == EnvironmentFileError.MAX_PROBLEMS + 1
    assert info.value.problems[-1].startswith("... and 40 more problems")
    assert len(str(info.value)) < BOUND


def test_excerpt_cuts_long_values_and_names_their_size():
    assert excerpt("short") == "'short'"
    long = "y" * 1000
    text = excerpt(long)
    assert text.startswith("'yyyy") and text.endswith(f"…({len(repr(long))} chars)")
    assert len(text) <= EXCERPT_CHARS + 20
    nested = [["z" * 100] * 100] * 100
    assert len(excerpt(nested)) <= EXCERPT_CHARS + 40


# --- Every path failure: an environment-file error with a fix ------------------------------------


def test_a_directory_is_an_environment_file_error(tmp_path):
    problem = problem_of(tmp_path)
    assert "is a directory" in problem and "Fix: " in problem


def test_a_symlink_loop_is_an_environment_file_error(tmp_path):
    loop = tmp_path / "loop.yaml"
    os.symlink(loop, loop)
    problem = problem_of(loop)
    assert "symbolic link loop" in problem and "Fix: " in problem


def test_an_unreadable_file_is_an_environment_file_error(tmp_path, monkeypatch):
    path = write(tmp_path, PROD)

    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    # As root chmod 000 still reads: make the open itself fail as it does for other users.
    monkeypatch.setattr(yaml_loader, "open", denied, raising=False)
    problem = problem_of(path)
    assert "permission denied" in problem and "Fix: " in problem


def test_a_device_is_not_read(tmp_path):
    problem = problem_of(Path("/dev/zero"))
    assert "not a regular file" in problem


def test_a_missing_directory_on_the_way_is_an_environment_file_error(tmp_path):
    file = write(tmp_path, PROD)
    problem = problem_of(file / "below-a-file.yaml")
    assert "does not exist" in problem


def test_an_environment_name_that_is_a_path_or_absurd_is_unknown():
    for name in ("../environments/prod", "x" * 5000, ""):
        with pytest.raises(UnknownEnvironmentError):
            load_environment(name)
