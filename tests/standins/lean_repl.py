#!/usr/bin/env python3
"""A stand-in for the Lean REPL process. It is NOT Lean: it answers from recorded transcripts.

It speaks the REPL's framing on stdin/stdout (requests end with a blank line; replies are
multi-line JSON followed by a blank line) and has two modes:

* ``--transcript X.in``: strict replay of one transcript of the REPL's test suite. The k-th request
  must equal the k-th recorded request; the k-th recorded reply is written verbatim.
* ``--library DIR`` (repeatable): semantic replay over every transcript under DIR. It keeps its own
  env and proof-state numbering like the REPL, answers a recorded command or tactic with its
  recorded reply (ids renumbered), chains recorded tactics for multi-step tactic text and for
  whole proofs sent as one command, answers header commands (imports/opens) with a new env, and
  `#print axioms NAME` / `#check @NAME` for declarations it saw.

Fault hooks for tests (tactic text): ``standin_hang`` never answers, ``standin_crash`` exits
mid-request, ``standin_sleep S`` answers after S seconds, ``standin_alloc MB`` allocates MB
megabytes (a MemoryError under RLIMIT_AS ends the process). Options: ``--header-delay S`` (imports
take S seconds), ``--axioms a,b`` (what `#print axioms` reports for proved theorems),
``--type-drift`` (`#check` shows a changed type for proved theorems), ``--log FILE`` (one JSON
line per process start and per request, with the pid).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Origin = tuple[str, int]  # (transcript name, proof-state id in that transcript)

_DECL = re.compile(r"(?:^|\s)(?:theorem|lemma)\s+([^\s:({\[]+)")
_HEADER_LINE = re.compile(r"^\s*(import|open|set_option|universe)\b")
_AXIOMS = re.compile(r"#print axioms (\S+)\s*\Z")
_CHECK = re.compile(r"set_option pp\.all true in\n#check @(\S+)\s*\Z")
_PROOF = re.compile(r"(?P<head>.*?) := by\n(?P<body>.*)\Z", re.DOTALL)


# -- transcripts ------------------------------------------------------------------------------


def blocks(text: str) -> list[list[str]]:
    """Blank-line separated blocks of lines, as the REPL splits its input."""
    out: list[list[str]] = []
    current: list[str] = []
    for line in text.splitlines():
        if line.strip():
            current.append(line)
        elif current:
            out.append(current)
            current = []
    if current:
        out.append(current)
    return out


def parse_request(lines: list[str]) -> dict[str, Any]:
    """One request as the REPL reads it: each line right-trimmed, joined, then parsed as JSON."""
    return json.loads("".join(line.rstrip() for line in lines), strict=False)


@dataclass
class Transcript:
    """One `.in` file of the REPL's test suite with its `.expected.out` (if recorded)."""

    name: str
    path: Path
    requests: list[dict[str, Any]]
    reply_texts: list[str] | None

    @property
    def replies(self) -> list[dict[str, Any]] | None:
        if self.reply_texts is None:
            return None
        return [json.loads(text) for text in self.reply_texts]


def load_transcript(path: Path, root: Path | None = None) -> Transcript:
    requests = [parse_request(b) for b in blocks(path.read_text(encoding="utf-8"))]
    expected = path.with_name(path.name[: -len(".in")] + ".expected.out")
    texts = None
    if expected.is_file():
        texts = ["\n".join(b) for b in blocks(expected.read_text(encoding="utf-8"))]
    name = str(path.relative_to(root)) if root else path.name
    return Transcript(name[: -len(".in")], path, requests, texts)


def transcripts(root: Path) -> list[Transcript]:
    return [load_transcript(p, root) for p in sorted(root.rglob("*.in"))]


# -- semantic replay --------------------------------------------------------------------------


@dataclass
class Decl:
    type: str
    axioms: tuple[str, ...]


@dataclass
class Knowledge:
    commands: dict[str, list[tuple[str, dict[str, Any]]]] = field(default_factory=dict)
    tactics: dict[tuple[str, int, str], dict[str, Any]] = field(default_factory=dict)

    def add(self, transcript: Transcript) -> None:
        replies = transcript.replies or []
        for request, reply in zip(transcript.requests, replies, strict=False):
            if "cmd" in request:
                self.commands.setdefault(request["cmd"], []).append((transcript.name, reply))
            elif "tactic" in request and isinstance(request.get("proofState"), int):
                key = (transcript.name, request["proofState"], request["tactic"])
                self.tactics.setdefault(key, reply)


def split_steps(body: str) -> list[str]:
    """Top-level tactics of a block: a line at the block's indentation starts a new one."""
    lines = [line for line in textwrap.dedent(body).splitlines() if line.strip()]
    steps: list[list[str]] = []
    for line in lines:
        if not line.startswith(" ") or not steps:
            steps.append([line])
        else:
            steps[-1].append(line)
    return ["\n".join(s) for s in steps]


def _signature(text: str, name: str) -> str:
    head = text.split(":= by", 1)[0] if ":= by" in text else text.split(":=", 1)[0]
    return " ".join(head.split(name, 1)[-1].split())


class Semantic:
    """A REPL-like state machine over recorded replies (see the module docstring)."""

    def __init__(self, knowledge: Knowledge, opts: argparse.Namespace) -> None:
        self.k = knowledge
        self.opts = opts
        self.envs: list[dict[str, Decl]] = []
        self.states: list[list[Origin]] = []

    def _new_env(self, decls: dict[str, Decl]) -> int:
        self.envs.append(decls)
        return len(self.envs) - 1

    def _new_state(self, origins: list[Origin]) -> int:
        self.states.append(origins)
        return len(self.states) - 1

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        if "tactic" in request:
            return self.tactic(request)
        if "cmd" in request:
            return self.command(request)
        return {"message": "stand-in: only cmd and tactic requests are replayed semantically"}

    # commands

    def command(self, request: dict[str, Any]) -> dict[str, Any]:
        env = request.get("env")
        if env is not None and not (isinstance(env, int) and 0 <= env < len(self.envs)):
            return {"message": "Unknown environment."}
        decls = dict(self.envs[env]) if env is not None else {}
        text: str = request["cmd"]
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if lines and all(_HEADER_LINE.match(ln) for ln in lines):
            if any(ln.lstrip().startswith("import") for ln in lines):
                time.sleep(self.opts.header_delay)
            return {"env": self._new_env(decls)}
        m = _AXIOMS.match(text.strip())
        if m:
            return self._info(decls, m.group(1), lambda n, d: self._axioms_text(n, d))
        m = _CHECK.match(text.strip())
        if m:
            return self._info(decls, m.group(1), lambda n, d: f"{n} : {d.type}")
        recorded = self.k.commands.get(text)
        if recorded:
            return self._recorded_command(text, recorded, decls)
        m = _PROOF.match(text)
        if m:
            return self._simulated_proof(text, m.group("head"), m.group("body"), decls)
        return self._error_env(decls, "stand-in: this command is not in the recorded transcripts")

    def _axioms_text(self, name: str, decl: Decl) -> str:
        if not decl.axioms:
            return f"'{name}' does not depend on any axioms"
        return f"'{name}' depends on axioms: [{', '.join(decl.axioms)}]"

    def _info(self, decls: dict[str, Decl], name: str, render: Any) -> dict[str, Any]:
        decl = decls.get(name)
        if decl is None:
            return self._error_env(decls, f"unknown constant '{name}'")
        message = {
            "severity": "info",
            "pos": {"line": 1, "column": 0},
            "endPos": {"line": 1, "column": 6},
            "data": render(name, decl),
        }
        return {"messages": [message], "env": self._new_env(decls)}

    def _error_env(self, decls: dict[str, Decl], data: str) -> dict[str, Any]:
        message = {
            "severity": "error",
            "pos": {"line": 1, "column": 0},
            "endPos": {"line": 1, "column": 1},
            "data": data,
        }
        return {"messages": [message], "env": self._new_env(decls)}

    def _declare(self, decls: dict[str, Decl], text: str, reply: dict[str, Any]) -> None:
        m = _DECL.search(text)
        if not m:
            return
        name = m.group(1)
        messages = reply.get("messages") or []
        failed = any(msg.get("severity") == "error" for msg in messages)
        sorry = reply.get("sorries") or any(
            "declaration uses" in msg.get("data", "") and "sorry" in msg.get("data", "")
            for msg in messages
        )
        signature = _signature(text, name)
        if failed or sorry:
            decls[name] = Decl(signature, ("sorryAx",))
        else:
            drift = " ∧ True" if self.opts.type_drift else ""
            decls[name] = Decl(signature + drift, tuple(self.opts.axioms))

    def _recorded_command(
        self, text: str, recorded: list[tuple[str, dict[str, Any]]], decls: dict[str, Decl]
    ) -> dict[str, Any]:
        _, reply = recorded[0]
        out = dict(reply)
        sorries = []
        for i, item in enumerate(reply.get("sorries") or []):
            origins = [
                (t, r["sorries"][i]["proofState"])
                for t, r in recorded
                if i < len(r.get("sorries") or []) and "proofState" in r["sorries"][i]
            ]
            sorries.append({**item, "proofState": self._new_state(origins)})
        if sorries:
            out["sorries"] = sorries
        if "message" in reply and "env" not in reply:
            return out
        self._declare(decls, text, reply)
        out["env"] = self._new_env(decls)
        return out

    def _simulated_proof(
        self, text: str, head: str, body: str, decls: dict[str, Decl]
    ) -> dict[str, Any]:
        opened = self.k.commands.get(f"{head} := by sorry")
        if not opened:
            return self._error_env(decls, "stand-in: the statement is not in the transcripts")
        start = [(t, r["sorries"][-1]["proofState"]) for t, r in opened if r.get("sorries")]
        last: dict[str, Any] | None = None
        for reply, _ in self._chain(start, split_steps(body)):
            last = reply
            if "message" in reply or any(
                m.get("severity") == "error" for m in reply.get("messages") or []
            ):
                data = reply.get("message") or reply["messages"][0]["data"]
                result = self._error_env(decls, data)
                self._declare(decls, text, result)
                return result
        if last is None or last.get("proofStatus") != "Completed":
            result = self._error_env(decls, "unsolved goals")
            self._declare(decls, text, result)
            return result
        self._declare(decls, text, {})
        return {"env": self._new_env(decls)}

    # tactics

    def _lookup(self, origins: list[Origin], tactic: str) -> tuple[str, dict[str, Any]] | None:
        for name, state in origins:
            reply = self.k.tactics.get((name, state, tactic))
            if reply is not None:
                return name, reply
        return None

    def _chain(
        self, origins: list[Origin], steps: list[str]
    ) -> Iterator[tuple[dict[str, Any], list[Origin]]]:
        """Replies of consecutive recorded tactics, longest recorded run of lines first."""
        i = 0
        while i < len(steps):
            for j in range(len(steps), i, -1):
                found = self._lookup(origins, "\n".join(steps[i:j]))
                if found is not None:
                    name, reply = found
                    if "proofState" in reply:
                        origins = [(name, reply["proofState"])]
                    yield reply, origins
                    i = j
                    break
            else:
                yield {"message": f"Lean error:\nstand-in: no recorded reply for `{steps[i]}`"}, []
                return

    def tactic(self, request: dict[str, Any]) -> dict[str, Any]:
        state = request.get("proofState")
        if not (isinstance(state, int) and 0 <= state < len(self.states)):
            return {"message": "Unknown proof state."}
        text: str = request["tactic"]
        found = self._lookup(self.states[state], text)
        if found is not None:
            return self._renumber(found[0], found[1])
        steps = split_steps(text)
        if not steps:
            return {"message": "Lean error:\n<input>:1:0: expected tactic"}
        collected: list[dict[str, Any]] = []
        last: tuple[str, dict[str, Any]] | None = None
        for reply, origins in self._chain(self.states[state], steps):
            if "message" in reply:
                return reply
            collected.extend(self._renumber_sorries(origins[0][0], reply))
            last = (origins[0][0], reply)
            if any(m.get("severity") == "error" for m in reply.get("messages") or []):
                break
        assert last is not None
        out = self._renumber(*last)
        if collected:
            out["sorries"] = collected
        return out

    def _renumber_sorries(self, name: str, reply: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {**s, "proofState": self._new_state([(name, s["proofState"])])}
            for s in reply.get("sorries") or []
        ]

    def _renumber(self, name: str, reply: dict[str, Any]) -> dict[str, Any]:
        if "proofState" not in reply:
            return dict(reply)
        out = dict(reply)
        sorries = self._renumber_sorries(name, reply)
        if sorries:
            out["sorries"] = sorries
        out["proofState"] = self._new_state([(name, reply["proofState"])])
        return out


# -- the process ------------------------------------------------------------------------------


def _read_request(stream: Any) -> tuple[str, dict[str, Any] | None] | None:
    """The next request block (None at EOF); the dict is None if the block is not JSON."""
    lines: list[str] = []
    while True:
        line = stream.readline()
        if not line:
            if not lines:
                return None
            break
        if not line.strip():
            if lines:
                break
            continue
        lines.append(line)
    raw = "".join(line.rstrip() for line in lines)
    try:
        return raw, json.loads(raw, strict=False)
    except json.JSONDecodeError:
        return raw, None


def _fault(text: str) -> None:
    if text == "standin_hang":
        while True:
            time.sleep(3600)
    if text == "standin_crash":
        os._exit(3)
    m = re.fullmatch(r"standin_sleep ([0-9.]+)", text)
    if m:
        time.sleep(float(m.group(1)))
    m = re.fullmatch(r"standin_alloc ([0-9]+)", text)
    if m:
        block = bytearray(int(m.group(1)) * 1024 * 1024)
        block[-1] = 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transcript", type=Path)
    parser.add_argument("--library", type=Path, action="append", default=[])
    parser.add_argument("--header-delay", type=float, default=0.0)
    parser.add_argument("--axioms", default="propext")
    parser.add_argument("--type-drift", action="store_true")
    parser.add_argument("--log", type=Path)
    opts = parser.parse_args(argv)
    opts.axioms = [a for a in opts.axioms.split(",") if a]
    log = opts.log.open("a", encoding="utf-8") if opts.log else None

    def note(record: dict[str, Any]) -> None:
        if log is not None:
            log.write(json.dumps({"pid": os.getpid(), **record}, ensure_ascii=False) + "\n")
            log.flush()

    note({"event": "start"})
    strict = load_transcript(opts.transcript) if opts.transcript else None
    knowledge = Knowledge()
    for root in opts.library:
        for transcript in transcripts(root):
            knowledge.add(transcript)
    semantic = Semantic(knowledge, opts)
    out = sys.stdout
    index = 0
    while True:
        got = _read_request(sys.stdin)
        if got is None:
            return 0
        raw, request = got
        note({"event": "request", "request": request if request is not None else raw})
        if request is None:
            # The real REPL throws on unparsable JSON and exits.
            sys.stderr.write(f"uncaught exception: Could not parse JSON: {raw[:80]}\n")
            return 1
        if isinstance(request.get("tactic"), str):
            _fault(request["tactic"])
        if strict is not None:
            if strict.reply_texts is None or index >= len(strict.reply_texts):
                text = json.dumps({"message": "stand-in: no more recorded replies"})
            elif request != strict.requests[index]:
                text = json.dumps({"message": f"stand-in: expected {strict.requests[index]}"})
            else:
                text = strict.reply_texts[index]
            index += 1
        else:
            text = json.dumps(semantic.handle(request), ensure_ascii=False, indent=1)
        out.write(text + "\n\n")
        out.flush()


if __name__ == "__main__":
    sys.exit(main())
