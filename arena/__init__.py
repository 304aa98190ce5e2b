"""arena: evaluation and tournament suite for chat LLMs.

The command line is `arena`; in a notebook, `arena.Results(folder)` reads a results folder as pandas
DataFrames and `arena.ratings.bradley_terry(df)` / `arena.ratings.elo(df)` rate any DataFrame of matches
(see arena.analysis). Both are loaded on first use, so `import arena` stays light.
"""

import importlib

__version__ = "0.1.0"


def __getattr__(name: str):
    if name == "Results":
        from arena.analysis import Results

        return Results
    if name in ("ratings", "analysis"):
        return importlib.import_module(f"arena.{name}")
    raise AttributeError(f"module 'arena' has no attribute {name!r}")
