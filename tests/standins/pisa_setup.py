"""Helpers for the Isabelle tests: a fake Isabelle directory, free ports, the `java` stand-in,
and configs pointing at them. Nothing here is Isabelle or PISA."""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prover import processes
from prover.config import Config, load_config

STANDINS = Path(__file__).resolve().parent

# The statement used across the tests, shaped like miniF2F's Isabelle statements.
STATEMENT = 'theorem mathd_demo:\n  fixes x :: real\n  assumes h0: "x / 2 = 3"\n  shows "x = 6"'


def fake_isabelle(root: Path) -> Path:
    """A directory laid out like an Isabelle installation (bin/isabelle, src/HOL/Examples)."""
    home = root / "Isabelle2022"
    (home / "bin").mkdir(parents=True, exist_ok=True)
    (home / "bin" / "isabelle").write_text("#!/bin/sh\nexit 1\n", encoding="utf-8")
    (home / "src" / "HOL" / "Examples").mkdir(parents=True, exist_ok=True)
    return home


def isabelle_standin(home: Path) -> Path:
    """Make `home`/bin/isabelle run fake_isabelle.py (the batch judge's stand-in)."""
    script = home / "bin" / "isabelle"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(
        f'#!/bin/sh\nexec "{sys.executable}" "{STANDINS / "fake_isabelle.py"}" "$@"\n',
        encoding="utf-8",
    )
    script.chmod(0o755)
    return script


def free_port() -> int:
    """A TCP port nobody listens on right now (PISA's class name must encode a real port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def java_standin(root: Path) -> Path:
    """An executable `java` that runs fake_java.py with this interpreter (which has grpc)."""
    script = root / "java"
    script.write_text(
        f'#!/bin/sh\nexec "{sys.executable}" "{STANDINS / "fake_java.py"}" "$@"\n', encoding="utf-8"
    )
    script.chmod(0o755)
    return script


def fake_jar(root: Path) -> Path:
    jar = root / "PISA-assembly-0.1.jar"
    jar.write_bytes(b"PK\x05\x06" + b"\x00" * 18)  # an empty zip archive
    return jar


def isabelle_config(root: Path, ports: list[int], sandbox: str = "none", **isabelle: Any) -> Config:
    """A config for the isabelle environment under `root`; `isabelle` overrides [isabelle]."""
    values: dict[str, Any] = {
        "environment": "isabelle",
        # The stand-ins' own pid files and argv logs live under the test's tmp; the sandboxed
        # launch has tests of its own.
        "sandbox": sandbox,
        # These configs drive PISA stand-ins; the batch judge has its own stand-in `isabelle`
        # (isabelle_standin) and tests.
        "isabelle.judge": "pisa",
        "store.home": str(root / "home"),
        "isabelle.isabelle_path": str(fake_isabelle(root)),
        "isabelle.ports": ports,
        "isabelle.jar": str(fake_jar(root)),
        "isabelle.step_timeout": 5.0,
        "isabelle.query_timeout": 5.0,
        "isabelle.hammer_timeout": 5.0,
        "isabelle.startup_timeout": 20.0,
    }
    values.update({f"isabelle.{k}": v for k, v in isabelle.items()})
    return load_config(None, values)


async def wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    """Poll `condition` until it holds or `seconds` pass; returns whether it held."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


@contextmanager
def pisa_in_thread(script: Any = None) -> Iterator[int]:
    """The scripted PISA stand-in served from a thread with its own event loop (for code, such as
    the CLI, that runs `asyncio.run` itself); yields its port and stops it on exit."""
    from standins.pisa_scripted import serve

    loop = asyncio.new_event_loop()
    ready: dict[str, Any] = {}
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        server, port, _ = loop.run_until_complete(serve(script=script))
        ready.update(server=server, port=port)
        started.set()
        loop.run_forever()
        loop.run_until_complete(server.stop(None))
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    if not started.wait(timeout=20):
        raise RuntimeError("the PISA stand-in did not start within 20 s")
    try:
        yield int(ready["port"])
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=20)


def gone(pid: int) -> bool:
    """True once the process `pid` no longer runs (exited, a zombie, or its pid reused)."""
    proc = processes.identify(pid)
    return proc is None or not processes.is_running(proc)
