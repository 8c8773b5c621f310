"""`prover doctor`: what is installed and usable, with the command that fixes each problem."""

from __future__ import annotations

import argparse
import json

from prover import registry
from prover.cli.options import add_config_options, load_from_args
from prover.config import Config
from prover.doctor import Check, run_checks


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check what is installed and usable", description=__doc__)
    p.add_argument("--json", action="store_true", help="print JSON")
    # The same config a run reads, so the ports, servers and paths checked are the run's.
    add_config_options(p, example="isabelle.ports=[8000,8001]")
    p.set_defaults(run=run)


def collect(config: Config | None = None) -> list[Check]:
    """Every registered check; those named like a config section see that section of `config`."""
    from prover.sandbox import doctor_check

    checks: list[Check] = [doctor_check((config or Config()).sandbox)]
    for entry in registry.entries("check"):
        try:
            checks.extend(run_checks(entry.load(), entry.name, config))
        except Exception as exc:  # one broken check must not hide the others
            checks.append(Check(f"checks '{entry.name}'", False, f"failed: {exc}"))
    return checks


def run(args: argparse.Namespace) -> int:
    checks = collect(load_from_args(args, {}))
    if args.json:
        print(json.dumps([c.__dict__ for c in checks], indent=1))
    else:
        width = max(len(c.name) for c in checks)
        for c in checks:
            mark = "ok " if c.ok else "-- "
            line = f"{mark} {c.name:<{width}}  {c.detail}"
            if not c.ok and c.fix:
                line += f"\n    {'':<{width}}  fix: {c.fix}"
            print(line)
    return 0 if all(c.ok for c in checks if c.required) else 1
