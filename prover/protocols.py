"""The four plug-in contracts: Environment (+ ProofSession), Generator, Strategy, Benchmark.

Everything is asynchronous: many searches share one event loop, so a batching generator sees the
requests of all of them and environment workers stay busy. Blocking backends run in threads behind
these same methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from prover.types import (
    Budget,
    Candidate,
    Failed,
    Prompt,
    ProofState,
    SearchResult,
    TacticResult,
    Theorem,
    Verdict,
)

SEED_LIMIT = 2**32  # vLLM and the OpenAI API take seeds in 0 <= seed < 2**32


@dataclass(frozen=True)
class GenerationParams:
    """Sampling parameters for one `generate` call; part of the de-duplication key."""

    temperature: float = 1.0
    top_p: float = 0.95
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    beam: bool = False
    # Per-request sampling seed; sample i of the request draws with seed + i (vLLM's rule, which
    # every backend follows). The runner derives one per attempt and request (prover.run).
    seed: int | None = None
    # The caller ranks candidates by score: a backend that gets no per-token log-probs raises
    # BackendError. False (a caller that does not rank) takes candidates without them.
    logprobs: bool = True

    def __post_init__(self) -> None:
        if self.seed is not None and not 0 <= self.seed < SEED_LIMIT:
            raise ValueError(f"generation seed {self.seed} is outside 0 <= seed < 2**32")


@runtime_checkable
class ProofSession(Protocol):
    """One attempt at one theorem: owns whatever backend state the attempt needs."""

    @property
    def initial_state(self) -> ProofState: ...

    async def run_tactic(self, state: ProofState, tactic: str) -> TacticResult:
        """Apply `tactic` to `state`; never raises for a tactic's failure (returns `Failed`)."""
        ...

    async def verify(self, proof: str) -> Verdict:
        """Fresh whole-proof check of `proof` (tactic text, one step per line) for this theorem."""
        ...

    def assemble(self, steps: Sequence[str]) -> str:
        """The full proof text for `steps` as it would appear after the statement."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class SketchSession(Protocol):
    """Optional capability of a session: check a proof sketch whose gaps are left open.

    Returns the states of the gaps in order of appearance, or `Failed` if the skeleton does not
    check. `run_tactic` on a gap state returns `Finished` when the tactic closes that gap.
    """

    async def run_sketch(
        self, state: ProofState, sketch: str
    ) -> tuple[ProofState, ...] | Failed: ...


@dataclass(frozen=True)
class ErrorMessage:
    """One error of a checked proof; `line`/`column` (1-based / 0-based, as Lean counts) are
    positions in `ProofFeedback.code`, None when the proof assistant gave none."""

    text: str
    line: int | None = None
    column: int | None = None


@dataclass(frozen=True)
class ProofFeedback:
    """What a whole-proof check tells the model: the verdict and, when rejected, why.

    `code` is the text that was checked (statement and proof); `errors` point into it.
    `goals` is the goal state at the first error (before the failing step), `prefix` the
    longest run of leading proof steps the proof assistant accepts (tactic text, "" if none):
    a continuation sampled from `goals` completes `prefix` (truncate-and-resume).
    """

    ok: bool
    checked_by: str
    code: str = ""
    errors: tuple[ErrorMessage, ...] = ()
    goals: tuple[str, ...] = ()
    prefix: str = ""
    message: str = ""

    def to_json(self, limit: int = 2000) -> dict[str, Any]:
        """For the results store: at most 8 errors, each text clipped to `limit` characters."""

        def clip(text: str) -> str:
            return text if len(text) <= limit else text[:limit] + " …"

        return {
            "ok": self.ok,
            "checked_by": self.checked_by,
            "errors": [
                {"line": e.line, "column": e.column, "text": clip(e.text)} for e in self.errors[:8]
            ],
            "goals": [clip(g) for g in self.goals],
            "prefix": clip(self.prefix),
            "message": clip(self.message),
        }


@runtime_checkable
class ProofChecking(Protocol):
    """Optional capability of a session: check a whole proof and explain a rejection.

    Cheaper than `verify` for proofs that fail and richer: Lean's messages, the goals at the
    first error and the accepted prefix. `ok` may rest on a lighter check than the judge's;
    the runner's judge still decides whether the proof counts.
    """

    async def check_proof(self, proof: str) -> ProofFeedback: ...


@runtime_checkable
class Judge(Protocol):
    """What decides whether a proof counts, independently of the strategy that found it.

    The runner (never a strategy) hands every proof a strategy returns to its environment's
    `judge`. ACCEPTED must rest on the proof assistant's kernel; ERROR means the judge could not
    run (crash, timeout, missing tool) and decides nothing; UNCHECKED means it cannot judge at
    all (replay). `Verdict.checked_by` becomes the result's `verified_by`.
    """

    async def judge(self, theorem: Theorem, proof: str) -> Verdict: ...


@runtime_checkable
class Environment(Protocol):
    """A proof assistant backend; owns processes and pools shared by its sessions."""

    name: str
    # Optional: `capacity: int`, how many theorems it serves at once (its processes or servers);
    # the benchmark runner's default concurrency.
    # Optional: `judge(theorem, proof) -> Verdict` (the `Judge` protocol). Without it, proofs
    # from this environment are recorded as unchecked and never counted.

    async def open(self, theorem: Theorem) -> ProofSession:
        """Start an attempt at `theorem`; raises `InputError` if the statement is unusable."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class Generator(Protocol):
    """A model backend. Callers send one prompt at a time; backends batch concurrent calls."""

    name: str

    async def generate(
        self, prompt: Prompt, n: int, params: GenerationParams | None = None
    ) -> list[Candidate]:
        """`n` candidates for `prompt`: a `str` is continued, a `Chat` is answered."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class Strategy(Protocol):
    """A proof search: drives a session with a generator within a budget."""

    name: str

    async def search(
        self, theorem: Theorem, session: ProofSession, generator: Generator, budget: Budget
    ) -> SearchResult: ...


@runtime_checkable
class Benchmark(Protocol):
    """A named, versioned set of theorems with splits."""

    name: str
    splits: tuple[str, ...]

    def theorems(self, split: str) -> list[Theorem]: ...

    def describe(self) -> dict[str, Any]:
        """Source, pinned revision, checksum and toolchain, for the results store."""
        ...
