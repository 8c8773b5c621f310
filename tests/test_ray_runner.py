"""`prover bench --ray` on a local Ray instance: 8 theorems, two environment workers, one store."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_bench_standins import make_standins

from benchmarks.ray_runner import actor_counts
from prover.config import load_config
from prover.errors import InputError

pytest.importorskip("ray", reason="ray is not installed (pip install 'prover[ray]')")


@pytest.mark.ray
def test_eight_theorems_on_a_local_ray_instance(tmp_path: Path, package_data: Path) -> None:
    standins = make_standins(tmp_path / "s", package_data, provable=6, unprovable=1, missing=1)
    assert len(standins.names) == 8
    home = tmp_path / "home"
    args = [
        *standins.args(),
        "--run",
        "on-ray",
        "--ray",
        "--concurrency",
        "2",
        "--display",
        "plain",
    ]
    # A 2-core machine: one generator actor (1 CPU) and two workers of half a CPU each.
    args += ["--set", "bench.ray_workers=2", "--set", "bench.ray_worker_cpus=0.5"]
    env = {**os.environ, "PROVER_HOME": str(home), "RAY_DEDUP_LOGS": "0"}
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "prover.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    elapsed = time.monotonic() - start
    assert done.returncode == 0, done.stderr[-3000:]
    assert "2 environment worker(s) × 2 in flight" in done.stderr
    db = sqlite3.connect(home / "results.sqlite")
    rows = db.execute(
        "SELECT a.theorem, a.status, a.worker FROM attempts a JOIN runs r ON r.id = a.run_id "
        "WHERE r.name = 'on-ray'"
    ).fetchall()
    run_status = db.execute("SELECT status FROM runs WHERE name = 'on-ray'").fetchone()[0]
    db.close()
    assert sorted(r[0] for r in rows) == sorted(standins.names)  # each exactly once
    status = {r[0]: r[1] for r in rows}
    assert {n for n, s in status.items() if s == "proved"} == standins.provable
    assert {n for n, s in status.items() if s == "failed"} == standins.unprovable
    assert {n for n, s in status.items() if s == "error"} == standins.missing
    assert len({r[2] for r in rows}) == 2  # both workers (host:pid) took theorems
    assert run_status == "finished"
    print(f"ray run of 8 theorems: {elapsed:.1f}s including Ray start-up")


def test_cluster_sizing() -> None:
    config = load_config(None, {})
    assert actor_counts(config, {"CPU": 8.0}) == (1, False, 7)
    assert actor_counts(config, {"CPU": 64.0, "GPU": 4.0}) == (4, True, 60)
    small = load_config(None, {"bench.ray_workers": 3, "bench.ray_generators": 2})
    assert actor_counts(small, {"CPU": 2.0, "GPU": 2.0}) == (2, True, 3)
    with pytest.raises(InputError, match="one generator per GPU"):
        actor_counts(small, {"CPU": 2.0, "GPU": 1.0})
