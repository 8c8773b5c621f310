"""`prover doctor`: what is installed and usable, with the command that fixes each problem."""

from __future__ import annotations

import argparse
import json

from prover import registry
from prover.doctor import Check


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check what is installed and usable", description=__doc__)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=run)


def collect() -> list[Check]:
    checks: list[Check] = []
    for entry in registry.entries("check"):
        try:
            checks.extend(entry.load()())
        except Exception as exc:  # one broken check must not hide the others
            checks.append(Check(f"checks '{entry.name}'", False, f"failed: {exc}"))
    return checks


def run(args: argparse.Namespace) -> int:
    checks = collect()
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
