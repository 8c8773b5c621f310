"""The `openai` generator: any OpenAI-compatible `/v1/completions` server.

`--model openai:MODEL@BASE_URL`, e.g. `openai:EleutherAI/llemma_7b@http://localhost:8000/v1` for a
server started with `vllm serve EleutherAI/llemma_7b` (SGLang and TGI servers speak the same API).
One request per `generate` call with `n`, `logprobs`, `stop`; the server batches concurrent
requests itself. Every request has a finite timeout; 429, 5xx and refused connections are retried
with exponential backoff (a `Retry-After` header is honoured); the API key, if any, comes from the
environment variable named by `openai.api_key_env`.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from prover.config import Config
from prover.errors import BackendError, InputError
from prover.generators.http_post import HttpReply, post_json
from prover.protocols import GenerationParams, Generator
from prover.types import Candidate

DEFAULT_BASE_URL = "https://api.openai.com/v1"


def parse_spec(spec: str) -> tuple[str, str]:
    """`MODEL@BASE_URL` → (model, completions endpoint URL); the base URL may omit `/v1`."""
    model, base = spec, DEFAULT_BASE_URL
    for scheme in ("@http://", "@https://"):
        at = spec.rfind(scheme)
        if at >= 0:
            model, base = spec[:at], spec[at + 1 :]
            break
    else:
        if "@" in spec:
            raise InputError(
                f"bad openai model spec '{spec}': the part after '@' must be an http(s) URL, "
                "e.g. openai:EleutherAI/llemma_7b@http://localhost:8000/v1"
            )
    if not model:
        raise InputError(
            "the openai backend needs a model name: --model openai:MODEL@http://HOST:PORT/v1"
        )
    base = base.rstrip("/")
    if base.endswith("/completions"):
        return model, base
    return model, (base + "/completions" if base.endswith("/v1") else base + "/v1/completions")


class OpenAIGenerator:
    """Client of one completions endpoint (see module docstring)."""

    name = "openai"

    def __init__(
        self,
        model: str,
        url: str,
        *,
        api_key: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 5,
        backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 60.0,
        max_concurrency: int = 64,
        seed: int | None = None,
        api_key_env: str = "OPENAI_API_KEY",
    ) -> None:
        self.model = model
        self.url = url
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.seed = seed
        self.api_key_env = api_key_env
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._max_concurrency = max_concurrency
        self._pool = ThreadPoolExecutor(max_concurrency, thread_name_prefix="openai-http")
        self._slots: asyncio.Semaphore | None = None
        self._slots_loop: asyncio.AbstractEventLoop | None = None
        self._jitter = random.Random(seed)

    async def generate(
        self, prompt: str, n: int, params: GenerationParams | None = None
    ) -> list[Candidate]:
        params = params or GenerationParams()
        if n < 1:
            return []
        if params.beam:
            raise InputError(
                "beam search is not part of the OpenAI completions API; use --model vllm:… "
                "with vllm.beam_search or --model hf:… with hf.beam_search"
            )
        payload: dict[str, Any] = {
            "model": self.model,
            "prompt": prompt,
            "n": n,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "logprobs": 1,  # the sampled token's log-prob (and the best alternative)
        }
        if params.stop:
            payload["stop"] = list(params.stop)
        seed = params.seed if params.seed is not None else self.seed
        if seed is not None:
            payload["seed"] = seed
        reply = await self._post(payload)
        return self._candidates(reply)

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _limiter(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots_loop is not loop:
            self._slots = asyncio.Semaphore(self._max_concurrency)
            self._slots_loop = loop
        return self._slots

    async def _post(self, payload: dict[str, Any]) -> HttpReply:
        loop = asyncio.get_running_loop()
        for attempt in range(self.max_retries + 1):
            retry_after: float | None = None
            async with self._limiter():
                try:
                    reply = await asyncio.wait_for(
                        loop.run_in_executor(
                            self._pool, post_json, self.url, payload, self._headers, self.timeout
                        ),
                        self.timeout,
                    )
                except (TimeoutError, asyncio.TimeoutError):
                    raise BackendError(
                        f"openai: no reply from {self.url} within {self.timeout:g} s "
                        "(openai.timeout); the server is hung or overloaded — check it, or raise "
                        "the limit with --set openai.timeout=SECONDS"
                    ) from None
                except ConnectionError as exc:
                    failure = f"cannot connect ({exc})"
                else:
                    if reply.status == 200:
                        return reply
                    if reply.status != 429 and reply.status < 500:
                        raise BackendError(self._refusal(reply))
                    failure = f"answered HTTP {reply.status}: {_server_message(reply)}"
                    retry_after = _retry_after(reply)
            if attempt == self.max_retries:
                break
            delay = retry_after
            if delay is None:
                delay = self.backoff_seconds * 2**attempt * (1 + 0.25 * self._jitter.random())
            await asyncio.sleep(min(delay, self.max_backoff_seconds))
        raise BackendError(
            f"openai: {self.url} {failure} — gave up after {self.max_retries + 1} attempts; "
            "check that the server is up (e.g. `vllm serve MODEL`) and the URL in "
            "--model openai:MODEL@URL"
        )

    def _refusal(self, reply: HttpReply) -> str:
        message = _server_message(reply)
        hint = ""
        if reply.status in (401, 403):
            hint = (
                f"; put the API key in ${self.api_key_env} (openai.api_key_env names the variable)"
            )
        elif reply.status == 404:
            hint = "; check the model name and base URL in --model openai:MODEL@URL"
        return f"openai: {self.url} refused the request (HTTP {reply.status}: {message}){hint}"

    def _candidates(self, reply: HttpReply) -> list[Candidate]:
        try:
            data = json.loads(reply.body)
            choices = sorted(data["choices"], key=lambda c: c.get("index", 0))
            return [_candidate(choice) for choice in choices]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            excerpt = reply.body[:200].decode("utf-8", "replace")
            raise BackendError(
                f"openai: {self.url} sent a reply that is not a completions response "
                f"({type(exc).__name__}: {exc}): {excerpt!r}"
            ) from exc


def _candidate(choice: dict[str, Any]) -> Candidate:
    text = str(choice["text"])
    logprobs = choice.get("logprobs") or {}
    values = [float(v) for v in (logprobs.get("token_logprobs") or []) if v is not None]
    if not values:
        # A server without log-probs: rank all candidates alike rather than fail the search.
        return Candidate(text, 0.0, 0)
    total = sum(v if math.isfinite(v) else -1e4 for v in values)
    return Candidate(text, total, len(values))


def _server_message(reply: HttpReply) -> str:
    try:
        data = json.loads(reply.body)
        error = data.get("error", data) if isinstance(data, dict) else data
        message = error.get("message", error) if isinstance(error, dict) else error
        text = str(message)
    except ValueError:
        text = reply.body.decode("utf-8", "replace")
    text = " ".join(text.split())
    return (text[:300] + "…") if len(text) > 300 else (text or "no message")


def _retry_after(reply: HttpReply) -> float | None:
    """Seconds from a `Retry-After` header (seconds or an HTTP date), if there is one."""
    value = reply.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def create(spec: str, config: Config) -> Generator:
    """Entry point: `--model openai:MODEL@BASE_URL`."""
    model, url = parse_spec(spec)
    opts = config.openai
    generator = OpenAIGenerator(
        model,
        url,
        api_key=os.environ.get(opts.api_key_env) or None,
        timeout=opts.timeout,
        max_retries=opts.max_retries,
        backoff_seconds=opts.backoff_seconds,
        max_backoff_seconds=opts.max_backoff_seconds,
        max_concurrency=opts.max_concurrency,
        seed=config.generation.seed,
        api_key_env=opts.api_key_env,
    )
    return generator
