"""A virtual-clock event loop: when every task is waiting on a timer, time jumps to the next one.

Schedules are then exact and independent of machine load (a discrete-event simulation running the
real asyncio code); Python's own overhead costs no simulated time, so it is measured separately.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class _JumpingSelector(selectors.BaseSelector):
    """Polls real file descriptors without blocking; an idle wait advances the virtual clock."""

    def __init__(self) -> None:
        self._inner = selectors.DefaultSelector()
        self.now = 0.0

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._inner.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.modify(fileobj, events, data)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is not None and timeout <= 0:
            # Callbacks are ready: run them first. The simulation does no real I/O, so real file
            # descriptors (the loop's wake-up pipe) are polled only before time jumps.
            return []
        ready = self._inner.select(0)
        if ready:
            return ready
        if timeout is None:  # no timer pending: only another thread can wake the loop
            return self._inner.select(None)
        self.now += timeout
        return []

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._inner.get_map()

    def close(self) -> None:
        self._inner.close()


class VirtualClockLoop(asyncio.SelectorEventLoop):  # type: ignore[misc,valid-type]
    """An asyncio loop whose `time()` is virtual and starts at 0."""

    def __init__(self) -> None:
        self._jumping = _JumpingSelector()
        super().__init__(self._jumping)

    def time(self) -> float:
        return self._jumping.now


def run(main: Coroutine[Any, Any, T], *, virtual: bool) -> T:
    """Run `main` to completion on a fresh loop: virtual clock, or the default real one."""
    if not virtual:
        return asyncio.run(main)
    loop = VirtualClockLoop()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(main)
    finally:
        try:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()
