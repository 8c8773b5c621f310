"""PISA servers stay up, and results say what happened to them: stand-ins for `java` and PISA
(tests/standins/fake_java.py, pisa_scripted.py). Nothing here is Java, PISA or Isabelle."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from standins.pisa_scripted import default_script, serve
from standins.pisa_setup import (
    STATEMENT,
    free_port,
    gone,
    isabelle_config,
    java_standin,
    wait_until,
)

from environments.isabelle.client import PisaClient, reply_failure
from environments.isabelle.environment import create
from environments.isabelle.server import ServerUnavailable
from prover.config import Config
from prover.errors import BackendError
from prover.protocols import GenerationParams
from prover.run import Components, attempt, attempt_many
from prover.sandbox import bwrap_problem
from prover.strategies.best_first import create as best_first
from prover.testing import ScriptedGenerator
from prover.types import Budget, Candidate, Failed, FailureKind, Language, Status, Theorem

THEOREM = Theorem("mathd_demo", STATEMENT, Language.ISABELLE, header="Complex_Main")
pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs Linux /proc")


def _managed(tmp_path: Path, ports: list[int], **overrides):
    return create(isabelle_config(tmp_path, ports, java=str(java_standin(tmp_path)), **overrides))


async def test_six_theorems_on_two_ports_relaunch_no_jvm_and_reinitialise_no_server(tmp_path):
    ports = [free_port(), free_port()]
    env = _managed(tmp_path, ports)
    # Each theorem sees a failing step first (PISA stores no state for it, so closing the
    # session asks to delete a name the server never had), then the proof.
    generator = ScriptedGenerator(
        {"x = 6": [Candidate("by (simp add: h0)", -0.1, 2), Candidate("by linarith", -0.2, 2)]}
    )
    theorems = [Theorem(f"demo_{i}", STATEMENT, Language.ISABELLE) for i in range(6)]
    try:
        parts = Components(env, generator, best_first(Config()))
        results = await attempt_many(theorems, parts, Budget(samples=2, max_expansions=2), 2)
        assert [r.status for r in results] == [Status.PROVED] * 6
        assert all(r.verified and r.verified_by == "isabelle-pisa" for r in results)
        assert all(r.stats.failures == {"error": 1} for r in results)
        # one JVM and one initialisation per port, for the whole bench: no restart at all
        relaunches = env.pool.launches - len(ports)
        reinitialisations = env.pool.initialisations - len(ports)
        assert (relaunches, reinitialisations) == (0, 0)
        assert env.pool.lost == {}
    finally:
        await env.close()


async def test_deleting_a_state_the_server_never_stored_is_not_a_crash():
    server, port, _ = await serve()
    client = PisaClient("localhost", port)
    try:
        await client.initialise("/isabelle", "/work", __file__)
        assert await client.delete("default") is True
        assert await client.delete("never_stored") is False  # PISA: "Didn't find …"
    finally:
        await client.close()
        await server.stop(None)


def test_pisa_timeout_texts_are_timeouts():
    for text in (
        "Unknown error: Timeout after 10 s",
        "Unknown error: Futures timed out after [10000 milliseconds]",
        "Unknown error: java.util.concurrent.TimeoutException",
    ):
        assert reply_failure(text).kind is FailureKind.TIMEOUT, text
    assert reply_failure("Unknown error: assertion failed").kind is FailureKind.ERROR


async def test_pisa_timeout_text_from_the_server_is_a_timeout_result(tmp_path):
    script = default_script()
    script.unknown_errors["by (slow)"] = "Timeout after 10 s"
    server, port, _ = await serve(script=script)
    env = create(isabelle_config(tmp_path, [port], start=False))
    try:
        session = await env.open(THEOREM)
        result = await session.run_tactic(session.initial_state, "by (slow)")
        await session.close()
    finally:
        await env.close()
        await server.stop(None)
    assert result == Failed(FailureKind.TIMEOUT, "Unknown error: Timeout after 10 s")


async def test_a_jvm_dying_during_startup_takes_its_processes_with_it(tmp_path, monkeypatch):
    pidfile = tmp_path / "child.pid"
    monkeypatch.setenv("FAKE_JAVA_CHILD_PIDFILE", str(pidfile))
    monkeypatch.setenv("FAKE_JAVA_DIE_AFTER", "1.0")
    env = _managed(tmp_path, [free_port()])
    try:
        with pytest.raises(ServerUnavailable, match=r"exited with code 1.*Isabelle process died"):
            await env.open(THEOREM)
    finally:
        await env.close()
    child = int(pidfile.read_text())
    # the child ran in a session of its own and outlived the JVM; it is stopped all the same
    assert await wait_until(lambda: gone(child))
    assert env.pool.tracker.pids == []


async def test_a_dead_server_is_restarted_with_backoff_until_it_is_back(tmp_path):
    server, port, _ = await serve()
    env = create(isabelle_config(tmp_path, [port], start=False, startup_timeout=0.3))
    env.pool.backoff_seconds = 0.2
    restarted = None
    try:
        session = await env.open(THEOREM)
        await server.stop(None)  # the server dies under the session
        with pytest.raises(BackendError, match="is lost"):
            await session.run_tactic(session.initial_state, "by linarith")
        await session.close()  # hands the server to the pool's restarts
        # the first restarts fail (nothing listens); the server comes back a little later
        assert await wait_until(lambda: bool(env.pool.lost), 10.0)
        restarted, _, _ = await serve(port=port)
        again = await asyncio.wait_for(env.open(THEOREM), 20)
        assert env.pool.lost == {}
        result = await again.run_tactic(again.initial_state, "by linarith")
        await again.close()
        assert result.__class__.__name__ == "Finished"
    finally:
        await env.close()
        if restarted is not None:
            await restarted.stop(None)


async def test_a_server_lost_for_good_ends_the_theorem_as_error(tmp_path):
    server, port, _ = await serve()

    class StopsTheServer(ScriptedGenerator):
        async def generate(self, prompt, n, params: GenerationParams | None = None):
            await server.stop(None)
            return [Candidate("by linarith", -0.1, 2)]

    config = isabelle_config(tmp_path, [port], start=False, startup_timeout=0.3, restart_attempts=1)
    env = create(config)
    try:
        parts = Components(env, StopsTheServer({}), best_first(Config()))
        result = await attempt(THEOREM, parts, Budget(samples=1, max_expansions=2))
    finally:
        await env.close()
    assert result.status is Status.ERROR  # so --retry-errors runs it again; not `failed`
    assert "is lost" in (result.error or "")


async def test_a_step_cancelled_by_the_wall_clock_reinitialises_instead_of_waiting(tmp_path):
    server, port, _ = await serve()
    config = isabelle_config(tmp_path, [port], start=False, query_timeout=5.0, step_timeout=30.0)
    env = create(config)
    try:
        session = await env.open(THEOREM)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(session.run_tactic(session.initial_state, "by (hang)"), 0.5)
        start = time.perf_counter()
        await session.close()
        assert time.perf_counter() - start < 1.0  # no `<delete>` waits behind the hung step
        assert await wait_until(lambda: env.pool.initialisations == 2, 10.0)
        again = await env.open(THEOREM)  # the re-initialised server takes the next theorem
        await again.close()
    finally:
        await env.close()
        await server.stop(None)


@pytest.mark.skipif(bwrap_problem() is not None, reason=f"bubblewrap unusable: {bwrap_problem()}")
async def test_our_pisa_jvm_runs_in_the_sandbox_with_loopback_networking(tmp_path, monkeypatch):
    import sys

    # the stand-in's python lives under $HOME here, which the sandbox hides
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    port = free_port()
    config = isabelle_config(tmp_path, [port], java=str(java_standin(tmp_path)), sandbox="bwrap")
    env = create(config)
    policy = env.launch.sandbox
    assert policy is not None and policy.kind == "bwrap" and policy.network
    assert sys.base_prefix  # readable through the root bind unless under $HOME
    try:
        session = await env.open(THEOREM)  # gRPC over loopback into the sandbox works
        result = await session.run_tactic(session.initial_state, "by linarith")
        await session.close()
        pid = env.pool.servers[0].pid
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    finally:
        await env.close()
    assert result.__class__.__name__ == "Finished"
    assert (tmp_path / "home" / ".isabelle").is_dir()  # bound writable, so heaps persist
    assert Path(cmdline[0]).name == "bwrap" and "--unshare-net" not in cmdline
    assert "--die-with-parent" in cmdline and "--unshare-pid" in cmdline


def test_an_unreachable_server_makes_prove_exit_2_with_one_line(tmp_path, capsys):
    from prover.cli import main

    script = tmp_path / "script.json"
    script.write_text('{"default": [{"text": "by linarith"}]}', encoding="utf-8")
    config = isabelle_config(tmp_path, [free_port()])
    code = main(
        [
            "prove",
            STATEMENT,
            "--language",
            "isabelle",
            "--env",
            "isabelle",
            "--model",
            f"scripted:{script}",
            "--store",
            str(tmp_path / "store"),
            "--set",
            "isabelle.start=false",
            "--set",
            f"isabelle.ports=[{config.section('isabelle').ports[0]}]",
            "--set",
            f"isabelle.isabelle_path={config.section('isabelle').isabelle_path}",
            "--set",
            "isabelle.startup_timeout=0.3",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "did not start" in err and "isabelle.start=true" in err


async def test_an_open_cancelled_mid_statement_reinitialises_instead_of_waiting(tmp_path):
    script = default_script()
    script.hang.add(STATEMENT.strip())  # the statement itself never returns
    server, port, _ = await serve(script=script)
    env = create(isabelle_config(tmp_path, [port], start=False, query_timeout=5.0))
    try:
        start = time.perf_counter()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(env.open(THEOREM), 0.5)
        assert time.perf_counter() - start < 2.0  # no `<delete>` queued behind the hung step
        assert await wait_until(lambda: env.pool.initialisations == 2, 10.0)
    finally:
        await env.close()
        await server.stop(None)
