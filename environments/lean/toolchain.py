"""Where the Lean toolchain and lake-project live, and how a REPL process is started from config."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from environments.lean.settings import LeanConfig
from environments.lean.worker import WorkerSettings
from prover.config import project_root
from prover.errors import MissingDependencyError
from prover.processes import ProcessSpec, ProcessTracker
from prover.sandbox import SandboxPolicy

LEAN_TOOLCHAIN = "leanprover/lean4:v4.24.0"
SETUP_COMMAND = "prover setup lean"
_ELAN_TOOLS = ("lake", "lean", "elan")


def project_dir(config: LeanConfig) -> Path:
    """`lean.project`, or the repository's lake-project/."""
    if config.project:
        return Path(config.project).expanduser().resolve()
    return project_root() / "lake-project"


def elan_home() -> Path:
    """elan's directory (ELAN_HOME, default ~/.elan): its proxies and the Lean toolchains."""
    home = os.environ.get("ELAN_HOME")
    return Path(home) if home else Path.home() / ".elan"


def elan_bin() -> Path:
    """Where elan puts `lake`, `lean` and `elan`."""
    return elan_home() / "bin"


def find_tool(name: str) -> str | None:
    """An executable on PATH, or in elan's bin directory when PATH was not updated yet."""
    found = shutil.which(name)
    if found:
        return found
    candidate = elan_bin() / name
    return str(candidate) if candidate.is_file() and os.access(candidate, os.X_OK) else None


def repl_binary(project: Path) -> Path:
    return project / ".lake" / "packages" / "REPL" / ".lake" / "build" / "bin" / "repl"


def export_binary(project: Path) -> Path:
    """lean4export (tag v4.24.0), built by `prover setup lean` as a dependency of lake-project."""
    package = project / ".lake" / "packages" / "lean4export"
    return package / ".lake" / "build" / "bin" / "lean4export"


def checker_binary(project: Path) -> Path:
    """lean4checker (tag v4.24.0), built like lean4export."""
    package = project / ".lake" / "packages" / "lean4checker"
    return package / ".lake" / "build" / "bin" / "lean4checker"


def mathlib_olean(project: Path) -> Path:
    return (
        project
        / ".lake"
        / "packages"
        / "mathlib"
        / ".lake"
        / "build"
        / "lib"
        / "lean"
        / ("Mathlib.olean")
    )


def resolve_command(argv: tuple[str, ...]) -> tuple[str, ...]:
    """`argv` with an elan tool (lake, lean) resolved to its path; raises if it is missing."""
    if not argv:
        raise MissingDependencyError("lean.repl_command (it is empty)", "set lean.repl_command")
    head = argv[0]
    if os.sep in head:
        if not Path(head).is_file():
            raise MissingDependencyError(f"'{head}' (lean.repl_command)", "fix lean.repl_command")
        return argv
    found = find_tool(head)
    if found is None:
        fix = SETUP_COMMAND if head in _ELAN_TOOLS else "install it or fix lean.repl_command"
        raise MissingDependencyError(f"'{head}' (from lean.repl_command)", fix)
    return (found, *argv[1:])


def require_built(config: LeanConfig) -> Path:
    """The project directory, checked to hold a built Mathlib and REPL when `lake` runs the REPL."""
    project = project_dir(config)
    if not project.is_dir():
        raise MissingDependencyError(f"the Lean project '{project}'", "fix lean.project")
    if config.repl_command[:1] == ("lake",):
        if not mathlib_olean(project).is_file():
            raise MissingDependencyError(f"Mathlib built in '{project}'", SETUP_COMMAND)
        if not repl_binary(project).is_file():
            raise MissingDependencyError(f"the REPL built in '{project}'", SETUP_COMMAND)
    return project


def pool_size(config: LeanConfig) -> int:
    """`lean.pool_size`, or one process per core but one (at least one)."""
    if config.pool_size > 0:
        return config.pool_size
    return max(1, (os.cpu_count() or 2) - 1)


def lean_policy(policy: SandboxPolicy, project: Path) -> SandboxPolicy:
    """`policy` with what every Lean process reads: the project (Mathlib, the REPL, the judge's
    tools) and elan's directory (the toolchain), which sits under the hidden $HOME."""
    return policy.allowing(readable=(str(project), str(elan_home())))


def worker_settings(config: LeanConfig, policy: SandboxPolicy | None = None) -> WorkerSettings:
    """How to start REPL processes for `config` (checks the command and the project first);
    with `policy` they run in the sandbox, reading lake-project and the toolchain."""
    project = require_built(config)
    limit = int(config.memory_limit_gb * 1024**3) if config.memory_limit_gb > 0 else None
    argv = tuple(config.repl_command)
    if policy is not None and policy.kind != "none" and argv == ("lake", "exe", "repl"):
        # `lake exe` builds first (and may take lake's lock in .lake/), which the read-only
        # project refuses; `lake env` runs the REPL that `prover setup lean` built, unchanged.
        argv = ("lake", "env", str(repl_binary(project)))
    return WorkerSettings(
        argv=resolve_command(argv),
        cwd=str(project),
        memory_limit_bytes=limit,
        header_timeout=config.header_timeout,
        recycle_after=config.recycle_after,
        reply_budget_bytes=int(config.reply_budget_mb * 1024**2),
        sandbox=None if policy is None else lean_policy(policy, project),
    )


async def run_captured(
    argv: tuple[str, ...], cwd: str | None, timeout: float
) -> tuple[int | None, str]:
    """Run a tool to completion (stopped after `timeout`); its exit code and combined output."""
    tracker = ProcessTracker()
    spec = ProcessSpec(argv=_merged(argv), cwd=cwd, stdin=False)
    process = await tracker.start(spec)
    try:
        assert process.proc.stdout is not None
        output = await asyncio.wait_for(process.proc.stdout.read(), timeout)
        await asyncio.wait_for(process.proc.wait(), timeout)
        return process.returncode, output.decode("utf-8", errors="replace")
    except asyncio.TimeoutError:
        return None, f"no result within {timeout:g} s"
    finally:
        await tracker.stop_all()


async def run_streaming(
    argv: tuple[str, ...], cwd: str | None, timeout: float, sink: Callable[[str], None]
) -> int | None:
    """Run a tool, passing its combined output to `sink` as it comes; None if it timed out."""
    tracker = ProcessTracker()
    process = await tracker.start(ProcessSpec(argv=_merged(argv), cwd=cwd, stdin=False))
    stdout = process.proc.stdout
    assert stdout is not None

    async def pump() -> None:
        while chunk := await stdout.read(4096):
            sink(chunk.decode("utf-8", errors="replace"))
        await process.proc.wait()

    try:
        await asyncio.wait_for(pump(), timeout)
        return process.returncode
    except asyncio.TimeoutError:
        return None
    finally:
        await tracker.stop_all()


def _merged(argv: tuple[str, ...]) -> tuple[str, ...]:
    """`argv` with stderr joined to stdout (the shell's exec keeps the tool's own pid)."""
    return ("sh", "-c", 'exec "$@" 2>&1', "sh", *argv)
