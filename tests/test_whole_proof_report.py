"""pass@k over the proofs a whole-proof attempt sampled, and the published whole-proof figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.metrics import pass_at_k, sample_counts
from benchmarks.published import published
from benchmarks.report import build, to_markdown
from benchmarks.store import Store
from prover.types import SearchResult, SearchStats, Status


def _result(name: str, n: int, c: int, *, exact: bool, verified: bool) -> SearchResult:
    proved = c > 0
    return SearchResult(
        theorem=name,
        status=Status.PROVED if proved else Status.FAILED,
        proof="norm_num" if proved else None,
        verified=verified and proved,
        verified_by="lean-repl" if verified and proved else None,
        stats=SearchStats(total_seconds=1.0),
        details={"strategy": "whole-proof", "samples": {"n": n, "c": c, "exact": exact}},
    )


def test_sample_counts_need_exact_records_and_a_counted_proof() -> None:
    assert sample_counts({"samples": {"n": 8, "c": 3, "exact": True}}, True) == (8, 3)
    assert sample_counts({"samples": {"n": 8, "c": 3, "exact": True}}, False) == (8, 0)
    assert sample_counts({"samples": {"n": 8, "c": 3, "exact": False}}, True) is None
    assert sample_counts({"samples": {"n": 2, "c": 3, "exact": True}}, True) is None
    assert sample_counts({}, True) is None


def test_the_report_shows_pass_at_k_over_samples(tmp_path: Path) -> None:
    store = Store.at_home(tmp_path)
    run = store.create_run(
        "wp",
        benchmark="minif2f-lean4",
        split="test",
        planned=3,
        attempts_per_theorem=1,
        config={"model": "vllm:x", "environment": "lean-repl", "strategy": "whole-proof"},
        versions={},
    )
    store.record(run.id, "a", 0, _result("a", 4, 1, exact=True, verified=True))
    store.record(run.id, "b", 0, _result("b", 4, 0, exact=True, verified=True))
    # Stopped at its first accepted sample: not exact, so not part of the per-sample estimate.
    store.record(run.id, "c", 0, _result("c", 2, 1, exact=False, verified=True))
    report = build(store, ["wp"])
    (summary,) = report.runs
    assert summary.pass_at_k == {}  # one attempt per theorem
    expected = {k: (pass_at_k(4, 1, k) + pass_at_k(4, 0, k)) / 2 for k in (1, 2, 4)}
    assert summary.sample_pass_at_k == {k: pytest.approx(v) for k, v in expected.items()}
    md = to_markdown(report)
    assert "## pass@k over sampled proofs (unbiased estimator)" in md
    assert "| wp | 12.5% | 25.0% | 50.0% |" in md
    assert summary.to_json()["sample_pass_at_k"]["4"] == pytest.approx(0.5)
    store.close()


def test_published_whole_proof_figures_carry_budgets_and_statement_versions() -> None:
    rows = published()["results"]
    by = {(r["system"], r["budget"]): r for r in rows}
    assert by[("DeepSeek-Prover-V2 7B", "pass@8192")]["test"] == 82.0
    assert by[("DeepSeek-Prover-V2 671B", "pass@8192")]["test"] == 88.9
    assert by[("Kimina-Prover Preview 72B", "pass@8192")]["test"] == 80.7
    assert by[("Kimina-Prover Preview Distill 7B", "pass@32")]["test"] == 63.1
    assert by[("Goedel-Prover-V2 8B", "pass@32")]["test"] == 84.6
    whole = [r for r in rows if r["kind"].startswith("whole proof")]
    assert len(whole) >= 14 and all(r.get("statements") for r in whole)
