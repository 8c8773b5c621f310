"""Model backends ("generators"), chosen with `--model BACKEND:MODEL`.

`vllm` (GPU, the default: vllm:EleutherAI/llemma_7b), `hf` (transformers, CPU or GPU) and `openai`
(any OpenAI-compatible server, official client). Each takes a `str` prompt (a completion) or a
`Chat` (rendered with the tokenizer's chat template, or sent to `/v1/chat/completions`). Each
factory's backend is wrapped in `cache.cached` by the runner, so identical requests within a run
are generated once. Heavy libraries are imported only inside the backend that needs them.
"""
