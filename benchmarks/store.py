"""The results store: SQLite (standard library) in WAL mode, one file under $PROVER_HOME.

One row per run (name, full resolved config, versions of model / toolchain / dataset / code) and
one row per finished theorem attempt, committed as each attempt finishes, so a killed runner loses
nothing finished. (run, theorem, attempt) is unique: a resumed or retried run can never record
the same attempt twice. Search trees live in their own table so listing attempts stays cheap,
stored as zlib-compressed JSON (read back transparently; older stores hold plain JSON text).
`StoreWriter` records attempts on a thread of its own, so a commit (and its fsync) never stalls
the event loop the searches run on.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import socket
import sqlite3
import threading
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from prover.errors import InputError
from prover.types import SearchResult

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    benchmark TEXT NOT NULL,
    split TEXT NOT NULL,
    planned INTEGER NOT NULL,
    attempts_per_theorem INTEGER NOT NULL,
    config TEXT NOT NULL,
    versions TEXT NOT NULL,
    status TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    host TEXT,
    pid INTEGER
);
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    theorem TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    split TEXT,
    category TEXT,
    status TEXT NOT NULL,
    proof TEXT,
    steps TEXT NOT NULL,
    verified INTEGER NOT NULL,
    verified_by TEXT,
    model_seconds REAL NOT NULL,
    env_seconds REAL NOT NULL,
    search_seconds REAL NOT NULL,
    total_seconds REAL NOT NULL,
    expansions INTEGER NOT NULL,
    tactics_run INTEGER NOT NULL,
    model_calls INTEGER NOT NULL,
    candidates INTEGER NOT NULL,
    tokens INTEGER NOT NULL,
    failures TEXT NOT NULL,
    stop_reason TEXT,
    error TEXT,
    details TEXT,
    worker TEXT,
    finished REAL NOT NULL,
    UNIQUE (run_id, theorem, attempt)
);
CREATE TABLE IF NOT EXISTS trees (
    attempt_id INTEGER PRIMARY KEY REFERENCES attempts(id) ON DELETE CASCADE,
    tree TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS attempts_by_run ON attempts(run_id, theorem);
"""


@dataclass(frozen=True)
class RunInfo:
    """One run row plus its progress counts."""

    id: int
    name: str
    benchmark: str
    split: str
    planned: int
    attempts_per_theorem: int
    config: dict[str, Any]
    versions: dict[str, Any]
    status: str
    created: float
    updated: float
    host: str | None
    pid: int | None
    done: int
    proved: int
    verified: int

    @property
    def complete(self) -> bool:
        return self.done >= self.planned

    @property
    def state(self) -> str:
        """`finished`, `interrupted`, `running`, or `stopped` (a runner that died mid-run)."""
        if self.status == "running" and not _alive(self.host, self.pid):
            return "stopped"
        return self.status


@dataclass(frozen=True)
class AttemptRow:
    """One finished attempt as stored."""

    id: int
    run: str
    theorem: str
    attempt: int
    split: str | None
    category: str | None
    status: str
    proof: str | None
    steps: tuple[str, ...]
    verified: bool
    verified_by: str | None
    model_seconds: float
    env_seconds: float
    search_seconds: float
    total_seconds: float
    expansions: int
    tactics_run: int
    model_calls: int
    candidates: int
    tokens: int
    failures: dict[str, int]
    stop_reason: str | None
    error: str | None
    details: dict[str, Any]
    worker: str | None
    finished: float

    @property
    def proved(self) -> bool:
        return self.status == "proved"

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "theorem": self.theorem,
            "attempt": self.attempt,
            "split": self.split,
            "category": self.category,
            "status": self.status,
            "proof": self.proof,
            "steps": list(self.steps),
            "verified": self.verified,
            "verified_by": self.verified_by,
            "seconds": {
                "model": self.model_seconds,
                "env": self.env_seconds,
                "search": self.search_seconds,
                "total": self.total_seconds,
            },
            "expansions": self.expansions,
            "tactics_run": self.tactics_run,
            "model_calls": self.model_calls,
            "candidates": self.candidates,
            "tokens": self.tokens,
            "failures": self.failures,
            "stop_reason": self.stop_reason,
            "error": self.error,
            "details": self.details,
            "worker": self.worker,
            "finished": self.finished,
        }


class Store:
    """Runs and attempts in one SQLite file (see module docstring). Not shared across threads."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit survives power loss, not only a killed process; one commit per
            # finished attempt keeps the cost negligible.
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise InputError(
                    f"results store {self.path} was written by a newer prover (schema {version}); "
                    "upgrade prover or use another --store"
                )
            with self._transaction():
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise InputError(
                f"cannot open results store {self.path} ({exc}); pass another --store DIR"
            ) from exc

    @classmethod
    def at_home(cls, home: str | os.PathLike[str]) -> Store:
        return cls(Path(home).expanduser() / "results.sqlite")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @property
    def journal_mode(self) -> str:
        return str(self._db.execute("PRAGMA journal_mode").fetchone()[0])

    # runs

    def create_run(
        self,
        name: str,
        *,
        benchmark: str,
        split: str,
        planned: int,
        attempts_per_theorem: int,
        config: dict[str, Any],
        versions: dict[str, Any],
    ) -> RunInfo:
        """A new run row in state `running`; an InputError if the name is taken."""
        now = time.time()
        try:
            with self._transaction():
                self._db.execute(
                    "INSERT INTO runs (name, benchmark, split, planned, attempts_per_theorem, "
                    "config, versions, status, created, updated, host, pid) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)",
                    (
                        name,
                        benchmark,
                        split,
                        planned,
                        attempts_per_theorem,
                        json.dumps(config, sort_keys=True),
                        json.dumps(versions, sort_keys=True),
                        now,
                        now,
                        socket.gethostname(),
                        os.getpid(),
                    ),
                )
        except sqlite3.IntegrityError as exc:
            raise InputError(
                f"a run named '{name}' already exists; continue it with --resume {name} "
                "or choose another --run NAME"
            ) from exc
        return self.require_run(name)

    def run(self, name: str) -> RunInfo | None:
        row = self._db.execute(_RUN_QUERY + " WHERE r.name = ? GROUP BY r.id", (name,)).fetchone()
        return _run_info(row) if row is not None else None

    def require_run(self, name: str) -> RunInfo:
        info = self.run(name)
        if info is None:
            known = [r.name for r in self.runs()][-5:]
            hint = f" (recent: {', '.join(known)})" if known else " (the store has no runs yet)"
            raise InputError(
                f"no run named '{name}' in {self.path}{hint}; `prover runs` lists them"
            )
        return info

    def runs(self) -> list[RunInfo]:
        rows = self._db.execute(_RUN_QUERY + " GROUP BY r.id ORDER BY r.created").fetchall()
        return [_run_info(row) for row in rows]

    def mark(self, run_id: int, status: str) -> None:
        """Set a run's status (`running`, `finished`, `interrupted`) and its owning process."""
        with self._transaction():
            self._db.execute(
                "UPDATE runs SET status = ?, updated = ?, host = ?, pid = ? WHERE id = ?",
                (status, time.time(), socket.gethostname(), os.getpid(), run_id),
            )

    def settle(self, run_id: int, interrupted: bool) -> bool:
        """Mark a shard's end in one transaction: `finished` once every planned attempt of the
        run is stored (never overwritten by a shard that saw fewer), else `interrupted` or
        `incomplete`. True when the run is complete."""
        with self._transaction():
            row = self._db.execute(
                "SELECT r.planned, r.status, COUNT(a.id) AS done FROM runs r "
                "LEFT JOIN attempts a ON a.run_id = r.id WHERE r.id = ? GROUP BY r.id",
                (run_id,),
            ).fetchone()
            complete = row is not None and row["done"] >= row["planned"]
            status = "finished" if complete else "interrupted" if interrupted else "incomplete"
            self._db.execute(
                "UPDATE runs SET status = ?, updated = ?, host = ?, pid = ? WHERE id = ?",
                (status, time.time(), socket.gethostname(), os.getpid(), run_id),
            )
        return complete

    def update_versions(self, run_id: int, versions: dict[str, Any]) -> None:
        with self._transaction():
            self._db.execute(
                "UPDATE runs SET versions = ? WHERE id = ?",
                (json.dumps(versions, sort_keys=True), run_id),
            )

    def delete_run(self, name: str) -> None:
        info = self.require_run(name)
        with self._transaction():
            self._db.execute("DELETE FROM runs WHERE id = ?", (info.id,))

    # attempts

    def forget_errors(self, name: str) -> int:
        """Delete the run's attempts that ended in `error`, so a resume runs them again."""
        info = self.require_run(name)
        with self._transaction():
            cursor = self._db.execute(
                "DELETE FROM attempts WHERE run_id = ? AND status = 'error'", (info.id,)
            )
        return cursor.rowcount

    def finished(self, run_id: int) -> set[tuple[str, int]]:
        """(theorem, attempt) pairs already recorded for the run."""
        rows = self._db.execute(
            "SELECT theorem, attempt FROM attempts WHERE run_id = ?", (run_id,)
        ).fetchall()
        return {(row[0], int(row[1])) for row in rows}

    def record(
        self,
        run_id: int,
        theorem: str,
        attempt: int,
        result: SearchResult,
        *,
        split: str | None = None,
        category: str | None = None,
        worker: str | None = None,
    ) -> bool:
        """Commit one finished attempt with its tree; False if it was already recorded."""
        s = result.stats
        with self._transaction():
            cursor = self._db.execute(
                "INSERT INTO attempts (run_id, theorem, attempt, split, category, status, proof, "
                "steps, verified, verified_by, model_seconds, env_seconds, search_seconds, "
                "total_seconds, expansions, tactics_run, model_calls, candidates, tokens, "
                "failures, stop_reason, error, details, worker, finished) "
                f"VALUES ({', '.join('?' * 25)}) "
                "ON CONFLICT (run_id, theorem, attempt) DO NOTHING",
                (
                    run_id,
                    theorem,
                    attempt,
                    split,
                    category,
                    result.status.value,
                    result.proof,
                    json.dumps(list(result.steps), ensure_ascii=False),
                    int(result.verified),
                    result.verified_by,
                    s.model_seconds,
                    s.env_seconds,
                    s.search_seconds,
                    s.total_seconds,
                    s.expansions,
                    s.tactics_run,
                    s.model_calls,
                    s.candidates,
                    s.tokens,
                    json.dumps(dict(s.failures), sort_keys=True),
                    s.stop_reason,
                    result.error,
                    json.dumps(_details(result), ensure_ascii=False, default=str),
                    worker,
                    time.time(),
                ),
            )
            inserted = cursor.rowcount == 1
            if inserted and result.tree is not None:
                self._db.execute(
                    "INSERT INTO trees (attempt_id, tree) VALUES (?, ?)",
                    (cursor.lastrowid, encode_tree(result.tree)),
                )
            self._db.execute("UPDATE runs SET updated = ? WHERE id = ?", (time.time(), run_id))
        return inserted

    def attempts(self, run: RunInfo) -> list[AttemptRow]:
        rows = self._db.execute(
            "SELECT * FROM attempts WHERE run_id = ? ORDER BY theorem, attempt", (run.id,)
        ).fetchall()
        return [_attempt_row(run.name, row) for row in rows]

    def tree(self, attempt_id: int) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT tree FROM trees WHERE attempt_id = ?", (attempt_id,)
        ).fetchone()
        return decode_tree(row[0]) if row is not None else None

    def export_jsonl(self, name: str, out: IO[str], *, trees: bool = False) -> int:
        """Write the run (a first `"type": "run"` line) and its attempts as JSONL; returns the
        number of attempts written."""
        info = self.require_run(name)
        header = {
            "type": "run",
            "name": info.name,
            "benchmark": info.benchmark,
            "split": info.split,
            "planned": info.planned,
            "attempts_per_theorem": info.attempts_per_theorem,
            "status": info.state,
            "created": info.created,
            "config": info.config,
            "versions": info.versions,
        }
        out.write(json.dumps(header, ensure_ascii=False) + "\n")
        count = 0
        for row in self.attempts(info):
            record = {"type": "attempt", **row.to_json()}
            if trees:
                record["tree"] = self.tree(row.id)
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
        return count


def _details(result: SearchResult) -> dict[str, Any]:
    """The result's details, plus what its time budget counted when queueing was left out."""
    details = dict(result.details)
    stats = result.stats
    if stats.queued_seconds:
        details["budget"] = {
            "counted_seconds": round(stats.model_seconds + stats.env_seconds, 6),
            "queued_seconds": round(stats.queued_seconds, 6),
        }
    return details


def encode_tree(tree: dict[str, Any]) -> bytes:
    """A search tree as zlib-compressed JSON. Each node and edge is encoded on its own, so a
    thread encoding a 3,200-node tree lets the event loop's thread run in between."""
    polite = threading.current_thread() is not threading.main_thread()
    parts = []
    for key, value in tree.items():
        if isinstance(value, list):
            items = []
            for index, item in enumerate(value):
                items.append(json.dumps(item, ensure_ascii=False, default=str))
                if polite and index % 64 == 63:
                    # Off the loop's thread, give it the GIL and a core between chunks: a
                    # tree's encoding then delays the loop by a chunk, not by the whole tree.
                    time.sleep(0.0005)
            parts.append(f"{json.dumps(key)}:[{','.join(items)}]")
        else:
            parts.append(f"{json.dumps(key)}:{json.dumps(value, ensure_ascii=False, default=str)}")
    return zlib.compress(("{" + ",".join(parts) + "}").encode("utf-8"), 6)


def decode_tree(stored: bytes | str) -> dict[str, Any]:
    """A tree from `encode_tree`, or the plain JSON text older stores hold."""
    text = zlib.decompress(stored).decode("utf-8") if isinstance(stored, bytes) else stored
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("a stored search tree is not a JSON object")
    return value


class StoreWriter:
    """Records attempts into the store at `path` from one thread of its own (its own SQLite
    connection), so the event loop never waits on an insert, its tree's encoding or its fsync.
    Awaiting `record` returns once the attempt is committed; an error there is raised to the
    caller (a store that cannot write stops the run)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="prover-store")
        self._store: Store | None = None

    def _record(self, *args: Any, **kwargs: Any) -> bool:
        if self._store is None:
            self._store = Store(self.path)
        return self._store.record(*args, **kwargs)

    async def record(
        self,
        run_id: int,
        theorem: str,
        attempt: int,
        result: SearchResult,
        *,
        split: str | None = None,
        category: str | None = None,
        worker: str | None = None,
    ) -> bool:
        """`Store.record` on the writer thread; True if the attempt was new."""
        call = functools.partial(
            self._record,
            run_id,
            theorem,
            attempt,
            result,
            split=split,
            category=category,
            worker=worker,
        )
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def _close_store(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def close(self) -> None:
        """Wait for pending inserts, then close the writer's connection and thread."""
        self._executor.submit(self._close_store).result()
        self._executor.shutdown(wait=True)


_RUN_QUERY = (
    "SELECT r.*, COUNT(a.id) AS done, "
    "COALESCE(SUM(a.status = 'proved'), 0) AS proved, "
    "COALESCE(SUM(a.status = 'proved' AND a.verified = 1), 0) AS verified_count "
    "FROM runs r LEFT JOIN attempts a ON a.run_id = r.id"
)


def _run_info(row: sqlite3.Row) -> RunInfo:
    return RunInfo(
        id=row["id"],
        name=row["name"],
        benchmark=row["benchmark"],
        split=row["split"],
        planned=row["planned"],
        attempts_per_theorem=row["attempts_per_theorem"],
        config=json.loads(row["config"]),
        versions=json.loads(row["versions"]),
        status=row["status"],
        created=row["created"],
        updated=row["updated"],
        host=row["host"],
        pid=row["pid"],
        done=int(row["done"]),
        proved=int(row["proved"]),
        verified=int(row["verified_count"]),
    )


def _attempt_row(run: str, row: sqlite3.Row) -> AttemptRow:
    return AttemptRow(
        id=row["id"],
        run=run,
        theorem=row["theorem"],
        attempt=row["attempt"],
        split=row["split"],
        category=row["category"],
        status=row["status"],
        proof=row["proof"],
        steps=tuple(json.loads(row["steps"])),
        verified=bool(row["verified"]),
        verified_by=row["verified_by"],
        model_seconds=row["model_seconds"],
        env_seconds=row["env_seconds"],
        search_seconds=row["search_seconds"],
        total_seconds=row["total_seconds"],
        expansions=row["expansions"],
        tactics_run=row["tactics_run"],
        model_calls=row["model_calls"],
        candidates=row["candidates"],
        tokens=row["tokens"],
        failures=json.loads(row["failures"]),
        stop_reason=row["stop_reason"],
        error=row["error"],
        details=json.loads(row["details"] or "{}"),
        worker=row["worker"],
        finished=row["finished"],
    )


def _alive(host: str | None, pid: int | None) -> bool:
    """Whether the process that owns a `running` run still exists (only knowable on its host)."""
    if pid is None or host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
