"""Style features of an answer, a fixed tokenizer-free count so every judge and model is measured alike:

    length       words: maximal runs of non-space characters
    headers      markdown headings (a line starting with 1-6 '#' and a space)
    lists        list items (a line starting with '-', '*' or '+' and a space, or with '1.' / '1)')
    bold         bold spans (**text** or __text__)
    code_blocks  fenced code blocks (a pair of ``` or ~~~ fences)

A multi-turn answer counts the sum over the model's turns. Text inside fenced code counts as words only.
"""

from __future__ import annotations

import re
from functools import lru_cache

FEATURES = ("length", "headers", "lists", "bold", "code_blocks")
CONTROLS = {"length": ("length",), "style": ("length", "headers", "lists", "bold")}

_HEADER = re.compile(r"^ {0,3}#{1,6}[ \t]+\S", re.M)
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+\S", re.M)
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|__(?=\S)(.+?)(?<=\S)__", re.S)
_FENCE = re.compile(r"^ {0,3}(```|~~~)", re.M)
_FENCED = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1[^\n]*$", re.M | re.S)


@lru_cache(maxsize=65536)
def text_features(text: str) -> tuple[int, ...]:
    """The counts of FEATURES for one text (cached: the same answer is met in many matches)."""
    fences = len(_FENCE.findall(text))
    prose = _FENCED.sub(" ", text)
    return (
        len(text.split()),
        len(_HEADER.findall(prose)),
        len(_LIST_ITEM.findall(prose)),
        len(_BOLD.findall(prose)),
        fences // 2,
    )


def answer_features(turns: list[str]) -> dict[str, int]:
    totals = [sum(values) for values in zip(*(text_features(t) for t in turns))] if turns else [0] * len(FEATURES)
    return dict(zip(FEATURES, totals))


def resolve_control(control: str) -> tuple[str, ...]:
    """'length', 'style', or a comma-separated list of feature names."""
    from arena.errors import ArenaError

    if control in CONTROLS:
        return CONTROLS[control]
    names = tuple(n.strip() for n in control.split(",") if n.strip())
    unknown = [n for n in names if n not in FEATURES]
    if unknown or not names:
        import difflib

        close = [
            match[0] for u in unknown if (match := difflib.get_close_matches(u, [*FEATURES, "style"], n=1, cutoff=0.6))
        ]
        raise ArenaError(
            f"unknown style feature {', '.join(repr(u) for u in unknown) or repr(control)}"
            + (f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else "")
            + ": known are "
            f"{', '.join(FEATURES)} (or 'length' / 'style' = {', '.join(CONTROLS['style'])})"
        )
    return names
