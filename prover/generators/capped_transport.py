"""An httpx2 transport that refuses a response body larger than a cap, counted while it arrives.

The openai client reads every body whole (successes and error replies alike); wrapping the
transport is the one place where a body that never ends can be stopped before it fills memory.
The count is of bytes on the wire, so compressed replies are refused outright: a small gzip body
could inflate past any cap after counting.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from prover.errors import BackendError


class ResponseTooLarge(BackendError):
    """A reply body passed the cap; not a connection fault, so the client does not retry it."""


def capped_transport(inner: Any, max_bytes: int) -> Any:
    """`inner` (an `httpx2.AsyncBaseTransport`) whose response bodies stop after `max_bytes`."""
    import httpx2

    class _CappedStream(httpx2.AsyncByteStream):
        def __init__(self, stream: Any, url: str) -> None:
            self._stream = stream
            self._url = url

        async def __aiter__(self) -> AsyncIterator[bytes]:
            received = 0
            async for chunk in self._stream:
                received += len(chunk)
                if received > max_bytes:
                    raise ResponseTooLarge(_too_large(self._url, max_bytes))
                yield chunk

        async def aclose(self) -> None:
            await self._stream.aclose()

    class _CappedTransport(httpx2.AsyncBaseTransport):
        async def handle_async_request(self, request: Any) -> Any:
            response = await inner.handle_async_request(request)
            url = str(request.url)
            declared = response.headers.get("content-length", "")
            encoding = response.headers.get("content-encoding", "identity").strip().lower()
            problem = None
            if declared.isdigit() and int(declared) > max_bytes:
                problem = _too_large(url, max_bytes, f" (it declares {int(declared)} bytes)")
            elif encoding not in ("", "identity"):
                problem = (
                    f"openai: {url} sent a '{encoding}'-compressed reply although none was "
                    "asked for; its size cannot be bounded, so it is refused"
                )
            if problem is not None:
                await response.aclose()
                raise ResponseTooLarge(problem)
            return httpx2.Response(
                response.status_code,
                headers=response.headers,
                stream=_CappedStream(response.stream, url),
                request=request,
                extensions=response.extensions,
            )

        async def aclose(self) -> None:
            await inner.aclose()

    return _CappedTransport()


def _too_large(url: str, max_bytes: int, detail: str = "") -> str:
    return (
        f"openai: the reply from {url} is larger than openai.max_response_bytes = {max_bytes}"
        f"{detail}; the server is broken or the request too big — lower n or max_tokens, or "
        "raise the cap with --set openai.max_response_bytes=BYTES"
    )
