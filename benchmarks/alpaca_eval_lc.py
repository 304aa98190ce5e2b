"""arena's AlpacaEval figures beside the published leaderboard: raw win rate (goal: equal to 0.01 points) and
the length-controlled win rate (goal: close on average, same order), on the shared sample of twelve models.

Also printed, so the method's choices can be judged rather than taken on trust:
- each model's length slope β (log-odds per unit of tanh of the standardised gap, candidate longer > 0);
- a held-out check: each model's LC with the instruction difficulties fitted on the other eleven only;
- ablations: stage 1's joint fit alone (LC = mean σ(θ_m + γ_x)); difficulties without shrinkage (τ = 100);
  difficulties from a fit without the length term (so γ absorbs the length effect common to the pool).

The sample holds none of the baseline's own verbose/concise variants, so the regularisation toward the
baseline (module docstring) has nothing to work with here: these are AlpacaEval's unregularised figures.

    python benchmarks/alpaca_eval_lc.py [--sample ../shared/published/alpaca-eval-2-sample] [--bootstrap 200]
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from arena.imports.alpaca_eval import read_alpaca_eval
from arena.ratings.leaderboard import winrate_rows
from arena.ratings.length_controlled import (
    BaselineJudgments,
    baseline_variants,
    fit_difficulty,
    length_controlled_win_rates,
    standardised_tanh,
)
from arena.ratings.matches import outcome_of

BASELINE = "gpt4_1106_preview"


def pool_of(result) -> BaselineJudgments:
    """Every model's judgments against the baseline, with the length gaps in characters."""
    models = tuple(sorted({j.model_b for j in result.judgments}))
    questions = {qid: i for i, qid in enumerate(result.instructions)}
    answers = result.answers
    rows = [(models.index(j.model_b), questions[j.question_id], 1.0 - outcome_of(j),
             len(answers[(j.model_b, j.question_id)].text) - len(answers[(j.model_a, j.question_id)].text))
            for j in result.judgments]
    model, question, score, gap = (np.array(c) for c in zip(*rows))
    return BaselineJudgments(models, model.astype(np.int64), question.astype(np.int64), score.astype(np.float64),
                             gap.astype(np.float64), baseline_variants(models, BASELINE))


def subset(data: BaselineJudgments, keep: np.ndarray) -> BaselineJudgments:
    """The rows of the models in `keep` (a boolean per model), model indices renumbered, questions kept."""
    rows = keep[data.model]
    renumber = np.cumsum(keep) - 1
    return BaselineJudgments(tuple(m for m, k in zip(data.models, keep) if k), renumber[data.model[rows]],
                             data.question[rows], data.score[rows], data.length_gap[rows],
                             tuple(int(renumber[v]) for v in data.baseline_variants if keep[v]))


def held_out(data: BaselineJudgments) -> np.ndarray:
    """Each model's LC with γ fitted on the others alone (the baseline's variants, if any, still regularise)."""
    n = len(data.models)
    out = np.empty(n)
    variant = np.isin(np.arange(n), data.baseline_variants)
    for m in range(n):
        others = subset(data, np.arange(n) != m)
        tanh_gap = standardised_tanh(others.model, others.length_gap, n - 1)
        gamma = fit_difficulty(others.model, others.question, others.score, tanh_gap, n - 1,
                               data.n_questions).difficulty
        alone = subset(data, (np.arange(n) == m) | variant)
        out[m] = length_controlled_win_rates(alone, 0, 0, difficulty=gamma).win_rate[alone.models.index(data.models[m])]
    return out


def joint_fit_alone(data: BaselineJudgments, spread: float | None = None) -> np.ndarray:
    n = len(data.models)
    tanh_gap = standardised_tanh(data.model, data.length_gap, n)
    fit = fit_difficulty(data.model, data.question, data.score, tanh_gap, n, data.n_questions, spread)
    return np.array([100 * np.mean(1 / (1 + np.exp(-(fit.strength[m] + fit.difficulty[np.unique(
        data.question[data.model == m])])))) for m in range(n)])


def unshrunk(data: BaselineJudgments) -> np.ndarray:
    n = len(data.models)
    tanh_gap = standardised_tanh(data.model, data.length_gap, n)
    gamma = fit_difficulty(data.model, data.question, data.score, tanh_gap, n, data.n_questions, 100.0).difficulty
    return length_controlled_win_rates(data, 0, 0, difficulty=gamma).win_rate


def difficulty_without_length(data: BaselineJudgments) -> np.ndarray:
    n = len(data.models)
    gamma = fit_difficulty(data.model, data.question, data.score, np.zeros(len(data.score)), n,
                           data.n_questions).difficulty
    return length_controlled_win_rates(data, 0, 0, difficulty=gamma).win_rate


def summary(name: str, ours: np.ndarray, published: np.ndarray) -> str:
    return (f"{name:<58} mean |diff| {np.abs(ours - published).mean():5.2f}  max {np.abs(ours - published).max():5.2f}"
            f"  Spearman {spearmanr(ours, published)[0]:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared" / "published" / "alpaca-eval-2-sample")
    parser.add_argument("--bootstrap", type=int, default=200)
    args = parser.parse_args()
    with open(args.sample / "leaderboard-rows.csv") as handle:
        published = {row[""]: row for row in csv.DictReader(handle)}
    started = time.perf_counter()
    result = read_alpaca_eval(args.sample / "results", "alpaca-eval", None, {})
    data = pool_of(result)
    rows = {r["model"]: r for r in winrate_rows(result.judgments, BASELINE, None, 1, 0)}
    fit = length_controlled_win_rates(data, args.bootstrap, 0)
    heldout = held_out(data)
    seconds = time.perf_counter() - started
    models = data.models
    lc_published = np.array([float(published[m]["length_controlled_winrate"]) for m in models])
    raw_published = np.array([float(published[m]["win_rate"]) for m in models])
    raw = np.array([rows[m]["win_rate"] for m in models])
    print("| model | win rate, arena | published | LC, arena (SE) | published LC | diff | β | LC held out | diff |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for i in np.argsort(-lc_published):
        print(f"| {models[i]} | {raw[i]:.2f} | {raw_published[i]:.2f} | {fit.win_rate[i]:.1f} ({fit.standard_error[i]:.1f})"
              f" | {lc_published[i]:.1f} | {fit.win_rate[i] - lc_published[i]:+.1f} | {fit.length_beta[i]:.2f} | "
              f"{heldout[i]:.1f} | {heldout[i] - lc_published[i]:+.1f} |")
    print()
    print(f"raw win rate: largest |arena - published| = {np.abs(raw - raw_published).max():.4f} points "
          f"(rounded to 0.01); discrete: {max(abs(rows[m]['discrete_win_rate'] - float(published[m]['discrete_win_rate'])) for m in models):.4f}")
    print(summary("raw win rate as a stand-in for LC", raw, lc_published))
    print(summary("arena LC (pool of twelve)", fit.win_rate, lc_published))
    print(summary("arena LC, held out (γ from the other eleven)", heldout, lc_published))
    print(summary("ablation: stage 1 joint fit alone", joint_fit_alone(data), lc_published))
    print(summary("ablation: no shrinkage of γ (τ = 100)", unshrunk(data), lc_published))
    print(summary("ablation: γ from a fit without the length term", difficulty_without_length(data), lc_published))
    print(f"baseline variants regularising: {', '.join(models[v] for v in data.baseline_variants) or 'none'}; "
          f"τ (spread of instruction difficulty, EM) = {fit.difficulty_spread:.3f}; "
          f"import + raw + LC with {args.bootstrap} bootstrap + 12 held-out fits: {seconds:.1f} s")


if __name__ == "__main__":
    main()
