"""The REPL client against every recorded transcript of the Lean REPL v4.24.0 test suite.

For each transcript, a stand-in process (tests/standins/lean_repl.py, not Lean) replays the real
`.expected.out` replies verbatim over stdin/stdout; the project's client sends the `.in` requests
through its own framing and classifies each reply. The expected meaning is derived from the
recorded reply by the simple rules written here (independently of environments/lean/replies.py),
and a handful of replies are pinned by hand.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import REPL_TRANSCRIPTS
from standins.lean_repl import load_transcript, parse_request

from environments.lean.replies import (
    CommandReply,
    Outcome,
    RequestFailure,
    classify_tactic,
    is_tactic_request,
    parse_command_reply,
    parse_tactic_reply,
)
from environments.lean.wire import decode_reply, encode_request
from environments.lean.worker import ReplWorker, WorkerSettings
from prover.processes import ProcessTracker
from prover.types import FailureKind

STANDIN = Path(__file__).parent / "standins" / "lean_repl.py"
TRANSCRIPTS = REPL_TRANSCRIPTS
# The REPL's own suite records no output for these (their Lean sources are not in the data).
WITHOUT_OUTPUT = {"Mathlib/test/H20231214", "pickle_scoped_notation", "pickle_scoped_notation_2"}


def _names() -> list[str]:
    return sorted(str(p.relative_to(TRANSCRIPTS))[: -len(".in")] for p in TRANSCRIPTS.rglob("*.in"))


def expected_meaning(request: dict[str, Any], reply: dict[str, Any]) -> tuple[Any, ...]:
    """What a recorded reply means, by the rules of leanprover-community/repl's README and tests."""
    if "message" in reply and "env" not in reply and "proofState" not in reply:
        return ("failed", "error") if is_tactic_request(request) else ("refused",)
    severities = [m["severity"] for m in reply.get("messages", [])]
    if not is_tactic_request(request):
        warned = any("declaration uses" in m["data"] for m in reply.get("messages", []))
        states = [s.get("proofState") for s in reply.get("sorries", [])]
        return ("env", reply["env"], states, tuple(severities), warned)
    if "error" in severities:
        return ("failed", "error")
    if reply.get("sorries") or reply.get("proofStatus") == "Incomplete: contains sorry":
        return ("failed", "sorry")
    if reply["goals"]:
        return ("state", reply["proofState"], tuple(reply["goals"]))
    if reply.get("proofStatus", "Completed") == "Completed":
        return ("finished",)
    return ("failed", "error")


def client_meaning(request: dict[str, Any], raw: dict[str, Any]) -> tuple[Any, ...]:
    """The project's reading of the same reply."""
    if is_tactic_request(request):
        c = classify_tactic(parse_tactic_reply(raw))
        if c.outcome is Outcome.STATE:
            return ("state", c.proof_state, c.goals)
        if c.outcome is Outcome.FINISHED:
            return ("finished",)
        assert c.kind is not None
        return ("failed", c.kind.value)
    reply = parse_command_reply(raw)
    if isinstance(reply, RequestFailure):
        return ("refused",)
    assert isinstance(reply, CommandReply)
    warned = any("declaration uses" in m.text for m in reply.messages)
    states = [s.proof_state for s in reply.sorries]
    return ("env", reply.env, states, tuple(m.severity for m in reply.messages), warned)


async def _replay(name: str) -> list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """(request, reply the client read, recorded reply) for each exchange of one transcript."""
    transcript = load_transcript(TRANSCRIPTS / f"{name}.in")
    settings = WorkerSettings(
        argv=(sys.executable, str(STANDIN), "--transcript", str(transcript.path))
    )
    tracker = ProcessTracker()
    worker = ReplWorker(settings, tracker, header="", index=0)
    out = []
    try:
        assert transcript.replies is not None
        for request, recorded in zip(transcript.requests, transcript.replies, strict=True):
            raw = await worker.request(request, timeout=20.0)
            out.append((request, raw, recorded))
    finally:
        await worker.close()
        await tracker.stop_all()
    return out


def test_every_transcript_is_covered() -> None:
    names = _names()
    assert len(names) == 63
    recorded = {n for n in names if (TRANSCRIPTS / f"{n}.expected.out").is_file()}
    assert set(names) - recorded == WITHOUT_OUTPUT


@pytest.mark.parametrize("name", [n for n in _names() if n not in WITHOUT_OUTPUT])
async def test_client_reads_each_reply_as_recorded(name: str) -> None:
    exchanges = await _replay(name)
    assert exchanges
    for request, raw, recorded in exchanges:
        assert raw == recorded  # the multi-line framing was read back exactly
        assert client_meaning(request, raw) == expected_meaning(request, recorded), request


@pytest.mark.parametrize("name", sorted(WITHOUT_OUTPUT))
def test_transcripts_without_output_still_encode(name: str) -> None:
    transcript = load_transcript(TRANSCRIPTS / f"{name}.in")
    assert transcript.reply_texts is None
    for request in transcript.requests:
        encoded = encode_request(request).decode()
        assert encoded.endswith("\n\n") and "\n" not in encoded[:-2]
        assert parse_request([encoded.strip()]) == request


async def _meanings(name: str) -> list[tuple[Any, ...]]:
    return [client_meaning(req, raw) for req, raw, _ in await _replay(name)]


async def test_pinned_by_hand() -> None:
    # proof_step: an apply opens a goal, a have adds a hypothesis, exact finishes.
    assert await _meanings("proof_step") == [
        ("env", 0, [0], ("warning",), True),
        ("state", 1, ("⊢ Int",)),
        ("state", 2, ("t : Nat\n⊢ Nat",)),
        ("finished",),
    ]
    # tactic_mode_sorry: the tactic `sorry` is kind `sorry`, although `goals` is empty.
    assert (await _meanings("tactic_mode_sorry"))[1] == ("failed", FailureKind.SORRY.value)
    # 20240209: an error with empty goals is a failure (status says "contains sorry").
    assert (await _meanings("Mathlib/test/20240209"))[1] == ("failed", "error")
    # app_type_mismatch: no goals, no error, but metavariables remain: not finished.
    assert (await _meanings("app_type_mismatch"))[-1] == ("failed", "error")
    # self_proof_rw: the kernel rejects a circular proof that tactic mode ran without error.
    assert (await _meanings("self_proof_rw"))[-1] == ("failed", "error")
    # exact: `{"message": "Lean error: …"}` is an error; a successful exact? finishes.
    exact = await _meanings("Mathlib/test/exact")
    assert exact[2] == ("finished",) and exact[-1] == ("failed", "error")
    # unknown_environment: the request itself is refused.
    assert await _meanings("unknown_environment") == [("refused",)]
    # name_generator: a `have … := by sorry` leaves the main goal but used sorry.
    assert (await _meanings("name_generator"))[1] == ("failed", "sorry")


def test_gap_states_finish_when_their_goal_closes() -> None:
    # name_generator, reply 3: `exact h0` closed the sorry's goal; the root still has a hole.
    transcript = load_transcript(TRANSCRIPTS / "name_generator.in")
    assert transcript.replies is not None
    reply = parse_tactic_reply(transcript.replies[2])
    assert classify_tactic(reply).outcome is Outcome.FAILED
    assert classify_tactic(reply, gap=True).outcome is Outcome.FINISHED
    # …but an error is never a finished gap (reply 8: "unsolved goals").
    errored = parse_tactic_reply(transcript.replies[7])
    assert classify_tactic(errored, gap=True).kind is FailureKind.ERROR


def test_reply_decoding_skips_noise_and_rejects_garbage() -> None:
    pretty = json.dumps({"env": 3, "messages": []}, indent=1)
    assert decode_reply(pretty) == {"env": 3, "messages": []}
    assert decode_reply("Processing incremental state [pos: 0..5]:\nfoo\n" + pretty)["env"] == 3
    assert decode_reply("not json at all") is None
