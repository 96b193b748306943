"""Identifiers that become file names: the safe set and the path builder that cannot leave its folder."""

from __future__ import annotations

import pytest

from emocue.identifiers import MAX_IDENTIFIER_LENGTH, UnsafePathError, check_identifier, child_path


@pytest.mark.parametrize("value", ["Ses01F_impro01_F000", "03a01Fa", "spk-1", "u1.take+2", "_x", "5"])
def test_safe_identifiers(value):
    assert check_identifier(value) is None


@pytest.mark.parametrize(("value", "reason"), [
    ("", "is empty"),
    ("  ", "is empty"),
    (None, "is empty"),
    (7, "is a int, not text"),
    ("a/b", "contains a path separator '/'"),
    ("a\\b", "contains a path separator '\\\\'"),
    ("../../evil", "contains a path separator '/'"),
    ("..", "contains '..'"),
    ("a..b", "contains '..'"),
    ("a\tb", "contains a control character (U+0009)"),
    ("a\x00b", "contains a control character (U+0000)"),
    ("a b", "contains ' ' (allowed: ASCII letters, digits and _ - . +)"),
    ("café", "contains 'é'"),
    (".hidden", "starts with '.'"),
    ("-rf", "starts with '-'"),
    ("x" * (MAX_IDENTIFIER_LENGTH + 1), f"is {MAX_IDENTIFIER_LENGTH + 1} characters long"),
])
def test_unsafe_identifiers_say_why(value, reason):
    assert reason in check_identifier(value)


def test_child_path_builds_inside_its_folder(tmp_path):
    assert child_path(tmp_path, "spk1", "u1.lab") == tmp_path / "spk1" / "u1.lab"
    assert child_path("stage").as_posix() == "stage"


@pytest.mark.parametrize("part", ["..", ".", "", "a/b", "../x", "/etc", "a\\b", "a\x00b", None])
def test_child_path_refuses_parts_that_leave_or_nest(tmp_path, part):
    with pytest.raises(UnsafePathError, match="refusing to build a path under"):
        child_path(tmp_path, "spk1", part)
