"""`prover check FILE.lean [--theorem NAME]`: the sound whole-proof check of a file's proofs.

Each theorem is checked as the `lean-repl` backend checks a found proof: the screen first, then its
statement and proof as one command on a fresh environment of everything before it in the file, no
error, no sorry, `#print axioms` within propext / Classical.choice / Quot.sound, and the declared
type unchanged. Exit 0 when every checked proof is accepted, 1 when one is rejected, 2 on bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from prover.cli.options import config_from_args
from prover.config import Config
from prover.errors import InputError
from prover.types import Language, Theorem, Verdict

if TYPE_CHECKING:
    from environments.lean.screen import ScreenPolicy


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check", help="check the proofs in a Lean file (whole-proof check)", description=__doc__
    )
    p.add_argument("file", help="a .lean file")
    p.add_argument("--theorem", metavar="NAME", help="check only this theorem")
    p.add_argument("--config", metavar="FILE", help="TOML configuration file ([lean] section)")
    p.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set lean.verify_timeout=600 (repeatable)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object per theorem")
    p.set_defaults(run=run)


def theorems_in(
    path: Path, name: str | None, policy: ScreenPolicy | None = None
) -> list[tuple[Theorem, str]]:
    """(theorem, proof) for each theorem of the file (or only `name`); InputError if none, or if
    the screen refuses a chosen theorem's header or statement (the file is untrusted too)."""
    from environments.lean.screen import screen_header, screen_statement
    from environments.lean.statement import declarations

    if not path.is_file():
        raise InputError(f"file '{path}' not found; pass an existing .lean file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"file '{path}' is not UTF-8 text") from exc
    found = declarations(text)
    chosen = [d for d in found if name is None or d.name == name]
    if not chosen:
        names = ", ".join(d.name for d in found[:10]) or "none"
        what = f"no theorem '{name}'" if name else "no theorem with a proof"
        raise InputError(f"{what} in '{path}' (found: {names}); check --theorem")
    for d in chosen:
        refused = screen_header(d.header, policy) or screen_statement(d.statement, policy)
        if refused is not None:
            raise InputError(f"'{d.name}' in '{path}' is refused: {refused.message}")
    return [
        (
            Theorem(
                name=d.name,
                statement=d.statement,
                header=d.header,
                language=Language.LEAN4,
                source=str(path),
            ),
            d.proof,
        )
        for d in chosen
    ]


async def _check_all(items: list[tuple[Theorem, str]], config: Config) -> list[Verdict]:
    from environments.lean.checker import WholeProofChecker

    async with WholeProofChecker(config.lean) as checker:
        return list(await asyncio.gather(*(checker.check(t, p) for t, p in items)))


def run(args: argparse.Namespace) -> int:
    from environments.lean.screen import ScreenPolicy

    config = config_from_args(args)
    items = theorems_in(Path(args.file), args.theorem, ScreenPolicy.from_config(config.lean))
    from environments.lean.toolchain import worker_settings

    worker_settings(config.lean)  # a missing toolchain or build is a one-line error up front
    sys.stderr.write(
        f"checking {len(items)} theorem(s) of {args.file} with Lean "
        "(each distinct header is imported once; Mathlib takes a while)\n"
    )
    verdicts = asyncio.run(_check_all(items, config))
    for (theorem, _), verdict in zip(items, verdicts, strict=True):
        if args.json:
            record = {
                "theorem": theorem.name,
                "status": verdict.status.value,
                "checked_by": verdict.checked_by,
                "message": verdict.message,
            }
            print(json.dumps(record, ensure_ascii=False))
        else:
            print(f"{theorem.name}: {verdict.status.value} ({verdict.message})")
    return 0 if all(v.verified for v in verdicts) else 1
