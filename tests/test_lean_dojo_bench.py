"""The `minif2f-lean4-leandojo` benchmark: Llemma's LeanDojo miniF2F theorem list, pinned."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from benchmarks.leandojo import (
    DATA_FILE,
    DATA_SHA256,
    LLEMMA_COMMIT,
    LLEMMA_REPO,
    LeanDojoBenchmark,
    locate_data,
    minif2f_leandojo,
    with_by,
)
from environments.lean.dojo.target import DojoTarget, target_of
from prover import registry
from prover.cli.prove import resolve_theorem
from prover.config import BenchConfig, Config
from prover.errors import InputError
from prover.protocols import Benchmark
from prover.types import Language

LLEMMA = "llemma_formal2formal"


@pytest.fixture(scope="module")
def bench(package_data: Path) -> LeanDojoBenchmark:
    return minif2f_leandojo(Config(bench=BenchConfig(data=str(package_data / LLEMMA))))


def test_llemmas_theorems_with_their_locations(bench: LeanDojoBenchmark) -> None:
    assert isinstance(bench, Benchmark)
    assert bench.name == "minif2f-lean4-leandojo" and bench.splits == ("valid", "test")
    valid, test = bench.theorems("valid"), bench.theorems("test")
    assert len(valid) == len(test) == 244
    assert len({t.name for t in test}) == 244
    theorem = {t.name: t for t in test}["mathd_algebra_478"]
    assert theorem.statement.startswith("theorem mathd_algebra_478 (b h v : ℝ)")
    assert theorem.statement.endswith("(h₂ : b = 30) (h₃ : h = 13 / 2) : v = 65 := by")
    assert (theorem.language, theorem.split) == (Language.LEAN4, "test")
    assert theorem.header == Config().section("lean").header  # for the lean-repl re-check only
    assert target_of(theorem) == DojoTarget(
        LLEMMA_REPO, LLEMMA_COMMIT, "MiniF2F/Test.lean", "mathd_algebra_478"
    )
    assert {target_of(t).file_path for t in valid} == {"MiniF2F/Validation.lean"}
    assert {target_of(t).file_path for t in test} == {"MiniF2F/Test.lean"}
    assert theorem.metadata["category"] == "mathd_algebra"
    assert theorem.metadata["benchmark"] == "minif2f-lean4-leandojo"


def test_describe_names_repository_commit_and_checksum(bench: LeanDojoBenchmark) -> None:
    info = bench.describe()
    assert info["sources"] == [
        {"repository": "rah4927/lean-dojo-mew", "url": LLEMMA_REPO, "commit": LLEMMA_COMMIT}
    ]
    assert info["sha256"] == info["pinned_sha256"] == DATA_SHA256
    assert info["rows"] == {"valid": 244, "test": 244}
    assert info["environment"] == "lean-dojo" and info["toolchain"] is None
    json.dumps(info)  # stored with the run


def test_lean_repl_is_refused_for_these_statements(bench: LeanDojoBenchmark) -> None:
    with pytest.raises(InputError, match="--env lean-dojo"):
        bench.check_project(Config(environment="lean-repl"))
    bench.check_project(Config(environment="lean-dojo"))
    bench.check_project(Config(environment="replay"))  # Llemma's recorded traces


def test_the_list_is_what_llemmas_runs_scored(bench: LeanDojoBenchmark, package_data: Path) -> None:
    """Every `example` Llemma's compute_metrics.py counted is a row of this list, field for field.

    Their runs also opened `sum_pairs`, a helper lemma of MiniF2F/Test.lean that their metrics
    skip ("Extra helper theorem in the OpenAI code"); it is not a miniF2F problem and not here.
    """
    rows = {t.name: t for t in bench.theorems("test")}
    scored = set()
    for path in sorted((package_data / LLEMMA).glob("*results*.json")):
        for entry in json.loads(path.read_text(encoding="utf-8"))["results"]:
            example = entry["example"]
            if "sum_pairs" in example["full_name"]:
                continue
            theorem = rows[example["full_name"]]
            assert theorem.statement == with_by(example["statement"])
            assert target_of(theorem).to_json() == {
                k: example[k] for k in ("url", "commit", "file_path", "full_name")
            }
            scored.add(example["full_name"])
    assert scored == set(rows)  # the shards together cover exactly the test split


def test_registered_and_found_without_flags() -> None:
    factory = registry.load("benchmark", "minif2f-lean4-leandojo")
    assert factory is minif2f_leandojo
    assert len(factory(Config()).theorems("test")) == 244  # from the shared data location


def test_prove_cli_resolves_a_theorem_with_its_location(package_data: Path) -> None:
    args = argparse.Namespace(
        statement=None,
        file=None,
        theorem=None,
        benchmark="minif2f-lean4-leandojo",
        name="mathd_algebra_478",
        language=None,
    )
    config = Config(bench=BenchConfig(data=str(package_data / LLEMMA)))
    theorem = resolve_theorem(args, config)
    assert target_of(theorem).full_name == "mathd_algebra_478"


def test_data_resolution(tmp_path: Path, package_data: Path) -> None:
    file = package_data / LLEMMA / DATA_FILE
    assert locate_data(str(file), []) == file
    assert locate_data(str(package_data / LLEMMA), []) == file
    assert locate_data(str(package_data), []) == file
    assert locate_data("", [tmp_path, package_data]) == file
    with pytest.raises(InputError, match=r"was not found; pass --data PATH"):
        locate_data("", [tmp_path])
    with pytest.raises(InputError, match="fix --data"):
        locate_data(str(tmp_path / "missing.jsonl"), [package_data])


def test_a_modified_list_is_not_llemmas(tmp_path: Path, package_data: Path) -> None:
    lines = (package_data / LLEMMA / DATA_FILE).read_text(encoding="utf-8").splitlines()
    edited = tmp_path / DATA_FILE
    edited.write_text("\n".join(lines[1:]) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="is not the theorem list Llemma used"):
        minif2f_leandojo(Config(bench=BenchConfig(data=str(edited))))


ROW = {
    "full_name": "t",
    "statement": "theorem t : True",
    "url": "https://github.com/u/r",
    "commit": "abc",
    "file_path": "A.lean",
    "split": "test",
}


@pytest.mark.parametrize(
    ("lines", "text"),
    [
        (["{not json"], r"\.jsonl:1 is not JSON"),
        ([json.dumps({**ROW, "commit": ""})], "missing or empty field.*commit"),
        ([json.dumps({**ROW, "split": "train"})], "split 'train'"),
        ([json.dumps(ROW), json.dumps(ROW)], r"\.jsonl:2: theorem 't' appears twice"),
    ],
)
def test_bad_rows_name_their_line(tmp_path: Path, lines: list[str], text: str) -> None:
    path = tmp_path / "list.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=text):
        LeanDojoBenchmark(path, name="custom", header="")


def test_a_custom_list_and_splits(tmp_path: Path) -> None:
    path = tmp_path / "list.jsonl"
    path.write_text(json.dumps(ROW) + "\n", encoding="utf-8")
    custom = LeanDojoBenchmark(path, name="custom", header="import Mathlib\n")
    (theorem,) = custom.theorems("test")
    assert theorem.statement == "theorem t : True := by"
    assert custom.theorems("valid") == []
    with pytest.raises(InputError, match="no split 'train'"):
        custom.theorems("train")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("theorem t : True", "theorem t : True := by"),
        ("theorem t : True :=", "theorem t : True := by"),
        ("theorem t : True := by\n", "theorem t : True := by"),
        (
            "theorem t (f : ℕ → ℕ := fun n => n) : True",
            "theorem t (f : ℕ → ℕ := fun n => n) : True := by",
        ),
    ],
)
def test_statements_end_in_by(given: str, expected: str) -> None:
    assert with_by(given) == expected
