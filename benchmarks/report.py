"""Reports over stored runs: pass rates with 95% intervals, pass@k, categories, comparisons.

A proof counts only if the whole-proof check accepted it (`verified`). Runs on environments that
cannot check proofs (replay, simulators) have proofs marked unchecked; `include_unverified`
counts those too, and every output then says so.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from benchmarks.categories import CATEGORIES, OTHER
from benchmarks.metrics import Rate, ks_up_to, mean_pass_at_k, rate, sample_counts
from benchmarks.published import published_for
from benchmarks.store import AttemptRow, RunInfo, Store

_TOTALS = ("model_seconds", "env_seconds", "search_seconds", "total_seconds")
_COUNTS = ("tokens", "expansions", "tactics_run", "model_calls", "candidates")


@dataclass(frozen=True)
class TheoremResult:
    """One theorem in one run: its attempts, whether it counts as solved, the attempt to show."""

    theorem: str
    category: str
    attempts: int
    successes: int
    best: AttemptRow

    @property
    def solved(self) -> bool:
        return self.successes > 0


@dataclass(frozen=True)
class ErrorGroup:
    """Attempts that ended in `error` for the same reason (its first line, the theorem's name
    written `{theorem}`)."""

    reason: str
    attempts: tuple[str, ...]  # theorem names, `name#k` for attempt k > 0

    def to_json(self) -> dict[str, Any]:
        return {"reason": self.reason, "count": len(self.attempts), "attempts": list(self.attempts)}


def group_errors(rows: Sequence[AttemptRow]) -> tuple[ErrorGroup, ...]:
    """Errored attempts grouped by reason, the most frequent first."""
    groups: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        if row.status == "error":
            lines = (row.error or "").strip().splitlines()
            # The theorem's own name in its message would make every reason unique.
            name = rf"(?<![\w.]){re.escape(row.theorem)}(?![\w.])"
            reason = re.sub(name, "{theorem}", lines[0])[:300] if lines else ""
            label = f"{row.theorem}#{row.attempt}" if row.attempt else row.theorem
            groups[reason or "(no reason recorded)"].append(label)
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    return tuple(ErrorGroup(reason, tuple(names)) for reason, names in ordered)


@dataclass(frozen=True)
class RunSummary:
    """Everything the report says about one run."""

    info: RunInfo
    theorems: dict[str, TheoremResult]
    pass_rate: Rate
    pass_at_k: dict[int, float | None]
    categories: dict[str, Rate]
    statuses: dict[str, int]
    unchecked_proofs: int
    totals: dict[str, float]
    only_here: tuple[str, ...] = ()
    # pass@k over the proofs sampled within attempts (whole-proof runs that checked every one)
    sample_pass_at_k: dict[int, float | None] = field(default_factory=dict)
    errors: tuple[ErrorGroup, ...] = ()
    judged_by: dict[str, int] = field(default_factory=dict)  # verified proofs per judge

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def sandbox(self) -> str:
        """The run's sandbox setting ("bwrap", or "none": proofs ran unsandboxed)."""
        return str(self.info.config.get("sandbox", "none (not recorded)"))

    @property
    def solved(self) -> list[str]:
        return sorted(t for t, r in self.theorems.items() if r.solved)

    def to_json(self) -> dict[str, Any]:
        config = self.info.config
        return {
            "run": self.name,
            "benchmark": self.info.benchmark,
            "split": self.info.split,
            "state": self.info.state,
            "model": config.get("model"),
            "environment": config.get("environment"),
            "strategy": config.get("strategy"),
            "planned_attempts": self.info.planned,
            "attempts_per_theorem": self.info.attempts_per_theorem,
            "finished_attempts": self.info.done,
            "theorems": len(self.theorems),
            "solved": len(self.solved),
            "pass_rate": self.pass_rate.to_json(),
            "pass_at_k": {str(k): v for k, v in self.pass_at_k.items()},
            "sample_pass_at_k": {str(k): v for k, v in self.sample_pass_at_k.items()},
            "categories": {k: v.to_json() for k, v in self.categories.items()},
            "statuses": self.statuses,
            "unchecked_proofs": self.unchecked_proofs,
            "judged_by": self.judged_by,
            "sandbox": self.sandbox,
            "errors": [group.to_json() for group in self.errors],
            "totals": self.totals,
            "solved_only_here": list(self.only_here),
            "versions": self.info.versions,
            "results": {
                name: {
                    "category": r.category,
                    "attempts": r.attempts,
                    "successes": r.successes,
                    "status": r.best.status,
                    "verified": r.best.verified,
                    "verified_by": r.best.verified_by,
                    "proof": r.best.proof if r.best.proved else None,
                    "seconds": r.best.total_seconds,
                    "error": r.best.error,
                }
                for name, r in sorted(self.theorems.items())
            },
        }


@dataclass(frozen=True)
class Report:
    """Several runs side by side, plus the published numbers."""

    runs: tuple[RunSummary, ...]
    include_unverified: bool
    published: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        """The benchmarks' own title (`describe()["title"]`), else their names."""
        names = {
            s.info.versions.get("dataset", {}).get("title") or s.info.benchmark for s in self.runs
        }
        return f"{names.pop()} report" if len(names) == 1 else "Report"

    @property
    def counting(self) -> str:
        if self.include_unverified:
            return "proofs counted whether or not a whole-proof check accepted them"
        return "only proofs accepted by a fresh whole-proof check count"

    def to_json(self) -> dict[str, Any]:
        return {
            "counting": self.counting,
            "include_unverified": self.include_unverified,
            "runs": [run.to_json() for run in self.runs],
            "published": self.published,
        }


def summarise(info: RunInfo, rows: Sequence[AttemptRow], include_unverified: bool) -> RunSummary:
    """Metrics of one run from its stored attempts."""

    def counts(row: AttemptRow) -> bool:
        return row.proved and (row.verified or include_unverified)

    by_theorem: dict[str, list[AttemptRow]] = defaultdict(list)
    for row in rows:
        by_theorem[row.theorem].append(row)
    theorems: dict[str, TheoremResult] = {}
    for name, attempts in by_theorem.items():
        successes = sum(counts(r) for r in attempts)
        best = next((r for r in attempts if counts(r)), None) or min(
            attempts, key=lambda r: (not r.proved, r.attempt)
        )
        theorems[name] = TheoremResult(
            name, best.category or "other", len(attempts), successes, best
        )
    solved = sum(r.solved for r in theorems.values())
    k_max = max([info.attempts_per_theorem, *[r.attempts for r in theorems.values()]])
    samples = [(r.attempts, r.successes) for r in theorems.values()]
    pass_k = {k: mean_pass_at_k(samples, k) for k in ks_up_to(k_max)} if k_max > 1 else {}
    per_sample: dict[str, tuple[int, int]] = {}
    for name, attempts in by_theorem.items():
        found = [sample_counts(r.details, counts(r)) for r in attempts]
        exact = [f for f in found if f is not None]
        if exact:
            per_sample[name] = (sum(n for n, _ in exact), sum(c for _, c in exact))
    n_max = max((n for n, _ in per_sample.values()), default=0)
    sample_k = (
        {k: mean_pass_at_k(per_sample.values(), k) for k in ks_up_to(n_max)} if n_max > 1 else {}
    )
    cats: dict[str, Rate] = {}
    for label in (*CATEGORIES, OTHER):
        members = [r for r in theorems.values() if r.category == label]
        if members:
            cats[label] = rate(sum(r.solved for r in members), len(members))
    totals: dict[str, float] = {
        key: round(sum(getattr(r, key) for r in rows), 3) for key in _TOTALS
    }
    totals.update({key: float(sum(getattr(r, key) for r in rows)) for key in _COUNTS})
    return RunSummary(
        info=info,
        theorems=theorems,
        pass_rate=rate(solved, len(theorems)),
        pass_at_k=pass_k,
        categories=cats,
        statuses=dict(Counter(r.status for r in rows)),
        unchecked_proofs=sum(r.proved and not r.verified for r in rows),
        totals=totals,
        sample_pass_at_k=sample_k,
        errors=group_errors(rows),
        judged_by=dict(Counter(r.verified_by or "?" for r in rows if r.proved and r.verified)),
    )


def trust_line(s: RunSummary) -> str:
    """Who judged the run's proofs and whether its proof-assistant processes were sandboxed."""
    judges = ", ".join(f"{by} ({n})" for by, n in sorted(s.judged_by.items())) or "no proof"
    sandbox = s.sandbox
    if sandbox.startswith("none"):
        sandbox += " — proof-assistant processes ran unsandboxed"
    return f"{s.name}: proofs judged by {judges}; sandbox: {sandbox}"


def build(store: Store, names: Sequence[str], *, include_unverified: bool = False) -> Report:
    """The report for the named runs (each must exist in `store`)."""
    infos = [store.require_run(name) for name in names]
    summaries = [summarise(i, store.attempts(i), include_unverified) for i in infos]
    if len(summaries) > 1:
        solved_sets = [set(s.solved) for s in summaries]
        summaries = [
            _with_only_here(
                s, solved_sets[i] - set().union(*solved_sets[:i], *solved_sets[i + 1 :])
            )
            for i, s in enumerate(summaries)
        ]
    return Report(tuple(summaries), include_unverified, published_for(infos))


def _with_only_here(summary: RunSummary, names: set[str]) -> RunSummary:
    return replace(summary, only_here=tuple(sorted(names)))


def outcomes(s: RunSummary) -> str:
    """`failed 3, proved 5 (5 unchecked)`: the attempt counts, as the progress lines say them."""
    parts = []
    for status, n in sorted(s.statuses.items()):
        unchecked = s.unchecked_proofs if status == "proved" else 0
        parts.append(f"{status} {n}" + (f" ({unchecked} unchecked)" if unchecked else ""))
    return ", ".join(parts) or "no attempts yet"


def shown(names: Sequence[str], limit: int = 10) -> str:
    """Up to `limit` names, then how many more."""
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def percent(value: float | None) -> str:
    """A fraction as a percentage with one decimal, or a dash for none."""
    return "–" if value is None else f"{100 * value:.1f}%"


def to_markdown(report: Report) -> str:
    """The report as GitHub-flavoured Markdown."""
    out = [f"# {report.title}", "", f"Counting: {report.counting}.", ""]
    out += [
        "| run | benchmark | split | model | environment | finished | solved | pass rate "
        "| 95% CI |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in report.runs:
        c = s.info.config
        out.append(
            f"| {s.name} | {s.info.benchmark} | {s.info.split} | `{c.get('model')}` | "
            f"{c.get('environment')} | {s.info.done}/{s.info.planned} ({s.info.state}) | "
            f"{len(s.solved)}/{len(s.theorems)} | {percent(s.pass_rate.value)} | "
            f"{percent(s.pass_rate.low)}–{percent(s.pass_rate.high)} |"
        )
    out += [""] + [f"- {trust_line(s)}" for s in report.runs]
    for s in report.runs:
        if s.unchecked_proofs and not report.include_unverified:
            out += [
                "",
                f"> {s.name}: {s.unchecked_proofs} proof(s) were found but not checked "
                f"(environment `{s.info.config.get('environment')}` cannot check proofs); they "
                "are not counted. `--include-unverified` counts them.",
            ]
    if any(s.pass_at_k for s in report.runs):
        ks = sorted({k for s in report.runs for k in s.pass_at_k})
        out += ["", "## pass@k (unbiased estimator)", ""]
        out += ["| run | " + " | ".join(f"pass@{k}" for k in ks) + " |"]
        out += ["|---|" + "---|" * len(ks)]
        for s in report.runs:
            out.append(
                f"| {s.name} | " + " | ".join(percent(s.pass_at_k.get(k)) for k in ks) + " |"
            )
    if any(s.sample_pass_at_k for s in report.runs):
        ks = sorted({k for s in report.runs for k in s.sample_pass_at_k})
        out += ["", "## pass@k over sampled proofs (unbiased estimator)", ""]
        out += [
            "Within attempts whose every sampled proof was checked (`whole_proof.check_all`); "
            "a sample counts if the in-search check accepted it and the judge accepted the "
            "attempt's proof.",
            "",
        ]
        out += ["| run | " + " | ".join(f"pass@{k}" for k in ks) + " |"]
        out += ["|---|" + "---|" * len(ks)]
        for s in report.runs:
            cells = " | ".join(percent(s.sample_pass_at_k.get(k)) for k in ks)
            out.append(f"| {s.name} | {cells} |")
    out += ["", "## By category", ""]
    out += ["| category | " + " | ".join(s.name for s in report.runs) + " |"]
    out += ["|---|" + "---|" * len(report.runs)]
    labels = [c for c in (*CATEGORIES, OTHER) if any(c in s.categories for s in report.runs)]
    for label in labels:
        cells = []
        for s in report.runs:
            r = s.categories.get(label)
            cells.append(f"{r.successes}/{r.total} ({percent(r.value)})" if r else "–")
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    out += ["", "## Time and tokens (sums over attempts)", ""]
    out += ["| run | attempts | total s | model s | env s | search s | tokens | expansions |"]
    out += ["|---|---|---|---|---|---|---|---|"]
    for s in report.runs:
        t = s.totals
        out.append(
            f"| {s.name} | {s.info.done} | {t['total_seconds']:.1f} | {t['model_seconds']:.1f} | "
            f"{t['env_seconds']:.1f} | {t['search_seconds']:.1f} | {int(t['tokens'])} | "
            f"{int(t['expansions'])} |"
        )
    out += ["", "## Outcomes (attempts)", ""]
    for s in report.runs:
        out.append(f"- {s.name}: {outcomes(s)}")
    if any(s.errors for s in report.runs):
        out += ["", "## Why attempts errored", ""]
        for s in report.runs:
            for group in s.errors:
                out.append(
                    f"- {s.name}: {len(group.attempts)} × {group.reason} — {shown(group.attempts)}"
                )
    if len(report.runs) > 1:
        out += ["", "## Solved only by this run", ""]
        for s in report.runs:
            out.append(f"- {s.name} ({len(s.only_here)}): {', '.join(s.only_here) or '–'}")
    if report.published and any(s.info.split == "test" for s in report.runs):
        out += ["", "## Published miniF2F-test results", "", report.published["description"], ""]
        out += [
            "| system | kind | budget | test | statements | source |",
            "|---|---|---|---|---|---|",
        ]
        for p in report.published["results"]:
            out.append(
                f"| {p['system']} | {p['kind']} | {p['budget']} | {p['test']:.1f}% | "
                f"{p.get('statements', '–')} | [{p['source']}]({p['url']}) |"
            )
    return "\n".join(out) + "\n"
