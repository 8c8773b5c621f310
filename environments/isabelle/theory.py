"""The theory every theorem is opened in: its imports, its header, and the .thy file PISA loads.

PISA starts Isabelle from a .thy file (IsabelleContext); that file's imports are what every proof
sees. A `theory … begin` step run later only re-enters that theory, so the imports must be right in
the file itself.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Sequence
from pathlib import Path

from prover.errors import InputError

THEORY_NAME = "Prover_Interactive"
_MARK = "(* Written by prover (environments/isabelle); regenerated when the imports change. *)"
_IMPORTS = re.compile(r"\bimports\b(.*?)\bbegin\b", re.DOTALL)


def import_names(text: str) -> tuple[str, ...]:
    """Theory names from an `imports` list or a whole `theory … imports … begin` header."""
    match = _IMPORTS.search(text)
    body = match.group(1) if match else text
    body = re.sub(r"\(\*.*?\*\)", " ", body, flags=re.DOTALL)
    try:
        words = shlex.split(body)
    except ValueError as exc:
        raise InputError(f"cannot read the theory imports {body.strip()!r}: {exc}") from exc
    return tuple(w for w in words if w)


def _quoted(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z][A-Za-z0-9_']*(\.[A-Za-z0-9_']+)?", name) else f'"{name}"'


def header(imports: Sequence[str], name: str = THEORY_NAME) -> str:
    """`theory NAME imports … begin` on one line, as the DSP checker sends it."""
    return f"theory {name} imports {' '.join(_quoted(i) for i in imports)} begin"


def theory_text(imports: Sequence[str], name: str = THEORY_NAME) -> str:
    """The whole .thy file: marker comment, header, `end`."""
    return f"{_MARK}\n\n{header(imports, name)}\n\nend\n"


def write_theory(directory: Path, imports: Sequence[str]) -> Path:
    """Write (or keep, when unchanged) the generated theory in `directory`; returns its path."""
    path = directory / f"{THEORY_NAME}.thy"
    text = theory_text(imports)
    try:
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            return path
        if path.exists() and _MARK not in path.read_text(encoding="utf-8", errors="replace"):
            raise InputError(
                f"{path} exists and was not written by prover; move it away or point "
                "isabelle.theory_file at the theory you want PISA to load"
            )
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(
            f"cannot write the theory file {path} ({exc.strerror}); make the directory writable "
            "or set isabelle.theory_file to an existing .thy file"
        ) from exc
    return path


# Theories that come with another one (only the cases miniF2F headers use).
_IMPLIED: dict[str, tuple[str, ...]] = {
    "Complex_Main": ("Main", "HOL.HOL", "HOL.Main", "HOL.Complex_Main"),
    "Main": ("HOL.HOL", "HOL.Main"),
}


def missing_imports(needed: Iterable[str], available: Iterable[str]) -> list[str]:
    """Imports a theorem needs that the loaded theory does not have (quotes ignored)."""
    have = {a.strip('"') for a in available}
    have |= {implied for name in list(have) for implied in _IMPLIED.get(name, ())}
    return [n for n in (x.strip('"') for x in needed) if n and n not in have]
