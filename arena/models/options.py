"""Every setting a model entry may carry, with its allowed values, so a typo in arena.toml is an error at
once ("did you mean 'quantization'?") instead of a run with the setting silently ignored."""

from __future__ import annotations

import difflib
from collections.abc import Callable

from arena.errors import ArenaError

Check = Callable[[object], str | None]  # None when the value is fine, else what was expected


def _choice(*allowed: str) -> Check:
    return lambda v: None if v in allowed else f"one of {', '.join(repr(a) for a in allowed)}"


def _number(kind: type, low: float | None = None, high: float | None = None, low_open: bool = False) -> Check:
    def check(value):
        wanted = "an integer" if kind is int else "a number"
        if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
            return wanted
        if low is not None and (value <= low if low_open else value < low):
            return f"{wanted} {'>' if low_open else '>='} {low}" + (f" and <= {high}" if high is not None else "")
        if high is not None and value > high:
            return f"{wanted} <= {high}"
        return None

    return check


def _type(kind: type, name: str) -> Check:
    return lambda v: None if isinstance(v, kind) else name


_TEXT, _FLAG, _TABLE = _type(str, "a string"), _type(bool, "true or false"), _type(dict, "a table")
DTYPES = ("float32", "float16", "bfloat16")

# How many calls an OpenAI-compatible endpoint gets at once unless `max_concurrency` says otherwise: a judge's
# calls are short verdicts, so it keeps twice as many in flight as a model writing whole answers.
DEFAULT_ANSWER_CONCURRENCY = 8
DEFAULT_JUDGE_CONCURRENCY = 16

# The fields of a [models.NAME] table itself, then the backend options.
ENTRY_FIELDS = ("backend", "path", "description", "extends", "name")
OPTIONS: dict[str, Check] = {
    # generation (any backend)
    "temperature": _number(float, 0.0, 2.0),
    "top_p": _number(float, 0.0, 1.0, low_open=True),
    "max_new_tokens": _number(int, 1),
    "greedy": _FLAG,
    "seed": _number(int, 0),
    "batch_size": _number(int, 1),
    # hf (transformers)
    "adapter": _TEXT,
    "quantization": _choice("none", "8bit", "4bit"),
    "quant_type": _choice("nf4", "fp4"),
    "double_quant": _FLAG,
    "compute_dtype": _choice(*DTYPES),
    "dtype": _choice(*DTYPES),
    "prompt_format": _choice("guanaco", "chat_template"),
    "gguf_file": _TEXT,
    "threads": _number(int, 1),
    "requires_gpu": _FLAG,
    "base_model": _TEXT,
    # vllm
    "vllm_args": _TABLE,
    # openai (any OpenAI-compatible endpoint, or a list of endpoints serving the same model)
    "base_url": lambda v: (
        None
        if isinstance(v, str) or (isinstance(v, list) and v and all(isinstance(u, str) for u in v))
        else "a URL or a non-empty list of URLs"
    ),
    "api_key_env": _TEXT,
    "require_key": _FLAG,
    "max_concurrency": _number(int, 1),
    "breaker_failures": _number(int, 1),
    "rest_seconds": _number(float, 0.0),
    "context_window": _number(int, 1),
    "retries": _number(int, 0),
    "retry_base_delay": _number(float, 0.0),
    "timeout": _number(float, 0.0, low_open=True),
    "requests_per_minute": _number(float, 0.0, low_open=True),
    "price_in": _number(float, 0.0),
    "price_out": _number(float, 0.0),
    # as a judge
    "judge_temperature": _number(float, 0.0, 2.0),
    "judge_max_tokens": _number(int, 1),
    "judge_threads": _number(int, 1),
    "judge_label": _TEXT,
    "demo_judge": _FLAG,
    # as a judge through the Batch API (--batch)
    "batch_poll_seconds": _number(float, 0.0, low_open=True),
    "batch_discount": _number(float, 0.0, 1.0),
}


def check_entry(name: str, table: dict, where: str) -> None:
    """Unknown keys and bad values of one [models.NAME] table, named with the file and the closest key."""
    for key, value in table.items():
        if key in ENTRY_FIELDS:
            if key != "backend" and not isinstance(value, str):
                raise ArenaError(f"{where}: [models.{name}] field '{key}' must be a string, got {value!r}")
            continue
        check = OPTIONS.get(key)
        if check is None:
            close = difflib.get_close_matches(key, [*ENTRY_FIELDS, *OPTIONS], n=1, cutoff=0.6)
            hint = (
                f"; did you mean '{close[0]}'?"
                if close
                else f"; known keys: {', '.join(sorted([*ENTRY_FIELDS, *OPTIONS]))}"
            )
            raise ArenaError(f"{where}: [models.{name}] unknown key '{key}'{hint}")
        problem = check(value)
        if problem:
            raise ArenaError(f"{where}: [models.{name}] field '{key}' must be {problem}, got {value!r}")


def check_option(model: str, key: str, value: object) -> None:
    """One option of a model built in code rather than read from a file (a preset, a fine-tune), checked by
    the same rule as a file's entry when the backend reads it."""
    problem = OPTIONS[key](value)
    if problem:
        raise ArenaError(f"model '{model}': {key} must be {problem}, got {value!r}")
