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


def config_default(key: str) -> Any:
    """The default of a dotted config key, read from the config dataclasses (written once)."""
    config = Config()
    head, _, rest = key.partition(".")
    if not rest:
        return getattr(config, head)
    value: Any = config.section(head)  # a built-in section or a plug-in's (`lean`, `replay`)
    for part in rest.split("."):
        value = getattr(value, part)
    return value


def _shown(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, tuple):
        return ", ".join(map(str, value)) or "none"
    return str(value) if value not in ("", None) else "none"


def add_config_flag(
    group: Any, flag: str, key: str, help: str, *, shown: str | None = None, **kwargs: Any
) -> str:
    """A flag that sets config `key`; its help ends with the key and the config's own default
    (`shown` replaces a default that reads badly as a value). Returns the flag's dest."""
    default = shown if shown is not None else _shown(config_default(key))
    action = group.add_argument(flag, help=f"{help} ({key}, default {default})", **kwargs)
    return action.dest


def add_run_options(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Options every search-running command takes; each overrides the config file. Returns
    flag dest → the dotted config key it sets."""
    g = parser.add_argument_group("run")
    add_config_options(g)
    keys: dict[str, str] = {}

    def flag(group: Any, name: str, key: str, help: str, **kwargs: Any) -> None:
        keys[add_config_flag(group, name, key, help, **kwargs)] = key

    flag(g, "--env", "environment", "environment name (`prover list`)")
    flag(g, "--model", "model", "BACKEND:MODEL, e.g. hf:./my-model, openai:NAME@URL")
    flag(g, "--strategy", "strategy", "search strategy (`prover list`)")
    flag(g, "--trace", "replay.trace", "trace for the replay environment", metavar="FILE")
    flag(g, "--record", "record", "append every interaction to a replay trace", metavar="FILE")
    flag(g, "--store", "store.home", "results directory", metavar="DIR", shown="$PROVER_HOME")
    b = parser.add_argument_group("budget")
    flag(b, "--samples", "search.samples", "candidates per expansion", type=count(1, MAX_SAMPLES))
    flag(
        b,
        "--expansions",
        "search.max_expansions",
        "max expansions per theorem",
        type=count(1, MAX_EXPANSIONS),
    )
    flag(
        b,
        "--max-tactics",
        "search.max_tactics",
        "max tactics run per theorem",
        type=count(1, MAX_TACTICS),
    )
    flag(b, "--timeout", "search.wall_seconds", "wall seconds per theorem", type=seconds)
    flag(b, "--score", "search.score", "per-tactic score", choices=("mean", "sum"))
    flag(b, "--prompt", "search.prompt", "prompt template name")
    flag(b, "--temperature", "generation.temperature", "sampling temperature", type=float)
    flag(
        b,
        "--max-tokens",
        "generation.max_tokens",
        "max tokens per candidate",
        type=count(1, MAX_TOKENS),
    )
    parser.set_defaults(config_flags=keys)
    return keys


def config_from_args(args: argparse.Namespace, extra: dict[str, Any] | None = None) -> Config:
    """The config file, then `--set`, then the run flags, then `extra` (later wins)."""
    return load_from_args(args, getattr(args, "config_flags", {}), extra)


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
        if not config.section("replay").trace:
            raise InputError("the replay environment needs a trace: pass --trace FILE.jsonl")
        from environments.trace import read_trace

        for _ in read_trace(
            config.section("replay").trace
        ):  # every line parses, or the error names it
            pass
    if config.record and Path(config.record).expanduser().is_dir():
        raise InputError(f"--record '{config.record}' is a directory; pass a trace file path")
