"""Whole-proof performance: proofs checked per second per REPL process, and the batching gain.

1. Checking (real clock): one REPL process of the `lean-repl` environment checks whole proofs
   on the header's environment, one after another, as the whole-proof strategy does. The
   process is the stand-in tests/standins/lean_repl.py replaying the REPL's own transcript
   `proof_branching` (leanprover-community/repl v4.24.0 test suite, embedded below): it is NOT
   Lean, so the figures measure this project's side (request framing, parsing, locating the
   first error, the confirming check) and not Lean's elaboration time.
2. Batching (virtual clock): K theorems each sample N whole proofs through the simulated GPU
   (`SimGenerator`, a batch costs a + b·sequences, `[sim]`) and check them on the simulated
   workers; run one theorem at a time and then all K at once (the runner's concurrency). Every
   sample is checked (`check_all`), so both schedules do the same work; the gain is the ratio of
   their simulated times.

`python -m benchmarks.perf.whole_proof` prints both; `python -m benchmarks.perf ci` includes them.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.perf.clock import run as run_clock
from benchmarks.perf.scheduler import sim_theorems
from benchmarks.perf.sim import SimEnvironment, SimGenerator
from environments.lean.settings import LeanConfig
from prover.config import Config, WholeProofConfig
from prover.run import Components, attempt_many
from prover.strategies.whole_proof import WholeProof
from prover.types import Budget, Theorem
from prover.whole_proof_prompts import FORMATS

STANDIN = Path(__file__).resolve().parents[2] / "tests" / "standins" / "lean_repl.py"
STATEMENT = "theorem complex_and (p q r : Prop) (h1 : p ∧ q) (h2 : q → r) : p ∧ r := by sorry"
GOOD = "apply And.intro\nexact h1.left\napply h2\nexact h1.right"
WRONG = "apply And.intro\nexact h1.left\nexact h1.left"

# leanprover-community/repl v4.24.0, test/proof_branching.in and .expected.out (Apache-2.0).
_TRANSCRIPT_IN = "\n\n".join(
    json.dumps(r, ensure_ascii=False)
    for r in (
        {"cmd": STATEMENT},
        {"tactic": "apply And.intro", "proofState": 0},
        {"tactic": "exact h1.left", "proofState": 1},
        {"tactic": "apply h2", "proofState": 2},
        {"tactic": "exact h1.right", "proofState": 3},
    )
)
_CONTEXT = "p q r : Prop\nh1 : p ∧ q\nh2 : q → r\n"
_TRANSCRIPT_OUT = "\n\n".join(
    json.dumps(r, ensure_ascii=False)
    for r in (
        {
            "sorries": [
                {
                    "proofState": 0,
                    "pos": {"line": 1, "column": 75},
                    "goal": _CONTEXT + "⊢ p ∧ r",
                    "endPos": {"line": 1, "column": 80},
                }
            ],
            "messages": [
                {
                    "severity": "warning",
                    "pos": {"line": 1, "column": 8},
                    "endPos": {"line": 1, "column": 19},
                    "data": "declaration uses 'sorry'",
                }
            ],
            "env": 0,
        },
        {
            "proofStatus": "Incomplete: open goals remain",
            "proofState": 1,
            "goals": [f"case left\n{_CONTEXT}⊢ p", f"case right\n{_CONTEXT}⊢ r"],
        },
        {
            "proofStatus": "Incomplete: open goals remain",
            "proofState": 2,
            "goals": [f"case right\n{_CONTEXT}⊢ r"],
        },
        {
            "proofStatus": "Incomplete: open goals remain",
            "proofState": 3,
            "goals": [f"case right\n{_CONTEXT}⊢ q"],
        },
        {"proofStatus": "Completed", "proofState": 4, "goals": []},
    )
)


@dataclass(frozen=True)
class Checking:
    """Whole proofs checked by one stand-in REPL process (real clock)."""

    proofs: int
    rejected_per_second: float  # one command + tactic-mode replay to locate the first error
    accepted_per_second: float  # one command + the confirming whole-proof check
    located_prefix: str  # what the locator found for the wrong proof (a sanity check)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Batching:
    """K theorems × N sampled proofs on the simulated GPU, sequential vs concurrent."""

    theorems: int
    samples: int
    batch: int
    sequential_seconds: float
    concurrent_seconds: float
    sequential_batches: int
    concurrent_batches: int
    concurrent_mean_batch: float
    same_work: bool

    @property
    def gain(self) -> float:
        return self.sequential_seconds / self.concurrent_seconds if self.concurrent_seconds else 0

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "gain": self.gain}


async def _check_loop(library: Path, proofs: int) -> Checking:
    from environments.lean.repl import LeanReplEnvironment

    argv = (sys.executable, str(STANDIN), "--library", str(library))
    config = LeanConfig(repl_command=argv, project=str(library), pool_size=1)
    env = LeanReplEnvironment(config)
    try:
        session = await env.open(Theorem("complex_and", STATEMENT, header="import Mathlib"))
        first = await session.check_proof(GOOD)  # warms the checker's own process
        if not first.ok:
            raise RuntimeError(f"the stand-in rejected the reference proof: {first.message}")
        start = time.perf_counter()
        for _ in range(proofs):
            wrong = await session.check_proof(WRONG)
        rejected = proofs / (time.perf_counter() - start)
        start = time.perf_counter()
        for _ in range(proofs):
            await session.check_proof(GOOD)
        accepted = proofs / (time.perf_counter() - start)
        await session.close()
    finally:
        await env.close()
    return Checking(proofs, rejected, accepted, wrong.prefix)


def measure_checking(proofs: int = 40) -> Checking | None:
    """Figure 1, or None when the stand-in is not in this checkout (an installed package)."""
    if not STANDIN.is_file():
        return None
    with tempfile.TemporaryDirectory(prefix="prover-perf-wp-") as tmp:
        library = Path(tmp)
        (library / "proof_branching.in").write_text(_TRANSCRIPT_IN + "\n", encoding="utf-8")
        (library / "proof_branching.expected.out").write_text(
            _TRANSCRIPT_OUT + "\n", encoding="utf-8"
        )
        return asyncio.run(_check_loop(library, proofs))


async def _schedule(config: Config, theorems: list[Theorem], concurrency: int, settings: Any):
    env = SimEnvironment(config.section("sim"))
    generator = SimGenerator(config.section("sim"))
    strategy = WholeProof(settings, FORMATS["deepseek-v1.5"])
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        budget = Budget(wall_seconds=1e9, max_tactics=10**6)
        results = await attempt_many(
            theorems, Components(env, generator, strategy), budget, concurrency
        )
    finally:
        await generator.close()
    seconds = (loop.time() - start) * config.section("sim").time_scale
    work = sorted((r.theorem, r.stats.candidates, r.stats.tactics_run) for r in results)
    return seconds, generator.usage, work


def measure_batching(
    config: Config, theorems: int = 32, samples: int = 16, batch: int = 4
) -> Batching:
    """Figure 2 on the virtual clock (exact simulated seconds)."""
    settings = WholeProofConfig(
        prompt="deepseek-v1.5", samples=samples, batch=batch, check_all=True, max_tokens=64
    )
    items = sim_theorems(theorems)
    seq_s, seq_gpu, seq_work = run_clock(_schedule(config, items, 1, settings), virtual=True)
    con_s, con_gpu, con_work = run_clock(_schedule(config, items, theorems, settings), virtual=True)
    mean = con_gpu.sequences / con_gpu.batches if con_gpu.batches else 0.0
    return Batching(
        theorems=theorems,
        samples=samples,
        batch=batch,
        sequential_seconds=seq_s,
        concurrent_seconds=con_s,
        sequential_batches=seq_gpu.batches,
        concurrent_batches=con_gpu.batches,
        concurrent_mean_batch=mean,
        same_work=seq_work == con_work,
    )


def format_whole_proof(checking: Checking | None, batching: Batching) -> str:
    lines = []
    if checking is None:
        lines.append("checking: not measured (tests/standins/lean_repl.py is not in this checkout)")
    else:
        lines += [
            f"stand-in REPL (not Lean), one process, {checking.proofs} proofs each:",
            f"  rejected proofs/s (error located)  {checking.rejected_per_second:8.1f}",
            f"  accepted proofs/s (confirmed)      {checking.accepted_per_second:8.1f}",
        ]
    lines += [
        f"simulated GPU, {batching.theorems} theorems x {batching.samples} proofs "
        f"({batching.batch} per request), virtual clock:",
        f"  one theorem at a time   {batching.sequential_seconds:9.1f} s  "
        f"{batching.sequential_batches} batches",
        f"  all theorems at once    {batching.concurrent_seconds:9.1f} s  "
        f"{batching.concurrent_batches} batches, {batching.concurrent_mean_batch:.1f} "
        "sequences per batch",
        f"  batching gain           {batching.gain:9.2f} x  (same work: {batching.same_work})",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proofs", type=int, default=40, help="proofs per checking figure")
    parser.add_argument("--theorems", "-K", type=int, default=32)
    parser.add_argument("--samples", "-N", type=int, default=16)
    parser.add_argument("--batch", type=int, default=4, help="proofs per generate request")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if min(args.proofs, args.theorems, args.samples, args.batch) < 1:
        parser.error("--proofs, --theorems, --samples and --batch must be at least 1")
    checking = measure_checking(args.proofs)
    batching = measure_batching(Config(), args.theorems, args.samples, args.batch)
    if args.json:
        out = {"checking": checking.to_json() if checking else None, "batching": batching.to_json()}
        print(json.dumps(out, indent=1))
    else:
        print(format_whole_proof(checking, batching))
    return 0


if __name__ == "__main__":
    sys.exit(main())
