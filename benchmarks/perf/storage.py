"""Storage figures: a full tree's stored size, a 244-theorem HTML report, event-loop stalls.

Trees come from benchmarks/perf/trees.py (3,200 edges, Lean-like random text). The stall figure
records attempts through `StoreWriter` (inserts on a thread of its own) while a timer on the event
loop measures how late it fires; the same with inserts on the loop is shown for contrast.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.perf.trees import synthetic_tree
from benchmarks.store import Store, StoreWriter, encode_tree
from prover.types import SearchResult, SearchStats, Status

TREE_TARGET_BYTES = 200_000
REPORT_TARGET_BYTES = 10_000_000
STALL_TARGET_SECONDS = 0.050
_DISTINCT_TREES = 8  # trees are costly to build; the report cycles through this many


@dataclass(frozen=True)
class StorageFigures:
    tree_nodes: int
    tree_json_bytes: int
    tree_stored_bytes: int
    report_theorems: int
    report_bytes: int
    tree_pages_bytes: int
    stall_writer_seconds: float
    stall_on_loop_seconds: float
    stall_idle_seconds: float  # the same timer with nothing else running: the machine's share
    inserts: int

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _result(name: str, index: int, tree: dict[str, Any] | None) -> SearchResult:
    proved = index % 3 == 0
    return SearchResult(
        theorem=name,
        status=Status.PROVED if proved else Status.FAILED,
        proof="nlinarith [sq_nonneg (x - y)]" if proved else None,
        steps=("nlinarith [sq_nonneg (x - y)]",) if proved else (),
        verified=proved,
        verified_by="lean-repl" if proved else None,
        stats=SearchStats(total_seconds=60.0, expansions=100, tactics_run=3200),
        tree=tree,
    )


def _new_run(store: Store, name: str, planned: int) -> int:
    info = store.create_run(
        name,
        benchmark="minif2f-lean4",
        split="test",
        planned=planned,
        attempts_per_theorem=1,
        config={},
        versions={},
    )
    return info.id


async def _stall_while(work: Any) -> float:
    """The longest the event loop was late for a 5 ms timer while `work` ran."""
    loop = asyncio.get_running_loop()
    worst = 0.0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal worst
        while not done.is_set():
            expected = loop.time() + 0.005
            await asyncio.sleep(0.005)
            worst = max(worst, loop.time() - expected)

    tick = asyncio.ensure_future(ticker())
    await asyncio.sleep(0)
    try:
        await work
    finally:
        done.set()
        await tick
    return worst


async def _stalls(path: Path, results: list[SearchResult]) -> tuple[float, float, float]:
    with Store(path) as store:
        run_writer = _new_run(store, "writer", len(results))
        run_loop = _new_run(store, "on-loop", len(results))
        writer = StoreWriter(path)

        async def by_writer() -> None:
            for i, result in enumerate(results):
                await writer.record(run_writer, f"t{i:03d}", 0, result)

        async def on_loop() -> None:
            for i, result in enumerate(results):
                store.record(run_loop, f"t{i:03d}", 0, result)
                await asyncio.sleep(0)

        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            with_writer = await _stall_while(by_writer())
        finally:
            writer.close()
        idle = await _stall_while(asyncio.sleep(loop.time() - start))
        on_the_loop = await _stall_while(on_loop())
    return with_writer, on_the_loop, idle


def measure_storage(theorems: int = 244, *, stall_inserts: int = 24) -> StorageFigures:
    """Store `theorems` attempts with full trees, write their HTML report, time the stalls."""
    from benchmarks.html_report import to_html
    from benchmarks.report import build

    trees = [synthetic_tree(seed) for seed in range(_DISTINCT_TREES)]
    encoded = [encode_tree(tree) for tree in trees]
    with tempfile.TemporaryDirectory(prefix="prover-perf-") as tmp:
        path = Path(tmp) / "results.sqlite"
        with Store(path) as store:
            run = _new_run(store, "full-trees", theorems)
            for i in range(theorems):
                name = f"t{i:03d}"
                store.record(run, name, 0, _result(name, i, None))
                # The bytes `record` stores for this tree, encoded once per distinct tree.
                store._db.execute(
                    "INSERT INTO trees (attempt_id, tree) SELECT id, ? FROM attempts "
                    "WHERE run_id = ? AND theorem = ?",
                    (encoded[i % len(encoded)], run, name),
                )
            pages: dict[str, str] = {}
            page = to_html(build(store, ["full-trees"]), store.tree, tree_pages=pages)
        results = [_result(f"t{i:03d}", i, trees[i % len(trees)]) for i in range(stall_inserts)]
        with_writer, on_loop, idle = asyncio.run(_stalls(Path(tmp) / "stalls.sqlite", results))
    return StorageFigures(
        tree_nodes=len(trees[0]["nodes"]),
        tree_json_bytes=len(json.dumps(trees[0], ensure_ascii=False).encode("utf-8")),
        tree_stored_bytes=len(encoded[0]),
        report_theorems=theorems,
        report_bytes=len(page.encode("utf-8")),
        tree_pages_bytes=sum(len(p.encode("utf-8")) for p in pages.values()),
        stall_writer_seconds=with_writer,
        stall_on_loop_seconds=on_loop,
        stall_idle_seconds=idle,
        inserts=stall_inserts,
    )


def format_storage(f: StorageFigures) -> str:
    return "\n".join(
        [
            f"tree: {f.tree_nodes:,} nodes, {f.tree_json_bytes / 1e3:,.0f} KB as JSON, "
            f"{f.tree_stored_bytes / 1e3:,.0f} KB stored (zlib)",
            f"HTML report, {f.report_theorems} theorems with full trees: "
            f"{f.report_bytes / 1e6:.2f} MB (+ {f.tree_pages_bytes / 1e6:.1f} MB of linked "
            "whole-tree pages)",
            f"longest event-loop stall over {f.inserts} inserts: writer thread "
            f"{f.stall_writer_seconds * 1e3:.1f} ms; inserts on the loop "
            f"{f.stall_on_loop_seconds * 1e3:.1f} ms (for contrast); the timer alone, as long "
            f"as the writer ran: {f.stall_idle_seconds * 1e3:.1f} ms (machine load)",
        ]
    )
