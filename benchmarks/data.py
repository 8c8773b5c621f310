"""Pinned data files: found via `--data`, in the package, in the cache, or built from upstream.

A data file is pinned by the sha256 of its normalised JSONL form. The package carries the pinned
miniF2F files (benchmarks/data/, provenance and licences beside them), so a fresh install needs no
network. `--data`, the packaged copy and the cache are checked against the pin on every load; a
packaged copy that does not match (another pin) is skipped, not refused. A download fetches the
upstream repositories at their pinned commits, converts them (benchmarks/upstream.py), checks the
result against the same pin, and only then moves it into the cache.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.download import fetch
from prover.config import Config
from prover.errors import InputError

GITHUB = "https://github.com"


@dataclass(frozen=True)
class Source:
    """One upstream repository at one commit."""

    repository: str  # owner/name on GitHub
    commit: str
    license: str = ""

    def archive_url(self, mirror: str = "") -> str:
        base = (mirror or GITHUB).rstrip("/")
        return f"{base}/{self.repository}/archive/{self.commit}.tar.gz"

    def describe(self) -> dict[str, str]:
        return {"repository": self.repository, "commit": self.commit, "license": self.license}


@dataclass(frozen=True)
class PinnedFile:
    """A normalised JSONL file, its checksum, and how to build it from its sources."""

    file: str
    sha256: str
    sources: tuple[Source, ...]
    build: Callable[[Sequence[Path]], str]  # archives of `sources`, in order → JSONL text
    subdir: str = "minif2f"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def package_data() -> Path:
    """The data files shipped inside the package (benchmarks/data/<subdir>/<file>)."""
    return Path(__file__).resolve().parent / "data"


def cache_dir(config: Config) -> Path:
    """$PROVER_HOME/data (the results store's home)."""
    return Path(config.store.home).expanduser() / "data"


def resolve(pinned: PinnedFile, config: Config, *, what: str) -> tuple[Path, str]:
    """The verified data file for `pinned` and its actual sha256 (see module docstring)."""
    if config.bench.data:
        path = _given(pinned, Path(config.bench.data).expanduser())
        return path, check(path, pinned, config, what=what)
    bundled = package_data() / pinned.subdir / pinned.file
    if bundled.is_file() and sha256_of(bundled) == pinned.sha256:
        return bundled, pinned.sha256
    cached = cache_dir(config) / pinned.subdir / pinned.file
    if cached.is_file():
        return cached, check(cached, pinned, config, what=what)
    download(pinned, cached, config, what=what)
    return cached, pinned.sha256


def _given(pinned: PinnedFile, given: Path) -> Path:
    candidates = (
        [given] if given.is_file() else [given / pinned.file, given / pinned.subdir / pinned.file]
    )
    for path in candidates:
        if path.is_file():
            return path
    raise InputError(
        f"--data {given}: no {pinned.file} there; pass the file itself or a directory holding it"
    )


def check(path: Path, pinned: PinnedFile, config: Config, *, what: str) -> str:
    """The file's sha256; an InputError if it differs from the pin (unless verify_data is off)."""
    actual = sha256_of(path)
    if actual != pinned.sha256 and config.bench.verify_data:
        source = pinned.sources[0]
        raise InputError(
            f"checksum mismatch for {path}: sha256 {actual[:16]}… but {what} is pinned to "
            f"{pinned.sha256[:16]}… ({source.repository}@{source.commit[:8]}); the file is "
            "corrupt or another version — delete it to re-download, or run on it anyway with "
            "--set bench.verify_data=false (its checksum is stored with the run)"
        )
    return actual


def download(pinned: PinnedFile, dest: Path, config: Config, *, what: str) -> None:
    """Fetch every source archive, build the normalised file, verify it, move it to `dest`."""
    bar = config.bench.display == "bar"
    with tempfile.TemporaryDirectory(prefix="prover-data-") as tmp:
        archives = []
        for i, source in enumerate(pinned.sources):
            archive = Path(tmp) / f"source{i}.tar.gz"
            fetch(
                source.archive_url(config.bench.mirror),
                archive,
                timeout=config.bench.download_timeout,
                description=f"{source.repository}@{source.commit[:8]}",
                bar=bar,
            )
            archives.append(archive)
        text = pinned.build(archives)
        built = Path(tmp) / pinned.file
        built.write_text(text, encoding="utf-8")
        actual = sha256_of(built)
        if actual != pinned.sha256:
            raise InputError(
                f"{what}: the file built from {', '.join(s.repository for s in pinned.sources)} "
                f"has sha256 {actual[:16]}…, not the pinned {pinned.sha256[:16]}…; the download "
                "or the conversion differs — pass --data PATH to a copy of "
                f"{pinned.file} with the pinned checksum"
            )
        dest.parent.mkdir(parents=True, exist_ok=True)
        staged = dest.with_name(dest.name + ".part")
        staged.write_bytes(built.read_bytes())
        staged.replace(dest)
