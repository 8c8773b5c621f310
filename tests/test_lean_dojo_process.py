"""The lean-dojo environment over LeanDojo's real Dojo code talking to a stand-in Lean process.

`StandInDojo` is `lean_dojo.Dojo` with only `__enter__` replaced: instead of `lake env lean` on a
traced repository it spawns (through pexpect, as LeanDojo does) a small program that speaks
LeanDojo's Lean4Repl wire protocol — `REPL> {"error","sid","tacticState"}` lines out, one
`{"sid","cmd"}` request per line in — answering with real Lean goal states recorded in Llemma's
outputs. So `run_tac`, `_submit_request`, `_read_next_line` (pexpect timeouts, EOF), `_check_alive`
(exit 137 = OOM) and `__exit__` are LeanDojo's own code. The stand-in is not Lean.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pexpect
import pytest
from lean_dojo import Dojo, DojoInitError, DojoTacticTimeoutError, TacticState

from environments.lean.dojo.config import LeanDojoConfig
from environments.lean.dojo.environment import LeanDojoEnvironment
from environments.lean.dojo.target import DojoTarget, dojo_theorem
from environments.llemma import llemma_records
from prover.config import Config
from prover.errors import BackendError
from prover.strategies.best_first import BestFirst
from prover.testing import ScriptedGenerator
from prover.types import (
    Budget,
    Candidate,
    Failed,
    FailureKind,
    Finished,
    NewState,
    Status,
    VerdictStatus,
)

pytestmark = pytest.mark.timeout(90)

RW = "rw [h₁, h₂, h₃]"
SEP = "\u0000"

FAKE_LEAN4REPL = r"""
import json, os, sys, time

with open(sys.argv[1], encoding="utf-8") as fh:
    script = json.load(fh)


def reply(**fields):
    response = {"error": None, "sid": None, "tacticState": None, **fields}
    print("REPL> " + json.dumps(response, ensure_ascii=False, sort_keys=True), flush=True)


if script.get("start") == "eof":
    sys.exit(1)
if script.get("start") == "hang":
    time.sleep(600)
states = [script["initial"]]
reply(sid=0, tacticState=script["initial"])
while True:
    line = sys.stdin.readline()
    if not line or line.strip() == "exit":
        break
    request = json.loads(line)
    if request["sid"] >= len(states):
        sys.exit(1)  # Lean4Repl: "[fatal] unknown tsid" ends the REPL
    pp, tactic = states[request["sid"]], request["cmd"]
    outcome = script["moves"].get(pp + "\u0000" + tactic) or script["any"].get(tactic)
    if outcome is None:
        outcome = {"error": "<stdin>:1:0: unknown tactic"}
    for text in outcome.get("print", []):
        print(text, flush=True)
    if "state" in outcome:
        states.append(outcome["state"])
        reply(sid=len(states) - 1, tacticState=outcome["state"])
    elif outcome.get("finished"):
        states.append("no goals")
        reply(sid=len(states) - 1, tacticState="no goals")
    elif "error" in outcome:
        reply(error=outcome["error"])
    elif outcome.get("hang"):
        time.sleep(600)
    if "exit" in outcome:
        sys.stdout.flush()
        time.sleep(outcome.get("exit_after", 0))
        os._exit(outcome["exit"])
"""

ANY: dict[str, dict[str, Any]] = {
    "norm_num [foo]": {"error": "unknown identifier 'foo'"},
    # a macro expanding to `sorry`; the reply is what Lean4Repl's validateProof says
    "give_up": {"error": "proof contains `sorry`"},
    "slow": {"hang": True},
    "boom": {"exit": 1},
    "hog": {"exit": 137},
}


class StandInDojo(Dojo):
    """`lean_dojo.Dojo` whose `__enter__` spawns the stand-in instead of Lean (see module doc)."""

    def __init__(self, program: Path, script: dict[str, Any], workdir: Path, timeout: float):
        # Dojo.__init__ needs a lean_dojo.Theorem on a resolved LeanGitRepo (network); none of
        # the methods kept from Dojo read `entry`.
        self.entry = None  # type: ignore[assignment]
        self.timeout = timeout  # type: ignore[assignment]
        self.additional_imports = []
        self.build_deps = True
        self.is_successful = False
        self._program = program
        self._script = script
        self._workdir = workdir

    def __enter__(self) -> tuple[StandInDojo, TacticState]:
        self.modified_file = tempfile.NamedTemporaryFile(  # as LeanDojo does
            "wt", prefix="Test", suffix=".json", dir=self._workdir, delete=True, encoding="utf-8"
        ).__enter__()
        json.dump(self._script, self.modified_file, ensure_ascii=False)
        self.modified_file.flush()
        self.proc = pexpect.spawn(
            sys.executable,
            ["-I", "-S", str(self._program), self.modified_file.name],
            timeout=self.timeout,
            maxread=1,
            encoding="utf-8",
            echo=False,
        )
        # From here on, exactly what Dojo.__enter__ does after spawning Lean.
        try:
            res = json.loads(self._read_next_line()[0])
        except Exception as ex:
            if isinstance(ex, EOFError):
                raise DojoInitError("Unexpected EOF") from None
            if isinstance(ex, DojoTacticTimeoutError):
                raise DojoInitError("Timeout during initialization") from None
            raise
        assert res["error"] is None
        init_state = TacticState(self._post_process(res["tacticState"]), res["sid"])
        self.start_time = time.monotonic()
        return self, init_state


class StandIn:
    """A Dojo factory for the environment that keeps every Dojo it made."""

    def __init__(self, program: Path, script: dict[str, Any], workdir: Path, timeout: float):
        self.program, self.script, self.workdir, self.timeout = program, script, workdir, timeout
        self.dojos: list[StandInDojo] = []

    def __call__(self, target: DojoTarget) -> StandInDojo:
        dojo = StandInDojo(self.program, self.script, self.workdir, self.timeout)
        self.dojos.append(dojo)
        return dojo

    @property
    def pids(self) -> list[int]:
        return [d.proc.pid for d in self.dojos if hasattr(d, "proc")]


def gone(pid: int) -> bool:
    """True when no process and no process group with this id exists any more."""
    for probe in (os.kill, os.killpg):
        try:
            probe(pid, 0)
        except ProcessLookupError:
            continue
        return False
    return True


THEOREM = dojo_theorem(
    "https://github.com/rah4927/lean-dojo-mew",
    "d00c776260c77de7e70125ef0cd119de6c0ff1de",
    "MiniF2F/Test.lean",
    "mathd_algebra_478",
)


@pytest.fixture(scope="module")
def script(package_data: Path) -> dict[str, Any]:
    """mathd_algebra_478's real states from Llemma's outputs, as the stand-in's script."""
    source = [package_data / "llemma_formal2formal"]
    records = [r for r in llemma_records(source) if r["theorem"] == "mathd_algebra_478"]
    moves: dict[str, Any] = {}
    for r in records:
        if r["type"] == "tactic":
            result = r["result"]
            moves[r["goals"] + SEP + r["tactic"]] = (
                {"state": result["goals"][0]} if result["kind"] == "state" else {"finished": True}
            )
    initial = next(r for r in records if r["type"] == "open")["goals"][0]
    s1 = moves[initial + SEP + RW]["state"]
    moves[initial + SEP + "simp?"] = {"print": ["Try this: simp only [h₁]"], "state": s1}
    # replies, then is killed (137) half a second later, between two requests
    moves[initial + SEP + "die_after"] = {"state": s1, "exit": 137, "exit_after": 0.5}
    return {"initial": initial, "moves": moves, "any": ANY}


@pytest.fixture
def program(tmp_path: Path) -> Path:
    path = tmp_path / "fake_lean4repl.py"
    path.write_text(FAKE_LEAN4REPL, encoding="utf-8")
    return path


def make(
    program: Path, script: dict[str, Any], tmp_path: Path, *, timeout: float = 10.0, **settings: Any
) -> tuple[LeanDojoEnvironment, StandIn]:
    workdir = tmp_path / "traced"
    workdir.mkdir(exist_ok=True)
    stand_in = StandIn(program, script, workdir, timeout)
    settings.setdefault("recheck", "off")
    env = LeanDojoEnvironment(
        Config(plugins={"lean_dojo": LeanDojoConfig(**settings)}), factory=stand_in
    )
    return env, stand_in


def assert_clean(stand_in: StandIn) -> None:
    assert stand_in.pids, "no process was started"
    for pid in stand_in.pids:
        assert gone(pid), f"process group {pid} is still alive"
    assert list(stand_in.workdir.iterdir()) == [], "LeanDojo's temp file was left behind"


# -- LeanDojo's real result parsing -------------------------------------------------------------


async def test_real_run_tac_results(program: Path, script: dict[str, Any], tmp_path: Path) -> None:
    env, stand_in = make(program, script, tmp_path)
    session = await env.open(THEOREM)
    root = session.initial_state
    assert root.pretty == script["initial"]
    hinted = await session.run_tactic(root, "simp?")
    assert isinstance(hinted, NewState)
    assert hinted.messages == ("Try this: simp only [h₁]",)  # Lean's output before the reply
    s1 = (await session.run_tactic(root, RW)).state
    assert s1 == hinted.state  # same goals; states compare on goals only
    error = await session.run_tactic(s1, "norm_num [foo]")
    assert error == Failed(FailureKind.ERROR, "unknown identifier 'foo'")
    given_up = await session.run_tactic(s1, "give_up")
    assert isinstance(given_up, Failed) and given_up.kind is FailureKind.SORRY
    assert isinstance(await session.run_tactic(s1, "linarith"), Finished)
    assert len(stand_in.dojos) == 1 and stand_in.dojos[0].is_successful  # LeanDojo's own flag
    await env.close()
    assert_clean(stand_in)


# -- LeanDojo #218 ------------------------------------------------------------------------------


def test_the_stand_in_reproduces_issue_218(
    program: Path, script: dict[str, Any], tmp_path: Path
) -> None:
    """Reusing a Dojo after a timeout: the next tactic times out too (the process is busy)."""
    tmp_path.joinpath("traced").mkdir()
    dojo = StandInDojo(program, script, tmp_path / "traced", timeout=0.5)
    _, init = dojo.__enter__()
    try:
        with pytest.raises(DojoTacticTimeoutError):
            dojo.run_tac(init, "slow")
        with pytest.raises(DojoTacticTimeoutError):
            dojo.run_tac(init, RW)  # a good tactic, on a fine state
    finally:
        dojo.__exit__(None, None, None)
        dojo.proc.close(force=True)


async def test_timeout_restarts_lean_and_replays(
    program: Path, script: dict[str, Any], tmp_path: Path
) -> None:
    env, stand_in = make(program, script, tmp_path, timeout=0.5)
    session = await env.open(THEOREM)
    s1 = (await session.run_tactic(session.initial_state, RW)).state
    slow = await session.run_tactic(s1, "slow")
    assert isinstance(slow, Failed) and slow.kind is FailureKind.TIMEOUT
    assert gone(stand_in.pids[0])  # stopped at once, not left computing
    assert isinstance(await session.run_tactic(s1, "linarith"), Finished)
    assert len(stand_in.pids) == 2 and stand_in.pids[0] != stand_in.pids[1]
    assert env.stats.replayed_tactics == 1
    await env.close()
    assert_clean(stand_in)


# -- crashes and out of memory ------------------------------------------------------------------


@pytest.mark.parametrize(("tactic", "oom"), [("boom", False), ("hog", True)])
async def test_a_dead_lean_is_a_crash_and_137_is_out_of_memory(
    program: Path, script: dict[str, Any], tmp_path: Path, tactic: str, oom: bool
) -> None:
    env, stand_in = make(program, script, tmp_path)
    session = await env.open(THEOREM)
    s1 = (await session.run_tactic(session.initial_state, RW)).state
    crash = await session.run_tactic(s1, tactic)
    assert isinstance(crash, Failed) and crash.kind is FailureKind.CRASH
    assert crash.message.startswith("out of memory") is oom
    assert "Unexpected EOF" in crash.message  # what LeanDojo itself raised
    assert isinstance(await session.run_tactic(s1, "linarith"), Finished)
    assert (env.stats.crashes, env.stats.out_of_memory) == (1, int(oom))
    await env.close()
    assert_clean(stand_in)


async def test_lean_dojos_own_oom_flag(
    program: Path, script: dict[str, Any], tmp_path: Path
) -> None:
    """Lean died (137) between requests: LeanDojo's `_check_alive` raises DojoCrashError("OOM")."""
    env, stand_in = make(program, script, tmp_path)
    session = await env.open(THEOREM)
    s1 = (await session.run_tactic(session.initial_state, "die_after")).state
    proc = stand_in.dojos[0].proc
    deadline = time.monotonic() + 10
    while proc.isalive() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)  # poll: the stand-in exits right after its reply
    assert not proc.isalive() and proc.exitstatus == 137
    crash = await session.run_tactic(s1, "linarith")
    assert isinstance(crash, Failed) and crash.kind is FailureKind.CRASH
    assert crash.message.startswith("out of memory") and "LeanDojo: OOM" in crash.message
    # Restarted: the root needs no replay. Restoring s1 replays `die_after`, which answers and
    # then gets Lean killed again, so the tactic after it meets a dead process once more.
    assert isinstance(await session.run_tactic(session.initial_state, RW), NewState)
    again = await session.run_tactic(s1, "linarith")
    assert isinstance(again, Failed) and again.message.startswith("out of memory")
    stats = env.stats
    assert (stats.restarts, stats.replayed_tactics, stats.out_of_memory) == (1, 1, 2)
    await env.close()
    assert_clean(stand_in)


# -- start-up failures --------------------------------------------------------------------------


@pytest.mark.parametrize(("start", "text"), [("eof", "Unexpected EOF"), ("hang", "Timeout")])
async def test_a_failed_start_leaves_nothing_running(
    program: Path, script: dict[str, Any], tmp_path: Path, start: str, text: str
) -> None:
    """LeanDojo leaves Lean and its temp file behind when __enter__ fails; we do not."""
    env, stand_in = make(program, {**script, "start": start}, tmp_path, timeout=0.5)
    with pytest.raises(BackendError, match=f"could not start Lean.*{text}"):
        await env.open(THEOREM)
    assert env.stats.init_failures == 1
    assert_clean(stand_in)
    await env.close()


# -- cancellation and cleanup -------------------------------------------------------------------


async def test_a_cancelled_tactic_stops_lean_at_once(
    program: Path, script: dict[str, Any], tmp_path: Path
) -> None:
    env, stand_in = make(program, script, tmp_path, timeout=60.0)
    session = await env.open(THEOREM)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(session.run_tactic(session.initial_state, "slow"), 0.3)
    start = time.monotonic()
    await asyncio.wait_for(session.close(), 10)  # not the 60 s LeanDojo would wait
    assert time.monotonic() - start < 10
    await env.close()
    assert_clean(stand_in)


async def test_close_stops_every_process(
    program: Path, script: dict[str, Any], tmp_path: Path
) -> None:
    env, stand_in = make(program, script, tmp_path, max_concurrency=2)
    a, b = await env.open(THEOREM), await env.open(THEOREM)
    await a.run_tactic(a.initial_state, "boom")
    await a.run_tactic(a.initial_state, RW)
    await b.run_tactic(b.initial_state, RW)
    assert env.stats.live == 2
    await env.close()  # the sessions were never closed
    assert len(stand_in.pids) == 3
    assert_clean(stand_in)
    assert env.stats.live == 0


# -- the search on top ------------------------------------------------------------------------


async def test_best_first_search_through_lean_dojo(
    program: Path, script: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reason = "the lean-repl backend is not usable: no lake"  # decided here, not by the machine
    monkeypatch.setattr(
        "environments.lean.dojo.environment.load_checker", lambda config: (None, reason)
    )
    initial = script["initial"]
    s1 = script["moves"][initial + SEP + RW]["state"]
    generator = ScriptedGenerator(
        {
            initial: [Candidate("slow", -0.05, 5), Candidate(RW, -0.5, 8)],
            s1: [Candidate("norm_num [foo]", -0.01, 3), Candidate("linarith", -0.3, 2)],
        }
    )
    env, stand_in = make(program, script, tmp_path, timeout=0.5, recheck="auto")
    session = await env.open(THEOREM)
    result = await BestFirst().search(
        THEOREM, session, generator, Budget(samples=4, max_expansions=5, wall_seconds=60)
    )
    verdict = await session.verify(result.proof or "")
    await session.close()
    await env.close()
    assert result.status is Status.PROVED and result.steps == (RW, "linarith")
    assert result.verified_by == "lean-dojo" and result.verified is False
    assert verdict.status is VerdictStatus.UNCHECKED and reason in verdict.message
    assert result.stats.failures == {"timeout": 1, "error": 1}
    assert_clean(stand_in)
