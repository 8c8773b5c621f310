"""The whole-proof strategy on the stand-in REPL (tests/standins/lean_repl.py; it is not Lean) and
the scripted generator (not a model): sampling, checking, repair with Lean's errors,
truncate-and-resume, budgets, and that only proofs the judge accepts count."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from environments.lean.feedback import split_steps
from environments.lean.repl import LeanReplEnvironment
from environments.lean.settings import LeanConfig
from prover.config import Config, WholeProofConfig, load_config
from prover.errors import ConfigError
from prover.protocols import ErrorMessage, GenerationParams, ProofFeedback
from prover.run import Components, attempt
from prover.strategies.whole_proof import WholeProof, create
from prover.testing import ScriptedGenerator
from prover.types import (
    Budget,
    Candidate,
    Chat,
    ProofState,
    Status,
    Theorem,
    Verdict,
    VerdictStatus,
)
from prover.whole_proof_prompts import FORMATS, proof_format

STANDIN = Path(__file__).parent / "standins" / "lean_repl.py"
COMPLEX_AND = "theorem complex_and (p q r : Prop) (h1 : p ∧ q) (h2 : q → r) : p ∧ r := by sorry"
HEADER = "import Mathlib\nopen Real"
RIGHT = "case right\np q r : Prop\nh1 : p ∧ q\nh2 : q → r\n⊢ r"
GOOD = "apply And.intro\nexact h1.left\napply h2\nexact h1.right"
WRONG = "apply And.intro\nexact h1.left\nexact h1.left"  # fails at its third step
THEOREM = Theorem("complex_and", COMPLEX_AND, header=HEADER)


@pytest.fixture
def library(repl_transcripts: Path) -> Path:
    return repl_transcripts


def lean_env(library: Path, tmp_path: Path) -> LeanReplEnvironment:
    argv = (sys.executable, str(STANDIN), "--library", str(library), "--log", str(tmp_path / "log"))
    config = LeanConfig(
        repl_command=argv, project=str(library), pool_size=1, tactic_timeout=10.0, judge="repl"
    )
    return LeanReplEnvironment(config)


def answer(text: str, tokens: int = 10) -> Candidate:
    return Candidate(text, -1.0, tokens)


def block(proof: str, name: str = "complex_and", think: str = "") -> str:
    """A chat model's answer: reasoning, then the whole file in a ```lean4 block."""
    body = "\n".join(f"  {line}" for line in proof.splitlines())
    head = f"theorem {name} (p q r : Prop) (h1 : p ∧ q) (h2 : q → r) : p ∧ r := by"
    code = f"import Mathlib\n\n{head}\n{body}"
    return f"{think}Plan: split the conjunction.\n```lean4\n{code}\n```\n"


def strategy(fmt: str, **settings: Any) -> WholeProof:
    return WholeProof(WholeProofConfig(prompt=fmt, **settings), FORMATS[fmt])


async def run(env: Any, generator: Any, wp: WholeProof, budget: Budget | None = None) -> Any:
    return await attempt(THEOREM, Components(env, generator, wp), budget or Budget())


# -- prompt formats -----------------------------------------------------------------------------


def test_formats_render_the_models_own_prompts() -> None:
    informal = Theorem("t", COMPLEX_AND, header=HEADER, informal_statement="Show p and r.")
    v15 = FORMATS["deepseek-v1.5"].initial(informal)
    assert isinstance(v15, str)
    assert v15.startswith("Complete the following Lean 4 code:\n\n```lean4\nimport Mathlib")
    assert v15.endswith("/-- Show p and r. -/\n" + COMPLEX_AND.removesuffix(" sorry") + "\n")
    v2 = FORMATS["deepseek-v2"].initial(THEOREM)
    assert isinstance(v2, Chat) and [m.role for m in v2.messages] == ["user"]
    assert ":= by\n  sorry\n```\n\nBefore producing the Lean 4 code" in v2.messages[0].content
    goedel = FORMATS["goedel-v2"].initial(THEOREM)
    assert isinstance(goedel, Chat) and ":= by\n  sorry```\n\nBefore" in goedel.messages[0].content
    kimina = FORMATS["kimina"].initial(informal)
    assert isinstance(kimina, Chat)
    assert kimina.messages[0].content == "You are an expert in mathematics and Lean 4."
    user = kimina.messages[1].content
    assert user.startswith("Think about and solve the following problem step by step in Lean 4.")
    assert "# Problem:Show p and r." in user and "# Formal statement:\n```lean4\n" in user


def test_the_format_follows_the_model_name_unless_chosen() -> None:
    assert proof_format("auto", "vllm:deepseek-ai/DeepSeek-Prover-V2-7B").name == "deepseek-v2"
    assert proof_format("auto", "openai:AI-MO/Kimina-Prover-Preview-Distill-7B").name == "kimina"
    assert proof_format("auto", "vllm:Goedel-LM/Goedel-Prover-V2-8B").name == "goedel-v2"
    assert proof_format("auto", "hf:deepseek-ai/DeepSeek-Prover-V1.5-RL").name == "deepseek-v1.5"
    with pytest.raises(ConfigError, match=r"whole_proof\.prompt"):
        proof_format("auto", "vllm:EleutherAI/llemma_7b")
    with pytest.raises(ConfigError, match="unknown whole-proof prompt"):
        proof_format("deepseek-v3")
    config = load_config(overrides={"model": "openai:x/y", "strategy": "whole-proof"})
    with pytest.raises(ConfigError, match="no whole-proof prompt format is known"):
        create(config)
    chosen = load_config(overrides={"model": "openai:x/y", "search.prompt": "kimina"})
    assert create(chosen).format.name == "kimina"  # --prompt selects it
    explicit = load_config(
        overrides={
            "model": "vllm:x/y",
            "whole_proof.prompt": "goedel-v2",
            "whole_proof.max_tokens": 1024,
        }
    )
    assert create(explicit).format.name == "goedel-v2"
    no_room = load_config(overrides={"model": "vllm:deepseek-ai/DeepSeek-Prover-V2-7B"})
    with pytest.raises(ConfigError, match=r"vllm\.max_model_len"):
        create(no_room)  # 4096 new tokens do not fit in the default 4096-token context
    with pytest.raises(ConfigError, match=r"whole_proof\.repair"):
        load_config(overrides={"whole_proof.repair": "retry"})
    with pytest.raises(ConfigError, match="max_total_tokens"):
        load_config(overrides={"whole_proof.max_tokens": 100, "whole_proof.max_total_tokens": 50})


def test_the_last_code_block_is_the_proof_and_reasoning_stays_out() -> None:
    fmt = FORMATS["kimina"]
    output = "<think>first try:\n```lean4\nexample : True := trivial\n```\n</think>" + block(GOOD)
    got = fmt.extract(THEOREM, output)
    assert got.proof == GOOD
    assert "<think>" in got.reasoning and "Plan:" in got.reasoning
    assert "exact h1.right" not in got.reasoning
    # The model's copy of the statement is never used: only its proof of the theorem is kept.
    renamed = fmt.extract(THEOREM, block(GOOD).replace("p ∧ r := by", "True := by"))
    assert renamed.proof == GOOD
    assert fmt.extract(THEOREM, "no code here").proof is None
    assert fmt.extract(THEOREM, block("sorry")).problem == "the code leaves the proof as sorry"
    v15 = FORMATS["deepseek-v1.5"]
    assert v15.extract(THEOREM, "  apply h2\n  exact h1.right\n```\nchatter").proof == (
        "apply h2\nexact h1.right"
    )
    assert v15.extract(THEOREM, "  exact h1.right\n", lead="  apply h2\n").proof == (
        "apply h2\nexact h1.right"
    )


def test_top_level_steps_skip_comments_and_keep_nested_lines() -> None:
    proof = (
        "-- split\napply And.intro\n/- the left\n   part -/\n"
        "· exact h1.left\n· apply h2\n  exact h1.right"
    )
    assert split_steps(proof) == [
        "apply And.intro",
        "· exact h1.left",
        "· apply h2\n  exact h1.right",
    ]


# -- sampling and checking on the stand-in REPL ---------------------------------------------------


async def test_samples_are_checked_until_one_is_accepted(library: Path, tmp_path: Path) -> None:
    env = lean_env(library, tmp_path)
    generator = ScriptedGenerator(
        {}, default=[answer(block(WRONG)), answer(block(GOOD)), answer(block("exact h1"))]
    )
    try:
        result = await run(env, generator, strategy("goedel-v2", samples=3, batch=3))
    finally:
        await env.close()
    assert result.status is Status.PROVED and result.proof == GOOD
    assert result.verified and result.verified_by == "lean-repl"  # the runner's judge
    details = result.details
    assert [a["outcome"] for a in details["attempts"]] == ["rejected", "accepted"]
    assert details["samples"] == {"n": 2, "c": 1, "exact": False}
    assert result.stats.stop_reason == "proved" and result.stats.tactics_run == 2
    assert details["judge"]["status"] == "accepted"
    # Lean's error and the goal state at the first error are recorded for the rejected proof.
    feedback = details["attempts"][0]["feedback"]
    assert feedback["prefix"] == "apply And.intro\nexact h1.left"
    assert feedback["goals"] == [RIGHT]
    assert "exact h1.left" in feedback["message"]
    assert "Plan:" in details["attempts"][1]["reasoning"]  # kept, never sent to Lean
    (prompt,) = generator.prompts
    assert isinstance(prompt, Chat)


async def test_check_all_counts_every_sample(library: Path, tmp_path: Path) -> None:
    env = lean_env(library, tmp_path)
    outputs = [block(GOOD), block(WRONG), block(GOOD), "nothing"]
    generator = ScriptedGenerator({}, default=[answer(o) for o in outputs])
    try:
        result = await run(env, generator, strategy("deepseek-v2", samples=4, check_all=True))
    finally:
        await env.close()
    assert result.verified
    assert result.details["samples"] == {"n": 4, "c": 2, "exact": True}
    outcomes = [a["outcome"] for a in result.details["attempts"]]
    assert outcomes == ["accepted", "rejected", "accepted", "unusable"]
    assert result.stats.tactics_run == 2  # the duplicate proof is not checked again


async def test_repair_sends_lean_errors_back(library: Path, tmp_path: Path) -> None:
    env = lean_env(library, tmp_path)
    generator = ScriptedGenerator(
        {"is not correct": [answer(block(GOOD))]}, default=[answer(block(WRONG))] * 2
    )
    try:
        result = await run(env, generator, strategy("goedel-v2", samples=2, rounds=2))
    finally:
        await env.close()
    assert result.status is Status.PROVED and result.verified
    attempts = result.details["attempts"]
    assert [(a["round"], a["mode"], a["outcome"]) for a in attempts] == [
        (0, "sample", "rejected"),
        (0, "sample", "duplicate"),
        (1, "feedback", "accepted"),
    ]
    assert attempts[2]["parent"] == 0
    repair = generator.prompts[-1]
    assert isinstance(repair, Chat)
    roles = [m.role for m in repair.messages]
    assert roles == ["user", "assistant", "user"]
    assert repair.messages[1].content == block(WRONG)  # the model's own failed answer
    feedback = repair.messages[2].content
    assert feedback.startswith("The proof (Round 0) is not correct.")
    assert "<error>" in feedback and "Error Message:" in feedback
    assert "no recorded reply for `exact h1.left`" in feedback  # the stand-in's error text
    assert result.details["rounds_run"] == 1


async def test_kimina_repair_shows_the_goals_at_the_first_error(
    library: Path, tmp_path: Path
) -> None:
    env = lean_env(library, tmp_path)
    generator = ScriptedGenerator(
        {"# Error 1:": [answer(block(GOOD))]}, default=[answer(block(WRONG))]
    )
    try:
        result = await run(env, generator, strategy("kimina", samples=1, rounds=1))
    finally:
        await env.close()
    assert result.verified
    repair = generator.prompts[-1]
    assert isinstance(repair, Chat) and repair.messages[0].role == "system"
    text = repair.messages[-1].content
    assert f"Goals state before error position: \n{RIGHT}" in text
    assert "Lean 4 code snippet with error:\n```lean4\n001 >|" in text


async def test_truncate_and_resume_continues_from_the_accepted_prefix(
    library: Path, tmp_path: Path
) -> None:
    env = lean_env(library, tmp_path)
    wrong = "  apply And.intro\n  exact h1.left\n  exact h1.left\n```"
    generator = ScriptedGenerator(
        {"/- tactic state:": [answer("  apply h2\n  exact h1.right\n```\n")]},
        default=[answer(wrong)],
    )
    try:
        result = await run(env, generator, strategy("deepseek-v1.5", samples=1, rounds=1))
    finally:
        await env.close()
    assert result.status is Status.PROVED and result.verified
    assert result.proof == GOOD  # the kept prefix plus the continuation
    resume = generator.prompts[-1]
    assert isinstance(resume, str)
    expected_tail = (
        "  apply And.intro\n  exact h1.left\n  /- tactic state:\n"
        + "\n".join(f"    {line}" for line in RIGHT.splitlines())
        + "\n  -/\n"
    )
    assert resume.endswith(expected_tail)
    assert result.details["repair"] == "resume"
    assert result.details["attempts"][1]["mode"] == "resume"


# -- budgets, fallback and the judge (stand-in sessions, no REPL) ---------------------------------


class _Session:
    """A session with the ProofChecking capability that accepts one proof text."""

    def __init__(self, good: str = GOOD) -> None:
        self.good = good
        self.checked: list[str] = []

    @property
    def initial_state(self) -> ProofState:
        return ProofState(("⊢ p ∧ r",))

    async def run_tactic(self, state: ProofState, tactic: str) -> Any:
        raise AssertionError("whole-proof never runs single tactics itself")

    async def check_proof(self, proof: str) -> ProofFeedback:
        self.checked.append(proof)
        if proof == self.good:
            return ProofFeedback(True, "stand-in")
        return ProofFeedback(
            False, "stand-in", errors=(ErrorMessage("nope", 2, 2),), message="nope"
        )

    async def verify(self, proof: str) -> Verdict:
        raise AssertionError("sessions with check_proof are not verified by the strategy")

    def assemble(self, steps: Sequence[str]) -> str:
        return "\n".join(steps)

    async def close(self) -> None:
        return None


class _VerifyOnly:
    """A session without check_proof: the strategy falls back to verify."""

    def __init__(self) -> None:
        self.verified: list[str] = []

    @property
    def initial_state(self) -> ProofState:
        return ProofState(("⊢ p ∧ r",))

    async def run_tactic(self, state: ProofState, tactic: str) -> Any:
        raise AssertionError

    async def verify(self, proof: str) -> Verdict:
        self.verified.append(proof)
        if proof == GOOD:
            return Verdict(VerdictStatus.ACCEPTED, "stand-in")
        return Verdict(VerdictStatus.REJECTED, "stand-in", "line 3: type mismatch")

    def assemble(self, steps: Sequence[str]) -> str:
        return "\n".join(steps)

    async def close(self) -> None:
        return None


class _Env:
    """An environment for stand-in sessions with a judge that says `judged`."""

    name = "stand-in"

    def __init__(self, session: Any, judged: VerdictStatus) -> None:
        self.session = session
        self.judged = judged
        self.judge_calls: list[str] = []

    async def open(self, theorem: Theorem) -> Any:
        return self.session

    async def judge(self, theorem: Theorem, proof: str) -> Verdict:
        self.judge_calls.append(proof)
        return Verdict(self.judged, "stand-in-judge", "judged")

    async def close(self) -> None:
        return None


async def test_only_proofs_the_judge_accepts_count() -> None:
    generator = ScriptedGenerator({}, default=[answer(block(GOOD))])
    accepted = _Env(_Session(), VerdictStatus.ACCEPTED)
    result = await run(accepted, generator, strategy("deepseek-v2", samples=1))
    assert result.status is Status.PROVED and result.verified
    assert result.verified_by == "stand-in-judge" and accepted.judge_calls == [GOOD]
    # The in-search check accepted it, but the judge did not: it does not count.
    rejecting = _Env(_Session(), VerdictStatus.REJECTED)
    result = await run(rejecting, generator, strategy("deepseek-v2", samples=1))
    assert result.status is Status.FAILED and not result.verified and result.proof is None
    assert result.details["rejected_proof"] == GOOD
    erroring = _Env(_Session(), VerdictStatus.ERROR)
    result = await run(erroring, generator, strategy("deepseek-v2", samples=1))
    assert result.status is Status.ERROR and not result.verified


async def test_without_check_proof_the_verdict_message_is_the_feedback() -> None:
    session = _VerifyOnly()
    generator = ScriptedGenerator(
        {"is not correct": [answer(block(GOOD))]}, default=[answer(block(WRONG))]
    )
    env = _Env(session, VerdictStatus.ACCEPTED)
    result = await run(env, generator, strategy("deepseek-v2", samples=1, rounds=1))
    assert result.verified and session.verified == [WRONG, GOOD]
    repair = generator.prompts[-1]
    assert isinstance(repair, Chat)
    assert "Error Message: line 3: type mismatch" in repair.messages[-1].content


async def test_sample_round_and_check_budgets_are_finite_and_recorded() -> None:
    bad = ScriptedGenerator({}, default=[answer(block(WRONG), tokens=10)] * 8)
    session = _Session()
    env = _Env(session, VerdictStatus.ACCEPTED)
    result = await run(env, bad, strategy("deepseek-v2", samples=5, batch=2))
    assert result.status is Status.FAILED and result.stats.stop_reason == "samples"
    assert result.stats.model_calls == 3 and len(result.details["attempts"]) == 5
    assert result.details["samples"] == {"n": 5, "c": 0, "exact": True}
    assert result.stats.tokens == 50 and result.stats.tactics_run == 1  # duplicates not rechecked

    tokens = strategy("deepseek-v2", samples=8, batch=8, max_tokens=10, max_total_tokens=25)
    result = await run(env, bad, tokens)
    assert result.stats.stop_reason == "max_total_tokens"
    assert result.stats.tokens <= 25 and len(result.details["attempts"]) == 2
    assert result.details["budget"]["max_total_tokens"] == 25
    assert result.details["used"] == {"tokens": 20, "checks": 1, "samples": 2}
    assert result.details["budget"]["wall_seconds"] == Budget().wall_seconds

    rounds = strategy("deepseek-v2", samples=1, rounds=3, repairs=1)
    result = await run(env, bad, rounds)
    assert result.stats.stop_reason == "rounds" and result.details["rounds_run"] == 3
    assert [a["round"] for a in result.details["attempts"]] == [0, 1, 2, 3]

    distinct = ScriptedGenerator(
        {}, default=[answer(block(f"{WRONG}\nexact h{i}")) for i in range(6)]
    )
    result = await run(env, distinct, strategy("deepseek-v2", samples=6), Budget(max_tactics=2))
    assert result.stats.stop_reason == "max_tactics" and result.stats.tactics_run == 2


async def test_the_wall_budget_stops_a_hanging_generator() -> None:
    class Hanging:
        name = "hanging"

        def __init__(self) -> None:
            self.never = asyncio.Event()

        async def generate(
            self, prompt: Any, n: int, params: GenerationParams | None = None
        ) -> list[Candidate]:
            await self.never.wait()
            return []

        async def close(self) -> None:
            return None

    env = _Env(_Session(), VerdictStatus.ACCEPTED)
    budget = Budget(wall_seconds=0.3)
    result = await asyncio.wait_for(
        run(env, Hanging(), strategy("kimina", samples=4), budget), 10.0
    )
    assert result.status is Status.TIMEOUT
    assert result.stats.stop_reason == "wall_seconds during generate"


def test_the_whole_proof_section_is_in_the_config() -> None:
    config = Config()
    assert config.whole_proof.samples == 32 and config.whole_proof.prompt == "auto"
    assert "whole_proof" in config.to_dict()


def test_perf_figures_measure_the_same_work_and_a_located_error() -> None:
    from benchmarks.perf.whole_proof import measure_batching, measure_checking

    checking = measure_checking(proofs=3)
    assert checking is not None
    assert checking.located_prefix == "apply And.intro\nexact h1.left"
    assert checking.rejected_per_second > 0 and checking.accepted_per_second > 0
    batching = measure_batching(Config(), theorems=4, samples=4, batch=2)
    assert batching.same_work
    assert batching.sequential_batches == 4 * 2  # one request per batch when alone
    assert batching.concurrent_batches < batching.sequential_batches
    assert batching.gain > 1.0
