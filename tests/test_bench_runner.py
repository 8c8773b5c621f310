"""`prover bench`: a 40-theorem run at concurrency 8, SIGKILL + --resume, Ctrl-C, selection.

Runs use the replay environment and the scripted generator (stand-ins replaying Llemma's real
Lean states; see test_bench_standins.py). Nothing here is Lean: replay proofs are `unchecked`.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_bench_standins import Standins, make_standins, slow_prover

from benchmarks.runner import parse_shard, select, shard
from prover.cli import main
from prover.errors import InputError
from prover.testing import ScriptedGenerator
from prover.types import Theorem


@pytest.fixture(scope="module")
def standins(tmp_path_factory: pytest.TempPathFactory, package_data: Path) -> Standins:
    out = tmp_path_factory.mktemp("standins")
    return make_standins(out, package_data, provable=30, unprovable=4, missing=6)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    monkeypatch.setenv("PROVER_HOME", str(path))
    return path


def _rows(home: Path, run: str) -> list[sqlite3.Row]:
    db = sqlite3.connect(home / "results.sqlite")
    db.row_factory = sqlite3.Row
    try:
        return db.execute(
            "SELECT a.* FROM attempts a JOIN runs r ON r.id = a.run_id WHERE r.name = ? "
            "ORDER BY a.id",
            (run,),
        ).fetchall()
    finally:
        db.close()


def _proved(home: Path, run: str) -> int:
    path = home / "results.sqlite"
    if not path.exists():
        return 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        row = db.execute(
            "SELECT COUNT(a.id) FROM runs r JOIN attempts a ON a.run_id = r.id "
            "WHERE r.name = ? AND a.status = 'proved'",
            (run,),
        ).fetchone()
        return int(row[0]) if row else 0
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()


def _wait_for(predicate, deadline_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    """Poll `predicate` until it holds or the deadline passes (no fixed sleeps)."""
    deadline = time.monotonic() + deadline_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)  # polling interval, not a wait for the condition itself


@pytest.fixture
def inflight(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """Track generate calls in flight (with a small simulated latency) across the run."""
    seen = {"now": 0, "max": 0, "calls": 0}
    original = ScriptedGenerator.generate

    async def tracked(self, prompt, n, params=None):  # type: ignore[no-untyped-def]
        seen["now"] += 1
        seen["calls"] += 1
        seen["max"] = max(seen["max"], seen["now"])
        try:
            await asyncio.sleep(0.01)  # simulated model latency so searches overlap
            return await original(self, prompt, n, params)
        finally:
            seen["now"] -= 1

    monkeypatch.setattr(ScriptedGenerator, "generate", tracked)
    yield seen


def test_forty_theorems_at_concurrency_eight(
    standins: Standins, home: Path, inflight: dict[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([*standins.args(), "--concurrency", "8", "--run", "forty", "--display", "plain"])
    assert code == 0
    rows = _rows(home, "forty")
    names = [r["theorem"] for r in rows]
    assert sorted(names) == sorted(standins.names)  # each theorem exactly once
    status = {r["theorem"]: r["status"] for r in rows}
    assert {n for n, s in status.items() if s == "proved"} == standins.provable
    assert {n for n, s in status.items() if s == "failed"} == standins.unprovable
    assert {n for n, s in status.items() if s == "error"} == standins.missing
    errors = {r["theorem"]: r["error"] for r in rows if r["status"] == "error"}
    assert all("not in the replay trace" in e for e in errors.values())
    proved = [r for r in rows if r["status"] == "proved"]
    assert all(r["verified"] == 0 and r["verified_by"] == "replay" for r in proved)
    assert all(r["proof"] for r in proved)
    # Eight searches really overlapped on the one shared generator, never more.
    assert inflight["max"] == 8
    out = capsys.readouterr()
    assert "[40/40]" in out.err and "pass" in out.err
    assert "run forty: 40 attempts recorded" in out.out
    db = sqlite3.connect(home / "results.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    run = db.execute(
        "SELECT status, config, versions, planned FROM runs WHERE name='forty'"
    ).fetchone()
    db.close()
    assert run[0] == "finished" and run[3] == 40
    config, versions = json.loads(run[1]), json.loads(run[2])
    assert config["bench"]["concurrency"] == 8 and config["environment"] == "replay"
    assert versions["dataset"]["sha256"] == versions["dataset"]["pinned_sha256"]
    assert versions["toolchain"]["trace_sha256"]
    assert versions["model"]["spec"].startswith("scripted:")
    assert versions["code"]["prover"]


def test_killed_run_resumes_with_every_theorem_exactly_once(
    standins: Standins, home: Path, tmp_path: Path
) -> None:
    argv = [*slow_prover(tmp_path), *standins.args(), "--concurrency", "8", "--run", "killed"]
    env = {**os.environ, "PROVER_HOME": str(home), "SLOW_GENERATE_SECONDS": "0.15"}
    proc = subprocess.Popen(
        [*argv, "--display", "none"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        # Errors (theorems missing from the trace) are instant; wait for real searches too.
        _wait_for(lambda: _proved(home, "killed") >= 3, 90, "some proofs to be stored")
        proc.kill()  # SIGKILL: no cleanup of any kind in the runner
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    before = {r["theorem"]: (r["id"], r["finished"]) for r in _rows(home, "killed")}
    assert len(before) < 40, "the kill must land mid-run"
    assert sum(r["status"] == "proved" for r in _rows(home, "killed")) >= 3

    code = main(["bench", "--resume", "killed", "--display", "none"])
    assert code == 0
    rows = _rows(home, "killed")
    assert len(rows) == 40
    assert sorted(r["theorem"] for r in rows) == sorted(standins.names)
    after = {r["theorem"]: (r["id"], r["finished"]) for r in rows}
    assert all(after[name] == before[name] for name in before)  # nothing finished was redone
    assert main(["bench", "--resume", "killed", "--display", "none"]) == 0  # nothing left
    assert len(_rows(home, "killed")) == 40

    # The report agrees with the store.
    report_file = tmp_path / "report.json"
    args = ["report", "killed", "--format", "json", "--include-unverified"]
    assert main([*args, "--out", str(report_file)]) == 0
    report = json.loads(report_file.read_text(encoding="utf-8"))["runs"][0]
    statuses: dict[str, int] = {}
    for r in rows:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    assert report["statuses"] == statuses
    assert report["solved"] == statuses["proved"] == len(standins.provable)
    assert report["theorems"] == 40 and report["finished_attempts"] == 40
    assert report["pass_rate"]["successes"] == 30 and report["pass_rate"]["total"] == 40
    assert report["state"] == "finished"
    assert {n for n, r in report["results"].items() if r["status"] == "proved"} == {
        r["theorem"] for r in rows if r["status"] == "proved"
    }
    tokens = sum(r["tokens"] for r in rows)
    assert report["totals"]["tokens"] == tokens > 0
    # Counting only whole-proof-checked proofs, replay proofs do not count.
    strict = tmp_path / "strict.json"
    assert main(["report", "killed", "--format", "json", "--out", str(strict)]) == 0
    strict_run = json.loads(strict.read_text(encoding="utf-8"))["runs"][0]
    assert strict_run["solved"] == 0 and strict_run["unchecked_proofs"] == 30


def test_ctrl_c_stops_cleanly_and_keeps_what_finished(
    standins: Standins, home: Path, tmp_path: Path
) -> None:
    argv = [*slow_prover(tmp_path), *standins.args(), "--concurrency", "4", "--run", "stopped"]
    env = {**os.environ, "PROVER_HOME": str(home), "SLOW_GENERATE_SECONDS": "0.15"}
    proc = subprocess.Popen(
        [*argv, "--display", "plain"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(lambda: _proved(home, "stopped") >= 2, 90, "some proofs to be stored")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == 130, err
    assert "stopping" in err and "--resume stopped" in err
    db = sqlite3.connect(home / "results.sqlite")
    status = db.execute("SELECT status FROM runs WHERE name = 'stopped'").fetchone()[0]
    db.close()
    assert status == "interrupted"
    kept = len(_rows(home, "stopped"))
    assert kept < 40
    assert f"{kept}/40 stored" in out
    assert main(["bench", "--resume", "stopped", "--display", "none"]) == 0
    assert sorted(r["theorem"] for r in _rows(home, "stopped")) == sorted(standins.names)


def test_attempts_give_pass_at_k_rows(standins: Standins, home: Path, tmp_path: Path) -> None:
    names = sorted(standins.provable)[:2] + sorted(standins.unprovable)[:1]
    args = [*standins.args(), "--names", ",".join(names), "--attempts", "3", "--run", "k3"]
    assert main([*args, "--display", "none"]) == 0
    rows = _rows(home, "k3")
    assert sorted((r["theorem"], r["attempt"]) for r in rows) == sorted(
        (n, a) for n in names for a in range(3)
    )
    out = tmp_path / "k3.json"
    cmd = ["report", "k3", "--format", "json", "--include-unverified", "--out", str(out)]
    assert main(cmd) == 0
    report = json.loads(out.read_text(encoding="utf-8"))["runs"][0]
    assert report["pass_at_k"] == {
        "1": pytest.approx(2 / 3),
        "2": pytest.approx(2 / 3),
        "3": pytest.approx(2 / 3),
    }


def test_shard_limit_and_list(
    standins: Standins, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [*standins.args(), "--limit", "10", "--run", "sharded", "--display", "none"]
    assert main([*args, "--shard", "0/2", "--list"]) == 0
    listed = capsys.readouterr().out
    assert "new run sharded: 10 theorems" in listed and "shard 0/2" in listed
    shard0 = [
        line.split()[0] for line in listed.splitlines() if line.startswith("  ") and "[" in line
    ]
    assert shard0 == list(standins.names[:10:2])
    assert main([*args, "--shard", "0/2"]) == 0
    assert sorted(r["theorem"] for r in _rows(home, "sharded")) == sorted(shard0)
    db = sqlite3.connect(home / "results.sqlite")
    assert db.execute("SELECT status FROM runs WHERE name='sharded'").fetchone()[0] == "incomplete"
    db.close()
    # The second shard joins the same run (same configuration) and completes it.
    assert main([*args, "--shard", "1/2"]) == 0
    assert sorted(r["theorem"] for r in _rows(home, "sharded")) == sorted(standins.names[:10])
    db = sqlite3.connect(home / "results.sqlite")
    assert db.execute("SELECT status FROM runs WHERE name='sharded'").fetchone()[0] == "finished"
    db.close()


def test_resume_refuses_a_changed_configuration(
    standins: Standins, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [*standins.args(), "--limit", "2", "--run", "fixed", "--display", "none"]
    assert main(args) == 0
    capsys.readouterr()
    assert main(["bench", "--resume", "fixed", "--samples", "4"]) == 2
    err = capsys.readouterr().err
    assert "search.samples" in err and len(err.strip().splitlines()) == 1
    assert main([*args[:-4], "--limit", "3", "--run", "fixed"]) == 2  # same name, other config
    assert "--resume fixed" in capsys.readouterr().err
    assert main(["bench", "--resume", "fixed", "--concurrency", "2"]) == 0  # operational: fine
    assert main(["bench", "--resume", "nosuchrun"]) == 2


def test_selection_helpers() -> None:
    theorems = [Theorem(name=f"t{i}", statement=f"theorem t{i} : True := by") for i in range(7)]
    assert [t.name for t in select(theorems, ["t5", "t1"], 0)] == ["t1", "t5"]
    assert [t.name for t in select(theorems, [], 3)] == ["t0", "t1", "t2"]
    assert [t.name for t in shard(theorems, "1/3")] == ["t1", "t4"]
    assert parse_shard("") is None
    for bad in ("3/3", "x/2", "1", "-1/2", "0/0"):
        with pytest.raises(InputError, match="bad shard"):
            parse_shard(bad)
    with pytest.raises(InputError, match="did you mean 't1'"):
        select(theorems, ["t1x"], 0)


async def test_attempt_many_bounds_hung_backends_and_records_faults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prover.run import Components, attempt_many
    from prover.types import Budget, Status

    class Environment:
        name = "faulty"

        async def open(self, theorem: Theorem) -> object:
            if theorem.name == "hangs":
                await asyncio.Event().wait()  # never returns: a hung backend
            raise KeyError(theorem.name)  # a plug-in bug, not one of the expected errors

        async def close(self) -> None:
            return None

    # Shrink the hard limit (wall budget + 900 s grace) so the test sees it fire.
    wait_for = asyncio.wait_for
    monkeypatch.setattr(asyncio, "wait_for", lambda aw, timeout: wait_for(aw, 0.2))
    parts = Components(Environment(), ScriptedGenerator({}), None)  # type: ignore[arg-type]
    seen: list[str] = []
    theorems = [Theorem(name=n, statement=f"theorem {n} : True := by") for n in ("hangs", "bug")]
    results = await attempt_many(
        theorems, parts, Budget(wall_seconds=1.0), 2, lambda t, r: seen.append(t.name)
    )
    assert [r.status for r in results] == [Status.TIMEOUT, Status.ERROR]
    assert "hard wall limit" in (results[0].error or "")
    assert results[1].error == "KeyError: 'bug'"
    assert sorted(seen) == ["bug", "hangs"]
