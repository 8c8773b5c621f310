"""Whether a proof found through LeanDojo can be judged by lean-repl's judge (`lean.judge`).

With `lean.judge = "kernel"` (default) that is the kernel judge (judge.py), else the REPL
whole-proof checker. The lean-repl modules are imported lazily: the LeanDojo backend works
without them, and then a proof rests on LeanDojo's own check (the verdict says so).
"""

from __future__ import annotations

from typing import Any

from environments.lean.settings import LeanConfig
from prover.config import Config
from prover.errors import ProverError


def repl_unavailable(lean: LeanConfig) -> str | None:
    """Why the lean-repl backend cannot start here (its own start-up checks), or None."""
    try:
        from environments.lean.toolchain import worker_settings
    except ImportError as exc:
        return f"the lean-repl backend is not installed ({exc})"
    try:
        worker_settings(lean)  # checks the REPL command and the built lake-project, starts nothing
    except ProverError as exc:
        return str(exc)
    return None


def load_checker(config: Config) -> tuple[Any | None, str]:
    """The configured Lean judge (`check(theorem, proof)`, `close()`), or None and the reason
    it is not available."""
    reason = repl_unavailable(config.section("lean"))
    if reason is not None:
        return None, f"the lean-repl backend is not usable: {reason}"
    if config.section("lean").judge == "kernel":
        try:
            from environments.lean.judge import KernelJudge
            from prover.sandbox import policy_for
        except ImportError as exc:
            return None, f"the kernel judge's whole-proof checker is not installed ({exc})"
        return KernelJudge(config.section("lean"), policy_for(config)), ""
    try:
        from environments.lean.checker import WholeProofChecker
    except ImportError as exc:
        return None, f"the whole-proof checker is not installed ({exc})"
    try:
        return WholeProofChecker(config.section("lean")), ""
    except (ProverError, TypeError, OSError) as exc:
        return None, f"the whole-proof checker could not start ({exc})"
