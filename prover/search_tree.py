"""The search tree kept by strategies: a networkx DiGraph with a stable JSON export."""

from __future__ import annotations

from typing import Any

import networkx as nx

from prover.types import Failed, ProofState


class SearchTree:
    """States are nodes; tactics are edges. Failed tactics point at a leaf node of kind `failed`."""

    def __init__(self) -> None:
        self.graph: nx.DiGraph = nx.DiGraph()
        self._states: dict[int, ProofState] = {}
        self._parent: dict[int, tuple[int, str]] = {}

    def _new(self, **attrs: Any) -> int:
        node = self.graph.number_of_nodes()
        self.graph.add_node(node, **attrs)
        return node

    def add_state(self, state: ProofState, *, priority: float, depth: int) -> int:
        node = self._new(kind="state", goals=state.pretty, priority=priority, depth=depth)
        self._states[node] = state
        return node

    def state(self, node: int) -> ProofState:
        return self._states[node]

    def depth(self, node: int) -> int:
        return int(self.graph.nodes[node]["depth"])

    def mark_expanded(self, node: int, order: int) -> None:
        self.graph.nodes[node]["expanded"] = order

    def add_edge(
        self, parent: int, child: int, tactic: str, score: float, *, duplicate: bool = False
    ) -> None:
        self.graph.add_edge(parent, child, tactic=tactic, score=score, duplicate=duplicate)
        if not duplicate:
            self._parent[child] = (parent, tactic)

    def add_failure(self, parent: int, tactic: str, score: float, result: Failed) -> None:
        leaf = self._new(kind="failed", failure=result.kind.value, message=result.message[:2000])
        self.graph.add_edge(parent, leaf, tactic=tactic, score=score, duplicate=False)

    def add_finished(self, parent: int, tactic: str, score: float) -> None:
        leaf = self._new(kind="finished")
        self.graph.add_edge(parent, leaf, tactic=tactic, score=score, duplicate=False)

    def path(self, node: int) -> list[str]:
        """Tactics from the root to `node`."""
        steps: list[str] = []
        while node in self._parent:
            node, tactic = self._parent[node]
            steps.append(tactic)
        return steps[::-1]

    def to_json(self) -> dict[str, Any]:
        return tree_to_json(self.graph)


def tree_to_json(graph: nx.DiGraph) -> dict[str, Any]:
    """Nodes and edges as plain lists; inverse of `tree_from_json`."""
    return {
        "nodes": [{"id": n, **attrs} for n, attrs in graph.nodes(data=True)],
        "edges": [{"source": u, "target": v, **attrs} for u, v, attrs in graph.edges(data=True)],
    }


def tree_from_json(data: dict[str, Any]) -> nx.DiGraph:
    graph = nx.DiGraph()
    for node in data.get("nodes", []):
        attrs = {k: v for k, v in node.items() if k != "id"}
        graph.add_node(node["id"], **attrs)
    for edge in data.get("edges", []):
        attrs = {k: v for k, v in edge.items() if k not in ("source", "target")}
        graph.add_edge(edge["source"], edge["target"], **attrs)
    return graph
