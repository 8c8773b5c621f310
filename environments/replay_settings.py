"""The `[replay]` settings section of the replay environment."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReplayConfig:
    """The replay environment: answers tactics from a recorded trace."""

    trace: str = ""
