"""`prover bench --resume RUN --retry-errors` runs again exactly the attempts that errored."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.store import Store
from prover.cli import main

NAMES = ["mathd_algebra_478", "mathd_numbertheory_3"]


def test_errors_are_kept_then_retried_on_request(package_data: Path, tmp_path: Path, capsys):
    trace, script = tmp_path / "trace.jsonl", tmp_path / "script.json"
    llemma = str(package_data / "llemma_formal2formal")
    assert main(["trace", "llemma", llemma, "--out", str(trace), "--script", str(script)]) == 0
    full = trace.read_text()
    # First run: the second theorem is missing from the trace, so its attempt is an error.
    kept = [r for r in full.splitlines() if json.loads(r)["theorem"] != NAMES[1]]
    trace.write_text("\n".join(kept) + "\n")
    common = [
        "--env", "replay", "--trace", str(trace), "--model", f"scripted:{script}",
        "--store", str(tmp_path / "home"), "--data", str(package_data / "minif2f"),
        "--display", "none",
    ]  # fmt: skip
    argv = ["bench", "minif2f-lean4-deepseek", "--names", ",".join(NAMES), "--run", "r", *common]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "1 errors" in out and "--retry-errors" in out

    with Store.at_home(tmp_path / "home") as store:
        before = {a.theorem: a for a in store.attempts(store.require_run("r"))}
    assert before[NAMES[1]].status == "error" and before[NAMES[0]].status == "proved"

    trace.write_text(full)  # the cause is fixed
    assert main(["bench", "--resume", "r", *common]) == 0
    assert "nothing to do" in capsys.readouterr().out  # a plain resume keeps the error
    assert main(["bench", "--resume", "r", "--retry-errors", *common]) == 0
    assert "1 attempts that ended in error will run again" in capsys.readouterr().out

    with Store.at_home(tmp_path / "home") as store:
        after = {a.theorem: a for a in store.attempts(store.require_run("r"))}
    assert after[NAMES[1]].status == "proved"
    assert after[NAMES[0]].id == before[NAMES[0]].id  # the finished attempt was not redone
    assert len(after) == 2


def test_a_benchmark_in_another_language_is_refused_up_front(
    package_data: Path, tmp_path: Path, capsys
):
    argv = ["bench", "minif2f-isabelle", "--env", "lean-repl", "--limit", "2", "--display", "none"]
    argv += ["--store", str(tmp_path), "--data", str(package_data / "minif2f")]
    assert main(argv) == 2
    assert "use e.g. --env isabelle" in capsys.readouterr().err
    with Store.at_home(tmp_path) as store:
        assert store.runs() == []  # nothing was started or stored
