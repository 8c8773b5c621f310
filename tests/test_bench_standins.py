"""Stand-ins for benchmark tests: a replay trace and generator script for miniF2F-test theorems.

Built from Llemma's real formal2formal outputs (`prover trace llemma`), with each recorded
statement replaced by the minif2f-lean4 statement of the same name (the replay environment
checks statements; the goals are Llemma's real Lean states). Some theorems lose their correct
tactic (they fail), some are left out of the trace (they end in `error`). The helpers are imported
by the other benchmark test files; the tests here check the stand-ins themselves.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from prover.cli import main

REPO = Path(__file__).resolve().parent.parent

# A test-only slow generator: the scripted generator with a fixed delay per call, so a run lasts
# long enough to be killed or interrupted mid-way. Run as `python slow_prover.py <prover args>`.
SLOW_PROVER = """
import asyncio, os, sys
from prover.testing import ScriptedGenerator
_generate = ScriptedGenerator.generate
async def slow(self, prompt, n, params=None):
    await asyncio.sleep(float(os.environ.get("SLOW_GENERATE_SECONDS", "0.1")))
    return await _generate(self, prompt, n, params)
ScriptedGenerator.generate = slow
from prover.cli import main
sys.exit(main(sys.argv[1:]))
"""


@dataclass(frozen=True)
class Standins:
    """Files and expectations of one synthesised benchmark setup."""

    trace: Path
    script: Path
    data: Path
    names: tuple[str, ...]  # the run's theorems, benchmark (test split) order
    provable: frozenset[str]
    unprovable: frozenset[str]  # in the trace, correct tactic removed from the script
    missing: frozenset[str]  # not in the trace: the environment refuses to open them

    def args(self) -> list[str]:
        """`prover bench` arguments selecting these theorems with the replay stand-ins."""
        return [
            "bench",
            "minif2f-lean4",
            "--split",
            "test",
            "--data",
            str(self.data),
            "--names",
            ",".join(self.names),
            "--env",
            "replay",
            "--trace",
            str(self.trace),
            "--model",
            f"scripted:{self.script}",
        ]


def make_standins(
    out: Path, package_data: Path, *, provable: int, unprovable: int, missing: int
) -> Standins:
    """Trace + script for `provable + unprovable + missing` miniF2F-test theorems."""
    out.mkdir(parents=True, exist_ok=True)
    raw_trace, raw_script = out / "llemma.jsonl", out / "llemma_script.json"
    code = main(
        [
            "trace",
            "llemma",
            str(package_data / "llemma_formal2formal"),
            "--out",
            str(raw_trace),
            "--script",
            str(raw_script),
        ]
    )
    assert code == 0
    data = package_data / "minif2f"
    rows = [json.loads(line) for line in (data / "lean4_v4.24.jsonl").open(encoding="utf-8")]
    statements = {r["name"]: r["formal_statement"] for r in rows if r["split"] == "test"}
    records = [json.loads(line) for line in raw_trace.open(encoding="utf-8")]
    traced = sorted(r["theorem"] for r in records if r["type"] == "open")
    assert len(traced) >= provable + unprovable
    chosen = traced[: provable + unprovable]
    failing = set(chosen[provable:])
    absent = sorted(n for n in statements if n not in traced)[:missing]
    keep = set(chosen)
    trace = out / "trace.jsonl"
    roots: dict[str, str] = {}
    with trace.open("w", encoding="utf-8") as fh:
        for record in records:
            if record["theorem"] not in keep:
                continue
            if record["type"] == "open":
                record["statement"] = statements[record["theorem"]]
                roots[record["theorem"]] = "\n\n".join(record["goals"])
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    script = json.loads(raw_script.read_text(encoding="utf-8"))
    recorded = {(r["goals"], r["tactic"]) for r in records if r["type"] == "tactic"}
    for name in failing:
        root = roots[name]
        script["states"][root] = [
            c for c in script["states"].get(root, []) if (root, c["text"]) not in recorded
        ]
    script_path = out / "script.json"
    script_path.write_text(json.dumps(script, ensure_ascii=False), encoding="utf-8")
    order = [n for n in statements if n in keep or n in set(absent)]
    return Standins(
        trace=trace,
        script=script_path,
        data=data,
        names=tuple(order),
        provable=frozenset(chosen[:provable]),
        unprovable=frozenset(failing),
        missing=frozenset(absent),
    )


def slow_prover(out: Path) -> list[str]:
    """argv prefix running the prover CLI with the slow scripted generator."""
    path = out / "slow_prover.py"
    path.write_text(SLOW_PROVER, encoding="utf-8")
    return [sys.executable, str(path)]


def test_standins_cover_forty_theorems_of_three_kinds(tmp_path: Path, package_data: Path) -> None:
    s = make_standins(tmp_path, package_data, provable=30, unprovable=4, missing=6)
    assert len(s.names) == 40 == len(set(s.names))
    assert s.provable | s.unprovable | s.missing == set(s.names)
    traced = {
        json.loads(line)["theorem"]
        for line in s.trace.open(encoding="utf-8")
        if json.loads(line)["type"] == "open"
    }
    assert traced == s.provable | s.unprovable
    assert not traced & s.missing


def test_slow_prover_runs_the_real_cli(tmp_path: Path) -> None:
    import subprocess

    argv = slow_prover(tmp_path)
    done = subprocess.run([*argv, "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert done.stdout.startswith("prover ")
