"""Model output is untrusted: it is rendered as markdown with raw HTML disabled (so `<script>` or an
`onerror=` attribute shows as text) and only safe link schemes. Shared by the report and the rating form."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def _renderer():
    from markdown_it import MarkdownIt

    # "commonmark" with html=False escapes every raw HTML tag; markdown-it's link validation refuses
    # javascript:, vbscript:, file: and data: (except images) URLs.
    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")


@lru_cache(maxsize=4096)
def render_markdown(text: str, max_chars: int | None = None) -> str:
    """Cached per text (a page shows the same answers again and again). With `max_chars`, a longer text is
    cut and says so: some hostile inputs (thousands of unclosed `![`) take markdown parsers quadratic time."""
    text = text or ""
    if max_chars is None or len(text) <= max_chars:
        return _renderer().render(text)
    note = f"\n\n*[answer cut here for display: {len(text):,} characters in all]*"
    return _renderer().render(text[:max_chars] + note)
