"""Options are typed at the edge: a command handler turns its argparse Namespace into a frozen dataclass of
the command's options and hands on only that, so nothing below the handler reads (or changes) the Namespace."""

from __future__ import annotations

from argparse import Namespace
from dataclasses import fields
from typing import Any, TypeVar

T = TypeVar("T")


def options_from(cls: type[T], args: Namespace, **given: Any) -> T:
    """`cls` built from the parsed options of its fields' names, except those `given` (converted or derived
    values). A field the command has no option for keeps its default; one without a default fails loudly."""
    names = [f.name for f in fields(cls) if f.init and f.name not in given]  # type: ignore[arg-type]
    parsed = {name: getattr(args, name) for name in names if hasattr(args, name)}
    return cls(**parsed, **given)
