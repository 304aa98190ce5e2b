"""Reading a judge's free text. Anything that does not parse is an error kept with its raw text — never
quietly turned into a tie."""

from __future__ import annotations

import re

_PAIRWISE = {"1": "A", "2": "B", "3": "tie"}
_DECORATION = re.compile(r"[*_`#>\[\]().:\"']|\b(final|answer|verdict|choice|assistant|reply|output)\b", re.I)
_NUMBER = r"(10|[1-9](?:\.\d+)?)"
_SCORE_LINE = re.compile(rf"^\W*{_NUMBER}\s*(?:/\s*10)?\s*(?:[,;/ ]|and|vs\.?)\s*{_NUMBER}\s*(?:/\s*10)?\W*$", re.I)
_TUPLE = re.compile(rf"\(\s*{_NUMBER}\s*,\s*{_NUMBER}\s*\)")


def parse_pairwise(text: str) -> str | None:
    """The last non-empty line must hold only 1, 2 or 3 (markdown, brackets and 'Assistant' tolerated)."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return None
    last = _DECORATION.sub(" ", lines[-1]).strip()
    return _PAIRWISE.get(last)


_GRADE = re.compile(r"\[\[\s*(\d+(?:\.\d+)?)\s*\]\]")
_GRADE_SINGLE_BRACKETS = re.compile(r"\[\s*(\d+(?:\.\d+)?)\s*\]")
_CHOICE = {"[[A]]": "A", "[[B]]": "B", "[[C]]": "tie"}


def parse_grade(text: str) -> float | None:
    """A single-answer grade written as FastChat asks, 'Rating: [[7]]' (decimals allowed; '[7]' accepted when
    there is no double-bracketed one). The last one counts. Outside 1-10 it is no grade: None."""
    found = _GRADE.findall(text) or _GRADE_SINGLE_BRACKETS.findall(text)
    if not found:
        return None
    grade = float(found[-1])
    return grade if 1 <= grade <= 10 else None


def parse_bracketed_choice(text: str) -> str | None:
    """FastChat's pairwise verdicts: [[A]], [[B]] or [[C]] (tie); only one of them may appear."""
    present = {verdict for mark, verdict in _CHOICE.items() if mark in text}
    return present.pop() if len(present) == 1 else None


def parse_scores(text: str) -> tuple[float, float] | None:
    """Two 1-10 scores on the first line ('8 7', '8, 7', '8/10 7/10'), else the last '(8, 7)' tuple."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return None
    first = _SCORE_LINE.match(lines[0].strip().strip("*`"))
    found = first.groups() if first else (_TUPLE.findall(text)[-1] if _TUPLE.search(text) else None)
    if not found:
        return None
    return float(found[0]), float(found[1])


def explanation_of(text: str, protocol: str) -> str:
    """The judge's reasoning without the machine-read line."""
    lines = text.strip().splitlines()
    if protocol == "single":
        return text.strip()
    body = lines[:-1] if protocol == "pairwise" else lines[1:]
    return "\n".join(body).strip()
