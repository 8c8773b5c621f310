"""The `[isabelle]` settings section: PISA servers, the batch judge, DSP's heuristics.

Registered under `prover.settings`, so `--set isabelle.ports=[8000,8001]` and an `[isabelle]` TOML
table are checked against it; the environments read it with `config.section("isabelle")`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

# The theory every Isabelle theorem is opened in: the imports of the Draft, Sketch, Prove checker
# as Llemma ran it. The
# original also imports "Symmetric_Polynomials.Vieta", which needs the AFP; add it if you have it.
DEFAULT_ISABELLE_IMPORTS: tuple[str, ...] = (
    "HOL.HOL",
    "Complex_Main",
    "HOL-Library.Code_Target_Numeral",
    "HOL-Library.Sum_of_Squares",
    "HOL-Computational_Algebra.Computational_Algebra",
    "HOL-Number_Theory.Number_Theory",
)

# DSP's heuristics, tried in this order on a `sledgehammer` gap before Sledgehammer itself.
DSP_HEURISTICS: tuple[str, ...] = (
    "by auto",
    "by simp",
    "by blast",
    "by fastforce",
    "by force",
    "by eval",
    "by presburger",
    "by sos",
    "by arith",
    "by linarith",
    "by (auto simp: field_simps)",
)


@dataclass(frozen=True)
class IsabelleConfig:
    """The Isabelle backend through PISA (Portal to ISAbelle, gRPC); PISA_JAR and ISABELLE_PATH
    set path defaults."""

    start: bool = True  # start a PISA JVM per port; false = attach to servers already running
    java: str = "java"
    java_options: tuple[str, ...] = ()  # e.g. ["-Xmx16g"], placed before -cp
    memory_limit_gb: float = 0.0  # RLIMIT_AS of the JVM and the Isabelle it starts; 0 = none
    jar: str = field(default_factory=lambda: os.environ.get("PISA_JAR", ""))
    isabelle_path: str = field(default_factory=lambda: os.environ.get("ISABELLE_PATH", ""))
    working_directory: str = ""  # default: <isabelle_path>/src/HOL/Examples (Llemma's setup)
    theory_file: str = ""  # default: Prover_Interactive.thy, written into working_directory
    imports: tuple[str, ...] = DEFAULT_ISABELLE_IMPORTS  # of the generated theory file
    ports: tuple[int, ...] = (8000,)  # one server (JVM + Isabelle) per port, one theorem each
    host: str = "localhost"
    step_timeout: float = 60.0  # gRPC deadline of one Isar step (PISA's own limit is 10-30 s)
    hammer_timeout: float = 120.0  # one Sledgehammer call (PISA caps it at 35-40 s)
    query_timeout: float = 30.0  # parse, proof level, delete, …
    startup_timeout: float = 600.0  # JVM up and Isabelle loaded with the theory's imports
    hammer_command: str = "normalhammer"  # PISA's Sledgehammer action (older builds: sledgehammer)
    heuristics: tuple[str, ...] = DSP_HEURISTICS
    # `eval` / `normalization` prove by running generated code through an oracle, like Lean's
    # native_decide; DSP counted them. Off by default (then `by eval` is skipped as a heuristic).
    allow_eval: bool = False
    # Who decides that a proof counts: "build" checks a theory in batch mode with the local
    # Isabelle (`isabelle process`, no PISA), "pisa" re-runs the proof on a fresh PISA state.
    judge: str = "build"
    # The heap the judge starts from (`isabelle process -l`): HOL-Number_Theory holds every
    # default import (HOL-Library, HOL-Computational_Algebra), so no import is re-read per proof.
    judge_logic: str = "HOL-Number_Theory"
    judge_timeout: float = 900.0  # one judge run: Isabelle start, imports, the proof
    judge_memory_gb: float = 16.0  # address-space cap of the judge's Isabelle; 0 = none
    restart_attempts: int = 5  # restarts of a dead server (with doubling pauses) before it is lost

    def __post_init__(self) -> None:
        if not self.ports or len(set(self.ports)) != len(self.ports):
            raise ValueError("isabelle.ports must list at least one port, each once")
        if any(not 0 < p < 65536 for p in self.ports):
            raise ValueError("isabelle.ports must be TCP ports (1-65535)")
        for name in ("step_timeout", "hammer_timeout", "query_timeout", "startup_timeout"):
            if not 0 < getattr(self, name) < float("inf"):
                raise ValueError(f"isabelle.{name} must be a positive finite number of seconds")
        if not 0 <= self.memory_limit_gb < float("inf"):
            raise ValueError("isabelle.memory_limit_gb must be 0 (no limit) or a positive number")
        if not self.hammer_command.strip():
            raise ValueError("isabelle.hammer_command must not be empty")
        if self.judge not in ("build", "pisa"):
            raise ValueError(f"isabelle.judge must be 'build' or 'pisa', not {self.judge!r}")
        if not 0 < self.judge_timeout < float("inf"):
            raise ValueError("isabelle.judge_timeout must be a positive finite number of seconds")
        if not 0 <= self.judge_memory_gb < float("inf"):
            raise ValueError("isabelle.judge_memory_gb must be 0 (no limit) or a positive number")
        if not self.judge_logic.strip():
            raise ValueError("isabelle.judge_logic must name a session, e.g. 'HOL'")
        if self.restart_attempts < 1:
            raise ValueError("isabelle.restart_attempts must be at least 1")
