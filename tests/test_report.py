"""Metrics (Wilson, pass@k, categories), the report as md/json/html, HTML in headless Chromium."""

from __future__ import annotations

import base64
import io
import itertools
import json
import re
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from benchmarks.categories import CATEGORIES, category
from benchmarks.html_report import to_html
from benchmarks.metrics import ks_up_to, mean_pass_at_k, pass_at_k, wilson
from benchmarks.progress import Progress, Tally
from benchmarks.published import PUBLISHED_TABLE, published
from benchmarks.report import build, to_markdown
from benchmarks.store import Store
from prover.cli import main
from prover.types import SearchResult, SearchStats, Status

CHROMIUM = "/usr/bin/chromium"


def test_wilson_matches_known_intervals() -> None:
    assert wilson(0, 10) == (0.0, pytest.approx(0.27753, abs=1e-5))
    assert wilson(5, 10) == (pytest.approx(0.23659, abs=1e-5), pytest.approx(0.76341, abs=1e-5))
    # The defining property: each bound p0 is where the score statistic equals z.
    for k, n in ((64, 244), (1, 40), (39, 40)):
        for p0 in wilson(k, n):
            z = abs(k / n - p0) / (p0 * (1 - p0) / n) ** 0.5
            assert z == pytest.approx(1.959964, abs=1e-5)
    assert wilson(244, 244)[1] == 1.0 and wilson(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson(3, 2)


def test_pass_at_k_is_the_unbiased_estimator() -> None:
    # Brute force: the fraction of k-subsets of n samples that contain a success.
    for n in range(1, 8):
        for c in range(n + 1):
            for k in range(1, n + 1):
                samples = [True] * c + [False] * (n - c)
                subsets = list(itertools.combinations(samples, k))
                expected = sum(any(s) for s in subsets) / len(subsets)
                assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)
    assert mean_pass_at_k([(4, 1), (4, 0), (2, 2)], 4) == pytest.approx(0.5)  # (2,2) skipped
    assert mean_pass_at_k([(1, 1)], 2) is None
    assert ks_up_to(1) == [1] and ks_up_to(8) == [1, 2, 4, 8] and ks_up_to(10) == [1, 2, 4, 8, 10]


def test_every_minif2f_name_has_one_of_the_eight_categories(package_data: Path) -> None:
    rows = [json.loads(line) for line in (package_data / "minif2f" / "lean4_v4.24.jsonl").open()]
    counts = {(r["split"], category(r["name"])) for r in rows}
    assert {c for _, c in counts} == set(CATEGORIES)
    assert category("aimeII_2001_p3") == "aime" and category("imosl_2007_algebra_p6") == "imo"
    assert category("amc12a_2019_p21") == "amc" and category("mathd_algebra_10") == "mathd_algebra"
    assert category("induction_12dvd4expnp1p20") == "induction" and category("foo") == "other"


def test_published_numbers_are_the_protocols_table_with_sources() -> None:
    data = published()
    rows = data["results"]
    assert len(rows) == 26
    by = {(r["system"], r["budget"]): r["test"] for r in rows}
    assert by[("Llemma 7B", "1x32x100")] == 26.2
    assert by[("DeepSeek-Prover-V1.5 RL + RMaxTS", "32x6400")] == 63.5
    assert by[("Seed-Prover", "hours-days")] == 99.6
    assert all(r["url"].startswith("https://arxiv.org/abs/") and r["source"] for r in rows)


def _stats(seconds: float, tokens: int) -> SearchStats:
    return SearchStats(
        model_seconds=seconds / 2,
        env_seconds=seconds / 4,
        search_seconds=seconds / 4,
        total_seconds=seconds,
        expansions=2,
        tactics_run=5,
        model_calls=2,
        candidates=10,
        tokens=tokens,
    )


def _proof(name: str, proof: str, *, verified: bool = True) -> SearchResult:
    return SearchResult(
        theorem=name,
        status=Status.PROVED,
        proof=proof,
        steps=tuple(proof.splitlines()),
        verified=verified,
        verified_by="lean-repl" if verified else "replay",
        stats=_stats(2.0, 40),
        tree={
            "nodes": [
                {"id": 0, "kind": "state", "goals": "x : ℕ\n⊢ x + 0 = x"},
                {"id": 1, "kind": "failed", "failure": "error", "message": "linarith failed"},
                {"id": 2, "kind": "finished"},
            ],
            "edges": [
                {"source": 0, "target": 1, "tactic": "linarith", "score": -0.2},
                {"source": 0, "target": 2, "tactic": proof, "score": -0.5},
            ],
        },
    )


def _failure(name: str, status: Status = Status.FAILED) -> SearchResult:
    return SearchResult(theorem=name, status=status, stats=_stats(5.0, 100), error=None)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.at_home(tmp_path)
    config = {"model": "hf:tiny", "environment": "lean-repl", "strategy": "best-first"}
    # What the miniF2F benchmark's describe() stores: its title and the published table it names.
    minif2f = {"dataset": {"title": "miniF2F", "published": PUBLISHED_TABLE}}
    a = s.create_run(
        "alpha",
        benchmark="minif2f-lean4",
        split="test",
        planned=4,
        attempts_per_theorem=1,
        config=config,
        versions=minif2f,
    )
    b = s.create_run(
        "beta",
        benchmark="minif2f-lean4",
        split="test",
        planned=8,
        attempts_per_theorem=2,
        config=config,
        versions=minif2f,
    )
    s.record(
        a.id,
        "mathd_algebra_10",
        0,
        _proof("mathd_algebra_10", "norm_num <;> simp"),
        category="mathd_algebra",
    )
    s.record(a.id, "imo_1959_p1", 0, _proof("imo_1959_p1", "omega"), category="imo")
    s.record(a.id, "amc12a_2019_p21", 0, _failure("amc12a_2019_p21"), category="amc")
    s.record(
        a.id,
        "aime_1983_p1",
        0,
        _proof("aime_1983_p1", "nlinarith", verified=False),
        category="aime",
    )
    s.record(b.id, "mathd_algebra_10", 0, _failure("mathd_algebra_10"), category="mathd_algebra")
    s.record(
        b.id, "mathd_algebra_10", 1, _proof("mathd_algebra_10", "ring"), category="mathd_algebra"
    )
    s.record(b.id, "amc12a_2019_p21", 0, _proof("amc12a_2019_p21", "simp [h₀]"), category="amc")
    s.record(b.id, "amc12a_2019_p21", 1, _proof("amc12a_2019_p21", "simp [h₀]"), category="amc")
    s.record(b.id, "imo_1959_p1", 0, _failure("imo_1959_p1", Status.TIMEOUT), category="imo")
    s.record(b.id, "imo_1959_p1", 1, _failure("imo_1959_p1", Status.ERROR), category="imo")
    yield s
    s.close()


def test_report_numbers(store: Store) -> None:
    report = build(store, ["alpha", "beta"])
    alpha, beta = report.runs
    assert alpha.solved == [
        "imo_1959_p1",
        "mathd_algebra_10",
    ]  # the unverified proof is not counted
    assert (alpha.pass_rate.successes, alpha.pass_rate.total) == (2, 4)
    assert alpha.unchecked_proofs == 1
    assert beta.solved == ["amc12a_2019_p21", "mathd_algebra_10"]
    assert beta.pass_at_k == {1: pytest.approx((0.5 + 1.0 + 0.0) / 3), 2: pytest.approx(2 / 3)}
    assert alpha.only_here == ("imo_1959_p1",) and beta.only_here == ("amc12a_2019_p21",)
    assert alpha.categories["imo"].successes == 1 and beta.categories["imo"].successes == 0
    assert beta.statuses == {"failed": 1, "proved": 3, "timeout": 1, "error": 1}
    assert alpha.totals["tokens"] == 3 * 40 + 100 and alpha.totals["total_seconds"] == 11.0
    counted = build(store, ["alpha"], include_unverified=True).runs[0]
    assert counted.solved == ["aime_1983_p1", "imo_1959_p1", "mathd_algebra_10"]
    md = to_markdown(report)
    assert (
        "| alpha | minif2f-lean4 | test | `hf:tiny` | lean-repl | 4/4 (running) | 2/4 | 50.0%" in md
    )
    assert "| imo | 1/1 (100.0%) | 0/1 (0.0%) |" in md
    assert "pass@2" in md and "- beta (1): amc12a_2019_p21" in md
    assert "1 proof(s) were found but not checked" in md
    assert "| Llemma 7B | best-first, LeanDojo | 1x32x100 | 26.2% |" in md


def test_report_cli_json_md_and_html(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = str(store.path.parent)
    assert main(["report", "alpha", "beta", "--store", home, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["run"] for r in data["runs"]] == ["alpha", "beta"]
    assert data["runs"][0]["pass_rate"]["ci95_low"] == pytest.approx(wilson(2, 4)[0], abs=1e-6)
    assert data["runs"][1]["results"]["imo_1959_p1"]["status"] in ("timeout", "error")
    assert main(["report", "alpha", "--store", home]) == 0
    assert capsys.readouterr().out.startswith("# miniF2F report")
    assert main(["report", "nope", "--store", home]) == 2
    assert "no run named 'nope'" in capsys.readouterr().err
    out = tmp_path / "r.html"
    assert (
        main(["report", "alpha", "beta", "--store", home, "--format", "html", "--out", str(out)])
        == 0
    )
    page = out.read_text(encoding="utf-8")
    # Self-contained: every image is inline PNG; nothing is fetched (links are plain anchors).
    images = re.findall(r'<img[^>]+src="([^"]+)"', page)
    assert len(images) == 3 and all(src.startswith("data:image/png;base64,") for src in images)
    assert all(base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n" for src in images)
    assert not re.search(r"<(script|link|iframe)\b", page)
    assert "norm_num &lt;;&gt; simp" in page  # proofs are escaped
    # One search tree per shown attempt that has one: 3 proofs in alpha, 2 in beta.
    assert page.count("<details>") == 5
    assert "linarith failed" in page and "leaf-finished" in page


@pytest.mark.chromium
@pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="needs Debian's chromium at /usr/bin/chromium"
)
def test_html_report_renders_in_headless_chromium(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    home = str(store.path.parent)
    assert (
        main(["report", "alpha", "beta", "--store", home, "--format", "html", "--out", str(out)])
        == 0
    )
    profile = tmp_path / "chromium-profile"
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={profile}",
            "--dump-dom",
            out.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    # The dump is Chromium's parsed DOM (it inserts <tbody>), not the file echoed back.
    assert '<table id="summary"><tbody>' in dom
    summary = dom[
        dom.index('<table id="summary">') : dom.index("</table>", dom.index('id="summary"'))
    ]
    assert summary.count("<tr>") == 3 and ">alpha<" in summary and ">beta<" in summary
    theorems = dom[dom.index('<table id="theorems">') :]
    theorems = theorems[: theorems.index("</table>")]
    assert theorems.count("<tr>") == 1 + 4
    assert '<pre class="proof">norm_num &lt;;&gt; simp</pre>' in dom
    assert '<pre class="proof">simp [h₀]</pre>' in dom
    assert dom.count('<img class="plot"') == 3


def test_error_reasons_are_grouped_in_every_format(tmp_path: Path) -> None:
    with Store.at_home(tmp_path) as s:
        run = s.create_run(
            "errs",
            benchmark="minif2f-lean4",
            split="test",
            planned=4,
            attempts_per_theorem=1,
            config={"model": "hf:tiny", "environment": "replay", "strategy": "best-first"},
            versions={},
        )
        down = "generator: connection refused (http://127.0.0.1:9)\nTraceback-free detail"
        missing = "theorem '{}' is not in the replay trace t.jsonl"
        for name, reason in (
            ("a", down),
            ("b", down),
            ("c", "REPL crashed: exit 137"),
            ("e", missing.format("e")),
            ("f", missing.format("f")),
        ):
            result = SearchResult(theorem=name, status=Status.ERROR, stats=_stats(1.0, 0))
            s.record(run.id, name, 0, replace(result, error=reason))
        s.record(run.id, "d", 0, _proof("d", "simp", verified=False))
        report = build(s, ["errs"])
        html = to_html(report, s.tree)
    (summary,) = report.runs
    assert [(g.reason, g.attempts) for g in summary.errors] == [
        ("generator: connection refused (http://127.0.0.1:9)", ("a", "b")),
        ("theorem '{theorem}' is not in the replay trace t.jsonl", ("e", "f")),
        ("REPL crashed: exit 137", ("c",)),
    ]
    md = to_markdown(report)
    assert "## Why attempts errored" in md
    assert "- errs: 2 × generator: connection refused (http://127.0.0.1:9) — a, b" in md
    assert "- errs: 1 × REPL crashed: exit 137 — c" in md
    # The outcome counts say "proved" as the per-attempt lines do, with how many are unchecked.
    assert "- errs: error 5, proved 1 (1 unchecked)" in md
    data = report.to_json()["runs"][0]["errors"]
    assert data[0] == {
        "reason": "generator: connection refused (http://127.0.0.1:9)",
        "count": 2,
        "attempts": ["a", "b"],
    }
    assert '<table id="errors">' in html and "REPL crashed: exit 137" in html
    assert "error 5, proved 1 (1 unchecked)" in html


def test_the_progress_counters_agree_with_the_attempt_lines() -> None:
    stream = io.StringIO()
    progress = Progress(3, Tally(), display="plain", description="r", stream=stream)
    assert stream.getvalue() == ""  # nothing printed before the first attempt finishes
    unchecked = _proof("a", "simp", verified=False)
    progress.update("a", 0, unchecked)
    progress.update("b", 0, replace(unchecked, theorem="b"))
    progress.update("c", 0, _failure("c"))
    lines = stream.getvalue().splitlines()
    assert lines[0] == "r: 0/3 already done"
    assert "a: proved (unchecked by replay)" in lines[1]
    assert lines[-1].endswith(
        "| proved 2 (2 unchecked) failed 1 errors 0 pass 0.0% (checked proofs)"
    )
    assert Tally(proved=1, unverified=2).postfix()["proved"] == 3


def test_a_benchmark_without_a_title_or_table_gets_neither(tmp_path: Path) -> None:
    """Reports take their title, categories and published table from the benchmark."""
    with Store.at_home(tmp_path) as s:
        run = s.create_run(
            "toy-run",
            benchmark="toy-arith",
            split="test",
            planned=1,
            attempts_per_theorem=1,
            config={"model": "hf:tiny", "environment": "toy", "strategy": "best-first"},
            versions={"dataset": {"name": "toy-arith"}},
        )
        s.record(run.id, "amc12_like_name", 0, _failure("amc12_like_name"))
        text = to_markdown(build(s, ["toy-run"]))
    assert text.startswith("# toy-arith report")
    assert "Published miniF2F-test results" not in text
    assert "| other |" in text and "| amc |" not in text  # no miniF2F name patterns
