"""The sequential baselines, replayed from the traces of a backend run (same work, same order).

Each theorem's trace (benchmarks/perf/backend.py) is the Lean work and the model calls its search
made, in order; the search is a pure function of the simulated world, so any schedule of it does
exactly this work. Two baselines replay the traces:

* Llemma-style: one process, one theorem at a time, one call at a time: its wall time is one
  header import plus the sum of every Lean call and every model call at batch size one.
* Sharded: W sequential loops (theorem i goes to shard i mod W), each on its own core after its
  own header import, sharing one GPU server that batches whatever requests are waiting, as W
  Llemma processes pointed at one vLLM server would run.

Both are charged nothing for recycling, replays or moves, which favours them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from benchmarks.perf import clock
from benchmarks.perf.backend import Trace
from benchmarks.perf.settings import SimConfig
from benchmarks.perf.sim import SimGenerator


def llemma_seconds(traces: Sequence[Trace], sim: SimConfig) -> float:
    """One sequential loop: every call back to back, each model call a batch of its own."""
    total = sim.header_seconds
    for trace in traces:
        for kind, value in trace.events:
            if kind == "lean":
                total += value
            else:
                total += sim.generation_fixed + sim.generation_per_sequence * value
    return total


async def _sharded(traces: Sequence[Trace], sim: SimConfig, shards: int) -> float:
    gpu = SimGenerator(sim)
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def shard(mine: Sequence[Trace]) -> None:
        await asyncio.sleep(sim.header_seconds / sim.time_scale)
        for trace in mine:
            for kind, value in trace.events:
                if kind == "lean":
                    await asyncio.sleep(value / sim.time_scale)
                else:
                    await gpu.serve(int(value))

    try:
        await asyncio.gather(*(shard(traces[i::shards]) for i in range(shards)))
    finally:
        await gpu.close()
    return (loop.time() - start) * sim.time_scale


def sharded_seconds(traces: Sequence[Trace], sim: SimConfig, shards: int) -> float:
    """`shards` sequential loops sharing one GPU server, on a virtual clock."""
    return clock.run(_sharded(traces, sim, shards), virtual=True)
