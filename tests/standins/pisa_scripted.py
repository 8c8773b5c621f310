"""A stand-in PISA server: the real gRPC protocol, with scripted Isabelle behaviour. Not Isabelle.

It speaks PISA's wire protocol through our generated stubs (grpc.aio) and answers like PISA's Scala
server: named top-level states, the command tags, replies as plain text, errors as text
("Step error: …", "Unknown error: …", "Didn't find top level state of given name: …",
"Unrecognised operation."). Isabelle itself is replaced by a small proof-stack model driven by a
`Script`: which `by`/`apply` methods close or split which goal, what Sledgehammer finds, which
actions hang. Proof levels follow the stack depth, so level 0 means "no proof open".
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import grpc

from environments.isabelle.proto import server_pb2, server_pb2_grpc

APPLY = "<apply to top level state>"

# Isar command keywords the stand-in's parser splits on (a subset of Isabelle's outer syntax).
KEYWORDS = frozenset(
    {
        "theory",
        "theorem",
        "lemma",
        "corollary",
        "proposition",
        "proof",
        "qed",
        "have",
        "show",
        "hence",
        "thus",
        "then",
        "obtain",
        "fix",
        "assume",
        "presume",
        "from",
        "with",
        "using",
        "unfolding",
        "by",
        "apply",
        "done",
        "sorry",
        "oops",
        "sledgehammer",
        "next",
        "case",
        "also",
        "finally",
        "moreover",
        "ultimately",
        "note",
        "let",
        "define",
        "consider",
        "end",
        "ML_val",
        "ML_prf",
    }
)


@dataclass
class Script:
    """Scripted Isabelle: goal text → methods that close it, splits, Sledgehammer's finds, hangs."""

    closes: dict[str, set[str]] = field(default_factory=dict)  # goal -> {"simp", "auto", ...}
    splits: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)  # apply method
    hammer: dict[str, str] = field(default_factory=dict)  # goal -> proof Sledgehammer finds
    hang: set[str] = field(default_factory=set)  # actions (exact text) that never return
    unknown_errors: dict[str, str] = field(default_factory=dict)  # action -> Unknown error text
    hammer_command: str = "normalhammer"


@dataclass(frozen=True)
class Frame:
    """One open goal statement: `prove` (methods apply) or `state` (inside proof … qed)."""

    goals: tuple[str, ...]
    mode: str = "prove"
    show: bool = False


@dataclass(frozen=True)
class TopLevel:
    """A top-level state: outside any theory, at theory level, or inside proofs (`frames`)."""

    in_theory: bool = False
    frames: tuple[Frame, ...] = ()

    @property
    def level(self) -> int:
        return len(self.frames)

    def text(self) -> str:
        """Printed like Isabelle's Toplevel.string_of_state."""
        if not self.frames:
            return ""
        top = self.frames[-1]
        head = "proof (prove)" if top.mode == "prove" else "proof (state)"
        if not top.goals:
            return f"{head}\ngoal:\nNo subgoals!"
        n = len(top.goals)
        lines = [f"{head}", f"goal ({n} subgoal{'s' if n > 1 else ''}):"]
        lines += [f" {i}. {g}" for i, g in enumerate(top.goals, 1)]
        return "\n".join(lines)


class StepError(Exception):
    """Isabelle rejected the step (PISA replies `Step error: …`)."""


def parse_text(text: str) -> list[str]:
    """Split `text` at command keywords outside strings, comments and cartouches (PISA-style)."""
    starts: list[int] = []
    i, depth, in_string, cart = 0, 0, False, 0
    while i < len(text):
        if in_string:
            if text[i] == '"':
                in_string = False
            i += 1
        elif depth:
            depth += text.startswith("(*", i) - text.startswith("*)", i)
            i += 2 if text.startswith(("(*", "*)"), i) else 1
        elif text.startswith("(*", i):
            depth, i = 1, i + 2
        elif text.startswith("\\<open>", i):
            cart, i = cart + 1, i + 7
        elif text.startswith("\\<close>", i):
            cart, i = max(0, cart - 1), i + 8
        elif text[i] == '"' and not cart:
            in_string, i = True, i + 1
        else:
            m = re.match(r"[A-Za-z_][A-Za-z0-9_']*", text[i:])
            if m:
                if not cart and m.group(0) in KEYWORDS and (i == 0 or not text[i - 1].isalnum()):
                    starts.append(i)
                i += len(m.group(0))
            else:
                i += 1
    if not starts:
        return [text] if text.strip() else []
    pieces = [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]
    pieces[0] = text[: starts[0]] + pieces[0]
    return [p for p in pieces if p.strip()]


def _strip_comments(text: str) -> str:
    while "(*" in text:
        text = re.sub(r"\(\*(?:(?!\(\*).)*?\*\)", "", text, flags=re.DOTALL)
    return " ".join(text.split())


def _quoted(text: str) -> list[str]:
    return re.findall(r'"((?:[^"\\]|\\.)*)"', text)


class ScriptedIsabelle:
    """The proof-stack model behind the stand-in server."""

    def __init__(self, script: Script) -> None:
        self.script = script
        for goal, found in script.hammer.items():  # what Sledgehammer finds also checks later
            script.closes.setdefault(goal, set()).add(_method(found.removeprefix("by ")))

    def step(self, state: TopLevel, action: str) -> tuple[TopLevel, str | None]:
        """Run every command in `action`; returns the new state and the hammer's tactic if any."""
        found = None
        pieces = parse_text(action) if not action.startswith(self.script.hammer_command) else []
        if action.startswith(self.script.hammer_command):
            state, found = self._hammer(state)
        for piece in pieces:
            state = self._one(state, _strip_comments(piece))
        return state, found

    def _hammer(self, state: TopLevel) -> tuple[TopLevel, str]:
        goal = self._goal(state)
        tactic = self.script.hammer.get(goal)
        if tactic is None:
            # PISA asserts on an empty hammer result; the assertion surfaces as "Unknown error".
            raise AssertionError("assertion failed")
        return self._one(state, tactic), tactic

    @staticmethod
    def _goal(state: TopLevel) -> str:
        if not state.frames or not state.frames[-1].goals:
            raise StepError("No current goal")
        return state.frames[-1].goals[0]

    def _one(self, state: TopLevel, cmd: str) -> TopLevel:
        word, _, rest = cmd.partition(" ")
        rest = rest.strip()
        frames = state.frames
        if word == "theory":
            if state.in_theory or frames:
                raise StepError('Illegal application of command "theory"')
            return TopLevel(in_theory=True)
        if not state.in_theory:
            raise StepError(f'Illegal application of command "{word}" at top level')
        if word in ("theorem", "lemma", "corollary", "proposition"):
            if frames:
                raise StepError(f'Illegal application of command "{word}" in proof mode')
            shows = rest.split("shows", 1)[-1] if "shows" in rest else rest
            goals = _quoted(shows)
            if not goals:
                raise StepError("Outer syntax error: proposition expected")
            return replace(state, frames=(Frame((goals[-1],)),))
        if not frames:
            raise StepError(f'Illegal application of command "{word}" in theory mode')
        top = frames[-1]
        if word == "proof":
            if top.mode != "prove":
                raise StepError('Illegal application of command "proof" in state mode')
            method = rest.strip("()") if rest else "-"
            goals = top.goals
            if method != "-":
                goals = self._apply_method(goals, method)
            return self._replace_top(state, replace(top, goals=goals, mode="state"))
        if word in ("have", "show", "hence", "thus"):
            if top.mode != "state":
                raise StepError(f'Illegal application of command "{word}" in prove mode')
            goal = "?thesis" if "?thesis" in rest else (_quoted(rest) or [""])[0]
            if goal == "?thesis":
                goal = top.goals[0] if top.goals else ""
            if not goal:
                raise StepError("Outer syntax error: proposition expected")
            new = Frame((goal,), "prove", show=word in ("show", "thus"))
            return replace(state, frames=(*frames, new))
        if word in ("using", "unfolding", "then", "from", "with", "note", "fix", "assume"):
            return state
        if word == "sledgehammer":
            return state  # a diagnostic command: prints, changes nothing
        if word == "by":
            if top.mode != "prove":
                raise StepError('Illegal application of command "by" in state mode')
            goals = self._apply_method(top.goals, _method(rest))
            if goals:
                raise StepError(f"Failed to finish proof: {len(goals)} subgoal(s) left")
            return self._close(state)
        if word == "apply":
            if top.mode != "prove":
                raise StepError('Illegal application of command "apply" in state mode')
            return self._replace_top(
                state, replace(top, goals=self._apply_method(top.goals, _method(rest)))
            )
        if word == "done":
            if top.goals:
                raise StepError("Failed to finish proof: subgoals left")
            return self._close(state)
        if word == "qed":
            if top.mode != "state" or top.goals:
                raise StepError("Failed to finish proof: goals left")
            return self._close(state)
        if word == "sorry":
            return self._close(state)
        if word == "oops":
            return replace(state, frames=())
        raise StepError(f"Outer syntax error: command expected, but {word!r} was found")

    def _apply_method(self, goals: tuple[str, ...], method: str) -> tuple[str, ...]:
        if not goals:
            raise StepError("No subgoals!")
        goal, rest = goals[0], goals[1:]
        if (goal, method) in self.script.splits:
            return (*self.script.splits[(goal, method)], *rest)
        if method in self.script.closes.get(goal, set()):
            return rest
        raise StepError(f"Failed to apply proof method: {method}")

    @staticmethod
    def _replace_top(state: TopLevel, top: Frame) -> TopLevel:
        return replace(state, frames=(*state.frames[:-1], top))

    @staticmethod
    def _close(state: TopLevel) -> TopLevel:
        closed, frames = state.frames[-1], state.frames[:-1]
        if closed.show and frames:
            parent = frames[-1]
            frames = (*frames[:-1], replace(parent, goals=parent.goals[1:]))
        return replace(state, frames=frames)


def _method(text: str) -> str:
    text = text.strip()
    return text[1:-1].strip() if text.startswith("(") and text.endswith(")") else text


class ScriptedPisa(server_pb2_grpc.ServerServicer):
    """The gRPC servicer: PISA's RPCs and command tags over a `ScriptedIsabelle`."""

    def __init__(self, script: Script | None = None, on_hang=None) -> None:  # type: ignore[no-untyped-def]
        self.script = script or Script()
        self.on_hang = on_hang  # called when a hanging action starts (the java stand-in's marker)
        self.isabelle = ScriptedIsabelle(self.script)
        self.states: dict[str, TopLevel] = {}
        self.isa_path = ""
        self.working_directory = ""
        self.theory_file = ""
        self.theory_header = ""
        self.commands: list[str] = []  # every IsabelleCommand received, in order
        self.in_flight = asyncio.Event()  # set while a hanging action is being "executed"

    async def InitialiseIsabelle(self, request, context):
        self.isa_path = request.path
        return server_pb2.IsaMessage(
            message=f"You entered the path to the Isabelle executable: {request.path} \n"
            "We have successfully received it."
        )

    async def IsabelleWorkingDirectory(self, request, context):
        self.working_directory = request.path
        return server_pb2.IsaMessage(
            message=f"You entered the path to the Isabelle working directory: {request.path} "
            "We have successfully received it."
        )

    async def IsabelleContext(self, request, context):
        path = Path(request.context)
        if not path.is_file():  # PisaOS reads the file; a missing one throws in the JVM
            await context.abort(
                grpc.StatusCode.UNKNOWN, f"java.nio.file.NoSuchFileException: {path}"
            )
        text = path.read_text(encoding="utf-8")
        self.theory_file = str(path)
        self.theory_header = next((ln for ln in text.splitlines() if "theory" in ln), "")
        self.states = {}
        return server_pb2.IsaMessage(
            message=f"You entered the path to the Theory file: {path} \n"
            "We have successfully initialised the Isabelle environment."
        )

    async def IsabelleCommand(self, request, context):
        command = request.command
        self.commands.append(command)
        return server_pb2.IsaState(state=await self._command(command))

    async def IsabelleSetSearchWidth(self, request, context):
        return server_pb2.IsaMessage(message="This shouldn't be used here.")

    async def IsabelleSearchIndexCommand(self, request, context):
        return server_pb2.IsaState(state="This shouldn't be used here.")

    async def _command(self, command: str) -> str:
        text = command.strip()
        if text.startswith("<parse text>"):
            return "<SEP>".join(parse_text(text.removeprefix("<parse text>").strip()))
        if text.startswith("<list states>"):
            return " | ".join(self.states)
        if text.startswith("<initialise>"):
            self.states["default"] = TopLevel()
            return "Toplevel state 'default' is ready"
        if text.startswith("<get state>"):
            return self._with(text.removeprefix("<get state>").strip(), lambda s: s.text())
        if text.startswith("<is finished>"):
            name = text.split("<is finished>")[-1].strip()
            return self._with(name, lambda s: "true" if s.level == 0 else "false")
        if text.startswith("<get_proof_level>"):
            name = text.removeprefix("<get_proof_level>").strip()
            return self._with(name, lambda s: str(s.level))
        if text.startswith("<clone>"):
            _, old, new = (p.strip() for p in text.split("<clone>"))
            self.states[new] = self.states[old]
            return f"Successfully copied top level state named: {new}"
        if text.startswith("<delete>"):
            name = text.removeprefix("<delete>").strip()
            if name not in self.states:
                return f"Didn't find top level state of given name: {name}"
            del self.states[name]
            return f"Successfully deleted state named: {name}"
        if text.startswith(APPLY):
            _, old, action, new = (p.strip() for p in text.split(APPLY))
            return await self._apply(old, action, new)
        return "Unrecognised operation."

    def _with(self, name: str, fn) -> str:  # type: ignore[no-untyped-def]
        if name not in self.states:
            return f"Didn't find top level state of given name: {name}"
        return fn(self.states[name])

    async def _apply(self, old: str, action: str, new: str) -> str:
        if old not in self.states:
            return f"Didn't find top level state of given name: {old}"
        if action in self.script.hang:
            self.in_flight.set()
            if self.on_hang is not None:
                self.on_hang()
            await asyncio.sleep(3600)  # simulates a step that never returns
        if action in self.script.unknown_errors:
            return f"Unknown error: {self.script.unknown_errors[action]}"
        try:
            state, found = self.isabelle.step(self.states[old], action)
        except StepError as exc:
            return f"Step error: {exc}"
        except AssertionError as exc:
            return f"Unknown error: {exc}"
        self.states[new] = state
        return f"{found} <hammer> {state.text()}" if found is not None else state.text()


def default_script() -> Script:
    """The behaviour the `java` stand-in serves: a few goals with known proofs."""
    return Script(
        closes={
            "x = 6": {"linarith", "arith"},
            "b = 0": {"linarith"},
            "(1::nat) + 1 = 2": {"simp", "auto"},
            "a + 0 = a": {"simp"},
            "a = a": {"simp", "auto", "blast"},
            "0 < a": {"arith"},
        },
        splits={("a + 0 = a", "induct a"): ("0 + 0 = 0", "Suc a + 0 = Suc a")},
        hammer={"c = c + 0": "by (metis add_0_right)", "0 < a": "by (metis zero_less_iff)"},
        hang={"by (hang)"},
        unknown_errors={"by (slow)": "Futures timed out after [10000 milliseconds]"},
    )


async def serve(
    port: int = 0, script: Script | None = None, host: str = "localhost", on_hang=None
) -> tuple[grpc.aio.Server, int, ScriptedPisa]:  # type: ignore[no-untyped-def]
    """Start a stand-in on `host:port` (0 = any free port); returns server, port, servicer."""
    server = grpc.aio.server()
    servicer = ScriptedPisa(script or default_script(), on_hang)
    server_pb2_grpc.add_ServerServicer_to_server(servicer, server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"could not bind {host}:{port}")
    await server.start()
    return server, bound, servicer
