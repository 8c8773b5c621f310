"""Model backends ("generators"), chosen with `--model BACKEND:MODEL`.

`vllm` (GPU, the default: vllm:EleutherAI/llemma_7b), `hf` (transformers, CPU or GPU) and `openai`
(any OpenAI-compatible completions server). Each factory returns its backend behind `cache.cached`,
so identical requests within a run are generated once. Heavy libraries are imported only inside
the backend that needs them.
"""
