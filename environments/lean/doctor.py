"""`prover doctor` checks for Lean: the toolchain, the built lake-project, a live REPL, and which
judge decides whether a proof counts (with its tools built or not)."""

from __future__ import annotations

import asyncio
import contextlib

from environments.lean.replies import RequestFailure, parse_command_reply
from environments.lean.settings import LeanConfig
from environments.lean.toolchain import (
    LEAN_TOOLCHAIN,
    SETUP_COMMAND,
    checker_binary,
    export_binary,
    find_tool,
    mathlib_olean,
    project_dir,
    repl_binary,
    resolve_command,
    run_captured,
)
from environments.lean.worker import ReplWorker, WorkerSettings
from prover.doctor import Check
from prover.errors import ProverError
from prover.processes import ProcessTracker

TRIVIAL_COMMAND = "example : 1 + 1 = 2 := rfl"


def checks(config: LeanConfig | None = None) -> list[Check]:
    """Toolchain (elan, lake, Lean v4.24.0), lake-project built, `lake exe repl` answering, and
    the active judge."""
    config = config or LeanConfig()
    toolchain = _toolchain()
    built = _built(config)
    if toolchain.ok and built.ok:
        repl = _repl(config)
    else:
        repl = Check(
            "lean REPL",
            False,
            "not tried: needs the toolchain and a built lake-project",
            SETUP_COMMAND,
        )
    return [toolchain, built, repl, judge_check(config)]


def judge_check(config: LeanConfig) -> Check:
    """Which judge decides (lean.judge) and, for the kernel judge, whether its tools are built."""
    if config.judge == "repl":
        return Check(
            "lean judge",
            True,
            "repl: the REPL whole-proof check alone (verified_by lean-repl); the kernel judge "
            'is off (lean.judge = "repl")',
        )
    project = project_dir(config)
    missing = [p for p in (export_binary(project), checker_binary(project)) if not p.is_file()]
    if find_tool("lake") is None or missing:
        what = ", ".join(p.name for p in missing) or "lake"
        return Check(
            "lean judge",
            False,
            f"kernel (verified_by lean-kernel), but {what} not built in {project}: every proof's "
            "verdict is `error`",
            f"{SETUP_COMMAND}  # or judge with the REPL alone: --set lean.judge=repl",
        )
    return Check(
        "lean judge",
        True,
        f"kernel (verified_by lean-kernel): lean4export and lean4checker built in {project}",
    )


def _toolchain() -> Check:
    lake, lean, elan = find_tool("lake"), find_tool("lean"), find_tool("elan")
    if lake is None or lean is None:
        missing = [n for n, p in (("lake", lake), ("lean", lean), ("elan", elan)) if p is None]
        where = "on PATH or in ~/.elan/bin"
        return Check("lean toolchain", False, f"no {', '.join(missing)} {where}", SETUP_COMMAND)
    if elan is None:
        return Check("lean toolchain", True, f"lake at {lake}, lean at {lean} (no elan to ask)")
    code, output = asyncio.run(run_captured((elan, "toolchain", "list"), None, 30.0))
    if code != 0 or LEAN_TOOLCHAIN not in output:
        return Check(
            "lean toolchain",
            False,
            f"{LEAN_TOOLCHAIN} is not installed (elan at {elan})",
            f"elan toolchain install {LEAN_TOOLCHAIN}  # or: {SETUP_COMMAND}",
        )
    return Check("lean toolchain", True, f"{LEAN_TOOLCHAIN} via elan at {elan}; lake at {lake}")


def _built(config: LeanConfig) -> Check:
    project = project_dir(config)
    if not (project / "lakefile.toml").is_file() and not (project / "lakefile.lean").is_file():
        return Check("lake-project", False, f"no lakefile in {project}", "fix lean.project")
    missing = [
        what
        for what, path in (("Mathlib", mathlib_olean(project)), ("REPL", repl_binary(project)))
        if not path.is_file()
    ]
    if missing:
        return Check(
            "lake-project",
            False,
            f"{' and '.join(missing)} not built in {project}",
            SETUP_COMMAND,
        )
    return Check("lake-project", True, f"Mathlib and REPL built in {project}")


def _repl(config: LeanConfig) -> Check:
    project = project_dir(config)
    command = " ".join(config.repl_command)
    try:
        settings = WorkerSettings(
            argv=resolve_command(tuple(config.repl_command)), cwd=str(project)
        )
        ok, detail = asyncio.run(_ask(settings))
    except ProverError as exc:
        ok, detail = False, str(exc)
    fix = f"cd {project} && lake build repl  # or: {SETUP_COMMAND}"
    return Check("lean REPL", ok, f"`{command}` {detail}", "" if ok else fix)


async def _ask(settings: WorkerSettings) -> tuple[bool, str]:
    tracker = ProcessTracker()
    worker = ReplWorker(settings, tracker, header="", index=0)
    try:
        reply = parse_command_reply(await worker.command(TRIVIAL_COMMAND, timeout=180.0))
    finally:
        with contextlib.suppress(Exception):
            await worker.close()
        await tracker.stop_all()
    if isinstance(reply, RequestFailure):
        return False, f"refused a trivial command: {reply.message}"
    if reply.errors:
        return False, f"answered with an error: {reply.errors[0].text}"
    return True, f"answers (`{TRIVIAL_COMMAND}` checked)"
