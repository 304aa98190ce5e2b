"""arena's face for notebooks: a results folder read as pandas DataFrames, and the rating engines applied to
any DataFrame of matches.

    import arena
    res = arena.Results("results")
    res.judgments("vicuna80", judge="gpt-4", protocol="pairwise")  # one row per judgment, with answer lengths
    res.answers("vicuna80")                          # one row per (model, prompt)
    res.leaderboard("vicuna80", method="elo")        # the numbers `arena ratings` prints, as a DataFrame
    arena.ratings.bradley_terry(df, bootstrap=1000)  # any DataFrame with model_a, model_b, winner columns

pandas is the `analysis` extra; it is imported here only, so the command line never pays for it. The
leaderboards are computed by the same functions as `arena ratings` (same defaults, same seed), so a notebook
and the command line always agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from arena.errors import ArenaError
from arena.ratings import DEFAULT_ORDERINGS, DEFAULT_RESAMPLES

if TYPE_CHECKING:
    import pandas as pd

# The columns of Results.judgments(), in order. answer_chars_a / _b: length of the answer shown first /
# second (its last turn), None when the answer is not in the store.
JUDGMENT_COLUMNS = (
    "judgment_id",
    "benchmark",
    "question_id",
    "category",
    "model_a",
    "model_b",
    "judge",
    "protocol",
    "verdict",
    "winner",
    "score_a",
    "score_b",
    "answer_chars_a",
    "answer_chars_b",
    "source",
    "created",
)
# The columns of Results.answers().
ANSWER_COLUMNS = (
    "benchmark",
    "question_id",
    "model",
    "text",
    "turns",
    "chars",
    "tokens",
    "seconds",
    "finish_reason",
    "answer_id",
    "created",
)
# How the verdict of the first-shown model reads as a winner, in FastChat's vocabulary.
WINNER_OF_VERDICT = {"A": "model_a", "B": "model_b", "tie": "tie"}
# Winners accepted by bradley_terry()/elo(): FastChat's names and arena's verdicts; anything else is an error.
_OUTCOME_OF_WINNER = {"model_a": 1.0, "a": 1.0, "model_b": 0.0, "b": 0.0, "tie": 0.5, "tie (bothbad)": 0.5}
LEADERBOARD_METHODS = ("elo", "bt")


def _pandas():
    try:
        import pandas
    except ImportError:
        raise ArenaError("the notebook API needs pandas: pip install 'arena[analysis]'") from None
    return pandas


class Results:
    """A results folder (what `--results` names; ./results by default) as DataFrames."""

    def __init__(self, path: str | Path = "results"):
        from arena.store import ResultsStore

        self.path = Path(path)
        if not self.path.is_dir():
            raise ArenaError(f"{self.path}: no results folder here (run `arena import` or `arena evaluate` first)")
        self.store = ResultsStore(self.path)

    def benchmarks(self) -> list[str]:
        """The prompt sets with anything stored."""
        return self.store.benchmarks()

    def answers(self, benchmark: str) -> pd.DataFrame:
        """One row per (model, prompt): the latest stored answer (columns: ANSWER_COLUMNS)."""
        pd = _pandas()
        rows = []
        for model in self.store.answered_models(benchmark):
            for answer in self.store.answers(benchmark, model).values():
                rows.append(
                    {
                        "benchmark": answer.benchmark,
                        "question_id": answer.question_id,
                        "model": answer.model,
                        "text": answer.text,
                        "turns": len(answer.turns),
                        "chars": len(answer.text),
                        "tokens": answer.tokens,
                        "seconds": answer.seconds,
                        "finish_reason": answer.finish_reason,
                        "answer_id": answer.answer_id,
                        "created": answer.created,
                    }
                )
        return pd.DataFrame(rows, columns=list(ANSWER_COLUMNS))

    def judgments(self, benchmark: str, judge: str | None = None, protocol: str | None = None) -> pd.DataFrame:
        """One row per stored judgment (the latest record of each), with the lengths of both answers it judged
        (columns: JUDGMENT_COLUMNS). `winner` is model_a, model_b, tie or None (an unreadable verdict)."""
        pd = _pandas()
        judgments = self.store.judgments(benchmark, judge)
        if protocol:
            judgments = [j for j in judgments if j.protocol == protocol]
        lengths = self._answer_lengths(benchmark, {m for j in judgments for m in (j.model_a, j.model_b)})
        rows = [
            {
                "judgment_id": j.judgment_id,
                "benchmark": j.benchmark,
                "question_id": j.question_id,
                "category": j.category,
                "model_a": j.model_a,
                "model_b": j.model_b,
                "judge": j.judge,
                "protocol": j.protocol,
                "verdict": j.verdict,
                "winner": WINNER_OF_VERDICT.get(j.verdict),
                "score_a": j.score_a,
                "score_b": j.score_b,
                "answer_chars_a": lengths.get((j.model_a, j.question_id)),
                "answer_chars_b": lengths.get((j.model_b, j.question_id)),
                "source": j.source,
                "created": j.created,
            }
            for j in judgments
        ]
        return pd.DataFrame(rows, columns=list(JUDGMENT_COLUMNS))

    def _answer_lengths(self, benchmark: str, models: set[str]) -> dict[tuple[str, str], int]:
        stored = set(self.store.answered_models(benchmark))
        return {
            (model, qid): len(answer.text)
            for model in models & stored
            for qid, answer in self.store.answers(benchmark, model).items()
        }

    def leaderboard(
        self,
        benchmark: str,
        method: str = "elo",
        judge: str | None = None,
        protocol: str = "pairwise",
        orderings: int = DEFAULT_ORDERINGS,
        bootstrap: int = DEFAULT_RESAMPLES,
        seed: int = 0,
        baseline: str | None = None,
    ) -> pd.DataFrame:
        """The leaderboard `arena ratings --benchmark B --method M [--judge J]` prints (its JSON rows), best
        first, with a `judge` column. Without `judge`, each judge is rated on its own, as on the command line."""
        from arena.ratings import leaderboard
        from arena.ratings.matches import matches_from_columns

        if method not in LEADERBOARD_METHODS:
            raise ArenaError(f"method {method!r}: the notebook API rates with {', '.join(LEADERBOARD_METHODS)}")
        pd = _pandas()
        columns = self.store.judgment_columns(benchmark)
        if not len(columns):
            raise ArenaError(f"no judgments stored for prompt set '{benchmark}' in {self.path}")
        judges = [judge] if judge else sorted({columns.vocab["judge"][c] for c in set(columns.codes["judge"].tolist())})
        frames = []
        for name in judges:
            matches = matches_from_columns(columns, protocol, [name])
            rows = (
                leaderboard.elo_rows(matches, orderings, seed)
                if method == "elo"
                else leaderboard.bt_rows(matches, bootstrap, seed, baseline)
            )
            frames.append(pd.DataFrame(rows).assign(judge=name))
        return pd.concat(frames, ignore_index=True)


def matches_from_frame(frame: pd.DataFrame):
    """A DataFrame with model_a, model_b and winner columns (FastChat's battles shape; winner model_a,
    model_b, tie or 'tie (bothbad)', or arena's verdicts A, B, tie) as the rating engines' Matches. Rows whose
    winner is missing (an unreadable verdict) are counted as errors and left out."""
    import numpy as np

    from arena.ratings.matches import assemble_matches

    missing = [c for c in ("model_a", "model_b", "winner") if c not in frame.columns]
    if missing:
        raise ArenaError(f"the DataFrame needs the columns model_a, model_b and winner; missing: {', '.join(missing)}")
    if "protocol" in frame.columns:
        protocols = sorted(frame["protocol"].dropna().astype(str).unique())
        if len(protocols) > 1:
            raise ArenaError(
                f"the DataFrame mixes protocols ({', '.join(protocols)}): a rating fits one kind of verdict, as "
                '`arena ratings` does; select one, e.g. res.judgments(set, protocol="pairwise")'
            )
    winners = frame["winner"].astype("string").str.lower()
    outcome = winners.map(_OUTCOME_OF_WINNER).astype("float64").to_numpy()
    unknown = winners.notna().to_numpy() & np.isnan(outcome)
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0])
        raise ArenaError(
            f"row {frame.index[row]!r}: winner {frame['winner'].iloc[row]!r} is none of model_a, "
            "model_b, tie, 'tie (bothbad)'"
        )
    model_a = frame["model_a"].astype(str).to_numpy()
    model_b = frame["model_b"].astype(str).to_numpy()
    models, codes = np.unique(np.concatenate([model_a, model_b]), return_inverse=True)
    undecided = np.isnan(outcome)
    return assemble_matches(
        list(models), codes[: len(frame)], codes[len(frame) :], outcome, np.full(len(frame), np.nan), undecided
    )


def bradley_terry(
    frame: pd.DataFrame, bootstrap: int = DEFAULT_RESAMPLES, seed: int = 0, anchor: str | None = None
) -> pd.DataFrame:
    """Bradley-Terry ratings (Elo scale, bootstrap 95% intervals) of any DataFrame of matches, as the rows
    `arena ratings --method bt` prints."""
    from arena.ratings import leaderboard

    return _pandas().DataFrame(leaderboard.bt_rows(matches_from_frame(frame), bootstrap, seed, anchor))


def elo(frame: pd.DataFrame, orderings: int = DEFAULT_ORDERINGS, seed: int = 0) -> pd.DataFrame:
    """The QLoRA paper's Elo (K=32, mean of `orderings` random match orders) of any DataFrame of matches."""
    from arena.ratings import leaderboard

    return _pandas().DataFrame(leaderboard.elo_rows(matches_from_frame(frame), orderings, seed))
