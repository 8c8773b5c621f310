"""The `prover` command line: one module per sub-command, each with `add_parser` and `run`."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Sequence

from prover.errors import InputError, ProverError

# Sub-command modules, in the order `prover --help` lists them.
COMMANDS: tuple[str, ...] = (
    "prove",
    "check",
    "bench",
    "runs",
    "report",
    "list",
    "doctor",
    "setup",
    "trace",
)


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (exit 2) instead of usage + message."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="prover",
        description="Theorem-proving agent for Lean 4 and Isabelle: search, verify, benchmark.",
    )
    from prover import __version__

    parser.add_argument("--version", action="version", version=f"prover {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        module = importlib.import_module(f"prover.cli.{name}")
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args))
    except InputError as exc:
        sys.stderr.write(f"prover: error: {exc}\n")
        return 2
    except ProverError as exc:
        sys.stderr.write(f"prover: error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("prover: interrupted\n")
        return 130
    except BrokenPipeError:
        # The reader went away (`prover … | head`): stop quietly, as other Unix tools do.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silences the flush at exit
        return 0
    except OSError as exc:
        # A path the user gave cannot be read or written (missing directory, permissions …).
        where = f" '{exc.filename}'" if exc.filename else ""
        sys.stderr.write(
            f"prover: error: cannot use{where}: {exc.strerror or exc}; check the path\n"
        )
        return 2
    except Exception as exc:
        if os.environ.get("PROVER_DEBUG"):
            raise
        sys.stderr.write(
            f"prover: internal error: {type(exc).__name__}: {exc} "
            "(set PROVER_DEBUG=1 for the traceback and please report it)\n"
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
