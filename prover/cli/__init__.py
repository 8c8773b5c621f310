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

    as_json = False  # set on a subclass when the command line holds --json

    def error(self, message: str) -> None:  # type: ignore[override]
        _report(f"{message} (see `{self.prog} --help`)", 2, self.as_json, prog=self.prog)
        raise SystemExit(2)


class _JsonParser(_Parser):
    """The parser for a command line that asked for --json: its own errors are JSON too."""

    as_json = True


def _report(message: str, code: int, as_json: bool, *, prog: str = "prover") -> None:
    """The one-line error on stderr and, with --json, a JSON object on stdout as well."""
    line = " ".join(message.split())  # one line, whatever the message held
    sys.stderr.write(f"{prog}: error: {line}\n")
    if as_json:
        import json

        sys.stdout.write(json.dumps({"error": line, "exit_code": code}, ensure_ascii=False) + "\n")


def build_parser(*, as_json: bool = False) -> argparse.ArgumentParser:
    cls = _JsonParser if as_json else _Parser
    parser = cls(
        prog="prover",
        description="Theorem-proving agent for Lean 4 and Isabelle: search, verify, benchmark.",
    )
    from prover import __version__

    parser.add_argument("--version", action="version", version=f"prover {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=cls)
    for name in COMMANDS:
        module = importlib.import_module(f"prover.cli.{name}")
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Not `list(...)`: importing the `list` sub-command rebinds that name in this package.
    words = [*(sys.argv[1:] if argv is None else argv)]
    parser = build_parser(as_json="--json" in words)
    try:
        args = parser.parse_args(words)
    except SystemExit as exc:  # --help, --version, or a usage error already reported
        return exc.code if isinstance(exc.code, int) else 2
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    as_json = bool(getattr(args, "json", False))
    try:
        return int(args.run(args))
    except InputError as exc:
        _report(str(exc), 2, as_json)
        return 2
    except ProverError as exc:
        code = int(getattr(exc, "exit_code", 1))
        _report(str(exc), code, as_json)
        return code
    except UnicodeDecodeError as exc:
        # A reader that did not say which file: still one line, and it is the input's fault.
        _report(f"an input is not UTF-8 text ({exc.reason} at byte {exc.start})", 2, as_json)
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("prover: interrupted\n")
        return 130
    except BrokenPipeError:
        # The reader went away (`prover … | head`): stop quietly, as other Unix tools do.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silences the flush at exit
        return 0
    except OSError as exc:
        # A path the user gave cannot be read or written (missing directory, full disk …).
        from prover.paths import os_error_message

        _report(os_error_message(exc), 2, as_json)
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
