"""`prover setup lean`: install elan if missing, fetch Mathlib's build cache, build lake-project.

Steps (each with a timeout; output is shown as it comes):
  1. elan: if neither `lake` nor `elan` is found, download and run elan's installer
     (https://github.com/leanprover/elan, `elan-init.sh -y --default-toolchain none`);
  2. `lake exe cache get` in the project (downloads Lean v4.24.0 and Mathlib's .olean files);
  3. `lake build` (the project itself), then `lake build repl` (the REPL executable);
  4. `lake build lean4export lean4checker` (the kernel judge's tools, tag v4.24.0).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import urllib.request
from pathlib import Path

from prover.errors import InputError, ProverError

ELAN_INSTALLER = "https://raw.githubusercontent.com/leanprover/elan/master/elan-init.sh"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "setup",
        help="set up a backend (lean: elan, Mathlib cache, build, the kernel judge's tools)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("backend", choices=("lean",), help="what to set up")
    p.add_argument("--project", metavar="DIR", help="the Lean project (default: lake-project/)")
    p.add_argument(
        "--timeout",
        type=float,
        default=3600.0,
        metavar="S",
        help="seconds allowed for each step (default 3600)",
    )
    p.add_argument("--skip-cache", action="store_true", help="do not run `lake exe cache get`")
    p.add_argument("--dry-run", action="store_true", help="print the steps without running them")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from environments.lean.settings import LeanConfig
    from environments.lean.toolchain import LEAN_TOOLCHAIN, find_tool, project_dir

    if not args.timeout > 0:
        raise InputError("--timeout must be a positive number of seconds")
    config = LeanConfig(project=args.project or "")
    project = project_dir(config)
    if not (project / "lakefile.toml").is_file() and not (project / "lakefile.lean").is_file():
        raise InputError(f"no lakefile in '{project}'; pass the Lean project with --project DIR")
    steps: list[tuple[str, tuple[str, ...]]] = []
    if not args.skip_cache:
        steps.append(("fetch Mathlib's build cache", ("lake", "exe", "cache", "get")))
    steps.append(("build the project", ("lake", "build")))
    steps.append(("build the REPL", ("lake", "build", "repl")))
    steps.append(
        ("build the kernel judge's tools", ("lake", "build", "lean4export", "lean4checker"))
    )
    total = len(steps) + 1
    lake = find_tool("lake")
    _say(f"[1/{total}] Lean toolchain ({LEAN_TOOLCHAIN}, from {project / 'lean-toolchain'})")
    if args.dry_run:
        _say(f"  lake: {lake or 'missing; would install elan from ' + ELAN_INSTALLER}")
        for i, (what, argv) in enumerate(steps, 2):
            _say(f"[{i}/{total}] {what}: (cd {project} && {' '.join(argv)})")
        return 0
    if lake is None:
        lake = _install_elan(args.timeout)
    _say(f"  lake: {lake}")
    for i, (what, argv) in enumerate(steps, 2):
        _say(f"[{i}/{total}] {what}: (cd {project} && {' '.join(argv)})")
        _step((lake, *argv[1:]), project, args.timeout)
    _say("Lean is set up; `prover doctor` checks it, `prover prove --env lean-repl …` uses it.")
    on_path = os.environ.get("PATH", "").split(os.pathsep)
    if str(Path(lake).parent) not in on_path:
        _say(f"Add {Path(lake).parent} to PATH (e.g. `source ~/.elan/env`) to use lake yourself.")
    return 0


def _say(text: str) -> None:
    print(text, flush=True)


def _step(argv: tuple[str, ...], project: Path, timeout: float) -> None:
    from environments.lean.toolchain import run_streaming

    def show(chunk: str) -> None:
        sys.stdout.write(chunk)
        sys.stdout.flush()

    code = asyncio.run(run_streaming(argv, str(project), timeout, show))
    if code is None:
        raise ProverError(
            f"`{' '.join(argv)}` took longer than {timeout:g} s and was stopped; "
            "re-run `prover setup lean` (finished work is kept) or raise --timeout"
        )
    if code != 0:
        raise ProverError(
            f"`{' '.join(argv)}` failed with exit code {code} (see its output above); "
            "fix the cause and re-run `prover setup lean`"
        )


def _install_elan(timeout: float) -> str:
    from environments.lean.toolchain import elan_bin, find_tool

    _say(f"  no lake or elan found: installing elan from {ELAN_INSTALLER}")
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "elan-init.sh"
        try:
            with urllib.request.urlopen(ELAN_INSTALLER, timeout=60) as response:
                script.write_bytes(response.read())
        except OSError as exc:
            raise ProverError(
                f"could not download the elan installer ({exc}); install elan by hand: "
                f"curl -sSfL {ELAN_INSTALLER} | sh -s -- -y --default-toolchain none"
            ) from exc
        _step(("sh", str(script), "-y", "--default-toolchain", "none"), Path(tmp), timeout)
    lake = find_tool("lake")
    if lake is None:
        raise ProverError(f"elan was installed but {elan_bin() / 'lake'} is missing")
    return lake
