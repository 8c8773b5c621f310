"""`prover runs`: list the runs in the results store, or export one as JSONL."""

from __future__ import annotations

import argparse
import io
import json
import sys
import time

from prover.config import StoreConfig
from prover.errors import InputError
from prover.paths import check_output_path, write_text


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "runs",
        help="list stored runs, or export one (--export RUN FILE)",
        description=__doc__,
        epilog="Example: prover runs --export llemma7b-test llemma7b-test.jsonl --trees",
    )
    p.add_argument("--store", metavar="DIR", help="results directory (default $PROVER_HOME)")
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.add_argument(
        "--export",
        nargs=2,
        metavar=("RUN", "FILE"),
        help="write RUN as JSONL to FILE ('-' for stdout): a run line, then one line per attempt",
    )
    p.add_argument("--trees", action="store_true", help="with --export: include search trees")
    p.add_argument("--delete", metavar="RUN", help="delete a run and its attempts")
    p.add_argument(
        "--force",
        action="store_true",
        help="with --delete: delete a run another host still marks as running",
    )
    p.set_defaults(run=run)


def check_args(args: argparse.Namespace) -> None:
    """Companion options: each needs its partner, and one action at a time."""
    if args.trees and not args.export:
        raise InputError("--trees goes with --export RUN FILE; add --export or drop --trees")
    if args.force and not args.delete:
        raise InputError("--force goes with --delete RUN; add --delete or drop --force")
    if args.export and args.delete:
        raise InputError("give either --export or --delete, not both (run the two commands)")
    if (args.export or args.delete) and args.json:
        raise InputError("--json formats the run list; drop it with --export/--delete")
    if args.export and args.export[1] != "-":
        check_output_path(args.export[1], "--export")


def run(args: argparse.Namespace) -> int:
    from benchmarks.store import Store

    check_args(args)
    home = args.store or StoreConfig().home
    if args.delete:
        with Store.at_home(home) as store:
            store.delete_run(args.delete, force=args.force)
        print(f"deleted run {args.delete}")
        return 0
    with Store.at_home(home, readonly=True) as store:
        if args.export:
            name, target = args.export
            store.require_run(name)
            if target == "-":
                count = store.export_jsonl(name, sys.stdout, trees=args.trees)
            else:
                text = io.StringIO()
                count = store.export_jsonl(name, text, trees=args.trees)
                write_text(target, text.getvalue(), "--export")
                print(f"exported run {name}: {count} attempts to {target}", file=sys.stderr)
            return 0
        runs = store.runs()
        if args.json:
            print(
                json.dumps(
                    [
                        {
                            "name": r.name,
                            "benchmark": r.benchmark,
                            "split": r.split,
                            "model": r.config.get("model"),
                            "environment": r.config.get("environment"),
                            "state": r.state,
                            "done": r.done,
                            "planned": r.planned,
                            "proved": r.proved,
                            "verified": r.verified,
                            "created": r.created,
                        }
                        for r in runs
                    ],
                    indent=1,
                )
            )
            return 0
        if not runs:
            print(f"no runs in {store.path} (start one with `prover bench`)")
            return 0
        rows = [
            (
                r.name,
                time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created)),
                f"{r.benchmark}/{r.split}",
                str(r.config.get("model")),
                str(r.config.get("environment")),
                r.state,
                f"{r.done}/{r.planned}",
                f"{r.verified}"
                + (f" (+{r.proved - r.verified} unchecked)" if r.proved > r.verified else ""),
            )
            for r in runs
        ]
        head = ("run", "created", "benchmark", "model", "env", "state", "done", "proved")
        widths = [max(len(x[i]) for x in (head, *rows)) for i in range(len(head))]
        for row in (head, *rows):
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        print(f"store: {store.path}")
    return 0
