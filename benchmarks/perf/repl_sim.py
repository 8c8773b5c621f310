"""Simulated Lean REPL processes for the performance harness. They are NOT Lean.

A `SimProcesses` tracker stands where `prover.processes.ProcessTracker` starts real processes, so
the real `lean-repl` pool, workers, sessions and checker run unchanged against in-process REPL
stand-ins. Each stand-in reads the REPL's framing from its stdin (one JSON request ending in a
blank line), answers it from the simulated world (benchmarks/perf/world.py), and writes the reply
to its stdout stream after the request's simulated compute time. Every computation holds one of the
machine's W cores, so the search pool and the checker share the cores as Lean processes do.

What each request costs: the header (`import Mathlib`) `sim.header_seconds`; a tactic its latency
drawn from the world; a whole proof the sum of its steps' latencies; any other command (opening a
statement, `#print axioms`, `#check`) `sim.command_seconds`. Memory starts at
`sim.base_memory_mb` and grows by `sim.state_memory_mb` per proof state the process keeps (the
REPL never frees one); past the process's address-space cap it dies as Lean does (exit 137).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from benchmarks.perf.settings import SimConfig
from benchmarks.perf.world import World
from prover.processes import ManagedProcess, ProcessSpec, ProcessTracker, TailBuffer
from prover.types import Failed, FailureKind, Finished

_DECL = re.compile(r"(?:theorem|lemma)\s+([^\s:({\[]+)")
_PROOF = re.compile(r"(?P<head>.*?) := by(?P<body>\s.*)\Z", re.DOTALL)
_AXIOMS = re.compile(r"#print axioms (\S+)\s*\Z")
_CHECK = re.compile(r"#check @(\S+)\s*\Z")
_MB = 1024 * 1024
# Fake pids: far above any kernel's pid_max, so none can name a real process.
_PIDS = itertools.count(1 << 40)


@dataclass
class MachineUsage:
    """What the simulated cores computed, in simulated seconds, by kind of request."""

    tactics: int = 0
    tactic_seconds: float = 0.0
    proofs: int = 0  # whole proofs checked as one command
    proof_seconds: float = 0.0
    commands: int = 0
    command_seconds: float = 0.0
    headers: int = 0
    header_seconds: float = 0.0
    busy_seconds: float = 0.0  # clock time some core was held, summed over cores
    max_cores_in_use: int = 0
    processes: int = 0
    deaths: int = 0  # processes that died of memory
    by_theorem: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    @property
    def seconds(self) -> float:
        """Σ compute time of every request."""
        return self.tactic_seconds + self.proof_seconds + self.command_seconds + self.header_seconds


class Machine:
    """W cores shared by every simulated REPL process; one world answers all of them.

    Computations run first come, first served on the free cores; each is a timer on the event
    loop (no task per request), so the harness costs little Python time per simulated tactic.
    """

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.world = World(config)
        self.usage = MachineUsage()
        self._free = config.workers
        self._waiting: deque[tuple[float, Callable[[], None]]] = deque()

    @property
    def in_use(self) -> int:
        return self.config.workers - self._free

    def compute(self, seconds: float, done: Callable[[], None]) -> None:
        """Call `done` after `seconds` of simulated time on a core (once one is free)."""
        if self._free > 0:
            self._start(seconds, done)
        else:
            self._waiting.append((seconds, done))

    def _start(self, seconds: float, done: Callable[[], None]) -> None:
        self._free -= 1
        self.usage.max_cores_in_use = max(self.usage.max_cores_in_use, self.in_use)
        loop = asyncio.get_running_loop()
        loop.call_later(seconds / self.config.time_scale, self._finish, loop.time(), done)

    def _finish(self, started: float, done: Callable[[], None]) -> None:
        self._free += 1
        loop = asyncio.get_running_loop()
        self.usage.busy_seconds += (loop.time() - started) * self.config.time_scale
        if self._waiting:
            self._start(*self._waiting.popleft())
        done()


class _Stdin:
    """The process's stdin: each complete request (blank-line ended) goes to the process."""

    def __init__(self, receive: Callable[[str], None]) -> None:
        self._receive = receive
        self._buffer = ""
        self._closed = False

    def write(self, data: bytes) -> None:
        if self._closed:
            raise BrokenPipeError("the simulated REPL process has exited")
        self._buffer += data.decode("utf-8")
        while "\n\n" in self._buffer:
            block, self._buffer = self._buffer.split("\n\n", 1)
            if block.strip():
                self._receive(block)

    async def drain(self) -> None:
        if self._closed:
            raise BrokenPipeError("the simulated REPL process has exited")

    def close(self) -> None:
        self._closed = True

    def is_closing(self) -> bool:
        return self._closed


class SimReplProcess:
    """The parts of `asyncio.subprocess.Process` the REPL worker uses, backed by a stand-in.

    Like the REPL, it answers its requests one at a time, in order."""

    def __init__(self, machine: Machine, memory_limit: int | None) -> None:
        self.pid = next(_PIDS)
        self.returncode: int | None = None
        self._machine = machine
        self._limit = memory_limit
        self._pending: deque[str] = deque()
        self._busy = False
        self.stdin = _Stdin(self._receive)
        self.stdout = asyncio.StreamReader(limit=64 * _MB)
        self.memory = machine.config.base_memory_mb * _MB
        self._states: dict[int, tuple[str, str]] = {}  # proof state → (theorem, goal)
        self._envs = itertools.count(1)  # env 0 is the header's
        self._ids = itertools.count()
        self._exited = asyncio.Event()
        self.stderr: TailBuffer | None = None  # set by SimProcesses: what the worker reads

    async def wait(self) -> int:
        await self._exited.wait()
        assert self.returncode is not None
        return self.returncode

    def exit(self, code: int) -> None:
        """End the process with `code` (its stdout reaches EOF; its stdin refuses writes)."""
        if self.returncode is not None:
            return
        self.returncode = code
        self.stdin.close()
        self.stdout.feed_eof()
        self._exited.set()

    def _receive(self, block: str) -> None:
        self._pending.append(block)
        if not self._busy:
            self._next()

    def _next(self) -> None:
        if self.returncode is not None or not self._pending:
            self._busy = False
            return
        self._busy = True
        reply, seconds = self._answer(json.loads(self._pending.popleft()))
        self._machine.compute(seconds, lambda: self._deliver(reply))

    def _deliver(self, reply: dict[str, Any]) -> None:
        if self.returncode is not None:  # killed while computing
            return
        if self._limit is not None and self.memory > self._limit:
            self._machine.usage.deaths += 1
            # Lean's runtime under RLIMIT_AS: an allocation fails, it panics and exits with 1.
            if self.stderr is not None:
                self.stderr.write(b"INTERNAL PANIC: out of memory\n")
            self.exit(1)
            return
        self.stdout.feed_data(json.dumps(reply).encode("utf-8") + b"\n\n")
        self._next()

    # -- the REPL's answers -------------------------------------------------------------------

    def _new_state(self, theorem: str, goal: str) -> int:
        state = next(self._ids)
        self._states[state] = (theorem, goal)
        self.memory += self._machine.config.state_memory_mb * _MB
        return state

    def _answer(self, request: dict[str, Any]) -> tuple[dict[str, Any], float]:
        if "tactic" in request:
            return self._tactic(str(request["tactic"]), request.get("proofState"))
        text = str(request.get("cmd", ""))
        usage, config = self._machine.usage, self._machine.config
        if "env" not in request:  # the header
            usage.headers += 1
            usage.header_seconds += config.header_seconds
            return {"env": 0}, config.header_seconds
        return self._command(text)

    def _tactic(self, text: str, state: Any) -> tuple[dict[str, Any], float]:
        known = self._states.get(state) if isinstance(state, int) else None
        if known is None:
            return {"message": f"Unknown proof state {state}"}, 0.0
        theorem, goal = known
        step = self._machine.world.step(theorem, goal, text)
        seconds = step.seconds
        if isinstance(step.result, Failed) and step.result.kind is FailureKind.TIMEOUT:
            seconds = self._machine.config.tactic_timeout * 2  # Lean is still busy when cut off
        usage = self._machine.usage
        usage.tactics += 1
        usage.tactic_seconds += seconds
        usage.by_theorem[theorem] += seconds
        after = self._new_state(theorem, goal)
        if isinstance(step.result, Failed):
            error = {"severity": "error", "pos": {"line": 1, "column": 0}, "data": "sim: failed"}
            return {"proofState": after, "goals": [goal], "messages": [error]}, seconds
        if isinstance(step.result, Finished):
            return {"proofState": after, "goals": [], "proofStatus": "Completed"}, seconds
        new_goal = step.result.state.pretty
        self._states[after] = (theorem, new_goal)
        return {"proofState": after, "goals": [new_goal], "proofStatus": "Incomplete"}, seconds

    def _command(self, text: str) -> tuple[dict[str, Any], float]:
        usage, config = self._machine.usage, self._machine.config
        env = next(self._envs)
        axioms, check = _AXIOMS.search(text), _CHECK.search(text)
        if axioms or check:
            usage.commands += 1
            usage.command_seconds += config.command_seconds
            if axioms:
                info = f"'{axioms.group(1)}' depends on axioms: [propext, Quot.sound]"
            else:
                assert check is not None
                info = f"@{check.group(1)} : {_goal_type(check.group(1))}"
            return {"env": env, "messages": [_info(info)]}, config.command_seconds
        proof = _PROOF.search(text)
        name = _DECL.search(text)
        if proof is None or name is None:
            return {"message": "sim: not a declaration"}, 0.0
        theorem = name.group(1)
        body = proof.group("body").strip()
        if body == "sorry":
            usage.commands += 1
            usage.command_seconds += config.command_seconds
            goal = self._machine.world.initial_state(theorem, theorem).pretty
            state = self._new_state(theorem, goal)
            sorry = {"proofState": state, "goal": goal, "pos": {"line": 1, "column": 0}}
            warning = {"severity": "warning", "data": "declaration uses 'sorry'"}
            return {"env": env, "sorries": [sorry], "messages": [warning]}, config.command_seconds
        return self._proof(theorem, body, env)

    def _proof(self, theorem: str, body: str, env: int) -> tuple[dict[str, Any], float]:
        """A whole proof: its steps replayed from the statement; accepted if the last closes it."""
        world = self._machine.world
        goal: str | None = world.initial_state(theorem, theorem).pretty
        seconds, problem = 0.0, None
        for line in (line.strip() for line in body.splitlines()):
            if not line:
                continue
            if goal is None:
                problem = "sim: no goals to be proved"
                break
            step = world.step(theorem, goal, line)
            seconds += step.seconds
            if isinstance(step.result, Failed):
                problem = f"sim: step failed: {line}"
                break
            goal = None if isinstance(step.result, Finished) else step.result.state.pretty
        if problem is None and goal is not None:
            problem = "sim: unsolved goals"
        usage = self._machine.usage
        usage.proofs += 1
        usage.proof_seconds += seconds
        usage.by_theorem[theorem] += seconds
        if problem is not None:
            error = {"severity": "error", "pos": {"line": 2, "column": 2}, "data": problem}
            return {"env": env, "messages": [error]}, seconds
        return {"env": env}, seconds


def _info(text: str) -> dict[str, Any]:
    return {"severity": "info", "pos": {"line": 1, "column": 0}, "data": text}


def _goal_type(theorem: str) -> str:
    return f"sim_type_of_{theorem}"


class SimProcesses(ProcessTracker):
    """Starts simulated REPL processes instead of real ones; stops them by their own handle."""

    def __init__(self, machine: Machine) -> None:
        super().__init__()
        self.machine = machine
        self._sim: dict[int, ManagedProcess] = {}

    @property
    def pids(self) -> list[int]:
        return [pid for pid, p in self._sim.items() if p.alive]

    async def start(self, spec: ProcessSpec) -> ManagedProcess:
        proc = SimReplProcess(self.machine, spec.memory_limit_bytes)
        managed = ManagedProcess(spec, proc)  # type: ignore[arg-type]
        proc.stderr = managed._tail = TailBuffer(max(spec.stderr_tail_bytes, 1))
        self._sim[proc.pid] = managed
        self.started.append(proc.pid)
        self.machine.usage.processes += 1
        return managed

    async def stop(self, process: ManagedProcess) -> int | None:
        proc = process.proc
        assert isinstance(proc, SimReplProcess)
        proc.exit(-15)
        self._sim.pop(proc.pid, None)
        return proc.returncode

    async def stop_all(self) -> None:
        for process in list(self._sim.values()):
            await self.stop(process)
