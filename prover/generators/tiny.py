"""A tiny randomly initialised Llama model with a byte-level BPE tokenizer, built locally.

Nothing is downloaded: the tokenizer is trained on a few lines of Lean in the formal2formal format
and the weights are random. It loads through the same `from_pretrained` path as a real model
(`--model hf:DIR`), so tests, the batching benchmark and smoke runs exercise real generation on a
CPU in seconds. It proves nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prover.errors import require
from prover.prompts import LLEMMA_EXAMPLES, TEMPLATES
from prover.types import ProofState

_SPECIAL = ("<s>", "</s>", "<pad>")


def _corpus() -> list[str]:
    llemma = TEMPLATES["llemma"]
    texts = [
        llemma.render(ProofState((goals,)), None) + tactic for goals, tactic in LLEMMA_EXAMPLES
    ]
    texts += [f"[GOAL]{goals}[PROOFSTEP]{tactic}" for goals, tactic in LLEMMA_EXAMPLES]
    texts.append("theorem t (a b : ℕ) (h₀ : a = b) : b = a := by\n  rw [h₀]\n")
    return texts


def build_tiny_llama(
    directory: str | Path,
    *,
    seed: int = 0,
    vocab_size: int = 512,
    hidden_size: int = 32,
    num_layers: int = 2,
    num_heads: int = 4,
    max_positions: int = 4096,
) -> Path:
    """Write config, random weights and tokenizer files to `directory` and return it.

    vLLM's attention kernels want a head size of 64 or more: pass e.g. hidden_size=128,
    num_heads=2 for a model to serve with vLLM.
    """
    tokenizers: Any = require("tokenizers", "hf")
    transformers: Any = require("transformers", "hf")
    torch: Any = require("torch", "hf")

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)

    bpe = tokenizers.Tokenizer(tokenizers.models.BPE())
    bpe.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(_SPECIAL),
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_corpus(), trainer)
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    tokenizer.save_pretrained(out)

    config = transformers.LlamaConfig(
        vocab_size=bpe.get_vocab_size(),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=max_positions,
        bos_token_id=bpe.token_to_id("<s>"),
        eos_token_id=bpe.token_to_id("</s>"),
        pad_token_id=bpe.token_to_id("<pad>"),
    )
    with torch.random.fork_rng(devices=[]):  # seed the weights without touching the caller's RNG
        torch.manual_seed(seed)
        model = transformers.LlamaForCausalLM(config)
    model.save_pretrained(out)
    return out
