"""Flags shared by the commands that run searches, and their mapping onto the config object."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prover.config import (
    MAX_EXPANSIONS,
    MAX_SAMPLES,
    MAX_TACTICS,
    MAX_TOKENS,
    Config,
)
from prover.config_args import add_config_options, load_from_args
from prover.errors import InputError

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


def count(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer in [low, high], else a one-line usage error."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, not {value}")
        return value

    parse.__name__ = "count"
    return parse


def seconds(text: str) -> float:
    """An argparse type: a positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, not {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text}")
    return value


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
    b.add_argument(
        "--samples", type=count(1, MAX_SAMPLES), help="candidates per expansion (default 32)"
    )
    b.add_argument(
        "--expansions",
        type=count(1, MAX_EXPANSIONS),
        help="max expansions per theorem (default 100)",
    )
    b.add_argument(
        "--max-tactics",
        type=count(1, MAX_TACTICS),
        help="max tactics run per theorem (default 3200)",
    )
    b.add_argument("--timeout", type=seconds, help="wall seconds per theorem (default 600)")
    b.add_argument("--score", choices=("mean", "sum"), help="per-tactic score (default mean)")
    b.add_argument("--prompt", help="prompt template name (default llemma)")
    b.add_argument("--temperature", type=float, help="sampling temperature")
    b.add_argument("--max-tokens", type=count(1, MAX_TOKENS), help="max tokens per candidate")


def config_from_args(args: argparse.Namespace, extra: dict[str, Any] | None = None) -> Config:
    """The config file, then `--set`, then the run flags, then `extra` (later wins)."""
    return load_from_args(args, _FLAG_KEYS, extra)


def check_run_inputs(args: argparse.Namespace, config: Config) -> None:
    """Names, files and companion flags of a search-running command, checked before anything
    starts (the same name checks `components` makes, here before any file is read)."""
    from prover import registry
    from prover.run import split_model_spec

    registry.entry("environment", config.environment)
    registry.entry("generator", split_model_spec(config.model)[0])
    registry.entry("strategy", config.strategy)

    if getattr(args, "trace", None) is not None and config.environment != "replay":
        raise InputError(
            f"--trace is the replay environment's input, but the environment is "
            f"{config.environment}; add --env replay or drop --trace"
        )
    if config.environment == "replay":
        if not config.replay.trace:
            raise InputError("the replay environment needs a trace: pass --trace FILE.jsonl")
        from environments.trace import read_trace

        for _ in read_trace(config.replay.trace):  # every line parses, or the error names it
            pass
    if config.record and Path(config.record).expanduser().is_dir():
        raise InputError(f"--record '{config.record}' is a directory; pass a trace file path")
