"""The report page, rendered from the Jinja2 template `templates/report.html.j2` with autoescape on, so every
model-, judge- or user-written string is escaped by default; the browser script renders the battles with
textContent, and only answers pre-rendered by the safe markdown renderer are inserted as HTML. The stylesheet
and script are package files (`templates/report.css`, `templates/report.js`) that the template inlines, as it
does the SVG figures: the page stays one file that opens offline. A Content-Security-Policy lets only this
page's own script (by nonce) run and forbids any network access."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from arena.ratings.leaderboard import COEFFICIENT_COLUMNS, CONTROLLED_COLUMNS, RATING_COLUMNS, RELATIVE_COLUMNS
from arena.report.scores import SCORE_TABLE_COLUMNS
from arena.store.results import file_safe

if TYPE_CHECKING:
    from jinja2 import Environment

TEMPLATES = Path(__file__).parent / "templates"
# The Bradley-Terry table adds how many judgments hold each place (arena.ratings.robustness).
BT_COLUMNS = (*RATING_COLUMNS, "held_by")
# The columns of each kind of table, by the name the template knows them by.
TABLE_COLUMNS = {
    "score_columns": SCORE_TABLE_COLUMNS,
    "rating_columns": RATING_COLUMNS,
    "bt_columns": BT_COLUMNS,
    "controlled_columns": CONTROLLED_COLUMNS,
    "coefficient_columns": COEFFICIENT_COLUMNS,
    "relative_columns": RELATIVE_COLUMNS,
}


def _rating_number(value: float) -> str:
    """Ratings and intervals to three decimals below 10, one above: enough to rank, short enough to scan."""
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"


def _pretty_json(value: object) -> str:
    """The run metadata as indented JSON; dates and paths as their text. Escaped by the template."""
    return json.dumps(value, indent=2, default=str)


def _static(name: str) -> str:
    """A package file beside the template; the wheel ships the whole `arena/` folder, templates included."""
    return (TEMPLATES / name).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _environment() -> Environment:
    """Built on first use: jinja2 is imported only when a report is written, keeping the CLI's start-up light."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,  # the template is .j2, which select_autoescape would not recognise as HTML
        undefined=StrictUndefined,  # a misspelt field fails loudly instead of leaving a blank cell
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(rating_number=_rating_number, pretty_json=_pretty_json, file_safe=file_safe)
    env.globals.update(TABLE_COLUMNS, css=_static("report.css"), script=_static("report.js"))
    return env


@dataclass(frozen=True)
class PageContent:
    """Everything the page shows, by the names the template uses."""

    benchmark: str
    sections: list[dict]  # one per judge (and panel): its tables and charts
    bias: list[dict]
    agreements: list[dict]
    figures: dict  # SVG charts by file name
    metadata: dict
    battles: str  # the battle browser's data, gzip-compressed and base64-encoded
    nonce: str
    counts: dict
    mt_bench: list[dict] = field(default_factory=list)


def render_page(content: PageContent) -> str:
    length_bias = [s["length_bias"] for s in content.sections if "length_bias" in s]
    return _environment().get_template("report.html.j2").render(vars(content), length_bias=length_bias)
