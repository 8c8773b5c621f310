"""Recorded interactions: the JSONL trace format, and a wrapper that records any environment.

One JSON object per line:
    {"type": "open", "theorem": NAME, "statement": TEXT, "goals": [..]}
    {"type": "tactic", "theorem": NAME, "goals": PRETTY, "tactic": TEXT, "result": RESULT}
RESULT is {"kind": "state", "goals": [..]}, {"kind": "finished"} or
{"kind": "failed", "failure": "error"|"timeout"|..., "message": TEXT}.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from prover.errors import InputError
from prover.paths import not_utf8, os_error_message, require_file
from prover.protocols import Environment, ProofSession
from prover.types import (
    Failed,
    FailureKind,
    Finished,
    NewState,
    ProofState,
    TacticResult,
    Theorem,
    Verdict,
)


def result_to_json(result: TacticResult) -> dict[str, Any]:
    if isinstance(result, NewState):
        return {"kind": "state", "goals": list(result.state.goals)}
    if isinstance(result, Finished):
        return {"kind": "finished"}
    return {"kind": "failed", "failure": result.kind.value, "message": result.message}


def result_from_json(data: dict[str, Any]) -> TacticResult:
    kind = data.get("kind")
    if kind == "state":
        return NewState(ProofState(tuple(data["goals"])))
    if kind == "finished":
        return Finished()
    if kind == "failed":
        return Failed(FailureKind(data.get("failure", "error")), data.get("message", ""))
    raise ValueError(f"unknown result kind {kind!r}")


MAX_LINE = 64 << 20  # one record; real ones are a few kB (a goal state and a tactic)


def read_trace(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield the records of a trace file, with a one-line error naming a bad line."""
    p = Path(path).expanduser()
    if not p.exists() and not p.is_dir():
        raise InputError(f"trace file '{p}' not found; make one with `prover trace` or --record")
    require_file(p, "trace file")
    try:
        with p.open("rb") as fh:  # bytes, so a non-UTF-8 line is named by its number
            for lineno, raw in enumerate(iter(lambda: fh.readline(MAX_LINE + 1), b""), 1):
                if len(raw) > MAX_LINE:
                    raise InputError(
                        f"trace file '{p}' line {lineno} is longer than {MAX_LINE >> 20} MiB; "
                        "it is not a trace (make one with `prover trace` or --record)"
                    )
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise InputError(not_utf8(p, "trace file", lineno)) from exc
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(
                        f"trace file '{p}' line {lineno} is not JSON ({exc.msg})"
                    ) from exc
                if not _valid(record):
                    raise InputError(
                        f"trace file '{p}' line {lineno}: expected an open/tactic record"
                    )
                yield record
    except OSError as exc:
        raise InputError(os_error_message(exc, "trace file", p)) from exc


def _valid(record: Any) -> bool:
    """The fields the replay environment reads, with their types (a trace is user input)."""
    if not isinstance(record, dict):
        return False
    if record.get("type") == "open":
        goals = record.get("goals")
        return (
            isinstance(record.get("theorem"), str)
            and isinstance(goals, list)
            and all(isinstance(g, str) for g in goals)
            and isinstance(record.get("statement", ""), str)
        )
    if record.get("type") == "tactic":
        result = record.get("result")
        return (
            isinstance(record.get("goals"), str)
            and isinstance(record.get("tactic"), str)
            and isinstance(result, dict)
            and isinstance(result.get("kind"), str)
        )
    return False


class TraceWriter:
    """Appends records to a JSONL file, one flushed line per record (safe across threads)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[str] = self.path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False)
        with self._lock:
            self._fh.write(line + "\n")
            self._fh.flush()

    def close(self) -> None:
        with self._lock:
            self._fh.close()


class _RecordingSession:
    def __init__(self, inner: ProofSession, theorem: Theorem, writer: TraceWriter) -> None:
        self._inner = inner
        self._theorem = theorem
        self._writer = writer

    @property
    def initial_state(self) -> ProofState:
        return self._inner.initial_state

    async def run_tactic(self, state: ProofState, tactic: str) -> TacticResult:
        result = await self._inner.run_tactic(state, tactic)
        self._writer.write(
            {
                "type": "tactic",
                "theorem": self._theorem.name,
                "goals": state.pretty,
                "tactic": tactic,
                "result": result_to_json(result),
            }
        )
        return result

    async def verify(self, proof: str) -> Verdict:
        return await self._inner.verify(proof)

    def assemble(self, steps: Sequence[str]) -> str:
        return self._inner.assemble(steps)

    def __getattr__(self, name: str) -> Any:  # optional capabilities (run_sketch …) pass through
        return getattr(self._inner, name)

    async def close(self) -> None:
        await self._inner.close()


class RecordingEnvironment:
    """Wraps any environment and writes every interaction to a replayable trace."""

    def __init__(self, inner: Environment, path: str | Path) -> None:
        self.inner = inner
        self.name = inner.name
        self._writer = TraceWriter(path)

    async def open(self, theorem: Theorem) -> ProofSession:
        session = await self.inner.open(theorem)
        self._writer.write(
            {
                "type": "open",
                "theorem": theorem.name,
                "statement": theorem.statement,
                "goals": list(session.initial_state.goals),
            }
        )
        return _RecordingSession(session, theorem, self._writer)

    async def judge(self, theorem: Theorem, proof: str) -> Verdict:
        """The wrapped environment's judge (recording changes nothing about what counts)."""
        from prover.run import judge_proof

        return await judge_proof(self.inner, theorem, proof)

    async def close(self) -> None:
        try:
            await self.inner.close()
        finally:
            self._writer.close()
