"""The sketch strategy against the real tools, with fixed sketches from a scripted model.

Marked `lean` / `isabelle`: skipped (reason printed) unless the tool is detected or --run-lean /
--run-isabelle is given. Theorems are miniF2F valid ones; the sketches are fixed text whose gaps
the cheap closers (or Sledgehammer) are expected to close.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from prover.config import load_config
from prover.run import Components, attempt
from prover.strategies.sketch import create as sketch
from prover.testing import ScriptedGenerator
from prover.types import Budget, Candidate, Language, Status, Theorem


def _row(package_data: Path, file: str, name: str) -> dict:
    for line in (package_data / "minif2f" / file).open(encoding="utf-8"):
        row = json.loads(line)
        if row["name"] == name:
            return row
    raise AssertionError(f"{name} not in {file}")


@pytest.mark.lean
async def test_lean_sketch_closed_by_closers(package_data: Path) -> None:
    from environments.lean.repl import create as lean_env

    row = _row(package_data, "lean4_v4.24.jsonl", "mathd_numbertheory_335")
    thm = Theorem(
        row["name"],
        row["formal_statement"],
        header=row["header"],
        informal_statement=row["informal_statement"],
        informal_proof=row["informal_proof"],
    )
    completion = "  have h₁ : 5 * n % 7 = 5 * (n % 7) % 7 := by sorry\n  omega"
    gen = ScriptedGenerator({}, default=[Candidate(completion, -1.0, 20)])
    config = load_config(None, {"lean.pool_size": 1, "sketch.search_expansions": 0})
    env = lean_env(config)
    try:
        result = await attempt(thm, Components(env, gen, sketch(config)), Budget())
    finally:
        await env.close()
    assert result.status is Status.PROVED and result.verified, result.details
    assert result.details["gaps"][0]["method"] == "closer"


@pytest.mark.isabelle
async def test_isabelle_sketch_closed_by_heuristics_or_sledgehammer(
    package_data: Path, tmp_path: Path
) -> None:
    from environments.isabelle.environment import create as isabelle_env

    row = _row(package_data, "isabelle.jsonl", "mathd_numbertheory_335")
    thm = Theorem(
        row["name"],
        row["formal_statement"],
        Language.ISABELLE,
        header=row["theory_imports"],
        informal_statement=row["informal_statement"],
        informal_proof=row["informal_proof"],
    )
    completion = (
        "proof -\n"
        '  have c0: "(5 * n) mod 7 = (5 * 5) mod 7" using h0\n'
        "    sledgehammer\n"
        "  then show ?thesis\n"
        "    sledgehammer\n"
        "qed"
    )
    gen = ScriptedGenerator({}, default=[Candidate(completion, -1.0, 40)])
    config = load_config(
        None,
        {
            "isabelle.ports": [int(os.environ.get("PISA_TEST_PORT", "8000"))],
            "isabelle.startup_timeout": 3600.0,
            "isabelle.heuristics": [],
            "store.home": str(tmp_path / "home"),
        },
    )
    env = isabelle_env(config)
    try:
        result = await attempt(thm, Components(env, gen, sketch(config)), Budget())
    finally:
        await env.close()
    assert result.status is Status.PROVED and result.verified, result.details
    assert result.verified_by == "isabelle"
    assert {g["method"] for g in result.details["gaps"]} <= {"closer", "hammer"}
