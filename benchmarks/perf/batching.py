"""Does the `hf` micro-batching queue pay off? Candidates per second for concurrent searches.

`python -m benchmarks.perf.batching` builds the tiny random Llama model (or takes --model-dir),
then sends the same requests twice through the real `hf` generator on the CPU:
  batched     --searches tasks at once, each making --calls generate calls in turn (as concurrent
              best-first searches do), so the queue merges their requests into shared batches;
  one by one  the same requests, awaited one after another, so every batch holds one request.
Each request renders a distinct goal state with the Llemma prompt and asks for --samples
candidates of up to --max-tokens tokens. The figure reported is the median of --repeats runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from prover.config import Config, load_config
from prover.generators.hf import HfGenerator, load
from prover.generators.tiny import build_tiny_llama
from prover.prompts import template
from prover.protocols import GenerationParams
from prover.types import ProofState


@dataclass(frozen=True)
class Measurement:
    """One mode's result: throughput and how requests were grouped."""

    mode: str
    seconds: float
    candidates: int
    tokens: int
    batches: int

    @property
    def candidates_per_second(self) -> float:
        return self.candidates / self.seconds if self.seconds > 0 else 0.0


def prompts(searches: int, calls: int, prompt: str = "llemma") -> list[list[str]]:
    """Distinct prompts in template `prompt`: `calls` per search, for `searches` searches."""
    tmpl = template(prompt)
    out = []
    for s in range(searches):
        row = []
        for c in range(calls):
            goals = f"x y : ℝ\nh₀ : x + {s} * y = {c + 7}\nh₁ : x - y = {s + c}\n⊢ x = {s * c + 1}"
            row.append(tmpl.render(ProofState((goals,)), None))
        out.append(row)
    return out


async def _batched(gen: HfGenerator, work: list[list[str]], n: int, params: GenerationParams):
    async def search(requests: list[str]) -> list[int]:
        return [sum(c.num_tokens for c in await gen.generate(p, n, params)) for p in requests]

    return await asyncio.gather(*(search(requests) for requests in work))


async def _one_by_one(gen: HfGenerator, work: list[list[str]], n: int, params: GenerationParams):
    return [[sum(c.num_tokens for c in await gen.generate(p, n, params)) for p in r] for r in work]


async def measure(
    gen: HfGenerator, mode: str, work: list[list[str]], n: int, params: GenerationParams
) -> Measurement:
    """Run every request of `work` in `mode` ('batched' or 'one by one') and time it."""
    before = gen.batcher.stats.batches
    start = time.perf_counter()
    runner = _batched if mode == "batched" else _one_by_one
    tokens = await runner(gen, work, n, params)
    seconds = time.perf_counter() - start
    count = sum(len(r) for r in work) * n
    return Measurement(
        mode, seconds, count, sum(map(sum, tokens)), gen.batcher.stats.batches - before
    )


@dataclass(frozen=True)
class Setup:
    """The workload: searches x calls requests of `samples` candidates each."""

    searches: int = 8
    calls: int = 4
    samples: int = 4
    max_tokens: int = 32
    repeats: int = 3
    prompt: str = "llemma"


async def run(model_dir: Path, config: Config, setup: Setup) -> dict[str, Any]:
    """Both modes, `setup.repeats` times each (alternating), on one loaded model."""
    gen = load(str(model_dir), config)
    params = GenerationParams(temperature=1.0, top_p=0.95, max_tokens=setup.max_tokens)
    work = prompts(setup.searches, setup.calls, setup.prompt)
    n = setup.samples
    try:
        await gen.generate(work[0][0], n, params)  # warm-up: first-call allocations
        runs: dict[str, list[Measurement]] = {"batched": [], "one by one": []}
        for _ in range(setup.repeats):
            for mode in runs:
                runs[mode].append(await measure(gen, mode, work, n, params))
    finally:
        await gen.close()
    median = {
        mode: sorted(ms, key=lambda m: m.candidates_per_second)[len(ms) // 2]
        for mode, ms in runs.items()
    }
    ratio = median["batched"].candidates_per_second / median["one by one"].candidates_per_second
    return {
        "setup": asdict(setup),
        "max_batch_size": config.hf.max_batch_size,
        "max_wait_ms": config.hf.max_wait_ms,
        "median": {
            mode: asdict(m) | {"candidates_per_second": m.candidates_per_second}
            for mode, m in median.items()
        },
        "all_candidates_per_second": {
            mode: [round(m.candidates_per_second, 2) for m in ms] for mode, ms in runs.items()
        },
        "ratio": ratio,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.perf.batching",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--searches", type=int, default=8, help="concurrent searches (default 8)")
    parser.add_argument("--calls", type=int, default=4, help="generate calls per search (4)")
    parser.add_argument("--samples", type=int, default=4, help="candidates per call (4)")
    parser.add_argument("--max-tokens", type=int, default=32, help="tokens per candidate (32)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per mode; median shown (3)")
    parser.add_argument("--prompt", default="llemma", help="prompt template (llemma, llmstep)")
    parser.add_argument("--model-dir", type=Path, help="an hf model directory (default: tiny)")
    parser.add_argument("--max-wait-ms", type=float, default=5.0, help="hf.max_wait_ms (5)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    setup = Setup(
        args.searches, args.calls, args.samples, args.max_tokens, args.repeats, args.prompt
    )
    if min(setup.searches, setup.calls, setup.samples, setup.max_tokens, setup.repeats) < 1:
        parser.error("--searches, --calls, --samples, --max-tokens and --repeats must be >= 1")
    template(setup.prompt)  # an unknown name fails here, before the model loads
    config = load_config(
        None,
        {
            "hf.device": "cpu",
            "hf.max_batch_size": setup.searches * setup.samples,
            "hf.max_wait_ms": args.max_wait_ms,
        },
    )
    with tempfile.TemporaryDirectory(prefix="tiny-llama-") as tmp:
        model_dir = args.model_dir or build_tiny_llama(tmp)
        result = asyncio.run(run(model_dir, config, setup))
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(
        f"{setup.searches} concurrent searches x {setup.calls} calls x {setup.samples} samples, "
        f"{setup.prompt} prompt, max {setup.max_tokens} tokens, CPU, median of {setup.repeats}:"
    )
    for mode, m in result["median"].items():
        print(
            f"  {mode:<11} {m['candidates_per_second']:8.1f} candidates/s  "
            f"({m['candidates']} candidates, {m['tokens']} tokens, {m['batches']} batches, "
            f"{m['seconds']:.2f} s)"
        )
    print(f"  ratio batched / one by one: {result['ratio']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
