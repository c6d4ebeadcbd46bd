"""Tiny dependency-free SVG charts: each function returns one ``<svg>`` string.

Plain inline SVG keeps the report one self-contained file that needs no plotting library, no
network and no script (hover text is SVG's own ``<title>``). Every label is data and may be
hostile, so each goes through ``esc``; no ``xmlns`` is written (inline SVG in HTML needs none,
and the page carries no URL at all).
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")
WIDTH = 720
LABEL_W = 230  # left column of horizontal charts, for the row labels
TEXT_W = 110  # right column, for the value written after each bar
ROW_H = 22
LABEL_CHARS = 34


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def fmt(x: float | None) -> str:
    """A number as the page prints it: integers whole, others to 4 significant digits."""
    if x is None:
        return "–"
    if isinstance(x, int) or float(x).is_integer():
        return str(int(x))
    return f"{x:.0f}" if abs(x) >= 10_000 else f"{x:.4g}"


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    return (f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{esc(title)}"><title>{esc(title)}</title>' + "".join(body) + "</svg>")


def _text(x: float, y: float, text: str, anchor: str = "start", cls: str = "") -> str:
    extra = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{extra}>{esc(text)}</text>'


def _rect(x: float, y: float, w: float, h: float, fill: str, tip: str, cls: str = "") -> str:
    extra = f' class="{cls}"' if cls else ""
    return (f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{h:.1f}" fill="{fill}"{extra}>'
            f"<title>{esc(tip)}</title></rect>")


def _legend(series: Sequence[str], y: float) -> tuple[list[str], float]:
    """Swatches with the series' names, wrapped over as many lines as they need; the next free y."""
    body, x = [], 0.0
    for i, name in enumerate(series):
        label = _short(name)
        step = 18 + 7 * len(label) + 14
        if x and x + step > WIDTH:
            x, y = 0.0, y + 18
        body += [_rect(x, y, 12, 12, color(i), name), _text(x + 16, y + 10, label)]
        x += step
    return body, y + 22


def hbar(items: Sequence[tuple[str, float]], title: str, texts: Sequence[str] | None = None,
         max_value: float | None = None) -> str:
    """One horizontal bar per (label, value), on one scale; ``texts`` replaces the value printed after each."""
    top = max([max_value or 0.0] + [v for _, v in items]) or 1.0
    span = WIDTH - LABEL_W - TEXT_W
    body = []
    for i, (label, value) in enumerate(items):
        y = i * ROW_H
        text = texts[i] if texts else fmt(value)
        body += [_text(LABEL_W - 6, y + 15, _short(label), "end"),
                 _rect(LABEL_W, y + 3, span * value / top, ROW_H - 6, color(0), f"{label}: {text}"),
                 _text(LABEL_W + span * value / top + 4, y + 15, text)]
    return _svg(WIDTH, max(len(items), 1) * ROW_H + 4, title, body)


def stacked_hbar(rows: Sequence[tuple[str, Sequence[float]]], series: Sequence[str], title: str,
                 marks: Sequence[float | None] | None = None, texts: Sequence[str] | None = None) -> str:
    """One bar per row, cut into the series' segments, all rows on one scale; a legend above.

    ``marks`` draws a red tick at a value of that row (the funnel: where ``read`` is, when the
    segments do not add up to it)."""
    legend, top_y = _legend(series, 0)
    totals = [sum(values) for _, values in rows]
    top = max(totals + [m for m in (marks or []) if m is not None] + [1.0])
    span = WIDTH - LABEL_W - TEXT_W
    body = legend
    for i, (label, values) in enumerate(rows):
        y, x = top_y + i * ROW_H, float(LABEL_W)
        body.append(_text(LABEL_W - 6, y + 15, _short(label), "end"))
        for j, value in enumerate(values):
            if value > 0:
                body.append(_rect(x, y + 3, span * value / top, ROW_H - 6, color(j), f"{label}: {series[j]} {fmt(value)}"))
                x += span * value / top
        mark = marks[i] if marks else None
        if mark is not None:
            mx = LABEL_W + span * mark / top
            body.append(f'<line x1="{mx:.1f}" y1="{y:.1f}" x2="{mx:.1f}" y2="{y + ROW_H:.1f}" class="mark">'
                        f"<title>{esc(f'{label}: read {fmt(mark)}')}</title></line>")
        body.append(_text(max(x, LABEL_W + span * (mark or 0) / top) + 4, y + 15, texts[i] if texts else fmt(totals[i])))
    return _svg(WIDTH, int(top_y + max(len(rows), 1) * ROW_H + 4), title, body)


def histogram(counts: Mapping[int, int], title: str, unit: str = "steps", max_bins: int = 40, what: str = "rows") -> str:
    """Vertical bars of ``what`` (rows) per integer value (``unit`` each), bins widened to keep at most ``max_bins``."""
    if not counts:
        return _svg(WIDTH, 30, title, [_text(0, 18, f"no {what}")])
    lo, hi = min(counts), max(counts)
    width = max(1, math.ceil((hi - lo + 1) / max_bins))
    bins = [(start, min(start + width - 1, hi)) for start in range(lo, hi + 1, width)]
    heights = [sum(n for v, n in counts.items() if a <= v <= b) for a, b in bins]
    top, plot_h, left = max(heights) or 1, 160, 40
    bar_w = (WIDTH - left) / len(bins)
    body = [f'<line x1="{left}" y1="{plot_h + 20}" x2="{WIDTH}" y2="{plot_h + 20}" class="axis"/>']
    for (a, b), n, i in zip(bins, heights, range(len(bins)), strict=True):
        name = f"{a}" if a == b else f"{a}–{b}"
        h, x = plot_h * n / top, left + i * bar_w
        body.append(_rect(x + 1, plot_h + 20 - h, bar_w - 2, h, color(0), f"{name} {unit}: {n} {what}"))
        if n:
            body.append(_text(x + bar_w / 2, plot_h + 16 - h, str(n), "middle", "small"))
        if len(bins) <= 20 or i % math.ceil(len(bins) / 20) == 0:
            body.append(_text(x + bar_w / 2, plot_h + 34, name, "middle", "small"))
    body.append(_text(left, plot_h + 50, f"{what} per number of {unit} (max {top})", cls="small"))
    return _svg(WIDTH, plot_h + 56, title, body)


def distribution(points: Sequence[tuple[str, float | None, float | None, float | None, float | None, str]],
                 title: str, unit: str = "step") -> str:
    """Per position, values in [0, 1]: a box from the first to the third quartile, a tick at the
    median, and the means as dots joined by a line. Each point is (label, mean, q1, median, q3, hover text);
    a position with nothing measured is left blank."""
    plot_h, left, top_pad = 180, 40, 10
    step = (WIDTH - left) / max(len(points), 1)
    y_of = lambda v: top_pad + plot_h * (1 - v)  # noqa: E731
    grid: list[str] = []
    for tick in (0, 0.25, 0.5, 0.75, 1):
        grid += [f'<line x1="{left}" y1="{y_of(tick):.1f}" x2="{WIDTH}" y2="{y_of(tick):.1f}" class="grid"/>',
                 _text(left - 4, y_of(tick) + 4, fmt(tick), "end", "small")]
    body: list[str] = []
    line: list[str] = []
    every = math.ceil(len(points) / 24) if points else 1
    for i, (label, mean, q1, median, q3, tip) in enumerate(points):
        cx = left + (i + 0.5) * step
        if q1 is not None and q3 is not None:
            body.append(_rect(cx - step * 0.3, y_of(q3), step * 0.6, max(y_of(q1) - y_of(q3), 1.5), color(0), tip, "band"))
        if median is not None:
            body.append(f'<line x1="{cx - step * 0.3:.1f}" y1="{y_of(median):.1f}" x2="{cx + step * 0.3:.1f}" '
                        f'y2="{y_of(median):.1f}" class="median"/>')
        if mean is not None:
            line.append(f"{cx:.1f},{y_of(mean):.1f}")
            body.append(f'<circle cx="{cx:.1f}" cy="{y_of(mean):.1f}" r="3.5" fill="{color(1)}">'
                        f"<title>{esc(tip)}</title></circle>")
        if i % every == 0:
            body.append(_text(cx, top_pad + plot_h + 16, label, "middle", "small"))
    if len(line) > 1:
        grid.append(f'<polyline points="{" ".join(line)}" class="meanline" fill="none" stroke="{color(1)}"/>')
    body = grid + body
    body.append(_text(WIDTH, top_pad + plot_h + 32, unit, "end", "small"))
    return _svg(WIDTH, top_pad + plot_h + 38, title, body)
