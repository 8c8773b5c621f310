"""Stand-in for `java -cp PISA.jar pisa.server.PisaOneStageServer<PORT>`. Not Java, not Isabelle.

Parses the command line the way PISA is started, then serves the scripted PISA stand-in
(pisa_scripted.py) on the port named in the class name. Like java it fails when the jar is missing
or the class does not exist. Knobs, read from the environment so tests can set them:
  FAKE_JAVA_STARTUP_DELAY  seconds to wait before listening (a JVM starting up)
  FAKE_JAVA_CHILD_PIDFILE  spawn a child in its own session (like Isabelle's poly process) and
                           write its pid to this file
  FAKE_JAVA_ARGV_FILE      append the received argv (one JSON list per line) to this file
  FAKE_JAVA_HANG_FILE      touch this file when a never-returning step starts
  FAKE_JAVA_DIE_AFTER      exit with code 1 this many seconds after start-up began, before
                           serving (a JVM that dies while Isabelle starts)
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for pisa_scripted
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository, for the stubs

from pisa_scripted import serve

_CLASS = re.compile(r"pisa\.server\.PisaOneStageServer(\d+)")


def _fail(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
    sys.exit(1)


def main(argv: list[str]) -> None:
    if argv_file := os.environ.get("FAKE_JAVA_ARGV_FILE"):
        with open(argv_file, "a", encoding="utf-8") as f:
            f.write(json.dumps(argv) + "\n")
    if "-cp" not in argv or argv.index("-cp") + 2 > len(argv):
        _fail("Usage: java [options] -cp <class search path> <mainclass>")
    jar = argv[argv.index("-cp") + 1]
    main_class = argv[argv.index("-cp") + 2]
    if not Path(jar).is_file():
        _fail(f"Error: Could not find or load main class {main_class}")
    match = _CLASS.fullmatch(main_class)
    if match is None:
        _fail(f"Error: Could not find or load main class {main_class}")
    port = int(match.group(1))
    delay = float(os.environ.get("FAKE_JAVA_STARTUP_DELAY", "0"))
    if delay > 0:
        time.sleep(delay)  # simulates JVM start-up
    if pidfile := os.environ.get("FAKE_JAVA_CHILD_PIDFILE"):
        child = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True
        )
        Path(pidfile).write_text(str(child.pid), encoding="utf-8")
    if die_after := os.environ.get("FAKE_JAVA_DIE_AFTER"):
        time.sleep(float(die_after))
        _fail("Exception in thread main: isabelle.ERROR: Isabelle process died")
    asyncio.run(_serve(port))


async def _serve(port: int) -> None:
    marker = os.environ.get("FAKE_JAVA_HANG_FILE")
    server, _, _ = await serve(port, on_hang=(lambda: Path(marker).touch()) if marker else None)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop(None)


if __name__ == "__main__":
    main(sys.argv[1:])
