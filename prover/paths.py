"""User-named files: a missing path, a directory, a full disk, non-UTF-8 text each get their own
one-line InputError naming the path (checked before any work, where that is possible)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from prover.errors import InputError

# errno → what went wrong and what to do; anything else falls back to the OS's own words.
_ERRNO: dict[int, str] = {
    errno.ENOENT: "does not exist; check the path",
    errno.EISDIR: "is a directory; pass a file path",
    errno.ENOTDIR: "has a file where a directory was expected; check the path",
    errno.ENOSPC: "cannot be written: the disk is full; free some space or write elsewhere",
    errno.EACCES: "is not accessible (permission denied); check its permissions",
    errno.EPERM: "is not accessible (operation not permitted); check its permissions",
    errno.EROFS: "is on a read-only file system; write elsewhere",
    errno.EDQUOT: "cannot be written: the disk quota is exceeded; free some space",
}


def os_error_message(exc: OSError, what: str = "", path: object = None) -> str:
    """One line for an OSError on a user-named path, e.g. "--out /dev/full cannot be written…"."""
    name = exc.filename if exc.filename is not None else (path if path is not None else "")
    subject = " ".join(x for x in (what, f"'{name}'" if name != "" else "") if x) or "a path"
    reason = _ERRNO.get(exc.errno or 0) or f"cannot be used ({exc.strerror or exc})"
    return f"{subject} {reason}"


MAX_INPUT_BYTES = 1 << 30  # a user-named input file read whole; the largest we carry is < 1 MB


def require_file(path: str | os.PathLike[str], what: str) -> Path:
    """`path` as an existing regular file, else an InputError saying why not.

    Devices are refused: /dev/zero or /dev/full read as an endless line of NUL bytes.
    """
    p = Path(path).expanduser()
    if p.is_dir():
        raise InputError(f"{what} '{p}' is a directory; pass a file")
    if not p.exists():
        parent = p.parent
        where = "" if parent.is_dir() else f" (nor does its directory {parent})"
        raise InputError(f"{what} '{p}' does not exist{where}; check the path")
    if not p.is_file():
        raise InputError(f"{what} '{p}' is not a regular file (a device or socket?); pass a file")
    return p


def read_text(path: str | os.PathLike[str], what: str) -> str:
    """The whole UTF-8 text of a user-named file, or a one-line InputError."""
    p = require_file(path, what)
    try:
        size = p.stat().st_size
        if size > MAX_INPUT_BYTES:
            raise InputError(
                f"{what} '{p}' is {size / 2**30:.1f} GiB (at most {MAX_INPUT_BYTES >> 30} GiB); "
                "pass the right file"
            )
        raw = p.read_bytes()
    except OSError as exc:
        raise InputError(os_error_message(exc, what, p)) from exc
    return decode(raw, p, what)


def decode(raw: bytes, path: Path, what: str) -> str:
    """UTF-8 text, or an InputError naming the file, the line and the byte offset."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise InputError(not_utf8(path, what, line, exc.start)) from exc


def not_utf8(path: Path, what: str, line: int, offset: int | None = None) -> str:
    at = f" (line {line}" + (f", byte {offset})" if offset is not None else ")")
    return f"{what} '{path}' is not UTF-8 text{at}; convert it to UTF-8"


def check_output_path(path: str | os.PathLike[str], what: str) -> Path:
    """Refuse, before any work, an output path that is a directory or whose directory is missing."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise InputError(f"{what} '{p}' is a directory; pass a file path inside it")
    parent = p.parent
    if not parent.exists():
        raise InputError(f"{what} '{p}': its directory {parent} does not exist; create it first")
    if not parent.is_dir():
        raise InputError(f"{what} '{p}': {parent} is a file, not a directory; check the path")
    return p


def write_text(path: str | os.PathLike[str], text: str, what: str) -> None:
    """Write `text` (UTF-8) to a user-named file; a full disk or a bad path is an InputError."""
    p = check_output_path(path, what)
    try:
        with p.open("w", encoding="utf-8") as out:
            out.write(text)
    except OSError as exc:  # a full disk shows only at write or close, without a file name
        raise InputError(os_error_message(exc, what, p)) from exc
