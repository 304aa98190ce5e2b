"""Where arena keeps downloaded data and where it finds the files it ships."""

from __future__ import annotations

import os
from pathlib import Path


def arena_home() -> Path:
    """The data directory: $ARENA_HOME, else the user cache dir (pulled prompt sets, converted models)."""
    env = os.environ.get("ARENA_HOME")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("arena"))


def shipped_prompts_dir() -> Path:
    """The project's prompts/ folder: inside the wheel when installed, at the repo root when editable."""
    package_dir = Path(__file__).resolve().parent
    for candidate in (package_dir / "_shipped_prompts", package_dir.parent / "prompts"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("arena's shipped prompts/ folder is missing from this installation")
