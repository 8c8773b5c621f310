"""The lean-repl environment on the stand-in REPL (tests/standins/lean_repl.py; it is not Lean).

The stand-in answers with the replies recorded from the real REPL v4.24.0 and can hang, crash or
allocate on request, so these tests exercise the pool, the sessions and every fault path.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from environments.lean.repl import LeanReplEnvironment, create
from environments.lean.settings import LeanConfig
from environments.lean.statement import assemble
from environments.lean.toolchain import pool_size
from prover.config import Config
from prover.errors import InputError, MissingDependencyError
from prover.strategies.best_first import BestFirst
from prover.testing import ScriptedGenerator
from prover.types import (
    Budget,
    Candidate,
    Failed,
    FailureKind,
    Finished,
    NewState,
    ProofState,
    Theorem,
    VerdictStatus,
)

STANDIN = Path(__file__).parent / "standins" / "lean_repl.py"
COMPLEX_AND = "theorem complex_and (p q r : Prop) (h1 : p ∧ q) (h2 : q → r) : p ∧ r := by sorry"
ROOT = "p q r : Prop\nh1 : p ∧ q\nh2 : q → r\n⊢ p ∧ r"
LEFT = "case left\np q r : Prop\nh1 : p ∧ q\nh2 : q → r\n⊢ p"
RIGHT = "case right\np q r : Prop\nh1 : p ∧ q\nh2 : q → r\n⊢ r"
HEADER = "import Mathlib\nopen Real"


@pytest.fixture
def library(repl_transcripts: Path) -> Path:
    return repl_transcripts


def lean_config(library: Path, log: Path, *extra: str, **fields: Any) -> LeanConfig:
    argv = (sys.executable, str(STANDIN), "--library", str(library), "--log", str(log), *extra)
    defaults: dict[str, Any] = {"pool_size": 1, "tactic_timeout": 10.0}
    defaults.update(fields)
    return LeanConfig(repl_command=argv, project=str(library), **defaults)


def records(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def requests_by_pid(log: Path) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {}
    for r in records(log):
        out.setdefault(r["pid"], [])
        if r["event"] == "request":
            out[r["pid"]].append(r["request"])
    return out


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def wait_until(condition: Any, seconds: float = 10.0) -> None:
    """Poll `condition` until it holds (a deadline, never a fixed sleep)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached before the deadline")
        await asyncio.sleep(0.02)


def theorem(statement: str = COMPLEX_AND, header: str = HEADER) -> Theorem:
    return Theorem("complex_and", statement, header=header)


async def two_steps(session: Any) -> tuple[ProofState, ProofState]:
    first = await session.run_tactic(session.initial_state, "apply And.intro")
    assert isinstance(first, NewState) and first.state.goals == (LEFT, RIGHT)
    second = await session.run_tactic(first.state, "exact h1.left")
    assert isinstance(second, NewState) and second.state.goals == (RIGHT,)
    return first.state, second.state


async def test_a_proof_runs_tactic_by_tactic_and_verifies(library: Path, tmp_path: Path) -> None:
    log = tmp_path / "log"
    env = LeanReplEnvironment(lean_config(library, log))
    try:
        session = await env.open(theorem())
        assert session.initial_state.goals == (ROOT,)
        _, state = await two_steps(session)
        third = await session.run_tactic(state, "apply h2")
        assert isinstance(third, NewState)
        assert await session.run_tactic(third.state, "exact h1.right") == Finished()
        failed = await session.run_tactic(third.state, "exact h1.left")
        assert isinstance(failed, Failed) and failed.kind is FailureKind.ERROR
        before = len(records(log))
        rejected = await session.run_tactic(third.state, "exact sorry")
        assert isinstance(rejected, Failed) and rejected.kind is FailureKind.REJECTED
        assert "rule 'sorry'" in rejected.message and len(records(log)) == before  # not sent
        foreign = await session.run_tactic(ProofState(("⊢ x",), handle=99), "simp")
        assert isinstance(foreign, Failed) and "not from this session" in foreign.message
        proof = session.assemble(["apply And.intro", "exact h1.left", "apply h2", "exact h1.right"])
        verdict = await session.verify(proof)
        assert verdict.status is VerdictStatus.ACCEPTED and verdict.checked_by == "lean-repl"
        assert (await session.verify("exact?")).status is VerdictStatus.REJECTED
        await session.close()
    finally:
        await env.close()
    by_pid = requests_by_pid(log)
    assert len(by_pid) == 2  # the search's process and the checker's own
    (checker,) = env.checker_pool.tracker.started
    (search,) = set(by_pid) - {checker}
    sent = by_pid[search]
    assert sent[0] == {"cmd": HEADER}  # the header, once, without env
    assert sent[1] == {"cmd": COMPLEX_AND, "env": 0}  # the theorem on the header's env
    assert sent.count({"cmd": HEADER}) == 1
    assert any("tactic" in r for r in sent)
    # The proof was checked in a process that never ran a model's tactic.
    assert by_pid[checker][0] == {"cmd": HEADER}
    assert not any("tactic" in r for r in by_pid[checker])
    assert any("cmd" in r and "exact h1.right" in r["cmd"] for r in by_pid[checker])


async def test_deepseek_statements_open_too(library: Path, tmp_path: Path) -> None:
    env = LeanReplEnvironment(lean_config(library, tmp_path / "log"))
    try:
        deepseek = COMPLEX_AND.removesuffix(" sorry") + "\n"  # ends in `:= by`
        session = await env.open(theorem(deepseek))
        assert session.initial_state.goals == (ROOT,)
        with pytest.raises(InputError, match="must end in"):
            await env.open(theorem(COMPLEX_AND.replace(":= by sorry", ":= trivial")))
        with pytest.raises(InputError, match="does not elaborate"):
            await env.open(theorem("theorem nope : 1 = 2 := by sorry"))
        with pytest.raises(InputError, match="header"):
            await env.open(theorem(header="import Mathlib\nset_option debug.skipKernelTC true"))
        with pytest.raises(InputError, match="statement of 'complex_and' is refused"):
            await env.open(theorem("theorem complex_and : (by exact (sorry : ℕ)) = 1 := by sorry"))
        await session.close()
    finally:
        await env.close()


async def test_timeout_kills_restarts_and_keeps_the_states(library: Path, tmp_path: Path) -> None:
    log = tmp_path / "log"
    # Imports take 2 s on the stand-in: the timeout must be reported without waiting for them.
    config = lean_config(library, log, "--header-delay", "2", tactic_timeout=1.0)
    env = LeanReplEnvironment(config)
    try:
        session = await env.open(theorem())
        first, second = await two_steps(session)
        (old,) = env.pids
        start = time.monotonic()
        result = await session.run_tactic(second, "standin_hang")
        elapsed = time.monotonic() - start
        assert isinstance(result, Failed) and result.kind is FailureKind.TIMEOUT
        assert elapsed < 1.0 + 2.0, elapsed
        await wait_until(lambda: not alive(old))
        # The session goes on: both open states still work on the fresh process.
        third = await session.run_tactic(second, "apply h2")
        assert isinstance(third, NewState) and third.state.goals[0].endswith("⊢ q")
        again = await session.run_tactic(first, "exact h1.left")
        assert isinstance(again, NewState) and again.state.goals == (RIGHT,)
        (new,) = env.pids
        assert new != old
    finally:
        await env.close()
    sent = requests_by_pid(log)
    assert sent[new][0] == {"cmd": HEADER} and sent[new].count({"cmd": HEADER}) == 1
    replayed = [r.get("tactic") for r in sent[new][1:]]
    assert replayed[:3] == [None, "apply And.intro", "exact h1.left"]  # open, then the path


async def test_a_killed_process_is_a_crash_and_is_replaced(library: Path, tmp_path: Path) -> None:
    log = tmp_path / "log"
    env = LeanReplEnvironment(lean_config(library, log, tactic_timeout=30.0))
    try:
        session = await env.open(theorem())
        _, second = await two_steps(session)
        (pid,) = env.pids
        task = asyncio.create_task(session.run_tactic(second, "standin_hang"))
        hang = {"tactic": "standin_hang", "proofState": 2}
        await wait_until(lambda: hang in requests_by_pid(log)[pid])
        os.kill(pid, signal.SIGKILL)  # killed in the middle of the request
        result = await asyncio.wait_for(task, 10.0)
        assert isinstance(result, Failed) and result.kind is FailureKind.CRASH
        assert "-9" in result.message
        third = await session.run_tactic(second, "apply h2")
        assert isinstance(third, NewState)
        # A process that exits by itself mid-request is a crash too.
        crashed = await session.run_tactic(second, "standin_crash")
        assert isinstance(crashed, Failed) and crashed.kind is FailureKind.CRASH
        assert "code 3" in crashed.message
        assert isinstance(await session.run_tactic(second, "apply h2"), NewState)
    finally:
        await env.close()
    checker = set(env.checker_pool.tracker.started)
    assert len(set(requests_by_pid(log)) - checker) == 3


async def test_a_cancelled_request_never_reuses_its_process(library: Path, tmp_path: Path) -> None:
    env = LeanReplEnvironment(lean_config(library, tmp_path / "log"))
    try:
        session = await env.open(theorem())
        _, second = await two_steps(session)
        (old,) = env.pids
        # What best-first does when the theorem's wall budget runs out mid-tactic.
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(session.run_tactic(second, "standin_hang"), 0.5)
        await wait_until(lambda: not alive(old))
        third = await session.run_tactic(second, "apply h2")
        assert isinstance(third, NewState)
        assert env.pids and env.pids[0] != old
    finally:
        await env.close()


async def test_memory_cap_is_set_and_enforced(library: Path, tmp_path: Path) -> None:
    env = LeanReplEnvironment(lean_config(library, tmp_path / "log", memory_limit_gb=1.5))
    try:
        session = await env.open(theorem())
        (pid,) = env.pids
        limits = Path(f"/proc/{pid}/limits").read_text()
        line = next(ln for ln in limits.splitlines() if ln.startswith("Max address space"))
        assert line.split()[3:5] == [str(int(1.5 * 1024**3))] * 2  # soft and hard
        result = await session.run_tactic(session.initial_state, "standin_alloc 3000")
        assert isinstance(result, Failed) and result.kind is FailureKind.CRASH
        assert "memory" in result.message
        assert isinstance(
            await session.run_tactic(session.initial_state, "apply And.intro"), NewState
        )
    finally:
        await env.close()


async def test_a_draining_process_keeps_its_theorem_and_is_recycled_when_idle(
    library: Path, tmp_path: Path
) -> None:
    log = tmp_path / "log"
    env = LeanReplEnvironment(lean_config(library, log, recycle_after=4))
    try:
        session = await env.open(theorem())
        _, second = await two_steps(session)  # header, open, 2 tactics: 4 requests
        (old,) = env.pids
        assert session.worker.draining
        third = await session.run_tactic(second, "apply h2")  # no replay mid-theorem
        assert isinstance(third, NewState)
        assert env.pids == [old]
        assert await session.run_tactic(third.state, "exact h1.right") == Finished()
        await session.close()  # the last theorem on it: the process is replaced
        await wait_until(lambda: env.pids and env.pids != [old])
        fresh = await env.open(theorem())
        assert not fresh.worker.draining and env.pids != [old]
        await fresh.close()
    finally:
        await env.close()
    checker = set(env.checker_pool.tracker.started)
    counts = [len(v) for pid, v in requests_by_pid(log).items() if pid not in checker]
    assert counts[0] == 6  # header, open and four tactics, none replayed
    assert len(counts) >= 2


async def test_a_process_past_the_hard_limit_is_replaced_under_its_theorem(
    library: Path, tmp_path: Path
) -> None:
    from environments.lean.worker import HARD_RECYCLE_FACTOR

    log = tmp_path / "log"
    env = LeanReplEnvironment(lean_config(library, log, recycle_after=1))
    try:
        session = await env.open(theorem())  # header + open: 2 requests
        state = session.initial_state
        while session.worker.commands < HARD_RECYCLE_FACTOR:
            result = await session.run_tactic(state, "apply And.intro")
            assert isinstance(result, NewState)
        (old,) = env.pids
        first = await session.run_tactic(state, "apply And.intro")  # replaced, root replayed
        assert isinstance(first, NewState) and first.state.goals == (LEFT, RIGHT)
        assert env.pids != [old]
    finally:
        await env.close()


async def test_a_shared_theorem_moves_to_an_idle_process(library: Path, tmp_path: Path) -> None:
    log = tmp_path / "log"
    env = LeanReplEnvironment(lean_config(library, log, pool_size=2))
    try:
        a = await env.open(theorem())
        b = await env.open(theorem())
        c = await env.open(theorem())  # two theorems now share a process
        assert {a.worker.leases, b.worker.leases, c.worker.leases} == {1, 2}
        alone = next(s for s in (a, b, c) if s.worker.leases == 1)
        shared = [s for s in (a, b, c) if s is not alone]
        await alone.close()
        await wait_until(lambda: alone.worker.warm)
        mover = shared[0]
        before = mover.worker
        _, second = await two_steps(mover)  # moved, its root replayed on the idle process
        assert mover.worker is not before and mover.worker is alone.worker
        assert before.leases == 1 and mover.worker.leases == 1
        third = await mover.run_tactic(second, "apply h2")
        assert isinstance(third, NewState)
        for session in shared:
            await session.close()
        assert before.leases == 0 and mover.worker.leases == 0
    finally:
        await env.close()


async def test_close_leaves_no_process(library: Path, tmp_path: Path) -> None:
    log = tmp_path / "log"
    env = LeanReplEnvironment(lean_config(library, log, pool_size=2))
    a = await env.open(theorem())
    b = await env.open(theorem(header="import Lean"))
    pids = list(env.pids)
    assert len(pids) == 2 and all(alive(p) for p in pids)
    await a.close()
    await env.close()
    await b.close()  # closing a session after its environment is harmless
    assert env.pids == []
    for pid in pids:
        assert not alive(pid)
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)  # nor anything left in its process group


async def test_pool_is_keyed_by_header(library: Path, tmp_path: Path) -> None:
    log = tmp_path / "log"
    env = LeanReplEnvironment(lean_config(library, log, pool_size=1))
    try:
        a = await env.open(theorem())
        a2 = await env.open(theorem())  # same header: shares the process
        assert len(env.pids) == 1
        other = asyncio.create_task(env.open(theorem(header="import Lean")))
        with pytest.raises(asyncio.TimeoutError):  # the only process serves another header
            await asyncio.wait_for(asyncio.shield(other), 0.3)
        await a.close()
        await a2.close()
        b = await asyncio.wait_for(other, 10.0)
        assert b.initial_state.goals == (ROOT,)
        await b.close()
    finally:
        await env.close()
    checker = set(env.checker_pool.tracker.started)
    headers = {
        pid: [r["cmd"] for r in reqs if "env" not in r]
        for pid, reqs in requests_by_pid(log).items()
        if pid not in checker
    }
    assert sorted(headers.values()) == [["import Lean"], [HEADER]]  # once per process


async def test_sketch_gaps_close_and_the_filled_proof_verifies(tmp_path: Path) -> None:
    # A small hand-written transcript in the REPL's format: a two-gap sketch, closing each gap,
    # and the filled-in proof (gap states keep the root goal, so their status says metavariables).
    extra = tmp_path / "extra"
    extra.mkdir()
    statement = "theorem gap_demo (x : Nat) (h0 : x > 0) : x > 0 ∧ x = x := by sorry"
    sketch = "constructor\n· sorry\n· sorry"
    filled = f"{statement.removesuffix(' := by sorry')} := by\n" + assemble(
        ["constructor\n· exact h0\n· rfl"]
    )
    (extra / "sketch.in").write_text(
        "\n\n".join(
            json.dumps(r, ensure_ascii=False)
            for r in [
                {"cmd": statement},
                {"tactic": sketch, "proofState": 0},
                {"tactic": "exact h0", "proofState": 1},
                {"tactic": "rfl", "proofState": 2},
                {"cmd": filled},
            ]
        )
        + "\n"
    )
    goal = "x : Nat\nh0 : x > 0\n⊢ "
    replies = [
        {
            "sorries": [{"proofState": 0, "goal": goal + "x > 0 ∧ x = x"}],
            "messages": [{"severity": "warning", "data": "declaration uses 'sorry'"}],
            "env": 0,
        },
        {
            "sorries": [
                {"proofState": 1, "goal": "case left\n" + goal + "x > 0"},
                {"proofState": 2, "goal": "case right\n" + goal + "x = x"},
            ],
            "proofStatus": "Incomplete: contains sorry",
            "proofState": 3,
            "goals": [],
        },
        {"proofStatus": "Incomplete: contains metavariable(s)", "proofState": 4, "goals": []},
        {"proofStatus": "Incomplete: contains metavariable(s)", "proofState": 5, "goals": []},
        {"env": 1},
    ]
    (extra / "sketch.expected.out").write_text(
        "\n\n".join(json.dumps(r, ensure_ascii=False, indent=1) for r in replies) + "\n"
    )
    log = tmp_path / "log"
    env = LeanReplEnvironment(lean_config(extra, log, tactic_timeout=1.0))
    try:
        session = await env.open(Theorem("gap_demo", statement, header="import Lean"))
        gaps = await session.run_sketch(session.initial_state, sketch)
        assert isinstance(gaps, tuple) and [g.goals[0].split("\n")[0] for g in gaps] == [
            "case left",
            "case right",
        ]
        assert await session.run_tactic(gaps[0], "exact h0") == Finished()
        # A restart in between: the gap state is re-created by re-running the sketch.
        hung = await session.run_tactic(gaps[1], "standin_hang")
        assert isinstance(hung, Failed) and hung.kind is FailureKind.TIMEOUT
        assert await session.run_tactic(gaps[1], "rfl") == Finished()
        filled_in = sketch.replace("sorry", "exact h0", 1).replace("sorry", "rfl", 1)
        verdict = await session.verify(session.assemble([filled_in]))
        assert verdict.verified, verdict
        refused = await session.run_sketch(session.initial_state, "constructor\n· admit\n· sorry")
        assert isinstance(refused, Failed) and refused.kind is FailureKind.REJECTED
        not_a_sketch = await session.run_sketch(session.initial_state, "exact foo")
        assert isinstance(not_a_sketch, Failed) and not_a_sketch.kind is FailureKind.ERROR
    finally:
        await env.close()


async def test_best_first_proves_and_verifies_on_the_repl(library: Path, tmp_path: Path) -> None:
    tactics = ["sorry", "exact h1.right", "apply h2", "exact h1.left", "apply And.intro"]
    generator = ScriptedGenerator(
        {}, default=[Candidate(t, -float(i), 2) for i, t in enumerate(tactics)]
    )
    env = LeanReplEnvironment(lean_config(library, tmp_path / "log"))
    try:
        session = await env.open(theorem())
        result = await BestFirst().search(theorem(), session, generator, Budget(samples=8))
        await session.close()
    finally:
        await env.close()
    assert result.proved and result.verified and result.verified_by == "lean-repl"
    assert result.steps[-1] == "exact h1.right"
    assert result.stats.failures.get("rejected", 0) >= 1  # `sorry` was offered and refused


def test_configuration(tmp_path: Path) -> None:
    assert pool_size(LeanConfig()) == max(1, (os.cpu_count() or 2) - 1)
    assert pool_size(LeanConfig(pool_size=3)) == 3
    with pytest.raises(ValueError):
        LeanConfig(tactic_timeout=0)
    with pytest.raises(MissingDependencyError, match="prover setup lean"):
        # `lake exe repl`, nothing built
        create(Config(plugins={"lean": LeanConfig(project=str(tmp_path))}))
    with pytest.raises(MissingDependencyError, match=r"lean\.repl_command"):
        create(
            Config(
                plugins={
                    "lean": LeanConfig(repl_command=("no-such-repl-here",), project=str(tmp_path))
                }
            )
        )
