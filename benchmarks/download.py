"""Downloading one URL to a file: finite timeouts, a progress bar, an atomic rename at the end."""

from __future__ import annotations

import contextlib
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from prover import __version__
from prover.errors import InputError

_CHUNK = 1 << 16


def fetch(url: str, dest: Path, *, timeout: float, description: str, bar: bool = True) -> Path:
    """Download `url` to `dest` (written as `dest.part`, renamed when complete).

    `timeout` bounds each network operation and the whole transfer; a failure is an InputError
    naming the URL and what to do instead.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".part")
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(url, headers={"User-Agent": f"prover/{__version__}"})
    try:
        with (
            urllib.request.urlopen(request, timeout=timeout) as response,
            partial.open("wb") as out,
        ):
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            progress = _progress(total, description, bar)
            try:
                while True:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"download took longer than {timeout:.0f} s")
                    chunk = response.read(_CHUNK)
                    if not chunk:
                        break
                    out.write(chunk)
                    progress.update(len(chunk))
            finally:
                progress.close()
    except (urllib.error.URLError, OSError, TimeoutError, ValueError) as exc:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise InputError(
            f"cannot download {url} ({_reason(exc)}); check the network or proxy, set "
            "bench.mirror to a reachable mirror, or pass --data PATH to a local copy"
        ) from exc
    os.replace(partial, dest)
    return dest


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return str(exc) or type(exc).__name__


class _NoProgress:
    def update(self, n: int) -> None:
        return None

    def close(self) -> None:
        return None


def _progress(total: int | None, description: str, bar: bool):  # type: ignore[no-untyped-def]
    if not bar:
        sys.stderr.write(f"downloading {description}\n")
        return _NoProgress()
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=description,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        file=sys.stderr,
        leave=False,
    )
