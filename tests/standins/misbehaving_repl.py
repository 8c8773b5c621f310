#!/usr/bin/env python3
"""A misbehaving stand-in for the Lean REPL. It is NOT Lean: it proves only `trivial`.

It speaks the REPL's framing (requests end with a blank line; replies are multi-line JSON followed
by a blank line) and answers just enough for a session and the whole-proof checker: a header
command gets an env, `theorem … := by sorry` a proof state, the tactic `trivial` finishes the
proof, `#print axioms` and `#check` describe a theorem it accepted. Faults, chosen by tactic
text (so the checker's processes never meet them):

  fault_noise_blank N   N noise blocks, each ended by a blank line, before the reply
  fault_noise_endless   noise lines forever, never a blank line
  fault_noise_forever   noise blocks ended by blank lines, forever
  fault_big_line MB     one line of MB megabytes (then a blank line and the reply)
  fault_stderr MB       MB megabytes on stderr, then the reply
  fault_exit_after      the reply, then exit (the process dies between requests)

and by option: `--die-in-header` exits when the header arrives, `--hang-axioms` never answers
`#print axioms`. `--log FILE` appends one JSON line per process start with its pid and start time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from typing import Any

_THEOREM = re.compile(r"theorem\s+(\S+)")
_NOISE_LINE = b"{ noise that looks like JSON but is not, [1, 2, 3\n"


def _start_time() -> int:
    raw = open("/proc/self/stat").read()  # noqa: SIM115 - tiny read
    return int(raw[raw.rfind(")") + 2 :].split()[19])


def _read_request() -> dict[str, Any] | None:
    lines: list[str] = []
    while True:
        line = sys.stdin.readline()
        if not line:
            return None
        if line.strip():
            lines.append(line)
        elif lines:
            return json.loads("".join(part.rstrip() for part in lines), strict=False)


def _write(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def _reply(value: dict[str, Any]) -> None:
    _write(json.dumps(value, indent=1).encode() + b"\n\n")


def _fault(text: str) -> bool:
    """Run the fault named by a tactic; True when the process should exit after replying."""
    out = sys.stdout.buffer
    words = text.split()
    if words[0] == "fault_noise_blank":
        out.write((_NOISE_LINE + b"\n") * int(words[1]))
    elif words[0] == "fault_noise_endless":
        block = _NOISE_LINE * 20000
        while True:
            out.write(block)
    elif words[0] == "fault_noise_forever":
        block = (_NOISE_LINE + b"\n") * 2000
        while True:
            out.write(block)
    elif words[0] == "fault_big_line":
        chunk = b"x" * (1024 * 1024)
        for _ in range(int(words[1])):
            out.write(chunk)
        out.write(b"\n\n")
    elif words[0] == "fault_stderr":
        chunk = b"e" * (1024 * 1024 - 1) + b"\n"
        err = sys.stderr.buffer
        for _ in range(int(words[1])):
            err.write(chunk)
        err.write(b"stand-in: flood done\n")
        err.flush()
    elif words[0] == "fault_exit_after":
        return True
    out.flush()
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--die-in-header", action="store_true")
    parser.add_argument("--hang-axioms", action="store_true")
    parser.add_argument("--log")
    opts = parser.parse_args()
    if opts.log:
        with open(opts.log, "a") as log:
            log.write(json.dumps({"pid": os.getpid(), "start": _start_time()}) + "\n")
    envs = states = 0
    while True:
        request = _read_request()
        if request is None:
            return 0
        if "tactic" in request:
            text = str(request["tactic"])
            exit_after = text.startswith("fault_") and _fault(text)
            states += 1
            done = text == "trivial"
            _reply(
                {
                    "proofState": states,
                    "goals": [] if done else ["⊢ True"],
                    **({"proofStatus": "Completed"} if done else {}),
                }
            )
            if exit_after:
                return 0
            continue
        command = str(request.get("cmd", ""))
        envs += 1
        named = _THEOREM.search(command)
        if command.startswith("#print axioms"):
            if opts.hang_axioms:
                while True:
                    time.sleep(3600)
            name = command.split()[-1]
            info = f"'{name}' depends on axioms: [propext]"
            _reply({"env": envs, "messages": [{"severity": "info", "data": info}]})
        elif command.startswith("set_option pp.all true in"):
            name = command.split("@")[-1].strip()
            _reply({"env": envs, "messages": [{"severity": "info", "data": f"{name} : True"}]})
        elif named is not None and command.rstrip().endswith(":= by sorry"):
            sorry = {"proofState": states, "goal": "⊢ True"}
            states += 1
            warning = {"severity": "warning", "data": "declaration uses 'sorry'"}
            _reply({"env": envs, "sorries": [sorry], "messages": [warning]})
        elif named is not None and "trivial" in command:
            _reply({"env": envs})  # a whole proof: the stand-in accepts `trivial` only
        elif named is not None:
            error = {"severity": "error", "data": "unsolved goals", "pos": {"line": 1, "column": 0}}
            _reply({"env": envs, "messages": [error]})
        else:
            if opts.die_in_header:
                sys.stderr.write("stand-in: dying in the header\n")
                return 9
            _reply({"env": envs})


if __name__ == "__main__":
    sys.exit(main())
