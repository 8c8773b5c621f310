"""Pass rates and their uncertainty: Wilson score intervals and the unbiased pass@k estimator."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Rate:
    """`successes` out of `total`, with a Wilson score interval."""

    successes: int
    total: int
    low: float
    high: float

    @property
    def value(self) -> float:
        return self.successes / self.total if self.total else 0.0

    def to_json(self) -> dict[str, float | int]:
        return {
            "successes": self.successes,
            "total": self.total,
            "rate": round(self.value, 6),
            "ci95_low": round(self.low, 6),
            "ci95_high": round(self.high, 6),
        }


def wilson(successes: int, total: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95% by default); (0, 1) when total = 0."""
    if not 0 <= successes <= total:
        raise ValueError(f"need 0 <= successes <= total, got {successes}/{total}")
    if total == 0:
        return 0.0, 1.0
    p = successes / total
    z2 = z * z
    centre = (p + z2 / (2 * total)) / (1 + z2 / total)
    half = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / (1 + z2 / total)
    return max(0.0, centre - half), min(1.0, centre + half)


def rate(successes: int, total: int) -> Rate:
    low, high = wilson(successes, total)
    return Rate(successes, total, low, high)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased estimate of P(at least one of k samples succeeds) from n samples with c successes.

    1 - C(n-c, k) / C(n, k) (Chen et al., 2021), computed as a stable product.
    """
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def mean_pass_at_k(samples: Iterable[tuple[int, int]], k: int) -> float | None:
    """Mean pass@k over theorems given (n, c) per theorem; theorems with n < k are skipped."""
    values = [pass_at_k(n, c, k) for n, c in samples if n >= k]
    return sum(values) / len(values) if values else None


def ks_up_to(k_max: int) -> list[int]:
    """1, 2, 4, … below k_max, and k_max itself: the k values a report shows."""
    ks = []
    k = 1
    while k < k_max:
        ks.append(k)
        k *= 2
    ks.append(k_max)
    return ks


def sample_counts(details: Mapping[str, Any], counted: bool) -> tuple[int, int] | None:
    """(n, c) of one attempt's sampled proofs, from strategies that record them exactly.

    The whole-proof strategy stores `details["samples"] = {"n", "c", "exact"}`: n proofs
    sampled, c accepted by its in-search check, exact when every sample was checked. An attempt
    whose returned proof does not count (the judge refused it) contributes c = 0, since the
    in-search check was then wrong at least once.
    """
    samples = details.get("samples")
    if not isinstance(samples, Mapping) or not samples.get("exact"):
        return None
    try:
        n, c = int(samples["n"]), int(samples["c"])
    except (KeyError, TypeError, ValueError):
        return None
    if n < 1 or not 0 <= c <= n:
        return None
    return n, (c if counted else 0)
