"""`prover bench`: run a benchmark split into the results store (resumable; locally or on Ray)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from prover.cli.options import (
    add_config_flag,
    add_run_options,
    check_run_inputs,
    config_default,
    config_from_args,
    count,
)
from prover.config import MAX_ATTEMPTS
from prover.errors import InputError

MAX_THEOREMS = 1_000_000  # --limit: far above any benchmark, refuses a runaway number
MAX_CONCURRENCY = 4096

if TYPE_CHECKING:
    from benchmarks.runner import Plan


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="run a benchmark (miniF2F) and store every attempt",
        description=__doc__,
        epilog="Example: prover bench minif2f-lean4 --split test --model vllm:EleutherAI/llemma_7b "
        "--concurrency 16 --run llemma7b-test ; then: prover report llemma7b-test",
    )
    p.add_argument(
        "benchmark",
        nargs="?",
        help=f"benchmark name (`prover list`), default {config_default('bench.benchmark')}",
    )
    sel = p.add_argument_group("theorems")
    add_config_flag(sel, "--split", "bench.split", "valid or test")
    sel.add_argument("--limit", type=count(1, MAX_THEOREMS), help="only the first N theorems")
    sel.add_argument("--shard", metavar="I/N", help="run every N-th theorem starting at I")
    sel.add_argument("--names", metavar="A,B,…", help="only these theorems (comma-separated)")
    sel.add_argument("--data", metavar="PATH", help="benchmark data file or directory")
    add_config_flag(
        sel,
        "--attempts",
        "bench.attempts",
        f"independent attempts per theorem (pass@k, k ≤ {MAX_ATTEMPTS})",
        type=count(1, MAX_ATTEMPTS),
    )
    sel.add_argument("--list", action="store_true", help="show what would run, then exit")
    runs = p.add_argument_group("benchmark run")
    runs.add_argument(
        "--run", dest="run_name", metavar="NAME", help="store results under this run name"
    )
    runs.add_argument("--resume", metavar="NAME", help="continue a run; finished attempts are kept")
    runs.add_argument(
        "--retry-errors",
        action="store_true",
        help="with --resume: run again the attempts that ended in error (e.g. a server was down)",
    )
    add_config_flag(
        runs,
        "--concurrency",
        "bench.concurrency",
        "theorems in flight",
        shown="0: the environment's capacity, e.g. lean.pool_size",
        type=count(1, MAX_CONCURRENCY),
    )
    add_config_flag(
        runs,
        "--display",
        "bench.display",
        "progress: bar, plain lines, none",
        choices=("bar", "plain", "none"),
    )
    runs.add_argument("--ray", action="store_true", default=None, help="run on a Ray cluster")
    add_config_flag(
        runs,
        "--ray-address",
        "bench.ray_address",
        "Ray cluster address",
        shown="a local Ray instance",
        metavar="ADDR",
    )
    add_run_options(p)
    p.set_defaults(run=run)


def check_args(args: argparse.Namespace) -> None:
    """Companion options and empty selections, refused before anything is loaded or started."""
    if args.ray_address is not None and not args.ray:
        raise InputError("--ray-address goes with --ray; add --ray or drop --ray-address")
    if args.retry_errors and not args.resume:
        raise InputError("--retry-errors goes with --resume NAME")
    if args.retry_errors and args.list:
        raise InputError(
            "--list only shows what would run and changes nothing; drop --retry-errors to list"
        )
    if args.names is not None and not [n for n in args.names.split(",") if n.strip()]:
        raise InputError(
            "--names is empty; give theorem names separated by commas (`--list` shows them), "
            "or drop --names to run them all"
        )
    if args.run_name is not None and not args.run_name.strip():
        raise InputError("--run needs a non-empty NAME")


def run(args: argparse.Namespace) -> int:
    from benchmarks.runner import plan
    from benchmarks.runner import run as execute
    from benchmarks.store import Store
    from prover.statements import check_statement

    check_args(args)
    config = config_from_args(
        args,
        {
            "bench.benchmark": args.benchmark,
            "bench.split": args.split,
            "bench.limit": args.limit,
            "bench.shard": args.shard,
            "bench.names": args.names,
            "bench.data": args.data,
            "bench.attempts": args.attempts,
            "bench.concurrency": args.concurrency,
            "bench.display": args.display,
            "bench.ray": args.ray,
            "bench.ray_address": args.ray_address,
        },
    )
    # Everything is checked against a read-only store first: bad input changes nothing.
    with Store.at_home(config.store.home, readonly=True) as reader:
        the_plan = plan(config, reader, run=args.run_name, resume=args.resume)
    if args.list:
        _print_plan(the_plan)
        return 0
    check_run_inputs(args, the_plan.config)
    for theorem in the_plan.mine:
        check_statement(theorem.statement, theorem.language)
    with Store.at_home(config.store.home) as store:
        if args.retry_errors:
            forgotten = store.forget_errors(args.resume)
            print(f"run {args.resume}: {forgotten} attempts that ended in error will run again")
        # Again on the store as it is now (another shard, or the forgotten errors).
        the_plan = plan(config, store, run=args.run_name, resume=args.resume)
        if not the_plan.pending:
            print(
                f"run {the_plan.name}: nothing to do — every selected attempt is already stored "
                f"({store.path}); see `prover report {the_plan.name}`"
            )
            return 0
        outcome = execute(the_plan, store)
        info = store.require_run(the_plan.name)
    t = outcome.tally
    unchecked = f", {t.unverified} proved but unchecked" if t.unverified else ""
    print(
        f"run {outcome.run}: {outcome.recorded} attempts recorded this time; "
        f"{info.done}/{info.planned} stored — {t.proved} verified proofs{unchecked}, "
        f"{t.failed} failed, {t.errors} errors (store: {store.path})"
    )
    if outcome.interrupted:
        sys.stderr.write(
            f"prover: interrupted; continue with `prover bench --resume {outcome.run}`\n"
        )
        return 130
    if not outcome.complete:
        print(f"run {outcome.run} is not complete yet; continue with --resume {outcome.run}")
    if t.errors:
        print(
            f"{t.errors} attempts ended in error (`prover report {outcome.run}` shows why); "
            f"once fixed, run them again with --resume {outcome.run} --retry-errors"
        )
    print(f"report: prover report {outcome.run}")
    return 0


def _print_plan(p: Plan) -> None:
    from benchmarks.categories import category

    describe = p.benchmark.describe()
    config = p.config
    sources = ", ".join(f"{s['repository']}@{s['commit'][:8]}" for s in describe.get("sources", []))
    print(f"benchmark {p.benchmark.name} ({config.bench.split}): {sources or describe}")
    if describe.get("sha256"):
        print(f"  data {describe.get('path')} sha256 {describe['sha256']}")
    if describe.get("toolchain"):
        print(f"  statements written for Lean {describe['toolchain']}")
        check = getattr(p.benchmark, "check_project", None)
        if callable(check):
            try:
                check(config)
            except InputError as exc:
                print(f"  WARNING: {exc}")
    shard = f", shard {config.bench.shard}" if config.bench.shard else ""
    state = f"continuing run {p.name}" if p.existing else f"new run {p.name}"
    print(
        f"{state}: {len(p.theorems)} theorems × {config.bench.attempts} attempt(s){shard}; "
        f"{len(p.pending)} attempt(s) to run here with env={config.environment} "
        f"model={config.model} strategy={config.strategy}"
    )
    # One line per theorem (not per attempt): the listing stays as long as the benchmark.
    attempts: dict[str, list[int]] = {}
    for theorem, attempt in p.pending:
        attempts.setdefault(theorem.name, []).append(attempt)
    for name, numbers in attempts.items():
        suffix = f"  {_ranges(numbers)}" if config.bench.attempts > 1 else ""
        print(f"  {name}  [{category(name)}]{suffix}")


def _ranges(numbers: list[int]) -> str:
    """'#0-3,#7' for [0, 1, 2, 3, 7]."""
    spans: list[list[int]] = []
    for n in sorted(numbers):
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ",".join(f"#{a}" if a == b else f"#{a}-{b}" for a, b in spans)
