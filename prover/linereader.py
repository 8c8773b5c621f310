"""Blank-line-framed output of a child process, read in linear time under a byte budget.

A block is what a child writes between blank lines (lines of only spaces, tabs or CR). The reader
pulls fixed-size chunks, looks for the end of a block only in bytes it has not seen yet (so a
100 MB line or a flood of noise costs time linear in its size), and fails with `OutputOverflow`
as soon as the bytes it holds exceed its budget: memory stays below budget + one chunk, whatever
the child writes. The budget counts the buffer itself, not decoded text or line objects.
"""

from __future__ import annotations

import asyncio
import re

from prover.errors import BackendError

CHUNK_BYTES = 64 * 1024

_SPACES = re.compile(rb"[ \t\r]*")
_SPACES_NEWLINE = re.compile(rb"[ \t\r]*\n")
_BLANK_LINE = re.compile(rb"^[ \t\r]*\n", re.MULTILINE)


class OutputOverflow(BackendError):
    """The child wrote more than the budget without ending a block."""


class BlockReader:
    """Reads blank-line-terminated blocks from `stream`, holding at most `budget` bytes."""

    def __init__(self, stream: asyncio.StreamReader, budget: int, chunk: int = CHUNK_BYTES):
        self.budget = budget
        self._stream = stream
        self._chunk = chunk
        self._buffer = bytearray()
        # Offsets into the buffer: where the current block starts, where its unterminated last
        # line starts, and where the bytes not yet searched for a blank line begin.
        self._start = 0
        self._line_start = 0
        self._line_blank = True  # the unterminated line holds only spaces so far
        self._unscanned = 0

    @property
    def buffered(self) -> int:
        """Bytes of output held for the block being read (what the budget counts)."""
        return len(self._buffer) - self._start

    async def block(self) -> bytes:
        """The next block with content, without its blank line; EOFError when output ends first.

        Empty blocks (blank lines between blocks) are skipped; a block cut off by the end of the
        output is dropped with it.
        """
        while True:
            found = self._take()
            if found is not None:
                if found.strip():
                    return found
                continue
            if self.buffered > self.budget:
                held = self.buffered
                self._buffer = bytearray()
                self._restart(0)
                raise OutputOverflow(f"{held} bytes of output without a blank line")
            if self._start:  # drop consumed blocks before growing (one copy per chunk at most)
                del self._buffer[: self._start]
                self._line_start -= self._start
                self._unscanned -= self._start
                self._start = 0
            chunk = await self._stream.read(self._chunk)
            if not chunk:
                self._buffer = bytearray()
                self._restart(0)
                raise EOFError("the process closed its output")
            self._buffer += chunk

    def _restart(self, at: int) -> None:
        self._start = self._line_start = self._unscanned = at
        self._line_blank = True

    def _take(self) -> bytes | None:
        """Cut the first complete block off the buffer, searching only unscanned bytes."""
        buf, new = self._buffer, self._unscanned
        if new >= len(buf):
            return None
        end = cut = -1
        if self._line_blank:
            m = _SPACES_NEWLINE.match(buf, new)
            if m is not None:  # the unterminated line was blank: it ends the block
                end, cut = self._line_start, m.end()
        if end < 0:
            first = buf.find(b"\n", new)
            if first < 0:
                # Still inside one line: it stays blank only if the new bytes are all spaces.
                self._line_blank = self._line_blank and _SPACES.fullmatch(buf, new) is not None
                self._unscanned = len(buf)
                return None
            m = _BLANK_LINE.search(buf, first + 1)
            if m is None:
                self._line_start = buf.rfind(b"\n", first) + 1
                self._line_blank = _SPACES.fullmatch(buf, self._line_start) is not None
                self._unscanned = len(buf)
                return None
            end, cut = m.start(), m.end()
        found = bytes(buf[self._start : end])
        self._restart(cut)
        return found
