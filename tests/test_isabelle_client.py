"""Our PISA client against a real in-process gRPC server speaking PISA's protocol (scripted
Isabelle behaviour, see tests/standins/pisa_scripted.py)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from standins.pisa_scripted import serve
from standins.pisa_setup import STATEMENT

from environments.isabelle.client import (
    HAMMER_MARK,
    PisaClient,
    PisaError,
    Timeouts,
    reply_failure,
)
from prover.types import FailureKind

HEADER = "theory Prover_Interactive imports Complex_Main begin"


@pytest.fixture
async def pisa():
    server, port, servicer = await serve()
    yield port, servicer
    await server.stop(None)


@pytest.fixture
async def client(pisa, tmp_path: Path):
    port, _ = pisa
    theory = tmp_path / "Prover_Interactive.thy"
    theory.write_text(f"{HEADER}\n\nend\n", encoding="utf-8")
    c = PisaClient("localhost", port, Timeouts(query=5, step=1.0, hammer=5, startup=5))
    await c.wait_ready(5)
    await c.initialise("/opt/Isabelle2022", str(tmp_path), str(theory))
    yield c
    await c.close()


async def test_initialise_sends_pisas_start_up_sequence(pisa, client, tmp_path):
    _, servicer = pisa
    assert servicer.isa_path == "/opt/Isabelle2022"
    assert servicer.working_directory == str(tmp_path)
    assert servicer.theory_file == str(tmp_path / "Prover_Interactive.thy")
    assert servicer.commands == ["<initialise>"]
    assert await client.list_states() == ["default"]


async def test_steps_make_named_states_and_leave_the_old_one(client):
    assert await client.apply("default", HEADER, "thy") == ""
    text = await client.apply("thy", STATEMENT, "s0")
    assert text == "proof (prove)\ngoal (1 subgoal):\n 1. x = 6"
    assert await client.proof_level("s0") == 1
    assert not await client.is_finished("s0")
    # the old state is unchanged: a failing and a succeeding step both start from it
    with pytest.raises(PisaError) as err:
        await client.apply("s0", "by simp", "bad")
    assert err.value.kind is FailureKind.ERROR
    assert await client.apply("s0", "by linarith", "s1") == ""
    assert await client.is_finished("s1")
    assert await client.proof_level("s1") == 0
    assert await client.get_state("s0") == text
    assert set(await client.list_states()) == {"default", "thy", "s0", "s1"}


async def test_clone_and_delete(client):
    await client.apply("default", HEADER, "thy")
    await client.apply("thy", STATEMENT, "s0")
    await client.clone("s0", "copy")
    assert await client.apply("copy", "by arith", "done") == ""
    await client.delete("copy")
    with pytest.raises(PisaError) as err:
        await client.apply("copy", "by arith", "again")
    assert err.value.kind is FailureKind.CRASH  # our state is gone: the server lost it
    assert "Didn't find top level state of given name: copy" in str(err.value)
    assert not err.value.transport


async def test_parse_text_splits_commands(client):
    pieces = await client.parse('proof -\n  have "a = a" by simp\n  show ?thesis sledgehammer\nqed')
    assert [p.strip() for p in pieces] == [
        "proof -",
        'have "a = a"',
        "by simp",
        "show ?thesis",
        "sledgehammer",
        "qed",
    ]


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        ("Step error: Failed to apply proof method", FailureKind.ERROR),
        ("Unknown error: Futures timed out after [10000 milliseconds]", FailureKind.TIMEOUT),
        ("Unknown error: assertion failed", FailureKind.ERROR),
        ("Didn't find top level state of given name: s9", FailureKind.CRASH),
        ("Unrecognised operation.", FailureKind.ERROR),
    ],
)
def test_every_pisa_error_text_has_a_kind_and_keeps_the_message(reply, kind):
    failed = reply_failure(reply)
    assert failed is not None and failed.kind is kind
    assert reply in failed.message


@pytest.mark.parametrize("reply", ["", "proof (prove)\ngoal (1 subgoal):\n 1. x = 6", "true"])
def test_ordinary_replies_are_not_errors(reply):
    assert reply_failure(reply) is None


async def test_error_texts_from_the_server_become_kinds(client):
    await client.apply("default", HEADER, "thy")
    await client.apply("thy", STATEMENT, "s0")
    cases = {
        "by simp": (FailureKind.ERROR, "Step error"),
        "by (slow)": (FailureKind.TIMEOUT, "Unknown error: Futures timed out"),
    }
    for action, (kind, text) in cases.items():
        with pytest.raises(PisaError) as err:
            await client.apply("s0", action, "x")
        assert err.value.kind is kind and text in str(err.value)
        assert not err.value.transport and not err.value.server_unusable
    with pytest.raises(PisaError) as err:
        await client.command("<no such tag>")
    assert err.value.kind is FailureKind.ERROR and "Unrecognised operation." in str(err.value)


async def test_a_call_that_never_returns_times_out_at_the_deadline(client, pisa):
    await client.apply("default", HEADER, "thy")
    await client.apply("thy", STATEMENT, "s0")
    start = time.perf_counter()
    with pytest.raises(PisaError) as err:
        await client.apply("s0", "by (hang)", "x")  # step deadline is 1 s
    elapsed = time.perf_counter() - start
    assert err.value.kind is FailureKind.TIMEOUT and err.value.transport
    assert err.value.server_unusable  # PISA is still busy with it
    assert 0.9 <= elapsed < 5.0
    assert pisa[1].in_flight.is_set()


async def test_hammer_success_returns_tactic_and_state(client):
    await client.apply("default", HEADER, "thy")
    await client.apply("thy", 'lemma l: "c = c + 0"', "s0")
    reply = await client.hammer("s0", "s1")
    assert reply.tactic == "by (metis add_0_right)"
    assert reply.state == ""
    assert await client.is_finished("s1")


async def test_hammer_failure_is_an_error(client):
    await client.apply("default", HEADER, "thy")
    await client.apply("thy", STATEMENT, "s0")
    with pytest.raises(PisaError) as err:
        await client.hammer("s0", "s1")
    assert err.value.kind is FailureKind.ERROR and "Unknown error" in str(err.value)


async def test_hammer_reply_without_a_tactic_is_an_error(client, pisa, monkeypatch):
    async def odd(old, action, new):  # a PISA build that answers without the marker
        return "proof (prove)"

    monkeypatch.setattr(pisa[1], "_apply", odd)
    with pytest.raises(PisaError) as err:
        await client.hammer("default", "s1")
    assert err.value.kind is FailureKind.ERROR and HAMMER_MARK not in "proof (prove)"


async def test_server_stopped_mid_call_is_a_crash(tmp_path):
    server, port, servicer = await serve()
    theory = tmp_path / "T.thy"
    theory.write_text(f"{HEADER}\nend\n", encoding="utf-8")
    c = PisaClient("localhost", port, Timeouts(step=30))
    try:
        await c.wait_ready(5)
        await c.initialise("/isa", str(tmp_path), str(theory))
        await c.apply("default", HEADER, "thy")
        await c.apply("thy", STATEMENT, "s0")
        call = asyncio.ensure_future(c.apply("s0", "by (hang)", "x"))
        await asyncio.wait_for(servicer.in_flight.wait(), 5)
        await server.stop(None)
        with pytest.raises(PisaError) as err:
            await asyncio.wait_for(call, 10)
        assert err.value.kind is FailureKind.CRASH and err.value.transport
        with pytest.raises(PisaError) as err:
            await c.proof_level("s0")  # nothing listens any more
        assert err.value.kind is FailureKind.CRASH
    finally:
        await c.close()


async def test_grpc_status_errors_from_a_live_server_are_errors_not_crashes(pisa, tmp_path):
    port, _ = pisa
    c = PisaClient("localhost", port, Timeouts())
    try:
        with pytest.raises(PisaError) as err:
            await c.initialise("/isa", str(tmp_path), str(tmp_path / "missing.thy"))
        assert err.value.kind is FailureKind.ERROR and "NoSuchFileException" in str(err.value)
    finally:
        await c.close()


async def test_wait_ready_gives_up_at_its_deadline_and_names_the_address():
    from standins.pisa_setup import free_port

    port = free_port()
    c = PisaClient("localhost", port)
    start = time.perf_counter()
    try:
        with pytest.raises(PisaError) as err:
            await c.wait_ready(0.6)
    finally:
        await c.close()
    assert err.value.kind is FailureKind.TIMEOUT and f"localhost:{port}" in str(err.value)
    assert time.perf_counter() - start < 3.0


async def test_wait_ready_stops_when_the_process_is_gone():
    from standins.pisa_setup import free_port

    c = PisaClient("localhost", free_port())
    try:
        with pytest.raises(PisaError) as err:
            await c.wait_ready(30, alive=lambda: "exited with code 1")
    finally:
        await c.close()
    assert err.value.kind is FailureKind.CRASH and "exited with code 1" in str(err.value)
