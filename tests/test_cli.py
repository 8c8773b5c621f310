"""The command line: the replay demo on real Llemma data, exit codes, and one-line errors."""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from environments.llemma import llemma_records
from environments.replay import ReplayEnvironment
from prover.cli import main
from prover.types import Finished, NewState, Theorem

THEOREM = "mathd_algebra_478"


@pytest.fixture(scope="module")
def llemma_trace(package_data: Path, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("llemma")
    trace, script = out / "trace.jsonl", out / "script.json"
    code = main(
        [
            "trace",
            "llemma",
            str(package_data / "llemma_formal2formal"),
            "--out",
            str(trace),
            "--script",
            str(script),
            "--decoys",
            "7",
        ]
    )
    assert code == 0
    return {"trace": trace, "script": script}


def _statement(package_data: Path, name: str) -> str:
    for line in (package_data / "minif2f" / "lean4_v4.24.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["name"] == name:
            return row["formal_statement"]
    raise AssertionError(name)


def test_llemma_trace_holds_real_lean_states(llemma_trace):
    records = [json.loads(x) for x in llemma_trace["trace"].read_text().splitlines()]
    opens = {r["theorem"]: r for r in records if r["type"] == "open"}
    assert THEOREM in opens
    assert "⊢ v = 65" in opens[THEOREM]["goals"][0]
    finished = [r for r in records if r["type"] == "tactic" and r["result"]["kind"] == "finished"]
    assert len(finished) >= 50  # Llemma and Code Llama proved dozens of theorems


def test_prove_replay_finds_recorded_proof_among_decoys(llemma_trace, package_data, capsys):
    script = json.loads(llemma_trace["script"].read_text())
    statement = _statement(package_data, THEOREM)
    code = main(
        [
            "prove",
            statement,
            "--env",
            "replay",
            "--trace",
            str(llemma_trace["trace"]),
            "--model",
            f"scripted:{llemma_trace['script']}",
            "--json",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["theorem"] == THEOREM
    assert out["status"] == "proved"
    assert out["verified"] is False and out["verified_by"] == "replay"
    assert set(out) >= {"theorem", "status", "proof", "verified", "verified_by", "stats", "error"}
    # Every expansion offered the recorded tactics among >= 7 wrong ones, all tried first.
    recorded = {
        (r["goals"], r["tactic"])
        for r in llemma_records([package_data / "llemma_formal2formal"])
        if r["type"] == "tactic"
    }
    states = {g: rows for g, rows in script["states"].items() if "h₃ : h = 13 / 2" in g}
    assert states
    for goals, rows in states.items():
        wrong = [r for r in rows if (goals, r["text"]) not in recorded]
        right = [r for r in rows if (goals, r["text"]) in recorded]
        assert len(wrong) >= 7 and right
        # decoys score higher, so the search must try and record every one of them first
        assert min(r["logprob"] for r in wrong) > max(r["logprob"] for r in right)
    assert asyncio.run(_replays_to_finished(llemma_trace["trace"], out["steps"]))
    stats = out["stats"]
    assert stats["failures"]["error"] >= 7 * stats["expansions"]
    assert stats["tactics_run"] >= 8
    assert out["proof"] == "\n".join(out["steps"])


async def _replays_to_finished(trace: Path, steps: list[str]) -> bool:
    """Independently re-run the found steps on the trace: the last must finish the proof."""
    env = ReplayEnvironment.from_file(trace)
    session = await env.open(Theorem(THEOREM, ""))
    state = session.initial_state
    for i, step in enumerate(steps):
        result = await session.run_tactic(state, step)
        if isinstance(result, Finished):
            return i == len(steps) - 1
        if not isinstance(result, NewState):
            return False
        state = result.state
    return False


def test_replay_refuses_an_edited_statement(llemma_trace, package_data, capsys):
    edited = _statement(package_data, THEOREM).replace("v = 65", "v = 66")
    argv = ["prove", edited, "--env", "replay", "--trace", str(llemma_trace["trace"])]
    assert main([*argv, "--model", f"scripted:{llemma_trace['script']}"]) == 2
    assert "differs from the one recorded" in capsys.readouterr().err


def test_prove_human_output_and_not_proved_exit_code(llemma_trace, package_data, capsys):
    code = main(
        [
            "prove",
            _statement(package_data, THEOREM),
            "--env",
            "replay",
            "--trace",
            str(llemma_trace["trace"]),
            "--model",
            f"scripted:{llemma_trace['script']}",
            "--expansions",
            "1",
            "--samples",
            "2",
        ]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "mathd_algebra_478: failed" in out
    assert "stop: exhausted" in out and "2 tactics" in out


BAD_INPUTS = [
    (["prove", "theorem t : True := by", "--env", "repaly"], "unknown environment 'repaly'"),
    (["prove", "theorem t : True := by", "--env", "replay", "--model", "vlm:x"], "did you mean"),
    (["prove", "theorem t : True := by", "--strategy", "best_first"], "did you mean 'best-first'"),
    (["prove", "   "], "statement is empty"),
    (["prove", "--file", "/nonexistent/x.lean", "--theorem", "t"], "does not exist"),
    (["prove", "theorem t : True := by", "--config", "/nonexistent.toml"], "not found"),
    (["prove", "theorem t : True := by", "--set", "search.sample=3"], "unknown config key"),
    (["prove", "theorem t : True := by", "--set", "search.samples=many"], "expects int"),
    (["prove", "theorem t : True := by", "--samples", "0"], "--samples: must be between 1"),
    (["prove"], "exactly one theorem source"),
    (["prove", "x", "--bogus-flag"], "unrecognized arguments"),
    (["prove", "theorem t : True := by", "--set", "samples=3"], "did you mean 'search.samples'"),
    (["prove", "theorem t : True := by", "--tree", "/nonexistent/t.json"], "does not exist"),
]


@pytest.mark.parametrize(("argv", "fragment"), BAD_INPUTS)
def test_bad_input_is_exit_2_with_one_line(argv, fragment, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2
    assert fragment in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_malformed_and_unknown_config_file(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[search\nsamples = 3\n")
    assert main(["prove", "theorem t : True := by", "--config", str(bad)]) == 2
    assert "not valid TOML" in capsys.readouterr().err
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('environment = "replay"\n[lean]\ntactic_timout = 3\n')
    assert main(["prove", "theorem t : True := by", "--config", str(unknown)]) == 2
    err = capsys.readouterr().err
    assert "unknown config key 'lean.tactic_timout'" in err
    assert "did you mean 'lean.tactic_timeout'" in err


def test_missing_theorem_in_file_lists_found(tmp_path, capsys):
    f = tmp_path / "x.lean"
    f.write_text("import Mathlib\n\ntheorem a : True := by\n  trivial\n")
    assert main(["prove", "--file", str(f), "--theorem", "b", "--env", "replay"]) == 2
    assert "found: a" in capsys.readouterr().err


def test_console_script_reports_one_line_not_traceback():
    exe = Path(sys.executable).with_name("prover")
    proc = subprocess.run(
        [str(exe), "prove", "theorem t : True := by", "--env", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("prover: error: unknown environment 'nope'")
    assert "Traceback" not in proc.stderr


def test_list_and_doctor(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "best-first" in out and "replay" in out
    assert "test doubles" in out and "generator 'scripted'" in out
    generators = out.split("generators:")[1].split("strategies:")[0]
    assert "scripted" not in generators
    main(["doctor", "--json"])
    checks = json.loads(capsys.readouterr().out)
    names = {c["name"] for c in checks}
    assert {"python", "networkx", "extra [hf]"} <= names


# The bad-input sweep, one case each: exit 2, one line naming the problem, before any work.
def _replay(llemma_trace: dict[str, Path]) -> list[str]:
    return ["--env", "replay", "--trace", str(llemma_trace["trace"])]


STATEMENT_CASES = [
    ("theorem t (x : ℕ) : (x + 1 = 2 := by", [], "'(' is never closed"),
    ("theorem t (x : ℕ) : x + 1) = 2 := by", [], "')' where nothing was expected"),
    ("theorem t : True := by\x00", [], "control character 0x00"),
    ('theorem t: "x + 0 = (x::nat)"', [], "this statement is Isabelle"),
    ("theorem t : 1 + 1 = 2 := by", ["--language", "isabelle"], "this statement is Lean 4"),
    ('theorem t: "x = (1::nat"', ["--language", "isabelle"], "'(' is never closed"),
    ('theorem t: "x = 1', ["--language", "isabelle"], "unmatched double quote"),
    ("theorem t : 1 = 1 := by /- open comment", [], "unterminated comment"),
]


@pytest.mark.parametrize(("statement", "extra", "fragment"), STATEMENT_CASES)
def test_statements_are_parsed_for_the_language_before_the_environment_starts(
    statement, extra, fragment, llemma_trace, capsys
):
    # The replay trace and model exist, so only the statement can be refused here.
    argv = ["prove", statement, *extra, *_replay(llemma_trace)]
    assert main([*argv, "--model", f"scripted:{llemma_trace['script']}"]) == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1, err


def test_a_theorem_in_another_language_than_the_environment_is_refused(capsys):
    argv = ["prove", 'theorem t: "x = (1::nat)"', "--language", "isabelle", "--env", "lean-repl"]
    assert main(argv) == 2
    assert "--env lean-repl proves lean4" in capsys.readouterr().err


def test_every_shipped_statement_passes_the_check(package_data):
    from prover.statements import check_statement
    from prover.types import Language

    files = {"lean4_v4.24.jsonl": Language.LEAN4, "lean4_deepseek_v4.9.jsonl": Language.LEAN4}
    files["isabelle.jsonl"] = Language.ISABELLE
    for name, language in files.items():
        for line in (package_data / "minif2f" / name).open(encoding="utf-8"):
            statement = json.loads(line)["formal_statement"].removesuffix("sorry").strip()
            check_statement(statement, language)


def _bench(llemma_trace, home, *extra):
    argv = ["bench", "minif2f-lean4", *_replay(llemma_trace), "--store", str(home)]
    return [*argv, "--model", f"scripted:{llemma_trace['script']}", *extra]


BENCH_CASES = [
    (["--names", ""], "--names is empty"),
    (["--names", " , "], "--names is empty"),
    (["--attempts", "100000000", "--list"], "--attempts: must be between 1 and 4096"),
    (["--set", "bench.attempts=100000000", "--list"], "bench.attempts must be between 1 and 4096"),
    (["--limit", "-1"], "--limit: must be between 1"),
    (["--concurrency", "0"], "--concurrency: must be between 1"),
    (["--ray-address", "auto"], "--ray-address goes with --ray"),
    (["--retry-errors"], "--retry-errors goes with --resume"),
    (["--resume", "x", "--retry-errors", "--list"], "drop --retry-errors to list"),
    (["--timeout", "nan"], "--timeout: must be a positive number of seconds"),
    (["--samples", "100000"], "--samples: must be between 1 and 4096"),
    (["--set", "search.samples=100000"], "search.samples must be at most 4096"),
    (["--set", "generation.max_tokens=100000000"], "max_tokens must be at most 1048576"),
]


@pytest.mark.parametrize(("extra", "fragment"), BENCH_CASES)
def test_bench_counts_and_companions_are_checked_before_any_work(
    extra, fragment, llemma_trace, tmp_path, capsys
):
    assert main(_bench(llemma_trace, tmp_path / "home", *extra)) == 2
    out, err = capsys.readouterr()
    assert fragment in err and len(err.strip().splitlines()) == 1, err
    assert out == "" and not (tmp_path / "home").exists()  # nothing printed, nothing created


def test_bench_list_with_many_attempts_prints_one_line_per_theorem(llemma_trace, tmp_path, capsys):
    assert main(_bench(llemma_trace, tmp_path / "h", "--attempts", "4096", "--list")) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) < 260  # 244 theorems and a header, not 244 × 4096 lines
    assert any(line.endswith("#0-4095") for line in lines)
    assert not (tmp_path / "h").exists()  # listing is read-only


def test_path_problems_each_have_their_own_message(llemma_trace, tmp_path, capsys):
    cases = [
        (["prove", "--file", str(tmp_path), "--theorem", "t"], "is a directory"),
        (["prove", "--file", str(tmp_path / "no.lean"), "--theorem", "t"], "does not exist"),
        (["prove", "--file", "/dev/full", "--theorem", "t"], "is not a regular file"),
        (["runs", "--export", "x", "/dev/full", "--store", str(tmp_path)], "no run named"),
        (["trace", "llemma", str(tmp_path), "--out", str(tmp_path)], "is a directory"),
        (["trace", "llemma", str(tmp_path), "--out", "/dev/full"], "no recorded states"),
        (["trace", "llemma", str(tmp_path), "--out", str(tmp_path / "a" / "b")], "does not exist"),
        (
            ["trace", "llemma", str(tmp_path), "--decoys", "-1", "--out", str(tmp_path / "x")],
            "--decoys: must be",
        ),
        (
            ["trace", "llemma", str(tmp_path), "--theorems", "", "--out", str(tmp_path / "y")],
            "--theorems is empty",
        ),
    ]
    for argv, fragment in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert fragment in err and len(err.strip().splitlines()) == 1, (argv, err)
    # A full disk: the trace is built, then writing it fails with its own message.
    source = str(Path(__file__).resolve().parent.parent / "benchmarks/data/llemma_formal2formal")
    assert main(["trace", "llemma", source, "--theorems", THEOREM, "--out", "/dev/full"]) == 2
    assert "'/dev/full' cannot be written: the disk is full" in capsys.readouterr().err


def test_non_utf8_inputs_are_one_line_errors(llemma_trace, tmp_path, capsys):
    bad_trace = tmp_path / "bad.jsonl"
    good = llemma_trace["trace"].read_bytes().splitlines(keepends=True)
    bad_trace.write_bytes(b"".join(good[:2]) + b'{"type": "open", "theorem": "\xff"}\n')
    statement = "theorem t : True := by"
    assert main(["prove", statement, "--env", "replay", "--trace", str(bad_trace)]) == 2
    err = capsys.readouterr().err
    assert f"trace file '{bad_trace}' is not UTF-8 text (line 3)" in err
    bad_lean = tmp_path / "x.lean"
    bad_lean.write_bytes(b"theorem t : True := by\n  trivial -- \xe9\n")
    assert main(["prove", "--file", str(bad_lean), "--theorem", "t"]) == 2
    assert "is not UTF-8 text (line 2" in capsys.readouterr().err
    bad_results = tmp_path / "results__bad.json"
    bad_results.write_bytes(b'{"results": "\xff"}')
    assert main(["trace", "llemma", str(bad_results), "--out", str(tmp_path / "t.jsonl")]) == 2
    assert "is not UTF-8 text" in capsys.readouterr().err


def test_json_input_errors_are_a_json_object_on_stdout_too(llemma_trace, capsys):
    for argv in (
        ["prove", "theorem t : (True := by", "--json", *_replay(llemma_trace)],
        ["prove", "--json", "--samples", "0", "theorem t : True := by"],
        ["runs", "--trees", "--json"],
    ):
        assert main(argv) == 2
        out, err = capsys.readouterr()
        error = json.loads(out)
        assert error["exit_code"] == 2 and error["error"] in err


def test_replay_counters_agree_with_the_lines(llemma_trace, tmp_path, capsys):
    argv = _bench(llemma_trace, tmp_path / "home", "--names", THEOREM, "--display", "plain")
    assert main(argv) == 0
    out, err = capsys.readouterr()
    (line,) = [x for x in err.splitlines() if x.startswith("[1/1]")]
    assert f"{THEOREM}: proved (unchecked by replay)" in line
    assert line.endswith("| proved 1 (1 unchecked) failed 0 errors 0 pass 0.0% (checked proofs)")
    assert "0 verified proofs, 1 proved but unchecked, 0 failed, 0 errors" in out


def test_run_flags_take_their_keys_and_defaults_from_the_config() -> None:
    """Each run flag names the config key it sets and shows that key's default from the config
    dataclasses (written once); the flag sets exactly that key."""
    from prover.cli import build_parser
    from prover.cli.options import config_default, config_from_args

    parser = build_parser()
    args = parser.parse_args(["prove", "theorem t : True := by", "--samples", "7"])
    assert args.config_flags["samples"] == "search.samples"
    assert config_from_args(args).search.samples == 7
    prove = next(
        a.choices["prove"] for a in parser._actions if isinstance(a, argparse._SubParsersAction)
    )
    helps = {a.dest: a.help for a in prove._actions}
    assert len(args.config_flags) >= 14
    for dest, key in args.config_flags.items():
        assert f"({key}, default " in helps[dest], dest
    assert "(search.max_expansions, default 100)" in helps["expansions"]
    assert config_default("search.max_expansions") == 100
