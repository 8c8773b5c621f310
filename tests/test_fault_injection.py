"""Fault injection: prover's lean-repl environment on a misbehaving stand-in REPL (not Lean).

Each case runs tests/standins/fault_runner.py — the runner — as a subprocess against
tests/standins/misbehaving_repl.py and checks the affected request's result kind, its wall time
(≤ timeout + 2 s), the runner's peak RSS (VmHWM from /proc, ≤ reply budget + 100 MB), and that no
process it started (REPLs, watchdogs) nor scratch directory nor ledger is left 5 s after it is
gone — after a normal exit and after `kill -9`.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from benchmarks.store import Store
from environments.lean.worker import ReplWorker, WorkerSettings
from prover.processes import ProcessId, ProcessTracker, descendants, is_running
from prover.types import SearchResult, SearchStats, Status

STANDINS = Path(__file__).parent / "standins"
BUDGET = 32 * 1024 * 1024  # the reply budget the runner gets
RSS_LIMIT = BUDGET + 100 * 1000 * 1000


@dataclass
class Outcome:
    steps: list[dict[str, object]]
    peak_rss: int  # bytes


def _wait_gone(procs: list[ProcessId], seconds: float) -> list[ProcessId]:
    """Wait (on each process's pidfd, not by sleeping) until `procs` exited; the survivors."""
    watched: dict[int, ProcessId] = {}
    for proc in procs:
        try:
            fd = os.pidfd_open(proc.pid)
        except ProcessLookupError:
            continue
        if is_running(proc):  # the pidfd is of this very process, not of a reused pid
            watched[fd] = proc
        else:
            os.close(fd)
    deadline = time.monotonic() + seconds
    try:
        while watched and (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select(list(watched), [], [], left)
            for fd in ready:
                watched.pop(fd)
                os.close(fd)
        return [proc for proc in watched.values() if is_running(proc)]
    finally:
        for fd in watched:
            os.close(fd)


def _peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM line")


def _read_until_ready(proc: subprocess.Popen[bytes], seconds: float) -> list[dict[str, object]]:
    """The runner's step records, up to its ready line (waiting on its stdout, with a deadline)."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + seconds
    records: list[dict[str, object]] = []
    pending = b""
    while True:
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            record = json.loads(line)
            if record.get("ready"):
                return records
            records.append(record)
        ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0))
        if not ready:
            raise AssertionError(f"the runner did not finish its steps in {seconds} s: {records}")
        data = os.read(fd, 65536)
        if not data:
            stderr = proc.stderr.read().decode() if proc.stderr else ""
            raise AssertionError(f"the runner ended early: {records}; {stderr[-2000:]}")
        pending += data


class Runner:
    """One runner subprocess with its own TMPDIR and PROVER_HOME."""

    def __init__(self, tmp_path: Path, steps: list[str], repl_options: list[str], timeout: float):
        self.tmp = tmp_path / "tmp"
        self.home = tmp_path / "home"
        self.log = tmp_path / "repl.log"
        project = tmp_path / "project"
        for path in (self.tmp, self.home, project):
            path.mkdir()
        repl = [sys.executable, str(STANDINS / "misbehaving_repl.py"), "--log", str(self.log)]
        argv = [
            sys.executable,
            str(STANDINS / "fault_runner.py"),
            "--repl",
            json.dumps([*repl, *repl_options]),
            "--project",
            str(project),
            "--budget",
            str(BUDGET),
            "--tactic-timeout",
            str(timeout),
            "--verify-timeout",
            str(timeout),
            *steps,
        ]
        env = {**os.environ, "TMPDIR": str(self.tmp), "PROVER_HOME": str(self.home)}
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=0,
            env=env,
        )

    def started(self) -> list[ProcessId]:
        """Every REPL process started (each logs its pid and start time)."""
        if not self.log.exists():
            return []
        return [ProcessId(**json.loads(line)) for line in self.log.read_text().splitlines()]

    def assert_nothing_left(self, children: list[ProcessId]) -> None:
        survivors = _wait_gone([*children, *self.started()], 5.0)
        assert survivors == [], f"still running 5 s after the runner: {survivors}"
        assert list(self.tmp.glob("prover-*")) == []  # scratch directories
        assert list((self.home / "live").glob("*")) == []  # ledgers


def run_faults(
    tmp_path: Path, steps: list[str], repl_options: list[str] = (), timeout: float = 5.0
) -> Outcome:
    """Run `steps`, measure the runner's peak RSS, end it normally, check nothing is left."""
    runner = Runner(tmp_path, steps, list(repl_options), timeout)
    try:
        records = _read_until_ready(runner.proc, 60.0 + len(steps) * (timeout + 5))
        peak = _peak_rss(runner.proc.pid)
        children = descendants(runner.proc.pid)
        assert runner.proc.stdin is not None
        runner.proc.stdin.close()
        code = runner.proc.wait(30)
        assert code == 0, runner.proc.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
    finally:
        if runner.proc.poll() is None:
            runner.proc.kill()
            runner.proc.wait()
    runner.assert_nothing_left(children)
    for record in records:
        if record["step"] not in ("wait-exit", "open"):
            assert float(record["seconds"]) <= timeout + 2.0, record
    assert peak <= RSS_LIMIT, f"peak RSS {peak / 1e6:.0f} MB"
    return Outcome(records, peak)


def _kinds(outcome: Outcome) -> list[object]:
    return [record["kind"] for record in outcome.steps]


def test_noise_ended_by_blank_lines_is_skipped_in_linear_time(tmp_path: Path) -> None:
    # 20,000 noise blocks whose lines open with `{` precede the reply (the old reader re-decoded
    # everything at each blank line: minutes).
    outcome = run_faults(tmp_path, ["tactic:fault_noise_blank 20000", "tactic:trivial"])
    assert _kinds(outcome) == ["state", "finished"]


def test_endless_noise_without_a_blank_line_crashes_one_request_within_the_budget(
    tmp_path: Path,
) -> None:
    outcome = run_faults(tmp_path, ["tactic:fault_noise_endless", "tactic:trivial"])
    assert _kinds(outcome) == ["crash", "finished"]  # the next request runs on a new process
    assert "without a blank line" in str(outcome.steps[0]["message"])


def test_endless_noise_in_blocks_times_out_on_time(tmp_path: Path) -> None:
    outcome = run_faults(tmp_path, ["tactic:fault_noise_forever", "tactic:trivial"], timeout=3.0)
    assert _kinds(outcome) == ["timeout", "finished"]


def test_a_100_mb_line_fails_its_request_not_the_session(tmp_path: Path) -> None:
    outcome = run_faults(tmp_path, ["tactic:fault_big_line 100", "tactic:trivial"])
    assert _kinds(outcome) == ["crash", "finished"]
    assert "reply budget is 32 MiB" in str(outcome.steps[0]["message"])


def test_a_gigabyte_of_stderr_costs_neither_memory_nor_the_reply(tmp_path: Path) -> None:
    outcome = run_faults(tmp_path, ["tactic:fault_stderr 1024", "tactic:trivial"], timeout=30.0)
    assert _kinds(outcome) == ["state", "finished"]


def test_death_between_requests_is_not_the_next_requests_fault(tmp_path: Path) -> None:
    outcome = run_faults(tmp_path, ["tactic:fault_exit_after", "wait-exit", "tactic:trivial"])
    assert _kinds(outcome) == ["state", "exited", "finished"]


def test_death_during_the_header_is_a_crash_with_its_stderr_and_no_memory_hint(
    tmp_path: Path,
) -> None:
    outcome = run_faults(tmp_path, [], ["--die-in-header"])
    (opened,) = outcome.steps
    assert opened["kind"] == "crash" and float(opened["seconds"]) <= 5.0 + 2.0
    assert "exited with code 9: stand-in: dying in the header" in str(opened["message"])
    assert "memory" not in str(opened["message"])


def test_a_hang_during_print_axioms_is_an_error_verdict_not_a_rejection(tmp_path: Path) -> None:
    outcome = run_faults(tmp_path, ["judge:trivial"], ["--hang-axioms"], timeout=3.0)
    assert _kinds(outcome) == ["error"]
    assert "timeout" in str(outcome.steps[0]["message"])


def test_kill_9_of_the_runner_leaves_no_process_and_no_scratch_dir(tmp_path: Path) -> None:
    runner = Runner(tmp_path, ["tactic:trivial"], [], 5.0)
    try:
        records = _read_until_ready(runner.proc, 60.0)
        assert [r["kind"] for r in records] == ["finished"]
        children = descendants(runner.proc.pid)
        assert len(runner.started()) >= 1 and list(runner.tmp.glob("prover-lean-*"))
        runner.proc.send_signal(signal.SIGKILL)
        assert runner.proc.wait(10) == -signal.SIGKILL
    finally:
        if runner.proc.poll() is None:
            runner.proc.kill()
            runner.proc.wait()
    runner.assert_nothing_left(children)


def test_the_last_shard_to_settle_never_undoes_finished(tmp_path: Path) -> None:
    one, two = Store.at_home(tmp_path), Store.at_home(tmp_path)
    run = one.create_run(
        "sharded",
        benchmark="b",
        split="test",
        planned=2,
        attempts_per_theorem=1,
        config={},
        versions={},
    )
    result = SearchResult(theorem="a", status=Status.FAILED, stats=SearchStats())
    one.record(run.id, "a", 0, result)
    assert one.settle(run.id, interrupted=False) is False
    two.record(run.id, "b", 0, SearchResult(theorem="b", status=Status.FAILED, stats=SearchStats()))
    assert two.settle(run.id, interrupted=False) is True
    # A shard stopped late (Ctrl-C after its work) or reading stale counts settles afterwards.
    assert one.settle(run.id, interrupted=True) is True
    assert one.require_run("sharded").status == "finished"
    one.close()
    two.close()


def _recorded(home: Path, driver: int) -> list[ProcessId]:
    """The driver's descendants once its ledger records them all (it looks every second), its
    watchdog included."""
    # Polled with a deadline: nothing signals "the ledger caught up".
    deadline = time.monotonic() + 15.0
    while True:
        ledgers = list((home / "live").glob(f"{driver}-*.json"))
        recorded = set()
        for ledger in ledgers:
            with contextlib.suppress(OSError, ValueError):
                recorded |= {ProcessId(*p) for p in json.loads(ledger.read_text())["processes"]}
        running = descendants(driver)
        unrecorded = [p for p in running if p.pid not in {q.pid for q in recorded}]
        # What is not recorded must be the ledgers' own watchdogs (one per ledger).
        if ledgers and len(unrecorded) <= len(ledgers):
            return running
        assert time.monotonic() < deadline, f"never recorded: {unrecorded}"
        time.sleep(0.1)


@pytest.mark.ray
@pytest.mark.parametrize("how", ["kill -9", "SIGINT"])
def test_a_ray_driver_leaves_no_daemon_worker_or_unretrieved_future(
    tmp_path: Path, package_data: Path, how: str
) -> None:
    pytest.importorskip("ray", reason="ray is not installed (pip install 'prover[ray]')")
    from test_bench_standins import make_standins

    standins = make_standins(tmp_path / "s", package_data, provable=6, unprovable=1, missing=1)
    home = tmp_path / "home"
    args = [*standins.args(), "--run", "r", "--ray", "--concurrency", "1", "--display", "plain"]
    args += ["--set", "bench.ray_workers=2", "--set", "bench.ray_worker_cpus=0.5"]
    # Not a private TMPDIR: Ray's socket paths must stay under 108 bytes.
    env = {**os.environ, "PROVER_HOME": str(home), "RAY_DEDUP_LOGS": "0"}
    driver = subprocess.Popen(
        [sys.executable, "-m", "prover.cli", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert driver.stderr is not None
    output = b""
    deadline = time.monotonic() + 180.0
    try:
        while b"in flight" not in output:  # the actors are up
            ready, _, _ = select.select([driver.stderr], [], [], deadline - time.monotonic())
            chunk = os.read(driver.stderr.fileno(), 65536) if ready else b""
            assert chunk, f"the driver ended or stalled: {output[-2000:]!r}"
            output += chunk
        ray_processes = _recorded(home, driver.pid)
        assert len(ray_processes) >= 3  # Ray's daemons and the actors' workers
        if how == "kill -9":
            driver.kill()
            driver.wait(10)
        else:
            driver.send_signal(signal.SIGINT)
            output += driver.communicate(timeout=120)[1]
            assert driver.returncode == 130
            assert b"never retrieved" not in output and b"Traceback" not in output
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    assert _wait_gone(ray_processes, 5.0) == []
    assert list((home / "live").glob("*")) == []


async def test_a_death_asyncio_has_not_seen_yet_is_still_noticed_before_the_request() -> None:
    tracker = ProcessTracker(ledger=False)
    settings = WorkerSettings(
        argv=(sys.executable, str(STANDINS / "misbehaving_repl.py")), header_timeout=10.0
    )
    worker = ReplWorker(settings, tracker, "import StandIn\n", 0)
    try:
        first = await worker.ready()
        pid = worker.pid
        assert pid is not None
        process = tracker.find(pid)
        assert process is not None
        fd = os.pidfd_open(pid)
        try:
            os.kill(pid, signal.SIGKILL)
            # Blocking the event loop on the pidfd: the process is dead (a zombie) but asyncio
            # has had no chance to reap it or see its pipes close.
            assert select.select([fd], [], [], 5.0)[0] == [fd]
        finally:
            os.close(fd)
        # The pidfd turns readable a moment before the kernel marks the task a zombie; wait (not
        # reaping: WNOWAIT) until it is one, or until asyncio's watcher thread has reaped it.
        try:
            os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        except ChildProcessError:
            pass
        assert process.proc.returncode is None and not process.alive
        reply = await worker.command("theorem t : True := by sorry", 5.0)
        assert reply["sorries"] and worker.generation == first + 1
    finally:
        await worker.close()
        await tracker.stop_all()
