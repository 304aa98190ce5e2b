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


def render_markdown(text: str) -> str:
    return _renderer().render(text or "")
