"""The `openai` generator against a real HTTP server on 127.0.0.1 speaking the completions JSON."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from prover.config import Config, load_config
from prover.errors import BackendError, InputError
from prover.generators.cache import CachedGenerator
from prover.generators.openai import OpenAIGenerator, create, parse_spec
from prover.protocols import GenerationParams
from prover.run import build_generator
from prover.types import Chat, Message


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-able; None = a completions answer built from the request
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False  # accept the request and never answer (until the test ends)


@dataclass
class Seen:
    at: float
    body: dict[str, Any]
    headers: dict[str, str]


class CompletionsServer:
    """Answers POST /v1/completions and /v1/chat/completions from a script of replies; records
    every request it saw."""

    def __init__(self) -> None:
        self.script: list[Reply] = []
        self.seen: list[Seen] = []
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                headers = {k.lower(): v for k, v in self.headers.items()}
                server.seen.append(Seen(time.monotonic(), body, headers))
                reply = server.script.pop(0) if server.script else Reply()
                if self.path not in ("/v1/completions", "/v1/chat/completions"):
                    reply = Reply(404, {"error": {"message": f"no route {self.path}"}})
                if reply.hang:
                    server.release.wait(30)  # a stand-in hang, bounded so the test always ends
                    return
                chat = self.path.endswith("/chat/completions")
                payload = reply.body if reply.body is not None else _answer(body, chat)
                data = json.dumps(payload).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        if not self.release.is_set():
            self.release.set()
            self.httpd.shutdown()
            self.httpd.server_close()


def _answer(request: dict[str, Any], chat: bool = False) -> dict[str, Any]:
    """A (chat) completions response as vLLM's server writes it: n choices with token log-probs."""
    choices = []
    for i in range(request["n"]):
        tokens = ["nl", "inar", "ith"][: 1 + i % 3]
        lp = -0.25 * (i + 1)
        choice: dict[str, Any] = {"index": request["n"] - 1 - i, "finish_reason": "stop"}
        if chat:
            choice["message"] = {"role": "assistant", "content": "".join(tokens)}
            choice["logprobs"] = {"content": [{"token": t, "logprob": lp} for t in tokens]}
        else:
            choice["text"] = "".join(tokens)
            choice["logprobs"] = {
                "tokens": tokens,
                "token_logprobs": [lp] * len(tokens),
                "top_logprobs": [{t: lp} for t in tokens],
                "text_offset": list(range(len(tokens))),
            }
        choices.append(choice)  # out of index order on purpose
    return {
        "id": "cmpl-1",
        "object": "chat.completion" if chat else "text_completion",
        "model": request["model"],
        "choices": choices,
        "usage": {"prompt_tokens": 5, "completion_tokens": 6},
    }


@pytest.fixture
def server() -> Iterator[CompletionsServer]:
    srv = CompletionsServer()
    yield srv
    srv.close()


def _client(server: CompletionsServer, **options: Any) -> OpenAIGenerator:
    model, url = parse_spec(f"llemma-7b@{server.base_url}")
    settings: dict[str, Any] = {"timeout": 5.0, "max_retries": 3}
    settings.update(options)
    return OpenAIGenerator(model, url, api_key="sk-test", **settings)


def test_model_spec_and_base_url() -> None:
    assert parse_spec("m@http://h:8000/v1") == ("m", "http://h:8000/v1")
    assert parse_spec("m@http://h:8000") == ("m", "http://h:8000/v1")
    assert parse_spec("m@https://h/v1/completions/") == ("m", "https://h/v1")
    assert parse_spec("m@https://h/v1/chat/completions") == ("m", "https://h/v1")
    assert parse_spec("org/m@x@http://h/v1") == ("org/m@x", "http://h/v1")
    assert parse_spec("gpt-3.5-turbo-instruct")[1] == "https://api.openai.com/v1"
    for bad in ("m@localhost:8000", "@http://h/v1"):
        with pytest.raises(InputError):
            parse_spec(bad)


async def test_a_normal_reply_gives_n_candidates_with_logprobs(
    server: CompletionsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_KEY", "sk-from-env")
    config = load_config(
        None, {"model": f"openai:llemma-7b@{server.base_url}", "openai.api_key_env": "MY_KEY"}
    )
    gen = build_generator(config)  # the path `--model openai:…` takes
    assert isinstance(gen, CachedGenerator) and gen.name == "openai"
    params = GenerationParams(temperature=0.5, top_p=0.9, max_tokens=64, stop=("\n---", "---"))
    cands = await gen.generate("Tactic state:\n---\n⊢ True\n---\nNext tactic:\n---\n", 3, params)
    # choices come back in index order whatever the server's order
    assert [(c.text, c.num_tokens) for c in cands] == [("nlinarith", 3), ("nlinar", 2), ("nl", 1)]
    assert [c.logprob for c in cands] == pytest.approx([-2.25, -1.0, -0.25])
    (req,) = server.seen
    assert req.body["model"] == "llemma-7b" and req.body["n"] == 3
    assert req.body["logprobs"] == 1 and req.body["stop"] == ["\n---", "---"]
    assert (req.body["max_tokens"], req.body["temperature"], req.body["top_p"]) == (64, 0.5, 0.9)
    assert req.headers["authorization"] == "Bearer sk-from-env"
    assert req.body["seed"] == 0  # generation.seed, when the runner set none
    await gen.close()


async def test_a_chat_prompt_goes_to_chat_completions_with_its_messages(
    server: CompletionsServer,
) -> None:
    gen = _client(server)
    chat = Chat((Message("system", "You prove theorems."), Message("user", "⊢ True")))
    params = GenerationParams(temperature=0.7, max_tokens=32, stop=("```",), seed=11)
    cands = await gen.generate(chat, 2, params)
    assert [(c.text, c.num_tokens) for c in cands] == [("nlinar", 2), ("nl", 1)]
    assert [c.logprob for c in cands] == pytest.approx([-1.0, -0.25])
    (req,) = server.seen
    assert req.body["messages"] == [
        {"role": "system", "content": "You prove theorems."},
        {"role": "user", "content": "⊢ True"},
    ]
    assert req.body["logprobs"] is True and req.body["n"] == 2 and req.body["seed"] == 11
    assert req.body["stop"] == ["```"] and "prompt" not in req.body
    await gen.close()


async def test_a_500_is_retried_and_then_succeeds(server: CompletionsServer) -> None:
    server.script = [Reply(500, {"error": {"message": "engine busy"}}), Reply()]
    gen = _client(server)
    cands = await gen.generate("p", 2)
    assert len(cands) == 2 and len(server.seen) == 2
    await gen.close()


async def test_a_429_waits_as_long_as_retry_after_says(server: CompletionsServer) -> None:
    server.script = [Reply(429, {"error": {"message": "slow down"}}, {"Retry-After": "1"})]
    gen = _client(server)
    cands = await gen.generate("p", 1)
    assert len(cands) == 1 and len(server.seen) == 2
    assert server.seen[1].at - server.seen[0].at >= 0.95
    await gen.close()


async def test_a_hung_server_fails_after_the_timeout_with_a_clear_error(
    server: CompletionsServer,
) -> None:
    server.script = [Reply(hang=True)]
    gen = _client(server, timeout=0.5)
    start = time.monotonic()
    with pytest.raises(BackendError) as err:
        await gen.generate("p", 1)
    elapsed = time.monotonic() - start
    assert 0.4 < elapsed < 5.0
    message = str(err.value)
    assert "within 0.5 s" in message and "openai.timeout" in message and "\n" not in message
    assert len(server.seen) == 1  # the deadline covers the call: no retry starts after it
    await gen.close()


async def test_persistent_5xx_gives_up_after_max_retries(server: CompletionsServer) -> None:
    server.script = [Reply(503, {"error": {"message": "overloaded"}})] * 3
    gen = _client(server, max_retries=2)
    with pytest.raises(BackendError, match=r"HTTP 503: overloaded .* after 3 attempts"):
        await gen.generate("p", 1)
    assert len(server.seen) == 3
    await gen.close()


async def test_client_errors_are_not_retried_and_name_the_fix(server: CompletionsServer) -> None:
    server.script = [Reply(401, {"error": {"message": "bad key"}})]
    gen = _client(server)
    with pytest.raises(BackendError, match=r"HTTP 401: bad key.*OPENAI_API_KEY"):
        await gen.generate("p", 1)
    server.script = [Reply(400, {"error": {"message": "maximum context length is 4096"}})]
    with pytest.raises(BackendError, match="maximum context length"):
        await gen.generate("p", 1)
    assert len(server.seen) == 2
    await gen.close()


async def test_refused_connections_are_retried_then_reported(server: CompletionsServer) -> None:
    server.close()  # nothing listens on the port any more
    gen = _client(server, max_retries=1)
    with pytest.raises(BackendError, match=r"could not be reached .* after 2 attempts"):
        await gen.generate("p", 1)
    await gen.close()


async def test_a_reply_without_logprobs_is_an_error_naming_the_server_option(
    server: CompletionsServer,
) -> None:
    no_logprobs = Reply(200, {"choices": [{"index": 0, "text": "simp", "logprobs": None}]})
    server.script = [no_logprobs, no_logprobs, Reply(200, {"unexpected": True})]
    gen = _client(server)
    with pytest.raises(BackendError, match=r"no per-token log-probs.*--max-logprobs") as err:
        await gen.generate("p", 1)
    assert "\n" not in str(err.value)
    # A caller that does not rank asks for none and takes the text alone.
    (cand,) = await gen.generate("p", 1, GenerationParams(logprobs=False))
    assert (cand.text, cand.logprob, cand.num_tokens) == ("simp", 0.0, 0)
    assert "logprobs" not in server.seen[1].body
    with pytest.raises(BackendError, match="not a completions response"):
        await gen.generate("p2", 1)
    with pytest.raises(InputError, match="beam search"):
        await gen.generate("p3", 1, GenerationParams(beam=True))
    await gen.close()


def test_create_reads_the_section_and_validates_it() -> None:
    gen: Callable[..., Any] = create
    inner = gen("m@http://127.0.0.1:9/v1", Config())
    assert isinstance(inner, OpenAIGenerator)
    assert (inner.timeout, inner.max_retries) == (120.0, 5)
    with pytest.raises(InputError, match=r"openai\.timeout"):
        load_config(None, {"openai.timeout": 0})
