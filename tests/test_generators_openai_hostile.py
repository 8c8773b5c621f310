"""The `openai` backend against hostile servers on 127.0.0.1 (tests/standins/hostile_http.py).

For each behaviour: the result kind, the time from the request to the result (≤ deadline + 2 s),
that the client closed the connection, and — for `prover prove` run as a process — that the
process exits within 2 s of printing its result, with bounded peak memory.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from standins.hostile_http import HostileServer

from prover.errors import BackendError
from prover.generators.cache import cached
from prover.generators.capped_transport import ResponseTooLarge
from prover.generators.openai import OpenAIGenerator, parse_spec

DEADLINE = 3.0
SLACK = 2.0
CAP = 8_000_000


@pytest.fixture
def server() -> Iterator[HostileServer]:
    srv = HostileServer()
    yield srv
    srv.close()


def _client(server: HostileServer, **options: Any) -> OpenAIGenerator:
    model, url = parse_spec(f"m@{server.base_url}")
    settings: dict[str, Any] = {"timeout": DEADLINE, "max_retries": 2, "max_response_bytes": CAP}
    settings.update(options)
    return OpenAIGenerator(model, url, **settings)


# -- `prover prove` as a process --------------------------------------------------------------


class Run:
    """`prover prove` on the replay stand-in with the openai model, timed from outside."""

    def __init__(self, server: HostileServer, tmp_path: Path) -> None:
        trace = tmp_path / "trace.jsonl"
        record = {"type": "open", "theorem": "t", "statement": "", "goals": ["⊢ True"]}
        trace.write_text(json.dumps(record) + "\n", encoding="utf-8")
        command = [
            sys.executable, "-m", "prover.cli", "prove", "theorem t : True := by",
            "--env", "replay", "--trace", str(trace), "--model", f"openai:m@{server.base_url}",
            "--set", f"openai.timeout={DEADLINE}", "--set", "openai.max_retries=2",
            "--set", f"openai.max_response_bytes={CAP}",
            "--samples", "2", "--expansions", "1", "--json",
        ]  # fmt: skip
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        self.result_at: float | None = None
        self.result: dict[str, Any] | None = None
        self.exited_at: float | None = None
        self.status = 0
        self.max_rss_bytes = 0  # VmHWM when the result was printed (the process is still alive)
        self._lines = threading.Thread(target=self._read, daemon=True)
        self._reaper = threading.Thread(target=self._reap, daemon=True)
        self._lines.start()
        self._reaper.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(b"{"):
                self.result_at = time.monotonic()
                self.result = json.loads(line)
                self.max_rss_bytes = _peak_rss(self.proc.pid)

    def _reap(self) -> None:
        self.status = self.proc.wait()
        self.exited_at = time.monotonic()

    def wait(self, limit: float) -> None:
        self._reaper.join(limit)
        if self._reaper.is_alive():
            self.proc.kill()  # our own child, by its pid
            self._reaper.join(5)
            pytest.fail(f"prover prove still running after {limit} s")
        self._lines.join(5)


def _peak_rss(pid: int) -> int:
    """The process's own peak resident set (VmHWM). Not ru_maxrss: after fork and exec that
    keeps the high-water mark of the forking pytest process, torch and all."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


@pytest.mark.parametrize(
    ("mode", "needle"),
    [
        ("drip_after_headers", f"within {DEADLINE:g} s"),
        ("drip_before_headers", f"within {DEADLINE:g} s"),
        ("huge_body", "larger than openai.max_response_bytes"),
    ],
)
def test_prove_process_against_a_hostile_server(mode: str, needle: str, tmp_path: Path) -> None:
    server = HostileServer(mode)
    try:
        run = Run(server, tmp_path)
        run.wait(60)
    finally:
        server.close()
    assert run.result is not None, run.proc.stderr.read().decode() if run.proc.stderr else ""
    assert run.result["status"] == "error" and needle in run.result["error"]
    assert run.status == 1
    (conn,) = server.connections  # neither a drip nor an oversize body is retried
    assert run.result_at is not None and run.exited_at is not None
    assert run.result_at - conn.arrived <= DEADLINE + SLACK
    assert run.exited_at - run.result_at <= SLACK
    # The client hung up by itself, long before the server's own 30 s limit.
    assert conn.closed_by_client is not None
    assert conn.closed_by_client - conn.arrived <= DEADLINE + SLACK
    assert 0 < run.max_rss_bytes < 200 * 2**20
    if mode == "huge_body":
        assert conn.sent < 8 * CAP  # stopped near the cap, not after 1 GB


def test_ctrl_c_during_a_dripping_reply_closes_it_and_exits_at_once(
    server: HostileServer, tmp_path: Path
) -> None:
    server.default = "drip_after_headers"
    run = Run(server, tmp_path)
    try:
        deadline = time.monotonic() + 30
        while not server.connections and time.monotonic() < deadline:
            # The request has not arrived yet: wait on the process, briefly, not on a timer.
            run._reaper.join(0.05)
        assert server.connections, "the request never reached the server"
        interrupted = time.monotonic()
        run.proc.send_signal(signal.SIGINT)
        run.wait(30)
    finally:
        server.close()
    assert run.exited_at is not None and run.exited_at - interrupted <= SLACK
    (conn,) = server.connections
    assert conn.closed_by_client is not None and conn.closed_by_client - interrupted <= SLACK


# -- the backend in this process --------------------------------------------------------------


async def _timed(gen: OpenAIGenerator, n: int = 2) -> tuple[float, Any]:
    start = time.monotonic()
    try:
        outcome: Any = await gen.generate("p", n)
    except BackendError as exc:
        outcome = exc
    return time.monotonic() - start, outcome


async def test_a_declared_1gb_body_is_refused_at_the_headers(server: HostileServer) -> None:
    server.default = "huge_declared"
    gen = _client(server)
    elapsed, outcome = await _timed(gen)
    assert isinstance(outcome, ResponseTooLarge) and "declares 1000000000 bytes" in str(outcome)
    assert elapsed < SLACK and len(server.connections) == 1  # deterministic: not retried
    assert server.connections[0].done.wait(SLACK)
    assert server.connections[0].closed_by_client is not None
    await gen.close()


async def test_a_reset_mid_body_is_retried_then_reported(server: HostileServer) -> None:
    server.default = "reset_mid_body"
    gen = _client(server, max_retries=1)
    elapsed, outcome = await _timed(gen)
    assert isinstance(outcome, BackendError)
    assert "dropped the connection" in str(outcome) and "after 2 attempts" in str(outcome)
    assert len(server.connections) == 2 and elapsed <= DEADLINE + SLACK
    server.default, server.script = "ok", ["reset_mid_body"]  # a passing reset: retry succeeds
    elapsed, outcome = await _timed(gen)
    assert [c.text for c in outcome] == ["simp [h0]", "simp [h1]"]
    await gen.close()


async def test_invalid_json_is_an_error_without_retries(server: HostileServer) -> None:
    server.default = "invalid_json"
    gen = _client(server)
    elapsed, outcome = await _timed(gen)
    assert isinstance(outcome, BackendError) and "not a completions response" in str(outcome)
    assert len(server.connections) == 1 and elapsed < SLACK
    await gen.close()


async def test_429_with_retry_after_is_waited_out(server: HostileServer) -> None:
    server.script = ["status:429:1"]
    gen = _client(server)
    elapsed, outcome = await _timed(gen)
    assert [c.num_tokens for c in outcome] == [2, 2]
    first, second = server.connections
    assert 0.95 <= second.arrived - first.arrived <= 1.0 + SLACK
    assert elapsed <= DEADLINE + SLACK
    await gen.close()


async def test_a_500_storm_gives_up_after_max_retries(server: HostileServer) -> None:
    server.default = "status:500"
    gen = _client(server, max_retries=2)
    elapsed, outcome = await _timed(gen)
    assert isinstance(outcome, BackendError)
    assert "HTTP 500: hostile 500 — gave up after 3 attempts" in str(outcome)
    assert len(server.connections) == 3 and elapsed <= DEADLINE + SLACK
    await gen.close()


async def test_a_500_storm_longer_than_the_deadline_ends_at_the_deadline(
    server: HostileServer,
) -> None:
    server.default = "status:500"
    gen = _client(server, max_retries=50)  # backoff alone would take minutes
    elapsed, outcome = await _timed(gen)
    assert isinstance(outcome, BackendError) and "within 3 s" in str(outcome)
    assert DEADLINE - 0.1 <= elapsed <= DEADLINE + SLACK
    assert 2 <= len(server.connections) < 10
    await gen.close()


@pytest.mark.parametrize("behind_cache", [False, True])
async def test_cancelling_a_call_closes_its_connection_at_once(
    server: HostileServer, behind_cache: bool
) -> None:
    server.default = "drip_after_headers"
    gen = _client(server, timeout=60.0)
    # Behind the de-duplication cache (as the runner builds it) the call is shared; its only
    # waiter giving up must still end it.
    caller = cached(gen, 16) if behind_cache else gen
    task = asyncio.ensure_future(caller.generate("p", 1))
    deadline = time.monotonic() + 10
    while not server.connections and time.monotonic() < deadline:
        await asyncio.wait({task}, timeout=0.05)  # the request's own progress, briefly
    cancelled = time.monotonic()
    task.cancel()  # a theorem's budget, or Ctrl-C reaching the task
    with pytest.raises(asyncio.CancelledError):
        await task
    (conn,) = server.connections
    assert await asyncio.to_thread(conn.done.wait, SLACK)
    assert conn.closed_by_client is not None and conn.closed_by_client - cancelled <= 1.0
    await gen.close()


async def test_close_cancels_requests_in_flight(server: HostileServer) -> None:
    server.default = "drip_before_headers"
    gen = _client(server, timeout=60.0)
    tasks = [asyncio.ensure_future(gen.generate(f"p{i}", 1)) for i in range(3)]
    deadline = time.monotonic() + 10
    while len(server.connections) < 3 and time.monotonic() < deadline:
        await asyncio.wait(tasks, timeout=0.05)
    closed = time.monotonic()
    await gen.close()  # the end of a run
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError) for r in results)
    for conn in server.connections:
        assert await asyncio.to_thread(conn.done.wait, SLACK)
        assert conn.closed_by_client is not None and conn.closed_by_client - closed <= 1.0


async def test_max_concurrency_bounds_connections_and_queued_calls_keep_their_deadline(
    server: HostileServer,
) -> None:
    server.default = "drip_before_headers"
    gen = _client(server, timeout=1.0, max_concurrency=2, max_retries=0)
    start = time.monotonic()
    outcomes = await asyncio.gather(
        *(gen.generate(f"p{i}", 1) for i in range(4)), return_exceptions=True
    )
    elapsed = time.monotonic() - start
    assert all(isinstance(o, BackendError) and "within 1 s" in str(o) for o in outcomes)
    # Two at a time: the second pair starts when the first pair's deadline ends it.
    first = sorted(c.arrived for c in server.connections)
    assert len(first) == 4 and first[2] - first[0] >= 0.9
    assert elapsed <= 2 * 1.0 + SLACK
    await gen.close()
