"""The sketch strategy's few-shot examples: valid split only, never the theorem itself, and no
test-split theorem anywhere in the few-shot part of any prompt over the whole miniF2F benchmark."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from prover.errors import InputError
from prover.strategies.sketch_parse import find_gaps
from prover.strategies.sketch_prompts import (
    EXAMPLES_FILE,
    choose_examples,
    draft_prompt,
    load_examples,
    sketch_prompt,
)
from prover.types import Language, Theorem

FILES = {
    "isabelle.jsonl": Language.ISABELLE,
    "lean4_v4.24.jsonl": Language.LEAN4,
    "lean4_deepseek_v4.9.jsonl": Language.LEAN4,
}


def _theorems(package_data: Path) -> list[Theorem]:
    out = []
    for file, language in FILES.items():
        for line in (package_data / "minif2f" / file).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            out.append(
                Theorem(
                    name=row["name"],
                    statement=row["formal_statement"],
                    language=language,
                    header=row.get("header", ""),
                    informal_statement=row.get("informal_statement"),
                    informal_proof=row.get("informal_proof"),
                    split=row["split"],
                    source=file,
                )
            )
    return out


def _squash(text: str) -> str:
    return " ".join(text.split())


def test_examples_are_from_the_valid_split_with_origin_and_gaps():
    examples = load_examples()
    assert len(examples) >= 10
    assert {e.split for e in examples} == {"valid"}
    for example in examples:
        assert example.origin["problem"].startswith(f"miniF2F valid: {example.name}")
        assert set(example.formal) == {Language.ISABELLE, Language.LEAN4}
        for language, formal in example.formal.items():
            assert example.name in formal.statement
            assert find_gaps(formal.sketch, language), (example.name, language)
            assert "sorry" not in formal.sketch or language == Language.LEAN4


def test_examples_match_the_benchmark_statements(package_data):
    """Each example's statement is the benchmark's own (whitespace aside), in the valid split."""
    rows = {
        (file, json.loads(line)["name"]): json.loads(line)
        for file in ("isabelle.jsonl", "lean4_v4.24.jsonl")
        for line in (package_data / "minif2f" / file).read_text(encoding="utf-8").splitlines()
    }
    for example in load_examples():
        isa = rows[("isabelle.jsonl", example.name)]
        lean = rows[("lean4_v4.24.jsonl", example.name)]
        assert isa["split"] == lean["split"] == "valid"
        assert _squash(example.formal[Language.ISABELLE].statement) == _squash(
            isa["formal_statement"]
        )
        lean_statement = _squash(lean["formal_statement"]).removesuffix(" sorry")
        assert _squash(example.formal[Language.LEAN4].statement) == lean_statement


def test_a_test_split_example_file_is_refused(tmp_path):
    data = json.loads(EXAMPLES_FILE.read_text(encoding="utf-8"))
    data["examples"][0]["split"] = "test"
    bad = tmp_path / "examples.json"
    bad.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(InputError, match="test split"):
        load_examples(bad)
    with pytest.raises(InputError, match="not found"):
        load_examples(tmp_path / "missing.json")


def test_no_test_theorem_in_any_prompt_and_no_theorem_among_its_own_examples(package_data):
    theorems = _theorems(package_data)
    tests = [t for t in theorems if t.split == "test"]
    assert len(tests) == 3 * 244 and len(theorems) == 6 * 244
    names = re.compile(r"\b(" + "|".join(re.escape(t.name) for t in tests) + r")\b", re.I)
    texts = {
        _squash(text)
        for t in tests
        for text in (t.statement, t.informal_statement or "", t.informal_proof or "")
        if text.strip()
    }
    examples = load_examples()
    example_names = {e.name for e in examples}
    checked: dict[str, str] = {}  # few-shot text → the theorem it was first built for
    for theorem in theorems:
        chosen = choose_examples(theorem, examples)
        assert chosen, theorem.name
        assert theorem.name.lower() not in {e.name.lower() for e in chosen}
        for prompt in (
            sketch_prompt(theorem, theorem.informal_proof or "", chosen),
            draft_prompt(theorem, chosen),
        ):
            assert prompt.text.endswith(prompt.query)
            if theorem.name in example_names:
                assert theorem.name not in prompt.fewshot
            if prompt.fewshot in checked:
                continue
            checked[prompt.fewshot] = theorem.name
            hit = names.search(prompt.fewshot)
            assert hit is None, f"test theorem {hit.group(0)} in the prompt for {theorem.name}"
            fewshot = _squash(prompt.fewshot)
            leaked = [text[:60] for text in texts if text in fewshot]
            assert not leaked, f"test text in the prompt for {theorem.name}: {leaked}"
    # Different blocks and the exclusions give several distinct few-shot parts, all checked.
    assert len(checked) >= 4
    # The checks can fail: a prompt holding a test statement would be caught.
    assert names.search(f"x {tests[0].name} y")
    assert _squash(tests[0].statement) in _squash(f"junk {tests[0].statement} junk")


def test_the_same_problem_under_another_name_is_excluded():
    examples = load_examples()
    base = examples[0]
    twin = Theorem(
        name="renamed_copy",
        statement=base.formal[Language.LEAN4].statement + " sorry",
        informal_statement="something else",
    )
    assert base.name not in {e.name for e in choose_examples(twin, examples)}
    same_text = Theorem(
        name="renamed_again",
        statement="theorem renamed_again : True := by sorry",
        informal_statement=base.informal_statement,
    )
    assert base.name not in {e.name for e in choose_examples(same_text, examples)}


def test_blocks_and_shots():
    examples = load_examples()
    nt = Theorem(name="mathd_numbertheory_9", statement="theorem x : True := by")
    other = Theorem(name="imo_1959_p1", statement="theorem x : True := by")
    assert {e.category for e in choose_examples(nt, examples)} == {"number_theory"}
    assert {e.category for e in choose_examples(other, examples)} == {"other"}
    three = choose_examples(other, examples, shots=3)
    assert len(three) == 3 and all(e.category == "other" for e in three)
    many = choose_examples(nt, examples, shots=8)
    assert len(many) == 8 and many[0].category == "number_theory"
