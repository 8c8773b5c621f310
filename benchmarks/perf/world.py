"""The simulated proof world: tactic outcomes and latencies as pure functions of their inputs.

Every draw hashes (seed, theorem, goals, tactic) instead of consuming a shared random stream, so a
theorem's search tree is the same whichever scheduler explores it and in whatever order.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from dataclasses import dataclass
from statistics import NormalDist

from benchmarks.perf.settings import SimConfig
from prover.types import Candidate, Failed, FailureKind, Finished, NewState, ProofState

# z-score of the 95th percentile of a standard normal distribution.
_Z95 = NormalDist().inv_cdf(0.95)
_UNIT = float(1 << 53)
_GOAL = re.compile(r"⊢ goal_[0-9a-f]{12}")  # the digest already encodes the theorem


def _uniforms(*parts: str) -> tuple[float, float, float]:
    """Three independent uniforms in (0, 1) from one hash of `parts`."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=24).digest()
    return tuple(  # type: ignore[return-value]
        ((int.from_bytes(digest[i : i + 8], "little") >> 11) + 0.5) / _UNIT for i in (0, 8, 16)
    )


def _goal(theorem: str, digest: str) -> str:
    """A simulated goal; `_GOAL` finds it in a prompt."""
    return f"{theorem} ⊢ goal_{digest}"


@dataclass(frozen=True)
class Step:
    """What one tactic does in the simulated world, and how long a worker spends on it."""

    result: NewState | Finished | Failed
    seconds: float


class LatencyModel:
    """Tactic latency: lognormal with the configured median and 95th percentile, or fixed."""

    def __init__(self, config: SimConfig) -> None:
        self.median = config.tactic_median
        self.fixed = config.tactic_distribution == "fixed" or config.tactic_median == 0
        # p95 = median · exp(σ · z95) for a lognormal, so σ follows from the two quantiles.
        self.sigma = 0.0 if self.fixed else math.log(config.tactic_p95 / self.median) / _Z95
        self._normal = NormalDist()

    def seconds(self, u: float) -> float:
        """The latency at quantile `u` of the distribution."""
        if self.fixed:
            return self.median
        return self.median * math.exp(self.sigma * self._normal.inv_cdf(u))

    @property
    def mean(self) -> float:
        return self.median * math.exp(self.sigma**2 / 2)


class World:
    """Deterministic outcomes: which tactics close, fail or lead where, and what they cost."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.seed = str(config.seed)
        self.latency = LatencyModel(config)
        self._close: dict[str, float] = {}  # memo of a pure function: same answers, less hashing
        # The harness asks for a step twice (its trace, then the simulated REPL) a moment apart.
        self._recent: dict[tuple[str, str, str], Step] = {}

    def provable(self, theorem: str) -> bool:
        """Whether any tactic can close `theorem` (a fixed share of theorems, by hash)."""
        return _uniforms(self.seed, "provable", theorem)[0] < self.config.provable_fraction

    def _close_probability(self, theorem: str) -> float:
        known = self._close.get(theorem)
        if known is None:
            known = self._close[theorem] = (
                self.config.close_probability if self.provable(theorem) else 0.0
            )
        return known

    def initial_state(self, theorem: str, statement: str) -> ProofState:
        digest = hashlib.blake2b(
            f"{self.seed}\x1f{theorem}\x1f{statement}".encode(), digest_size=6
        ).hexdigest()
        return ProofState((_goal(theorem, digest),))

    def step(self, theorem: str, goals: str, tactic: str) -> Step:
        """The outcome of `tactic` on `goals` of `theorem`, and its latency."""
        key = (theorem, goals, tactic)
        known = self._recent.get(key)
        if known is None:
            if len(self._recent) >= 4096:
                self._recent.clear()
            known = self._recent[key] = self._step(theorem, goals, tactic)
        return known

    def _step(self, theorem: str, goals: str, tactic: str) -> Step:
        cfg = self.config
        u_outcome, u_latency, u_child = _uniforms(self.seed, theorem, goals, tactic)
        seconds = self.latency.seconds(u_latency)
        if seconds > cfg.tactic_timeout:
            return Step(Failed(FailureKind.TIMEOUT, "sim: tactic timed out"), cfg.tactic_timeout)
        close = self._close_probability(theorem)
        if u_outcome < close:
            return Step(Finished(), seconds)
        if u_outcome < close + cfg.failure_probability:
            return Step(Failed(FailureKind.ERROR, "sim: tactic failed"), seconds)
        # Different tactics often lead to the same state; a few successor slots per state model it.
        slot = int(u_child * cfg.successors)
        digest = hashlib.blake2b(
            f"{self.seed}\x1f{goals}\x1f{slot}".encode(), digest_size=6
        ).hexdigest()
        return Step(NewState(ProofState((_goal(theorem, digest),))), seconds)

    def candidates(self, prompt: str, n: int) -> list[Candidate]:
        """`n` sampled tactics for `prompt`: popular ones repeat, as in real sampling.

        The draw depends on the last simulated goal in the prompt (the whole prompt if it has
        none), so editing a template's few-shot examples does not change the simulated work.
        """
        goals = _GOAL.findall(prompt)
        key = goals[-1] if goals else prompt
        digest = hashlib.blake2b(f"{self.seed}\x1f{key}".encode(), digest_size=8).digest()
        rng = random.Random(int.from_bytes(digest, "little"))
        pool = self.config.tactic_pool
        # Zipf-like popularity: tactic k is sampled with weight 1/(k+1) and scored accordingly.
        weights = [1.0 / (k + 1) for k in range(pool)]
        picks = rng.choices(range(pool), weights=weights, k=n)
        out = []
        for k in picks:
            tokens = 2 + (k * 7) % 13
            mean_logprob = -0.1 - 0.05 * k
            out.append(Candidate(f"tactic_{k}", mean_logprob * tokens, tokens))
        return out
