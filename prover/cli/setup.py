"""`prover setup`: not implemented yet (tracked in the setupmarks issue)."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("setup", help="not implemented yet", description=__doc__)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    sys.stderr.write("prover: error: `prover setup` is not implemented yet\n")
    return 2
