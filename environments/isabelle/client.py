"""Our PISA client: one grpc.aio channel to one server, and a deadline on every call.

PISA reports failures as text in its replies ("Step error: …"), never as gRPC errors. The client
turns them, and gRPC faults, into `PisaError` carrying a `Failed` of the matching kind: the text
errors keep Isabelle's message; no reply within the deadline is a timeout; a server that is gone is
a crash. The tags and reply formats are PISA's (albertqjiang/Portal-to-ISAbelle and Llemma's
fork of it).
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prover.errors import MissingDependencyError, require
from prover.types import Failed, FailureKind

MAX_MESSAGE_BYTES = 100 * 1024 * 1024  # PISA's own limit
APPLY = "<apply to top level state>"
HAMMER_MARK = "<hammer>"
_POLL_SECONDS = 0.5  # one readiness probe; the overall wait has its own deadline
# PISA's own per-transition timer reports expiry as "Unknown error: Timeout after N s", Scala's
# futures as "Futures timed out after [N milliseconds]", the JVM as a TimeoutException.
_TIMEOUT_TEXT = re.compile(r"\btime\s*out\b|\btimed\s+out\b|TimeoutException", re.IGNORECASE)
MISSING_STATE = "Didn't find top level state"


class PisaError(Exception):
    """A PISA call that did not produce what was asked; `failed` says why, as a result kind.

    `transport` is True when gRPC itself failed (no reply in time, server gone), as opposed to
    PISA answering with an error text.
    """

    def __init__(self, failed: Failed, *, transport: bool = False) -> None:
        super().__init__(failed.message)
        self.failed = failed
        self.transport = transport

    @property
    def kind(self) -> FailureKind:
        return self.failed.kind

    @property
    def server_unusable(self) -> bool:
        """The server must be restarted or re-initialised before it is used again: it is gone,
        still busy with a call we gave up on, or it lost our states."""
        if self.kind is FailureKind.CRASH:
            return True
        return self.transport and self.kind is FailureKind.TIMEOUT


def reply_failure(reply: str) -> Failed | None:
    """The failure a PISA text reply reports, or None when the reply is a result."""
    text = reply.strip()
    if text.startswith("Step error"):
        return Failed(FailureKind.ERROR, text)
    if text.startswith("Unknown error"):
        timed_out = _TIMEOUT_TEXT.search(text) is not None
        return Failed(FailureKind.TIMEOUT if timed_out else FailureKind.ERROR, text)
    if text.startswith(MISSING_STATE):
        # Our states are gone: the server was restarted or re-initialised behind our back.
        return Failed(FailureKind.CRASH, text)
    if text == "Unrecognised operation.":
        return Failed(FailureKind.ERROR, f"{text} (this PISA build does not know the command)")
    return None


@dataclass(frozen=True)
class Timeouts:
    """Deadlines in seconds: cheap queries, one Isar step, a Sledgehammer call, Isabelle start."""

    query: float = 30.0
    step: float = 60.0
    hammer: float = 120.0
    startup: float = 600.0


@dataclass(frozen=True)
class HammerReply:
    """What a successful `normalhammer` step returns: the tactic found and the new state."""

    tactic: str
    state: str


def load_stubs() -> tuple[Any, Any, Any]:
    """grpc and our generated modules; a one-line error naming the fix when they cannot load."""
    # We fork only to exec java right away; gRPC's fork handlers would just log noise then.
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
    grpc = require("grpc", "isabelle")
    try:
        from environments.isabelle.proto import server_pb2, server_pb2_grpc
    except Exception as exc:  # protobuf's VersionError or grpc's RuntimeError on old runtimes
        raise MissingDependencyError(
            f"PISA stubs ({exc})",
            "pip install 'grpcio>=1.85.1' 'protobuf>=7.35.1' "
            "(or regenerate them: python -m environments.isabelle.proto.regenerate)",
        ) from exc
    return grpc, server_pb2, server_pb2_grpc


class PisaClient:
    """Speaks PISA's protocol to one server at `host:port`. Create it inside the event loop."""

    def __init__(self, host: str, port: int, timeouts: Timeouts | None = None) -> None:
        self._grpc, self._pb, pb_grpc = load_stubs()
        self.host = host
        self.port = port
        self.timeouts = timeouts or Timeouts()
        self._channel = self._grpc.aio.insecure_channel(
            self.address,
            options=[
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                # Reconnect quickly while a server starts, instead of gRPC's backoff of up to 2 min.
                ("grpc.initial_reconnect_backoff_ms", 100),
                ("grpc.min_reconnect_backoff_ms", 100),
                ("grpc.max_reconnect_backoff_ms", 1000),
            ],
        )
        self._stub = pb_grpc.ServerStub(self._channel)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def close(self) -> None:
        await self._channel.close()

    # -- transport ---------------------------------------------------------------------------

    async def _call(self, method: str, request: Any, timeout: float, what: str) -> Any:
        grpc = self._grpc
        try:
            return await getattr(self._stub, method)(request, timeout=timeout)
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            detail = f"{what} on {self.address}: {code.name} {exc.details() or ''}".strip()
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise PisaError(
                    Failed(FailureKind.TIMEOUT, f"no reply within {timeout:g}s ({detail})"),
                    transport=True,
                ) from None
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
                raise PisaError(
                    Failed(FailureKind.CRASH, f"PISA server gone ({detail})"), transport=True
                ) from None
            raise PisaError(
                Failed(FailureKind.ERROR, f"PISA server error ({detail})"), transport=True
            ) from None
        except grpc.aio.UsageError as exc:  # the channel was closed under us
            raise PisaError(Failed(FailureKind.CRASH, f"{what}: {exc}"), transport=True) from None

    async def command(self, text: str, timeout: float | None = None) -> str:
        """Send one tag-prefixed IsabelleCommand; PISA's text errors raise `PisaError`."""
        limit = self.timeouts.query if timeout is None else timeout
        reply = await self._call(
            "IsabelleCommand", self._pb.IsaCommand(command=text), limit, text.split(">", 1)[0] + ">"
        )
        failed = reply_failure(reply.state)
        if failed is not None:
            raise PisaError(failed)
        return str(reply.state)

    # -- start-up ----------------------------------------------------------------------------

    async def wait_ready(
        self, timeout: float, alive: Callable[[], str | None] | None = None
    ) -> None:
        """Poll until the server accepts connections; `alive` returns why it cannot (or None)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            reason = alive() if alive is not None else None
            if reason is not None:
                raise PisaError(Failed(FailureKind.CRASH, reason), transport=True)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise PisaError(
                    Failed(
                        FailureKind.TIMEOUT,
                        f"no PISA server answered on {self.address} within {timeout:g}s",
                    ),
                    transport=True,
                )
            try:
                await asyncio.wait_for(
                    self._channel.channel_ready(), timeout=min(_POLL_SECONDS, remaining)
                )
                return
            except asyncio.TimeoutError:
                continue

    async def initialise(self, isabelle_path: str, working_directory: str, theory_file: str) -> str:
        """PISA's start-up order; IsabelleContext starts Isabelle, `<initialise>` adds `default`."""
        pb, t = self._pb, self.timeouts
        await self._call("InitialiseIsabelle", pb.IsaPath(path=isabelle_path), t.query, "init")
        await self._call(
            "IsabelleWorkingDirectory", pb.IsaPath(path=working_directory), t.query, "workdir"
        )
        reply = await self._call(
            "IsabelleContext", pb.IsaContext(context=theory_file), t.startup, "IsabelleContext"
        )
        await self.command("<initialise>")
        return str(reply.message)

    # -- states ------------------------------------------------------------------------------

    async def apply(self, old: str, action: str, new: str, timeout: float | None = None) -> str:
        """Run Isar `action` on state `old` (kept) and store the result as `new`; its text."""
        limit = self.timeouts.step if timeout is None else timeout
        return await self.command(f"{APPLY} {old} {APPLY} {action} {APPLY} {new}", limit)

    async def hammer(self, old: str, new: str, command: str = "normalhammer") -> HammerReply:
        """Sledgehammer on `old`; the proof it finds is run and stored as `new`."""
        reply = await self.apply(old, command, new, self.timeouts.hammer)
        if reply.lstrip().startswith("error"):
            raise PisaError(Failed(FailureKind.ERROR, reply.strip()))
        tactic, mark, state = reply.partition(HAMMER_MARK)
        if not mark or not tactic.strip():
            raise PisaError(
                Failed(FailureKind.ERROR, f"Sledgehammer reply without a tactic: {reply[:200]!r}")
            )
        return HammerReply(tactic.strip(), state.strip())

    async def is_finished(self, name: str) -> bool:
        """True iff the proof level of state `name` is 0."""
        return self._boolean(await self.command(f"<is finished> {name}"))

    async def proof_level(self, name: str) -> int:
        reply = (await self.command(f"<get_proof_level> {name}")).strip()
        try:
            return int(reply)
        except ValueError:
            raise PisaError(
                Failed(FailureKind.ERROR, f"unexpected proof level reply {reply[:200]!r}")
            ) from None

    async def get_state(self, name: str) -> str:
        return await self.command(f"<get state> {name}")

    async def clone(self, old: str, new: str) -> None:
        await self.command(f"<clone> {old} <clone> {new}")

    async def delete(self, name: str) -> bool:
        """Forget state `name`; False when the server holds no such state (nothing to do)."""
        try:
            await self.command(f"<delete> {name}")
        except PisaError as exc:
            if exc.transport or not str(exc).startswith(MISSING_STATE):
                raise
            return False
        return True

    async def list_states(self) -> list[str]:
        reply = await self.command("<list states>")
        return [n.strip() for n in reply.split("|") if n.strip()]

    async def parse(self, text: str) -> list[str]:
        """Isabelle's split of `text` into command texts (empty pieces dropped)."""
        reply = await self.command(f"<parse text> {text}")
        return [piece for piece in reply.split("<SEP>") if piece.strip()]

    @staticmethod
    def _boolean(reply: str) -> bool:
        text = reply.strip().lower()
        if text in ("true", "false"):
            return text == "true"
        raise PisaError(Failed(FailureKind.ERROR, f"unexpected reply {reply[:200]!r}"))
