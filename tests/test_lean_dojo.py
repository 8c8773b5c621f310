"""The lean-dojo environment over a scripted Dojo that answers with LeanDojo's real classes.

`ScriptedDojo` returns lean_dojo's own TacticState / ProofFinished / LeanError / ProofGivenUp and
raises its own DojoInitError / DojoCrashError / DojoTacticTimeoutError; goal states are the real
Lean states recorded in Llemma's formal2formal outputs. Like a real Dojo (LeanDojo #218), a
scripted Dojo that timed out times out on every later tactic, and it refuses state ids it did not
issue (a real Lean4Repl dies on an unknown id), so replay after a restart is really exercised.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import threading
import urllib.error
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import github
import lean_dojo
import pytest
from lean_dojo import (
    DojoCrashError,
    DojoInitError,
    DojoTacticTimeoutError,
    LeanError,
    ProofFinished,
    ProofGivenUp,
    TacticState,
)

from environments.lean.dojo import recheck as dojo_recheck
from environments.lean.dojo.config import LeanDojoConfig
from environments.lean.dojo.environment import LeanDojoEnvironment, create
from environments.lean.dojo.factory import repo_error, untraced_message
from environments.lean.dojo.settings import lean_dojo_environ, load_lean_dojo
from environments.lean.dojo.target import DojoTarget, dojo_theorem, target_of
from environments.lean.settings import LeanConfig
from environments.llemma import llemma_records
from prover.config import Config, load_config
from prover.errors import BackendError, ConfigError, InputError
from prover.strategies.best_first import BestFirst
from prover.testing import ScriptedGenerator
from prover.types import (
    Budget,
    Candidate,
    Failed,
    FailureKind,
    Finished,
    Language,
    NewState,
    Status,
    Theorem,
    Verdict,
    VerdictStatus,
)

pytestmark = pytest.mark.timeout(60)

REPO = Path(__file__).resolve().parent.parent
LLEMMA = "llemma_formal2formal"  # Llemma's per-theorem outputs, with real Lean goal states
RW = "rw [h₁, h₂, h₃]"


# -- the recorded Lean states --------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    """Real goal states and transitions of one theorem from Llemma's outputs."""

    initial: str
    moves: dict[tuple[str, str], str | None]  # (goals, tactic) → next goals, None = finished


def recorded(package_data: Path, theorem: str) -> Recorded:
    records = [r for r in llemma_records([package_data / LLEMMA]) if r["theorem"] == theorem]
    opened = next(r for r in records if r["type"] == "open")
    moves: dict[tuple[str, str], str | None] = {}
    for r in records:
        if r["type"] == "tactic":
            result = r["result"]
            moves[(r["goals"], r["tactic"])] = (
                result["goals"][0] if result["kind"] == "state" else None
            )
    return Recorded(opened["goals"][0], moves)


@pytest.fixture(scope="module")
def algebra_478(package_data: Path) -> Recorded:
    return recorded(package_data, "mathd_algebra_478")


# -- the scripted Dojo ---------------------------------------------------------------------

Outcome = tuple[Any, ...]

# Tactics that behave the same on any state.
SPECIAL: dict[str, Outcome] = {
    "norm_num [foo]": ("error", "unknown identifier 'foo'"),
    # A user macro that expands to `sorry`: the screen cannot see it, LeanDojo reports it.
    "give_up": ("sorry",),
    "slow": ("timeout",),
    "boom": ("crash", "Unexpected EOF"),
    "hog": ("crash", "OOM"),
    "weird": ("raise", RuntimeError("pexpect is confused")),
    "block": ("block",),
}


@dataclass
class World:
    """Everything the scripted Dojos of one test share, and what they observed."""

    rec: Recorded
    extra: dict[tuple[str, str], Outcome] = field(default_factory=dict)
    init_errors: list[Exception | None] = field(default_factory=list)
    dojos: list[ScriptedDojo] = field(default_factory=list)
    foreign: list[int] = field(default_factory=list)
    threads: set[int] = field(default_factory=set)
    live: int = 0
    max_live: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    enter_gate: threading.Event | None = None
    entering: threading.Event = field(default_factory=threading.Event)
    gate: threading.Event = field(default_factory=threading.Event)
    blocked: threading.Event = field(default_factory=threading.Event)

    def factory(self, target: DojoTarget) -> ScriptedDojo:
        self.threads.add(threading.get_ident())
        dojo = ScriptedDojo(self, target)
        self.dojos.append(dojo)
        return dojo


class ScriptedDojo:
    """A stand-in for `lean_dojo.Dojo` answering from `World` with LeanDojo's real classes."""

    def __init__(self, world: World, target: DojoTarget) -> None:
        self.world = world
        self.target = target
        self.entered = False
        self.exited = False
        self.poisoned = False
        self.calls: list[str] = []
        self.issued: set[int] = set()

    def _state(self, pp: str, message: str | None = None) -> TacticState:
        sid = next(self.world.ids)
        self.issued.add(sid)
        return TacticState(pp, sid, message)

    def __enter__(self) -> tuple[ScriptedDojo, TacticState]:
        w = self.world
        w.threads.add(threading.get_ident())
        w.entering.set()
        if w.enter_gate is not None:
            w.enter_gate.wait(10)
        error = w.init_errors.pop(0) if w.init_errors else None
        if error is not None:
            raise error
        self.entered = True
        with w.lock:
            w.live += 1
            w.max_live = max(w.max_live, w.live)
        return self, self._state(w.rec.initial)

    def run_tac(self, state: TacticState, tactic: str) -> Any:
        w = self.world
        w.threads.add(threading.get_ident())
        self.calls.append(tactic)
        if not isinstance(state, TacticState):
            raise RuntimeError(f"Attempting to run a tactic on an invalid state {state}.")
        if state.id not in self.issued:
            w.foreign.append(state.id)
            raise DojoCrashError("Unexpected EOF")  # Lean4Repl: "[fatal] unknown tsid"
        if self.poisoned:
            raise DojoTacticTimeoutError()  # still busy with the tactic that timed out (#218)
        outcome = w.extra.get((state.pp, tactic)) or SPECIAL.get(tactic)
        if outcome is None:
            if (state.pp, tactic) not in w.rec.moves:
                return LeanError(f"<stdin>:1:0: unknown tactic {tactic!r}")
            nxt = w.rec.moves[(state.pp, tactic)]
            return ProofFinished(next(w.ids), None) if nxt is None else self._state(nxt)
        kind = outcome[0]
        if kind == "state":
            return self._state(outcome[1], outcome[2] if len(outcome) > 2 else None)
        if kind == "finished":
            return ProofFinished(next(w.ids), None)
        if kind == "error":
            return LeanError(outcome[1])
        if kind == "sorry":
            return ProofGivenUp()
        if kind == "timeout":
            self.poisoned = True
            raise DojoTacticTimeoutError()
        if kind == "crash":
            self.poisoned = True
            raise DojoCrashError(outcome[1])
        if kind == "raise":
            raise outcome[1]
        if kind == "block":
            w.blocked.set()
            if not w.gate.wait(10):
                raise DojoTacticTimeoutError()
            return LeanError("released")
        raise AssertionError(f"bad outcome {outcome!r}")

    def __exit__(self, *exc: object) -> None:
        assert self.entered and not self.exited, "exited twice or never entered"
        self.exited = True
        with self.world.lock:
            self.world.live -= 1


# -- helpers -------------------------------------------------------------------------------

THEOREM = dojo_theorem(
    "https://github.com/rah4927/lean-dojo-mew",
    "d00c776260c77de7e70125ef0cd119de6c0ff1de",
    "MiniF2F/Test.lean",
    "mathd_algebra_478",
    statement="theorem mathd_algebra_478 … := by",
)


def make_env(world: World, *, checker: Any = None, **settings: Any) -> LeanDojoEnvironment:
    settings.setdefault("recheck", "off")
    config = Config(plugins={"lean_dojo": LeanDojoConfig(**settings)})
    return LeanDojoEnvironment(config, factory=world.factory, checker=checker)


def assert_all_exited(world: World) -> None:
    for dojo in world.dojos:
        assert dojo.exited == dojo.entered, "an entered Dojo was not exited"
    assert world.live == 0
    assert world.foreign == []


# -- LeanDojo's real classes ---------------------------------------------------------------


def test_the_stand_in_speaks_lean_dojos_own_classes() -> None:
    for cls in (TacticState, ProofFinished, LeanError, ProofGivenUp):
        assert cls.__module__ == "lean_dojo.interaction.dojo"
    for exc in (DojoInitError, DojoCrashError, DojoTacticTimeoutError):
        assert issubclass(exc, Exception) and exc.__module__ == "lean_dojo.interaction.dojo"
    assert lean_dojo.__version__.startswith("4.")
    assert DojoCrashError("OOM").is_out_of_memory
    assert not DojoCrashError("Unexpected EOF").is_out_of_memory


# -- result mapping --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tactic", "kind", "text"),
    [
        ("norm_num [foo]", FailureKind.ERROR, "unknown identifier 'foo'"),
        ("give_up", FailureKind.SORRY, "ProofGivenUp"),
        ("exact sorry", FailureKind.REJECTED, "rule 'sorry'"),  # screened, never sent
        ("slow", FailureKind.TIMEOUT, "#218"),
        ("boom", FailureKind.CRASH, "Unexpected EOF"),
        ("hog", FailureKind.CRASH, "out of memory"),
        ("weird", FailureKind.CRASH, "RuntimeError: pexpect is confused"),
        ("no_such_tactic", FailureKind.ERROR, "unknown tactic"),
    ],
)
async def test_failures_map_onto_our_kinds(
    algebra_478: Recorded, tactic: str, kind: FailureKind, text: str
) -> None:
    world = World(algebra_478)
    env = make_env(world)
    session = await env.open(THEOREM)
    result = await session.run_tactic(session.initial_state, tactic)
    assert isinstance(result, Failed)
    assert result.kind is kind
    assert text in result.message
    assert ("out of memory" in result.message) == (tactic == "hog")
    await env.close()
    assert_all_exited(world)


async def test_states_and_finish_map_onto_ours(algebra_478: Recorded) -> None:
    world = World(algebra_478)
    env = make_env(world)
    session = await env.open(THEOREM)
    root = session.initial_state
    assert root.pretty == algebra_478.initial
    after = await session.run_tactic(root, RW)
    assert isinstance(after, NewState)
    assert after.state.pretty == algebra_478.moves[(algebra_478.initial, RW)]
    assert after.state.goals == (after.state.pretty,)
    done = await session.run_tactic(after.state, "linarith")
    assert isinstance(done, Finished)
    await env.close()
    assert_all_exited(world)


async def test_messages_and_several_goals(package_data: Path) -> None:
    rec = recorded(package_data, "mathd_numbertheory_427")
    two_goals = next(pp for pp in (g for g, _ in rec.moves) if pp.count("⊢") == 2)
    world = World(rec, extra={(rec.initial, "suggest"): ("state", two_goals, "Try this: rfl")})
    env = make_env(world)
    session = await env.open(THEOREM)
    result = await session.run_tactic(session.initial_state, "suggest")
    assert isinstance(result, NewState)
    assert result.messages == ("Try this: rfl",)
    assert len(result.state.goals) == 2
    assert result.state.pretty == two_goals  # the de-duplication key is LeanDojo's pp exactly
    assert result.state.goals[1].startswith("case this")
    await env.close()


async def test_foreign_state_is_refused(algebra_478: Recorded) -> None:
    env_a, env_b = make_env(World(algebra_478)), make_env(World(algebra_478))
    a, b = await env_a.open(THEOREM), await env_b.open(THEOREM)
    with pytest.raises(ValueError, match="does not come from this LeanDojo session"):
        await b.run_tactic(a.initial_state, RW)
    await env_a.close()
    await env_b.close()


# -- timeout / crash → restart → replay ------------------------------------------------------


async def test_timeout_restarts_the_dojo_and_replays_the_path(algebra_478: Recorded) -> None:
    world = World(algebra_478)
    env = make_env(world)
    session = await env.open(THEOREM)
    s1 = (await session.run_tactic(session.initial_state, RW)).state
    slow = await session.run_tactic(s1, "slow")
    assert isinstance(slow, Failed) and slow.kind is FailureKind.TIMEOUT
    first = world.dojos[0]
    assert first.poisoned and first.exited  # discarded at once, not reused (#218)
    done = await session.run_tactic(s1, "linarith")
    assert isinstance(done, Finished)
    assert len(world.dojos) == 2
    assert world.dojos[1].calls == [RW, "linarith"]  # the path to s1 replayed, then the tactic
    stats = env.stats
    assert (stats.timeouts, stats.restarts, stats.replayed_tactics) == (1, 1, 1)
    assert (stats.started, stats.stopped, stats.live) == (2, 1, 1)
    await env.close()
    assert_all_exited(world)


async def test_restart_replays_only_what_a_state_needs(algebra_478: Recorded) -> None:
    other = "b h v : ℝ\nh₀ : 0 < b ∧ 0 < h ∧ 0 < v\n⊢ v = 65"
    world = World(algebra_478, extra={(algebra_478.initial, "clear h₁ h₂ h₃"): ("state", other)})
    env = make_env(world)
    session = await env.open(THEOREM)
    root = session.initial_state
    s1 = (await session.run_tactic(root, RW)).state
    s2 = (await session.run_tactic(root, "clear h₁ h₂ h₃")).state
    assert isinstance(await session.run_tactic(s1, "boom"), Failed)
    root_again = await session.run_tactic(root, "norm_num [foo]")  # the root needs no replay
    assert isinstance(root_again, Failed) and root_again.kind is FailureKind.ERROR
    assert env.stats.replayed_tactics == 0
    assert isinstance(await session.run_tactic(s2, "norm_num [foo]"), Failed)
    assert world.dojos[1].calls == ["norm_num [foo]", "clear h₁ h₂ h₃", "norm_num [foo]"]
    assert isinstance(await session.run_tactic(s1, "linarith"), Finished)
    assert world.dojos[1].calls[-2:] == [RW, "linarith"]
    assert env.stats.replayed_tactics == 2
    await env.close()
    assert_all_exited(world)


async def test_a_replay_that_diverges_is_an_error_not_a_wrong_state(algebra_478: Recorded) -> None:
    world = World(algebra_478)
    env = make_env(world)
    session = await env.open(THEOREM)
    s1 = (await session.run_tactic(session.initial_state, RW)).state
    assert isinstance(await session.run_tactic(s1, "slow"), Failed)
    world.extra[(algebra_478.initial, RW)] = ("state", "x : ℝ\n⊢ x = x")  # Lean now disagrees
    result = await session.run_tactic(s1, "linarith")
    assert isinstance(result, Failed) and result.kind is FailureKind.ERROR
    assert "instead of the goals recorded first" in result.message
    assert world.dojos[1].calls == [RW]  # the tactic itself never ran on the wrong state
    await env.close()
    assert_all_exited(world)


async def test_crash_out_of_memory_is_flagged_and_recovered(algebra_478: Recorded) -> None:
    world = World(algebra_478)
    env = make_env(world)
    session = await env.open(THEOREM)
    s1 = (await session.run_tactic(session.initial_state, RW)).state
    oom = await session.run_tactic(s1, "hog")
    assert isinstance(oom, Failed) and oom.kind is FailureKind.CRASH
    assert oom.message.startswith("out of memory")
    assert "lean_dojo.tactic_memory_limit" in oom.message
    assert isinstance(await session.run_tactic(s1, "linarith"), Finished)
    stats = env.stats
    assert (stats.crashes, stats.out_of_memory, stats.restarts) == (1, 1, 1)
    await env.close()
    assert_all_exited(world)


async def test_a_failed_restart_ends_the_attempt(algebra_478: Recorded) -> None:
    world = World(algebra_478, init_errors=[None, DojoInitError("Timeout during initialization")])
    env = make_env(world)
    session = await env.open(THEOREM)
    assert isinstance(await session.run_tactic(session.initial_state, "slow"), Failed)
    with pytest.raises(BackendError, match=r"could not restart.*Timeout during initialization"):
        await session.run_tactic(session.initial_state, RW)
    await env.close()
    assert_all_exited(world)
    assert env.stats.init_failures == 1


# -- start-up failures -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "raised", "text"),
    [
        (
            DojoInitError("Failed to locate the theorem with `x` as its fully qualified name."),
            InputError,
            "check metadata['lean_dojo']",
        ),
        (DojoInitError("Unexpected EOF"), BackendError, "could not start Lean"),
        (AssertionError("Unable to find Lean4Repl.lean"), BackendError, "Lean4Repl.lean"),
    ],
)
async def test_init_failure(
    algebra_478: Recorded, error: Exception, raised: type, text: str
) -> None:
    world = World(algebra_478, init_errors=[error])
    env = make_env(world, max_concurrency=1)
    with pytest.raises(raised, match=text.replace("[", r"\[").replace("]", r"\]")) as info:
        await env.open(THEOREM)
    assert "\n" not in str(info.value)
    assert env.stats.init_failures == 1 and env.stats.live == 0
    session = await asyncio.wait_for(env.open(THEOREM), 5)  # the only slot was given back
    assert isinstance(await session.run_tactic(session.initial_state, RW), NewState)
    await env.close()
    assert_all_exited(world)


async def test_a_hung_repository_lookup_is_bounded(
    algebra_478: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LeanDojo resolves repositories over the network without a timeout; we bound it."""
    monkeypatch.setattr("environments.lean.dojo.session.START_GRACE_SECONDS", 0)
    world, release = World(algebra_478), threading.Event()

    def hanging_factory(target: DojoTarget) -> ScriptedDojo:
        release.wait(10)
        return world.factory(target)

    config = Config(plugins={"lean_dojo": LeanDojoConfig(timeout=1, recheck="off")})
    env = LeanDojoEnvironment(config, factory=hanging_factory)
    with pytest.raises(BackendError, match="more than 1 s resolving the repository"):
        await env.open(THEOREM)
    release.set()
    await env.close()
    assert_all_exited(world)


async def test_a_theorem_without_location_is_refused_before_any_dojo(
    algebra_478: Recorded,
) -> None:
    world = World(algebra_478)
    env = make_env(world)
    with pytest.raises(InputError, match="no LeanDojo location"):
        await env.open(Theorem(name="t", statement="theorem t : True := by"))
    assert world.dojos == []
    await env.close()


# -- concurrency, threads, cancellation, cleanup ---------------------------------------------


async def test_blocking_calls_run_in_worker_threads(algebra_478: Recorded) -> None:
    world = World(algebra_478)
    env = make_env(world)
    session = await env.open(THEOREM)
    task = asyncio.create_task(session.run_tactic(session.initial_state, "block"))
    # The event loop is free while the Dojo call blocks: this await runs on it.
    assert await asyncio.to_thread(world.blocked.wait, 5)
    assert not task.done()
    world.gate.set()
    result = await asyncio.wait_for(task, 5)
    assert isinstance(result, Failed) and result.message == "released"
    assert threading.get_ident() not in world.threads
    await env.close()


async def test_at_most_max_concurrency_dojos_are_alive(algebra_478: Recorded) -> None:
    world = World(algebra_478)
    env = make_env(world, max_concurrency=2)
    first, second = await env.open(THEOREM), await env.open(THEOREM)
    third = asyncio.create_task(env.open(THEOREM))
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(asyncio.shield(third), 0.3)
    assert len(world.dojos) == 2
    await first.close()
    session = await asyncio.wait_for(third, 5)
    assert isinstance(await session.run_tactic(session.initial_state, RW), NewState)
    assert world.max_live == 2
    await second.close()
    await env.close()
    assert_all_exited(world)


async def test_close_exits_every_dojo_and_stops_the_pool(algebra_478: Recorded) -> None:
    world = World(algebra_478)
    env = make_env(world, max_concurrency=2)
    a, b = await env.open(THEOREM), await env.open(THEOREM)
    assert isinstance(await a.run_tactic(a.initial_state, "boom"), Failed)
    assert isinstance(await a.run_tactic(a.initial_state, RW), NewState)  # restarted
    await b.run_tactic(b.initial_state, RW)
    await env.close()  # sessions left open on purpose
    assert len(world.dojos) == 3
    assert_all_exited(world)
    stats = env.stats
    assert (stats.started, stats.stopped, stats.live) == (3, 3, 0)
    with pytest.raises(RuntimeError):
        env.submit(print)  # the pool is shut down
    assert not [t for t in threading.enumerate() if t.name.startswith("lean-dojo")]
    with pytest.raises(BackendError, match="closed"):
        await env.open(THEOREM)


async def test_a_cancelled_tactic_discards_its_dojo(algebra_478: Recorded) -> None:
    world = World(algebra_478)
    env = make_env(world)
    session = await env.open(THEOREM)
    s1 = (await session.run_tactic(session.initial_state, RW)).state
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(session.run_tactic(s1, "block"), 0.2)
    world.gate.set()  # the abandoned call returns; its Dojo must not be reused
    assert isinstance(await session.run_tactic(s1, "linarith"), Finished)
    assert len(world.dojos) == 2 and world.dojos[0].exited
    assert world.dojos[1].calls == [RW, "linarith"]
    await env.close()
    assert_all_exited(world)


async def test_a_cancelled_open_exits_the_dojo_entered_meanwhile(algebra_478: Recorded) -> None:
    world = World(algebra_478, enter_gate=threading.Event())
    env = make_env(world)
    task = asyncio.create_task(env.open(THEOREM))
    assert await asyncio.to_thread(world.entering.wait, 5)
    task.cancel()
    world.enter_gate.set()  # the worker finishes entering after its caller gave up
    with pytest.raises(asyncio.CancelledError):
        await task
    assert world.dojos[0].entered and world.dojos[0].exited
    assert env.stats.live == 0
    await env.close()
    assert_all_exited(world)


# -- verify ----------------------------------------------------------------------------------


class RecordingChecker:
    """A whole-proof checker double: returns a fixed verdict and records what it was asked."""

    def __init__(self, verdict: Verdict | Exception) -> None:
        self.verdict = verdict
        self.calls: list[tuple[Theorem, str]] = []

    async def check(self, theorem: Theorem, proof: str) -> Verdict:
        self.calls.append((theorem, proof))
        if isinstance(self.verdict, Exception):
            raise self.verdict
        return self.verdict


async def _finish(session: Any) -> str:
    s1 = (await session.run_tactic(session.initial_state, RW)).state
    assert isinstance(await session.run_tactic(s1, "linarith"), Finished)
    return session.assemble([RW, "linarith"])


async def test_without_the_repl_a_proof_is_lean_dojos_own_check(
    algebra_478: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    reason = "the lean-repl backend is not usable: `lake` is not on PATH"
    monkeypatch.setattr(
        "environments.lean.dojo.environment.load_checker", lambda config: (None, reason)
    )
    world = World(algebra_478)
    env = make_env(world, recheck="auto")
    session = await env.open(THEOREM)
    proof = await _finish(session)
    assert proof == f"  {RW}\n  linarith"  # the block after `:= by`, as lean-repl builds it
    verdict = await session.verify(proof)
    assert verdict.status is VerdictStatus.UNCHECKED and not verdict.verified
    assert verdict.checked_by == "lean-dojo"
    assert "ProofFinished" in verdict.message and reason in verdict.message
    other = await session.verify("norm_num")
    assert other.status is VerdictStatus.REJECTED and other.checked_by == "lean-dojo"
    await env.close()


async def test_with_the_repl_the_whole_proof_checker_decides(algebra_478: Recorded) -> None:
    checker = RecordingChecker(Verdict(VerdictStatus.REJECTED, "lean-repl", "axiom sorryAx"))
    env = make_env(World(algebra_478), checker=checker, recheck="auto")
    session = await env.open(THEOREM)
    proof = await _finish(session)
    verdict = await session.verify(proof)
    assert verdict == Verdict(VerdictStatus.REJECTED, "lean-repl", "axiom sorryAx")
    assert checker.calls == [(THEOREM, proof)]
    await env.close()


async def test_a_checker_that_cannot_run_falls_back_to_lean_dojo(algebra_478: Recorded) -> None:
    checker = RecordingChecker(BackendError("REPL timed out"))
    env = make_env(World(algebra_478), checker=checker, recheck="auto")
    session = await env.open(THEOREM)
    verdict = await session.verify(await _finish(session))
    assert verdict.status is VerdictStatus.UNCHECKED and verdict.checked_by == "lean-dojo"
    assert "REPL timed out" in verdict.message
    await env.close()


async def test_recheck_off_never_calls_the_checker(algebra_478: Recorded) -> None:
    checker = RecordingChecker(Verdict(VerdictStatus.ACCEPTED, "lean-repl"))
    env = make_env(World(algebra_478), checker=checker, recheck="off")
    session = await env.open(THEOREM)
    verdict = await session.verify(await _finish(session))
    assert verdict.status is VerdictStatus.UNCHECKED and "recheck is 'off'" in verdict.message
    assert checker.calls == []
    await env.close()


def test_checker_availability(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = LeanConfig(repl_command=("no-such-repl-command-xyz",), project=str(tmp_path))
    assert "no-such-repl-command-xyz" in (dojo_recheck.repl_unavailable(missing) or "")
    unbuilt = LeanConfig(project=str(tmp_path))  # `lake exe repl` in a project with no build
    assert "prover setup lean" in (dojo_recheck.repl_unavailable(unbuilt) or "")
    usable = LeanConfig(repl_command=(sys.executable,), project=str(tmp_path))
    assert dojo_recheck.repl_unavailable(usable) is None
    # A usable backend whose checker module cannot be imported: unavailable, with the reason.
    monkeypatch.setitem(sys.modules, "environments.lean.checker", None)
    checker, reason = dojo_recheck.load_checker(
        Config(plugins={"lean": replace(usable, judge="repl")})
    )
    assert checker is None and "whole-proof checker is not installed" in reason


async def test_the_real_checker_is_built_from_the_lean_section(tmp_path: Path) -> None:
    """With a usable backend, load_checker builds lean-repl's WholeProofChecker (starts nothing)."""
    checker_module = pytest.importorskip("environments.lean.checker")
    usable = LeanConfig(repl_command=(sys.executable,), project=str(tmp_path))
    repl_judge = replace(usable, judge="repl")  # the kernel judge: test_lean_judge.py
    checker, reason = dojo_recheck.load_checker(Config(plugins={"lean": repl_judge}))
    assert reason == "" and isinstance(checker, checker_module.WholeProofChecker)
    await checker.close()


async def test_best_first_proves_through_lean_dojo(
    algebra_478: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The search's view: a slow decoy times out, LeanDojo restarts, the recorded proof is found."""
    s1 = algebra_478.moves[(algebra_478.initial, RW)]
    generator = ScriptedGenerator(
        {
            algebra_478.initial: [Candidate("slow", -0.05, 5), Candidate(RW, -0.5, 8)],
            s1: [Candidate("give_up", -0.01, 1), Candidate("linarith", -0.3, 2)],
        }
    )
    monkeypatch.setattr(
        "environments.lean.dojo.environment.load_checker", lambda config: (None, "no lake")
    )
    world = World(algebra_478)
    env = make_env(world, recheck="auto")
    session = await env.open(THEOREM)
    result = await BestFirst().search(
        THEOREM, session, generator, Budget(samples=4, max_expansions=5, wall_seconds=30)
    )
    await session.close()
    await env.close()
    assert result.status is Status.PROVED
    assert result.steps == (RW, "linarith")
    assert (result.verified, result.verified_by) == (False, "lean-dojo")
    assert result.stats.failures == {"timeout": 1, "sorry": 1}
    assert_all_exited(world)
    assert len(world.dojos) == 2


# -- theorem locations -----------------------------------------------------------------------


def test_locations_from_metadata() -> None:
    target = target_of(THEOREM)
    assert target == DojoTarget(
        "https://github.com/rah4927/lean-dojo-mew",
        "d00c776260c77de7e70125ef0cd119de6c0ff1de",
        "MiniF2F/Test.lean",
        "mathd_algebra_478",
    )
    row = Theorem(
        name="foo",
        statement="",
        metadata={"url": "https://github.com/u/r", "commit": "abc", "file_path": "A/B.lean"},
    )
    assert target_of(row) == DojoTarget("https://github.com/u/r", "abc", "A/B.lean", "foo")
    for bad, text in [
        ({"lean_dojo": {"url": "u", "commit": "c", "file_path": "A.txt"}}, "relative"),
        ({"lean_dojo": {"url": "u", "commit": "", "file_path": "A.lean"}}, "'commit'"),
        ({"url": "u"}, "no LeanDojo location"),
    ]:
        with pytest.raises(InputError, match=text):
            target_of(Theorem(name="t", statement="", metadata=bad))
    with pytest.raises(InputError, match="Lean 4 only"):
        target_of(Theorem(name="t", statement="", language=Language.ISABELLE))


# -- settings --------------------------------------------------------------------------------


def test_settings_become_lean_dojos_variables(tmp_path: Path) -> None:
    settings = LeanDojoConfig(
        cache_dir=str(tmp_path / "cache"),
        num_procs=3,
        tactic_cpu_limit=2,
        tactic_memory_limit="8g",
        github_access_token_env="MY_GH_TOKEN",
    )
    assert lean_dojo_environ(settings, {"MY_GH_TOKEN": "t0k"}) == {
        "CACHE_DIR": str(tmp_path / "cache"),
        "NUM_PROCS": "3",
        "TACTIC_CPU_LIMIT": "2",
        "TACTIC_MEMORY_LIMIT": "8g",
        "GITHUB_ACCESS_TOKEN": "t0k",
    }
    assert lean_dojo_environ(LeanDojoConfig(), {"GITHUB_ACCESS_TOKEN": "x"}) == {}
    stored = json.dumps(Config(plugins={"lean_dojo": settings}).to_dict())
    assert "t0k" not in stored  # never stored


@pytest.mark.parametrize(
    ("key", "value", "text"),
    [
        ("lean_dojo.tactic_memory_limit", "16GB", "look like '16g'"),
        ("lean_dojo.recheck", "sometimes", "'auto', 'repl' or 'off'"),
        ("lean_dojo.max_concurrency", 0, "at least 1"),
        ("lean_dojo.timeout", 0, "at least 1"),
    ],
)
def test_bad_settings_are_config_errors(key: str, value: object, text: str) -> None:
    with pytest.raises(ConfigError, match=text):
        load_config(overrides={key: value})


def test_settings_reach_lean_dojo_before_it_is_imported(tmp_path: Path) -> None:
    """A fresh interpreter: our keys must be what LeanDojo's import-time constants hold."""
    script = f"""
import json, sys
sys.path.insert(0, {str(REPO)!r})
from environments.lean.dojo.config import LeanDojoConfig
from prover.errors import ConfigError
from environments.lean.dojo.settings import load_lean_dojo
settings = LeanDojoConfig(cache_dir={str(tmp_path / "c")!r}, num_procs=3, tactic_cpu_limit=2,
                          tactic_memory_limit="8g")
ld = load_lean_dojo(settings)
dojo = sys.modules["lean_dojo.interaction.dojo"]
out = [str(ld.constants.CACHE_DIR), ld.constants.NUM_PROCS, dojo.TACTIC_CPU_LIMIT,
       dojo.TACTIC_MEMORY_LIMIT]
load_lean_dojo(settings)  # same settings again: fine
try:
    load_lean_dojo(LeanDojoConfig(cache_dir={str(tmp_path / "other")!r}))
except ConfigError as exc:
    out.append(str(exc))
print(json.dumps(out))
"""
    ours = ("CACHE_DIR", "NUM_PROCS", "TACTIC_CPU_LIMIT", "TACTIC_MEMORY_LIMIT")
    env = {k: v for k, v in os.environ.items() if k not in ours}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    cache, procs, cpus, memory, error = json.loads(done.stdout.strip().splitlines()[-1])
    assert (cache, procs, cpus, memory) == (str(tmp_path / "c"), 3, 2, "8g")
    assert "already imported" in error and "lean_dojo.cache_dir" in error


def test_create_refuses_recheck_repl_without_the_repl(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        "environments.lean.dojo.environment.repl_unavailable", lambda lean: "no lake"
    )
    with pytest.raises(InputError, match="recheck = 'repl' needs the lean-repl backend"):
        create(Config(plugins={"lean_dojo": LeanDojoConfig(recheck="repl")}))
    assert isinstance(create(Config()), LeanDojoEnvironment)


def test_load_lean_dojo_is_the_real_module() -> None:
    assert load_lean_dojo(LeanDojoConfig()) is lean_dojo


# -- repositories: GitHub, tracing ------------------------------------------------------------

TARGET = target_of(THEOREM)


def test_github_failures_say_what_to_do() -> None:
    limit = github.RateLimitExceededException(403, {"message": "API rate limit exceeded"}, {})
    no_token = repo_error(limit, TARGET, has_token=False)
    assert isinstance(no_token, InputError) and "GITHUB_ACCESS_TOKEN" in str(no_token)
    assert "wait" in str(repo_error(limit, TARGET, has_token=True))
    bad = github.BadCredentialsException(401, {"message": "Bad credentials"}, {})
    assert "rejected the access token" in str(repo_error(bad, TARGET, has_token=True))
    wrong = repo_error(ValueError("Invalid tag or branch: `x`"), TARGET, has_token=True)
    assert isinstance(wrong, InputError) and "check the url and commit" in str(wrong)
    offline = repo_error(urllib.error.URLError("no route"), TARGET, has_token=False)
    assert isinstance(offline, BackendError) and "DISABLE_REMOTE_CACHE" in str(offline)
    for error in (no_token, bad, wrong, offline):
        assert "\n" not in str(error)


def test_untraced_message_names_cost_and_command(tmp_path: Path) -> None:
    text = untraced_message(TARGET, TARGET.commit, tmp_path)
    assert "\n" not in text
    for part in (
        "not traced",
        "an hour",
        "32 GB",
        "trace(LeanGitRepo(",
        TARGET.commit,
        "allow_trace",
    ):
        assert part in text


def test_an_untraced_github_repository_is_refused_offline() -> None:
    """For a GitHub URL at a full commit the cache directory is known: no request is made."""
    from environments.lean.dojo.factory import LeanDojoFactory, traced_dirname

    commit = "0123456789abcdef0123456789abcdef01234567"
    assert traced_dirname("https://github.com/u/r", commit) == f"u-r-{commit}"
    assert traced_dirname("https://github.com/u/r/", commit) == f"u-r-{commit}"
    assert traced_dirname("https://github.com/u/r", "v4.9.0") is None  # a tag: ask GitHub
    assert traced_dirname("/home/me/repo", commit) is None
    target = DojoTarget("https://github.com/nobody/never-traced", commit, "A.lean", "t")
    with pytest.raises(InputError, match="is not traced in"):
        LeanDojoFactory(LeanDojoConfig())(target)


def test_real_factory_on_a_local_repository(tmp_path: Path) -> None:
    """LeanDojo's real LeanGitRepo on a local git repo (offline): untraced → our message;
    traced → a real, un-entered lean_dojo.Dojo, the repository resolved once."""
    repo = tmp_path / "lean-example"
    repo.mkdir()
    (repo / "lean-toolchain").write_text("leanprover/lean4:v4.9.0\n")
    (repo / "Example.lean").write_text("theorem t : True := by trivial\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo)]
    subprocess.run([*git, "init", "-q"], check=True, timeout=30)
    subprocess.run([*git, "add", "."], check=True, timeout=30)
    subprocess.run([*git, "commit", "-qm", "init"], check=True, timeout=30)
    commit = subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True, timeout=30
    ).stdout.strip()
    cache = tmp_path / "cache"
    script = f"""
import json, sys
sys.path.insert(0, {str(REPO)!r})
from environments.lean.dojo.config import LeanDojoConfig
from prover.errors import InputError
from environments.lean.dojo.factory import LeanDojoFactory
from environments.lean.dojo.target import DojoTarget
factory = LeanDojoFactory(LeanDojoConfig(cache_dir={str(cache)!r}, timeout=7))
target = DojoTarget({str(repo)!r}, {commit!r}, "Example.lean", "t")
out = {{}}
try:
    factory(target)
except InputError as exc:
    out["untraced"] = str(exc)
(__import__("pathlib").Path({str(cache)!r}) / "gitpython-lean-example-{commit}").mkdir()
a, b = factory(target), factory(target)
out["type"] = type(a).__module__ + "." + type(a).__name__
out["same_repo"] = a.repo is b.repo
out["entry"] = [a.entry.full_name, str(a.entry.file_path), a.timeout]
print(json.dumps(out))
"""
    env = {**os.environ, "DISABLE_REMOTE_CACHE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert "is not traced in" in out["untraced"] and "32 GB" in out["untraced"]
    assert out["type"] == "lean_dojo.interaction.dojo.Dojo"
    assert out["same_repo"] is True
    assert out["entry"] == ["t", "Example.lean", 7]


# -- doctor ------------------------------------------------------------------------------------


def test_doctor_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from environments.lean.dojo.environment import doctor_checks
    from prover import registry

    assert registry.entry("check", "lean-dojo").load() is doctor_checks
    monkeypatch.setenv("CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("GITHUB_ACCESS_TOKEN", raising=False)
    checks = {c.name: c for c in doctor_checks()}
    assert checks["lean-dojo"].ok and lean_dojo.__version__ in checks["lean-dojo"].detail
    assert not checks["lean-dojo: GitHub token"].ok
    assert "60 API requests an hour" in checks["lean-dojo: GitHub token"].detail
    llemma = checks["lean-dojo: Llemma's miniF2F traced"]
    assert not llemma.ok and f"CACHE_DIR={tmp_path}" in llemma.fix
    assert "trace(LeanGitRepo('https://github.com/rah4927/lean-dojo-mew'" in llemma.fix
    assert not any(c.required for c in checks.values())  # an optional backend
    (tmp_path / "rah4927-lean-dojo-mew-d00c776260c77de7e70125ef0cd119de6c0ff1de").mkdir()
    (tmp_path / "repos").mkdir()  # LeanDojo's clones, not a trace
    monkeypatch.setenv("GITHUB_ACCESS_TOKEN", "x")
    checks = {c.name: c for c in doctor_checks()}
    assert checks["lean-dojo: Llemma's miniF2F traced"].ok
    assert checks["lean-dojo: GitHub token"].ok
    assert "1 traced repositories" in checks["lean-dojo: cache"].detail
