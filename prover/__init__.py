"""A theorem-proving agent for Lean 4 and Isabelle: models propose, proof assistants check."""

from prover.types import (
    Budget,
    Candidate,
    Failed,
    FailureKind,
    Finished,
    Language,
    NewState,
    ProofState,
    SearchResult,
    SearchStats,
    Status,
    TacticResult,
    Theorem,
    Verdict,
    VerdictStatus,
)

__version__ = "0.1.0"

__all__ = [
    "Budget",
    "Candidate",
    "Failed",
    "FailureKind",
    "Finished",
    "Language",
    "NewState",
    "ProofState",
    "SearchResult",
    "SearchStats",
    "Status",
    "TacticResult",
    "Theorem",
    "Verdict",
    "VerdictStatus",
    "__version__",
]
