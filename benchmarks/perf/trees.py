"""Search trees the size of a full miniF2F attempt, with Lean-like text, for the storage figures.

A tree holds `expansions` expanded states × `samples` tactics (100 × 32 = 3,200 edges by
default), built through `prover.search_tree.SearchTree` as best-first builds it. The text is
modelled on Lean's: each state prints its hypotheses and goal (a theorem-wide context of 4–9
hypotheses with random names and numbers, plus those the path added), and most tactics fail with
one of Lean's usual messages, which quote the goal as Lean's do. All of it is drawn from a seeded
random stream, so it compresses no better than that; real Lean text repeats itself more.
"""

from __future__ import annotations

import random
import string
from typing import Any

from prover.search_tree import SearchTree
from prover.types import Failed, FailureKind, ProofState

_OPS = ("+", "-", "*", "/", "^")
_RELS = ("=", "≤", "<", "≠")
_TACTICS = (
    "nlinarith [sq_nonneg (x - y), sq_nonneg (x + y)]",
    "norm_num",
    "linarith",
    "simp [h₀] at h₁",
    "field_simp",
    "ring_nf",
    "omega",
    "nlinarith [h₀, h₁, sq_nonneg (a - b)]",
    "rw [h₀] at h₁",
    "have h₂ : 0 < x := by positivity",
    "interval_cases x <;> simp_all",
    "decide",
)


def _name(rng: random.Random) -> str:
    return rng.choice(string.ascii_lowercase) + rng.choice(("", "₀", "₁", "₂", "'"))


def _expr(rng: random.Random, names: list[str], depth: int = 2) -> str:
    if depth == 0 or rng.random() < 0.3:
        return rng.choice(names) if rng.random() < 0.6 else str(rng.randint(0, 999))
    left, right = _expr(rng, names, depth - 1), _expr(rng, names, depth - 1)
    return f"({left} {rng.choice(_OPS)} {right})"


def _hypothesis(rng: random.Random, names: list[str], index: int) -> str:
    rel = rng.choice(_RELS)
    return f"h{index} : {_expr(rng, names)} {rel} {_expr(rng, names)}"


def _failure(rng: random.Random, goals: str) -> str:
    kind = rng.randrange(5)
    if kind == 0:
        return f"linarith failed to find a contradiction\ncase a\n{goals}\na✝ : False"
    if kind == 1:
        return f"unsolved goals\n{goals}"
    if kind == 2:
        return f"unknown identifier '{_name(rng)}{rng.randint(0, 99)}'"
    if kind == 3:
        return (
            f"type mismatch\n  h{rng.randint(0, 9)}\nhas type\n  {rng.randint(0, 99)} ≤ x : Prop\n"
            f"but is expected to have type\n  x < {rng.randint(0, 99)} : Prop"
        )
    return f"simp made no progress\n{goals[: rng.randint(40, 200)]}"


def synthetic_tree(seed: int = 0, *, expansions: int = 100, samples: int = 32) -> dict[str, Any]:
    """The JSON of a search tree with `expansions` × `samples` edges and Lean-like text."""
    rng = random.Random(seed)
    names = sorted({_name(rng) for _ in range(6)})
    context = [f"{' '.join(names)} : ℝ"]
    context += [_hypothesis(rng, names, i) for i in range(rng.randint(4, 9))]
    tree = SearchTree()
    root_goal = "\n".join([*context, f"⊢ {_expr(rng, names, 3)} = {rng.randint(0, 999)}"])
    frontier = [(tree.add_state(ProofState((root_goal,)), priority=0.0, depth=0), context)]
    for order in range(1, expansions + 1):
        node, hyps = frontier.pop(rng.randrange(len(frontier)))
        tree.mark_expanded(node, order)
        goals = tree.graph.nodes[node]["goals"]
        for _ in range(samples):
            tactic = rng.choice(_TACTICS)
            score = -rng.random() * 3
            if rng.random() < 0.75:
                message = _failure(rng, goals)
                tree.add_failure(node, tactic, score, Failed(FailureKind.ERROR, message))
                continue
            added = [*hyps, _hypothesis(rng, names, len(hyps))]
            goal = "\n".join([*added, f"⊢ {_expr(rng, names, 3)} {rng.choice(_RELS)} 0"])
            child = tree.add_state(ProofState((goal,)), priority=-score, depth=tree.depth(node) + 1)
            tree.add_edge(node, child, tactic, score)
            frontier.append((child, added))
    return tree.to_json()
