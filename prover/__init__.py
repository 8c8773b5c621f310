"""A theorem-proving agent for Lean 4 and Isabelle: models propose, proof assistants check."""

import os

# We fork only to exec a child at once (the REPL, PISA's JVM, the judge's tools). gRPC's fork
# handlers (loaded with the PISA client or Ray) restart its poller in the forked child, where it
# can abort on a closed epoll descriptor before exec (grpc/grpc#43055, grpcio >= 1.81); turning
# fork support off is gRPC's documented setting for fork-then-exec. Set before gRPC initialises.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

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
