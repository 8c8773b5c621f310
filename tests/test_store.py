"""The results store: WAL, one row per (run, theorem, attempt), round trips, `prover runs`."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.store import Store
from prover.cli import main
from prover.errors import InputError
from prover.types import SearchResult, SearchStats, Status

TREE = {
    "nodes": [{"id": 0, "kind": "state", "goals": "⊢ 1 + 1 = 2"}, {"id": 1, "kind": "finished"}],
    "edges": [{"source": 0, "target": 1, "tactic": "norm_num", "score": -0.1}],
}


def _result(name: str, status: Status = Status.PROVED, **extra: object) -> SearchResult:
    stats = SearchStats(
        model_seconds=1.5,
        env_seconds=0.25,
        search_seconds=0.125,
        total_seconds=1.875,
        expansions=3,
        tactics_run=7,
        model_calls=3,
        candidates=21,
        tokens=84,
        failures={"error": 6},
        stop_reason="proved" if status is Status.PROVED else "exhausted",
    )
    proved = status is Status.PROVED
    return SearchResult(
        theorem=name,
        status=status,
        proof="norm_num" if proved else None,
        steps=("norm_num",) if proved else (),
        verified=proved,
        verified_by="lean-repl" if proved else None,
        stats=stats,
        tree=TREE,
        **extra,  # type: ignore[arg-type]
    )


def _new_run(store: Store, name: str = "r", planned: int = 3) -> int:
    info = store.create_run(
        name,
        benchmark="minif2f-lean4",
        split="test",
        planned=planned,
        attempts_per_theorem=1,
        config={"model": "scripted:x", "environment": "replay", "bench": {"concurrency": 2}},
        versions={"dataset": {"sha256": "abc"}},
    )
    return info.id


def test_wal_and_attempt_round_trip(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as store:
        assert store.journal_mode == "wal"
        run_id = _new_run(store)
        assert store.record(
            run_id,
            "mathd_algebra_10",
            0,
            _result("mathd_algebra_10"),
            split="test",
            category="mathd_algebra",
            worker="w1",
        )
        info = store.require_run("r")
        assert (info.done, info.proved, info.verified, info.state) == (1, 1, 1, "running")
        (row,) = store.attempts(info)
        assert (row.theorem, row.attempt, row.split, row.category) == (
            "mathd_algebra_10",
            0,
            "test",
            "mathd_algebra",
        )
        assert (row.status, row.proof, row.steps, row.verified, row.verified_by) == (
            "proved",
            "norm_num",
            ("norm_num",),
            True,
            "lean-repl",
        )
        assert (row.model_seconds, row.env_seconds, row.search_seconds, row.total_seconds) == (
            1.5,
            0.25,
            0.125,
            1.875,
        )
        assert (row.expansions, row.tactics_run, row.model_calls, row.candidates, row.tokens) == (
            3,
            7,
            3,
            21,
            84,
        )
        assert row.failures == {"error": 6} and row.stop_reason == "proved"
        assert row.worker == "w1"
        assert store.tree(row.id) == TREE
        assert info.config["bench"]["concurrency"] == 2


def test_an_attempt_is_never_recorded_twice(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as store:
        run_id = _new_run(store)
        assert store.record(run_id, "a", 0, _result("a"))
        failed = _result("a", Status.FAILED)
        assert not store.record(run_id, "a", 0, failed)  # same key: ignored, first result kept
        assert store.record(run_id, "a", 1, failed)  # another attempt index is a new row
        rows = store.attempts(store.require_run("r"))
        assert [(r.attempt, r.status) for r in rows] == [(0, "proved"), (1, "failed")]
        assert store.finished(run_id) == {("a", 0), ("a", 1)}
        with pytest.raises(InputError, match=r"already exists.*--resume r"):
            _new_run(store)


def test_a_reader_sees_each_commit_while_the_writer_is_open(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with Store(path) as store:
        run_id = _new_run(store)
        reader = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        for i in range(3):
            store.record(run_id, f"t{i}", 0, _result(f"t{i}"))
            assert reader.execute("SELECT COUNT(*) FROM attempts").fetchone()[0] == i + 1
        reader.close()


def test_a_run_whose_process_died_shows_as_stopped(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    code = (
        "import sys; from benchmarks.store import Store; s = Store(sys.argv[1]); "
        "s.create_run('dead', benchmark='b', split='test', planned=1, attempts_per_theorem=1, "
        "config={}, versions={})"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, timeout=60)
    with Store(path) as store:
        info = store.require_run("dead")
        assert info.status == "running" and info.state == "stopped"
        store.mark(info.id, "interrupted")
        assert store.require_run("dead").state == "interrupted"


def test_export_jsonl_and_runs_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PROVER_HOME", str(tmp_path))
    with Store.at_home(tmp_path) as store:
        run_id = _new_run(store, "exported")
        store.record(run_id, "a", 0, _result("a"))
        store.record(run_id, "b", 0, _result("b", Status.ERROR, error="open failed: boom"))
        store.mark(run_id, "finished")
    out = tmp_path / "x.jsonl"
    assert main(["runs", "--export", "exported", str(out), "--trees"]) == 0
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert lines[0]["type"] == "run" and lines[0]["name"] == "exported"
    assert lines[0]["config"]["model"] == "scripted:x" and lines[0]["status"] == "finished"
    attempts = {line["theorem"]: line for line in lines[1:]}
    assert set(attempts) == {"a", "b"}
    assert attempts["a"]["proof"] == "norm_num" and attempts["a"]["tree"] == TREE
    assert attempts["b"]["error"] == "open failed: boom" and attempts["b"]["status"] == "error"
    assert attempts["a"]["seconds"]["model"] == 1.5
    capsys.readouterr()
    assert main(["runs"]) == 0
    listing = capsys.readouterr().out
    assert "exported" in listing and "finished" in listing and "2/3" in listing
    assert main(["runs", "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert (entry["name"], entry["done"], entry["planned"], entry["verified"]) == (
        "exported",
        2,
        3,
        1,
    )
    assert main(["runs", "--export", "nope", str(out)]) == 2
    assert "no run named 'nope'" in capsys.readouterr().err
    assert main(["runs", "--delete", "exported"]) == 0
    with Store.at_home(tmp_path) as store:
        assert store.runs() == []
        assert sqlite3.connect(store.path).execute("SELECT COUNT(*) FROM trees").fetchone()[0] == 0


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version=99")
    db.commit()
    db.close()
    with pytest.raises(InputError, match="newer prover"):
        Store(path)
