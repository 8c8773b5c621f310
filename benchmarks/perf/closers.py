"""Model calls saved by cheap closers in best-first search, on a replay of real Lean runs.

The same work twice: best-first on every theorem of Llemma's own miniF2F-test runs (the package's
benchmarks/data/llemma_formal2formal/), once without closers and once with `search.closers`. The
replay trace holds only (state, tactic) → result pairs that Lean really produced; the scripted model
offers each recorded tactic behind `--decoys` wrong ones ranked above it (as `prover trace llemma`
does). A closer counts only where Lean was recorded closing that exact state with that exact tactic;
anything unrecorded fails, so the savings are those the recorded data supports, not an estimate of
what a live Lean would close.

    python -m benchmarks.perf.closers [--data DIR] [--decoys 8] [--closers default] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.data import package_data
from environments.llemma import generator_script, llemma_records
from environments.replay import ReplayEnvironment
from prover.errors import InputError
from prover.prompts import template
from prover.strategies.best_first import BestFirst
from prover.strategies.closers import DEFAULT
from prover.testing import ScriptedGenerator
from prover.types import Budget, Candidate, Theorem


@dataclass(frozen=True)
class Tally:
    """Totals of one pass over the theorems."""

    theorems: int
    proved: int
    model_calls: int
    tactics: int
    proved_by_closer_at_root: int

    @property
    def model_calls_per_proof(self) -> float:
        return self.model_calls / self.proved if self.proved else float("nan")


def default_data() -> Path:
    """Llemma's recorded runs as shipped with the package (benchmarks/data/)."""
    return package_data() / "llemma_formal2formal"


def _generator(script: dict[str, Any]) -> ScriptedGenerator:
    def cands(rows: list[dict[str, Any]]) -> list[Candidate]:
        return [Candidate(r["text"], float(r["logprob"]), int(r["num_tokens"])) for r in rows]

    return ScriptedGenerator(
        {goals: cands(rows) for goals, rows in script["states"].items()}, cands(script["default"])
    )


async def _pass(
    env: ReplayEnvironment,
    theorems: Sequence[Theorem],
    script: dict[str, Any],
    closers: Sequence[str],
    budget: Budget,
) -> tuple[Tally, dict[str, dict[str, Any]]]:
    strategy = BestFirst(prompt=template("llemma"), closers=closers)
    rows: dict[str, dict[str, Any]] = {}
    for theorem in theorems:
        session = await env.open(theorem)
        result = await strategy.search(theorem, session, _generator(script), budget)
        rows[theorem.name] = {
            "proved": result.proved,
            "model_calls": result.stats.model_calls,
            "tactics": result.stats.tactics_run,
            "closed_by": (result.details.get("closers") or {}).get("closed_by"),
            "steps": list(result.steps),
        }
    root_closes = sum(
        1 for r in rows.values() if r["proved"] and r["closed_by"] and len(r["steps"]) == 1
    )
    tally = Tally(
        theorems=len(rows),
        proved=sum(r["proved"] for r in rows.values()),
        model_calls=sum(r["model_calls"] for r in rows.values()),
        tactics=sum(r["tactics"] for r in rows.values()),
        proved_by_closer_at_root=root_closes,
    )
    return tally, rows


async def compare(
    data: Path,
    closers: Sequence[str] = (DEFAULT,),
    *,
    decoys: int = 8,
    budget: Budget | None = None,
    limit: int = 0,
) -> dict[str, Any]:
    """Both passes over the recorded theorems; totals, and per theorem where the counts differ."""
    records = list(llemma_records([data]))
    if not records:
        raise InputError(f"no Llemma results with traces under '{data}'; pass --data DIR")
    env = ReplayEnvironment(records, str(data))
    script = generator_script(records, decoys)
    names = env.theorems[:limit] if limit else env.theorems
    theorems = [Theorem(name=name, statement="") for name in names]
    budget = budget or Budget(samples=decoys + 8, max_expansions=100, wall_seconds=600.0)
    without, rows_without = await _pass(env, theorems, script, (), budget)
    with_closers, rows_with = await _pass(env, theorems, script, closers, budget)
    changed = {
        name: {"without": rows_without[name], "with": rows_with[name]}
        for name in names
        if rows_without[name]["model_calls"] != rows_with[name]["model_calls"]
        or rows_without[name]["proved"] != rows_with[name]["proved"]
    }
    return {
        "data": str(data),
        "decoys": decoys,
        "closers": list(closers),
        "budget": asdict(budget),
        "without": asdict(without),
        "with": asdict(with_closers),
        "model_calls_saved": without.model_calls - with_closers.model_calls,
        "changed": changed,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.perf.closers",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", type=Path, default=None, help="llemma_formal2formal directory")
    parser.add_argument("--decoys", type=int, default=8, help="wrong candidates per state (8)")
    parser.add_argument(
        "--closers", default=DEFAULT, help="comma-separated closers ('default' = the Lean list)"
    )
    parser.add_argument("--limit", type=int, default=0, help="first N theorems only")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    closers = [c.strip() for c in args.closers.split(",") if c.strip()]
    try:
        result = asyncio.run(
            compare(args.data or default_data(), closers, decoys=args.decoys, limit=args.limit)
        )
    except InputError as exc:
        sys.stderr.write(f"{parser.prog}: error: {exc}\n")
        return 2
    if args.json:
        print(json.dumps(result, indent=1, ensure_ascii=False))
        return 0
    a, b = result["without"], result["with"]
    print(f"replay of {result['data']} ({a['theorems']} theorems, {args.decoys} decoys per state)")
    print(f"{'':16}{'proved':>8}{'model calls':>13}{'tactics':>10}")
    print(f"{'no closers':16}{a['proved']:>8}{a['model_calls']:>13}{a['tactics']:>10}")
    print(f"{'closers':16}{b['proved']:>8}{b['model_calls']:>13}{b['tactics']:>10}")
    print(
        f"model calls saved: {result['model_calls_saved']}; proofs closed at the root with no "
        f"model call: {b['proved_by_closer_at_root']}; closers: {', '.join(result['closers'])}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
