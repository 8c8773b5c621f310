"""The `[lean]` settings section: the Lean REPL backend, its whole-proof checker and its judge.

Registered under `prover.settings`, so `--set lean.pool_size=4` and a `[lean]` TOML table are
checked against it; the environments read it with `config.section("lean")`.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_LEAN_HEADER = (
    "import Mathlib\n\nset_option maxHeartbeats 400000\n\nopen BigOperators Real Nat Topology Rat\n"
)


@dataclass(frozen=True)
class LeanConfig:
    """The Lean REPL backend and whole-proof checker."""

    project: str = ""  # default: the repository's lake-project/
    header: str = DEFAULT_LEAN_HEADER  # header for statements given on the command line
    repl_command: tuple[str, ...] = ("lake", "exe", "repl")  # run in `project`
    pool_size: int = 0  # REPL processes; 0 = number of cores - 1
    # Processes of the whole-proof checker: separate from the search's, so a proof is checked in a
    # process that never ran a model's tactic.
    checker_pool_size: int = 1
    memory_limit_gb: float = 12.0  # RLIMIT_AS per process; 0 = no cap
    tactic_timeout: float = 60.0  # seconds per tactic (and per statement opened)
    verify_timeout: float = 300.0  # seconds per command of the whole-proof check
    header_timeout: float = 900.0  # seconds for the header (import Mathlib) of a new process
    recycle_after: int = 500  # requests before a process is replaced (the REPL never frees)
    reply_budget_mb: float = 512.0  # output held while waiting for one reply; more is a crash
    allow_native_decide: bool = False  # accept Lean.ofReduceBool (native_decide) in proofs
    set_option_allowlist: tuple[str, ...] = ("maxHeartbeats", "maxRecDepth")  # in proofs
    # Who decides that a proof counts: "kernel" (compile in the sandbox, export with lean4export,
    # replay with lean4checker, compare with the statement) or "repl" (the REPL whole-proof check
    # alone, for machines without the export tools; results say verified_by "lean-repl").
    judge: str = "kernel"
    judge_timeout: float = 900.0  # seconds per step of the kernel judge (compile, export, replay)
    judge_memory_limit_gb: float = 16.0  # RLIMIT_AS per step of the kernel judge; 0 = no cap

    def __post_init__(self) -> None:
        if not self.repl_command:
            raise ValueError("lean.repl_command must not be empty")
        if self.checker_pool_size < 1:
            raise ValueError("lean.checker_pool_size must be at least 1")
        if self.pool_size < 0 or self.recycle_after < 1:
            raise ValueError("lean.pool_size must be >= 0 and lean.recycle_after >= 1")
        if not 0.0 < self.reply_budget_mb < float("inf"):
            raise ValueError("lean.reply_budget_mb must be a positive finite number of MiB")
        if not 0.0 <= self.memory_limit_gb < float("inf"):
            raise ValueError("lean.memory_limit_gb must be a finite number >= 0 (0 = no cap)")
        if self.judge not in ("kernel", "repl"):
            raise ValueError(f"lean.judge must be 'kernel' or 'repl', not {self.judge!r}")
        if not 0.0 <= self.judge_memory_limit_gb < float("inf"):
            raise ValueError("lean.judge_memory_limit_gb must be a finite number >= 0 (0 = no cap)")
        for key in ("tactic_timeout", "verify_timeout", "header_timeout", "judge_timeout"):
            if not 0.0 < getattr(self, key) < float("inf"):
                raise ValueError(f"lean.{key} must be a positive finite number of seconds")
