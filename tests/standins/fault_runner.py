#!/usr/bin/env python3
"""The runner under fault injection: prover's lean-repl environment on a misbehaving stand-in.

    fault_runner.py --repl JSON_ARGV --project DIR [--budget BYTES] [--tactic-timeout S]
                    [--verify-timeout S] STEP...

Steps run in order on one theorem (`theorem t : True`): `tactic:TEXT` on its root state,
`judge:PROOF` (the whole-proof checker), `wait-exit` (until the search's REPL process exits by
itself). It prints one JSON line per step — {"step", "kind", "seconds", "message"} — then
{"ready": true}, and closes the environment (stopping every process) when stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from environments.lean.repl import LeanReplEnvironment
from environments.lean.settings import LeanConfig
from environments.lean.worker import ReplCrash, ReplTimeout
from prover.types import Failed, Finished, Theorem

THEOREM = Theorem("t", "theorem t : True := by sorry", header="import StandIn\n")


def _emit(record: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


async def _step(env: LeanReplEnvironment, session: object, step: str) -> tuple[str, str]:
    action, _, argument = step.partition(":")
    if action == "tactic":
        result = await session.run_tactic(session.initial_state, argument)  # type: ignore[attr-defined]
        if isinstance(result, Failed):
            return result.kind.value, result.message
        return ("finished" if isinstance(result, Finished) else "state"), ""
    if action == "judge":
        verdict = await env.judge(THEOREM, argument)
        return verdict.status.value, verdict.message
    if action == "wait-exit":
        worker = session.worker  # type: ignore[attr-defined]
        process = env.pool.tracker.find(worker.pid) if worker.pid is not None else None
        if process is not None:
            await asyncio.wait_for(process.proc.wait(), 10.0)
        return "exited", ""
    raise SystemExit(f"unknown step {step!r}")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repl", required=True)
    parser.add_argument("--project", required=True)
    parser.add_argument("--budget", type=int, default=32 * 1024 * 1024, help="bytes")
    parser.add_argument("--tactic-timeout", type=float, default=10.0)
    parser.add_argument("--verify-timeout", type=float, default=10.0)
    parser.add_argument("steps", nargs="*")
    opts = parser.parse_args()
    config = LeanConfig(
        project=opts.project,
        repl_command=tuple(json.loads(opts.repl)),
        pool_size=1,
        memory_limit_gb=0,
        tactic_timeout=opts.tactic_timeout,
        verify_timeout=opts.verify_timeout,
        header_timeout=opts.tactic_timeout,
        reply_budget_mb=opts.budget / 1024**2,
        judge="repl",  # the REPL whole-proof check is what these faults exercise
    )
    env = LeanReplEnvironment(config)
    try:
        started = time.monotonic()
        try:
            session = await env.open(THEOREM)
        except ReplCrash as exc:
            _emit({"step": "open", "kind": "crash", "seconds": time.monotonic() - started,
                   "message": str(exc)})  # fmt: skip
            session = None
        for step in opts.steps if session is not None else ():
            started = time.monotonic()
            try:
                kind, message = await _step(env, session, step)
            except (ReplCrash, ReplTimeout) as exc:  # must not happen: sessions report failures
                kind, message = f"raised {type(exc).__name__}", str(exc)
            _emit({"step": step[:40], "kind": kind, "seconds": time.monotonic() - started,
                   "message": message[:300]})  # fmt: skip
        _emit({"ready": True})
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    finally:
        await env.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
