"""The documented example files are synthetic: any identifier in them passes its check digit."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ehcp.casework.jsonl import parse_lines
from ehcp.identifiers import is_valid_nhs_number, is_valid_upn

EXAMPLES = sorted((Path(__file__).parents[3] / "docs" / "examples").glob("*.jsonl"))
NHS_LIKE = re.compile(r"(?<![\d-])\d{10}(?![\d-])")
UPN_LIKE = re.compile(r"\b[A-Z]\d{11}[0-9A-Z]\b")


def test_examples_exist() -> None:
    """At least one worked example file is shipped."""
    assert EXAMPLES


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_parses_and_identifiers_are_valid(path: Path) -> None:
    """Each example parses, and any NHS number or UPN in it passes its check digit."""
    text = path.read_text(encoding="utf-8")
    assert parse_lines(text.splitlines())
    for number in NHS_LIKE.findall(text):
        assert is_valid_nhs_number(number), number
    for upn in UPN_LIKE.findall(text):
        assert is_valid_upn(upn), upn
