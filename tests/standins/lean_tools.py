"""Stand-in for `lake`, `lean`, `lean4export` and `lean4checker` (not Lean): the kernel judge's
steps run against it. Usage: `lean_tools.py TOOL ARGS…` (tests install one small wrapper per tool).

Every call appends {"tool", "argv", "cwd", "lean_path", "pid"} (and `lean`'s source) to
$STANDIN_LOG. What a step does comes
from the JSON file $STANDIN_PLAN, keyed "lean:<Module>", "export:<Module>", "checker:<Module>":
"ok" (default), "fail", "hang", "crash" (killed by SIGKILL), "garbage" (export: not NDJSON), and
for lean "escape" (try to write outside its directory, then succeed), "plant-module" (also write
a forged Evil.olean beside the output) or "plant" (that, and the output a symlink). Exports print
the file named by plan["exports"]["<Module>"]. `lake env CMD …` runs CMD with the same environment,
as lake does.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path


def _plan() -> dict:
    path = os.environ.get("STANDIN_PLAN")
    return json.loads(Path(path).read_text()) if path else {}


def _record(tool: str, argv: list[str], **more: object) -> None:
    log = os.environ.get("STANDIN_LOG")
    if log:
        entry = {
            "tool": tool,
            "argv": argv,
            "cwd": os.getcwd(),
            "lean_path": os.environ.get("LEAN_PATH", ""),
            "pid": os.getpid(),
            **more,
        }
        with open(log, "a") as handle:
            handle.write(json.dumps(entry) + "\n")


def _misbehave(mode: str, message: str) -> None:
    if mode == "fail":
        print(message, flush=True)
        sys.exit(1)
    if mode == "hang":
        while True:  # a stand-in that never answers: the judge must stop it
            time.sleep(3600)
    if mode == "crash":
        os.kill(os.getpid(), signal.SIGKILL)


def lake(argv: list[str]) -> None:
    if argv[:1] != ["env"] or len(argv) < 2:
        print(f"stand-in lake: unsupported {argv}", file=sys.stderr)
        sys.exit(2)
    command = argv[1]
    os.execvp(command, [command, *argv[2:]])


def lean(argv: list[str]) -> None:
    olean = Path(argv[argv.index("-o") + 1])
    source = Path(argv[-1])
    module = source.stem
    mode = _plan().get(f"lean:{module}", "ok")
    _misbehave(mode, f"{source}:3:2: error: unsolved goals")
    if mode == "plant":  # a forged module beside the Solution, and the olean as a symlink
        (olean.parent / "Evil.olean").write_text("forged")
        olean.symlink_to("/etc/hostname")
        return
    if mode == "plant-module":  # only the forged module
        (olean.parent / "Evil.olean").write_text("forged")
    if mode == "escape":  # what a proof that runs code at compile time would try
        wrote = []
        for target in _plan().get("escape_to", []):
            try:
                Path(target).write_text("forged")
                wrote.append(target)
            except OSError:
                pass
        _record("lean-escape", argv, wrote=wrote)
    olean.write_text(source.read_text())


def _olean(module: str) -> Path | None:
    for entry in os.environ.get("LEAN_PATH", "").split(os.pathsep):
        candidate = Path(entry) / f"{module}.olean"
        if entry and candidate.is_file():
            return candidate
    return None


def lean4export(argv: list[str]) -> None:
    module = argv[0]
    plan = _plan()
    mode = plan.get(f"export:{module}", "ok")
    _misbehave(mode, f"uncaught exception: cannot export {module}")
    if _olean(module) is None:
        print(f"uncaught exception: object file of module {module} does not exist")
        sys.exit(1)
    if mode == "garbage":
        print("{not json", flush=True)
        return
    sys.stdout.write(Path(plan["exports"][module]).read_text())


def lean4checker(argv: list[str]) -> None:
    module = argv[0]
    mode = _plan().get(f"checker:{module}", "ok")
    if mode == "fail":
        print(f"lean4checker found a problem in {module}", file=sys.stderr)
        print("uncaught exception: (kernel) declaration type mismatch", file=sys.stderr)
        sys.exit(1)
    _misbehave(mode, "")
    if _olean(module) is None:
        print(f"uncaught exception: Could not find any oleans for: {module}", file=sys.stderr)
        sys.exit(1)


TOOLS = {"lake": lake, "lean": lean, "lean4export": lean4export, "lean4checker": lean4checker}

if __name__ == "__main__":
    tool, rest = sys.argv[1], sys.argv[2:]
    if tool == "lean":
        _record(tool, rest, source=Path(rest[-1]).read_text())
    else:
        visible = [
            sorted(os.listdir(entry))
            for entry in os.environ.get("LEAN_PATH", "").split(os.pathsep)
            if entry and os.path.isdir(entry)
        ]
        _record(tool, rest, lean_path_files=visible)
    TOOLS[tool](rest)
