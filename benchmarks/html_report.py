"""The report as one self-contained HTML page: tables, inline plots, each proof, search trees.

Plots are matplotlib PNGs embedded as base64; each search tree's proof path and top failed
branches sit in a closed <details> element, so the page stays readable and needs no network or
scripts. Whole trees go to pages of their own (`tree_page`), linked from the report.
"""

from __future__ import annotations

import base64
import io
import json
import time
import zlib
from collections.abc import Callable
from html import escape
from typing import Any

from benchmarks.categories import CATEGORIES, OTHER
from benchmarks.report import (
    Report,
    RunSummary,
    TheoremResult,
    outcomes,
    percent,
    shown,
    trust_line,
)
from prover.errors import require

TreeLoader = Callable[[int], dict[str, Any] | None]

MAX_GOAL_CHARS = 600
MAX_MESSAGE_CHARS = 300
TOP_FAILED_BRANCHES = 5

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


def to_html(
    report: Report,
    trees: TreeLoader,
    *,
    tree_pages: dict[str, str] | None = None,
    tree_dir: str = "trees",
) -> str:
    """The whole page; `trees` loads a stored search tree by attempt id. Each tree shows its
    proof path and top failed branches inline; with `tree_pages`, the whole tree goes to a page
    of its own (file name → HTML, added to the dict, to be written under `tree_dir`) and is
    linked, so the report stays small however large the trees."""
    runs = report.runs
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(report.title)}: {escape(', '.join(r.name for r in runs))}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{escape(report.title)}</h1>",
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
        *_theorem_sections(runs, trees, tree_pages, tree_dir),
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
    notes = [f'<p class="note trust">{escape(trust_line(s))}</p>' for s in report.runs]
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


def _theorem_sections(
    runs: tuple[RunSummary, ...],
    trees: TreeLoader,
    pages: dict[str, str] | None,
    tree_dir: str,
) -> list[str]:
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
                link = None
                if pages is not None:
                    file = f"attempt-{best.id}.html"
                    pages[file] = tree_page(f"{name} ({s.name}): search tree", tree)
                    link = f"{tree_dir}/{file}"
                blocks.append(_tree(tree, link))
            blocks.append("</div>")
        blocks.append("</section>")
        out.append("".join(blocks))
    return out


def _goals_block(node: dict[str, Any]) -> str:
    text = str(node.get("goals", ""))
    if len(text) > MAX_GOAL_CHARS:
        text = text[:MAX_GOAL_CHARS] + " …"
    return f'<pre class="goals">{escape(text)}</pre>'


def _edge_label(edge: dict[str, Any]) -> str:
    score = edge.get("score")
    tactic = f"<code>{escape(str(edge.get('tactic', '')))}</code>"
    if isinstance(score, (int, float)):
        return f'{tactic} <span class="score">{score:.3f}</span> → '
    return f"{tactic} → "


def _proof_path(nodes: dict[Any, dict[str, Any]], edges: list[dict[str, Any]]) -> list[str]:
    """The states and tactics from the root to the first finished leaf, as list items."""
    parent = {e["target"]: e for e in edges if not e.get("duplicate")}
    finished = [n for n, node in nodes.items() if node.get("kind") == "finished"]
    if not finished or finished[0] not in parent:
        return []
    path: list[dict[str, Any]] = []
    current = finished[0]
    while current in parent and len(path) <= len(nodes):
        path.append(parent[current])
        current = parent[current]["source"]
    items = []
    for edge in reversed(path):
        source = nodes.get(edge["source"], {})
        items.append(f"<li>state #{escape(str(edge['source']))}{_goals_block(source)}")
        items.append(f"{_edge_label(edge)}</li>")
    items.append('<li><span class="leaf-finished">finished</span></li>')
    return items


def _top_failures(nodes: dict[Any, dict[str, Any]], edges: list[dict[str, Any]]) -> list[str]:
    """The failed tactics the model scored highest, with Lean's message (shortened)."""
    failed = [e for e in edges if nodes.get(e["target"], {}).get("kind") == "failed"]
    failed.sort(key=lambda e: e.get("score") if isinstance(e.get("score"), (int, float)) else -1e9)
    items = []
    for edge in reversed(failed[-TOP_FAILED_BRANCHES:]):
        target = nodes[edge["target"]]
        message = escape(str(target.get("message", ""))[:MAX_MESSAGE_CHARS])
        items.append(
            f"<li>at state #{escape(str(edge['source']))}: {_edge_label(edge)}"
            f'<span class="leaf-failed">failed ({escape(str(target.get("failure", "")))})'
            f'</span> <pre class="goals">{message}</pre></li>'
        )
    return items


def _tree(tree: dict[str, Any], link: str | None) -> str:
    """The inline part of a tree: its proof path and top failed branches; `link` (if any) is a
    page holding the whole tree, loaded only when opened."""
    nodes = {n["id"]: n for n in tree.get("nodes", [])}
    edges = list(tree.get("edges", []))
    blocks = []
    path = _proof_path(nodes, edges)
    if path:
        blocks.append(f'<p class="note">proof path:</p><ul class="tree">{"".join(path)}</ul>')
    failures = _top_failures(nodes, edges)
    if failures:
        blocks.append(
            f'<p class="note">top {len(failures)} failed branches (by model score):</p>'
            f'<ul class="tree">{"".join(failures)}</ul>'
        )
    if link is not None:
        blocks.append(f'<p class="note"><a href="{escape(link)}">the whole tree</a></p>')
    else:
        blocks.append('<p class="note">write the report with --out to get the whole tree</p>')
    count = len(nodes)
    return f"<details><summary>search tree ({count} nodes)</summary>{''.join(blocks)}</details>"


def tree_page(title: str, tree: dict[str, Any]) -> str:
    """A page of its own for one whole tree: zlib-compressed JSON, rendered by its script when
    opened (a 3,200-node tree is some 100 KB here instead of megabytes of markup)."""
    nodes = []
    for n in tree.get("nodes", []):
        kind = n.get("kind")
        if kind == "failed":
            text = str(n.get("message", ""))[:MAX_MESSAGE_CHARS]
            nodes.append([n["id"], "failed", str(n.get("failure", "")), text])
        elif kind == "finished":
            nodes.append([n["id"], "finished", "", ""])
        else:
            nodes.append([n["id"], "state", "", str(n.get("goals", ""))[:MAX_GOAL_CHARS]])
    edges = [
        [
            e["source"],
            e["target"],
            str(e.get("tactic", "")),
            e.get("score") if isinstance(e.get("score"), (int, float)) else None,
            bool(e.get("duplicate")),
        ]
        for e in tree.get("edges", [])
    ]
    payload = json.dumps({"nodes": nodes, "edges": edges}, ensure_ascii=False)
    data = base64.b64encode(zlib.compress(payload.encode("utf-8"), 6)).decode("ascii")
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f'<h1>{escape(title)}</h1><p class="note">{len(nodes)} nodes, {len(edges)} edges</p>'
        f'<div id="tree">loading…</div><script id="data" type="text/plain">{data}</script>'
        f"<script>{_TREE_SCRIPT}</script></body></html>"
    )


# Renders a tree page's data: inflate (the browser's DecompressionStream), then nested lists.
_TREE_SCRIPT = """
(async () => {
  const bytes = Uint8Array.from(atob(document.getElementById("data").textContent),
                                c => c.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
  const data = JSON.parse(await new Response(stream).text());
  const nodes = new Map(data.nodes.map(n => [n[0], n]));
  const children = new Map();
  const targets = new Set();
  for (const e of data.edges) {
    if (!children.has(e[0])) children.set(e[0], []);
    children.get(e[0]).push(e);
    if (!e[4]) targets.add(e[1]);
  }
  const el = (tag, cls, text) => {
    const x = document.createElement(tag);
    if (cls) x.className = cls;
    if (text !== undefined) x.textContent = text;
    return x;
  };
  const render = (id, seen) => {
    const ul = el("ul", "tree");
    for (const e of children.get(id) || []) {
      const li = el("li");
      li.append(el("code", "", e[2]), " ");
      if (e[3] !== null) li.append(el("span", "score", e[3].toFixed(3)), " ");
      li.append("→ ");
      const n = nodes.get(e[1]) || [e[1], "state", "", ""];
      if (e[4]) li.append("same state as #" + e[1]);
      else if (n[1] === "failed") {
        li.append(el("span", "leaf-failed", "failed (" + n[2] + ")"), " " + n[3]);
      } else if (n[1] === "finished") li.append(el("span", "leaf-finished", "finished"));
      else if (seen.has(e[1])) li.append("#" + e[1]);
      else {
        seen.add(e[1]);
        li.append("state #" + e[1], el("pre", "goals", n[3]), render(e[1], seen));
      }
      ul.append(li);
    }
    return ul;
  };
  const root = document.getElementById("tree");
  root.textContent = "";
  for (const [id, n] of nodes) {
    if (targets.has(id)) continue;
    const div = el("div", "", "root #" + id);
    div.append(el("pre", "goals", n[3]), render(id, new Set([id])));
    root.append(div);
  }
})().catch(e => { document.getElementById("tree").textContent = "cannot show the tree: " + e; });
"""


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
