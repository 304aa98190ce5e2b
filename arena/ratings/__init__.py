"""Ratings: the paper's Elo, Bradley-Terry, relative-to-baseline scores and judge diagnostics, as pure
functions of arrays built once from judgments.

For notebooks, `bradley_terry(df)` and `elo(df)` rate any pandas DataFrame with model_a, model_b and winner
columns (arena.analysis); pandas is imported only when they are called."""

# Every rating's defaults, numpy-free so the command line can show them without importing numpy.
DEFAULT_RESAMPLES = 1_000  # bootstrap resamples behind a 95% interval (Bradley-Terry, relative, win rate, scores)
DEFAULT_ORDERINGS = 10_000  # the QLoRA paper's Elo: random match orders averaged


def bradley_terry(frame, bootstrap: int = DEFAULT_RESAMPLES, seed: int = 0, anchor: str | None = None):
    """Bradley-Terry ratings of a DataFrame of matches, as `arena ratings --method bt` rows."""
    from arena.analysis import bradley_terry as rate

    return rate(frame, bootstrap, seed, anchor)


def elo(frame, orderings: int = DEFAULT_ORDERINGS, seed: int = 0):
    """The QLoRA paper's Elo of a DataFrame of matches, as `arena ratings --method elo` rows."""
    from arena.analysis import elo as rate

    return rate(frame, orderings, seed)
