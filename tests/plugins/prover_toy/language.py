"""The toy language: what `prover` needs to know about it. A statement is used as written (no
`:= by` appended, no header) and checked for its one shape before any environment starts."""

from __future__ import annotations

import re

from prover.errors import InputError
from prover.language import LanguageSpec

STATEMENT = re.compile(r"theorem\s+\S+\s*:\s*(-?\d+)\s*~>\s*(-?\d+)")


def _check(statement: str) -> None:
    if STATEMENT.fullmatch(statement.strip()) is None:
        raise InputError(
            f"not a toy statement: {statement.strip()!r}; write 'theorem NAME : START ~> TARGET'"
        )


TOY = LanguageSpec(name="toy", environments=("toy",), check=_check)
