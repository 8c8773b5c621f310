"""Whole-proof checks that explain themselves: Lean's errors, the goals at the first error, and
the longest accepted prefix, for compiler-feedback repair and truncate-and-resume.

The proof is checked as one command on the session's REPL process, on the header's environment
(many proofs per process, the header imported once, as kimina-lean-server does). A command that
elaborates without error or sorry is then confirmed by the session's whole-proof checker, so `ok`
never rests on the quick check alone. For a rejected proof the top-level tactics are replayed
from the theorem's root state in tactic mode: the first that fails marks the error, the goals
before it are the goal state at the first error, and the steps before it are the prefix Lean
accepts. Tactic mode is only used to locate the error, never to accept a proof.
"""

from __future__ import annotations

import textwrap
from collections.abc import Awaitable, Callable

from environments.lean.replies import RequestFailure, parse_command_reply
from environments.lean.screen import ScreenPolicy, screen
from environments.lean.statement import Statement
from environments.lean.worker import ReplCrash, ReplTimeout, ReplWorker
from prover.errors import BackendError
from prover.protocols import ErrorMessage, ProofFeedback
from prover.types import Failed, Finished, NewState, ProofState, TacticResult, Verdict

CHECKED_BY = "lean-repl"
MAX_LOCATE_STEPS = 64  # tactic-mode replays per rejected proof; longer proofs keep a shorter prefix

RunTactic = Callable[[ProofState, str], Awaitable[TacticResult]]
Verify = Callable[[str], Awaitable[Verdict]]


def split_steps(proof: str) -> list[str]:
    """Top-level tactics of a tactic block: a line at the block's own indentation starts a step,
    deeper lines continue it. Comment lines and `/- … -/` blocks at top level are dropped."""
    lines = textwrap.dedent(proof.strip("\n")).splitlines()
    steps: list[list[str]] = []
    in_comment = False
    for line in lines:
        stripped = line.strip()
        if not stripped:
            continue
        top = not line.startswith((" ", "\t"))
        if in_comment:
            in_comment = "-/" not in stripped
            continue
        if top and stripped.startswith("--"):
            continue
        if top and stripped.startswith("/-"):
            in_comment = "-/" not in stripped[2:]
            continue
        if top or not steps:
            steps.append([line])
        else:
            steps[-1].append(line)
    return ["\n".join(step) for step in steps]


def _rejected(code: str, message: str, **fields: object) -> ProofFeedback:
    errors = fields.pop("errors", None) or (ErrorMessage(message),)
    return ProofFeedback(
        ok=False,
        checked_by=CHECKED_BY,
        code=code,
        errors=errors,  # type: ignore[arg-type]
        message=message,
        **fields,  # type: ignore[arg-type]
    )


async def locate(
    run_tactic: RunTactic, root: ProofState, proof: str, max_steps: int = MAX_LOCATE_STEPS
) -> tuple[tuple[str, ...], str]:
    """(goals at the first failing step, the accepted prefix) by replaying top-level steps."""
    state = root
    accepted: list[str] = []
    for step in split_steps(proof)[:max_steps]:
        result = await run_tactic(state, step)
        if isinstance(result, NewState):
            state = result.state
            accepted.append(step)
            continue
        if isinstance(result, Finished):
            accepted.append(step)
            return (), "\n".join(accepted)
        assert isinstance(result, Failed)
        break
    return state.goals, "\n".join(accepted)


async def check_proof(
    worker: ReplWorker,
    statement: Statement,
    proof: str,
    *,
    policy: ScreenPolicy,
    timeout: float,
    run_tactic: RunTactic,
    root: ProofState,
    verify: Verify,
) -> ProofFeedback:
    """Check `proof` (the tactic block after `:= by`) and explain a rejection (module doc)."""
    code = statement.with_proof(proof)
    refused = screen(proof, policy)
    if refused is not None:
        return _rejected(code, f"refused before Lean: {refused.message}")
    try:
        async with worker.operation():
            raw = await worker.command(code, timeout)
    except ReplTimeout as exc:
        return _rejected(code, f"timeout: {exc} (lean.verify_timeout)")
    except (ReplCrash, BackendError) as exc:
        return _rejected(code, f"the REPL failed: {exc}")
    reply = parse_command_reply(raw)
    if isinstance(reply, RequestFailure):
        message = reply.message.strip()
        goals, prefix = await locate(run_tactic, root, proof)
        return _rejected(code, message, goals=goals, prefix=prefix)
    if reply.errors or reply.uses_sorry:
        errors = tuple(ErrorMessage(m.text.strip(), m.line, m.column) for m in reply.errors)
        message = errors[0].text if errors else "the proof uses sorry"
        goals, prefix = await locate(run_tactic, root, proof)
        return _rejected(code, message, errors=errors, goals=goals, prefix=prefix)
    verdict = await verify(proof)
    if verdict.verified:
        return ProofFeedback(ok=True, checked_by=verdict.checked_by, code=code)
    # It compiles but the full check refuses it (axioms, a changed statement, …): the model is
    # told why; the whole proof is the accepted prefix, nothing is left to resume from.
    return _rejected(code, f"{verdict.status.value}: {verdict.message}", prefix="")
