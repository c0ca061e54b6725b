"""A time limit's identity: its name, plain-words rule, regulation and whether grounds excuse it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TimeLimit:
    """A statutory (or derived) time limit.

    Attributes:
        name: stable machine name used in statutory dates and alert ids.
        rule_text: the rule in plain words for LA staff.
        regulation: the source, e.g. ``reg 13(2)``.
        excusable: reg 10(4) grounds can excuse it (via reg 5(4), 10(4), 13(3) or 27(3)).
    """

    name: str
    rule_text: str
    regulation: str
    excusable: bool
