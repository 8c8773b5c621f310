"""The `[sim]` settings section: the performance harness's simulated Lean workers and GPU.

Registered under `prover.settings` like any plug-in's section, so `--set sim.workers=4` and a
`[sim]` TOML table are checked against it, while the core knows nothing of the simulator.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SimConfig:
    """Simulated environment and generator of the performance harness (benchmarks/perf).

    Latencies are in simulated seconds; `time_scale` = 10 runs ten times faster than real time.
    Defaults: Lean tactics ~0.3 CPU-s on average (lognormal, median 0.15 s, p95 1 s), and vLLM
    serving a 7B model on one H100 (a + b·sequences per batch, a = 0.2 s, b = 0.004 s).
    """

    seed: int = 0
    workers: int = 15  # Lean worker slots (W)
    worker_affinity: bool = False  # a session keeps one worker, as the Lean REPL pool leases
    tactic_distribution: str = "lognormal"  # or "fixed" (every tactic takes tactic_median)
    tactic_median: float = 0.15
    tactic_p95: float = 1.0
    tactic_timeout: float = 60.0  # slower tactics fail with kind `timeout` after this long
    generation_fixed: float = 0.2  # a: seconds per GPU batch
    generation_per_sequence: float = 0.004  # b: seconds per sequence in the batch
    max_batch_sequences: int = 256  # vLLM's max_num_seqs
    batch_window: float = 0.0  # an idle GPU waits this long for more requests before a batch
    close_probability: float = 0.05  # chance that a tactic closes the goal (provable theorems)
    provable_fraction: float = 0.3  # share of theorems any tactic can close at all
    failure_probability: float = 0.7  # chance that a tactic fails with an error
    successors: int = 6  # distinct states a state's successful tactics can lead to
    tactic_pool: int = 24  # distinct tactic strings the generator can sample for one prompt
    time_scale: float = 1.0
    # The simulated REPL processes of the harness (assumed figures, not measurements of Lean):
    header_seconds: float = 15.0  # `import Mathlib` in a fresh process
    command_seconds: float = 0.05  # opening a statement, `#print axioms`, `#check`
    base_memory_mb: float = 5000.0  # a process after the header
    state_memory_mb: float = 1.5  # growth per proof state kept (the REPL never frees one)

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError("sim.workers must be at least 1")
        if self.tactic_distribution not in ("lognormal", "fixed"):
            raise ValueError("sim.tactic_distribution must be 'lognormal' or 'fixed'")
        if self.tactic_median < 0 or self.tactic_timeout <= 0:
            raise ValueError("sim.tactic_median must be >= 0 and sim.tactic_timeout > 0")
        if self.tactic_median > 0 and self.tactic_p95 < self.tactic_median:
            raise ValueError("sim.tactic_p95 must be at least sim.tactic_median")
        if self.generation_fixed < 0 or self.generation_per_sequence < 0 or self.batch_window < 0:
            raise ValueError("sim generation latencies and batch_window must be >= 0")
        if self.max_batch_sequences < 1 or self.successors < 1 or self.tactic_pool < 1:
            raise ValueError("sim.max_batch_sequences, successors and tactic_pool must be >= 1")
        for name in ("close_probability", "provable_fraction", "failure_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"sim.{name} must be between 0 and 1")
        if self.close_probability + self.failure_probability > 1.0:
            raise ValueError("sim.close_probability + sim.failure_probability must be <= 1")
        if not 0 < self.time_scale < float("inf"):  # also false for NaN
            raise ValueError("sim.time_scale must be a positive finite number")
        for name in ("header_seconds", "command_seconds", "base_memory_mb", "state_memory_mb"):
            if not 0.0 <= getattr(self, name) < float("inf"):
                raise ValueError(f"sim.{name} must be a finite number >= 0")
