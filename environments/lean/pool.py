"""A bounded pool of REPL workers keyed by header: Mathlib is imported once per process.

Theorems are not given a process of their own: a theorem's states live on one process, and a
process serves several theorems, one request at a time, their requests interleaving, so one
theorem's wait for the model is another's Lean time. A process that has served `recycle_after`
requests gets no new theorem and is replaced once the last theorem on it closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import shutil
from collections.abc import AsyncIterator

from environments.lean.worker import ReplWorker, WorkerSettings
from prover.processes import ProcessTracker


class ReplPool:
    """Hands out workers for a header: an idle one of that header, a new one while under `size`,
    else the one of that header with the fewest live theorems (draining ones last); an idle
    worker of another header is re-targeted. Sessions sharing a worker take turns (one
    operation at a time per process)."""

    def __init__(
        self, settings: WorkerSettings, size: int, tracker: ProcessTracker | None = None
    ) -> None:
        if size < 1:
            raise ValueError("the REPL pool needs at least one process")
        self.size = size
        self.tracker = tracker or ProcessTracker()
        self._stderr_dir = self.tracker.scratch_dir("prover-lean-")  # removed even after kill -9
        # Every other setting (reply budget, sandbox, …) carries over unchanged.
        self.settings = dataclasses.replace(
            settings, stderr_dir=settings.stderr_dir or self._stderr_dir
        )
        self.workers: list[ReplWorker] = []
        self._idle = 0  # workers with no lease: `rebalance` looks for one only if there is any
        self._changed: asyncio.Condition | None = None
        self._closed = False

    @property
    def pids(self) -> list[int]:
        """Process ids of every live REPL process this pool started."""
        return self.tracker.pids

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    async def lease(self, header: str) -> ReplWorker:
        """A worker for `header`; waits while every worker is busy with another header."""
        changed = self._condition()
        async with changed:
            while True:
                if self._closed:
                    raise RuntimeError("the REPL pool is closed")
                worker = await self._choose(header)
                if worker is not None:
                    worker.leases += 1
                    if worker.leases == 1:
                        self._idle -= 1
                    return worker
                await changed.wait()

    async def release(self, worker: ReplWorker) -> None:
        """The theorem (or check) on `worker` is done; a draining worker left idle is recycled."""
        changed = self._condition()
        async with changed:
            if worker.leases == 1:
                self._idle += 1
            worker.leases = max(0, worker.leases - 1)
            recycle = worker.leases == 0 and worker.draining and not self._closed
            changed.notify_all()
        if recycle:
            await worker.recycle()

    def rebalance(self, worker: ReplWorker) -> ReplWorker:
        """Where a theorem on `worker` should run next: an idle warm worker of its header when
        `worker` is shared by several theorems (its states are replayed there), else `worker`.
        The theorem's lease moves with it."""
        if worker.leases < 2 or self._idle == 0 or self._closed:
            return worker
        for other in self.workers:
            if (
                other.leases == 0
                and other.header == worker.header
                and other.warm
                and not other.draining
            ):
                worker.leases -= 1
                other.leases += 1
                self._idle -= 1
                return other
        return worker

    @contextlib.asynccontextmanager
    async def leased(self, header: str) -> AsyncIterator[ReplWorker]:
        worker = await self.lease(header)
        try:
            yield worker
        finally:
            await self.release(worker)

    async def _choose(self, header: str) -> ReplWorker | None:
        same = [w for w in self.workers if w.header == header]
        idle_same = [w for w in same if w.leases == 0 and not w.draining]
        if idle_same:
            return idle_same[0]
        if len(self.workers) < self.size:
            worker = ReplWorker(self.settings, self.tracker, header, len(self.workers))
            self.workers.append(worker)
            self._idle += 1
            return worker
        if same:
            return min(same, key=lambda w: (w.draining, w.leases, w.commands))
        idle = [w for w in self.workers if w.leases == 0]
        if idle:
            await idle[0].retarget(header)
            return idle[0]
        return None

    async def close(self) -> None:
        """Stop every process; afterwards none of ours is running."""
        self._closed = True
        workers, self.workers = self.workers, []
        await asyncio.gather(*(w.close() for w in workers), return_exceptions=True)
        await self.tracker.stop_all()
        shutil.rmtree(self._stderr_dir, ignore_errors=True)
        if self._changed is not None:
            async with self._changed:
                self._changed.notify_all()
