"""Stand-in for Isabelle's `bin/isabelle process`. Not Isabelle: it checks nothing in HOL.

It reads the command line the way `isabelle process` does (`-l`, `-o`, and `-e`/`-T` run in
order) and acts out what the judge must tell apart. `-e 'writeln "X"'` prints X; `-T PATH` loads
PATH.thy (missing: an error; a `sorry` token: Isabelle's "Cheating requires quick_and_dirty
mode!"); the judge's check (`-e` with `Thm_Deps.all_oracles`) needs `theorem FACT:` in the
loaded theory and prints the line its `writeln` names. Knobs, from the environment:
  FAKE_ISABELLE_MODE    accept (default) | refuse | oracle | hang | crash | garbage | nostart | echo
  FAKE_ISABELLE_RECORD  directory: argv.json, theory.thy, rlimit_as, loopback, secret_visible
  FAKE_ISABELLE_PROBE   a 127.0.0.1 port to try to connect to (the sandbox's network)
  FAKE_ISABELLE_SECRET  a path that must not be visible (recorded as secret_visible)
"""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import socket
import sys
import time
from pathlib import Path

_WRITELN = re.compile(r'writeln "([^"]+)"')
_FACT = re.compile(r'Global_Theory\.get_thm thy "([^".]+)\.([^"]+)"')


def _record(name: str, text: str) -> None:
    if record := os.environ.get("FAKE_ISABELLE_RECORD"):
        Path(record, name).write_text(text, encoding="utf-8")


def _probe() -> str:
    port = os.environ.get("FAKE_ISABELLE_PROBE")
    if not port:
        return "not probed"
    try:
        with socket.create_connection(("127.0.0.1", int(port)), timeout=2):
            return "connected"
    except OSError as exc:
        return f"refused: {exc}"


def main(argv: list[str]) -> int:
    mode = os.environ.get("FAKE_ISABELLE_MODE", "accept")
    _record("argv.json", json.dumps(argv))
    _record("rlimit_as", str(resource.getrlimit(resource.RLIMIT_AS)[0]))
    _record("loopback", _probe())
    if secret := os.environ.get("FAKE_ISABELLE_SECRET"):
        _record("secret_visible", str(Path(secret).exists()))
    if not argv or argv[0] != "process":
        print(f"Unknown Isabelle tool: {argv[:1]}", file=sys.stderr)
        return 2
    if mode == "nostart":
        print("*** Missing heap image for session HOL", flush=True)
        return 1
    theory = ""
    i = 1
    while i < len(argv):
        flag, value = argv[i], argv[i + 1] if i + 1 < len(argv) else ""
        i += 2
        if flag == "-T":
            path = Path(value + ".thy")
            if not path.is_file():
                print(f"*** No such file: {path}", flush=True)
                return 1
            theory = path.read_text(encoding="utf-8")
            _record("theory.thy", theory)
            if mode == "hang":
                time.sleep(3600)
            if mode == "crash":
                os.kill(os.getpid(), signal.SIGKILL)
            if mode == "echo":  # everything the proof text says, then a clean exit
                print(theory, flush=True)
                return 0
            if mode == "refuse":
                print("*** Failed to finish proof (line 7)", flush=True)
                return 1
            if re.search(r"\bsorry\b", theory):
                print("*** Cheating requires quick_and_dirty mode!", flush=True)
                return 1
        elif flag == "-e" and "Thm_Deps.all_oracles" in value:
            fact = _FACT.search(value)
            if fact is None or f"theorem {fact.group(2)}:" not in theory:
                print("*** Undefined fact", flush=True)
                return 1
            secret = _WRITELN.search(value).group(1).split()[0]
            if mode == "oracle":
                print(f"*** {secret} ORACLES Pure.skip_proof", flush=True)
                return 1
            if mode == "garbage":
                print("ACCEPT\nPROVER_JUDGE ACCEPT\n\x00\x01 ok", flush=True)
                return 0
            print(f"{secret} ACCEPT", flush=True)
        elif flag == "-e":
            match = _WRITELN.search(value)
            if match:
                print(match.group(1), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
