"""The `vllm` generator. On a GPU machine the `gpu` tests load a tiny random Llama into vLLM; here
they are skipped with the reason, and the tests below check what a user without a GPU sees."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest

from prover.cli.doctor import collect
from prover.config import Config, load_config
from prover.errors import InputError
from prover.generators import vllm as vllm_backend
from prover.generators.tiny import build_tiny_llama
from prover.prompts import template
from prover.protocols import GenerationParams
from prover.run import build_generator
from prover.types import ProofState


def test_the_default_model_without_a_usable_gpu_says_how_to_choose_another() -> None:
    reasons = vllm_backend.unusable_reasons()
    if not reasons:
        pytest.skip("vllm can run here; the message for machines without it is not shown")
    assert Config().model == "vllm:EleutherAI/llemma_7b"
    with pytest.raises(InputError) as err:
        build_generator(Config())
    message = str(err.value)
    assert "\n" not in message
    assert "--model hf:" in message and "--model openai:" in message
    assert all(reason in message for reason in reasons)


def test_doctor_reports_gpu_versions_and_why_vllm_cannot_run() -> None:
    checks = {c.name: c for c in collect()}
    for name in ("gpu (torch.cuda)", "torch", "transformers", "vllm", "model backend vllm"):
        assert name in checks, name
    vllm_check = checks["model backend vllm"]
    assert vllm_check.ok == (not vllm_backend.unusable_reasons())
    if not vllm_check.ok:
        assert vllm_check.detail.startswith("unusable here: ")
        assert "pip install 'prover[vllm]'" in vllm_check.fix
    import torch
    import transformers

    assert checks["transformers"].detail == transformers.__version__
    assert checks["gpu (torch.cuda)"].ok == torch.cuda.is_available()
    assert checks["model backend hf"].ok


# ---- on a machine with a CUDA GPU and vLLM (pytest --run-gpu) ----------------------------------


@pytest.fixture(scope="module")
def vllm_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # vLLM's attention kernels need a head size of at least 64
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-vllm"), hidden_size=128, num_heads=2)


def _config(model_dir: Path, **extra: object) -> Config:
    return load_config(
        None,
        {
            "model": f"vllm:{model_dir}",
            "vllm.gpu_memory_utilization": 0.3,
            "vllm.max_model_len": 2048,
            "vllm.dtype": "float16",
            **extra,
        },
    )


@pytest.mark.gpu
async def test_vllm_samples_n_candidates_with_cumulative_logprobs(vllm_model_dir: Path) -> None:
    gen = build_generator(_config(vllm_model_dir))
    prompt = template("llemma").render(ProofState(("x : ℝ\n⊢ x = x",)), None)
    try:
        params = GenerationParams(temperature=1.0, max_tokens=16, stop=("\n---",))
        results = await asyncio.gather(
            *(gen.generate(prompt + str(i), 8, params) for i in range(8))
        )
        for cands in results:
            assert len(cands) == 8
            for cand in cands:
                assert 1 <= cand.num_tokens <= 16
                assert math.isfinite(cand.logprob) and cand.logprob < 0
        greedy = await gen.generate(prompt, 3, GenerationParams(temperature=0.0, max_tokens=16))
        assert len(greedy) == 3 and len({c.text for c in greedy}) == 1
    finally:
        await gen.close()


@pytest.mark.gpu
async def test_vllm_beam_search_through_llm_beam_search(vllm_model_dir: Path) -> None:
    gen = build_generator(_config(vllm_model_dir, **{"vllm.beam_search": True}))
    prompt = template("llmstep").render(ProofState(("⊢ 1 + 1 = 2",)), None)
    try:
        beams = await gen.generate(prompt, 4, GenerationParams(max_tokens=8, stop=("\n",)))
        assert 1 <= len(beams) <= 4 and len({b.text for b in beams}) == len(beams)
        assert all(math.isfinite(b.logprob) and 1 <= b.num_tokens <= 8 for b in beams)
        assert not any(prompt in b.text for b in beams)  # the prompt is cut off the beams
    finally:
        await gen.close()
