"""Small, dependency-free SVG charts for the report: they inline into a self-contained page and are also
written beside it as files. All text is escaped."""

from __future__ import annotations

import math
from html import escape

_FONT = 'font-family="system-ui, sans-serif" font-size="12"'


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
        f'<rect width="100%" height="100%" fill="white"/>{"".join(body)}</svg>'
    )


def interval_chart(rows: list[dict], title: str, value_label: str, reference: float | None = None) -> str:
    """Horizontal points with 95% interval bars, one row per rated model, best first."""
    rows = [r for r in rows if r["rating"] is not None]  # too few matches to rate: the table says so
    label_width, plot_width, row_height = 190, 420, 26
    height = 50 + row_height * len(rows)
    # A row without a meaningful interval (too few matches) shows its point only.
    lows = [r["ci_low"] if _finite(r["ci_low"]) else r["rating"] for r in rows] + ([reference] if reference else [])
    highs = [r["ci_high"] if _finite(r["ci_high"]) else r["rating"] for r in rows] + ([reference] if reference else [])
    low, high = (min(lows), max(highs)) if lows else (0.0, 1.0)
    pad = (high - low) * 0.08 or 1.0
    low, high = low - pad, high + pad

    def x(value: float) -> float:
        return label_width + (value - low) / (high - low) * plot_width

    body = [f'<text x="10" y="20" {_FONT} font-weight="bold">{escape(title)}</text>']
    if reference is not None:
        body.append(
            f'<line x1="{x(reference):.1f}" y1="30" x2="{x(reference):.1f}" y2="{height - 20}" '
            'stroke="#bbb" stroke-dasharray="4 3"/>'
        )
    for i, row in enumerate(rows):
        y = 45 + i * row_height
        body.append(f'<text x="{label_width - 8}" y="{y + 4}" text-anchor="end" {_FONT}>{escape(row["model"])}</text>')
        interval = _finite(row["ci_low"]) and _finite(row["ci_high"])
        if interval:
            body.append(
                f'<line x1="{x(row["ci_low"]):.1f}" y1="{y}" x2="{x(row["ci_high"]):.1f}" y2="{y}" '
                'stroke="#4c72b0" stroke-width="3"/>'
            )
        body.append(f'<circle cx="{x(row["rating"]):.1f}" cy="{y}" r="5" fill="#dd8452"/>')
        described = f"[{row['ci_low']:.1f}, {row['ci_high']:.1f}]" if interval else "(interval n/a: too few matches)"
        body.append(
            f'<text x="{label_width + plot_width + 10}" y="{y + 4}" {_FONT}>{row["rating"]:.1f} {described}</text>'
        )
    body.append(
        f'<text x="{label_width}" y="{height - 5}" {_FONT} fill="#666">{escape(value_label)}: '
        f"{low:.0f} to {high:.0f}</text>"
    )
    return _svg(label_width + plot_width + 200, height, body, title)


def _finite(value) -> bool:
    return value is not None and math.isfinite(value)


def _colour(share: float) -> str:
    """White at 0.5, blue toward 1, red toward 0."""
    if not math.isfinite(share):
        return "#eeeeee"
    strength = min(1.0, abs(share - 0.5) * 2)
    if share >= 0.5:
        r, g, b = 255 - int(179 * strength), 255 - int(141 * strength), 255 - int(79 * strength)
    else:
        r, g, b = 255 - int(34 * strength), 255 - int(123 * strength), 255 - int(173 * strength)
    return f"rgb({r},{g},{b})"


def heatmap(row_labels: list[str], column_labels: list[str], values, title: str, note: str) -> str:
    """A matrix of shares in [0, 1] (NaN: no data), each cell labelled with its value."""
    label_width, cell, top = 190, 64, 110
    # Room for the title and for the last rotated column label, which leans to the right.
    longest_column = max((len(label) for label in column_labels), default=0)
    width = max(label_width + cell * len(column_labels) + int(longest_column * 5.5) + 10, len(title) * 7 + 20)
    height = top + cell * len(row_labels) + 30
    body = [f'<text x="10" y="20" {_FONT} font-weight="bold">{escape(title)}</text>']
    for j, label in enumerate(column_labels):
        cx = label_width + j * cell + cell / 2
        body.append(f'<text transform="translate({cx:.0f},{top - 8}) rotate(-40)" {_FONT}>{escape(label)}</text>')
    for i, label in enumerate(row_labels):
        y = top + i * cell
        body.append(
            f'<text x="{label_width - 8}" y="{y + cell / 2 + 4:.0f}" text-anchor="end" {_FONT}>{escape(label)}</text>'
        )
        for j in range(len(column_labels)):
            value = float(values[i][j])
            body.append(
                f'<rect x="{label_width + j * cell}" y="{y}" width="{cell - 2}" height="{cell - 2}" '
                f'fill="{_colour(value)}"/>'
            )
            text = "–" if not math.isfinite(value) else f"{value:.2f}"
            body.append(
                f'<text x="{label_width + j * cell + cell / 2 - 1:.0f}" y="{y + cell / 2 + 4:.0f}" '
                f'text-anchor="middle" {_FONT}>{text}</text>'
            )
    body.append(f'<text x="10" y="{height - 8}" {_FONT} fill="#666">{escape(note)}</text>')
    return _svg(width, height, body, title)


def share_bars(rows: list[tuple[str, float, float, float]], title: str, note: str) -> str:
    """Proportions with intervals on a 0-1 axis, a reference line at 0.5 (e.g. first-position win share)."""
    label_width, plot_width, row_height = 190, 360, 28
    height = 60 + row_height * len(rows)
    body = [
        f'<text x="10" y="20" {_FONT} font-weight="bold">{escape(title)}</text>',
        f'<line x1="{label_width + plot_width / 2}" y1="30" x2="{label_width + plot_width / 2}" y2="{height - 25}" '
        'stroke="#bbb" stroke-dasharray="4 3"/>',
    ]
    for i, (label, share, low, high) in enumerate(rows):
        y = 45 + i * row_height
        body.append(f'<text x="{label_width - 8}" y="{y + 4}" text-anchor="end" {_FONT}>{escape(label)}</text>')
        if math.isfinite(share):
            body.append(
                f'<rect x="{label_width}" y="{y - 8}" width="{share * plot_width:.1f}" height="16" fill="#4c72b0"/>'
            )
            body.append(
                f'<line x1="{label_width + low * plot_width:.1f}" y1="{y}" '
                f'x2="{label_width + high * plot_width:.1f}" y2="{y}" stroke="#222" stroke-width="2"/>'
            )
            body.append(
                f'<text x="{label_width + plot_width + 10}" y="{y + 4}" {_FONT}>'
                f"{share:.3f} [{low:.3f}, {high:.3f}]</text>"
            )
    body.append(f'<text x="10" y="{height - 8}" {_FONT} fill="#666">{escape(note)}</text>')
    return _svg(label_width + plot_width + 170, height, body, title)


def shift_chart(rows: list[tuple[str, float, float]], title: str, note: str) -> str:
    """One arrow per model from its raw rating to its style-controlled one, best controlled first."""
    label_width, plot_width, row_height = 190, 420, 26
    height = 60 + row_height * len(rows)
    values = [v for _, raw, controlled in rows for v in (raw, controlled)]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    pad = (high - low) * 0.08 or 1.0
    low, high = low - pad, high + pad

    def x(value: float) -> float:
        return label_width + (value - low) / (high - low) * plot_width

    body = [
        f'<text x="10" y="20" {_FONT} font-weight="bold">{escape(title)}</text>',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#c44e52"/></marker></defs>',
    ]
    for i, (model, raw, controlled) in enumerate(rows):
        y = 45 + i * row_height
        body.append(f'<text x="{label_width - 8}" y="{y + 4}" text-anchor="end" {_FONT}>{escape(model)}</text>')
        body.append(f'<circle cx="{x(raw):.1f}" cy="{y}" r="4" fill="#999"/>')
        body.append(
            f'<line x1="{x(raw):.1f}" y1="{y}" x2="{x(controlled):.1f}" y2="{y}" stroke="#c44e52" '
            f'stroke-width="2" marker-end="url(#arrow)"/>'
        )
        body.append(
            f'<text x="{label_width + plot_width + 10}" y="{y + 4}" {_FONT}>{raw:.0f} → {controlled:.0f}</text>'
        )
    body.append(f'<text x="{label_width}" y="{height - 5}" {_FONT} fill="#666">{escape(note)}</text>')
    return _svg(label_width + plot_width + 200, height, body, title)
