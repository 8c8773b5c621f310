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
import dataclasses
import functools
import json
import os
import socket
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

from prover.errors import InputError, ProverError
from prover.types import SearchResult

SCHEMA_VERSION = 1
T = TypeVar("T")

_SCHEMA_TEMPLATE = """
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
{attempts}
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


class StoreError(ProverError):
    """The results store cannot be opened, read or written: one line naming the file and cause."""

    exit_code = 2


# SQLite's own words for a failure → what the user can do about it.
_CAUSES: tuple[tuple[str, str], ...] = (
    ("disk is full", "the disk is full; free some space, or pass another --store DIR"),
    ("malformed", "the file is damaged; restore it from a backup, or pass another --store DIR"),
    ("not a database", "it is not an SQLite file; move it away, or pass another --store DIR"),
    ("readonly", "it is read-only here; make it writable, or pass another --store DIR"),
    ("locked", "another process holds a lock on it; retry when that process is done"),
    ("disk i/o", "the disk reported an I/O error; check the disk, or pass another --store DIR"),
)


def _cause(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    for needle, advice in _CAUSES:
        if needle in text.lower():
            return f"{text}: {advice}"
    return text


def _guarded(method: Callable[..., T]) -> Callable[..., T]:
    """Turn any SQLite failure inside a store method into a StoreError naming the file."""

    @functools.wraps(method)
    def wrapper(self: Store, *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise StoreError(f"results store {self.path}: {_cause(exc)}") from exc

    return wrapper


class Store:
    """Runs and attempts in one SQLite file (see module docstring). Not shared across threads.

    `readonly=True` opens the file with SQLite's `mode=ro` and writes nothing: a missing file
    reads as an empty store (and is not created), a file on a read-only disk is read as
    immutable (no writer can exist there). SQLite may still leave its `-wal`/`-shm` side files
    beside a WAL store it read; the store file itself is never modified. A file that is not our
    store is refused in both modes before anything is written.
    """

    def __init__(self, path: str | os.PathLike[str], *, readonly: bool = False) -> None:
        self.path = Path(path).expanduser()
        self.readonly = readonly
        if self.path.is_dir():
            raise StoreError(
                f"results store {self.path} is a directory, not a file; pass its parent as "
                "--store DIR (the store is DIR/results.sqlite)"
            )
        try:
            if readonly:
                self._db = self._open_readonly()
            else:
                self._db = self._open_writable()
        except sqlite3.Error as exc:
            if not readonly and not os.access(self.path.parent, os.W_OK):
                raise StoreError(
                    f"cannot write results store {self.path}: its directory is read-only here "
                    "(reading works: `prover runs`, `prover report`); pass a writable --store DIR"
                ) from exc
            raise StoreError(f"cannot open results store {self.path} ({_cause(exc)})") from exc
        except OSError as exc:
            raise StoreError(
                f"cannot open results store {self.path} ({exc.strerror or exc}); "
                "pass another --store DIR"
            ) from exc

    def _open_readonly(self) -> sqlite3.Connection:
        if self.path.exists():
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            try:
                db = self._checked(_connect(uri, uri=True))
            except sqlite3.OperationalError:
                wal = self.path.with_name(self.path.name + "-wal")
                if wal.exists() or os.access(self.path.parent, os.W_OK):
                    raise
                # A read-only directory without a WAL: no writer can exist, the file is all.
                db = self._checked(_connect(uri + "&immutable=1", uri=True))
            if db is not None:
                return db
        # Nothing stored yet (no file, or an empty one): an empty store in memory, no file made.
        db = _connect(":memory:")
        _create_schema(db)
        return db

    def _checked(self, db: sqlite3.Connection) -> sqlite3.Connection | None:
        """`db` if it holds our store, None (closed) if it is empty; closed on any error."""
        try:
            fresh = self._check_ours(db)
        except BaseException:
            db.close()
            raise
        if fresh:
            db.close()
            return None
        return db

    def _open_writable(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = _connect(self.path)
        try:
            fresh = self._check_ours(db)
            db.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit survives power loss, not only a killed process; one commit per
            # finished attempt keeps the cost negligible.
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
            if fresh:
                db.execute("BEGIN IMMEDIATE")
                try:
                    _create_schema(db)
                except BaseException:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
        except BaseException:
            db.close()
            raise
        return db

    def _check_ours(self, db: sqlite3.Connection) -> bool:
        """True for an empty database (ours to create); a StoreError for anyone else's file."""
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = {
            row[0]
            for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        }
        if version == 0 and not tables:
            return True
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"results store {self.path} was written by a newer prover (schema {version}); "
                "upgrade prover or use another --store"
            )
        if version != SCHEMA_VERSION or not {"runs", "attempts", "trees"} <= tables:
            raise StoreError(
                f"{self.path} is an SQLite file but not a prover results store (tables: "
                f"{', '.join(sorted(tables)) or 'none'}); it was left untouched — move it away "
                "or pass another --store DIR"
            )
        return False

    @classmethod
    def at_home(cls, home: str | os.PathLike[str], *, readonly: bool = False) -> Store:
        """The store file `results.sqlite` in the directory `home` ($PROVER_HOME or --store)."""
        folder = Path(home).expanduser()
        if folder.exists() and not folder.is_dir():
            raise StoreError(
                f"results directory {folder} (--store or $PROVER_HOME) is a file, not a "
                "directory; pass the directory that holds (or will hold) results.sqlite"
            )
        return cls(folder / "results.sqlite", readonly=readonly)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        if self.readonly:
            raise StoreError(f"results store {self.path} was opened read-only; nothing written")
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            # SQLite has already rolled back after some errors (a full disk): keep the cause.
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @property
    @_guarded
    def journal_mode(self) -> str:
        return str(self._db.execute("PRAGMA journal_mode").fetchone()[0])

    # runs

    @_guarded
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

    @_guarded
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

    @_guarded
    def runs(self) -> list[RunInfo]:
        rows = self._db.execute(_RUN_QUERY + " GROUP BY r.id ORDER BY r.created").fetchall()
        return [_run_info(row) for row in rows]

    @_guarded
    def mark(self, run_id: int, status: str) -> None:
        """Set a run's status (`running`, `finished`, `interrupted`) and its owning process."""
        with self._transaction():
            self._db.execute(
                "UPDATE runs SET status = ?, updated = ?, host = ?, pid = ? WHERE id = ?",
                (status, time.time(), socket.gethostname(), os.getpid(), run_id),
            )

    @_guarded
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

    @_guarded
    def update_versions(self, run_id: int, versions: dict[str, Any]) -> None:
        with self._transaction():
            self._db.execute(
                "UPDATE runs SET versions = ? WHERE id = ?",
                (json.dumps(versions, sort_keys=True), run_id),
            )

    @_guarded
    def delete_run(self, name: str, *, force: bool = False) -> None:
        """Delete a run and its attempts; refused while its runner is alive (unless `force`)."""
        with self._transaction():
            info = self.require_run(name)
            if info.state == "running" and not force:
                here = info.host == socket.gethostname()
                raise InputError(
                    f"run '{name}' is being written right now (pid {info.pid} on "
                    f"{info.host or 'an unknown host'}); stop that runner first (Ctrl-C keeps "
                    "what finished)" + ("" if here else ", or pass --force if it is gone")
                )
            self._db.execute("DELETE FROM runs WHERE id = ?", (info.id,))

    # attempts

    @_guarded
    def forget_errors(self, name: str) -> int:
        """Delete the run's attempts that ended in `error`, so a resume runs them again."""
        info = self.require_run(name)
        with self._transaction():
            cursor = self._db.execute(
                "DELETE FROM attempts WHERE run_id = ? AND status = 'error'", (info.id,)
            )
        return cursor.rowcount

    @_guarded
    def finished(self, run_id: int) -> set[tuple[str, int]]:
        """(theorem, attempt) pairs already recorded for the run."""
        rows = self._db.execute(
            "SELECT theorem, attempt FROM attempts WHERE run_id = ?", (run_id,)
        ).fetchall()
        return {(row[0], int(row[1])) for row in rows}

    @_guarded
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
        try:
            return self._record(run_id, theorem, attempt, result, s, split, category, worker)
        except sqlite3.IntegrityError as exc:
            if "FOREIGN KEY" not in str(exc):
                raise
            raise StoreError(
                f"results store {self.path}: the run was deleted while it was being written "
                f"(attempt {theorem} #{attempt} not stored); start it again under a --run NAME"
            ) from exc

    def _record(
        self,
        run_id: int,
        theorem: str,
        attempt: int,
        result: SearchResult,
        s: Any,
        split: str | None,
        category: str | None,
        worker: str | None,
    ) -> bool:
        with self._transaction():
            values = {
                "theorem": theorem,
                "attempt": attempt,
                "split": split,
                "category": category,
                "status": result.status.value,
                "proof": result.proof,
                "steps": result.steps,
                "verified": result.verified,
                "verified_by": result.verified_by,
                "model_seconds": s.model_seconds,
                "env_seconds": s.env_seconds,
                "search_seconds": s.search_seconds,
                "total_seconds": s.total_seconds,
                "expansions": s.expansions,
                "tactics_run": s.tactics_run,
                "model_calls": s.model_calls,
                "candidates": s.candidates,
                "tokens": s.tokens,
                "failures": s.failures,
                "stop_reason": s.stop_reason,
                "error": result.error,
                "details": _details(result),
                "worker": worker,
                "finished": time.time(),
            }
            cursor = self._db.execute(
                _INSERT_ATTEMPT,
                (run_id, *(_encode(kind, values[name]) for name, kind in _ATTEMPT_COLUMNS.items())),
            )
            inserted = cursor.rowcount == 1
            if inserted and result.tree is not None:
                self._db.execute(
                    "INSERT INTO trees (attempt_id, tree) VALUES (?, ?)",
                    (cursor.lastrowid, encode_tree(result.tree)),
                )
            self._db.execute("UPDATE runs SET updated = ? WHERE id = ?", (time.time(), run_id))
        return inserted

    @_guarded
    def attempts(self, run: RunInfo) -> list[AttemptRow]:
        rows = self._db.execute(
            "SELECT * FROM attempts WHERE run_id = ? ORDER BY theorem, attempt", (run.id,)
        ).fetchall()
        return [_attempt_row(run.name, row) for row in rows]

    @_guarded
    def tree(self, attempt_id: int) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT tree FROM trees WHERE attempt_id = ?", (attempt_id,)
        ).fetchone()
        return decode_tree(row[0]) if row is not None else None

    @_guarded
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


# The attempts table is AttemptRow, written once: its fields (but `id` and `run`, which the table
# holds as `id` and `run_id`) are the columns, their hints the SQL types and how values are
# encoded; the CREATE TABLE, the INSERT and the reader are derived from them.
_SQL_TYPES = {"int": "INTEGER", "float": "REAL", "str": "TEXT", "bool": "INTEGER"}
_SQL_TYPES |= {"tuple": "TEXT", "dict": "TEXT"}  # stored as JSON


def _kind(hint: str) -> tuple[str, bool]:
    """(codec, nullable) for a field's annotation text: `str | None` → ("str", True),
    `tuple[str, ...]` → ("tuple", False)."""
    parts = [p.strip() for p in hint.split("|")]
    base = next(p for p in parts if p != "None").split("[", 1)[0]
    return base, "None" in parts


_ATTEMPT_FIELDS = {
    f.name: _kind(str(f.type))
    for f in dataclasses.fields(AttemptRow)
    if f.name not in ("id", "run")
}
_ATTEMPT_COLUMNS = {name: kind for name, (kind, _) in _ATTEMPT_FIELDS.items()}
_ATTEMPTS_TABLE = (
    "CREATE TABLE IF NOT EXISTS attempts (\n"
    "    id INTEGER PRIMARY KEY,\n"
    "    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,\n"
    + "".join(
        f"    {name} {_SQL_TYPES[kind]}{'' if nullable else ' NOT NULL'},\n"
        for name, (kind, nullable) in _ATTEMPT_FIELDS.items()
    )
    + "    UNIQUE (run_id, theorem, attempt)\n);"
)
_INSERT_ATTEMPT = (
    f"INSERT INTO attempts (run_id, {', '.join(_ATTEMPT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * (1 + len(_ATTEMPT_COLUMNS)))}) "
    "ON CONFLICT (run_id, theorem, attempt) DO NOTHING"
)
_SCHEMA = _SCHEMA_TEMPLATE.format(attempts=_ATTEMPTS_TABLE)


def _encode(kind: str, value: Any) -> Any:
    if kind in ("tuple", "dict"):
        data = list(value) if kind == "tuple" else dict(value)
        return json.dumps(data, ensure_ascii=False, sort_keys=True, default=str)
    return int(value) if kind == "bool" else value


def _decode(kind: str, value: Any) -> Any:
    if kind == "tuple":
        return tuple(json.loads(value or "[]"))
    if kind == "dict":
        return json.loads(value or "{}")  # stores written before details was required hold NULL
    return bool(value) if kind == "bool" else value


def _attempt_row(run: str, row: sqlite3.Row) -> AttemptRow:
    values = {name: _decode(kind, row[name]) for name, kind in _ATTEMPT_COLUMNS.items()}
    return AttemptRow(id=row["id"], run=run, **values)


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


def _connect(target: str | os.PathLike[str], *, uri: bool = False) -> sqlite3.Connection:
    db = sqlite3.connect(target, timeout=60.0, isolation_level=None, uri=uri)
    db.row_factory = sqlite3.Row
    return db


def _create_schema(db: sqlite3.Connection) -> None:
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
