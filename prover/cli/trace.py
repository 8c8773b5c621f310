"""`prover trace`: make replay traces, e.g. from Llemma's formal2formal outputs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from environments.llemma import generator_script, llemma_records
from environments.trace import TraceWriter
from prover.errors import InputError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("trace", help="make replay traces", description=__doc__)
    tsub = p.add_subparsers(dest="source", metavar="SOURCE", required=True)
    lp = tsub.add_parser("llemma", help="from Llemma formal2formal results JSON files")
    lp.add_argument("inputs", nargs="+", type=Path, help="results files or directories of them")
    lp.add_argument("--out", required=True, type=Path, help="trace file to write (JSONL)")
    lp.add_argument("--theorems", help="comma-separated names to keep (default all)")
    lp.add_argument(
        "--script", type=Path, help="also write a scripted-generator file offering the tactics"
    )
    lp.add_argument("--decoys", type=int, default=7, help="wrong tactics per state in --script")
    lp.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    for path in args.inputs:
        if not path.exists():
            raise InputError(f"'{path}' not found; pass Llemma results files or their directory")
    keep = {n.strip() for n in args.theorems.split(",")} if args.theorems else None
    records = [r for r in llemma_records(args.inputs) if keep is None or r["theorem"] in keep]
    if not records:
        raise InputError("no recorded states found in the inputs (or none matching --theorems)")
    if args.out.exists():
        args.out.unlink()
    writer = TraceWriter(args.out)
    try:
        for record in records:
            writer.write(record)
    finally:
        writer.close()
    opens = sum(r["type"] == "open" for r in records)
    print(f"wrote {len(records) - opens} tactic records for {opens} theorems to {args.out}")
    if args.script:
        script = generator_script(records, args.decoys)
        args.script.write_text(json.dumps(script, ensure_ascii=False, indent=1), encoding="utf-8")
        print(f"wrote a scripted-generator file ({args.decoys} decoys per state) to {args.script}")
    return 0
