"""miniF2F problem categories, read from the theorem name (its source competition or subject)."""

from __future__ import annotations

import re

CATEGORIES: tuple[str, ...] = (
    "mathd_algebra",
    "mathd_numbertheory",
    "amc",
    "aime",
    "imo",
    "algebra",
    "numbertheory",
    "induction",
)
OTHER = "other"

# First match wins; aimeI_/aimeII_ and imosl_ belong to aime and imo.
_RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        ("mathd_algebra", r"^mathd_algebra_"),
        ("mathd_numbertheory", r"^mathd_numbertheory_"),
        ("amc", r"^amc\d*[ab]?_"),
        ("aime", r"^aime(?:I|II)?_"),
        ("imo", r"^imo(?:sl)?_"),
        ("algebra", r"^algebra_"),
        ("numbertheory", r"^numbertheory_"),
        ("induction", r"^induction_"),
    )
)


def category(name: str) -> str:
    """The category of a miniF2F theorem name, or `other`."""
    for label, pattern in _RULES:
        if pattern.match(name):
            return label
    return OTHER
