"""The report's MT-bench part: per judge, the score table of `arena ratings --method score` (mean grade over
graded turns, turn 1, turn 2, 95% interval over questions) and a chart of each model's mean grade per category."""

from __future__ import annotations

from html import escape

from arena.ratings.scores import grades_of, score_rows
from arena.store import Judgment

_PALETTE = ("#3b6fb6", "#d9822b", "#4f9a5a", "#b04a5a", "#7a5db0", "#8c6d3f", "#c45fa0", "#5f8f9f")
SCORE_TABLE_COLUMNS = ("model", "score", "ci", "turn1", "turn2", "graded", "errors")


def category_chart(rows: list[dict], title: str) -> str:
    """Grouped horizontal bars on the 1-10 grade scale: one group per category, one bar per model."""
    categories = sorted({c for r in rows for c in r["categories"]})
    label_width, plot_width, bar, gap = 110, 420, 10, 10
    group = bar * len(rows) + gap
    legend = 18 * len(rows)
    height = 40 + legend + group * len(categories) + 24
    body = [
        '<text x="10" y="18" font-family="system-ui, sans-serif" font-size="13" font-weight="600">'
        f"{escape(title)}</text>"
    ]
    for index, row in enumerate(rows):
        y = 32 + 18 * index
        colour = _PALETTE[index % len(_PALETTE)]
        body.append(
            f'<rect x="{label_width}" y="{y - 9}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{label_width + 16}" y="{y}" font-family="system-ui, sans-serif" font-size="12">'
            f"{escape(row['model'])}</text>"
        )
    top = 40 + legend
    for tick in range(0, 11, 2):
        x = label_width + plot_width * tick / 10
        body.append(
            f'<line x1="{x}" y1="{top - 4}" x2="{x}" y2="{top + group * len(categories)}" stroke="#ddd"/>'
            f'<text x="{x}" y="{top + group * len(categories) + 14}" text-anchor="middle" '
            f'font-family="system-ui, sans-serif" font-size="11">{tick}</text>'
        )
    for c_index, category in enumerate(categories):
        y0 = top + group * c_index
        body.append(
            f'<text x="{label_width - 6}" y="{y0 + bar * len(rows) / 2 + 4}" text-anchor="end" '
            f'font-family="system-ui, sans-serif" font-size="12">{escape(category)}</text>'
        )
        for index, row in enumerate(rows):
            value = row["categories"].get(category)
            if value is None:
                continue
            body.append(
                f'<rect x="{label_width}" y="{y0 + bar * index}" width="{plot_width * value / 10:.1f}" '
                f'height="{bar - 1}" fill="{_PALETTE[index % len(_PALETTE)]}">'
                f"<title>{escape(row['model'])} · {escape(category)}: {value:.2f}</title></rect>"
            )
    width = label_width + plot_width + 20
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
        f'<rect width="100%" height="100%" fill="white"/>{"".join(body)}</svg>'
    )


def mt_bench_sections(
    judgments: list[Judgment], prompt_set, bootstrap: int, seed: int, figures: dict[str, str]
) -> list[dict]:
    """One section per judge with single grades: {judge, rows, table rows for the page}; adds a chart per judge."""
    from arena.store.results import file_safe

    categories = {p.id: p.category for p in prompt_set.prompts} if prompt_set else {}
    sections = []
    for judge in sorted({j.judge for j in judgments if j.protocol == "single"}):
        rows = score_rows(grades_of([j for j in judgments if j.judge == judge], categories), bootstrap, seed)
        table = [{**r, "ci": "n/a" if r["ci"] is None else f"{r['ci'][0]:.2f}–{r['ci'][1]:.2f}"} for r in rows]
        figures[f"mt-bench-categories-{file_safe(judge)}.svg"] = category_chart(
            rows, f"Mean grade per category · judge {judge}"
        )
        sections.append(
            {"judge": judge, "rows": rows, "table": table, "figure": f"mt-bench-categories-{file_safe(judge)}.svg"}
        )
    return sections
