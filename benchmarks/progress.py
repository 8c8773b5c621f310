"""Live progress of a benchmark run: a tqdm bar, one plain line per attempt, or nothing."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import IO, Any

from prover.types import SearchResult, Status


@dataclass
class Tally:
    """Counts of finished attempts; `solved` counts theorems with a verified proof."""

    proved: int = 0
    unverified: int = 0  # proved, but the environment could not check the proof
    failed: int = 0
    errors: int = 0
    solved: set[str] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)

    def add(self, theorem: str, status: str, verified: bool) -> None:
        self.seen.add(theorem)
        if status == Status.PROVED.value:
            if verified:
                self.proved += 1
                self.solved.add(theorem)
            else:
                self.unverified += 1
        elif status == Status.ERROR.value:
            self.errors += 1
        else:
            self.failed += 1  # failed or timeout

    @property
    def done(self) -> int:
        return self.proved + self.unverified + self.failed + self.errors

    @property
    def pass_rate(self) -> float:
        return len(self.solved) / len(self.seen) if self.seen else 0.0

    def postfix(self) -> dict[str, Any]:
        out: dict[str, Any] = {"proved": self.proved, "failed": self.failed, "errors": self.errors}
        if self.unverified:
            out["unchecked"] = self.unverified
        out["pass"] = f"{100 * self.pass_rate:.1f}%"
        return out


class Progress:
    """Reports each finished attempt; `display` is bar, plain or none."""

    def __init__(
        self,
        total: int,
        tally: Tally,
        *,
        display: str,
        description: str,
        stream: IO[str] | None = None,
    ) -> None:
        self.total = total
        self.tally = tally
        self.display = display
        self.stream = stream or sys.stderr
        self._bar: Any = None
        if display == "bar":
            from tqdm import tqdm

            self._bar = tqdm(
                total=total,
                initial=tally.done,
                desc=description,
                unit="thm",
                file=self.stream,
                dynamic_ncols=True,
            )
            self._bar.set_postfix(tally.postfix(), refresh=False)
        elif display == "plain":
            self.stream.write(f"{description}: {tally.done}/{total} already done\n")
            self.stream.flush()

    def update(self, theorem: str, attempt: int, result: SearchResult) -> None:
        self.tally.add(theorem, result.status.value, result.verified)
        if self._bar is not None:
            self._bar.set_postfix(self.tally.postfix(), refresh=False)
            self._bar.update(1)
        elif self.display == "plain":
            label = f"{theorem}#{attempt}" if attempt else theorem
            status = result.status.value
            if result.proved and not result.verified:
                status += f" (unchecked by {result.verified_by or '?'})"
            extra = f" — {result.error}" if result.error else ""
            self.stream.write(
                f"[{self.tally.done}/{self.total}] {label}: {status} in "
                f"{result.stats.total_seconds:.1f}s{extra} | proved {self.tally.proved} "
                f"failed {self.tally.failed} errors {self.tally.errors} "
                f"pass {100 * self.tally.pass_rate:.1f}%\n"
            )
            self.stream.flush()

    def message(self, text: str) -> None:
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        elif self.display != "none":
            self.stream.write(text + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
