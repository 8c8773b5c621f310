"""The configuration reference, generated from the config dataclasses themselves.

Defaults and descriptions are written once, in prover/config.py and in the settings sections
this distribution registers (a field's default, and the comment on or above its line);
`python -m prover.config_docs > docs/configuration.md` renders them, and a test keeps the
committed page equal to this output.
"""

from __future__ import annotations

import dataclasses
import inspect
import io
import os
import tokenize
import typing
from typing import Any

from prover import registry
from prover.config import Config


def _comments(cls: type) -> dict[str, str]:
    """Field name → the comment on its line, or the comment block right above it."""
    source = inspect.getsource(cls)
    found: dict[str, str] = {}
    pending: list[str] = []
    field_line: dict[int, str] = {}
    names = {f.name for f in dataclasses.fields(cls)}
    for number, line in enumerate(source.splitlines(), start=1):
        stripped = line.strip()
        head = stripped.split(":", 1)[0]
        if head in names and ":" in stripped and line.startswith("    ") and line[4] != " ":
            field_line[number] = head
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    last_line = 0
    for tok in tokens:
        if tok.type == tokenize.COMMENT:
            text = tok.string.lstrip("#").strip()
            row = tok.start[0]
            if row in field_line:
                found[field_line[row]] = text
            else:
                if row != last_line + 1:
                    pending = []
                pending.append(text)
                last_line = row
        elif tok.type == tokenize.NAME and tok.start[0] in field_line and pending:
            name = field_line[tok.start[0]]
            if tok.string == name and tok.start[0] == last_line + 1:
                found.setdefault(name, " ".join(pending))
            pending = []
        elif (
            tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)
            and tok.start[0] > last_line + 1
        ):
            pending = []
    return found


_HOME = "/home-directory-placeholder"


def _machine_independent(factory: Any) -> Any:
    """A default computed from the environment (PROVER_HOME, PISA_JAR, …) as it is on a machine
    that sets none of those variables, with the home directory written `~`."""
    saved = dict(os.environ)
    try:
        for name in ("PROVER_HOME", "PISA_JAR", "ISABELLE_PATH"):
            os.environ.pop(name, None)
        os.environ["HOME"] = _HOME
        value = factory()
        return value.replace(_HOME, "~") if isinstance(value, str) else value
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _default(field: dataclasses.Field[Any]) -> str:
    if field.default is not dataclasses.MISSING:
        value = field.default
    elif field.default_factory is not dataclasses.MISSING:
        value = _machine_independent(field.default_factory)
    else:  # pragma: no cover - every config field has a default
        return ""
    if isinstance(value, str) and "\n" in value:
        return "(multi-line text; see the section's source)"
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value).replace("'", '"')


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is not None and getattr(origin, "__name__", "") in ("Mapping", "dict"):
        return "table"
    if origin is tuple:
        (item,) = typing.get_args(hint)[:1]
        return f"list of {_type_name(item)}"
    if origin is not None and typing.get_args(hint):
        return " or ".join(_type_name(a) for a in typing.get_args(hint) if a is not type(None))
    return getattr(hint, "__name__", str(hint))


def _rows(cls: type, prefix: str) -> list[str]:
    hints = typing.get_type_hints(cls)
    notes = _comments(cls)
    rows = []
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            continue
        note = notes.get(f.name, "").replace("|", "\\|")
        default = _default(f).replace("|", "\\|")
        rows.append(f"| `{prefix}{f.name}` | {_type_name(hints[f.name])} | `{default}` | {note} |")
    return rows


def render() -> str:
    """The whole reference page as Markdown."""
    out = [
        "# Configuration reference",
        "",
        "Generated from `prover/config.py` and the settings sections the built-in plug-ins "
        "register (`environments/*/settings.py`, `benchmarks/perf/settings.py`) by "
        "`python -m prover.config_docs`; do not edit by hand.",
        "",
        "Every key can be set in a TOML file (`--config run.toml`) or with "
        "`--set section.key=value`; flags override both. An unknown key or a wrong type is an "
        "error that names the key. Every run stores its full resolved configuration.",
        "",
        "## Top level",
        "",
        "| key | type | default | meaning |",
        "|---|---|---|---|",
        *_rows(Config, ""),
    ]
    hints = typing.get_type_hints(Config)
    sections = [(f.name, hints[f.name]) for f in dataclasses.fields(Config)]
    # Sections this distribution registers as plug-ins (the simulator's `[sim]`), not others'.
    sections += [
        (e.name, e.load()) for e in registry.entries("settings") if e.distribution == "prover"
    ]
    for name, section in sections:
        if not dataclasses.is_dataclass(section):
            continue
        doc = inspect.getdoc(section) or ""
        out += [
            "",
            f"## `[{name}]`",
            "",
            doc,
            "",
            "| key | type | default | meaning |",
            "|---|---|---|---|",
            *_rows(section, f"{name}."),
        ]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(render(), end="")
