"""The results store: WAL, one row per (run, theorem, attempt), round trips, `prover runs`."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.store import Store, StoreError
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


def test_the_attempts_table_is_the_attempt_row(tmp_path: Path) -> None:
    """The columns are AttemptRow's fields (written once), with NOT NULL where a field is
    not optional; a row written before `details` was required (NULL) still reads."""
    import dataclasses

    from benchmarks.store import AttemptRow

    with Store(tmp_path / "s.sqlite") as store:
        run_id = _new_run(store)
        store.record(run_id, "t", 0, _result("t"), split=None, category=None, worker=None)
    db = sqlite3.connect(tmp_path / "s.sqlite")
    columns = {r[1]: bool(r[3]) for r in db.execute("PRAGMA table_info(attempts)")}
    fields = [f.name for f in dataclasses.fields(AttemptRow) if f.name not in ("id", "run")]
    assert list(columns) == ["id", "run_id", *fields]
    assert columns["proof"] is False and columns["steps"] is True and columns["theorem"] is True
    db.execute("PRAGMA writable_schema = ON")  # an older store: details nullable and NULL
    db.execute(
        "UPDATE sqlite_master SET sql = replace(sql, 'details TEXT NOT NULL', "
        "'details TEXT') WHERE name = 'attempts'"
    )
    db.commit()
    db.close()
    db = sqlite3.connect(tmp_path / "s.sqlite")
    db.execute("UPDATE attempts SET details = NULL")
    db.commit()
    db.close()
    with Store(tmp_path / "s.sqlite", readonly=True) as store:
        (row,) = store.attempts(store.require_run("r"))
    assert (row.details, row.steps, row.split) == ({}, ("norm_num",), None)


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
    with pytest.raises(StoreError, match="newer prover"):
        Store(path)


def _digest(path: Path) -> bytes:
    return path.read_bytes()


def _stored(home: Path) -> Path:
    """A store with one finished run under `home`, closed (no writer left)."""
    with Store.at_home(home) as store:
        run_id = _new_run(store, "done")
        store.record(run_id, "a", 0, _result("a"))
        store.record(run_id, "b", 0, _result("b", Status.ERROR, error="server down"))
        store.mark(run_id, "finished")
    return home / "results.sqlite"


def test_reading_an_empty_home_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    assert main(["runs", "--store", str(home)]) == 0
    assert "no runs in" in capsys.readouterr().out
    assert main(["runs", "--store", str(home), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["report", "x", "--store", str(home)]) == 2
    assert "the store has no runs yet" in capsys.readouterr().err
    assert main(["runs", "--export", "x", "-", "--store", str(home)]) == 2
    assert not home.exists()
    home.mkdir()
    assert main(["runs", "--store", str(home)]) == 0
    assert list(home.iterdir()) == []
    (home / "results.sqlite").touch()  # an empty file is an empty store, and stays empty
    assert main(["runs", "--store", str(home)]) == 0
    assert "no runs in" in capsys.readouterr().out
    assert (home / "results.sqlite").read_bytes() == b""


def test_read_only_commands_leave_the_store_file_byte_identical(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _stored(tmp_path)
    before = _digest(path)
    home = str(tmp_path)
    for argv in (
        ["runs", "--store", home],
        ["runs", "--store", home, "--json"],
        ["runs", "--store", home, "--export", "done", "-", "--trees"],
        ["report", "done", "--store", home, "--format", "json"],
        ["report", "done", "--store", home],
    ):
        assert main(argv) == 0, argv
    assert _digest(path) == before
    with Store(path, readonly=True) as store, pytest.raises(StoreError, match="opened read-only"):
        store.mark(store.require_run("done").id, "interrupted")
    assert _digest(path) == before


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap for a read-only mount")
def test_commands_read_a_store_on_a_read_only_mount(tmp_path: Path) -> None:
    # As root, file modes do not stop writes; a read-only bind mount does.
    home = tmp_path / "home"
    _stored(home)
    before = _digest(home / "results.sqlite")
    sandbox = ["bwrap", "--bind", "/", "/", "--ro-bind", str(home), str(home)]
    sandbox += ["--dev", "/dev", "--proc", "/proc", "--die-with-parent"]
    cli = [sys.executable, "-m", "prover.cli"]
    for args, expect in (
        (["runs", "--store", str(home)], "done"),
        (["report", "done", "--store", str(home)], " report\n\nCounting:"),
        (["runs", "--delete", "done", "--store", str(home)], "read-only"),
    ):
        proc = subprocess.run(
            [*sandbox, *cli, *args], capture_output=True, text=True, timeout=120, check=False
        )
        output = proc.stdout + proc.stderr
        assert expect in output, (args, output)
        assert "internal error" not in output and "Traceback" not in output
        assert proc.returncode == (2 if "--delete" in args else 0), output
    assert _digest(home / "results.sqlite") == before


def test_a_file_that_is_not_our_store_is_refused_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    db = sqlite3.connect(foreign / "results.sqlite")
    db.execute("CREATE TABLE notes (text TEXT)")
    db.execute("INSERT INTO notes VALUES ('mine')")
    db.commit()
    db.close()
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "results.sqlite").write_bytes(b"not a database at all\n" * 300)
    for home, fragment in ((foreign, "not a prover results store"), (junk, "not an SQLite file")):
        before = _digest(home / "results.sqlite")
        for argv in (
            ["runs", "--store", str(home)],
            ["report", "x", "--store", str(home)],
            ["runs", "--delete", "x", "--store", str(home)],
        ):
            assert main(argv) == 2, argv
            err = capsys.readouterr().err
            assert fragment in err and str(home / "results.sqlite") in err
            assert len(err.strip().splitlines()) == 1 and "internal error" not in err
        with pytest.raises(StoreError, match=fragment):
            Store.at_home(home)  # the writable open refuses too, before writing anything
        assert _digest(home / "results.sqlite") == before
        assert sorted(p.name for p in home.iterdir()) == ["results.sqlite"]


def test_a_full_disk_is_one_line_naming_the_store(tmp_path: Path) -> None:
    with Store.at_home(tmp_path) as store:
        run_id = _new_run(store)
        # SQLite's own "database or disk is full", from a page limit instead of a real disk.
        store._db.execute("PRAGMA max_page_count = 1")
        big = _result("big", details={"blob": "x" * 200_000})
        with pytest.raises(StoreError) as err:
            store.record(run_id, "big", 0, big)
    message = str(err.value)
    assert str(tmp_path / "results.sqlite") in message and "disk is full" in message
    assert "free some space" in message and "\n" not in message


def test_malformed_pages_are_one_line_naming_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _stored(tmp_path)
    raw = bytearray(path.read_bytes())
    page = 4096
    raw[page : len(raw)] = b"\xa5" * (len(raw) - page)  # every page after the header, garbage
    path.write_bytes(bytes(raw))
    for argv in (["runs", "--store", str(tmp_path)], ["report", "done", "--store", str(tmp_path)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert str(path) in err and "malformed" in err, err
        assert len(err.strip().splitlines()) == 1 and "internal error" not in err


def test_a_run_being_written_is_not_deleted_and_a_deleted_run_stops_its_writer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Store.at_home(tmp_path) as writer:
        run_id = _new_run(writer, "live")  # state running, owned by this (live) process
        writer.record(run_id, "a", 0, _result("a"))
        assert main(["runs", "--delete", "live", "--store", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert "is being written right now" in err and f"pid {writer.run('live').pid}" in err
        assert writer.require_run("live").done == 1
        # Deleted behind the runner's back (another tool): its next record says so, one line.
        other = sqlite3.connect(writer.path)
        other.execute("PRAGMA foreign_keys=ON")
        other.execute("DELETE FROM runs WHERE name = 'live'")
        other.commit()
        other.close()
        with pytest.raises(StoreError, match="deleted while it was being written"):
            writer.record(run_id, "b", 0, _result("b"))


def test_runs_companion_options_are_required_or_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _stored(tmp_path)
    before = _digest(path)
    home = str(tmp_path)
    for argv, fragment in (
        (["runs", "--trees"], "--trees goes with --export"),
        (["runs", "--delete", "done", "--export", "done", "x.jsonl"], "either --export or"),
        (["runs", "--force"], "--force goes with --delete"),
        (["runs", "--export", "done", str(tmp_path)], "is a directory"),
        (["runs", "--export", "done", str(tmp_path / "no" / "x.jsonl")], "does not exist"),
        (["runs", "--export", "done", "/dev/full"], "the disk is full"),
    ):
        assert main([*argv, "--store", home]) == 2, argv
        err = capsys.readouterr().err
        assert fragment in err and len(err.strip().splitlines()) == 1, err
    assert _digest(path) == before
    assert main(["runs", "--store", home, "--json", "--trees"]) == 2
    out, err = capsys.readouterr()
    assert json.loads(out) == {"error": err.strip().removeprefix("prover: error: "), "exit_code": 2}


def test_a_store_path_that_is_a_file_or_holds_a_directory(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(StoreError, match="is a file, not a directory"):
        Store.at_home(afile, readonly=True)
    (tmp_path / "d" / "results.sqlite").mkdir(parents=True)
    with pytest.raises(StoreError, match="is a directory, not a file"):
        Store.at_home(tmp_path / "d")
