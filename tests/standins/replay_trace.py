"""An in-memory replay trace for search tests: (goals, tactic) → outcome, one theorem `t`."""

from __future__ import annotations

from environments.replay import ReplayEnvironment


def replay_env(
    transitions: dict[tuple[str, str], object], root: str = "⊢ root"
) -> ReplayEnvironment:
    """Outcomes: a goals string (new state), "finished", or ("failed", KIND)."""
    records: list[dict] = [{"type": "open", "theorem": "t", "statement": "", "goals": [root]}]
    for (goals, tactic), outcome in transitions.items():
        if outcome == "finished":
            result = {"kind": "finished"}
        elif isinstance(outcome, tuple):
            result = {"kind": "failed", "failure": outcome[1], "message": f"{outcome[1]}!"}
        else:
            result = {"kind": "state", "goals": [outcome]}
        records.append({"type": "tactic", "goals": goals, "tactic": tactic, "result": result})
    return ReplayEnvironment(records)
