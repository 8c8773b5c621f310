"""Compressed search trees, the store's writer thread, and the report's size (benchmarks/perf)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from benchmarks.html_report import tree_page
from benchmarks.perf.storage import (
    REPORT_TARGET_BYTES,
    STALL_TARGET_SECONDS,
    TREE_TARGET_BYTES,
    _result,
    _stalls,
    measure_storage,
)
from benchmarks.perf.trees import synthetic_tree
from benchmarks.store import Store, StoreError, StoreWriter, decode_tree, encode_tree


@pytest.fixture(scope="module")
def tree() -> dict[str, object]:
    return synthetic_tree(3)


def _run(store: Store, name: str = "r") -> int:
    info = store.create_run(
        name,
        benchmark="b",
        split="test",
        planned=2,
        attempts_per_theorem=1,
        config={},
        versions={},
    )
    return info.id


def test_a_full_tree_is_stored_compressed_and_read_back_unchanged(
    tree: dict[str, object], tmp_path: Path
) -> None:
    assert len(tree["nodes"]) == 3201 and len(tree["edges"]) == 3200  # type: ignore[arg-type]
    raw = len(json.dumps(tree, ensure_ascii=False).encode())
    with Store(tmp_path / "s.sqlite") as store:
        run = _run(store)
        assert store.record(run, "t", 0, _result("t", 0, tree))
        (attempt,) = store.attempts(store.require_run("r"))
        stored = store._db.execute("SELECT tree FROM trees").fetchone()[0]
        assert isinstance(stored, bytes) and len(stored) <= TREE_TARGET_BYTES < raw
        assert store.tree(attempt.id) == json.loads(json.dumps(tree, ensure_ascii=False))


def test_a_plain_json_tree_from_an_older_store_still_reads(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as store:
        run = _run(store)
        store.record(run, "t", 0, _result("t", 0, None))
        (attempt,) = store.attempts(store.require_run("r"))
        store._db.execute(
            "INSERT INTO trees (attempt_id, tree) VALUES (?, ?)",
            (attempt.id, json.dumps({"nodes": [{"id": 0}], "edges": []})),
        )
        assert store.tree(attempt.id) == {"nodes": [{"id": 0}], "edges": []}
    assert decode_tree(encode_tree({"nodes": [], "edges": [], "x": 1})) == {
        "nodes": [],
        "edges": [],
        "x": 1,
    }


def test_the_writer_commits_off_the_loop_and_reports_errors(
    tree: dict[str, object], tmp_path: Path
) -> None:
    path = tmp_path / "s.sqlite"

    async def main() -> tuple[bool, bool]:
        with Store(path) as store:
            run = _run(store)
        writer = StoreWriter(path)
        try:
            first = await writer.record(run, "t", 0, _result("t", 0, tree))
            again = await writer.record(run, "t", 0, _result("t", 0, tree))
            with pytest.raises(StoreError, match="deleted"):  # no such run: the caller sees it
                await writer.record(run + 99, "t", 0, _result("t", 0, None))
        finally:
            writer.close()
        return first, again

    first, again = asyncio.run(main())
    assert (first, again) == (True, False)
    with Store(path) as store:
        (attempt,) = store.attempts(store.require_run("r"))
        assert store.tree(attempt.id) is not None


def test_no_event_loop_stall_over_50_ms_from_the_store(tmp_path: Path) -> None:
    """Best of three: on a loaded machine the OS alone can hold the loop's thread back (the
    figures keep the timer's stall with nothing running, for comparison)."""
    results = [_result(f"t{i}", i, synthetic_tree(i)) for i in range(6)]
    measured = [
        asyncio.run(_stalls(tmp_path / f"s{attempt}.sqlite", results)) for attempt in range(3)
    ]
    best = min(with_writer for with_writer, _, _ in measured)
    assert best <= STALL_TARGET_SECONDS, measured
    assert all(on_loop > STALL_TARGET_SECONDS for _, on_loop, _ in measured)  # the old way


@pytest.mark.timeout(900)
def test_a_244_theorem_report_with_full_trees_stays_under_10_mb() -> None:
    figures = measure_storage(244, stall_inserts=4)
    assert figures.report_theorems == 244
    assert figures.report_bytes <= REPORT_TARGET_BYTES
    assert figures.tree_pages_bytes > figures.report_bytes  # the whole trees went to their pages
    assert figures.tree_stored_bytes <= TREE_TARGET_BYTES


_DOM_STUB = """
class Node {
  constructor(tag) { this.tag = tag; this.children = []; this.className = "";
                     this._text = ""; }
  set textContent(t) { this._text = t; this.children = []; }
  get textContent() { return this._text + this.children.map(c =>
      typeof c === "string" ? c : c.textContent).join(""); }
  append(...xs) { this.children.push(...xs); }
  count(cls) { return (this.className === cls ? 1 : 0) + this.children.reduce(
      (n, c) => n + (typeof c === "string" ? 0 : c.count(cls)), 0); }
}
const fs = require("fs");
const html = fs.readFileSync(process.argv[2], "utf8");
const data = html.match(/<script id="data" type="text\\/plain">([^<]*)<\\/script>/)[1];
const script = html.match(/<script>([\\s\\S]*)<\\/script>/)[1];
const tree = new Node("div");
globalThis.document = {
  getElementById: id => id === "data" ? { textContent: data } : tree,
  createElement: tag => new Node(tag),
};
eval(script);
setTimeout(() => console.log(JSON.stringify({
  failed: tree.count("leaf-failed"), goals: tree.count("goals"), text: tree.textContent,
})), 500);
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run the page's script")
def test_a_tree_page_renders_every_edge_of_the_tree(
    tree: dict[str, object], tmp_path: Path
) -> None:
    page = tmp_path / "tree.html"
    page.write_text(tree_page("t: search tree", tree), encoding="utf-8")
    assert len(page.read_bytes()) < 250_000
    stub = tmp_path / "render.js"
    stub.write_text(_DOM_STUB, encoding="utf-8")
    done = subprocess.run(
        ["node", str(stub), str(page)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    shown = json.loads(done.stdout)
    nodes = tree["nodes"]
    failed = sum(1 for n in nodes if n["kind"] == "failed")  # type: ignore[index,union-attr]
    states = sum(1 for n in nodes if n["kind"] == "state")  # type: ignore[index,union-attr]
    assert shown["failed"] == failed and shown["goals"] == states
    assert "cannot show the tree" not in shown["text"]
