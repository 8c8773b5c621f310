"""The `hf` generator on a tiny random Llama model, loaded the way a user's model is loaded."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import pytest

from prover.config import Config, load_config
from prover.errors import InputError
from prover.generators.cache import CachedGenerator
from prover.generators.hf import HfGenerator, load
from prover.generators.tiny import build_tiny_llama
from prover.prompts import template
from prover.protocols import GenerationParams
from prover.run import build_generator
from prover.types import ProofState

torch = pytest.importorskip("torch")

STATES = (
    "x y : ℝ\nh₀ : x + y = 3\n⊢ x = 3 - y",
    "n : ℕ\nh₀ : n % 4 = 1\n⊢ (n + 3) % 4 = 0",
    "a : ℤ\n⊢ a ^ 2 ≥ 0",
    "f : ℕ → ℕ\nh₀ : ∀ (k : ℕ), f k = k + 1\n⊢ f 2 = 3",
    "⊢ 2 + 2 = 4",
    "x : ℝ\nh₀ : 2 * x = 8\n⊢ x = 4",
)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="module")
def gen(model_dir: Path) -> HfGenerator:
    config = load_config(None, {"hf.device": "cpu", "hf.max_batch_size": 64})
    return load(str(model_dir), config)


def _prompt(state: str) -> str:
    return template("llemma").render(ProofState((state,)), None)


def _greedy_by_hand(gen: HfGenerator, prompt: str, max_tokens: int) -> tuple[str, float, int]:
    """Argmax decoding without a cache, batch or generate(): an independent reference."""
    ids = gen.tokenizer(prompt, return_tensors="pt")["input_ids"]
    out: list[int] = []
    total = 0.0
    with torch.inference_mode():
        for _ in range(max_tokens):
            logits = gen.model(input_ids=ids).logits[0, -1].float()
            logprobs = torch.log_softmax(logits, dim=-1)
            token = int(torch.argmax(logprobs))
            total += float(logprobs[token])
            out.append(token)
            ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
            if token in gen.eos_ids:
                break
    return gen.tokenizer.decode(out, skip_special_tokens=True), total, len(out)


def test_a_model_spec_loads_through_the_registry_like_a_users_model(model_dir: Path) -> None:
    config = load_config(None, {"model": f"hf:{model_dir}", "hf.device": "cpu"})
    generator: Any = build_generator(config)
    assert isinstance(generator, CachedGenerator)
    assert isinstance(generator.inner, HfGenerator)
    assert generator.name == "hf"
    assert generator.inner.device.type == "cpu"
    assert generator.inner.model.dtype == torch.float32


async def test_sampling_returns_n_candidates_with_finite_logprobs_and_token_counts(
    gen: HfGenerator,
) -> None:
    params = GenerationParams(temperature=1.0, top_p=0.95, max_tokens=12)
    cands = await gen.generate(_prompt(STATES[0]), 6, params)
    assert len(cands) == 6
    vocab = gen.model.config.vocab_size
    for cand in cands:
        assert 1 <= cand.num_tokens <= 12
        assert math.isfinite(cand.logprob) and cand.logprob < 0
        # a random model is close to uniform: each token costs about log(vocab) nats
        assert 0.2 * math.log(vocab) < -cand.mean_logprob < 3 * math.log(vocab)
    assert len({c.text for c in cands}) > 1  # samples differ


async def test_greedy_matches_an_independent_argmax_loop(gen: HfGenerator) -> None:
    prompt = _prompt(STATES[1])
    (cand,) = await gen.generate(prompt, 1, GenerationParams(temperature=0.0, max_tokens=10))
    text, logprob, count = _greedy_by_hand(gen, prompt, 10)
    assert (cand.text, cand.num_tokens) == (text, count)
    assert cand.logprob == pytest.approx(logprob, abs=1e-3)
    three = await gen.generate(prompt, 3, GenerationParams(temperature=0.0, max_tokens=10))
    assert [c.text for c in three] == [text] * 3


async def test_greedy_is_identical_batched_and_unbatched(gen: HfGenerator) -> None:
    params = GenerationParams(temperature=0.0, max_tokens=10)
    prompts = [_prompt(s) for s in STATES]
    alone = [await gen.generate(p, 1, params) for p in prompts]
    before = list(gen.batcher.stats.sizes)
    together = await asyncio.gather(*(gen.generate(p, 1, params) for p in prompts))
    assert gen.batcher.stats.sizes[len(before) :] == [len(prompts)]  # really one batch
    for (a,), (b,) in zip(alone, together, strict=True):
        assert (a.text, a.num_tokens) == (b.text, b.num_tokens)
        assert a.logprob == pytest.approx(b.logprob, abs=1e-3)


async def test_concurrent_calls_from_many_searches_become_one_model_call(gen: HfGenerator) -> None:
    params = GenerationParams(temperature=1.0, max_tokens=6)
    before = len(gen.batcher.stats.sizes)
    results = await asyncio.gather(*(gen.generate(_prompt(s), 4, params) for s in STATES))
    assert [len(r) for r in results] == [4] * len(STATES)
    assert gen.batcher.stats.sizes[before:] == [len(STATES)]


async def test_n_larger_than_the_batch_is_split_and_still_complete(model_dir: Path) -> None:
    small = load(str(model_dir), load_config(None, {"hf.device": "cpu", "hf.max_batch_size": 4}))
    cands = await small.generate(_prompt(STATES[2]), 10, GenerationParams(max_tokens=4))
    assert len(cands) == 10
    assert small.batcher.stats.sizes == [1, 1, 1]  # 4 + 4 + 2 sequences
    await small.close()


async def test_stop_sequences_cut_text_tokens_and_logprob(gen: HfGenerator) -> None:
    prompt = _prompt(STATES[3])
    full_text, _, _ = _greedy_by_hand(gen, prompt, 16)
    assert len(full_text) > 6
    stop = full_text[3:6]  # a piece of what the model will write anyway
    keep = full_text[: full_text.index(stop)]
    params = GenerationParams(temperature=0.0, max_tokens=16, stop=(stop,))
    (cand,) = await gen.generate(prompt, 1, params)
    (full,) = await gen.generate(prompt, 1, GenerationParams(temperature=0.0, max_tokens=16))
    assert cand.text == keep
    assert cand.num_tokens < full.num_tokens
    assert cand.logprob > full.logprob  # fewer tokens paid for
    ids = gen.tokenizer(prompt, return_tensors="pt")["input_ids"]
    with torch.inference_mode():  # the kept tokens' log-prob, recomputed by hand
        generated = gen.model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=16, do_sample=False
        )[0, ids.shape[1] : ids.shape[1] + cand.num_tokens]
        logits = gen.model(input_ids=torch.cat([ids[0], generated])[None]).logits[0].float()
    steps = torch.log_softmax(logits[ids.shape[1] - 1 : -1], dim=-1)
    by_hand = float(steps.gather(1, generated[:, None]).sum())
    assert cand.logprob == pytest.approx(by_hand, abs=1e-3)


async def test_beam_search_returns_the_best_beams_with_their_logprobs(gen: HfGenerator) -> None:
    prompt = _prompt(STATES[4])
    beams = await gen.generate(prompt, 4, GenerationParams(max_tokens=1, beam=True))
    # with one token, the 4 best beams are exactly the 4 most likely next tokens
    ids = gen.tokenizer(prompt, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        logprobs = torch.log_softmax(gen.model(input_ids=ids).logits[0, -1].float(), dim=-1)
    top = torch.topk(logprobs, 4)
    # Beams whose texts are equal (e.g. two tokens that decode to nothing) are one candidate,
    # with the better log-prob.
    best: dict[str, float] = {}
    for value, token in zip(top.values.tolist(), top.indices.tolist(), strict=True):
        text = gen.tokenizer.decode([token], skip_special_tokens=True)
        best[text] = max(best.get(text, -math.inf), value)
    assert len({c.text for c in beams}) == len(beams)
    assert {c.text: c.logprob for c in beams} == pytest.approx(best, abs=1e-4)
    assert all(c.num_tokens == 1 for c in beams)
    longer = await gen.generate(prompt, 3, GenerationParams(max_tokens=8, beam=True))
    assert 1 <= len(longer) <= 3 and all(math.isfinite(c.logprob) for c in longer)
    assert all(1 <= c.num_tokens <= 8 for c in longer)


def test_bad_device_dtype_and_model_paths_are_one_line_input_errors(
    model_dir: Path, tmp_path: Path
) -> None:
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match=r"hf\.device"):
            load(str(model_dir), load_config(None, {"hf.device": "cuda"}))
    with pytest.raises(InputError, match=r"hf\.dtype"):
        load(str(model_dir), load_config(None, {"hf.dtype": "float8"}))
    missing = tmp_path / "no-such-model"
    missing.mkdir()
    with pytest.raises(InputError) as err:
        build_generator(Config(model=f"hf:{missing}"))
    assert str(missing) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(InputError, match=r"does not exist or holds no config\.json"):
        build_generator(Config(model=f"hf:{tmp_path / 'never-created'}"))  # not a hub id
    with pytest.raises(InputError, match="needs a model"):
        build_generator(Config(model="hf:"))
