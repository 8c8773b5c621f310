"""`prover prove`: prove one theorem and report it (exit 0 proved, 1 not proved, 2 bad input)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from prover import registry
from prover.cli.options import add_run_options, check_run_inputs, config_from_args
from prover.config import Config
from prover.errors import InputError
from prover.language import check_language, language, language_of
from prover.paths import check_output_path, write_text
from prover.run import attempt, components
from prover.statements import theorem_from_file, theorem_from_statement
from prover.types import Language, SearchResult, Theorem


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prove", help="prove one theorem", description=__doc__)
    p.add_argument("statement", nargs="?", help="a statement 'theorem NAME … := by'")
    src = p.add_argument_group("theorem source (instead of a statement)")
    src.add_argument("--file", metavar="F", help="a Lean file holding the theorem")
    src.add_argument("--theorem", metavar="NAME", help="the theorem's name in --file")
    src.add_argument("--benchmark", metavar="B", help="a benchmark name (`prover list`)")
    src.add_argument("--name", metavar="NAME", help="the theorem's name in --benchmark")
    src.add_argument(
        "--language",
        metavar="NAME",
        help="language of a statement: lean4, isabelle or a plug-in's "
        "(default: the one --env proves, else lean4)",
    )
    src.add_argument("--data", metavar="PATH", help="benchmark data file or directory")
    add_run_options(p)
    out = p.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="print one JSON object")
    out.add_argument("--tree", metavar="FILE", help="write the search tree as JSON")
    p.set_defaults(run=run)


def check_sources(args: argparse.Namespace) -> None:
    """Each theorem-source option needs its partner: refused before anything is loaded."""
    if args.theorem is not None and not args.file:
        raise InputError("--theorem NAME goes with --file F; add --file or drop --theorem")
    if args.name is not None and not args.benchmark:
        raise InputError("--name NAME goes with --benchmark B; add --benchmark or drop --name")
    if args.data is not None and not args.benchmark:
        raise InputError("--data goes with --benchmark B; add --benchmark or drop --data")
    if args.language is not None and args.statement is None:
        raise InputError(
            "--language is for a statement given inline; drop it with --file/--benchmark"
        )


def resolve_theorem(args: argparse.Namespace, config: Config) -> Theorem:
    sources = [bool(args.statement is not None), bool(args.file), bool(args.benchmark)]
    if sum(sources) != 1:
        raise InputError(
            "give exactly one theorem source: a statement, --file F --theorem NAME, "
            "or --benchmark B --name NAME"
        )
    if args.file:
        if not args.theorem:
            raise InputError("--file needs --theorem NAME")
        return theorem_from_file(args.file, args.theorem)
    if args.benchmark:
        if not args.name:
            raise InputError("--benchmark needs --name NAME")
        factory = registry.load("benchmark", args.benchmark)
        bench = factory(config)
        for split in bench.splits:
            for theorem in bench.theorems(split):
                if theorem.name == args.name:
                    return theorem
        raise InputError(f"no theorem '{args.name}' in benchmark '{args.benchmark}'")
    if args.language:
        spec = language(args.language)
    else:
        spec = language_of(config.environment) or language(Language.LEAN4)
    return theorem_from_statement(args.statement, header=spec.header(config), language=spec.name)


async def _prove(theorem: Theorem, config: Config) -> SearchResult:
    async with components(config) as parts:
        return await attempt(theorem, parts, config.search.budget())


def run(args: argparse.Namespace) -> int:
    check_sources(args)
    config = config_from_args(args, {"bench.data": args.data})
    if args.tree:
        check_output_path(args.tree, "--tree")
    theorem = resolve_theorem(args, config)
    # Everything the run reads is checked before an environment or a model starts.
    check_language(theorem.language, config.environment)
    check_run_inputs(args, config)
    result = asyncio.run(_prove(theorem, config))
    if args.tree:
        write_text(args.tree, json.dumps(result.tree or {}, ensure_ascii=False, indent=1), "--tree")
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False))
    else:
        _print_human(result)
    return 0 if result.proved else 1


def _print_human(result: SearchResult) -> None:
    s = result.stats
    print(f"{result.theorem}: {result.status.value}")
    if result.proof is not None:
        by = result.verified_by or "?"
        check = "verified" if result.verified else "NOT verified"
        print(f"proof ({check} by {by}):")
        for line in result.proof.splitlines():
            print(f"  {line}")
    if result.error:
        print(f"error: {result.error}", file=sys.stderr)
    print(
        f"{s.expansions} expansions, {s.tactics_run} tactics, {s.model_calls} model calls, "
        f"{s.tokens} tokens; {s.total_seconds:.2f}s (model {s.model_seconds:.2f}s, "
        f"env {s.env_seconds:.2f}s, search {s.search_seconds:.2f}s); stop: {s.stop_reason}"
    )
