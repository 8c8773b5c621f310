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
        # `proved` counts what the per-attempt lines call proved (checked or not), so the two
        # always agree; `pass` counts only checked proofs, as every report does.
        out: dict[str, Any] = {"proved": self.proved + self.unverified}
        if self.unverified:
            out["unchecked"] = self.unverified
        out["failed"] = self.failed
        out["errors"] = self.errors
        out["pass"] = f"{100 * self.pass_rate:.1f}%"
        return out

    def counters(self) -> str:
        """The running counts as a plain-text tail, e.g. `proved 3 (3 unchecked) failed 1 …`."""
        unchecked = f" ({self.unverified} unchecked)" if self.unverified else ""
        return (
            f"proved {self.proved + self.unverified}{unchecked} failed {self.failed} "
            f"errors {self.errors} pass {100 * self.pass_rate:.1f}% (checked proofs)"
        )


BAR_DELAY = 2.0  # seconds before the bar first appears


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
        self._header: str | None = None
        if display == "bar":
            from tqdm import tqdm

            self._bar = tqdm(
                total=total,
                initial=tally.done,
                desc=description,
                unit="thm",
                file=self.stream,
                dynamic_ncols=True,
                # Drawn only once the run is under way: an error while the environment or the
                # model starts is then the only thing printed, not after an empty 0% bar.
                delay=BAR_DELAY,
            )
            self._bar.set_postfix(tally.postfix(), refresh=False)
        elif display == "plain":
            # Written with the first finished attempt (see BAR_DELAY for why not now).
            self._header = f"{description}: {tally.done}/{total} already done\n"

    def update(self, theorem: str, attempt: int, result: SearchResult) -> None:
        self.tally.add(theorem, result.status.value, result.verified)
        if self._bar is not None:
            self._bar.set_postfix(self.tally.postfix(), refresh=False)
            self._bar.update(1)
        elif self.display == "plain":
            self._write_header()
            label = f"{theorem}#{attempt}" if attempt else theorem
            status = result.status.value
            if result.proved and not result.verified:
                status += f" (unchecked by {result.verified_by or '?'})"
            extra = f" — {result.error}" if result.error else ""
            self.stream.write(
                f"[{self.tally.done}/{self.total}] {label}: {status} in "
                f"{result.stats.total_seconds:.1f}s{extra} | {self.tally.counters()}\n"
            )
            self.stream.flush()

    def message(self, text: str) -> None:
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        elif self.display != "none":
            self._write_header()
            self.stream.write(text + "\n")
            self.stream.flush()

    def _write_header(self) -> None:
        if self._header is not None:
            self.stream.write(self._header)
            self._header = None

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
