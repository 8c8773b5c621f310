"""Chat prompts: de-duplicated like text prompts, rendered with the chat template by hf, matched
by the scripted generator (the whole-proof strategy sends them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from prover.config import load_config
from prover.errors import InputError
from prover.generators.cache import cached
from prover.protocols import GenerationParams
from prover.testing import ScriptedGenerator
from prover.types import Candidate, Chat, Message

CHAT = Chat((Message("system", "You write Lean 4 proofs."), Message("user", "⊢ 1 + 1 = 2")))
TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


class _Counting:
    name = "counting"

    def __init__(self) -> None:
        self.prompts: list[object] = []

    async def generate(self, prompt, n, params=None):
        self.prompts.append(prompt)
        return [Candidate(f"c{len(self.prompts)}", -1.0, 1)] * n

    async def close(self) -> None:
        return None


async def test_identical_chats_are_generated_once_and_different_ones_are_not() -> None:
    inner = _Counting()
    gen = cached(inner, 10)
    same = Chat(tuple(Message(m.role, m.content) for m in CHAT.messages))  # equal, not identical
    first = await gen.generate(CHAT, 2)
    assert await gen.generate(same, 2) == first
    other = Chat((*CHAT.messages[:1], Message("user", "⊢ 2 + 2 = 4")))
    assert await gen.generate(other, 2) != first
    assert await gen.generate("⊢ 1 + 1 = 2", 2) != first  # a text prompt is another request
    assert inner.prompts == [CHAT, other, "⊢ 1 + 1 = 2"]


async def test_the_scripted_generator_matches_inside_chat_messages() -> None:
    gen = ScriptedGenerator({"1 + 1 = 2": (Candidate("norm_num", -0.1, 2),)})
    assert [c.text for c in await gen.generate(CHAT, 1)] == ["norm_num"]
    assert gen.prompts == [CHAT]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    from prover.generators.tiny import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama-chat"))


async def test_hf_renders_a_chat_with_the_tokenizers_template(model_dir: Path) -> None:
    from prover.generators.hf import load

    gen = load(str(model_dir), load_config(None, {"hf.device": "cpu"}))
    params = GenerationParams(temperature=0.0, max_tokens=6)
    with pytest.raises(InputError, match="no chat template") as err:
        await gen.generate(CHAT, 1, params)
    assert "\n" not in str(err.value)
    gen.tokenizer.chat_template = TEMPLATE
    rendered = gen.tokenizer.apply_chat_template(
        [{"role": m.role, "content": m.content} for m in CHAT.messages],
        tokenize=False,
        add_generation_prompt=True,
    )
    assert rendered.endswith("<|assistant|>")
    (from_chat,) = await gen.generate(CHAT, 1, params)
    # This tokenizer adds no special tokens of its own, so the rendered text sent as a plain
    # prompt reads the same tokens, and greedy decoding gives the same completion.
    plain = gen.tokenizer(rendered)["input_ids"]
    assert plain == gen.tokenizer(rendered, add_special_tokens=False)["input_ids"]
    (from_text,) = await gen.generate(rendered, 1, params)
    assert from_chat == from_text and from_chat.num_tokens >= 1
    await gen.close()
