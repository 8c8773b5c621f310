"""pass@k attempts sample independently: request seeds whose child ranges never overlap across
attempts, honoured by every backend (vllm on a scripted engine applying vLLM's `seed + i` rule,
openai against a local server, hf on the tiny model); the same run seed repeats the samples."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from standins.hostile_http import HostileServer

from prover.config import load_config
from prover.errors import BackendError, InputError
from prover.generators.cache import cached
from prover.generators.openai import OpenAIGenerator, parse_spec
from prover.generators.vllm import VllmGenerator
from prover.protocols import SEED_LIMIT, GenerationParams, Generator
from prover.run import _AttemptGenerator, request_seed
from prover.types import Chat, Message

PROMPT = "[GOAL]n : ℕ\n⊢ n + 0 = n[PROOFSTEP]"
PARAMS = GenerationParams(temperature=1.0, top_p=0.95, max_tokens=8)


def _children(seed: int, n: int) -> set[int]:
    return set(range(seed, seed + n))


@pytest.mark.parametrize("n", [1, 2, 8, 32, 1000])
def test_attempts_of_one_request_own_disjoint_child_ranges(n: int) -> None:
    seeds = [request_seed(7, k, PROMPT, n, PARAMS) for k in range(50)]
    assert all(s >= 0 and s + n <= SEED_LIMIT for s in seeds)
    for a, b in itertools.combinations(seeds, 2):
        assert not _children(a, n) & _children(b, n)
    assert seeds == [request_seed(7, k, PROMPT, n, PARAMS) for k in range(50)]  # reproducible
    assert request_seed(8, 0, PROMPT, n, PARAMS) != seeds[0]  # the run seed matters
    other = request_seed(7, 0, PROMPT + "x", n, PARAMS)
    assert not any(_children(other, n) & _children(s, n) for s in seeds)


def test_seeds_are_range_checked() -> None:
    with pytest.raises(ValueError, match="2\\*\\*32"):
        GenerationParams(seed=SEED_LIMIT)
    with pytest.raises(ValueError, match="2\\*\\*32"):
        GenerationParams(seed=-1)
    with pytest.raises(InputError, match=r"generation\.seed"):
        load_config(None, {"generation.seed": 2**32})


async def _two_attempts(inner: Generator, run_seed: int, prompt: Any, n: int) -> list[list[str]]:
    shared = cached(inner, 100)  # as the runner builds it: de-duplication must not merge them
    return [
        [c.text for c in await _AttemptGenerator(shared, run_seed, k).generate(prompt, n, PARAMS)]
        for k in (0, 1)
    ]


# -- vllm: a scripted engine that samples as vLLM does ------------------------------------------


@dataclass
class _Output:
    text: str
    cumulative_logprob: float | None
    token_ids: tuple[int, ...]


@dataclass
class _RequestOutput:
    outputs: list[_Output]


class _ScriptedEngine:
    """vLLM's `AsyncLLMEngine` surface; child i of a request samples with seed + i, and its
    'sample' is a pure function of (prompt, that seed), as a seeded sampler is."""

    def __init__(self, drop_logprobs: bool = False) -> None:
        self.requests: list[tuple[Any, Any]] = []
        self.drop_logprobs = drop_logprobs

    async def generate(self, prompt: Any, sampling: Any, request_id: str) -> AsyncIterator[Any]:
        self.requests.append((prompt, sampling))
        outputs = []
        base = sampling.seed if sampling.seed is not None else len(self.requests) * 10**6
        for i in range(sampling.n):
            child = base + i  # without a seed vLLM draws from the engine's RNG
            digest = hashlib.sha256(f"{prompt}|{child}".encode()).hexdigest()[:8]
            lp = None if self.drop_logprobs else -0.5
            outputs.append(_Output(f"tactic_{digest}", lp, (1, 2)))
        yield _RequestOutput(outputs)

    async def abort(self, request_id: str) -> None:
        return None

    async def get_tokenizer(self) -> Any:
        return _ChatTokenizer()


class _ChatTokenizer:
    chat_template = "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}<assistant>"

    def apply_chat_template(self, messages: Any, tokenize: bool, add_generation_prompt: bool):
        assert not tokenize and add_generation_prompt
        return "".join(f"<{m['role']}>{m['content']}" for m in messages) + "<assistant>"

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return ([1] if add_special_tokens else []) + [ord(c) for c in text]


@dataclass
class _SamplingParams:  # the fields the backend sets, as vLLM's SamplingParams takes them
    n: int
    temperature: float
    top_p: float
    max_tokens: int
    stop: list[str]
    logprobs: int
    output_kind: Any
    seed: int | None


def _vllm(engine: _ScriptedEngine) -> VllmGenerator:
    return VllmGenerator(sampling_params_cls=_SamplingParams, engine=engine)


async def test_vllm_attempts_share_no_child_seed_and_repeat_with_the_run_seed() -> None:
    engine = _ScriptedEngine()
    first = await _two_attempts(_vllm(engine), 0, PROMPT, 8)
    (_, s0), (_, s1) = engine.requests
    assert not _children(s0.seed, 8) & _children(s1.seed, 8)
    assert not set(first[0]) & set(first[1])  # independent samples
    again = await _two_attempts(_vllm(_ScriptedEngine()), 0, PROMPT, 8)
    assert again == first
    other = await _two_attempts(_vllm(_ScriptedEngine()), 1, PROMPT, 8)
    assert other != first


async def test_vllm_without_logprobs_is_an_error_not_a_tie() -> None:
    gen = _vllm(_ScriptedEngine(drop_logprobs=True))
    with pytest.raises(BackendError, match="cumulative_logprob"):
        await gen.generate(PROMPT, 2, PARAMS)
    cands = await gen.generate(PROMPT, 2, GenerationParams(logprobs=False))
    assert [c.num_tokens for c in cands] == [2, 2]  # the token count survives


async def test_vllm_renders_a_chat_with_the_template_as_token_ids() -> None:
    engine = _ScriptedEngine()
    chat = Chat((Message("system", "S"), Message("user", "U")))
    await _vllm(engine).generate(chat, 1, PARAMS)
    ((prompt, _),) = engine.requests
    # token ids, so vLLM adds no second BOS to what the template wrote
    assert prompt == {"prompt_token_ids": [ord(c) for c in "<system>S<user>U<assistant>"]}


# -- openai: request seeds reach the server ------------------------------------------------------


@pytest.fixture
def server() -> Iterator[HostileServer]:
    srv = HostileServer()
    yield srv
    srv.close()


async def test_openai_attempts_send_disjoint_seed_ranges(server: HostileServer) -> None:
    model, url = parse_spec(f"m@{server.base_url}")
    for run_seed in (0, 0):
        await _two_attempts(OpenAIGenerator(model, url, timeout=5.0), run_seed, PROMPT, 8)
    seeds = [c.body["seed"] for c in server.connections]
    assert len(seeds) == 4 and seeds[:2] == seeds[2:]  # the same run seed, the same seeds
    assert not _children(seeds[0], 8) & _children(seeds[1], 8)  # a vLLM server's child seeds


# -- hf: per-row generators on the tiny model -----------------------------------------------------


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    from prover.generators.tiny import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama-seeds"))


def _hf(model_dir: Path, max_batch_size: int = 64) -> Generator:
    from prover.generators.hf import load

    config = load_config(None, {"hf.device": "cpu", "hf.max_batch_size": max_batch_size})
    return load(str(model_dir), config)


async def test_hf_attempts_sample_differently_and_repeat_with_the_run_seed(
    model_dir: Path,
) -> None:
    gen = _hf(model_dir)
    first = await _two_attempts(gen, 0, PROMPT, 6)
    assert first[0] != first[1]  # attempts 0 and 1 draw different samples
    assert await _two_attempts(gen, 0, PROMPT, 6) == first  # same run seed, same samples
    fresh = _hf(model_dir)  # a new process-like start: nothing hangs on global RNG state
    assert await _two_attempts(fresh, 0, PROMPT, 6) == first
    assert await _two_attempts(fresh, 5, PROMPT, 6) != first


async def test_hf_samples_do_not_depend_on_what_shares_their_batch(model_dir: Path) -> None:
    gen = _hf(model_dir, max_batch_size=4)  # n = 6 is split into rows 0-3 and 4-5
    params = GenerationParams(temperature=1.0, max_tokens=8, seed=1234)
    alone = [c.text for c in await gen.generate(PROMPT, 6, params)]
    noise = GenerationParams(temperature=1.0, max_tokens=8, seed=99)
    crowded, _ = await asyncio.gather(
        gen.generate(PROMPT, 6, params), gen.generate("[GOAL]⊢ True[PROOFSTEP]", 3, noise)
    )
    assert [c.text for c in crowded] == alone
    # rows 1.. of seed s are rows 0.. of seed s + 1 (vLLM's child rule)
    shifted = await gen.generate(
        PROMPT, 5, GenerationParams(temperature=1.0, max_tokens=8, seed=1235)
    )
    assert [c.text for c in shifted] == alone[1:]


def test_hf_sampler_draws_from_the_tempered_nucleus() -> None:
    torch = pytest.importorskip("torch")
    import transformers

    from prover.generators.hf import _seeded_sampler

    class _Gen:  # the two attributes the sampler reads
        device = torch.device("cpu")

    _Gen.torch = torch  # type: ignore[attr-defined]
    _Gen.transformers = transformers  # type: ignore[attr-defined]
    rows = 4000
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.2]])).repeat(rows, 1)
    for top_p, expected in ((1.0, [0.5, 0.3, 0.2]), (0.6, [0.625, 0.375, 0.0])):
        sampler = _seeded_sampler(_Gen(), range(rows), GenerationParams(top_p=top_p))  # type: ignore[arg-type]
        out = sampler(None, logits)
        assert bool((torch.isfinite(out).sum(dim=1) == 1).all())  # exactly one token per row
        freq = torch.bincount(out.argmax(dim=1), minlength=3).float() / rows
        assert freq.tolist() == pytest.approx(expected, abs=0.03)
