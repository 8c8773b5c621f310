"""`prover prove --model hf:<tiny model>` end to end through real generation; `prover doctor`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prover.cli import main
from prover.generators.tiny import build_tiny_llama

THEOREM = "mathd_algebra_478"


def test_prove_on_replay_with_a_real_hf_model(
    package_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = (
        package_data / "llemma_formal2formal" / "llemma7b_minif2f_test__results__llemma7b__0.json"
    )
    trace = tmp_path / "trace.jsonl"
    assert main(["trace", "llemma", str(results), "--out", str(trace), "--theorems", THEOREM]) == 0
    statement = json.loads(trace.read_text(encoding="utf-8").splitlines()[0])["statement"]
    model = build_tiny_llama(tmp_path / "tiny")
    capsys.readouterr()

    code = main(
        [
            "prove", statement, "--env", "replay", "--trace", str(trace),
            "--model", f"hf:{model}", "--set", "hf.device=cpu",
            "--samples", "4", "--expansions", "2", "--max-tokens", "12", "--json",
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1  # a random model proves nothing
    result = json.loads(out.strip().splitlines()[-1])
    assert result["theorem"] == THEOREM and result["status"] == "failed"
    stats = result["stats"]
    assert stats["model_calls"] >= 1 and stats["candidates"] >= 1
    assert stats["model_seconds"] > 0 and stats["tokens"] > 0
    assert stats["tactics_run"] >= 1  # the generated tactics were tried on the recorded state
    assert stats["failures"].get("error", 0) == stats["tactics_run"]


def test_prove_with_the_default_model_and_no_gpu_is_a_one_line_input_error(
    package_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from prover.generators.vllm import unusable_reasons

    if not unusable_reasons():
        pytest.skip("vllm is usable here")
    trace = tmp_path / "trace.jsonl"
    results = (
        package_data / "llemma_formal2formal" / "llemma7b_minif2f_test__results__llemma7b__0.json"
    )
    main(["trace", "llemma", str(results), "--out", str(trace), "--theorems", THEOREM])
    statement = json.loads(trace.read_text(encoding="utf-8").splitlines()[0])["statement"]
    capsys.readouterr()
    code = main(["prove", statement, "--env", "replay", "--trace", str(trace)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "--model hf:" in err and "--model openai:" in err


def test_doctor_prints_the_model_lines(capsys: pytest.CaptureFixture[str]) -> None:
    main(["doctor"])
    out = capsys.readouterr().out
    for name in ("gpu (torch.cuda)", "transformers", "vllm", "model backend vllm"):
        assert name in out
    main(["doctor", "--json"])
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["model backend openai"]["ok"] is True
