"""Test doubles. The scripted generator offers given tactics with given log-probs: not a model.

Script file (JSON):
    {"states": {"<pretty goals>": [{"text": "linarith", "logprob": -0.5, "num_tokens": 2}, ...]},
     "default": [...]}
A prompt is answered with the entry of the longest state text it contains, else `default`; a
chat prompt (`Chat`) is matched on the text of its last user message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from prover.config import Config
from prover.errors import InputError
from prover.protocols import GenerationParams
from prover.types import Candidate, Chat, Prompt


def _last_user(chat: Chat) -> str:
    """A chat prompt is matched on its last user message (what the model is answering)."""
    users = [m.content for m in chat.messages if m.role == "user"]
    return users[-1] if users else ""


def _candidates(rows: Sequence[Mapping[str, Any]], where: str) -> tuple[Candidate, ...]:
    out = []
    for row in rows:
        try:
            text = str(row["text"])
            logprob = float(row.get("logprob", 0.0))
            tokens = int(row.get("num_tokens", max(1, len(text.split()))))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"scripted generator: bad candidate {row!r} in {where}") from exc
        out.append(Candidate(text, logprob, tokens))
    return tuple(out)


class ScriptedGenerator:
    """Answers each prompt from a fixed script; records every prompt it was sent."""

    name = "scripted"

    def __init__(
        self,
        states: Mapping[str, Sequence[Candidate]],
        default: Sequence[Candidate] = (),
    ) -> None:
        self.states = {k: tuple(v) for k, v in states.items()}
        self.default = tuple(default)
        self._keys = sorted(self.states, key=len, reverse=True)
        self.prompts: list[Prompt] = []

    @classmethod
    def from_file(cls, path: str | Path) -> ScriptedGenerator:
        p = Path(path)
        if not p.is_file():
            raise InputError(
                f"scripted generator: script '{p}' not found; use --model scripted:FILE"
            )
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(f"scripted generator: '{p}' is not valid JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise InputError(f"scripted generator: '{p}' must hold a JSON object")
        states = {
            key: _candidates(rows, f"{p} state") for key, rows in data.get("states", {}).items()
        }
        return cls(states, _candidates(data.get("default", []), f"{p} default"))

    async def generate(
        self, prompt: Prompt, n: int, params: GenerationParams | None = None
    ) -> list[Candidate]:
        self.prompts.append(prompt)
        text = prompt if isinstance(prompt, str) else _last_user(prompt)
        for key in self._keys:
            if key in text:
                return list(self.states[key][:n])
        return list(self.default[:n])

    async def close(self) -> None:
        return None


def create_scripted(spec: str, config: Config) -> ScriptedGenerator:
    """Entry point: `--model scripted:SCRIPT.json`."""
    if not spec:
        raise InputError("the scripted generator needs a script: --model scripted:SCRIPT.json")
    return ScriptedGenerator.from_file(spec)
