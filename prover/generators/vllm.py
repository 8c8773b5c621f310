"""The `vllm` generator: Llemma (or any model vLLM serves) on one or more GPUs.

`--model vllm:EleutherAI/llemma_7b`. Sampling runs on vLLM's asynchronous engine
(`AsyncLLMEngine`, the `AsyncLLM` of the V1 engine), whose continuous batching merges the
concurrent requests of all searches; each request asks for `n` samples with the sampled tokens'
log-probabilities (`logprobs=0`), so every `CompletionOutput` carries `cumulative_logprob`.
Beam search (`vllm.beam_search = true`) uses `LLM.beam_search` with `BeamSearchParams` — the
`use_beam_search` flag of `SamplingParams` was removed in vLLM 0.6.3 — behind the same
micro-batching queue as the `hf` backend; beams equal after the stop cut are one candidate. The
request seed goes to `SamplingParams.seed` (vLLM samples child i of an n-sample request with
seed + i). A `Chat` prompt is rendered with the tokenizer's chat template. vLLM starts and stops
its own worker processes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from prover.config import Config
from prover.doctor import module_present
from prover.errors import BackendError, InputError
from prover.generators.batching import MicroBatcher
from prover.generators.completion import distinct_best, to_candidate
from prover.protocols import GenerationParams, Generator
from prover.types import Candidate, Chat, Prompt

OTHER_MODELS = (
    "choose another model, e.g. --model hf:EleutherAI/llemma_7b (transformers, CPU or GPU) or "
    "--model openai:EleutherAI/llemma_7b@http://HOST:8000/v1 (a server started with `vllm serve`)"
)


def unusable_reasons() -> list[str]:
    """Why the vllm backend cannot run on this machine (empty if it can), without importing vllm."""
    reasons = []
    if not module_present("vllm"):
        reasons.append("vllm is not installed (pip install 'prover[vllm]', Linux + CUDA)")
    if not module_present("torch"):
        reasons.append("torch is not installed")
    else:
        import torch

        if not torch.cuda.is_available():
            build = (
                "a CPU-only build" if torch.version.cuda is None else f"CUDA {torch.version.cuda}"
            )
            reasons.append(f"no CUDA GPU visible to torch {torch.__version__} ({build})")
    return reasons


@dataclass(frozen=True)
class _BeamRequest:
    prompt: Any  # text, or {"prompt_token_ids": [...]} for a rendered chat
    width: int
    params: GenerationParams


class VllmGenerator:
    """vLLM's async engine for sampling, or its offline `LLM` for beam search.

    Built by `load` from a config; the constructor takes the engine objects themselves, so the
    request logic also runs against a scripted engine in tests.
    """

    name = "vllm"

    def __init__(
        self,
        *,
        sampling_params_cls: Any,
        final_only: Any = None,
        engine: Any = None,
        llm: Any = None,
        beam_params_cls: Any = None,
        beam_batch_size: int = 32,
    ) -> None:
        self.sampling_params_cls = sampling_params_cls
        self.final_only = final_only
        self.engine = engine
        self.llm = llm
        self.beam_params_cls = beam_params_cls
        self.beam_batcher: MicroBatcher[_BeamRequest, list[Candidate]] | None = None
        if llm is not None:
            self.beam_batcher = MicroBatcher(
                self._run_beams,
                max_size=beam_batch_size,
                max_wait=0.005,
                key=lambda r: (r.width, dataclasses.replace(r.params, seed=None)),
            )

    @classmethod
    def load(cls, spec: str, config: Config) -> VllmGenerator:
        """Start vLLM on `spec` as `[vllm]` says (the async engine, or `LLM` for beams)."""
        import vllm
        from vllm.sampling_params import BeamSearchParams, RequestOutputKind, SamplingParams

        opts = config.vllm
        engine_options: dict[str, Any] = {
            "model": spec,
            "tensor_parallel_size": opts.tensor_parallel_size,
            "dtype": opts.dtype,
            "max_model_len": opts.max_model_len,
            "gpu_memory_utilization": opts.gpu_memory_utilization,
            "enable_prefix_caching": opts.enable_prefix_caching,
            "seed": config.generation.seed,
        }
        if opts.beam_search:
            return cls(
                sampling_params_cls=SamplingParams,
                llm=vllm.LLM(**engine_options),
                beam_params_cls=BeamSearchParams,
                beam_batch_size=opts.beam_batch_size,
            )
        args = vllm.AsyncEngineArgs(**engine_options)
        return cls(
            sampling_params_cls=SamplingParams,
            final_only=RequestOutputKind.FINAL_ONLY,
            engine=vllm.AsyncLLMEngine.from_engine_args(args),
        )

    async def generate(
        self, prompt: Prompt, n: int, params: GenerationParams | None = None
    ) -> list[Candidate]:
        params = params or GenerationParams()
        if n < 1:
            return []
        if self.beam_batcher is not None:
            rendered = await self._render(prompt, self.llm.get_tokenizer())
            return await self.beam_batcher.submit(_BeamRequest(rendered, n, params))
        if params.beam:
            raise InputError(
                "beam search with vllm needs the beam engine: --set vllm.beam_search=true"
            )
        tokenizer = self.engine.get_tokenizer() if isinstance(prompt, Chat) else None
        if inspect.isawaitable(tokenizer):  # async in the engine, sync in LLM
            tokenizer = await tokenizer
        rendered = await self._render(prompt, tokenizer)
        sampling = self.sampling_params_cls(
            n=n,
            temperature=params.temperature,
            top_p=params.top_p if params.temperature > 0 else 1.0,
            max_tokens=params.max_tokens,
            stop=list(params.stop),
            logprobs=0,  # only the sampled token's: fills cumulative_logprob
            output_kind=self.final_only,
            seed=params.seed,  # child i samples with seed + i
        )
        request_id = uuid.uuid4().hex
        final = None
        try:
            async for output in self.engine.generate(rendered, sampling, request_id):
                final = output
        except asyncio.CancelledError:
            await self.engine.abort(request_id)
            raise
        except Exception as exc:  # the engine's own errors (prompt too long, engine dead …)
            raise BackendError(f"vllm: {type(exc).__name__}: {exc}") from exc
        if final is None:
            raise BackendError("vllm returned no output for a request")
        return [_sampled(o, params.logprobs) for o in final.outputs]

    async def _render(self, prompt: Prompt, tokenizer: Any) -> Any:
        """A text prompt as is; a chat through the tokenizer's chat template, as token ids (the
        template writes BOS itself, and vLLM would add another to a text prompt)."""
        if not isinstance(prompt, Chat):
            return prompt
        if not getattr(tokenizer, "chat_template", None):
            raise InputError(
                "vllm: this model's tokenizer has no chat template, so it cannot take a chat "
                "prompt; use a chat (instruct) model, or a strategy that sends plain text"
            )
        messages = [{"role": m.role, "content": m.content} for m in prompt.messages]
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return {"prompt_token_ids": tokenizer.encode(text, add_special_tokens=False)}

    async def _run_beams(self, batch: Sequence[_BeamRequest]) -> list[list[Candidate]]:
        return await asyncio.to_thread(self._beams, list(batch))

    def _beams(self, batch: list[_BeamRequest]) -> list[list[Candidate]]:
        width, params = batch[0].width, batch[0].params
        tokenizer = self.llm.get_tokenizer()
        prompt_ids = [
            r.prompt["prompt_token_ids"]
            if isinstance(r.prompt, dict)
            else tokenizer.encode(r.prompt)
            for r in batch
        ]
        # Token prompts: the returned beams hold prompt + generated tokens, so we cut our own.
        outputs = self.llm.beam_search(
            [{"prompt_token_ids": ids} for ids in prompt_ids],
            self.beam_params_cls(beam_width=width, max_tokens=params.max_tokens),
        )
        eos = {tokenizer.eos_token_id} - {None}

        def decode(ids: Sequence[int]) -> str:
            return tokenizer.decode(list(ids), skip_special_tokens=True)

        results = []
        for ids, output in zip(prompt_ids, outputs, strict=True):
            cands = []
            for seq in output.sequences:
                generated = list(seq.tokens[len(ids) :])
                lps = _step_logprobs(seq, generated)
                cands.append(to_candidate(generated, lps, decode, params.stop, eos))
            results.append(distinct_best(cands))  # beams equal after the stop cut: keep the best
        return results

    async def close(self) -> None:
        if self.beam_batcher is not None:
            await self.beam_batcher.close()
        if self.engine is not None:
            shutdown = getattr(self.engine, "shutdown", None)  # V1 AsyncLLM
            if shutdown is None:
                shutdown = getattr(self.engine, "shutdown_background_loop", None)  # V0
            if shutdown is not None:
                shutdown()
            self.engine = None
        self.llm = None


def _sampled(output: Any, need_logprobs: bool) -> Candidate:
    """A Candidate from one `CompletionOutput`; no silent tie when log-probs are missing."""
    tokens = len(output.token_ids)
    if output.cumulative_logprob is None:
        if need_logprobs:
            raise BackendError(
                "vllm returned a sample without cumulative_logprob although logprobs=0 was "
                "asked; search ranks candidates by it — check the engine's --max-logprobs "
                "(must be >= 0) and its version"
            )
        return Candidate(output.text, 0.0, tokens)
    return Candidate(output.text, float(output.cumulative_logprob), tokens)


def _step_logprobs(seq: Any, generated: list[int]) -> list[float]:
    """Per-token log-probs of a beam's generated tokens (so a stop cut keeps the right sum)."""
    if not generated:
        return []
    try:
        steps = list(seq.logprobs)[-len(generated) :]
        if len(steps) == len(generated):
            return [
                float(step[token].logprob) for step, token in zip(steps, generated, strict=True)
            ]
    except (AttributeError, IndexError, KeyError, TypeError):
        pass
    # Layout not as expected: keep the beam's total, attributed to its last token.
    return [0.0] * (len(generated) - 1) + [float(seq.cum_logprob)]


def create(spec: str, config: Config) -> Generator:
    """Entry point: `--model vllm:HUB_ID_OR_PATH` (the default model is Llemma-7B this way)."""
    if not spec:
        raise InputError("the vllm backend needs a model: --model vllm:EleutherAI/llemma_7b")
    reasons = unusable_reasons()
    if reasons:
        raise InputError(f"vllm cannot run '{spec}' here: {'; '.join(reasons)}; {OTHER_MODELS}")
    try:
        generator = VllmGenerator.load(spec, config)
    except (OSError, ValueError) as exc:
        raise InputError(f"vllm cannot load '{spec}': {exc}; {OTHER_MODELS}") from exc
    return generator
