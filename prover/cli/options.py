"""Flags shared by the commands that run searches, and their mapping onto the config object."""

from __future__ import annotations

import argparse
from typing import Any

from prover.config import Config
from prover.config_args import add_config_options, load_from_args

# flag dest → dotted config key
_FLAG_KEYS: dict[str, str] = {
    "env": "environment",
    "model": "model",
    "strategy": "strategy",
    "record": "record",
    "trace": "replay.trace",
    "samples": "search.samples",
    "expansions": "search.max_expansions",
    "max_tactics": "search.max_tactics",
    "timeout": "search.wall_seconds",
    "score": "search.score",
    "prompt": "search.prompt",
    "temperature": "generation.temperature",
    "max_tokens": "generation.max_tokens",
    "store": "store.home",
}


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """Options every search-running command takes; each overrides the config file."""
    g = parser.add_argument_group("run")
    add_config_options(g)
    g.add_argument("--env", help="environment name (`prover list`), e.g. lean-repl, replay")
    g.add_argument("--model", help="BACKEND:MODEL, e.g. vllm:EleutherAI/llemma_7b, hf:./my-model")
    g.add_argument("--strategy", help="search strategy, e.g. best-first")
    g.add_argument("--trace", metavar="FILE", help="trace for the replay environment")
    g.add_argument("--record", metavar="FILE", help="append every interaction to a replay trace")
    g.add_argument("--store", metavar="DIR", help="results directory (default $PROVER_HOME)")
    b = parser.add_argument_group("budget")
    b.add_argument("--samples", type=int, help="candidates per expansion (default 32)")
    b.add_argument("--expansions", type=int, help="max expansions per theorem (default 100)")
    b.add_argument("--max-tactics", type=int, help="max tactics run per theorem (default 3200)")
    b.add_argument("--timeout", type=float, help="wall seconds per theorem (default 600)")
    b.add_argument("--score", choices=("mean", "sum"), help="per-tactic score (default mean)")
    b.add_argument("--prompt", help="prompt template name (default llemma)")
    b.add_argument("--temperature", type=float, help="sampling temperature")
    b.add_argument("--max-tokens", type=int, help="max tokens per candidate")


def config_from_args(args: argparse.Namespace, extra: dict[str, Any] | None = None) -> Config:
    """The config file, then `--set`, then the run flags, then `extra` (later wins)."""
    return load_from_args(args, _FLAG_KEYS, extra)
