"""`prover trace`: make replay traces, e.g. from Llemma's formal2formal outputs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from environments.llemma import generator_script, llemma_records
from prover.cli.options import count
from prover.errors import InputError
from prover.paths import check_output_path, write_text

MAX_DECOYS = 1000  # wrong tactics per recorded state; the script grows with states × decoys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("trace", help="make replay traces", description=__doc__)
    tsub = p.add_subparsers(dest="source", metavar="SOURCE", required=True)
    lp = tsub.add_parser("llemma", help="from Llemma formal2formal results JSON files")
    lp.add_argument(
        "inputs",
        nargs="*",
        type=Path,
        help="results files or directories of them (default: Llemma's runs shipped with prover)",
    )
    lp.add_argument("--out", required=True, type=Path, help="trace file to write (JSONL)")
    lp.add_argument("--theorems", help="comma-separated names to keep (default all)")
    lp.add_argument(
        "--script", type=Path, help="also write a scripted-generator file offering the tactics"
    )
    lp.add_argument(
        "--decoys",
        type=count(0, MAX_DECOYS),
        default=7,
        help=f"wrong tactics per state in --script (0…{MAX_DECOYS}, default 7)",
    )
    lp.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not args.inputs:
        from benchmarks.data import package_data

        args.inputs = [package_data() / "llemma_formal2formal"]
    for path in args.inputs:
        if not path.exists():
            raise InputError(f"'{path}' not found; pass Llemma results files or their directory")
    check_output_path(args.out, "--out")
    if args.script is not None:
        check_output_path(args.script, "--script")
        if args.script.expanduser().resolve() == args.out.expanduser().resolve():
            raise InputError("--script and --out name the same file; give two different paths")
    keep = None
    if args.theorems is not None:
        keep = {n.strip() for n in args.theorems.split(",") if n.strip()}
        if not keep:
            raise InputError("--theorems is empty; give names separated by commas, or drop it")
    records = [r for r in llemma_records(args.inputs) if keep is None or r["theorem"] in keep]
    if not records:
        raise InputError("no recorded states found in the inputs (or none matching --theorems)")
    # Written whole, so a failure (a full disk) leaves no half-written trace behind.
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    write_text(args.out, lines, "--out")
    opens = sum(r["type"] == "open" for r in records)
    print(f"wrote {len(records) - opens} tactic records for {opens} theorems to {args.out}")
    if args.script:
        script = generator_script(records, args.decoys)
        write_text(args.script, json.dumps(script, ensure_ascii=False, indent=1), "--script")
        print(f"wrote a scripted-generator file ({args.decoys} decoys per state) to {args.script}")
    return 0
