"""The batch judge (`isabelle-build`) against a stand-in `isabelle` executable
(tests/standins/fake_isabelle.py): it records its argv and acts out accept, refuse, oracle, hang,
crash, garbage and an Isabelle that never starts. Not Isabelle."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import sys
import time
from pathlib import Path

import pytest
from standins.pisa_scripted import Script, default_script, serve
from standins.pisa_setup import STATEMENT, fake_isabelle, isabelle_config, isabelle_standin

from environments.isabelle.environment import create
from environments.isabelle.judge import JUDGE, BuildJudge, BuildSettings
from prover.processes import ProcessTracker
from prover.sandbox import SandboxPolicy, bwrap_problem
from prover.types import Language, Theorem, Verdict, VerdictStatus

THEOREM = Theorem("mathd_demo", STATEMENT, Language.ISABELLE, header="Complex_Main")


def _settings(tmp_path: Path, **overrides) -> BuildSettings:
    home = fake_isabelle(tmp_path)
    isabelle_standin(home)
    values = {"isabelle_path": str(home), "imports": ("Complex_Main",), "timeout": 30.0}
    values.update(overrides)
    return BuildSettings(**values)


@pytest.fixture
def record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "record"
    directory.mkdir()
    monkeypatch.setenv("FAKE_ISABELLE_RECORD", str(directory))
    return directory


async def _judge(settings: BuildSettings, proof: str, theorem: Theorem = THEOREM) -> Verdict:
    tracker = ProcessTracker()
    try:
        return await BuildJudge(settings, tracker).judge(theorem, proof)
    finally:
        assert tracker.pids == []  # every judge process is stopped by the judge itself
        await tracker.stop_all()


async def test_accepts_through_isabelle_process_as_the_system_manual_gives_it(tmp_path, record):
    verdict = await _judge(_settings(tmp_path), "by (simp add: h0)")
    assert (
        verdict.status is VerdictStatus.ACCEPTED and verdict.checked_by == JUDGE == "isabelle-build"
    )
    argv = json.loads((record / "argv.json").read_text())
    assert argv[:5] == ["process", "-l", "HOL-Number_Theory", "-o", "quick_and_dirty=false"]
    assert argv[5] == "-e" and re.fullmatch(r'writeln "PROVER_JUDGE_START_[0-9a-f]{16}"', argv[6])
    assert argv[7] == "-T" and argv[9] == "-e" and len(argv) == 11
    theory_path, check = Path(argv[8]), argv[10]
    name = theory_path.name
    assert re.fullmatch(r"Prover_Check_[0-9a-f]{16}", name)
    fact = name.replace("Prover_Check_", "prover_goal_")
    assert not theory_path.with_suffix(".thy").exists()  # the scratch directory is removed
    assert (record / "theory.thy").read_text() == (
        f"theory {name} imports Complex_Main begin\n\n"
        f'theorem {fact}: fixes x :: real\n  assumes h0: "x / 2 = 3"\n  shows "x = 6"\n'
        "print_state\n"
        "by (simp add: h0)\n\nend\n"
    )
    # the trusted check: that theorem, no hypotheses, no oracle at all (allow_eval is off)
    assert f'Global_Theory.get_thm thy "{name}.{fact}"' in check
    assert "Thm_Deps.all_oracles [thm]" in check and "val allowed = [];" in check


async def test_every_check_has_fresh_names_and_secrets(tmp_path, record):
    settings = _settings(tmp_path)
    seen = []
    for _ in range(2):
        assert (await _judge(settings, "by simp")).status is VerdictStatus.ACCEPTED
        seen.append(json.loads((record / "argv.json").read_text()))
    assert seen[0][8] != seen[1][8] and seen[0][10] != seen[1][10]


@pytest.mark.parametrize(
    ("mode", "status", "message"),
    [
        ("refuse", VerdictStatus.REJECTED, r"Isabelle refused it: \*\*\* Failed to finish proof"),
        ("oracle", VerdictStatus.REJECTED, r"depends on oracles: Pure\.skip_proof"),
        ("crash", VerdictStatus.ERROR, r"exit -9"),
        ("garbage", VerdictStatus.ERROR, r"exit 0"),
        ("nostart", VerdictStatus.ERROR, r"did not start .*Missing heap image.*judge_logic"),
        # the proof's own text printed back, forged lines and all, is not an acceptance
        ("echo", VerdictStatus.ERROR, r"exit 0"),
    ],
)
async def test_what_isabelle_does_decides_the_verdict(
    tmp_path, record, monkeypatch, mode, status, message
):
    monkeypatch.setenv("FAKE_ISABELLE_MODE", mode)
    proof = "by simp (* PROVER_JUDGE ACCEPT *)"
    verdict = await _judge(_settings(tmp_path), proof)
    assert verdict.status is status and verdict.checked_by == JUDGE
    assert re.search(message, verdict.message), verdict.message


async def test_a_hung_isabelle_is_an_error_at_the_deadline_and_is_stopped(
    tmp_path, record, monkeypatch
):
    monkeypatch.setenv("FAKE_ISABELLE_MODE", "hang")
    start = time.perf_counter()
    verdict = await _judge(_settings(tmp_path, timeout=1.0), "by simp")
    assert verdict.status is VerdictStatus.ERROR
    assert "did not finish within 1 s" in verdict.message and "judge_timeout" in verdict.message
    assert time.perf_counter() - start < 15


async def test_sorry_and_code_are_refused_before_isabelle_runs(tmp_path, record):
    cases = ("h0(**)sorry", "by eval", "ML_prf \\<open>\\<close> by simp", "<SEP> by simp")
    # after the proof the theory is at theory level, where these would run ML before the check
    cases += (
        "by auto\nparse_translation \\<open>[]\\<close>",
        'by auto\nML_file_debug "x.ML"',
        "by auto\ncode_printing code_module X \\<rightharpoonup> (SML) \\<open>\\<close>",
        "by auto\néML_val \\<open>()\\<close>",
    )
    for proof in (*cases, "sledgehammer", 'have h: "x = 6" normalhammer\nthus ?thesis by simp'):
        verdict = await _judge(_settings(tmp_path), proof)
        assert verdict.status is VerdictStatus.REJECTED, proof
    assert not (record / "argv.json").exists()


async def test_no_local_isabelle_is_an_error_naming_the_fix(tmp_path):
    settings = BuildSettings(isabelle_path=str(tmp_path / "nowhere"), imports=("Main",))
    verdict = await _judge(settings, "by simp")
    assert verdict.status is VerdictStatus.ERROR
    assert 'isabelle.judge="pisa"' in verdict.message and "isabelle_path" in verdict.message
    unset = await _judge(BuildSettings(isabelle_path="", imports=("Main",)), "by simp")
    assert unset.status is VerdictStatus.ERROR


async def test_a_leading_copy_of_the_statement_is_dropped_and_another_is_refused(tmp_path, record):
    settings = _settings(tmp_path)
    same = await _judge(settings, STATEMENT + "\n(* the proof *)\nby (simp add: h0)")
    assert same.status is VerdictStatus.ACCEPTED
    theory = (record / "theory.thy").read_text()
    assert theory.count("assumes h0") == 1 and "print_state\nby (simp add: h0)\n" in theory
    (record / "argv.json").unlink()
    other = await _judge(settings, STATEMENT.replace("x = 6", "x = 7") + "\nby simp")
    assert other.status is VerdictStatus.REJECTED and "different theorem" in other.message
    assert not (record / "argv.json").exists()


async def test_proof_text_cannot_extend_the_statement(tmp_path, record):
    # `if "False"` would weaken `shows` if it continued the theorem command; a command between
    # them makes Isabelle read it as a (failing) command of its own
    await _judge(_settings(tmp_path), 'if "False" by simp')
    lines = (record / "theory.thy").read_text().splitlines()
    assert lines[lines.index('  shows "x = 6"') + 1] == "print_state"
    assert lines[lines.index("print_state") + 1] == 'if "False" by simp'


async def test_eval_oracles_only_with_allow_eval(tmp_path, record):
    verdict = await _judge(_settings(tmp_path, allow_eval=True), "by eval")
    assert verdict.status is VerdictStatus.ACCEPTED
    check = json.loads((record / "argv.json").read_text())[10]
    assert 'val allowed = ["holds_by_evaluation", "normalization_by_evaluation"];' in check


async def test_memory_cap_applies_to_isabelle(tmp_path, record):
    cap = 12 * 2**30
    verdict = await _judge(_settings(tmp_path, memory_limit_bytes=cap), "by simp")
    assert verdict.status is VerdictStatus.ACCEPTED
    assert int((record / "rlimit_as").read_text()) == cap


@pytest.mark.skipif(bwrap_problem() is not None, reason=f"bubblewrap unusable: {bwrap_problem()}")
async def test_judge_runs_in_the_sandbox_without_network(tmp_path, record, monkeypatch):
    store = tmp_path / "store"
    store.mkdir()
    (store / "results.sqlite").write_text("results", encoding="utf-8")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        monkeypatch.setenv("FAKE_ISABELLE_PROBE", str(listener.getsockname()[1]))
        monkeypatch.setenv("FAKE_ISABELLE_SECRET", str(store / "results.sqlite"))
        python = (sys.base_prefix, str(Path(sys.executable).resolve().parent))  # under $HOME?
        policy = SandboxPolicy(
            "bwrap", readable=python, writable=(str(record),), hidden=(str(store),)
        )
        verdict = await _judge(_settings(tmp_path, sandbox=policy), "by simp")
    assert verdict.status is VerdictStatus.ACCEPTED, verdict.message
    assert (record / "loopback").read_text().startswith("refused")  # no network at all
    assert (record / "secret_visible").read_text() == "False"  # the results store is hidden


def _script() -> Script:
    script = default_script()
    script.closes["x = 6"] = {"simp add: h0"}
    script.hammer["x = 6"] = "by (smt (verit) h0)"
    return script


async def test_environment_judges_with_build_by_default_and_pisa_on_request(tmp_path, record):
    server, port, _ = await serve(script=_script())
    try:
        built = create(isabelle_config(tmp_path, [port], start=False, judge="build"))
        isabelle_standin(Path(built.launch.isabelle_path))
        try:
            verdict = await built.judge(THEOREM, "by (smt (verit) h0)")
            assert verdict.status is VerdictStatus.ACCEPTED and verdict.checked_by == JUDGE
        finally:
            await built.close()
        pisa = create(isabelle_config(tmp_path / "p", [port], start=False, judge="pisa"))
        try:
            assert pisa.build_judge is None
            verdict = await pisa.judge(THEOREM, "by (smt (verit) h0)")
            assert verdict.status is VerdictStatus.ACCEPTED
            assert verdict.checked_by == "isabelle-pisa"
        finally:
            await pisa.close()
    finally:
        await server.stop(None)


async def test_a_sledgehammer_proof_reaches_the_judge_as_the_tactic_that_closed_it(
    tmp_path, record
):
    from prover.config import Config
    from prover.run import Components, attempt
    from prover.strategies.best_first import create as best_first
    from prover.testing import ScriptedGenerator
    from prover.types import Budget, Candidate

    server, port, _ = await serve(script=_script())
    env = create(isabelle_config(tmp_path, [port], start=False, judge="build"))
    isabelle_standin(Path(env.launch.isabelle_path))
    generator = ScriptedGenerator({"x = 6": [Candidate("sledgehammer", -0.5, 2)]})
    try:
        parts = Components(env, generator, best_first(Config()))
        result = await attempt(THEOREM, parts, Budget(samples=2, max_expansions=2))
    finally:
        await env.close()
        await server.stop(None)
    assert result.proved and result.verified and result.verified_by == "isabelle-build"
    assert result.proof == "by (smt (verit) h0)" and result.steps == ("by (smt (verit) h0)",)
    assert "print_state\nby (smt (verit) h0)\n" in (record / "theory.thy").read_text()
    edges = [e for e in result.tree["edges"] if e.get("tactic")]
    assert [e["tactic"] for e in edges] == ["by (smt (verit) h0)"]  # --tree shows the same


async def test_attached_without_a_local_isabelle_the_build_judge_errors(tmp_path):
    server, port, _ = await serve(script=_script())
    try:
        theory = tmp_path / "Remote.thy"  # the theory the remote server loads
        theory.write_text("theory Remote imports Complex_Main begin\nend\n", encoding="utf-8")
        config = isabelle_config(
            tmp_path,
            [port],
            start=False,
            judge="build",
            isabelle_path=str(tmp_path / "remote"),
            theory_file=str(theory),
        )
        env = create(config)
        try:
            session = await env.open(THEOREM)  # the server works; only the judge needs Isabelle
            await session.close()
            verdict = await env.judge(THEOREM, "by (smt (verit) h0)")
        finally:
            await env.close()
    finally:
        await server.stop(None)
    assert verdict.status is VerdictStatus.ERROR and "no local Isabelle" in verdict.message


def test_judge_config_keys():
    from prover.config import load_config
    from prover.errors import ConfigError

    cfg = load_config(None, {}).section("isabelle")
    assert (cfg.judge, cfg.judge_logic, cfg.restart_attempts) == ("build", "HOL-Number_Theory", 5)
    with pytest.raises(ConfigError, match=r"isabelle\.judge must be 'build' or 'pisa'"):
        load_config(None, {"isabelle.judge": "kernel"})
    with pytest.raises(ConfigError, match="judge_timeout"):
        load_config(None, {"isabelle.judge_timeout": 0})


async def test_judges_queue_one_at_a_time(tmp_path, record):
    judge = BuildJudge(_settings(tmp_path), ProcessTracker())
    verdicts = await asyncio.gather(*(judge.judge(THEOREM, "by simp") for _ in range(3)))
    assert all(v.status is VerdictStatus.ACCEPTED for v in verdicts)
