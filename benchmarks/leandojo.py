"""miniF2F as Llemma ran it: the theorems of the LeanDojo-traced repository rah4927/lean-dojo-mew.

Llemma's formal2formal runs (wellecks/llemma_formal2formal) opened each theorem with
`Dojo(Theorem(LeanGitRepo(url, commit), file_path, full_name))` from a JSONL theorem list whose
rows are `{full_name, statement, url, commit, file_path, split}`; their results files repeat the
same rows as `example`. This benchmark reads that list, pinned by checksum, so the exact setup can
be re-run with `--env lean-dojo`. (Their test runs also opened `sum_pairs`, a helper lemma of
MiniF2F/Test.lean that their compute_metrics.py leaves out; it is not in the list.)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from benchmarks.categories import category
from benchmarks.data import package_data
from benchmarks.published import PUBLISHED_TABLE
from prover.config import Config
from prover.dojo_target import LLEMMA_COMMIT, LLEMMA_REPO, METADATA_KEY, DojoTarget
from prover.errors import InputError
from prover.types import Language, Theorem

SPLIT_FILES = {"valid": "MiniF2F/Validation.lean", "test": "MiniF2F/Test.lean"}
DATA_FILE = "minif2f_leandojo_traced.jsonl"
DATA_SUBDIR = "llemma_formal2formal"
DATA_SHA256 = "a855832d6aefcce8cc2b1b5ebd90c8f63ae1b7829a1bd59c0bfa51c3cc1f5230"
FIELDS = ("full_name", "statement", "url", "commit", "file_path", "split")


def locate_data(data: str, roots: Iterable[Path]) -> Path:
    """The theorem list: `data` (a file or a directory holding it), else the first of `roots`."""
    if data:
        given = Path(data).expanduser()
        for candidate in (given, given / DATA_FILE, given / DATA_SUBDIR / DATA_FILE):
            if candidate.is_file():
                return candidate
        raise InputError(
            f"'{given}' is neither the LeanDojo miniF2F theorem list nor a directory holding "
            f"{DATA_FILE}; fix --data (bench.data)"
        )
    for root in roots:
        candidate = root / DATA_SUBDIR / DATA_FILE
        if candidate.is_file():
            return candidate
    raise InputError(
        f"the LeanDojo miniF2F theorem list ({DATA_FILE}: Llemma's rows {{{', '.join(FIELDS)}}} "
        f"for {LLEMMA_REPO} @ {LLEMMA_COMMIT[:7]}) was not found; pass --data PATH "
        "(bench.data) to a copy of it"
    )


def with_by(statement: str) -> str:
    """The statement ending in `:= by`, as the other Lean benchmarks give it."""
    text = statement.rstrip()
    if text.endswith(":= by"):
        return text
    if text.endswith(":="):
        return text + " by"
    return text + " := by"


class LeanDojoBenchmark:
    """Theorems located in a LeanDojo-traced repository, read from a JSONL theorem list."""

    splits: tuple[str, ...] = ("valid", "test")

    def __init__(
        self,
        path: Path,
        *,
        name: str,
        header: str,
        expected_sha256: str | None = None,
    ) -> None:
        self.name = name
        self.path = path
        self.header = header
        raw = path.read_bytes()
        self.sha256 = hashlib.sha256(raw).hexdigest()
        self.expected_sha256 = expected_sha256
        if expected_sha256 is not None and self.sha256 != expected_sha256:
            raise InputError(
                f"'{path}' is not the theorem list Llemma used (sha256 {self.sha256[:12]}…, "
                f"expected {expected_sha256[:12]}…); point --data at the unmodified file"
            )
        self._rows: dict[str, list[Mapping[str, Any]]] = {split: [] for split in self.splits}
        seen: set[tuple[str, str]] = set()
        for lineno, line in enumerate(raw.decode("utf-8").splitlines(), 1):
            if not line.strip():
                continue
            row = _row(line, f"{path}:{lineno}")
            if row["split"] not in self._rows:
                raise InputError(
                    f"{path}:{lineno}: split '{row['split']}' is not one of {self.splits}"
                )
            key = (row["split"], row["full_name"])
            if key in seen:
                raise InputError(f"{path}:{lineno}: theorem '{row['full_name']}' appears twice")
            seen.add(key)
            self._rows[row["split"]].append(row)

    def theorems(self, split: str) -> list[Theorem]:
        if split not in self._rows:
            raise InputError(
                f"benchmark '{self.name}' has no split '{split}' (splits: {', '.join(self.splits)})"
            )
        return [self._theorem(row) for row in self._rows[split]]

    def describe(self) -> dict[str, Any]:
        repos = sorted({(r["url"], r["commit"]) for rows in self._rows.values() for r in rows})
        return {
            "name": self.name,
            "title": "miniF2F",
            "published": PUBLISHED_TABLE,
            "language": Language.LEAN4,
            "environment": "lean-dojo",
            "file": self.path.name,
            "path": str(self.path),
            "sha256": self.sha256,
            "pinned_sha256": self.expected_sha256,
            "sources": [
                {"repository": url.removeprefix("https://github.com/"), "url": url, "commit": c}
                for url, c in repos
            ],
            "files": dict(SPLIT_FILES),
            "rows": {split: len(rows) for split, rows in self._rows.items()},
            "toolchain": None,  # each repository's own lean-toolchain, built by LeanDojo
            "note": "Llemma formal2formal's theorem list (wellecks/llemma_formal2formal @ "
            "0931a1e); run with --env lean-dojo on the traced repository",
        }

    def check_project(self, config: Config) -> None:
        """Refuse lean-repl: these statements belong to the traced repository's toolchain."""
        if config.environment == "lean-repl":
            raise InputError(
                f"{self.name} theorems live in a LeanDojo-traced repository with its own Lean "
                "and Mathlib; run it with --env lean-dojo (or use minif2f-lean4 with lean-repl)"
            )

    def _theorem(self, row: Mapping[str, Any]) -> Theorem:
        target = DojoTarget(row["url"], row["commit"], row["file_path"], row["full_name"])
        return Theorem(
            name=row["full_name"],
            statement=with_by(row["statement"]),
            language=Language.LEAN4,
            header=self.header,
            split=row["split"],
            source=f"{target.url}@{target.commit[:7]}:{target.file_path}",
            metadata={
                "benchmark": self.name,
                "category": category(row["full_name"]),
                METADATA_KEY: target.to_json(),
            },
        )


def _row(line: str, where: str) -> dict[str, Any]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where} is not JSON ({exc.msg})") from exc
    if not isinstance(row, dict):
        raise InputError(f"{where}: expected a JSON object")
    missing = [f for f in FIELDS if not isinstance(row.get(f), str) or not row[f]]
    if missing:
        raise InputError(f"{where}: missing or empty field(s) {', '.join(missing)}")
    return row


def minif2f_leandojo(config: Config) -> LeanDojoBenchmark:
    """Entry point `minif2f-lean4-leandojo`: Llemma's LeanDojo miniF2F (valid/test, 244 each).

    The header is `lean.header`, used only when a found proof is re-checked by the lean-repl
    whole-proof checker; LeanDojo itself runs each theorem in its own file of the traced repo.
    """
    path = locate_data(config.bench.data, [package_data()])
    return LeanDojoBenchmark(
        path,
        name="minif2f-lean4-leandojo",
        header=config.section("lean").header,
        expected_sha256=DATA_SHA256,
    )
