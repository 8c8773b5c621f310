"""The runner, not the strategy, decides what counts: each proof goes to the environment's judge."""

from __future__ import annotations

from prover.run import Components, attempt, judged
from prover.testing import ScriptedGenerator
from prover.types import (
    Budget,
    ProofState,
    SearchResult,
    SearchStats,
    Status,
    Theorem,
    Verdict,
    VerdictStatus,
)

THEOREM = Theorem("t", "theorem t : 1 = 1")


class _Session:
    initial_state = ProofState(("⊢ 1 = 1",))

    async def run_tactic(self, state, tactic):  # pragma: no cover - the strategy never asks
        raise AssertionError

    async def verify(self, proof):  # a session that vouches for anything
        return Verdict(VerdictStatus.ACCEPTED, "session")

    def assemble(self, steps):
        return "\n".join(steps)

    async def close(self):
        return None


class _Env:
    name = "stub"

    def __init__(self, verdict: Verdict | Exception | None) -> None:
        self.verdict = verdict
        self.judged: list[tuple[str, str]] = []

    async def open(self, theorem):
        return _Session()

    async def close(self):
        return None


class _JudgingEnv(_Env):
    async def judge(self, theorem, proof):
        self.judged.append((theorem.statement, proof))
        if isinstance(self.verdict, Exception):
            raise self.verdict
        return self.verdict


class _SelfCertifying:
    """A third-party strategy that claims a verified proof without any check."""

    name = "liar"

    async def search(self, theorem, session, generator, budget):
        return SearchResult(
            theorem.name,
            Status.PROVED,
            proof="sorry",
            steps=("sorry",),
            verified=True,
            verified_by="lean-kernel",
            stats=SearchStats(stop_reason="claimed"),
        )


async def _run(env: _Env) -> SearchResult:
    parts = Components(env, ScriptedGenerator({}), _SelfCertifying())
    return await attempt(THEOREM, parts, Budget(samples=1, max_expansions=1))


async def test_a_strategys_own_verified_flag_is_ignored_when_the_judge_rejects() -> None:
    env = _JudgingEnv(Verdict(VerdictStatus.REJECTED, "lean-kernel", "uses sorryAx"))
    result = await _run(env)
    assert env.judged == [("theorem t : 1 = 1", "sorry")]  # the trusted statement, the proof
    assert result.status is Status.FAILED
    assert not result.verified and result.verified_by is None and result.proof is None
    assert "sorryAx" in (result.error or "")
    assert result.details["rejected_proof"] == "sorry"


async def test_accepted_proofs_carry_the_judges_name() -> None:
    env = _JudgingEnv(Verdict(VerdictStatus.ACCEPTED, "judge-x", "kernel replay ok"))
    result = await _run(env)
    assert result.status is Status.PROVED and result.verified
    assert result.verified_by == "judge-x"
    assert result.details["judge"]["status"] == "accepted"


async def test_a_judge_that_cannot_run_is_an_error_never_a_proof() -> None:
    for verdict in (
        Verdict(VerdictStatus.ERROR, "judge-x", "lean4checker timed out"),
        RuntimeError("tool missing"),
    ):
        result = await _run(_JudgingEnv(verdict))
        assert result.status is Status.ERROR, verdict
        assert not result.verified and result.proof is None


async def test_an_environment_without_a_judge_leaves_proofs_unchecked() -> None:
    result = await _run(_Env(None))
    assert result.status is Status.PROVED
    assert not result.verified and result.verified_by == "none"


async def test_results_other_than_proved_are_never_verified() -> None:
    claimed = SearchResult("t", Status.FAILED, verified=True, verified_by="lean-kernel")
    env = _JudgingEnv(Verdict(VerdictStatus.ACCEPTED, "judge-x"))
    out = await judged(env, THEOREM, claimed)
    assert not out.verified and out.verified_by is None and env.judged == []
