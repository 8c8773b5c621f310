"""Real PISA + Isabelle2022 (marked `isabelle`): skipped unless PISA_JAR and ISABELLE_PATH are set
and java is on PATH, or --run-isabelle is given. Proves miniF2F valid theorems with fixed Isar
proofs (their human proofs from facebookresearch/miniF2F), closes sketch gaps, and checks that
verification refuses what it must. Set PISA_TEST_PORT to a port the jar has a class for."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import pytest_asyncio

from environments.isabelle.environment import create
from prover.config import load_config
from prover.types import Failed, Finished, Language, NewState, Theorem, VerdictStatus

pytestmark = [pytest.mark.isabelle, pytest.mark.asyncio(loop_scope="module")]

PROOFS = {
    "mathd_algebra_109": ["using assms by linarith"],
    "mathd_algebra_104": [
        "proof -",
        'have "x = 12 * 125/8" using h0 by simp',
        "then show ?thesis by simp",
        "qed",
    ],
}


def _theorem(package_data: Path, name: str) -> Theorem:
    for line in (package_data / "minif2f" / "isabelle.jsonl").open(encoding="utf-8"):
        row = json.loads(line)
        if row["name"] == name:
            return Theorem(
                name, row["formal_statement"], Language.ISABELLE, header=row["theory_imports"]
            )
    raise AssertionError(f"{name} not in the data")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory):
    config = load_config(
        None,
        {
            "isabelle.ports": [int(os.environ.get("PISA_TEST_PORT", "8000"))],
            "isabelle.startup_timeout": 3600.0,
            "store.home": str(tmp_path_factory.mktemp("home")),
        },
    )
    environment = create(config)
    yield environment
    await environment.close()


@pytest.mark.parametrize("name", sorted(PROOFS))
async def test_fixed_isar_proofs_step_by_step_then_verified(env, package_data, name):
    session = await env.open(_theorem(package_data, name))
    try:
        state, result = session.initial_state, None
        for step in PROOFS[name]:
            result = await session.run_tactic(state, step)
            assert not isinstance(result, Failed), (step, result)
            if isinstance(result, NewState):
                state = result.state
        assert isinstance(result, Finished)
        verdict = await session.verify(session.assemble(PROOFS[name]))
        assert verdict.status is VerdictStatus.ACCEPTED, verdict.message
    finally:
        await session.close()


async def test_sketch_gaps_closed_by_heuristics_or_sledgehammer(env, package_data):
    session = await env.open(_theorem(package_data, "mathd_algebra_104"))
    sketch = (
        'proof -\n  have "x = 12 * 125/8" using h0\n    sledgehammer\n'
        "  then show ?thesis\n    sledgehammer\nqed"
    )
    try:
        gaps = await session.run_sketch(session.initial_state, sketch)
        assert isinstance(gaps, tuple) and len(gaps) == 2, gaps
        for gap in gaps:
            assert isinstance(await session.run_tactic(gap, "sledgehammer"), Finished)
        verdict = await session.verify(sketch)
        assert verdict.status is VerdictStatus.ACCEPTED, verdict.message
    finally:
        await session.close()


async def test_verify_refuses_sorry_and_wrong_proofs(env, package_data):
    session = await env.open(_theorem(package_data, "mathd_algebra_109"))
    try:
        for proof in ("sorry", "by simp", "oops"):
            verdict = await session.verify(proof)
            assert verdict.status is VerdictStatus.REJECTED, (proof, verdict)
    finally:
        await session.close()
