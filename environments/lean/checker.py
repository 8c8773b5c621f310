"""The whole-proof checker: a proof counts only after this fresh check says so.

Steps, each on the header's environment of a REPL process (never on a tactic-mode state):
1. the screen (environments/lean/screen.py) reads the header and the proof before Lean does;
2. the reference: the statement with `:= by sorry`, and its full type (`pp.all`);
3. the statement exactly as given followed by the proof, as one command: no error message, no
   sorry (either warning spelling), no `sorries`;
4. `#print axioms NAME` lists only propext, Classical.choice, Quot.sound (plus Lean.ofReduceBool
   when lean.allow_native_decide is set);
5. the checked declaration's full type equals the reference's, so the statement was not changed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from environments.lean.pool import ReplPool
from environments.lean.replies import (
    CommandReply,
    RequestFailure,
    parse_command_reply,
)
from environments.lean.screen import ScreenPolicy, screen, screen_header, screen_statement
from environments.lean.settings import LeanConfig
from environments.lean.statement import (
    Statement,
    axioms_command,
    check_type_command,
    parse_statement,
)
from environments.lean.toolchain import pool_size, worker_settings
from environments.lean.worker import ReplCrash, ReplTimeout, ReplWorker
from prover.errors import BackendError, InputError
from prover.types import Theorem, Verdict, VerdictStatus

CHECKED_BY = "lean-repl"
STANDARD_AXIOMS = frozenset({"propext", "Classical.choice", "Quot.sound"})
NATIVE_AXIOM = "Lean.ofReduceBool"
_DEPENDS = re.compile(r"'(?P<name>.+?)' depends on axioms:\s*\[(?P<axioms>.*)\]", re.DOTALL)
_NO_AXIOMS = re.compile(r"'(?P<name>.+?)' does not depend on any axioms")


def allowed_axioms(allow_native_decide: bool) -> frozenset[str]:
    return STANDARD_AXIOMS | ({NATIVE_AXIOM} if allow_native_decide else set())


def axioms_in(reply: CommandReply | RequestFailure) -> tuple[str, ...] | None:
    """The axioms `#print axioms` reported, or None if the reply holds no such message."""
    if isinstance(reply, RequestFailure) or reply.errors:
        return None
    for text in reply.infos():
        if _NO_AXIOMS.search(text):
            return ()
        match = _DEPENDS.search(text)
        if match:
            names = (a.strip() for a in match.group("axioms").split(","))
            return tuple(a for a in names if a)
    return None


def declared_type(reply: CommandReply | RequestFailure) -> str | None:
    """The text of the `#check` info message (the declaration's full type), if there is one."""
    if isinstance(reply, RequestFailure) or reply.errors:
        return None
    infos = reply.infos()
    return infos[0].strip() if len(infos) == 1 else None


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "?"


def rejected(message: str) -> Verdict:
    return Verdict(VerdictStatus.REJECTED, CHECKED_BY, message)


@dataclass(frozen=True)
class Replies:
    """What the REPL answered during one check (step 3's reply, then steps 4 and 5)."""

    proof: CommandReply | RequestFailure
    axioms: CommandReply | RequestFailure | None = None
    declared: CommandReply | RequestFailure | None = None


def judge(replies: Replies, reference: str | None, allowed: Iterable[str]) -> Verdict:
    """The verdict from the replies of steps 3–5 and the reference type of step 2."""
    proof = replies.proof
    if isinstance(proof, RequestFailure):
        return rejected(f"the REPL refused the proof: {_first_line(proof.message)}")
    if proof.errors:
        error = proof.errors[0]
        return rejected(f"Lean error at line {error.line}: {_first_line(error.text)}")
    if proof.uses_sorry:
        return rejected("the proof uses sorry")
    if replies.axioms is None:
        return rejected("the axioms of the proof were not checked")
    axioms = axioms_in(replies.axioms)
    if axioms is None:
        return rejected("could not read `#print axioms` for the theorem")
    foreign = sorted(set(axioms) - set(allowed))
    if foreign:
        return rejected(
            f"the proof depends on axioms outside the allowed set: {', '.join(foreign)}"
        )
    if reference is None:
        return rejected("the original statement's type could not be read")
    declared = declared_type(replies.declared) if replies.declared is not None else None
    if declared is None:
        return rejected("the checked declaration's type could not be read")
    if declared != reference:
        return rejected("the checked declaration's type differs from the original statement")
    return Verdict(VerdictStatus.ACCEPTED, CHECKED_BY, "axioms: " + (", ".join(axioms) or "none"))


class WholeProofChecker:
    """Checks `statement := by proof` for a Theorem on a pool of REPL processes (see module doc).

    Build it from `LeanConfig`; it starts its own pool unless given one, and `close()` stops what
    it started. `check(theorem, proof)` takes the tactic block that follows `:= by`.
    """

    name = CHECKED_BY

    def __init__(self, config: LeanConfig, *, pool: ReplPool | None = None) -> None:
        self.config = config
        self._owns_pool = pool is None
        self._pool = pool
        self._policy = ScreenPolicy.from_config(config)
        self._allowed = allowed_axioms(config.allow_native_decide)
        self._references: dict[tuple[str, str], str | None] = {}

    def _ensure_pool(self) -> ReplPool:
        if self._pool is None:
            self._pool = ReplPool(worker_settings(self.config), pool_size(self.config))
        return self._pool

    async def __aenter__(self) -> WholeProofChecker:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def refusal(self, theorem: Theorem, proof: str) -> Verdict | None:
        """The screen's verdict, if it refuses the header, the statement or the proof."""
        refused = (
            screen_header(theorem.header, self._policy)
            or screen_statement(theorem.statement, self._policy)
            or screen(proof, self._policy)
        )
        return rejected(refused.message) if refused is not None else None

    async def check(self, theorem: Theorem, proof: str) -> Verdict:
        """Fresh whole-proof check of `proof` (the tactic block after `:= by`) for `theorem`."""
        try:
            statement = parse_statement(theorem.statement)
        except InputError as exc:
            return rejected(str(exc))
        refused = self.refusal(theorem, proof)
        if refused is not None:
            return refused
        async with self._ensure_pool().leased(theorem.header) as worker:
            return await self.check_on(worker, statement, proof)

    async def check_on(self, worker: ReplWorker, statement: Statement, proof: str) -> Verdict:
        """Steps 2–5 on `worker` (leased for the theorem's header); `proof` is screened again."""
        refused = screen(proof, self._policy)
        if refused is not None:
            return rejected(refused.message)
        timeout = self.config.verify_timeout
        async with worker.operation():
            try:
                reference = await self._reference(worker, statement)
                reply = parse_command_reply(
                    await worker.command(statement.with_proof(proof), timeout)
                )
                if isinstance(reply, RequestFailure) or reply.errors or reply.uses_sorry:
                    return judge(Replies(reply), reference, self._allowed)
                axioms = parse_command_reply(
                    await worker.command(axioms_command(statement.name), timeout, env=reply.env)
                )
                declared = parse_command_reply(
                    await worker.command(check_type_command(statement.name), timeout, env=reply.env)
                )
            # The checker could not run: that says nothing about the proof.
            except ReplTimeout as exc:
                return Verdict(
                    VerdictStatus.ERROR, CHECKED_BY, f"timeout: {exc} (lean.verify_timeout)"
                )
            except ReplCrash as exc:
                return Verdict(VerdictStatus.ERROR, CHECKED_BY, f"crash: {exc}")
            except BackendError as exc:  # e.g. the header does not elaborate
                return rejected(str(exc))
        return judge(Replies(reply, axioms, declared), reference, self._allowed)

    async def _reference(self, worker: ReplWorker, statement: Statement) -> str | None:
        key = (worker.header, statement.head)
        if key in self._references:
            return self._references[key]
        timeout = self.config.verify_timeout
        opened = parse_command_reply(await worker.command(statement.with_sorry(), timeout))
        if isinstance(opened, RequestFailure) or opened.errors:
            return None  # not cached: a crash or timeout may have caused it
        shown = parse_command_reply(
            await worker.command(check_type_command(statement.name), timeout, env=opened.env)
        )
        reference = declared_type(shown)
        if reference is not None:
            self._references[key] = reference
        return reference

    async def close(self) -> None:
        """Stop the processes this checker started (none if it was given a pool)."""
        if self._owns_pool and self._pool is not None:
            await self._pool.close()
            self._pool = None
