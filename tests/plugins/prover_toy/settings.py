"""The `[toy]` config section. prover checks keys and types; `__post_init__` checks values."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ToySettings:
    """Settings of the toy proof assistant."""

    max_step: int = 10  # the largest N a tactic `add N` / `sub N` may use

    def __post_init__(self) -> None:
        if self.max_step < 1:
            raise ValueError("toy.max_step must be at least 1")
