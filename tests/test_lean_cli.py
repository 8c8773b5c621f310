"""`prover check`, `prover setup lean` and the Lean doctor checks, on stand-ins (not Lean).

`prover check` runs against tests/standins/lean_repl.py (with `lean.judge=repl`) and against the
kernel judge's stand-in tools (tests/standins/lean_tools.py); `prover setup` against a fake `lake`
script that prints its arguments (so the steps, their order, streaming and failures are real).
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from pathlib import Path

import pytest
from standins.lean_judge_rig import make_rig

from environments.lean.doctor import TRIVIAL_COMMAND, checks
from environments.lean.settings import LeanConfig
from environments.lean.toolchain import checker_binary, export_binary, mathlib_olean, repl_binary
from prover.cli import main

STANDIN = Path(__file__).parent / "standins" / "lean_repl.py"
HONEST = """import Lean

/-- From the REPL's test suite: `proof_branching`. -/
theorem complex_and (p q r : Prop) (h1 : p ∧ q) (h2 : q → r) : p ∧ r := by
  apply And.intro
  exact h1.left
  apply h2
  exact h1.right
"""


def _settings(repl_transcripts: Path) -> list[str]:
    library = repl_transcripts
    argv = json.dumps([sys.executable, str(STANDIN), "--library", str(library)])
    return [
        "--set",
        f"lean.repl_command={argv}",
        "--set",
        f"lean.project={json.dumps(str(library))}",
        "--set",
        "lean.judge=repl",
    ]


def test_check_accepts_an_honest_file(
    repl_transcripts: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "Honest.lean"
    path.write_text(HONEST)
    assert main(["check", str(path), *_settings(repl_transcripts)]) == 0
    assert "complex_and: accepted by lean-repl (axioms: propext)" in capsys.readouterr().out
    assert (
        main(
            ["check", str(path), "--theorem", "complex_and", "--json", *_settings(repl_transcripts)]
        )
        == 0
    )
    record = json.loads(capsys.readouterr().out)
    assert record["status"] == "accepted" and record["verified_by"] == "lean-repl"


@pytest.mark.parametrize(
    ("proof", "expected"),
    [
        ("  sorry", "rejected by rule 'sorry'"),
        ("  apply And.intro\n  exact h1.right", "Lean error"),
        ("  exact?", "rejected by rule 'search-tactic'"),
    ],
)
def test_check_rejects_a_bad_file(
    repl_transcripts: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    proof: str,
    expected: str,
) -> None:
    path = tmp_path / "Bad.lean"
    path.write_text(HONEST.split(":= by")[0] + ":= by\n" + proof + "\n")
    assert main(["check", str(path), *_settings(repl_transcripts)]) == 1
    assert expected in capsys.readouterr().out


def test_check_input_errors(
    repl_transcripts: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "Honest.lean"
    path.write_text(HONEST)
    assert main(["check", str(path), "--theorem", "nope", *_settings(repl_transcripts)]) == 2
    assert "no theorem 'nope'" in capsys.readouterr().err
    assert main(["check", str(tmp_path / "missing.lean")]) == 2
    assert "missing.lean' not found" in capsys.readouterr().err
    assert main(["check", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"'{tmp_path}' is a directory" in err and len(err.strip().splitlines()) == 1
    latin1 = tmp_path / "Latin1.lean"
    latin1.write_bytes("theorem café : True := by\n  trivial\n".encode("latin-1"))
    assert main(["check", str(latin1)]) == 2
    err = capsys.readouterr().err
    assert "Latin1.lean' is not UTF-8" in err and len(err.strip().splitlines()) == 1


KERNEL_FILE = "import Mathlib\n\ntheorem T : D ↔ D := by\n  exact Iff.rfl\n"


@pytest.mark.parametrize(
    ("plan", "code", "status"),
    [
        ({}, 0, "accepted"),
        ({"exports": {"solution": "sorry"}}, 1, "rejected"),
        ({"checker_Solution": "fail"}, 1, "rejected"),
        ({"export_Challenge": "garbage"}, 3, "error"),
        ({"checker_Solution": "hang"}, 3, "error"),
    ],
)
def test_check_exit_codes_with_the_kernel_judge(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    plan: dict,
    code: int,
    status: str,
) -> None:
    rig = make_rig(tmp_path, monkeypatch)
    rig.plan(**plan)
    path = tmp_path / "Kernel.lean"
    path.write_text(KERNEL_FILE)
    argv = ["check", str(path), "--json", "--set", f"lean.project={json.dumps(str(rig.project))}"]
    argv += ["--set", "sandbox=none", "--set", "lean.judge_timeout=2"]
    assert main(argv) == code
    record = json.loads(capsys.readouterr().out)
    assert record["status"] == status and record["verified_by"] == "lean-kernel"


def test_check_without_the_judges_tools_exits_3_naming_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rig = make_rig(tmp_path, monkeypatch)
    checker_binary(rig.project).unlink()
    path = tmp_path / "Kernel.lean"
    path.write_text(KERNEL_FILE)
    argv = ["check", str(path), "--set", f"lean.project={json.dumps(str(rig.project))}"]
    assert main([*argv, "--set", "sandbox=none"]) == 3
    out = capsys.readouterr().out
    assert "T: error by lean-kernel" in out and "prover setup lean" in out
    assert "lean.judge=repl" in out


def _fake_tool(directory: Path, name: str, script: str) -> None:
    path = directory / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def fake_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH with only the fakes and the system's shell tools; no real elan anywhere."""
    directory = tmp_path / "bin"
    directory.mkdir()
    monkeypatch.setenv("PATH", f"{directory}{os.pathsep}/usr/bin{os.pathsep}/bin")
    monkeypatch.setenv("ELAN_HOME", str(tmp_path / "no-elan"))
    return directory


def test_setup_runs_the_steps_in_order(fake_bin: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fake_tool(fake_bin, "lake", 'echo "fake lake $*"; echo "to stderr" >&2\n')
    assert main(["setup", "lean"]) == 0
    out = capsys.readouterr().out
    steps = ("exe cache get", "build\n", "build repl", "build lean4export lean4checker")
    order = [out.index(f"fake lake {s}") for s in steps]
    assert order == sorted(order)
    assert "to stderr" in out  # the tool's own output is shown as it comes
    assert "[4/5] build the REPL" in out and "[5/5] build the kernel judge's tools" in out


def test_setup_reports_a_failing_step(fake_bin: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fake_tool(fake_bin, "lake", '[ "$1" = build ] && exit 3\necho ok\n')
    assert main(["setup", "lean"]) == 1
    err = capsys.readouterr().err
    assert "`" in err and "lake build` failed with exit code 3" in err


def test_setup_stops_a_step_at_its_timeout(
    fake_bin: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pid_file = tmp_path / "pid"
    _fake_tool(fake_bin, "lake", f"echo $$ > {pid_file}\nexec sleep 60\n")
    start = time.monotonic()
    assert main(["setup", "lean", "--timeout", "0.5"]) == 1
    assert time.monotonic() - start < 10
    assert "took longer than 0.5 s" in capsys.readouterr().err
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)  # the step was stopped, not left behind


def test_setup_dry_run_and_bad_project(
    fake_bin: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["setup", "lean", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would install elan" in out and "lake exe cache get" in out
    assert main(["setup", "lean", "--project", str(tmp_path)]) == 2
    assert "no lakefile" in capsys.readouterr().err


def test_doctor_names_the_fix_when_nothing_is_installed(fake_bin: Path, tmp_path: Path) -> None:
    (tmp_path / "lakefile.toml").write_text("")
    found = checks(LeanConfig(project=str(tmp_path)))
    assert [c.name for c in found] == ["lean toolchain", "lake-project", "lean REPL", "lean judge"]
    assert not any(c.ok for c in found)
    assert all("prover setup lean" in c.fix for c in found)
    assert found[3].detail.startswith("kernel") and "lean.judge=repl" in found[3].fix
    repl_judge = checks(LeanConfig(project=str(tmp_path), judge="repl"))[3]
    assert repl_judge.ok and repl_judge.detail.startswith("repl")


def test_doctor_passes_with_a_toolchain_a_build_and_a_repl(fake_bin: Path, tmp_path: Path) -> None:
    _fake_tool(fake_bin, "lake", "exit 0\n")
    _fake_tool(fake_bin, "lean", "exit 0\n")
    _fake_tool(fake_bin, "elan", 'echo "leanprover/lean4:v4.24.0 (default)"\n')
    project = tmp_path / "project"
    built = (mathlib_olean(project), repl_binary(project), export_binary(project))
    for path in (project / "lakefile.toml", *built, checker_binary(project)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    # The doctor's command is not in the REPL's suite: a one-line record of what the REPL answers
    # to an error-free command without `env` (compare def_eval.in / import_lean.in).
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "doctor.in").write_text(json.dumps({"cmd": TRIVIAL_COMMAND}) + "\n")
    (extra / "doctor.expected.out").write_text('{"env": 0}\n')
    argv = (sys.executable, str(STANDIN), "--library", str(extra))
    config = LeanConfig(project=str(project), repl_command=argv)
    found = checks(config)
    assert all(c.ok for c in found), found
    assert "answers" in found[2].detail
    assert found[3].detail.startswith("kernel (verified_by lean-kernel)")


def test_check_rejects_a_screened_proof_before_any_lean_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No toolchain is configured at all: a refused proof never needs one."""
    path = tmp_path / "Cheat.lean"
    path.write_text("theorem cheat : 1 = 2 := by\n  native_decide\n")
    missing = ["--set", f"lean.project={tmp_path / 'nowhere'}"]
    assert main(["check", str(path), "--json", *missing]) == 1
    record = json.loads(capsys.readouterr().out)
    assert record["status"] == "rejected" and record["verified_by"] == "lean-screen"
    honest = tmp_path / "Honest.lean"
    honest.write_text("theorem fine : 1 = 1 := by\n  rfl\n")
    assert main(["check", str(honest), *missing]) == 2  # judging it needs the (missing) project
    assert "nowhere" in capsys.readouterr().err
