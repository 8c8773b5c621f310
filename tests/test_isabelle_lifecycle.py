"""PISA server lifecycle with a stand-in for `java` (tests/standins/fake_java.py): it parses
`-cp JAR pisa.server.PisaOneStageServer<PORT>` and serves the scripted PISA stand-in on PORT."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time
from pathlib import Path

import pytest
from standins.pisa_scripted import serve
from standins.pisa_setup import (
    STATEMENT,
    free_port,
    gone,
    isabelle_config,
    java_standin,
    wait_until,
)

from environments.isabelle.environment import create
from environments.isabelle.server import ServerUnavailable
from prover.errors import InputError
from prover.types import Failed, FailureKind, Finished, Language, NewState, Theorem

THEOREM = Theorem("mathd_demo", STATEMENT, Language.ISABELLE, header="Complex_Main")
pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs Linux /proc")


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


def _managed(tmp_path: Path, ports: list[int], **overrides):
    return create(isabelle_config(tmp_path, ports, java=str(java_standin(tmp_path)), **overrides))


async def test_one_server_per_port_with_the_port_in_the_class_name(tmp_path, monkeypatch):
    argv_file = tmp_path / "argv.jsonl"
    monkeypatch.setenv("FAKE_JAVA_ARGV_FILE", str(argv_file))
    ports = [free_port(), free_port()]
    env = _managed(tmp_path, ports, java_options=["-Xmx2g"], memory_limit_gb=6)
    try:
        first, second = await asyncio.gather(env.open(THEOREM), env.open(THEOREM))
        assert {first.server.port, second.server.port} == set(ports)  # one server per theorem
        pids = [s.pid for s in env.pool.servers]
        assert len(set(pids)) == 2 and sorted(env.pool.tracker.pids) == sorted(pids)
        for server in env.pool.servers:
            cmd = [a for a in _cmdline(server.pid) if a]
            assert cmd[-4:] == [
                "-Xmx2g",
                "-cp",
                env.launch.jar,
                f"pisa.server.PisaOneStageServer{server.port}",
            ]
            assert os.getpgid(server.pid) == server.pid  # its own process group
            limits = Path(f"/proc/{server.pid}/limits").read_text()
            assert f"Max address space         {6 * 2**30}" in limits
        argvs = [json.loads(line) for line in argv_file.read_text().splitlines()]
        assert sorted(a[-1] for a in argvs) == sorted(
            f"pisa.server.PisaOneStageServer{p}" for p in ports
        )
        assert await first.run_tactic(first.initial_state, "by (simp add: h0)") == Failed(
            FailureKind.ERROR, "Step error: Failed to apply proof method: simp add: h0"
        )
        await first.close()
        await second.close()
    finally:
        await env.close()
    assert all(await asyncio.gather(*(wait_until(lambda p=p: gone(p)) for p in pids)))
    assert env.pool.tracker.pids == []


async def test_start_waits_by_polling_until_the_server_answers(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_JAVA_STARTUP_DELAY", "1.5")
    env = _managed(tmp_path, [free_port()])
    try:
        start = time.perf_counter()
        session = await env.open(THEOREM)
        assert time.perf_counter() - start >= 1.5  # it waited for the JVM, then it worked
        assert "x = 6" in session.initial_state.pretty
        await session.close()
    finally:
        await env.close()


async def test_start_gives_up_at_its_deadline_and_leaves_no_process(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_JAVA_STARTUP_DELAY", "30")
    port = free_port()
    env = _managed(tmp_path, [port], startup_timeout=1.0)
    try:
        with pytest.raises(
            ServerUnavailable, match=rf"localhost:{port} did not start: .*within 1s"
        ):
            await env.open(THEOREM)
        assert env.pool.tracker.pids == []
        # the failure is kept: later theorems fail at once instead of waiting again
        start = time.perf_counter()
        with pytest.raises(ServerUnavailable):
            await env.open(THEOREM)
        assert time.perf_counter() - start < 0.5
    finally:
        await env.close()


async def test_a_jar_without_the_class_fails_with_javas_message(tmp_path):
    jar = tmp_path / "elsewhere.jar"
    jar.write_bytes(b"")
    env = _managed(tmp_path, [free_port()], jar=str(jar))
    jar.unlink()  # gone by the time java runs: java cannot load the main class
    try:
        with pytest.raises(
            ServerUnavailable, match=r"exited with code 1.*Could not find or load main class"
        ):
            await env.open(THEOREM)
    finally:
        await env.close()


def test_missing_paths_are_input_errors_with_the_fix(tmp_path):
    with pytest.raises(InputError, match=r"PISA jar .* not found; build it with `sbt assembly`"):
        _managed(tmp_path, [free_port()], jar=str(tmp_path / "nope.jar"))
    with pytest.raises(InputError, match=r"isabelle\.jar is not set"):
        _managed(tmp_path, [free_port()], jar="")
    with pytest.raises(InputError, match="ISABELLE_PATH"):
        create(isabelle_config(tmp_path, [8000], isabelle_path=str(tmp_path / "nowhere")))
    with pytest.raises(InputError, match="isabelle_path is not set"):
        create(isabelle_config(tmp_path, [8000], isabelle_path=""))


async def test_java_not_found_is_an_input_error(tmp_path):
    env = create(isabelle_config(tmp_path, [free_port()], java=str(tmp_path / "no-java")))
    try:
        with pytest.raises(InputError, match="install Java 11"):
            await env.open(THEOREM)
    finally:
        await env.close()


async def test_a_port_in_use_is_refused_with_the_attach_hint(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env = _managed(tmp_path, [taken.getsockname()[1]])
        try:
            with pytest.raises(InputError, match=r"already in use.*isabelle\.start=false"):
                await env.open(THEOREM)
        finally:
            await env.close()


async def test_stop_kills_isabelle_like_children_in_their_own_session(tmp_path, monkeypatch):
    pidfile = tmp_path / "child.pid"
    monkeypatch.setenv("FAKE_JAVA_CHILD_PIDFILE", str(pidfile))
    env = _managed(tmp_path, [free_port()])
    try:
        session = await env.open(THEOREM)
        await session.close()
        java = env.pool.servers[0].pid
        child = int(pidfile.read_text())
        assert os.getsid(child) == child != os.getsid(java)  # out of reach of java's group
    finally:
        await env.close()
    assert await wait_until(lambda: gone(java)) and await wait_until(lambda: gone(child))


async def test_server_killed_mid_call_is_a_crash_and_the_pool_starts_a_new_one(
    tmp_path, monkeypatch
):
    marker = tmp_path / "hanging"
    monkeypatch.setenv("FAKE_JAVA_HANG_FILE", str(marker))
    env = _managed(tmp_path, [free_port()], step_timeout=30.0)
    try:
        session = await env.open(THEOREM)
        opened = await session.run_tactic(session.initial_state, "proof -")
        old_pid = env.pool.servers[0].pid
        call = asyncio.ensure_future(session.run_tactic(opened.state, "by (hang)"))
        assert await wait_until(marker.exists)  # the server is inside the call
        os.kill(old_pid, signal.SIGKILL)
        result = await asyncio.wait_for(call, 30)
        assert isinstance(result, Failed) and result.kind is FailureKind.CRASH
        new_pid = env.pool.servers[0].pid
        assert (
            new_pid is not None and new_pid != old_pid and await wait_until(lambda: gone(old_pid))
        )
        assert env.pool.tracker.pids == [new_pid]
        # the session goes on on the new server; its states are rebuilt from their steps
        have = await session.run_tactic(opened.state, 'have "0 < a" by arith')
        assert isinstance(have, NewState)
        assert await session.run_tactic(session.initial_state, "sledgehammer") == Finished(
            ("sledgehammer: by arith", "ran: by arith")
        )
        await session.close()
    finally:
        await env.close()
    assert env.pool.tracker.pids == []


async def test_a_server_returned_dead_is_replaced_before_the_next_theorem(tmp_path):
    env = _managed(tmp_path, [free_port()])
    try:
        session = await env.open(THEOREM)
        old_pid = env.pool.servers[0].pid
        os.kill(old_pid, signal.SIGKILL)
        assert await wait_until(lambda: env.pool.servers[0].dead_reason() is not None)
        await session.close()  # returned dead: the pool restarts it in the background
        nxt = await asyncio.wait_for(env.open(THEOREM), 20)
        assert env.pool.servers[0].pid not in (None, old_pid)
        result = await nxt.run_tactic(nxt.initial_state, "by simp")
        assert isinstance(result, Failed) and result.message.startswith("Step error")
        await nxt.close()
    finally:
        await env.close()


async def test_attach_mode_uses_a_running_server_and_leaves_it_running(tmp_path):
    server, port, servicer = await serve()
    env = create(isabelle_config(tmp_path, [port], start=False))
    try:
        session = await env.open(THEOREM)
        assert env.pool.tracker.pids == [] and env.pool.servers[0].pid is None
        assert isinstance(await session.run_tactic(session.initial_state, "proof -"), NewState)
        await session.close()
        await env.close()
        assert servicer.commands[-1].startswith("<delete>")
        assert set(servicer.states) == {"default", "prover_theory"}  # it still answers
    finally:
        await server.stop(None)


async def test_attach_to_nothing_fails_after_the_startup_deadline(tmp_path):
    port = free_port()
    env = create(isabelle_config(tmp_path, [port], start=False, startup_timeout=0.5))
    try:
        with pytest.raises(
            ServerUnavailable, match=rf"localhost:{port} did not start.*within 0.5s"
        ):
            await env.open(THEOREM)
    finally:
        await env.close()
