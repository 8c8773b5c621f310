"""The Lean REPL's framing: one JSON request per blank-line-ended block; multi-line replies.

The REPL reads lines until a blank one and joins them after trimming each, so a request must not
contain a raw newline inside a string (JSON escapes keep them) nor a blank line. Replies are one
JSON object, possibly spread over several lines, followed by a blank line.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from prover.errors import BackendError

MAX_REPLY_BYTES = 512 * 1024 * 1024


class ProtocolError(BackendError):
    """The process wrote something that is not a REPL reply (or too much of it)."""


def encode_request(request: Mapping[str, Any]) -> bytes:
    """One request as the REPL reads it: compact JSON on a single line, then a blank line."""
    return (json.dumps(request, ensure_ascii=False) + "\n\n").encode("utf-8")


def decode_reply(text: str) -> dict[str, Any] | None:
    """The JSON object in one blank-line-terminated block, skipping any noise lines before it."""
    lines = text.splitlines()
    for start, line in enumerate(lines):
        if not line.lstrip().startswith("{"):
            continue
        try:
            value = json.loads("\n".join(lines[start:]))
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return None


async def read_reply(stream: asyncio.StreamReader) -> dict[str, Any]:
    """Read the next reply; raises EOFError when the process closed its output first."""
    lines: list[bytes] = []
    size = 0
    while True:
        line = await stream.readline()
        if not line:
            raise EOFError("the REPL closed its output")
        if line.strip():
            lines.append(line)
            size += len(line)
            if size > MAX_REPLY_BYTES:
                raise ProtocolError(f"reply larger than {MAX_REPLY_BYTES} bytes")
            continue
        if not lines:
            continue  # blank lines between replies
        reply = decode_reply(b"".join(lines).decode("utf-8", errors="replace"))
        if reply is not None:
            return reply
        # Noise (e.g. a debug print) ended in a blank line; the reply is still to come.
