"""`prover list`: every registered plug-in and the distribution that provides it."""

from __future__ import annotations

import argparse
import json

from prover import registry


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list installed plug-ins", description=__doc__)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    kinds = {kind: registry.entries(kind) for kind in registry.iter_kinds()}
    doubles = [e for es in kinds.values() for e in es if e.test_double]
    if args.json:
        out = {
            registry.PLURALS[kind]: [
                {"name": e.name, "distribution": e.distribution, "value": e.value}
                for e in es
                if not e.test_double
            ]
            for kind, es in kinds.items()
        }
        out["test_doubles"] = [{"kind": e.kind, "name": e.name} for e in doubles]
        print(json.dumps(out, indent=1))
        return 0
    for kind, es in kinds.items():
        print(f"{registry.PLURALS[kind]}:")
        shown = [e for e in es if not e.test_double]
        width = max((len(e.name) for e in shown), default=0)
        for e in shown:
            print(f"  {e.name:<{width}}  ({e.distribution})")
        if not shown:
            print("  (none)")
    if doubles:
        names = ", ".join(f"{e.kind} '{e.name}'" for e in doubles)
        print(f"test doubles (for tests and demos, not models): {names}")
    return 0
