"""A fake Lean toolchain and lake-project for the kernel judge's tests (not Lean).

`lake`, `lean`, `lean4export` and `lean4checker` are small wrappers around lean_tools.py; the plan
they follow and the log they write live under the test's temporary directory.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from standins.lean_export_builder import exports

from environments.lean.settings import LeanConfig
from environments.lean.toolchain import checker_binary, export_binary, mathlib_olean, repl_binary
from prover.sandbox import SandboxPolicy

TOOLS = Path(__file__).parent / "lean_tools.py"
NONE = SandboxPolicy("none")


def _wrapper(path: Path, tool: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{TOOLS}" {tool} "$@"\n')
    path.chmod(0o755)


@dataclass
class Rig:
    """A fake toolchain and lake-project, the plan the stand-ins follow and their log."""

    root: Path
    project: Path
    plan_path: Path
    log_path: Path

    def plan(self, **steps: Any) -> None:
        challenge, solution = exports(**steps.pop("exports", {}))
        files = {}
        for module, text in (("Challenge", challenge), ("Solution", solution)):
            files[module] = str(self.root / "plan" / f"{module}.ndjson")
            Path(files[module]).write_text(text)
        plan = {"exports": files, **{k.replace("_", ":"): v for k, v in steps.items()}}
        self.plan_path.write_text(json.dumps(plan))

    def calls(self) -> list[dict[str, Any]]:
        if not self.log_path.is_file():
            return []
        return [json.loads(line) for line in self.log_path.read_text().splitlines()]

    def config(self, **more: Any) -> LeanConfig:
        return LeanConfig(project=str(self.project), **more)


def make_rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Rig:
    """Stand-in tools on PATH and in a fake lake-project (with placeholder Mathlib and REPL
    builds, so the lean-repl environment can be created), following an honest plan."""
    bin_dir, project = tmp_path / "bin", tmp_path / "project"
    _wrapper(bin_dir / "lake", "lake")
    _wrapper(bin_dir / "lean", "lean")
    _wrapper(export_binary(project), "lean4export")
    _wrapper(checker_binary(project), "lean4checker")
    (project / "lakefile.toml").write_text('name = "stand_in"\n')
    for placeholder in (mathlib_olean(project), repl_binary(project)):
        placeholder.parent.mkdir(parents=True, exist_ok=True)
        placeholder.write_text("")
    (tmp_path / "plan").mkdir()
    (tmp_path / "log").mkdir()
    rig = Rig(tmp_path, project, tmp_path / "plan" / "plan.json", tmp_path / "log" / "calls.jsonl")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin")
    monkeypatch.setenv("ELAN_HOME", str(tmp_path / "no-elan"))
    monkeypatch.setenv("STANDIN_PLAN", str(rig.plan_path))
    monkeypatch.setenv("STANDIN_LOG", str(rig.log_path))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "scratch-root"))
    (tmp_path / "scratch-root").mkdir()
    rig.plan()
    return rig
