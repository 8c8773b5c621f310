"""The per-theorem time budget: the theorem's own service time, whatever the concurrency.

A `Meter` counts what a theorem used: the time its proof-assistant requests were served and the
time it waited for the model. Time its requests spent queued behind other theorems' requests on
a shared process is left out when the session reports it (`queued_seconds`, as the lean-repl
sessions do), so running more theorems at once does not shrink each one's search. Sessions that
do not report it are charged their calls' whole duration. Times come from the event loop's clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

from prover.types import SearchStats

_T = TypeVar("_T")


class BudgetSpent(Exception):
    """The theorem's service-time budget ran out before or during `what`."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def _queued(session: object) -> float | None:
    value = getattr(session, "queued_seconds", None)
    return float(value) if isinstance(value, (int, float)) else None


class Meter:
    """Counts one theorem's model and proof-assistant time against `limit` seconds."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self._clock = asyncio.get_running_loop().time
        self.started = self._clock()
        self.model_seconds = 0.0  # waits for the model, whole
        self.env_seconds = 0.0  # proof-assistant service time
        self.queued_seconds = 0.0  # waits for a process busy with other theorems (not counted)

    @property
    def used(self) -> float:
        """Service time counted against the budget."""
        return self.model_seconds + self.env_seconds

    def remaining(self) -> float:
        return self.limit - self.used

    def elapsed(self) -> float:
        """Clock time since the meter started (service, queueing and the search's own work)."""
        return self._clock() - self.started

    def stats(self, stop_reason: str, **counts: Any) -> SearchStats:
        """An attempt's statistics: this meter's times, and the strategy's own counts."""
        total = self.elapsed()
        return SearchStats(
            model_seconds=self.model_seconds,
            env_seconds=self.env_seconds,
            queued_seconds=self.queued_seconds,
            search_seconds=max(0.0, total - self.used - self.queued_seconds),
            total_seconds=total,
            stop_reason=stop_reason,
            **counts,
        )

    def _check(self, what: str, awaitable: Awaitable[object]) -> float:
        remaining = self.remaining()
        if remaining <= 0:
            if asyncio.iscoroutine(awaitable):
                awaitable.close()
            raise BudgetSpent(what)
        return remaining

    async def model(self, awaitable: Awaitable[_T], what: str = "generate") -> _T:
        """Await a model call, bounded by what is left of the budget."""
        remaining = self._check(what, awaitable)
        start = self._clock()
        try:
            return await asyncio.wait_for(awaitable, timeout=remaining)
        except asyncio.TimeoutError:
            raise BudgetSpent(what) from None
        finally:
            self.model_seconds += self._clock() - start

    async def env(self, session: object, awaitable: Awaitable[_T], what: str = "tactic") -> _T:
        """Await a proof-assistant call on `session`, charging its service time only.

        A session that reports its queueing bounds each request itself (the lean-repl backend
        has a timeout per request), so the call is not cut at the remaining budget: time queued
        is not the theorem's, and the budget may be overrun by at most that one request."""
        remaining = self._check(what, awaitable)
        queued_before = _queued(session)
        start = self._clock()
        try:
            if queued_before is not None:
                return await awaitable
            return await asyncio.wait_for(awaitable, timeout=remaining)
        except asyncio.TimeoutError:
            raise BudgetSpent(what) from None
        finally:
            spent = self._clock() - start
            queued_after = _queued(session)
            queued = 0.0
            if queued_before is not None and queued_after is not None:
                queued = min(spent, max(0.0, queued_after - queued_before))
            self.queued_seconds += queued
            self.env_seconds += spent - queued
