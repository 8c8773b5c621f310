"""The Lean REPL's framing: one JSON request per blank-line-ended block; multi-line replies.

The REPL reads lines until a blank one and joins them after trimming each, so a request must not
contain a raw newline inside a string (JSON escapes keep them) nor a blank line. Replies are one
JSON object, possibly spread over several lines, followed by a blank line; since JSON strings
escape newlines, a reply never contains a blank line, so each block holds at most one reply, as
its last lines. Anything else (noise a wrapper or a debug print writes) is skipped block by block.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from typing import Any

from prover.errors import BackendError
from prover.linereader import BlockReader

MAX_REPLY_BYTES = 512 * 1024 * 1024

# A line that may open the reply, and JSON strings (which never span lines) to ignore when
# counting brackets.
_OPENING_LINE = re.compile(rb"^[ \t]*\{", re.MULTILINE)
_STRING = re.compile(rb'"(?:[^"\\\n]++|\\.)*+"')


class ProtocolError(BackendError):
    """The process wrote something that is not a REPL reply (or too much of it)."""


def encode_request(request: Mapping[str, Any]) -> bytes:
    """One request as the REPL reads it: compact JSON on a single line, then a blank line."""
    return (json.dumps(request, ensure_ascii=False) + "\n\n").encode("utf-8")


def _depth(segment: bytes) -> int:
    """Opened minus closed brackets in `segment`, outside strings."""
    bare = _STRING.sub(b"", segment)
    return bare.count(b"{") + bare.count(b"[") - bare.count(b"}") - bare.count(b"]")


def reply_start(block: bytes) -> int | None:
    """Offset of the line where the reply in `block` begins: the last line opening with `{` whose
    rest of the block closes every bracket it opens (a nested object's line closes more than it
    opens). One pass over the block, whatever noise precedes the reply."""
    depth, end = 0, len(block)
    for start in reversed([m.start() for m in _OPENING_LINE.finditer(block)]):
        depth += _depth(block[start:end])
        end = start
        if depth == 0:
            return start
    return None


def decode_reply(block: str | bytes) -> dict[str, Any] | None:
    """The JSON object ending one blank-line-terminated block, or None if the block is noise.

    Raises ProtocolError when the object is not UTF-8 or nests too deeply to decode.
    """
    data = block.encode("utf-8") if isinstance(block, str) else block
    start = reply_start(data)
    if start is None:
        return None
    try:
        value = json.loads(data[start:])
    except UnicodeDecodeError:
        raise ProtocolError("the REPL wrote a reply that is not UTF-8") from None
    except RecursionError:
        raise ProtocolError("the REPL wrote a reply nested too deeply to decode") from None
    except ValueError:  # JSONDecodeError: a line of noise that merely starts with `{`
        return None
    return value if isinstance(value, dict) else None


class ReplyReader:
    """Replies from one REPL process's stdout, holding at most `budget` bytes of its output."""

    def __init__(self, stream: asyncio.StreamReader, budget: int = MAX_REPLY_BYTES) -> None:
        self._blocks = BlockReader(stream, budget)

    async def read(self) -> dict[str, Any]:
        """The next reply; EOFError when the process closed its output first, OutputOverflow
        (prover.linereader) when it wrote more than the budget without a blank line."""
        while True:
            reply = decode_reply(await self._blocks.block())
            if reply is not None:
                return reply
