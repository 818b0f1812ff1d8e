"""The ranking as a self-contained HTML page (`tailor select --report FILE.html`).

One file with inline SVG and no scripts or external assets, so it opens anywhere, offline,
and can be attached to an issue. Two plots answer the questions a user has about a
ranking: does the prediction agree with what fine-tuning measured (predicted vs measured,
for the candidates the search fine-tuned), and what does quality cost (latency vs
predicted quality, with the latency budget drawn in).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

W, H, PAD = 440, 300, 48


def _fmt(value: Any, pattern: str = "{:.4g}") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return pattern.format(value) if isinstance(value, int | float) else html.escape(str(value))


def _ticks(lo: float, hi: float) -> list[float]:
    return [lo + (hi - lo) * i / 4 for i in range(5)]


def scatter(points: Sequence[tuple[float, float, str]], *, x_label: str, y_label: str,
            title: str, x_line: float | None = None, diagonal: bool = False) -> str:
    """An SVG scatter plot; each point labelled. `x_line`: a dashed vertical marker."""
    pts = [(x, y, label) for x, y, label in points if math.isfinite(x) and math.isfinite(y)]
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
            f'role="img" aria-label="{html.escape(title)}">'
            f'<text x="{W / 2}" y="16" text-anchor="middle" font-weight="bold">'
            f'{html.escape(title)}</text>')
    if not pts:
        return head + (f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle">'
                       'nothing to plot yet</text></svg>')
    xs = [p[0] for p in pts] + ([x_line] if x_line is not None else [])
    ys = [p[1] for p in pts]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if diagonal:
        x0 = y0 = min(x0, y0)
        x1 = y1 = max(x1, y1)
    if x1 - x0 < 1e-12:
        x0, x1 = x0 - 1, x1 + 1
    if y1 - y0 < 1e-12:
        y0, y1 = y0 - 1, y1 + 1
    mx, my = (x1 - x0) * 0.08, (y1 - y0) * 0.08
    x0, x1, y0, y1 = x0 - mx, x1 + mx, y0 - my, y1 + my

    def sx(x: float) -> float:
        return PAD + (x - x0) / (x1 - x0) * (W - 2 * PAD)

    def sy(y: float) -> float:
        return H - PAD - (y - y0) / (y1 - y0) * (H - 2 * PAD)

    parts = [head,
             f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - PAD}" y2="{H - PAD}" stroke="black"/>',
             f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{H - PAD}" stroke="black"/>',
             f'<text x="{W / 2}" y="{H - 8}" text-anchor="middle">{html.escape(x_label)}</text>',
             f'<text x="12" y="{H / 2}" text-anchor="middle" '
             f'transform="rotate(-90 12 {H / 2})">{html.escape(y_label)}</text>']
    for t in _ticks(x0, x1):
        parts.append(f'<text x="{sx(t):.1f}" y="{H - PAD + 14}" text-anchor="middle" '
                     f'font-size="9">{t:.3g}</text>')
    for t in _ticks(y0, y1):
        parts.append(f'<text x="{PAD - 4}" y="{sy(t) + 3:.1f}" text-anchor="end" '
                     f'font-size="9">{t:.3g}</text>')
    if diagonal:
        parts.append(f'<line x1="{sx(x0):.1f}" y1="{sy(y0):.1f}" x2="{sx(x1):.1f}" '
                     f'y2="{sy(y1):.1f}" stroke="#bbb" stroke-dasharray="4"/>')
    if x_line is not None:
        parts.append(f'<line x1="{sx(x_line):.1f}" y1="{PAD}" x2="{sx(x_line):.1f}" '
                     f'y2="{H - PAD}" stroke="#c33" stroke-dasharray="4"/>')
    for x, y, label in pts:
        parts.append(f'<circle class="point" cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="4" '
                     f'fill="#36c"><title>{html.escape(label)}</title></circle>'
                     f'<text x="{sx(x) + 6:.1f}" y="{sy(y) - 5:.1f}" font-size="9">'
                     f'{html.escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def html_report(rows: Sequence[dict[str, Any]], meta: dict[str, Any], *,
                title: str = "Tailor model ranking") -> str:
    """The page: the ranking table and the two plots."""
    measured = [(r["predicted_score"], r["measured_score"], r["model"]) for r in rows
                if r.get("predicted_score") is not None and r.get("measured_score") is not None]
    cost = [(r["latency_ms"], r["measured_score"] if r.get("measured_score") is not None
             else r["predicted_score"], r["model"]) for r in rows
            if r.get("latency_ms") is not None and r.get("predicted_score") is not None]
    budget = meta.get("latency_budget_ms")
    plots = [scatter(measured, x_label="predicted score", y_label="measured score",
                     title="Predicted vs measured (fine-tuned candidates)", diagonal=True),
             scatter(cost, x_label="latency per suggestion (ms)",
                     y_label="quality (measured, else predicted)", title="Cost vs quality",
                     x_line=float(budget) if isinstance(budget, int | float) else None)]
    head = ("<tr><th>#</th><th>model</th><th>kind</th><th>parameters</th>"
            "<th>predicted</th><th>measured</th><th>latency ms</th><th>zero-shot loss</th>"
            "<th>zero-shot EM</th><th>LogME</th><th>note</th></tr>")
    body = []
    for i, r in enumerate(rows, 1):
        p = r.get("proxies") or {}
        note = r.get("skipped") or ("" if r.get("within_latency_budget", True)
                                    else "over the latency budget")
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in (
            i, html.escape(r["model"]), html.escape(str(r.get("kind", ""))),
            _fmt(r.get("parameters"), "{:,}"), _fmt(r.get("predicted_score")),
            _fmt(r.get("measured_score")), _fmt(r.get("latency_ms"), "{:.0f}"),
            _fmt(p.get("zero_shot_loss"), "{:.3f}"),
            _fmt(p.get("zero_shot_exact_match"), "{:.2f}"), _fmt(p.get("logme"), "{:.3f}"),
            html.escape(str(note or "")))) + "</tr>")
    facts = ", ".join(f"{html.escape(str(k))}: {html.escape(str(v))}" for k, v in meta.items()
                      if k in ("pick", "predictor", "fine_tunes", "budget", "full_run",
                               "latency_budget_ms", "seconds"))
    return ("<!doctype html><html><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif}}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
            "</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p>{facts}</p>"
            f"<table>{head}{''.join(body)}</table><div>{''.join(plots)}</div>"
            "</body></html>")
