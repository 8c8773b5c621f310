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


# -- the batch judge (`isabelle-build`): Isabelle itself, no PISA --------------------------------


async def test_build_judge_accepts_the_human_proof_and_refuses_a_wrong_one(env, package_data):
    theorem = _theorem(package_data, "mathd_algebra_109")
    assert env.build_judge is not None  # isabelle.judge = "build" is the default
    verdict = await env.judge(theorem, "using assms by linarith")
    assert verdict.status is VerdictStatus.ACCEPTED and verdict.checked_by == "isabelle-build"
    wrong = await env.judge(theorem, "by simp")
    assert wrong.status is VerdictStatus.REJECTED, wrong


async def _unscreened(settings, theorem: Theorem, proof: str):
    """The judge's own run without its screen in front: what Isabelle and the check decide."""
    import secrets
    import tempfile

    from environments.isabelle.judge import BuildJudge, argv, check_ml, theory_text
    from prover.processes import ProcessTracker

    tracker = ProcessTracker()
    nonce = secrets.token_hex(8)
    name, fact, secret = f"Prover_Check_{nonce}", f"prover_goal_{nonce}", secrets.token_hex(16)
    started = f"PROVER_JUDGE_START_{nonce}"
    scratch = Path(tempfile.mkdtemp())
    (scratch / f"{name}.thy").write_text(
        theory_text(theorem.statement, proof, settings.imports, name, fact), encoding="utf-8"
    )
    judge = BuildJudge(settings, tracker)
    command = argv(
        settings, scratch / name, check_ml(name, fact, secret, settings.allow_eval), started
    )
    try:
        return await judge._run(command, scratch, secret, started)
    finally:
        await tracker.stop_all()


async def test_build_judge_behind_its_screen_refuses_sorry_and_counts_oracles(env):
    import dataclasses

    theorem = Theorem("t", 'theorem t: "(2::nat) + 2 = 4"', Language.ISABELLE)
    settings = env.build_judge.settings
    sorry = await _unscreened(settings, theorem, "sorry")
    assert sorry.status is VerdictStatus.REJECTED, sorry  # quick_and_dirty is off
    evaluated = await _unscreened(settings, theorem, "by eval")
    assert evaluated.status is VerdictStatus.REJECTED and "holds_by_evaluation" in evaluated.message
    allowed = dataclasses.replace(settings, allow_eval=True)
    assert (await _unscreened(allowed, theorem, "by eval")).status is VerdictStatus.ACCEPTED
    assert (await _unscreened(settings, theorem, "by simp")).status is VerdictStatus.ACCEPTED
