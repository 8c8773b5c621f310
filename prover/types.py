"""Core value types shared by strategies, generators, environments and benchmarks."""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final


class Language:
    """Names of the built-in formal languages. A theorem's language is a name: these, or any a
    plug-in registers under `prover.languages` (see prover/language.py)."""

    LEAN4: Final = "lean4"
    ISABELLE: Final = "isabelle"


@dataclass(frozen=True)
class Theorem:
    """A formal statement to prove, with its header and optional informal text."""

    name: str
    statement: str
    language: str = Language.LEAN4
    header: str = ""
    informal_statement: str | None = None
    informal_proof: str | None = None
    split: str | None = None
    source: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "statement": self.statement,
            "language": self.language,
            "header": self.header,
            "informal_statement": self.informal_statement,
            "informal_proof": self.informal_proof,
            "split": self.split,
            "source": self.source,
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Theorem:
        return cls(
            name=data["name"],
            statement=data["statement"],
            language=str(data.get("language", Language.LEAN4)),
            header=data.get("header", ""),
            informal_statement=data.get("informal_statement"),
            informal_proof=data.get("informal_proof"),
            split=data.get("split"),
            source=data.get("source"),
            metadata=dict(data.get("metadata") or {}),
        )


@dataclass(frozen=True)
class ProofState:
    """Open goals as pretty-printed text, plus a backend-specific handle (not compared)."""

    goals: tuple[str, ...]
    handle: Any = field(default=None, compare=False)

    @property
    def pretty(self) -> str:
        """The goals joined as Lean and LeanDojo print them; the key for state de-duplication."""
        return "\n\n".join(self.goals)


class FailureKind(str, enum.Enum):
    """Why a tactic did not produce a usable state."""

    ERROR = "error"
    TIMEOUT = "timeout"
    SORRY = "sorry"
    CRASH = "crash"
    REJECTED = "rejected"


@dataclass(frozen=True)
class NewState:
    """The tactic succeeded and goals remain."""

    state: ProofState
    messages: tuple[str, ...] = ()


@dataclass(frozen=True)
class Finished:
    """The tactic closed every goal (still subject to a whole-proof check)."""

    messages: tuple[str, ...] = ()


@dataclass(frozen=True)
class Failed:
    """The tactic failed; `message` is the proof assistant's (or our screen's) text."""

    kind: FailureKind
    message: str = ""


TacticResult = NewState | Finished | Failed


class VerdictStatus(str, enum.Enum):
    """Outcome of a whole-proof check."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    UNCHECKED = "unchecked"  # the environment cannot check proofs (e.g. replay)
    ERROR = "error"  # the checker could not run (crash, timeout, missing tool): no decision


@dataclass(frozen=True)
class Verdict:
    """Result of `ProofSession.verify`: what was decided, and by which checker."""

    status: VerdictStatus
    checked_by: str
    message: str = ""

    @property
    def verified(self) -> bool:
        return self.status is VerdictStatus.ACCEPTED


@dataclass(frozen=True)
class Message:
    """One turn of a chat prompt."""

    role: str  # "system", "user" or "assistant"
    content: str


@dataclass(frozen=True)
class Chat:
    """A chat prompt: hf and vllm render it with the tokenizer's `apply_chat_template`, the
    openai backend sends it to `/v1/chat/completions`; a plain `str` prompt is a completion."""

    messages: tuple[Message, ...]


Prompt = str | Chat


@dataclass(frozen=True)
class Candidate:
    """One generated continuation with its cumulative log-probability and token count."""

    text: str
    logprob: float
    num_tokens: int

    @property
    def mean_logprob(self) -> float:
        return self.logprob / self.num_tokens if self.num_tokens > 0 else self.logprob

    def score(self, mode: str = "mean") -> float:
        """Higher is better: mean token log-prob (default) or cumulative (`sum`)."""
        value = self.logprob if mode == "sum" else self.mean_logprob
        return value if math.isfinite(value) else -math.inf


@dataclass(frozen=True)
class Budget:
    """Finite per-theorem limits for a search."""

    samples: int = 32
    max_expansions: int = 100
    max_tactics: int = 3200
    wall_seconds: float = 600.0

    def __post_init__(self) -> None:
        for name in ("samples", "max_expansions", "max_tactics"):
            if getattr(self, name) < 1:
                raise ValueError(f"budget {name} must be at least 1")
        if not (self.wall_seconds > 0 and math.isfinite(self.wall_seconds)):
            raise ValueError("budget wall_seconds must be a positive finite number")


class Status(str, enum.Enum):
    """Outcome of one theorem attempt."""

    PROVED = "proved"
    FAILED = "failed"
    ERROR = "error"
    TIMEOUT = "timeout"


@dataclass(frozen=True)
class SearchStats:
    """Counts and time split for one attempt. `model_seconds` + `env_seconds` is what the time
    budget counted (prover/budget.py); `queued_seconds` is time the theorem's requests waited
    for a process serving other theorems, which it did not count."""

    model_seconds: float = 0.0
    env_seconds: float = 0.0
    search_seconds: float = 0.0
    total_seconds: float = 0.0
    expansions: int = 0
    tactics_run: int = 0
    model_calls: int = 0
    candidates: int = 0
    tokens: int = 0
    failures: Mapping[str, int] = field(default_factory=dict)
    stop_reason: str = ""
    queued_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "model_seconds": round(self.model_seconds, 6),
            "queued_seconds": round(self.queued_seconds, 6),
            "env_seconds": round(self.env_seconds, 6),
            "search_seconds": round(self.search_seconds, 6),
            "total_seconds": round(self.total_seconds, 6),
            "expansions": self.expansions,
            "tactics_run": self.tactics_run,
            "model_calls": self.model_calls,
            "candidates": self.candidates,
            "tokens": self.tokens,
            "failures": dict(self.failures),
            "stop_reason": self.stop_reason,
        }


@dataclass(frozen=True)
class SearchResult:
    """What a strategy returns for one theorem."""

    theorem: str
    status: Status
    proof: str | None = None
    steps: tuple[str, ...] = ()
    verified: bool = False
    verified_by: str | None = None
    stats: SearchStats = field(default_factory=SearchStats)
    error: str | None = None
    tree: dict[str, Any] | None = field(default=None, compare=False)
    details: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def proved(self) -> bool:
        return self.status is Status.PROVED

    def to_json(self, *, include_tree: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "theorem": self.theorem,
            "status": self.status.value,
            "proof": self.proof,
            "steps": list(self.steps),
            "verified": self.verified,
            "verified_by": self.verified_by,
            "stats": self.stats.to_json(),
            "error": self.error,
        }
        if self.details:
            out["details"] = dict(self.details)
        if include_tree:
            out["tree"] = self.tree
        return out
