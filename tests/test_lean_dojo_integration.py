"""A real LeanDojo Dojo proves a miniF2F theorem with Llemma's recorded proof (marked `lean`).

Needs `lake` (elan), network access to GitHub (LeanDojo resolves the repository through its API;
export GITHUB_ACCESS_TOKEN to avoid rate limits) and rah4927/lean-dojo-mew @ d00c776 traced in
LeanDojo's cache — trace it ahead of time (see README: LeanDojo), or run with
LEAN_DOJO_ALLOW_TRACE=1 to let the test trace it (about an hour, >= 32 GB RAM).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmarks.leandojo import minif2f_leandojo
from environments.lean.dojo.config import LeanDojoConfig
from environments.lean.dojo.environment import create
from prover.config import BenchConfig, Config
from prover.types import Finished, NewState, VerdictStatus

pytestmark = [pytest.mark.lean, pytest.mark.timeout(4 * 3600)]

RW = "rw [h₁, h₂, h₃]"


async def test_a_real_dojo_proves_mathd_algebra_478(package_data: Path) -> None:
    config = Config(
        plugins={
            "lean_dojo": LeanDojoConfig(allow_trace=os.environ.get("LEAN_DOJO_ALLOW_TRACE") == "1")
        },
        bench=BenchConfig(data=str(package_data / "llemma_formal2formal")),
    )
    theorem = next(
        t for t in minif2f_leandojo(config).theorems("test") if t.name == "mathd_algebra_478"
    )
    env = create(config)
    try:
        session = await env.open(theorem)
        assert session.initial_state.pretty.endswith("⊢ v = 65")
        rewritten = await session.run_tactic(session.initial_state, RW)
        assert isinstance(rewritten, NewState), rewritten
        assert rewritten.state.pretty.endswith("⊢ 1 / 3 * (30 * (13 / 2)) = 65")
        done = await session.run_tactic(rewritten.state, "linarith")
        assert isinstance(done, Finished), done
        verdict = await session.verify(session.assemble([RW, "linarith"]))
        assert verdict.status in (VerdictStatus.ACCEPTED, VerdictStatus.UNCHECKED), verdict
        if verdict.status is VerdictStatus.UNCHECKED:
            assert verdict.checked_by == "lean-dojo"
        await session.close()
    finally:
        await env.close()
    assert env.stats.live == 0 and env.stats.started == env.stats.stopped
