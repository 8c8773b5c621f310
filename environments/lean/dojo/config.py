"""The `[lean_dojo]` settings section (environment `lean-dojo`); importing it never imports
LeanDojo."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LeanDojoConfig:
    """The LeanDojo backend (environment `lean-dojo`).

    LeanDojo reads CACHE_DIR, NUM_PROCS, TACTIC_CPU_LIMIT, TACTIC_MEMORY_LIMIT and
    GITHUB_ACCESS_TOKEN from the environment once, when it is first imported; the keys below that
    are set (non-empty / non-zero) are exported before that import and win over the environment.
    Unset keys leave LeanDojo's own default or the variable already in the environment.
    """

    timeout: int = 600  # seconds for Dojo start-up and for each tactic (Dojo(timeout=…))
    max_concurrency: int = 1  # Dojos (Lean processes) alive at once = blocking calls in flight
    cache_dir: str = ""  # CACHE_DIR: traced repositories (LeanDojo default ~/.cache/lean_dojo)
    num_procs: int = 0  # NUM_PROCS: processes used when tracing (LeanDojo default min(cores, 32))
    tactic_cpu_limit: int = 0  # TACTIC_CPU_LIMIT: Lean threads per Dojo (LeanDojo default 1)
    tactic_memory_limit: str = ""  # TACTIC_MEMORY_LIMIT, e.g. "16g" (LeanDojo default "32g")
    github_access_token_env: str = "GITHUB_ACCESS_TOKEN"  # NAME of the variable holding the token
    allow_trace: bool = False  # trace an untraced repo on open (~1 h, >= 32 GB RAM for Mathlib)
    recheck: str = "auto"  # whole-proof re-check: auto (lean-repl if built) | repl | off

    def __post_init__(self) -> None:
        if self.timeout < 1:
            raise ValueError("lean_dojo.timeout must be at least 1 second")
        if self.max_concurrency < 1:
            raise ValueError("lean_dojo.max_concurrency must be at least 1")
        if self.num_procs < 0 or self.tactic_cpu_limit < 0:
            raise ValueError("lean_dojo.num_procs and tactic_cpu_limit must be >= 0 (0 = default)")
        limit = self.tactic_memory_limit
        if limit and not (limit.endswith("g") and limit[:-1].isdigit()):
            raise ValueError(
                f"lean_dojo.tactic_memory_limit must look like '16g' (LeanDojo's format), "
                f"not {limit!r}"
            )
        if self.recheck not in ("auto", "repl", "off"):
            raise ValueError("lean_dojo.recheck must be 'auto', 'repl' or 'off'")
