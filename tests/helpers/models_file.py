"""arena.toml files for tests: published answer files as `answers` models, and OpenAI-compatible judges at a
loopback server (their key from JUDGE_KEY)."""

from __future__ import annotations

import json
from pathlib import Path


def write_models_file(
    path: Path, answers: dict[str, Path], judge_url: str, judges: tuple[str, ...] = ("judge",), **judge_options
) -> Path:
    """One `[models."NAME"]` table per answers file, then one per judge with `judge_options` as its options."""
    tables = [f'[models.{json.dumps(name)}]\nbackend = "answers"\npath = "{file}"\n' for name, file in answers.items()]
    options = "".join(f"{key} = {json.dumps(value)}\n" for key, value in judge_options.items())
    tables += [
        f'[models.{judge}]\nbackend = "openai"\npath = "gpt-4"\nbase_url = {json.dumps(judge_url)}\n'
        f'api_key_env = "JUDGE_KEY"\n{options}'
        for judge in judges
    ]
    path.write_text("\n".join(tables))
    return path
