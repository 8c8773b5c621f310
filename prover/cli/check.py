"""`prover check FILE.lean [--theorem NAME]`: judge a Lean file's proofs as `prover prove` does.

Each theorem's proof goes to the lean-repl environment's judge, the same code path the runner
uses: by default the kernel judge (compiled in the sandbox, exported with lean4export, replayed
with lean4checker, compared with the statement; `verified_by: lean-kernel`), or with
`--set lean.judge=repl` the REPL whole-proof check alone (`verified_by: lean-repl`).

Exit codes: 0 every proof accepted; 1 at least one rejected; 2 bad input (file, theorem name,
configuration); 3 at least one could not be judged (judge error or missing tools) and none
rejected.
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
from prover.types import Language, Theorem, Verdict, VerdictStatus

if TYPE_CHECKING:
    from environments.lean.screen import ScreenPolicy


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check",
        help="judge the proofs in a Lean file (exit 0 accepted, 1 rejected, 2 bad input, "
        "3 could not judge)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
        help="override a config key, e.g. --set lean.judge=repl (repeatable)",
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

    if path.is_dir():
        raise InputError(f"'{path}' is a directory; pass a .lean file")
    if not path.is_file():
        raise InputError(f"file '{path}' not found; pass an existing .lean file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"file '{path}' is not UTF-8 text; save it as UTF-8") from exc
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


async def _judge_all(items: list[tuple[Theorem, str]], config: Config) -> list[Verdict]:
    """Every proof through the environment's judge (`prover.run.judge_proof`, as the runner)."""
    from environments.lean.repl import create
    from prover.run import judge_proof

    environment = create(config)
    try:
        return list(await asyncio.gather(*(judge_proof(environment, t, p) for t, p in items)))
    finally:
        await environment.close()


def exit_code(verdicts: list[Verdict]) -> int:
    """0 all accepted, 1 any rejected, 3 any not judged (error, unchecked) and none rejected."""
    if any(v.status is VerdictStatus.REJECTED for v in verdicts):
        return 1
    return 0 if all(v.verified for v in verdicts) else 3


def run(args: argparse.Namespace) -> int:
    from environments.lean.screen import ScreenPolicy, screen

    config = config_from_args(args)
    policy = ScreenPolicy.from_config(config.section("lean"))
    items = theorems_in(Path(args.file), args.theorem, policy)
    # The screen first, before any Lean runs (host safety): a refused proof is rejected as such,
    # on any machine; only the others reach the judge, which screens them again itself.
    screened: dict[int, Verdict] = {}
    for index, (_, proof) in enumerate(items):
        refused = screen(proof, policy)
        if refused is not None:
            screened[index] = Verdict(VerdictStatus.REJECTED, "lean-screen", refused.message)
    to_judge = [item for index, item in enumerate(items) if index not in screened]
    judged: list[Verdict] = []
    if to_judge:
        from environments.lean.toolchain import worker_settings
        from prover.sandbox import describe, require_bwrap

        # a missing toolchain or build is a one-line error up front
        worker_settings(config.section("lean"))
        if config.sandbox == "bwrap":
            require_bwrap()  # so is a sandbox that cannot run
        judge = "lean-kernel" if config.section("lean").judge == "kernel" else "lean-repl"
        sys.stderr.write(
            f"judging {len(to_judge)} theorem(s) of {args.file} with the {judge} judge, sandbox "
            f"{describe(config.sandbox)} (each distinct header is imported anew; Mathlib takes "
            "a while)\n"
        )
        judged = asyncio.run(_judge_all(to_judge, config))
    rest = iter(judged)
    verdicts = [screened[i] if i in screened else next(rest) for i in range(len(items))]
    for (theorem, _), verdict in zip(items, verdicts, strict=True):
        if args.json:
            record = {
                "theorem": theorem.name,
                "status": verdict.status.value,
                "verified_by": verdict.checked_by,
                "message": verdict.message,
            }
            print(json.dumps(record, ensure_ascii=False))
        else:
            status, by = verdict.status.value, verdict.checked_by
            print(f"{theorem.name}: {status} by {by} ({verdict.message})")
    return exit_code(verdicts)
