"""The report page: one HTML document, inline style and SVG, no script, no URL.

A Content-Security-Policy that allows nothing but inline style makes the file safe to open (and
to serve from the studio) even if some escaping were missed; every string from the data is escaped
anyway (``svg.esc``), stage names, reasons, models and notes included. A section that fails to draw
says so in its place, so one odd value never costs the whole page.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from pipelines.io.token_lengths import SAMPLE_SHARDS
from pipelines.io.verification import PRM_MEANING
from pipelines.report import svg
from pipelines.report.data import Figures, Share, Stage
from pipelines.report.svg import esc, fmt
from pipelines.report.trees import NO_FACTOR

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1000px;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;margin-top:2em}h3{margin-bottom:.3em}
table{border-collapse:collapse;margin:.5em 0 1em}td,th{border:1px solid #ddd;padding:2px 8px;text-align:left}
td.n,th.n{text-align:right}tr.bad td{background:#fde8e8}.flag{color:#b00;font-weight:bold}
.note{background:#fff7d6;border-left:4px solid #e0b000;padding:4px 10px;margin:.4em 0}
.chart text{font-size:12px;fill:#222}.chart text.small{font-size:10px;fill:#555}
.chart .axis,.chart .grid{stroke:#bbb;stroke-width:1}.chart .grid{stroke-dasharray:2,3}
.chart .mark{stroke:#d00;stroke-width:2}.chart .band{opacity:.35}.chart .median{stroke:#223;stroke-width:2}
.chart .meanline{stroke-width:1.5}code{background:#f3f3f3;padding:0 3px}dt{font-weight:bold}dd{margin:0 0 .4em 1.5em}
"""


class Raw(str):
    """A table cell that is already HTML (made here from escaped parts)."""


def code_spans(text: str) -> Raw:
    """``text`` escaped, with its Markdown code spans (```x```) as ``<code>``."""
    return Raw(re.sub(r"`([^`]+)`", r"<code>\1</code>", esc(text)))


def note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def table(head: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Numbers right-aligned; every cell escaped unless it is ``Raw``; a row whose last cell is a flag is marked."""
    def cell(v: object, tag: str = "td") -> str:
        num = isinstance(v, int | float) and not isinstance(v, bool)
        return f'<{tag}{" class=n" if num else ""}>{v if isinstance(v, Raw) else esc(fmt(v) if num else v)}</{tag}>'
    lines = ["<table><tr>" + "".join(cell(h, "th") for h in head) + "</tr>"]
    for row in rows:
        bad = bool(row) and isinstance(row[-1], Raw) and "flag" in row[-1]
        lines.append(f"<tr{' class=bad' if bad else ''}>" + "".join(cell(v) for v in row) + "</tr>")
    return "".join(lines) + "</table>"


def overview(fig: Figures) -> str:
    out = fig.outputs
    counts = ", ".join(f"{k} {fmt(v)}" for k, v in out.items() if isinstance(v, int | float)) or "–"
    found = ", ".join(f"{k.upper()} {fig.rows[k]} rows in {fig.shards[k]} shards" for k in fig.rows)
    if fig.trees:
        found += f", TREES {fig.trees.nodes} rows (nodes) in {fig.trees.shards} shards"
    models = sorted({r.model for r in fig.runs if r.model} | ({fig.model} if fig.model else set()))
    versions = ", ".join(f"{k} {v}" for k, v in fig.versions.items() if v) or "–"
    items = [("folder", fig.folder), ("model", ", ".join(models) or "–"), ("rows (manifest)", counts),
             ("rows (shards read)", found), ("wall time", f"{fmt(fig.wall_seconds)} s"), ("versions", versions)]
    html = "<dl>" + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items) + "</dl>"
    html += "".join(note(p) for p in fig.problems)
    if fig.notes:
        html += "<h3>Notes</h3><ul>" + "".join(f"<li>{esc(n)}</li>" for n in fig.notes) + "</ul>"
    return html


def funnel(fig: Figures) -> str:
    if not fig.stages:
        return note("the manifest lists no stages")
    html = "<p>Per stage: read = written + filtered + dead-lettered (resumed rows count as written).</p>"
    for command in sorted({s.command for s in fig.stages}):
        group = [s for s in fig.stages if s.command == command]
        rows = [[s.name.split("/", 1)[-1], s.read, s.written, s.resumed,
                 ", ".join(f"{k}: {v}" for k, v in sorted(s.filtered.items())) or "0", s.dead_lettered,
                 Raw("yes" if s.balanced else '<span class="flag">NO: unbalanced</span>')] for s in group]
        html += f"<h3>{esc(command or '(no command)')}</h3>" + table(
            ["stage", "read", "written", "resumed", "filtered", "dead-lettered", "balanced"], rows)
        html += _funnel_chart(command, group)
    return html


def _funnel_chart(command: str, group: list[Stage]) -> str:
    reasons = sorted({r for s in group for r in s.filtered})
    series = ["written", "resumed", *(f"filtered: {r}" for r in reasons), "dead-lettered"]
    rows = [(s.name.split("/", 1)[-1], [s.written - s.resumed, s.resumed, *(s.filtered.get(r, 0) for r in reasons),
                                        s.dead_lettered]) for s in group]
    marks = [None if s.balanced else s.read for s in group]
    texts = [f"read {s.read}" + ("" if s.balanced else " (unbalanced)") for s in group]
    return svg.stacked_hbar(rows, series, f"funnel of {command}", marks, texts)


def soft_labels(fig: Figures) -> str:
    if not fig.soft_labels:
        return note("no soft labels: no PRM rows")
    html = ("<p>Per step position (1 = first) and labelling method: the mean soft label (dots), the median (bar) "
            "and the interquartile range (box), over the steps that were measured; steps nothing measured (a null "
            "label: unmeasured) are counted apart.</p>")
    for method, points in fig.soft_labels.items():
        chart = svg.distribution([(p.label, p.mean, p.q1, p.median, p.q3, f"step {p.label}: mean {fmt(p.mean)}, "
                                   f"IQR {fmt(p.q1)}–{fmt(p.q3)}, {p.measured} measured, {p.nulls} unmeasured") for p in points],
                                 f"soft labels of {method} by step")
        html += f"<h3>{esc(method)}</h3>" + chart + table(
            ["step", "measured", "unmeasured", "mean", "q1", "median", "q3"],
            [[p.label, p.measured, p.nulls, *(x if x is not None else "–" for x in (p.mean, p.q1, p.median, p.q3))]
             for p in points])
    return html + hard_labels(fig)


def hard_labels(fig: Figures) -> str:
    """The PRM rows' hard labels per method: correct, wrong, and unmeasured (null: no completion measured the step)."""
    if not fig.hard_labels:
        return ""
    rows = [(method, [c.get("correct", 0), c.get("wrong", 0), c.get("unmeasured", 0)]) for method, c in fig.hard_labels.items()]
    return ("<h3>Hard labels by method</h3><p>Steps labelled correct, wrong, or unmeasured (a null label: nothing "
            "measured the step; the exports drop or cut such rows).</p>"
            + svg.stacked_hbar(rows, ["correct", "wrong", "unmeasured"], "hard labels of PRM steps by method")
            + table(["method", "correct", "wrong", "unmeasured", "steps"], [[m, *v, sum(v)] for m, v in rows]))


def steps(fig: Figures) -> str:
    html = ""
    for kind, what in (("prm", "PRM rows (completions)"), ("sft", "SFT rows (steps)")):
        counts = fig.steps.get(kind) or {}
        total = sum(counts.values())
        mean = sum(k * n for k, n in counts.items()) / total if total else None
        html += f"<h3>{esc(what)}</h3><p>{total} rows, {fmt(mean)} steps on average.</p>"
        html += svg.histogram(counts, f"steps per {kind.upper()} row")
    return html


def factors(fig: Figures) -> str:
    if not fig.factors:
        return note("no thought factors: no SFT rows and none in the manifest")
    total = {f: sum(c.get(f, 0) for c in fig.factors.values()) for c in fig.factors.values() for f in c}
    names = sorted(total, key=lambda f: (-total[f], f))
    where = "the manifest's factors.by_source_kind" if fig.factors_from == "manifest" else "the SFT rows' steps"
    rows = [(kind, [counts.get(f, 0) for f in names]) for kind, counts in sorted(fig.factors.items())]
    return (f"<p>Steps per thought factor and source kind, from {esc(where)}.</p>"
            + svg.stacked_hbar(rows, names, "thought factors by source kind")
            + table(["source kind", *names, "steps"], [[k, *v, sum(v)] for k, v in rows]))


def _shares(items: list[Share], title: str, what: str) -> str:
    if not items:
        return note(f"no {what}")
    texts = [f"{s.yes} / {s.total} ({100 * s.share:.0f}%)" for s in items]
    return (svg.hbar([(s.key, s.share) for s in items], title, texts, max_value=1.0)
            + table([what, "yes", "rows", "share"], [[s.key, s.yes, s.total, f"{100 * s.share:.1f}%"] for s in items]))


def verified(fig: Figures) -> str:
    return (meanings(fig) + "<h3>SFT rows: verified, by source kind / verifier</h3>"
            + _shares(fig.sft_verified, "verified share of SFT rows", "SFT rows")
            + "<h3>PRM rows: answer correct, by method</h3>"
            + _shares(fig.prm_correct, "answer-correct share of PRM rows", "PRM rows"))


def meanings(fig: Figures) -> str:
    """What ``verified`` means for each command's rows (it differs: a code-cot row's answer is right even unverified)."""
    items = []
    for o in fig.outcomes:
        if o.meaning is None:
            continue
        truncated = f", {o.sft_truncated} truncated" if o.sft_truncated else ""
        items.append(f"<dt><code>{esc(o.command)}</code>: {o.sft_rows} SFT rows, {o.sft_verified} verified{truncated}</dt>"
                     f"<dd>the answer: {code_spans(o.meaning.answer)}.<br><b>verified</b>: {code_spans(o.meaning.verified)}."
                     f"<br><b>unverified</b>: {code_spans(o.meaning.unverified)}.</dd>")
    html = "<h3>What verified means, per command</h3>"
    html += ("<dl>" + "".join(items) + "</dl>") if items else note("no command that verifies SFT rows ran here")
    if fig.rows.get("prm"):
        html += f"<p>{code_spans(PRM_MEANING)}.</p>"
    return html


def reasons(fig: Figures) -> str:
    """Why rows were not verified or were left out, per command's latest run, by reason."""
    found = [o for o in fig.outcomes if o.reasons]
    if not found:
        return note("the manifest records no reasons: no stages")
    html = "<p>Counts of each command's latest run (the manifest's stages), by reason.</p>"
    for o in found:
        unverified = f": {o.unverified} of {o.sft_rows} SFT rows unverified" if o.sft_rows else ""
        rows = [[code_spans(group.what), Raw(f"<code>{esc(reason)}</code>"), n]
                for group in o.reasons for reason, n in group.counts.items()]
        html += f"<h3>{esc(o.command)}{esc(unverified)}</h3>" + table(["what", "reason", "count"], rows)
    return html


def tokens(fig: Figures) -> str:
    """Tokens per row and column, in the embedded tokenizer's tokens, over a bounded sample."""
    lengths = fig.token_lengths
    if lengths.get("unavailable"):
        return note(f"token lengths not counted: the tokenizer could not be loaded ({lengths['unavailable']})")
    columns = lengths.get("columns") or {}
    if not isinstance(columns, dict) or not columns:
        return note("no token lengths: no rows")
    sampled = lengths.get("sampled") or {}
    of = ", ".join(f"{sampled.get(kind, 0)} {str(kind).upper()} rows" for kind in columns)
    html = (f"<p>Tokens per row, per column, in the {esc(lengths.get('tokenizer'))} tokenizer's tokens (no special tokens; "
            f"a list's texts joined by newlines), over {esc(of)} (the first rows of up to {SAMPLE_SHARDS} shards per kind).</p>")
    rows = [[kind, column, *(st.get(k, "–") for k in ("rows", "mean", "p50", "p95", "max"))]
            for kind, per_column in columns.items() for column, st in per_column.items()]
    html += table(["config", "column", "rows", "mean", "p50", "p95", "max"], rows)
    for kind, per_column in columns.items():
        html += svg.hbar([(str(c), float(st.get("p95") or 0)) for c, st in per_column.items()],
                         f"p95 tokens per {str(kind).upper()} column",
                         [f"p50 {fmt(st.get('p50'))}, p95 {fmt(st.get('p95'))}, max {fmt(st.get('max'))}"
                          for st in per_column.values()])
    return html


def rollouts(fig: Figures) -> str:
    html = "<h3>PRM rows: rollouts summed per method</h3>"
    spent = list(fig.rollouts.items())
    html += svg.hbar(spent, "rollouts per method") + table(["method", "rollouts"], spent) if spent else note("no PRM rows")
    html += "<h3>Stages: rollouts, simulations and completions</h3>"
    names = ["rollouts", "simulations", "completions"]
    html += (table(["stage", *names], [[s, *(c.get(n, "–") for n in names)] for s, c in fig.spend.items()])
             if fig.spend else note("no stage counted rollouts, simulations or completions"))
    return html


def search_trees(fig: Figures) -> str:
    """``expand``'s trees (``trees/``, one row per node): size, branching, depth, factors tried, root visits."""
    t = fig.trees
    if t is None:
        return note("no search trees: this folder has no trees/ shards (expand writes them since 0.3, unless --no-trees; "
                    "an older folder's PRM rows hold only the nodes on found trajectories)")
    manifest_rows = fig.outputs.get("trees_rows")
    counted = f" (the manifest: {fmt(manifest_rows)})" if isinstance(manifest_rows, int | float) else ""
    correct = f"{t.answers_correct} / {t.answers}" if t.answers else "0"
    items = [("trees (roots)", t.trees), ("nodes", f"{t.nodes}{counted}"), ("expanded nodes", t.expanded),
             ("children never visited", t.unvisited), ("dead ends", t.dead_ends), ("answers stated (correct / all)", correct),
             ("mean branching (children per expanded node)", fmt(t.mean_branching)),
             ("mean visits of a root", fmt(t.mean_root_visits))]
    html = "<dl>" + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items) + "</dl>"
    html += "<h3>Nodes per depth</h3>" + svg.hbar([(f"depth {d}", n) for d, n in t.depths.items()], "nodes per depth")
    html += table(["depth", "nodes"], list(t.depths.items()))
    html += "<h3>Factors among children</h3>"
    shares = t.factor_shares()
    if not shares or all(f == NO_FACTOR for f, _, _ in shares):
        html += note("the children carry no thought factor: the search ran without --factor-actions")
    else:
        html += (svg.hbar([(f, s) for f, _, s in shares], "share of children per factor",
                          [f"{n} ({100 * s:.0f}%)" for _, n, s in shares], max_value=1.0)
                 + table(["factor", "children", "share"], [[f, n, f"{100 * s:.1f}%"] for f, n, s in shares]))
    html += "<h3>Visits of the roots</h3>" + svg.histogram(t.root_visits, "roots per number of visits", "visits", what="roots")
    return html


def runs(fig: Figures) -> str:
    if not fig.runs:
        return note("the manifest lists no runs")
    html = table(["command", "model", "runner", "wall s", "generated tokens", "tokens/s"],
                 [[r.command, r.model or "–", r.runner or "–", r.wall_seconds if r.wall_seconds is not None else "–",
                   r.generated_tokens, r.tokens_per_second if r.tokens_per_second is not None else "–"] for r in fig.runs])
    html += svg.hbar([(r.command, r.wall_seconds or 0) for r in fig.runs], "wall seconds per run",
                     [f"{fmt(r.wall_seconds)} s" for r in fig.runs])
    fast = [r for r in fig.runs if r.tokens_per_second is not None]
    if fast:
        html += "<h3>Tokens per second</h3>" + svg.hbar([(r.command, r.tokens_per_second or 0) for r in fast],
                                                        "generated tokens per second per run")
    return html


SECTIONS: list[tuple[str, str, Callable[[Figures], str]]] = [
    ("overview", "Overview", overview), ("funnel", "Funnel per stage", funnel),
    ("soft-labels", "Soft labels by step", soft_labels), ("steps", "Steps per solution", steps),
    ("factors", "Thought factors by source kind", factors), ("verified", "Verified share", verified),
    ("reasons", "Why rows were not verified or left out", reasons), ("tokens", "Token lengths", tokens),
    ("rollouts", "Rollouts spent", rollouts), ("trees", "Search trees", search_trees),
    ("runs", "Wall time and tokens per second", runs),
]


def render(fig: Figures) -> str:
    """The whole document."""
    parts = []
    for anchor, title, draw in SECTIONS:
        try:
            inner = draw(fig)
        except Exception as exc:  # an odd value in a hand-edited manifest: say so, draw the rest
            inner = note(f"this section could not be drawn ({type(exc).__name__}: {exc})")
        parts.append(f'<section id="{anchor}"><h2>{esc(title)}</h2>{inner}</section>')
    nav = " · ".join(f'<a href="#{a}">{esc(t)}</a>' for a, t, _ in SECTIONS)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f"<title>reverse-o1 report: {esc(fig.folder)}</title><style>{STYLE}</style></head><body>"
            f"<h1>reverse-o1 dataset report</h1><p><code>{esc(fig.folder)}</code></p><nav>{nav}</nav>"
            + "".join(parts) + "</body></html>\n")
