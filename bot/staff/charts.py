"""Charts as inline SVG written on the server: no JavaScript, no CDN, readable by screen readers.

Each chart is an `<svg role="img">` with a `<title>` and `<desc>`, and every bar has its own `<title>` (a hover
tooltip in browsers) stating its label and value, so the numbers are there for those who cannot see the bars.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

WIDTH = 640
ROW = 28
LABEL_WIDTH = 190
VALUE_WIDTH = 70
MAX_LABEL_CHARS = 26
_ids = itertools.count(1)


def _short(label: str, limit: int = MAX_LABEL_CHARS) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _open(title: str, desc: str, width: int, height: int, css: str) -> tuple[str, str]:
    ident = f"chart{next(_ids)}"
    head = (
        f'<svg class="chart {css}" viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet" '
        f'role="img" aria-labelledby="{ident}-t {ident}-d" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{ident}-t">{escape(title)}</title><desc id="{ident}-d">{escape(desc)}</desc>'
    )
    return head, "</svg>"


def bar_chart(
    title: str,
    items: Sequence[tuple[str, float]],
    *,
    value_text: Callable[[float], str] = lambda v: f"{v:g}",
    css: str = "",
) -> Markup:
    """Horizontal bars, one row per item, longest first as given; labels left, values right of each bar."""
    rows = list(items)
    height = max(1, len(rows)) * ROW + 8
    desc = "; ".join(f"{label}: {value_text(value)}" for label, value in rows) or "no data"
    head, tail = _open(title, desc, WIDTH, height, f"bars {css}".strip())
    parts = [head]
    if not rows:
        parts.append(f'<text x="0" y="20" class="empty">{escape("No data yet")}</text>')
    top = max((value for _, value in rows), default=0) or 1
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    for i, (label, value) in enumerate(rows):
        y = 4 + i * ROW
        length = 0 if value <= 0 else max(2.0, span * value / top)
        tip = f"{label}: {value_text(value)}"
        parts.append(
            f'<g class="bar"><title>{escape(tip)}</title>'
            f'<text x="{LABEL_WIDTH - 8}" y="{y + ROW / 2 + 5:.0f}" text-anchor="end" class="label">'
            f"{escape(_short(label))}</text>"
            f'<rect x="{LABEL_WIDTH}" y="{y + 4}" width="{length:.1f}" height="{ROW - 8}" rx="3" class="fill"/>'
            f'<text x="{LABEL_WIDTH + length + 6:.1f}" y="{y + ROW / 2 + 5:.0f}" class="value">'
            f"{escape(value_text(value))}</text></g>"
        )
    parts.append(tail)
    return Markup("".join(parts))


def column_chart(title: str, items: Sequence[tuple[str, float]], *, css: str = "") -> Markup:
    """Vertical columns over time (e.g. complaints per week), with a baseline and every other label."""
    rows = list(items)
    height, bottom, top_pad = 220, 40, 22
    slot = WIDTH / max(1, len(rows))
    top = max((value for _, value in rows), default=0) or 1
    desc = "; ".join(f"{label}: {value:g}" for label, value in rows) or "no data"
    head, tail = _open(title, desc, WIDTH, height, f"columns {css}".strip())
    parts = [head, f'<line x1="0" y1="{height - bottom}" x2="{WIDTH}" y2="{height - bottom}" class="axis"/>']
    usable = height - bottom - top_pad
    for i, (label, value) in enumerate(rows):
        bar = 0 if value <= 0 else max(2.0, usable * value / top)
        x = i * slot + slot * 0.15
        y = height - bottom - bar
        parts.append(
            f'<g class="bar"><title>{escape(f"{label}: {value:g}")}</title>'
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{bar:.1f}" rx="2" class="fill"/>'
            f'<text x="{x + slot * 0.35:.1f}" y="{y - 5:.1f}" text-anchor="middle" class="value">{value:g}</text>'
        )
        if i % 2 == 0 or len(rows) <= 8:
            parts.append(
                f'<text x="{x + slot * 0.35:.1f}" y="{height - bottom + 16}" text-anchor="middle" class="label">'
                f"{escape(label)}</text>"
            )
        parts.append("</g>")
    parts.append(tail)
    return Markup("".join(parts))
