"""`prover report RUN [RUN…]`: pass rates with 95% intervals, pass@k, categories, comparisons."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from prover.config import StoreConfig
from prover.errors import InputError
from prover.paths import check_output_path, os_error_message, write_text


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="report on stored runs (markdown, JSON or a self-contained HTML page)",
        description=__doc__,
        epilog="Example: prover report llemma7b-test mine-test --format html --out report.html",
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="run names (`prover runs` lists them)")
    p.add_argument("--format", choices=("md", "json", "html"), default="md", help="default md")
    p.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout")
    p.add_argument("--store", metavar="DIR", help="results directory (default $PROVER_HOME)")
    p.add_argument(
        "--include-unverified",
        action="store_true",
        help="also count proofs no whole-proof checker accepted (stand-in environments)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from benchmarks.report import build, to_markdown
    from benchmarks.store import Store

    if args.out:
        check_output_path(args.out, "--out")
    home = args.store or StoreConfig().home
    with Store.at_home(home, readonly=True) as store:
        report = build(store, args.runs, include_unverified=args.include_unverified)
        if args.format == "json":
            text = json.dumps(report.to_json(), ensure_ascii=False, indent=1) + "\n"
        elif args.format == "html":
            from benchmarks.html_report import to_html

            # Whole search trees go to pages next to the report (only when writing a file).
            pages: dict[str, str] | None = {} if args.out else None
            tree_dir = f"{Path(args.out).stem}-trees" if args.out else ""
            text = to_html(report, store.tree, tree_pages=pages, tree_dir=tree_dir)
            if pages:
                folder = Path(args.out).parent / tree_dir
                try:
                    folder.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise InputError(os_error_message(exc, "--out", folder)) from exc
                for file, page in pages.items():
                    write_text(folder / file, page, "--out")
        else:
            text = to_markdown(report)
    if args.out:
        write_text(args.out, text, "--out")
        print(f"wrote {args.format} report to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
