"""The kernel judge's orchestration (environments/lean/judge.py) on stand-in executables.

`lake`, `lean`, `lean4export` and `lean4checker` are tests/standins/lean_tools.py (not Lean): they
record their argv, and succeed, fail, hang, crash or print garbage as each test's plan says. The
exports they print are built by hand (tests/standins/lean_export_builder.py). Whatever a step
does, a judgement ends ACCEPTED only when every step passed.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from standins.lean_judge_rig import NONE, Rig, make_rig

from environments.lean.doctor import TRIVIAL_COMMAND
from environments.lean.dojo.recheck import load_checker
from environments.lean.judge import KernelJudge, judge_tools
from environments.lean.repl import create as create_lean_repl
from environments.lean.settings import LeanConfig
from environments.lean.toolchain import (
    checker_binary,
    export_binary,
    repl_binary,
    worker_settings,
)
from prover.cli import main
from prover.config import Config
from prover.errors import ConfigError
from prover.processes import identify, is_running
from prover.sandbox import SandboxPolicy, bwrap_problem
from prover.types import Theorem, VerdictStatus

REPL_STANDIN = Path(__file__).parent / "standins" / "lean_repl.py"
HEADER = "import Mathlib\nopen Real"
THEOREM = Theorem("T", "theorem T : D ↔ D := by sorry", header=HEADER)
PROOF = "exact Iff.rfl"


@pytest.fixture
def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Rig:
    return make_rig(tmp_path, monkeypatch)


async def _judge(rig: Rig, judge: KernelJudge | None = None, proof: str = PROOF) -> Any:
    judge = judge or KernelJudge(rig.config(judge_timeout=30.0), NONE)
    try:
        return await judge.judge(THEOREM, proof)
    finally:
        await judge.close()


async def test_an_honest_proof_is_accepted_after_every_step(rig: Rig) -> None:
    verdict = await _judge(rig)
    assert verdict.status is VerdictStatus.ACCEPTED, verdict
    assert verdict.checked_by == "lean-kernel" and verdict.message == "axioms: propext"
    calls = rig.calls()
    steps = [(c["tool"], c["argv"][-1] if c["tool"] == "lean" else c["argv"][:1]) for c in calls]
    lean_steps = [c for c in calls if c["tool"] != "lake"]
    assert [c["tool"] for c in lean_steps] == [
        "lean", "lean4export", "lean", "lean4export", "lean4checker",
    ], steps  # fmt: skip
    challenge_compile, challenge_export, solution_compile, solution_export, replay = lean_steps
    # Every step runs through `lake env` in the project, as the tools' READMEs say.
    assert all(c["cwd"] == str(rig.project) for c in calls)
    assert [c["argv"][:2] for c in calls if c["tool"] == "lake"] == [
        ["env", "lean"], ["env", str(export_binary(rig.project))],
        ["env", "lean"], ["env", str(export_binary(rig.project))],
        ["env", str(checker_binary(rig.project))],
    ]  # fmt: skip
    directory = Path(solution_compile["argv"][-1]).parent
    assert solution_compile["argv"] == [
        f"--root={directory}", "-o", str(directory / "Solution.olean"),
        str(directory / "Solution.lean"),
    ]  # fmt: skip
    assert solution_compile["source"] == f"{HEADER}\n\ntheorem T : D ↔ D := by\n  {PROOF}\n"
    assert challenge_compile["source"] == f"{HEADER}\n\ntheorem T : D ↔ D := by sorry\n"
    assert challenge_export["argv"] == [
        "Challenge", "--", "T", "Classical.choice", "Quot.sound", "propext",
    ]  # fmt: skip
    assert solution_export["argv"] == ["Solution", "--", "T"]
    assert replay["argv"] == ["Solution"]
    isolated = str(directory.parent / "solution-olean")  # the Solution's .olean alone
    assert solution_export["lean_path"] == replay["lean_path"] == isolated
    assert solution_export["lean_path_files"] == replay["lean_path_files"] == [["Solution.olean"]]
    assert challenge_export["lean_path"] == str(directory.parent / "challenge-olean")
    assert not directory.exists()  # the scratch directory is removed after the judgement


@pytest.mark.parametrize(
    ("step", "mode", "status", "message"),
    [
        ("lean_Challenge", "fail", "error", "the trusted statement (Challenge.lean) failed"),
        ("lean_Challenge", "crash", "error", "the trusted statement (Challenge.lean) failed"),
        ("lean_Challenge", "hang", "error", "did not finish"),
        ("export_Challenge", "fail", "error", "lean4export on the Challenge failed"),
        ("export_Challenge", "garbage", "error", "the Challenge export is unreadable"),
        ("export_Challenge", "hang", "error", "did not finish"),
        ("lean_Solution", "fail", "rejected", "Lean error: "),
        ("lean_Solution", "crash", "rejected", "Lean error: "),
        ("lean_Solution", "hang", "error", "compiling the proof (Solution.lean) did not finish"),
        ("export_Solution", "fail", "rejected", "lean4export on the Solution failed"),
        ("export_Solution", "garbage", "rejected", "the Solution export is unreadable"),
        ("export_Solution", "hang", "error", "did not finish"),
        ("checker_Solution", "fail", "rejected", "the kernel refused the replay"),
        ("checker_Solution", "crash", "rejected", "the kernel refused the replay"),
        ("checker_Solution", "hang", "error", "lean4checker on the Solution did not finish"),
    ],
)
async def test_every_failing_step_ends_in_error_or_rejection(
    rig: Rig, step: str, mode: str, status: str, message: str
) -> None:
    rig.plan(**{step: mode})
    judge = KernelJudge(rig.config(judge_timeout=2.0), NONE)
    start = time.monotonic()
    verdict = await _judge(rig, judge)
    assert verdict.status.value == status, verdict
    assert message in verdict.message
    assert time.monotonic() - start < 30
    for call in rig.calls():  # nothing a step started is left running
        assert not is_running_pid(call["pid"])


def is_running_pid(pid: int) -> bool:
    found = identify(pid)
    return found is not None and is_running(found)


@pytest.mark.parametrize(
    ("attack", "message"),
    [
        ("changed", "differs from the trusted statement"),
        ("axiom", "not allowed: cheat"),
        ("sorry", "sorry"),
        ("native", "not allowed: Lean.ofReduceBool"),
        ("missing", "does not declare T"),
        ("def", "not a theorem"),
    ],
)
async def test_an_export_per_attack_class_is_rejected(rig: Rig, attack: str, message: str) -> None:
    rig.plan(exports={"solution": attack})
    verdict = await _judge(rig)
    assert verdict.status is VerdictStatus.REJECTED and message in verdict.message
    assert "lean4checker" not in [c["tool"] for c in rig.calls()]  # rejected before the replay


async def test_files_the_proofs_compile_wrote_are_not_on_the_exports_path(rig: Rig) -> None:
    rig.plan(lean_Solution="plant-module")
    verdict = await _judge(rig)
    assert verdict.status is VerdictStatus.ACCEPTED  # honest exports: the module is just unseen
    for call in rig.calls():
        if call["tool"] in ("lean4export", "lean4checker"):
            assert "Evil.olean" not in json.dumps(call["lean_path_files"])
    rig.log_path.unlink()
    rig.plan(lean_Solution="plant")
    verdict = await _judge(rig)
    assert verdict.status is VerdictStatus.REJECTED
    assert verdict.message == "compiling the proof wrote no regular Solution.olean"
    assert "lean4export" not in [c["tool"] for c in rig.calls() if "Solution" in c["argv"]]


async def test_missing_tools_are_an_error_naming_the_fix(rig: Rig) -> None:
    checker_binary(rig.project).unlink()
    verdict = await _judge(rig)
    assert verdict.status is VerdictStatus.ERROR
    assert "lean4checker" in verdict.message and "prover setup lean" in verdict.message
    assert "lean.judge=repl" in verdict.message
    assert rig.calls() == []
    with pytest.raises(Exception, match="lean4checker"):
        judge_tools(rig.config())


async def test_the_screen_still_refuses_first(rig: Rig) -> None:
    verdict = await _judge(rig, proof="sorry")
    assert verdict.status is VerdictStatus.REJECTED
    assert rig.calls() == []


async def test_an_unreadable_statement_is_an_error(rig: Rig) -> None:
    judge = KernelJudge(rig.config(), NONE)
    verdict = await judge.judge(Theorem("T", "theorem T : True"), PROOF)
    assert verdict.status is VerdictStatus.ERROR and "trusted statement" in verdict.message


@pytest.mark.skipif(bwrap_problem() is not None, reason=f"needs bubblewrap: {bwrap_problem()}")
async def test_in_the_sandbox_the_proof_writes_only_its_own_directory(rig: Rig) -> None:
    outside = rig.root / "outside"
    outside.mkdir()
    target = outside / "forged"
    rig.plan(lean_Solution="escape")
    plan = json.loads(rig.plan_path.read_text())
    plan["escape_to"] = [str(target), str(rig.project / "forged"), "/etc/forged"]
    rig.plan_path.write_text(json.dumps(plan))
    policy = SandboxPolicy(
        "bwrap",
        readable=(
            str(rig.root / "plan"),
            str(outside),
            sys.base_prefix,  # the stand-ins' Python (here under the hidden $HOME)
        ),
        writable=(str(rig.root / "log"),),
    )
    verdict = await _judge(rig, KernelJudge(rig.config(judge_timeout=60.0), policy))
    assert verdict.status is VerdictStatus.ACCEPTED, verdict
    (escape,) = [c for c in rig.calls() if c["tool"] == "lean-escape"]
    assert escape["wrote"] == []
    assert not target.exists() and not (rig.project / "forged").exists()


async def test_lean_repl_and_lean_dojo_judge_through_the_kernel_judge(rig: Rig) -> None:
    config = Config(plugins={"lean": rig.config()}, sandbox="none")
    environment = create_lean_repl(config)
    try:
        assert environment.judge_name == "lean-kernel"
        verdict = await environment.judge(THEOREM, PROOF)
    finally:
        await environment.close()
    assert verdict.status is VerdictStatus.ACCEPTED and verdict.checked_by == "lean-kernel"
    repl_judged = create_lean_repl(
        Config(plugins={"lean": rig.config(judge="repl")}, sandbox="none")
    )
    assert repl_judged.judge_name == "lean-repl"
    await repl_judged.close()

    usable = Config(plugins={"lean": rig.config(repl_command=(sys.executable,))}, sandbox="none")
    judge, reason = load_checker(usable)  # LeanDojo's re-check
    assert isinstance(judge, KernelJudge) and reason == ""
    verdict = await judge.check(THEOREM, PROOF)
    await judge.close()
    assert verdict.status is VerdictStatus.ACCEPTED and verdict.checked_by == "lean-kernel"


@pytest.mark.skipif(bwrap_problem() is not None, reason=f"needs bubblewrap: {bwrap_problem()}")
async def test_repl_processes_run_in_the_sandbox(tmp_path: Path) -> None:
    """The REPL pool's processes start under bwrap, reading lake-project (the stand-in REPL)."""
    library = tmp_path / "library"
    library.mkdir()
    (library / "doctor.in").write_text(json.dumps({"cmd": TRIVIAL_COMMAND}) + "\n")
    (library / "doctor.expected.out").write_text('{"env": 0}\n')
    argv = (sys.executable, str(REPL_STANDIN), "--library", str(library))
    lean = LeanConfig(project=str(library), repl_command=argv, pool_size=1, memory_limit_gb=0)
    environment = create_lean_repl(Config(plugins={"lean": lean}, sandbox="bwrap"))
    try:
        settings = environment.pool.settings
        assert settings.sandbox is not None and settings.sandbox.kind == "bwrap"
        assert str(library) in settings.sandbox.readable
        async with environment.pool.leased("") as worker, worker.operation():
            reply = await worker.command(TRIVIAL_COMMAND, timeout=60.0)
            (pid,) = environment.pids
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert reply == {"env": 0}
        assert Path(command[0].decode()).name == "bwrap" and b"--unshare-net" in command
    finally:
        await environment.close()
    assert environment.pids == []


def test_bwrap_asked_for_but_unusable_is_a_one_line_error(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("prover.sandbox.bwrap_problem", lambda: "bwrap fails here (stand-in)")
    with pytest.raises(ConfigError, match='sandbox = "none"'):
        create_lean_repl(Config(plugins={"lean": rig.config()}, sandbox="bwrap"))
    path = rig.root / "Kernel.lean"
    path.write_text("import Mathlib\n\ntheorem T : D ↔ D := by\n  exact Iff.rfl\n")
    project = json.dumps(str(rig.project))
    assert main(["check", str(path), "--set", f"lean.project={project}"]) == 2
    err = capsys.readouterr().err
    assert "bwrap fails here" in err and len(err.strip().splitlines()) == 1


def test_sandboxed_repl_runs_the_built_binary_through_lake_env(rig: Rig) -> None:
    config = rig.config()  # repl_command = lake exe repl
    sandboxed = worker_settings(config, SandboxPolicy("bwrap"))
    assert sandboxed.argv[1:] == ("env", str(repl_binary(rig.project)))
    assert Path(sandboxed.argv[0]).name == "lake"
    assert worker_settings(config).argv[1:] == ("exe", "repl")  # unsandboxed: as configured
    assert worker_settings(config, NONE).argv[1:] == ("exe", "repl")
