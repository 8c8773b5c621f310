"""`--config FILE` and `--set KEY=VALUE` for any command line that builds a Config: the `prover`
commands and the performance harness (benchmarks/perf) alike."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from prover.config import Config, load_config, parse_assignment


def add_config_options(
    group: argparse.ArgumentParser | argparse._ArgumentGroup,
    example: str = "lean.tactic_timeout=30",
) -> None:
    """`--config FILE` and repeatable `--set KEY=VALUE`, read by `load_from_args`."""
    group.add_argument("--config", metavar="FILE", help="TOML configuration file")
    group.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override any config key, e.g. --set {example} (repeatable)",
    )


def load_from_args(
    args: argparse.Namespace,
    flag_keys: Mapping[str, str],
    extra: Mapping[str, Any] | None = None,
) -> Config:
    """The config file, then `--set`, then the flags named in `flag_keys`, then `extra`."""
    overrides: dict[str, Any] = dict(parse_assignment(text) for text in args.assignments)
    for dest, key in flag_keys.items():
        value = getattr(args, dest, None)
        if value is not None:
            overrides[key] = value
    overrides.update({k: v for k, v in (extra or {}).items() if v is not None})
    return load_config(args.config, overrides)
