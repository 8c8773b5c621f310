"""The `openai` generator: any OpenAI-compatible server, through the official async client.

`--model openai:MODEL@BASE_URL`, e.g. `openai:EleutherAI/llemma_7b@http://localhost:8000/v1` for a
server started with `vllm serve EleutherAI/llemma_7b` (SGLang and TGI speak the same API). A `str`
prompt goes to `/v1/completions`, a `Chat` to `/v1/chat/completions`; one request per `generate`
call with `n`, `logprobs`, `stop` and `seed`, and the server batches concurrent requests itself.

Limits, all from `[openai]`: `timeout` bounds a whole call, the client's retries and their waits
included; when it fires the call is cancelled, which closes its connection. `max_retries` is the
client's own retry count (429, 5xx, dropped connections; exponential backoff, `Retry-After`
honoured up to two minutes). `max_concurrency` bounds requests in flight and pooled connections;
`max_response_bytes` stops a reply body while it arrives (`capped_transport`). The API key comes
from the variable named by `api_key_env` ("EMPTY", vLLM's convention, when it is unset).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
from typing import Any

from prover.config import Config
from prover.errors import BackendError, InputError, MissingDependencyError
from prover.generators.capped_transport import ResponseTooLarge, capped_transport
from prover.protocols import GenerationParams, Generator
from prover.types import Candidate, Chat, Prompt

DEFAULT_BASE_URL = "https://api.openai.com/v1"
NO_KEY = "EMPTY"  # what vLLM's docs pass to a server started without --api-key
_ENDPOINTS = ("/chat/completions", "/completions")
LOGPROBS_HINT = (
    "best-first search ranks candidates by them; enable them on the server (vLLM: "
    "--max-logprobs 1 or more; other servers: support for the request's `logprobs` field)"
)


def parse_spec(spec: str) -> tuple[str, str]:
    """`MODEL@BASE_URL` → (model, base URL ending in `/v1`); the URL may omit `/v1` or name an
    endpoint."""
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
    for endpoint in _ENDPOINTS:
        if base.endswith(endpoint):
            base = base[: -len(endpoint)]
            break
    return model, base if base.endswith("/v1") else base + "/v1"


def _require_openai() -> Any:
    try:
        import httpx2  # noqa: F401  (the transport this client runs on)
        import openai
    except ImportError as exc:
        raise MissingDependencyError(
            f"python package '{exc.name or 'openai'}' (the openai backend's client)",
            "pip install 'prover[openai]'",
        ) from exc
    return openai


class OpenAIGenerator:
    """Client of one OpenAI-compatible server (see module docstring)."""

    name = "openai"

    def __init__(
        self,
        model: str,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 5,
        max_concurrency: int = 64,
        max_response_bytes: int = 32 * 2**20,
        seed: int | None = None,
        api_key_env: str = "OPENAI_API_KEY",
    ) -> None:
        self.openai = _require_openai()
        self.model = model
        self.base_url = base_url
        self.api_key = api_key or NO_KEY
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_concurrency = max_concurrency
        self.max_response_bytes = max_response_bytes
        self.seed = seed
        self.api_key_env = api_key_env
        # Loop-bound state: a client (its pooled connections) and a queue of request slots.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Any = None
        self._slots: asyncio.Semaphore | None = None
        self._inflight: set[asyncio.Task[bytes]] = set()

    async def generate(
        self, prompt: Prompt, n: int, params: GenerationParams | None = None
    ) -> list[Candidate]:
        params = params or GenerationParams()
        if n < 1:
            return []
        if params.beam:
            raise InputError(
                "beam search is not part of the OpenAI API; use --model vllm:… "
                "with vllm.beam_search or --model hf:… with hf.beam_search"
            )
        client, slots = self._bound()
        chat = isinstance(prompt, Chat)
        endpoint = self.base_url + ("/chat/completions" if chat else "/completions")
        async with slots:  # waiting for a slot is queueing, not the server's time
            task = asyncio.ensure_future(self._send(client, prompt, n, params))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
            try:
                # On expiry wait_for cancels the task and waits for it: its connection is closed.
                body = await asyncio.wait_for(task, self.timeout)
            except asyncio.TimeoutError:
                raise BackendError(
                    f"openai: no complete reply from {endpoint} within {self.timeout:g} s "
                    "(openai.timeout, retries included); the server is hung, dripping or "
                    "overloaded — check it, or raise the limit with --set openai.timeout=SECONDS"
                ) from None
        return _candidates(body, endpoint, chat, params.logprobs)

    async def close(self) -> None:
        """Cancel requests in flight (closing their connections), then the connection pool."""
        tasks = list(self._inflight)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        client, self._client = self._client, None
        if client is not None and self._loop is asyncio.get_running_loop():
            await client.close()

    def _bound(self) -> tuple[Any, asyncio.Semaphore]:
        """The client and slots of the running event loop (a new loop starts afresh)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._slots is None or self._loop is not loop:
            import httpx2

            limits = httpx2.Limits(
                max_connections=self.max_concurrency,
                max_keepalive_connections=self.max_concurrency,
            )
            transport = capped_transport(
                httpx2.AsyncHTTPTransport(limits=limits), self.max_response_bytes
            )
            # Each connect/read/write; a backstop only, as the whole call's deadline fires first
            # (a per-read timeout equal to it would race it and start a retry).
            timeout = httpx2.Timeout(self.timeout + 1.0)
            http = httpx2.AsyncClient(
                transport=transport,
                timeout=timeout,
                # Bytes are counted on the wire: a compressed body could inflate past the cap.
                headers={"Accept-Encoding": "identity"},
            )
            self._client = self.openai.AsyncOpenAI(
                api_key=self.api_key,
                base_url=self.base_url,
                timeout=timeout,
                max_retries=self.max_retries,
                http_client=http,
            )
            self._slots = asyncio.Semaphore(self.max_concurrency)
            self._loop = loop
        return self._client, self._slots

    async def _send(self, client: Any, prompt: Prompt, n: int, params: GenerationParams) -> bytes:
        """One API call (the client retries inside it); the raw body of the successful reply."""
        options: dict[str, Any] = {
            "model": self.model,
            "n": n,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
        }
        if params.stop:
            options["stop"] = list(params.stop)
        seed = params.seed if params.seed is not None else self.seed
        if seed is not None:
            options["seed"] = seed
        openai = self.openai
        try:
            if isinstance(prompt, Chat):
                if params.logprobs:
                    options["logprobs"] = True
                messages = [{"role": m.role, "content": m.content} for m in prompt.messages]
                reply = await client.chat.completions.with_raw_response.create(
                    messages=messages, **options
                )
            else:
                if params.logprobs:
                    options["logprobs"] = 1  # the sampled token's log-prob
                reply = await client.completions.with_raw_response.create(prompt=prompt, **options)
            return bytes(reply.http_response.content)
        except ResponseTooLarge:
            raise
        except openai.APIStatusError as err:
            raise BackendError(self._status_failure(err)) from None
        except openai.APIConnectionError as err:
            cause = _root_cause(err)
            raise BackendError(
                f"openai: {err.request.url} could not be reached or dropped the connection "
                f"({cause}) — gave up after {self.max_retries + 1} attempts; check that the "
                "server is up (e.g. `vllm serve MODEL`) and the URL in --model openai:MODEL@URL"
            ) from None

    def _status_failure(self, err: Any) -> str:
        status = err.status_code
        url = err.response.request.url
        message = _server_message(err.response.content)
        if status == 429 or status >= 500:
            return (
                f"openai: {url} answered HTTP {status}: {message} — gave up after "
                f"{self.max_retries + 1} attempts (openai.max_retries = {self.max_retries})"
            )
        hint = ""
        if status in (401, 403):
            hint = f"; put the API key in ${self.api_key_env} (openai.api_key_env names it)"
        elif status == 404:
            hint = "; check the model name and base URL in --model openai:MODEL@URL"
        return f"openai: {url} refused the request (HTTP {status}: {message}){hint}"


def _candidates(body: bytes, url: str, chat: bool, need_logprobs: bool) -> list[Candidate]:
    try:
        data = json.loads(body)
        choices = sorted(data["choices"], key=lambda c: c.get("index", 0))
        return [_candidate(choice, chat, need_logprobs, url) for choice in choices]
    except BackendError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        excerpt = body[:200].decode("utf-8", "replace")
        kind = "chat completions" if chat else "completions"
        raise BackendError(
            f"openai: {url} sent a reply that is not a {kind} response "
            f"({type(exc).__name__}: {exc}): {excerpt!r}"
        ) from exc


def _candidate(choice: dict[str, Any], chat: bool, need_logprobs: bool, url: str) -> Candidate:
    logprobs = choice.get("logprobs")
    if chat:
        text = str(choice["message"].get("content") or "")
        steps = (logprobs or {}).get("content") if isinstance(logprobs, dict) else None
        values = None if steps is None else [step.get("logprob") for step in steps]
    else:
        text = str(choice["text"])
        values = None if not isinstance(logprobs, dict) else logprobs.get("token_logprobs")
    numbers = [float(v) for v in values or [] if v is not None]
    if need_logprobs and (values is None or (text and not numbers)):
        raise BackendError(f"openai: {url} sent no per-token log-probs; {LOGPROBS_HINT}")
    total = sum(v if math.isfinite(v) else -1e4 for v in numbers)
    return Candidate(text, total, len(numbers))


def _server_message(body: bytes) -> str:
    try:
        data = json.loads(body)
        error = data.get("error", data) if isinstance(data, dict) else data
        message = error.get("message", error) if isinstance(error, dict) else error
        text = str(message)
    except ValueError:
        text = body.decode("utf-8", "replace")
    text = " ".join(text.split())
    return (text[:300] + "…") if len(text) > 300 else (text or "no message")


def _root_cause(err: BaseException) -> str:
    while err.__cause__ is not None:
        err = err.__cause__
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def create(spec: str, config: Config) -> Generator:
    """Entry point: `--model openai:MODEL@BASE_URL`."""
    model, base_url = parse_spec(spec)
    opts = config.openai
    return OpenAIGenerator(
        model,
        base_url,
        api_key=os.environ.get(opts.api_key_env) or None,
        timeout=opts.timeout,
        max_retries=opts.max_retries,
        max_concurrency=opts.max_concurrency,
        max_response_bytes=opts.max_response_bytes,
        seed=config.generation.seed,
        api_key_env=opts.api_key_env,
    )
