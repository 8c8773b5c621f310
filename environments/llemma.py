"""Convert Llemma formal2formal per-theorem outputs into replay traces (and generator scripts).

Their `trace` entries hold real Lean goal states (`state_before`) and the tactics that were run;
consecutive entries of a successful attempt give (state, tactic) → next state, and the last tactic
of a successful proof gives → finished.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from prover.errors import InputError
from prover.paths import read_text


def _result_files(source: Path) -> list[Path]:
    if source.is_file():
        return [source]
    if source.is_dir():
        return sorted(p for p in source.glob("*.json") if "results" in p.name)
    raise InputError(f"'{source}' is neither a Llemma results file nor a directory of them")


def llemma_records(sources: Iterable[Path]) -> Iterator[dict[str, Any]]:
    """Trace records (open + tactic) for every theorem with at least one recorded state."""
    opened: set[str] = set()
    done: set[tuple[str, str]] = set()
    for source in sources:
        for path in _result_files(source):
            text = read_text(path, "Llemma results file")
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InputError(f"Llemma results file '{path}' is not JSON ({exc})") from exc
            try:
                yield from _file_records(data, opened, done)
            except (AttributeError, KeyError, TypeError, IndexError) as exc:
                raise InputError(
                    f"Llemma results file '{path}' is not in the formal2formal format "
                    f"(results → attempt_results → trace; {type(exc).__name__}: {exc})"
                ) from exc


def _file_records(
    data: Any, opened: set[str], done: set[tuple[str, str]]
) -> Iterator[dict[str, Any]]:
    for entry in data.get("results", []):
        example = entry.get("example", {})
        name = example.get("full_name")
        for attempt in entry.get("attempt_results", []):
            trace = attempt.get("trace") or []
            if not name or not trace:
                continue
            if not all(
                isinstance(step.get("state_before"), str) and isinstance(step.get("tactic"), str)
                for step in trace
            ):
                raise TypeError("a trace step without string state_before and tactic")
            if name not in opened:
                opened.add(name)
                yield {
                    "type": "open",
                    "theorem": name,
                    "statement": example.get("statement", ""),
                    "goals": [trace[0]["state_before"]],
                }
            for i, step in enumerate(trace):
                goals, tactic = step["state_before"], step["tactic"]
                if i + 1 < len(trace):
                    result = {"kind": "state", "goals": [trace[i + 1]["state_before"]]}
                elif attempt.get("success"):
                    result = {"kind": "finished"}
                else:
                    continue
                if (goals, tactic) in done:
                    continue
                done.add((goals, tactic))
                yield {
                    "type": "tactic",
                    "theorem": name,
                    "goals": goals,
                    "tactic": tactic,
                    "result": result,
                }


_DECOYS = (
    "simp",
    "norm_num",
    "linarith",
    "nlinarith [sq_nonneg x]",
    "ring_nf",
    "omega",
    "field_simp",
    "aesop",
    "decide",
    "positivity",
    "exact?",
    "intro h",
    "induction n",
    "rfl",
)


def generator_script(
    records: Iterable[dict[str, Any]], decoys: int, seed: int = 0
) -> dict[str, Any]:
    """A scripted-generator file offering each recorded tactic among `decoys` wrong ones.

    Decoys are given higher log-probs than the recorded tactic, so the search has to try (and
    record the failure of) every one of them first.
    """
    rng = random.Random(seed)
    states: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        if record["type"] != "tactic":
            continue
        rows = states.setdefault(record["goals"], [])
        rows.append({"text": record["tactic"], "logprob": -2.0 - rng.random(), "num_tokens": 4})
    for goals, rows in states.items():
        right = {r["text"] for r in rows}
        pool = [d for d in _DECOYS if d not in right]
        rng.shuffle(pool)
        pool += [f"exact decoy_{i}" for i in range(max(0, decoys - len(pool)))]
        for text in pool[:decoys]:
            rows.append({"text": text, "logprob": -0.5 * rng.random(), "num_tokens": 4})
        # Listed as a sampler would rank them, so `n` smaller than the list keeps the decoys.
        states[goals] = sorted(rows, key=lambda r: r["logprob"], reverse=True)
    return {"states": states, "default": []}
