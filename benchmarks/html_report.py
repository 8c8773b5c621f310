"""The report as one self-contained HTML page: tables, inline plots, each proof, search trees.

Plots are matplotlib PNGs embedded as base64; each search tree sits in a closed <details>
element, so the page stays readable and needs no network or scripts.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable
from html import escape
from typing import Any

from benchmarks.categories import CATEGORIES, OTHER
from benchmarks.report import Report, RunSummary, TheoremResult, outcomes, percent, shown
from prover.errors import require

TreeLoader = Callable[[int], dict[str, Any] | None]

MAX_TREE_EDGES = 400
MAX_GOAL_CHARS = 600

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1200px;padding:0 1rem;color:#1d2330;line-height:1.4}
h1{margin-bottom:.2rem} .note{color:#5b6472} table{border-collapse:collapse;margin:.6rem 0 1.2rem}
th,td{border:1px solid #d5d9e0;padding:.3rem .55rem;text-align:left;vertical-align:top}
th{background:#f1f3f7} td.num{text-align:right;font-variant-numeric:tabular-nums}
.proved{background:#e3f6e8} .unchecked{background:#fff6d6} .failed{background:#f7f7f7}
.timeout{background:#fde9d9} .error{background:#fbe0e0}
pre{background:#f6f8fa;padding:.5rem;overflow-x:auto;white-space:pre-wrap;margin:.3rem 0}
details{margin:.3rem 0} summary{cursor:pointer;color:#2456a6}
ul.tree{list-style:none;padding-left:1.1rem;border-left:1px dashed #c4cad4}
ul.tree code{background:#eef1f6;padding:0 .25rem} .score{color:#7a8394;font-size:.85em}
.leaf-failed{color:#a13d3d} .leaf-finished{color:#1f7a3a;font-weight:600}
section.theorem{border-top:1px solid #e3e6eb;padding-top:.4rem}
img.plot{max-width:100%;border:1px solid #e3e6eb;margin:.4rem 0}
"""


def to_html(report: Report, trees: TreeLoader) -> str:
    """The whole page; `trees` loads a stored search tree by attempt id."""
    runs = report.runs
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>miniF2F report: {escape(', '.join(r.name for r in runs))}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>miniF2F report</h1>",
        f'<p class="note">Generated {escape(time.strftime("%Y-%m-%d %H:%M:%S"))}. '
        f"Counting: {escape(report.counting)}.</p>",
        _summary_table(report),
        *_unchecked_notes(report),
        *_errors(runs),
        "<h2>Plots</h2>",
        *_plots(runs),
        *_pass_at_k(runs),
        "<h2>By category</h2>",
        _category_table(runs),
        "<h2>Time and tokens</h2>",
        _totals_table(runs),
        *_only_here(runs),
        "<h2>Theorems</h2>",
        _theorem_table(runs),
        "<h2>Proofs and search trees</h2>",
        *_theorem_sections(runs, trees),
        *_published(report),
        "</body></html>",
    ]
    return "\n".join(parts)


def _errors(runs: tuple[RunSummary, ...]) -> list[str]:
    """Errored attempts grouped by reason, with the outcome counts they belong to."""
    if not any(s.errors for s in runs):
        return []
    rows = [
        f"<tr><td>{escape(s.name)}</td><td>{len(g.attempts)}</td><td>{escape(g.reason)}</td>"
        f"<td>{escape(shown(g.attempts))}</td></tr>"
        for s in runs
        for g in s.errors
    ]
    outcome = "".join(f"<li>{escape(s.name)}: {escape(outcomes(s))}</li>" for s in runs)
    return [
        "<h2>Why attempts errored</h2>",
        f"<ul>{outcome}</ul>",
        '<table id="errors"><tr><th>run</th><th>attempts</th><th>reason</th><th>theorems</th>'
        f"</tr>{''.join(rows)}</table>",
    ]


def _summary_table(report: Report) -> str:
    rows = []
    for s in report.runs:
        c = s.info.config
        rows.append(
            "<tr>"
            f"<td>{escape(s.name)}</td><td>{escape(s.info.benchmark)}</td>"
            f"<td>{escape(s.info.split)}</td><td><code>{escape(str(c.get('model')))}</code></td>"
            f"<td>{escape(str(c.get('environment')))}</td>"
            f"<td>{escape(str(c.get('strategy')))}</td>"
            f'<td class="num">{s.info.done}/{s.info.planned} ({escape(s.info.state)})</td>'
            f'<td class="num">{len(s.solved)}/{len(s.theorems)}</td>'
            f'<td class="num">{percent(s.pass_rate.value)}</td>'
            f'<td class="num">{percent(s.pass_rate.low)} – {percent(s.pass_rate.high)}</td>'
            "</tr>"
        )
    head = (
        "<tr><th>run</th><th>benchmark</th><th>split</th><th>model</th><th>environment</th>"
        "<th>strategy</th><th>attempts finished</th><th>solved</th><th>pass rate</th>"
        "<th>95% CI (Wilson)</th></tr>"
    )
    return f'<table id="summary">{head}{"".join(rows)}</table>'


def _unchecked_notes(report: Report) -> list[str]:
    notes = []
    for s in report.runs:
        if s.unchecked_proofs and not report.include_unverified:
            notes.append(
                f'<p class="note unchecked">{escape(s.name)}: {s.unchecked_proofs} proof(s) '
                "found but not checked by a whole-proof checker; not counted.</p>"
            )
    return notes


def _pass_at_k(runs: tuple[RunSummary, ...]) -> list[str]:
    ks = sorted({k for s in runs for k in s.pass_at_k})
    if not ks:
        return []
    head = "<tr><th>run</th>" + "".join(f"<th>pass@{k}</th>" for k in ks) + "</tr>"
    rows = "".join(
        f"<tr><td>{escape(s.name)}</td>"
        + "".join(f'<td class="num">{percent(s.pass_at_k.get(k))}</td>' for k in ks)
        + "</tr>"
        for s in runs
    )
    return ["<h2>pass@k (unbiased estimator)</h2>", f'<table id="pass-at-k">{head}{rows}</table>']


def _category_table(runs: tuple[RunSummary, ...]) -> str:
    labels = [c for c in (*CATEGORIES, OTHER) if any(c in s.categories for s in runs)]
    head = "<tr><th>category</th>" + "".join(f"<th>{escape(s.name)}</th>" for s in runs) + "</tr>"
    rows = []
    for label in labels:
        cells = []
        for s in runs:
            r = s.categories.get(label)
            text = f"{r.successes}/{r.total} ({percent(r.value)})" if r else "–"
            cells.append(f'<td class="num">{text}</td>')
        rows.append(f"<tr><td>{escape(label)}</td>{''.join(cells)}</tr>")
    return f'<table id="categories">{head}{"".join(rows)}</table>'


def _totals_table(runs: tuple[RunSummary, ...]) -> str:
    head = (
        "<tr><th>run</th><th>attempts</th><th>total s</th><th>model s</th><th>env s</th>"
        "<th>search s</th><th>tokens</th><th>expansions</th><th>tactics</th><th>outcomes</th></tr>"
    )
    rows = []
    for s in runs:
        t = s.totals
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(s.statuses.items()))
        rows.append(
            f"<tr><td>{escape(s.name)}</td><td class='num'>{s.info.done}</td>"
            f"<td class='num'>{t['total_seconds']:.1f}</td>"
            f"<td class='num'>{t['model_seconds']:.1f}</td>"
            f"<td class='num'>{t['env_seconds']:.1f}</td>"
            f"<td class='num'>{t['search_seconds']:.1f}</td>"
            f"<td class='num'>{int(t['tokens'])}</td><td class='num'>{int(t['expansions'])}</td>"
            f"<td class='num'>{int(t['tactics_run'])}</td><td>{escape(outcomes)}</td></tr>"
        )
    return f'<table id="totals">{head}{"".join(rows)}</table>'


def _only_here(runs: tuple[RunSummary, ...]) -> list[str]:
    if len(runs) < 2:
        return []
    items = "".join(
        f"<li><b>{escape(s.name)}</b> ({len(s.only_here)}): "
        f"{escape(', '.join(s.only_here)) or '–'}</li>"
        for s in runs
    )
    return ["<h2>Solved only by this run</h2>", f'<ul id="only-here">{items}</ul>']


def _cell_class(result: TheoremResult | None) -> tuple[str, str]:
    if result is None:
        return "", "–"
    best = result.best
    if result.solved:
        return "proved", f"proved ({result.successes}/{result.attempts})"
    if best.proved:
        return "unchecked", f"proved, unchecked ({best.verified_by or '?'})"
    return best.status, best.status


def _theorem_table(runs: tuple[RunSummary, ...]) -> str:
    names = sorted({n for s in runs for n in s.theorems})
    head = (
        "<tr><th>theorem</th><th>category</th>"
        + "".join(f"<th>{escape(s.name)}</th>" for s in runs)
        + "</tr>"
    )
    rows = []
    for name in names:
        cat = next(s.theorems[name].category for s in runs if name in s.theorems)
        cells = []
        for s in runs:
            css, text = _cell_class(s.theorems.get(name))
            cells.append(f'<td class="{css}">{escape(text)}</td>')
        rows.append(
            f'<tr><td><a href="#t-{escape(name)}">{escape(name)}</a></td>'
            f"<td>{escape(cat)}</td>{''.join(cells)}</tr>"
        )
    return f'<table id="theorems">{head}{"".join(rows)}</table>'


def _theorem_sections(runs: tuple[RunSummary, ...], trees: TreeLoader) -> list[str]:
    names = sorted({n for s in runs for n in s.theorems})
    out = []
    for name in names:
        blocks = [f'<section class="theorem" id="t-{escape(name)}"><h3>{escape(name)}</h3>']
        for s in runs:
            result = s.theorems.get(name)
            if result is None:
                continue
            best = result.best
            css, text = _cell_class(result)
            blocks.append(
                f'<div class="attempt"><h4 class="{css}">{escape(s.name)}: {escape(text)} '
                f'<span class="score">{best.total_seconds:.1f}s, {best.expansions} expansions'
                f"</span></h4>"
            )
            if best.proof is not None:
                by = f"verified by {best.verified_by}" if best.verified else "not verified"
                blocks.append(
                    f'<p class="note">proof ({escape(by)}):</p>'
                    f'<pre class="proof">{escape(best.proof)}</pre>'
                )
            if best.error:
                blocks.append(f'<pre class="error">{escape(best.error)}</pre>')
            tree = trees(best.id)
            if tree:
                blocks.append(_tree(tree))
            blocks.append("</div>")
        blocks.append("</section>")
        out.append("".join(blocks))
    return out


def _tree(tree: dict[str, Any]) -> str:
    nodes = {n["id"]: n for n in tree.get("nodes", [])}
    children: dict[Any, list[dict[str, Any]]] = {}
    targets = set()
    for edge in tree.get("edges", []):
        children.setdefault(edge["source"], []).append(edge)
        if not edge.get("duplicate"):
            targets.add(edge["target"])
    roots = [n for n in nodes if n not in targets] or list(nodes)[:1]
    budget = [MAX_TREE_EDGES]

    def goals(node: dict[str, Any]) -> str:
        text = str(node.get("goals", ""))
        if len(text) > MAX_GOAL_CHARS:
            text = text[:MAX_GOAL_CHARS] + " …"
        return f'<pre class="goals">{escape(text)}</pre>'

    def render(node_id: Any, seen: set[Any]) -> str:
        items = []
        for edge in children.get(node_id, []):
            if budget[0] <= 0:
                items.append("<li>… (tree truncated)</li>")
                break
            budget[0] -= 1
            target = nodes.get(edge["target"], {})
            score = edge.get("score")
            label = (
                f"<code>{escape(str(edge.get('tactic', '')))}</code> "
                f'<span class="score">{score:.3f}</span> → '
                if isinstance(score, (int, float))
                else f"<code>{escape(str(edge.get('tactic', '')))}</code> → "
            )
            kind = target.get("kind")
            if edge.get("duplicate"):
                items.append(f"<li>{label}same state as #{escape(str(edge['target']))}</li>")
            elif kind == "failed":
                message = escape(str(target.get("message", ""))[:300])
                items.append(
                    f'<li>{label}<span class="leaf-failed">failed '
                    f"({escape(str(target.get('failure', '')))})</span> {message}</li>"
                )
            elif kind == "finished":
                items.append(f'<li>{label}<span class="leaf-finished">finished</span></li>')
            elif edge["target"] in seen:
                items.append(f"<li>{label}#{escape(str(edge['target']))}</li>")
            else:
                seen.add(edge["target"])
                items.append(
                    f"<li>{label}state #{escape(str(edge['target']))}{goals(target)}"
                    f"{render(edge['target'], seen)}</li>"
                )
        return f'<ul class="tree">{"".join(items)}</ul>' if items else ""

    body = "".join(
        f"<div>root #{escape(str(r))}{goals(nodes.get(r, {}))}{render(r, {r})}</div>" for r in roots
    )
    count = len(nodes)
    return f"<details><summary>search tree ({count} nodes)</summary>{body}</details>"


def _plots(runs: tuple[RunSummary, ...]) -> list[str]:
    require("matplotlib", "report")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = []
    labels = [c for c in (*CATEGORIES, OTHER) if any(c in s.categories for s in runs)]
    if labels:
        fig, ax = plt.subplots(figsize=(9, 3.6))
        width = 0.8 / max(1, len(runs))
        for i, s in enumerate(runs):
            values = [100 * s.categories[c].value if c in s.categories else 0 for c in labels]
            xs = [j + i * width for j in range(len(labels))]
            ax.bar(xs, values, width=width, label=s.name)
        ax.set_xticks([j + width * (len(runs) - 1) / 2 for j in range(len(labels))])
        ax.set_xticklabels(labels, rotation=20, ha="right")
        ax.set_ylabel("solved (%)")
        ax.set_ylim(0, 100)
        ax.set_title("Pass rate by category")
        ax.legend(fontsize="small")
        images.append(_png(fig, plt, "pass rate by category"))
    fig, ax = plt.subplots(figsize=(9, 1.6 + 0.5 * len(runs)))
    outcomes = (
        ("proved", "#3a9d5d"),
        ("unchecked", "#e0b73a"),
        ("failed", "#9aa3b0"),
        ("timeout", "#e08a3a"),
        ("error", "#c44e4e"),
    )
    for label, colour in outcomes:
        counts = [_outcome_count(s, label) for s in runs]
        lefts = [
            sum(_outcome_count(s, o) for o, _ in outcomes[: outcomes.index((label, colour))])
            for s in runs
        ]
        ax.barh([s.name for s in runs], counts, left=lefts, color=colour, label=label)
    ax.set_xlabel("theorems")
    ax.set_title("Outcome per theorem (its best attempt)")
    ax.legend(fontsize="small", ncol=len(outcomes), loc="upper center", bbox_to_anchor=(0.5, -0.45))
    images.append(_png(fig, plt, "outcome per theorem"))
    fig, ax = plt.subplots(figsize=(9, 3.6))
    for s in runs:
        times = sorted(r.best.total_seconds for r in s.theorems.values() if r.solved)
        if times:
            ax.step([0.0, *times], range(len(times) + 1), where="post", label=s.name)
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("seconds spent on the theorem's shown attempt")
    ax.set_ylabel("theorems solved")
    ax.set_title("Theorems solved within a time")
    if any(r.solved for s in runs for r in s.theorems.values()):
        ax.legend(fontsize="small")
    images.append(_png(fig, plt, "theorems solved within a time"))
    return images


def _outcome_count(summary: RunSummary, label: str) -> int:
    """Theorems of a run whose shown attempt has outcome `label` (as in the theorem table)."""
    return sum(_cell_class(r)[0] == label for r in summary.theorems.values())


def _png(fig: Any, plt: Any, alt: str) -> str:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img class="plot" alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def _published(report: Report) -> list[str]:
    if not report.published or not any(s.info.split == "test" for s in report.runs):
        return []
    rows = "".join(
        f"<tr><td>{escape(p['system'])}</td><td>{escape(p['kind'])}</td>"
        f"<td>{escape(p['budget'])}</td><td class='num'>{p['test']:.1f}%</td>"
        f'<td><a href="{escape(p["url"])}">{escape(p["source"])}</a></td></tr>'
        for p in report.published["results"]
    )
    head = "<tr><th>system</th><th>kind</th><th>budget</th><th>test</th><th>source</th></tr>"
    return [
        "<h2>Published miniF2F-test results</h2>",
        f'<p class="note">{escape(report.published["description"])}</p>',
        f'<table id="published">{head}{rows}</table>',
    ]
