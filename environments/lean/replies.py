"""What a Lean REPL reply means: parsed command and tactic replies, and their classification.

The rules follow the REPL's semantics (tag v4.24.0): a tactic succeeded only if no message has
severity `error`; it finished the proof only if additionally `proofStatus` is `Completed` (an empty
goal list alone means nothing); a reply `{"message": …}` is a failure of the request itself.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from environments.lean.wire import ProtocolError
from prover.types import FailureKind

COMPLETED = "Completed"
SORRY_WARNING = re.compile(r"declaration uses ['`]sorry['`]")


@dataclass(frozen=True)
class Message:
    """One Lean message: severity (`error`, `warning`, `info`, `trace`) and text."""

    severity: str
    text: str
    line: int | None = None
    column: int | None = None

    def render(self) -> str:
        where = f"{self.line}:{self.column}: " if self.line else ""
        return f"{where}{self.severity}: {self.text}"


@dataclass(frozen=True)
class Sorry:
    """A `sorry` the REPL reported, with the proof state it recorded for it (if any)."""

    goal: str
    proof_state: int | None


@dataclass(frozen=True)
class RequestFailure:
    """`{"message": …}`: the request itself failed (parse error, unknown env or proof state)."""

    message: str


@dataclass(frozen=True)
class CommandReply:
    """Reply to a `cmd` (or `path`, or environment pickling) request."""

    env: int
    messages: tuple[Message, ...] = ()
    sorries: tuple[Sorry, ...] = ()

    @property
    def errors(self) -> tuple[Message, ...]:
        return tuple(m for m in self.messages if m.severity == "error")

    @property
    def uses_sorry(self) -> bool:
        """A sorry was reported, or Lean warned that a declaration uses one (either spelling)."""
        return bool(self.sorries) or any(
            m.severity == "warning" and SORRY_WARNING.search(m.text) for m in self.messages
        )

    def infos(self) -> tuple[str, ...]:
        return tuple(m.text for m in self.messages if m.severity == "info")


@dataclass(frozen=True)
class TacticReply:
    """Reply to a `tactic` request (also what proof-state pickling answers)."""

    proof_state: int
    goals: tuple[str, ...]
    messages: tuple[Message, ...] = ()
    sorries: tuple[Sorry, ...] = ()
    status: str | None = None  # `proofStatus`; absent before tag v4.19.0
    traces: tuple[str, ...] = ()

    @property
    def errors(self) -> tuple[Message, ...]:
        return tuple(m for m in self.messages if m.severity == "error")


class Outcome(str, enum.Enum):
    """What a tactic did: produced a state, finished the proof, or failed."""

    STATE = "state"
    FINISHED = "finished"
    FAILED = "failed"


@dataclass(frozen=True)
class Classified:
    """A tactic reply's meaning; `kind` and `message` are set when the outcome is FAILED."""

    outcome: Outcome
    goals: tuple[str, ...] = ()
    proof_state: int | None = None
    kind: FailureKind | None = None
    message: str = ""
    notes: tuple[str, ...] = ()  # non-error messages and traces, for the record


def is_tactic_request(request: Mapping[str, Any]) -> bool:
    """Whether the REPL answers `request` with a proof-state reply rather than an env reply."""
    if "tactic" in request or "unpickleProofStateFrom" in request:
        return True
    return "pickleTo" in request and "proofState" in request


def _messages(raw: Any) -> tuple[Message, ...]:
    out = []
    for item in raw or ():
        if not isinstance(item, Mapping):
            raise ProtocolError(f"message is not an object: {item!r}")
        pos = item.get("pos") or {}
        out.append(
            Message(
                severity=str(item.get("severity", "error")),
                text=str(item.get("data", "")),
                line=pos.get("line") if isinstance(pos, Mapping) else None,
                column=pos.get("column") if isinstance(pos, Mapping) else None,
            )
        )
    return tuple(out)


def _sorries(raw: Any) -> tuple[Sorry, ...]:
    out = []
    for item in raw or ():
        if not isinstance(item, Mapping):
            raise ProtocolError(f"sorry is not an object: {item!r}")
        state = item.get("proofState")
        out.append(Sorry(str(item.get("goal", "")), state if isinstance(state, int) else None))
    return tuple(out)


def _failure(raw: Mapping[str, Any]) -> RequestFailure | None:
    if "message" in raw and "env" not in raw and "proofState" not in raw:
        return RequestFailure(str(raw["message"]))
    return None


def parse_command_reply(raw: Mapping[str, Any]) -> CommandReply | RequestFailure:
    """Parse a reply to a command; raises ProtocolError if it is neither shape."""
    failure = _failure(raw)
    if failure is not None:
        return failure
    env = raw.get("env")
    if not isinstance(env, int):
        raise ProtocolError(f"command reply without an env id: {str(dict(raw))[:200]}")
    return CommandReply(env, _messages(raw.get("messages")), _sorries(raw.get("sorries")))


def parse_tactic_reply(raw: Mapping[str, Any]) -> TacticReply | RequestFailure:
    """Parse a reply to a tactic; raises ProtocolError if it is neither shape."""
    failure = _failure(raw)
    if failure is not None:
        return failure
    state = raw.get("proofState")
    goals = raw.get("goals")
    if not isinstance(state, int) or not isinstance(goals, list):
        raise ProtocolError(f"tactic reply without proofState/goals: {str(dict(raw))[:200]}")
    status = raw.get("proofStatus")
    return TacticReply(
        proof_state=state,
        goals=tuple(str(g) for g in goals),
        messages=_messages(raw.get("messages")),
        sorries=_sorries(raw.get("sorries")),
        status=str(status) if status is not None else None,
        traces=tuple(str(t) for t in raw.get("traces") or ()),
    )


def _error_text(messages: tuple[Message, ...]) -> str:
    return "\n".join(m.text for m in messages)


def classify_tactic(reply: TacticReply | RequestFailure, *, gap: bool = False) -> Classified:
    """The meaning of a tactic reply (the rules are in the module docstring).

    `gap` is for states that stand for one `sorry` of a sketch: the REPL keeps the theorem's root
    goal for them, so `proofStatus` speaks about the whole sketch; closing the gap is then "no
    error, no sorry, no goals left", and the filled-in proof is checked whole afterwards.
    """
    if isinstance(reply, RequestFailure):
        return Classified(Outcome.FAILED, kind=FailureKind.ERROR, message=reply.message)
    notes = tuple(m.render() for m in reply.messages if m.severity != "error") + reply.traces
    errors = reply.errors
    if errors:
        return Classified(
            Outcome.FAILED, kind=FailureKind.ERROR, message=_error_text(errors), notes=notes
        )
    if reply.sorries or reply.status == "Incomplete: contains sorry":
        return Classified(
            Outcome.FAILED, kind=FailureKind.SORRY, message="the tactic uses sorry", notes=notes
        )
    if reply.goals:
        return Classified(
            Outcome.STATE, goals=reply.goals, proof_state=reply.proof_state, notes=notes
        )
    if gap or reply.status is None or reply.status == COMPLETED:
        return Classified(Outcome.FINISHED, proof_state=reply.proof_state, notes=notes)
    return Classified(
        Outcome.FAILED,
        kind=FailureKind.ERROR,
        message=f"no goals left but the proof is not complete: {reply.status}",
        notes=notes,
    )
