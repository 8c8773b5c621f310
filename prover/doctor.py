"""Checks behind `prover doctor`. Backends contribute theirs through the `prover.checks` group."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from prover.errors import ConfigError


@dataclass(frozen=True)
class Check:
    """One line of `prover doctor`: ok, or what is wrong and the exact command that fixes it."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = False


def package_version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def module_present(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


# extra → distributions it needs (import names differ from distribution names for some)
EXTRAS: dict[str, tuple[str, ...]] = {
    "hf": ("transformers", "torch"),
    "vllm": ("vllm",),
    "lean-dojo": ("lean-dojo",),
    "isabelle": ("grpcio", "protobuf"),
    "ray": ("ray",),
    "report": ("matplotlib",),
}


def core_checks() -> list[Check]:
    """Python, the core packages, and which extras are usable."""
    py = sys.version_info
    checks = [
        Check(
            "python",
            py >= (3, 10),
            f"{py.major}.{py.minor}.{py.micro} ({sys.executable})",
            "install Python 3.10 or newer",
            required=True,
        )
    ]
    for dist in ("networkx", "tqdm"):
        version = package_version(dist)
        checks.append(
            Check(dist, version is not None, version or "missing", f"pip install {dist}", True)
        )
    for extra, dists in EXTRAS.items():
        missing = [d for d in dists if package_version(d) is None]
        detail = (
            "usable (" + ", ".join(f"{d} {package_version(d)}" for d in dists) + ")"
            if not missing
            else "missing " + ", ".join(missing)
        )
        checks.append(
            Check(f"extra [{extra}]", not missing, detail, f"pip install 'prover[{extra}]'")
        )
    return checks


def run_checks(function: Callable[..., Iterable[Check]], name: str, config: Any) -> list[Check]:
    """The checks of one `prover.checks` entry. An entry named like a section of the config
    (`isabelle`, `lean`, …) whose function takes an argument gets that section of `config`, so
    doctor checks what a run with the same `--config`/`--set` would use."""
    section = None
    if config is not None:
        try:
            section = config.section(name.replace("-", "_"))
        except ConfigError:  # a check with no section of its own (`core`, `models`)
            section = None
    if section is not None and inspect.signature(function).parameters:
        return list(function(section))
    return list(function())
