"""`python -m benchmarks.perf {scheduler,overhead,ci}`: the performance harness."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from benchmarks.perf import ci, overhead, scenario, scheduler
from prover.errors import InputError

_COMMANDS = {
    "scenario": (scenario, "K theorems through the real lean-repl code on simulated processes"),
    "scheduler": (scheduler, "what-if study on interchangeable simulated workers (not Lean)"),
    "overhead": (overhead, "tactic results per second with zero-latency stand-ins, one core"),
    "ci": (ci, "the CI run: every figure the targets are judged on (real lean-repl code)"),
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.perf",
        description="Performance harness: the real lean-repl code on simulated REPL processes "
        "and a simulated GPU.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, help_text) in _COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=module.__doc__)
        module.add_arguments(p)
        p.set_defaults(run=module.run)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except InputError as exc:
        sys.stderr.write(f"{parser.prog}: error: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
