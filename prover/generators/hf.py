"""The `hf` generator: any causal language model that transformers loads, on CPU or GPU.

`--model hf:PATH_OR_HUB_ID`. Concurrent `generate` calls from many searches go through a
micro-batching queue (`hf.max_batch_size` sequences, `hf.max_wait_ms`) and become one
`model.generate` call, run in a worker thread so the event loop keeps serving the searches.
Sampling expands each prompt into n rows; row i of a request with seed s draws from its own
`torch.Generator` seeded s + i (vLLM's rule), never the global RNG, so a sample depends only on
its prompt, parameters and seed, whatever else shares its batch. Beam search (`hf.beam_search`)
returns the n best distinct beams. A `Chat` prompt is rendered with the tokenizer's chat template.
Each candidate carries the model's log-probability of its tokens (raw logits, before temperature
or top-p, as vLLM reports them) and its token count.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prover.config import Config
from prover.errors import BackendError, InputError, require
from prover.generators.batching import MicroBatcher
from prover.generators.completion import distinct_best, to_candidate
from prover.prompts import stop_index
from prover.protocols import SEED_LIMIT, GenerationParams, Generator
from prover.types import Candidate, Chat, Prompt

_DTYPES = ("float32", "bfloat16", "float16")


@dataclass(frozen=True)
class _Request:
    text: str  # the prompt as the model reads it (a chat already rendered)
    special: bool  # add the tokenizer's special tokens (a rendered chat has its own)
    rows: int  # samples to draw, or beams to return
    params: GenerationParams
    beam: bool
    seed: int = 0  # row i samples with seed + i

    @property
    def key(self) -> tuple[GenerationParams, bool, int]:
        # One model.generate call takes one generation config; beams also share their width.
        # Seeds are per row, so requests with different seeds still share a batch.
        return (
            dataclasses.replace(self.params, seed=None),
            self.beam,
            self.rows if self.beam else 0,
        )


class HfGenerator:
    """A transformers model behind a micro-batching queue (see module docstring)."""

    name = "hf"

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        max_batch_size: int = 64,
        max_wait: float = 0.005,
        beam_search: bool = False,
        seed: int = 0,
    ) -> None:
        self.torch: Any = require("torch", "hf")
        self.transformers: Any = require("transformers", "hf")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.device = next(model.parameters()).device
        self.beam_search = beam_search
        self.max_batch_size = max_batch_size
        tokenizer.padding_side = "left"  # decoder-only models continue from the right edge
        tokenizer.truncation_side = "left"  # an over-long prompt loses its oldest few-shot text
        eos = {tokenizer.eos_token_id, *_as_list(model.generation_config.eos_token_id)}
        self.eos_ids = frozenset(t for t in eos if t is not None)
        pad = tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else min(self.eos_ids, default=0)
        self.max_positions = int(getattr(model.config, "max_position_embeddings", 0) or 0)
        # Seeds for requests that bring none (callers other than the runner): a fixed sequence.
        self._seeds = random.Random(seed)
        self.batcher: MicroBatcher[_Request, list[Candidate]] = MicroBatcher(
            self._run,
            max_size=max_batch_size,
            max_wait=max_wait,
            weight=lambda r: r.rows,
            key=lambda r: r.key,
        )

    async def generate(
        self, prompt: Prompt, n: int, params: GenerationParams | None = None
    ) -> list[Candidate]:
        params = params or GenerationParams()
        if n < 1:
            return []
        text, special = self._render(prompt)
        if params.beam or self.beam_search:
            return await self.batcher.submit(_Request(text, special, n, params, beam=True))
        if params.temperature <= 0:  # greedy: every sample is the same sequence
            request = _Request(text, special, 1, params, beam=False)
            (best,) = await self.batcher.submit(request)
            return [best] * n
        seed = params.seed if params.seed is not None else self._seeds.randrange(SEED_LIMIT)
        chunks = range(0, n, self.max_batch_size)
        parts = await asyncio.gather(
            *(
                self.batcher.submit(
                    _Request(
                        text, special, min(self.max_batch_size, n - i), params, False, seed + i
                    )
                )
                for i in chunks
            )
        )
        return [cand for part in parts for cand in part]

    def _render(self, prompt: Prompt) -> tuple[str, bool]:
        """The text the model reads, and whether the tokenizer should add its special tokens."""
        if not isinstance(prompt, Chat):
            return prompt, True
        if not getattr(self.tokenizer, "chat_template", None):
            raise InputError(
                "hf: this model's tokenizer has no chat template, so it cannot take a chat "
                "prompt; use a chat (instruct) model, or a strategy that sends plain text"
            )
        messages = [{"role": m.role, "content": m.content} for m in prompt.messages]
        text = self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )
        return str(text), False  # the template writes BOS and the like itself

    async def close(self) -> None:
        await self.batcher.close()

    async def _run(self, batch: Sequence[_Request]) -> list[list[Candidate]]:
        return await asyncio.to_thread(self._generate_batch, list(batch))

    def _decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True)

    def _generate_batch(self, batch: list[_Request]) -> list[list[Candidate]]:
        """One `model.generate` call for a batch of compatible requests (runs in a thread)."""
        params, beam = batch[0].params, batch[0].beam
        input_ids, attention, counts, options = self._inputs(batch)
        prompt_len = input_ids.shape[1]
        config = self.transformers.GenerationConfig(
            max_new_tokens=params.max_tokens,
            pad_token_id=self.pad_id,
            eos_token_id=sorted(self.eos_ids) or None,
            return_dict_in_generate=True,
            **options,
        )
        stopping = self.transformers.StoppingCriteriaList()
        if params.stop:
            stopping.append(_stop_criterion(self, params.stop, prompt_len))
        processors = self.transformers.LogitsProcessorList()
        if not beam and params.temperature > 0:
            row_seeds = [r.seed + i for r in batch for i in range(r.rows)]
            processors.append(_seeded_sampler(self, row_seeds, params))
        with self.torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids.to(self.device),
                attention_mask=attention.to(self.device),
                generation_config=config,
                stopping_criteria=stopping,
                logits_processor=processors,
            )
            generated = out.sequences[:, prompt_len:]
            step_logprobs = self._step_logprobs(out, generated, beam)
        steps = min(generated.shape[1], step_logprobs.shape[1])
        token_rows = generated[:, :steps].tolist()
        logprob_rows = step_logprobs[:, :steps].float().tolist()
        results: list[list[Candidate]] = []
        row = 0
        for count in counts:
            rows = zip(token_rows[row : row + count], logprob_rows[row : row + count], strict=True)
            cands = [to_candidate(i, lp, self._decode, params.stop, self.eos_ids) for i, lp in rows]
            if beam:
                cands = distinct_best(cands)
            if not all(math.isfinite(c.logprob) for c in cands):
                raise BackendError(
                    "the model produced a non-finite log-probability; try --set hf.dtype=float32"
                )
            results.append(cands)
            row += count
        return results

    def _inputs(self, batch: list[_Request]) -> tuple[Any, Any, list[int], dict[str, Any]]:
        """Token ids and mask (one row per sample, or per prompt for beams), sequences per
        request, and the decoding options."""
        params = batch[0].params
        limit = self.max_positions - params.max_tokens if self.max_positions else None
        if limit is not None and limit < 1:
            raise BackendError(
                f"max_tokens {params.max_tokens} leaves no room for a prompt in this model's "
                f"{self.max_positions} positions; lower generation.max_tokens"
            )
        ids = [
            self.tokenizer(
                r.text,
                add_special_tokens=r.special,
                truncation=limit is not None,
                max_length=limit,
            )["input_ids"]
            for r in batch
        ]
        enc = self.tokenizer.pad({"input_ids": ids}, return_tensors="pt")  # on the left
        input_ids, attention = enc["input_ids"], enc["attention_mask"]
        if batch[0].beam:
            width = batch[0].rows
            options: dict[str, Any] = {
                "do_sample": False,
                "num_beams": width,
                "num_return_sequences": width,
                "output_scores": True,
            }
            return input_ids, attention, [width] * len(batch), options
        counts = [r.rows for r in batch]
        repeat = self.torch.tensor(counts)
        # Sampling happens in _seeded_sampler (per-row generators): it leaves one finite logit per
        # row, which greedy decoding then picks. output_logits keeps the raw logits for scoring.
        options = {"output_logits": True, "do_sample": False}
        return (
            input_ids.repeat_interleave(repeat, dim=0),
            attention.repeat_interleave(repeat, dim=0),
            counts,
            options,
        )

    def _step_logprobs(self, out: Any, generated: Any, beam: bool) -> Any:
        """Log-probability of each generated token under the model: (rows, steps)."""
        torch = self.torch
        if beam:
            return self.model.compute_transition_scores(
                out.sequences, out.scores, out.beam_indices, normalize_logits=False
            )
        columns = [
            torch.log_softmax(logits.float(), dim=-1).gather(1, generated[:, t : t + 1])
            for t, logits in enumerate(out.logits)
        ]
        return torch.cat(columns, dim=1)


def _seeded_sampler(gen: HfGenerator, row_seeds: Sequence[int], params: GenerationParams) -> Any:
    """Draws each row's next token from softmax(logits / temperature) within the top-p nucleus,
    with that row's own generator; returns logits where only the drawn token is finite."""
    torch = gen.torch
    device = gen.device
    generators = [torch.Generator(device=device).manual_seed(seed) for seed in row_seeds]

    class _Sampler(gen.transformers.LogitsProcessor):  # type: ignore[misc, name-defined]
        def __call__(self, input_ids: Any, scores: Any) -> Any:
            probs = torch.softmax(scores.float() / params.temperature, dim=-1)
            if params.top_p < 1.0:
                # vLLM's nucleus: the most likely tokens whose mass before them is < top_p.
                ordered, order = probs.sort(dim=-1, descending=True)
                before = ordered.cumsum(dim=-1) - ordered
                ordered = ordered.masked_fill(before >= params.top_p, 0.0)
                probs = torch.zeros_like(probs).scatter(1, order, ordered)
            cdf = probs.cumsum(dim=-1)
            draws = torch.stack(
                [torch.rand((), generator=g, device=device) for g in generators]
            ).to(cdf.dtype)
            picked = torch.searchsorted(cdf, (draws * cdf[:, -1]).unsqueeze(1), right=True)
            picked = picked.clamp(max=scores.shape[-1] - 1)
            out = torch.full_like(scores, -math.inf)
            return out.scatter(1, picked, 0.0)

    return _Sampler()


def _stop_criterion(gen: HfGenerator, stops: Sequence[str], prompt_len: int) -> Any:
    """Ends a row once its generated text (never the prompt) holds a stop sequence.

    Stateless, so it also works on the reordered candidate rows of beam search.
    """
    torch = gen.torch
    # A stop sequence of c characters spans at most 4c byte-level tokens (+1 for a boundary).
    tail = 4 * max(len(s) for s in stops) + 1

    class _StopOnText(gen.transformers.StoppingCriteria):  # type: ignore[misc, name-defined]
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            start = max(prompt_len, input_ids.shape[1] - tail)
            rows = input_ids[:, start:].tolist()
            hits = [stop_index(gen._decode(ids), stops) >= 0 for ids in rows]
            return torch.tensor(hits, dtype=torch.bool, device=input_ids.device)

    return _StopOnText()


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _device(torch: Any, wanted: str) -> str:
    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if wanted.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(
            f"hf.device is '{wanted}' but torch sees no CUDA GPU; use --set hf.device=cpu"
        )
    return wanted


def _dtype(torch: Any, wanted: str, device: str) -> Any:
    if wanted == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    if wanted not in _DTYPES:
        raise InputError(f"hf.dtype '{wanted}' is not one of auto, {', '.join(_DTYPES)}")
    return getattr(torch, wanted)


def _dtype_keyword(transformers: Any) -> str:
    # transformers 4.56 renamed from_pretrained's `torch_dtype` to `dtype`.
    major, minor = (int(p) for p in transformers.__version__.split(".")[:2])
    return "dtype" if (major, minor) >= (4, 56) else "torch_dtype"


def load(spec: str, config: Config) -> HfGenerator:
    """Load tokenizer and model for `spec` (a local directory or a hub id) as configured."""
    torch: Any = require("torch", "hf")
    transformers: Any = require("transformers", "hf")
    hf = config.hf
    local = spec.startswith(("/", "./", "../", "~")) or Path(spec).expanduser().exists()
    if local and not (Path(spec).expanduser() / "config.json").is_file():
        raise InputError(
            f"hf: model directory '{spec}' does not exist or holds no config.json; "
            "pass a directory saved with save_pretrained, or a hub id such as EleutherAI/llemma_7b"
        )
    device = _device(torch, hf.device)
    dtype = _dtype(torch, hf.dtype, device)
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(spec)
        model = transformers.AutoModelForCausalLM.from_pretrained(
            spec, **{_dtype_keyword(transformers): dtype}
        )
    except (OSError, ValueError, KeyError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(
            f"hf: cannot load model '{spec}' ({reason}); pass a directory holding config.json, "
            "weights and tokenizer files, or a Hugging Face hub id such as EleutherAI/llemma_7b"
        ) from exc
    model.to(device)
    return HfGenerator(
        model,
        tokenizer,
        max_batch_size=hf.max_batch_size,
        max_wait=hf.max_wait_ms / 1000.0,
        beam_search=hf.beam_search,
        seed=config.generation.seed,
    )


def create(spec: str, config: Config) -> Generator:
    """Entry point: `--model hf:PATH_OR_HUB_ID`."""
    if not spec:
        raise InputError(
            "the hf backend needs a model: --model hf:PATH_OR_HUB_ID, e.g. hf:EleutherAI/llemma_7b"
        )
    return load(spec, config)
