"""arena's AlpacaEval figures beside the published leaderboard: raw win rate (goal: equal to 0.01 points) and
the length-controlled win rate (goal: close on average, same order), on the shared sample of twelve models.

Also printed, so the method's choices can be judged rather than taken on trust:
- each model's length slope β (log-odds per unit of tanh of the standardised gap, candidate longer > 0);
- a held-out check: each model's LC with the instruction difficulties and the pool's prior on β (μ_β, σ_β)
  fitted on the other eleven only;
- ablations: no pooling of β (each model's slope from its own judgments alone, the method before pooling; on
  the twelve and held out); stage 1's joint fit alone (LC = mean σ(θ_m + γ_x)); difficulties without shrinkage
  (τ = 100); difficulties from a fit without the length term (so γ absorbs the length effect common to the pool);
- a synthetic pool of 60 models where the truth is known (the judge rewards length alone, each model its own
  β_m ~ N(2, 0.5²)), with and without a third of the models always far shorter than the baseline (their own
  judgments then barely inform β): LC and β recovered with and without pooling.

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

from arena.interop.alpaca_eval import read_alpaca_eval
from arena.ratings.leaderboard import winrate_rows
from arena.ratings.length_controlled import (
    NO_POOLING,
    BaselineJudgments,
    LengthControlled,
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
    rows = [
        (
            models.index(j.model_b),
            questions[j.question_id],
            1.0 - outcome_of(j),
            len(answers[(j.model_b, j.question_id)].text) - len(answers[(j.model_a, j.question_id)].text),
        )
        for j in result.judgments
    ]
    model, question, score, gap = (np.array(c) for c in zip(*rows))
    return BaselineJudgments(
        models,
        model.astype(np.int64),
        question.astype(np.int64),
        score.astype(np.float64),
        gap.astype(np.float64),
        baseline_variants(models, BASELINE),
    )


def subset(data: BaselineJudgments, keep: np.ndarray) -> BaselineJudgments:
    """The rows of the models in `keep` (a boolean per model), model indices renumbered, questions kept."""
    rows = keep[data.model]
    renumber = np.cumsum(keep) - 1
    return BaselineJudgments(
        tuple(m for m, k in zip(data.models, keep) if k),
        renumber[data.model[rows]],
        data.question[rows],
        data.score[rows],
        data.length_gap[rows],
        tuple(int(renumber[v]) for v in data.baseline_variants if keep[v]),
    )


def held_out(data: BaselineJudgments, pool_length: bool = True) -> np.ndarray:
    """Each model's LC with γ and the prior on β fitted on the others alone (the baseline's variants, if any,
    still regularise)."""
    n = len(data.models)
    out = np.empty(n)
    variant = np.isin(np.arange(n), data.baseline_variants)
    for m in range(n):
        others = subset(data, np.arange(n) != m)
        tanh_gap = standardised_tanh(others.model, others.length_gap, n - 1)
        gamma = fit_difficulty(
            others.model, others.question, others.score, tanh_gap, n - 1, data.n_questions, pool_length=pool_length
        ).difficulty
        prior = length_controlled_win_rates(others, 0, 0, difficulty=gamma).length_prior if pool_length else NO_POOLING
        alone = subset(data, (np.arange(n) == m) | variant)
        out[m] = length_controlled_win_rates(alone, 0, 0, difficulty=gamma, length_prior=prior).win_rate[
            alone.models.index(data.models[m])
        ]
    return out


def unpooled(data: BaselineJudgments) -> LengthControlled:
    """Each β from the model's own judgments alone, in both stages: the method before pooling."""
    n = len(data.models)
    tanh_gap = standardised_tanh(data.model, data.length_gap, n)
    gamma = fit_difficulty(
        data.model, data.question, data.score, tanh_gap, n, data.n_questions, pool_length=False
    ).difficulty
    return length_controlled_win_rates(data, 0, 0, difficulty=gamma, length_prior=NO_POOLING)


def synthetic_pool(seed: int, terse_share: float, models: int = 60, questions: int = 400):
    """A judge that rewards length alone, β_m ~ N(2, 0.5²) per model, strengths θ ~ N(-1, 1), difficulties
    γ ~ N(0, 1); `terse_share` of the models always write 1500 ± 300 characters less than the baseline (tanh of
    their standardised gap is then nearly -1 everywhere: their own judgments barely separate α from β), the
    others 0 ± 300 + 600 noise. Returns the pool, each model's true LC (mean σ(θ_m + γ_x)) and true β."""
    rng = np.random.default_rng(seed)
    theta, beta, gamma = rng.normal(-1, 1, models), rng.normal(2, 0.5, models), rng.normal(0, 1, questions)
    model, question = np.repeat(np.arange(models), questions), np.tile(np.arange(questions), models)
    terse = np.arange(models) < round(terse_share * models)
    shift = np.where(terse, -1500.0, rng.normal(0, 300, models))
    gap = shift[model] + np.where(terse, 300.0, 600.0)[model] * rng.normal(0, 1, len(model))
    tanh_gap = standardised_tanh(model, gap, models)
    score = rng.binomial(1, 1 / (1 + np.exp(-(theta[model] + beta[model] * tanh_gap + gamma[question]))))
    truth = 100 * (1 / (1 + np.exp(-(theta[:, None] + gamma[None, :])))).mean(axis=1)
    data = BaselineJudgments(tuple(f"m{i}" for i in range(models)), model, question, score.astype(np.float64), gap)
    return data, truth, beta, terse


def synthetic_recovery() -> None:
    for terse_share in (0.0, 1 / 3):
        for seed in range(2):
            data, truth, beta, terse = synthetic_pool(seed, terse_share)
            pooled = length_controlled_win_rates(data, 0, 0)
            n = len(data.models)
            gamma = fit_difficulty(
                data.model,
                data.question,
                data.score,
                standardised_tanh(data.model, data.length_gap, n),
                n,
                data.n_questions,
                pool_length=False,
            ).difficulty
            alone = length_controlled_win_rates(data, 0, 0, difficulty=gamma, length_prior=NO_POOLING)
            print(
                f"synthetic 60, {terse.sum():2d} terse, seed {seed}: mean |LC - truth| pooled "
                f"{np.abs(pooled.win_rate - truth).mean():5.2f} / unpooled {np.abs(alone.win_rate - truth).mean():5.2f}"
                f" (non-terse {np.abs(pooled.win_rate - truth)[~terse].mean():4.2f} / "
                f"{np.abs(alone.win_rate - truth)[~terse].mean():4.2f}); mean |β - truth| "
                f"{np.abs(pooled.length_beta - beta).mean():.2f} / {np.abs(alone.length_beta - beta).mean():.2f}; "
                f"μ_β {pooled.length_prior.mean:.2f}, σ_β {pooled.length_prior.spread:.2f} (true 2, 0.5)"
            )


def joint_fit_alone(data: BaselineJudgments, spread: float | None = None) -> np.ndarray:
    n = len(data.models)
    tanh_gap = standardised_tanh(data.model, data.length_gap, n)
    fit = fit_difficulty(data.model, data.question, data.score, tanh_gap, n, data.n_questions, spread)
    return np.array(
        [
            100
            * np.mean(1 / (1 + np.exp(-(fit.strength[m] + fit.difficulty[np.unique(data.question[data.model == m])]))))
            for m in range(n)
        ]
    )


def unshrunk(data: BaselineJudgments) -> np.ndarray:
    n = len(data.models)
    tanh_gap = standardised_tanh(data.model, data.length_gap, n)
    gamma = fit_difficulty(data.model, data.question, data.score, tanh_gap, n, data.n_questions, 100.0).difficulty
    return length_controlled_win_rates(data, 0, 0, difficulty=gamma).win_rate


def difficulty_without_length(data: BaselineJudgments) -> np.ndarray:
    n = len(data.models)
    gamma = fit_difficulty(
        data.model, data.question, data.score, np.zeros(len(data.score)), n, data.n_questions
    ).difficulty
    return length_controlled_win_rates(data, 0, 0, difficulty=gamma).win_rate


def summary(name: str, ours: np.ndarray, published: np.ndarray) -> str:
    return (
        f"{name:<58} mean |diff| {np.abs(ours - published).mean():5.2f}  max {np.abs(ours - published).max():5.2f}"
        f"  Spearman {spearmanr(ours, published)[0]:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--sample",
        type=Path,
        default=Path(__file__).resolve().parents[2] / "shared" / "published" / "alpaca-eval-2-sample",
    )
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
    alone = unpooled(data)
    print(
        "| model | win rate, arena | published | LC, arena (SE) | published LC | diff | β | LC held out | diff "
        "| β unpooled | LC unpooled |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for i in np.argsort(-lc_published):
        print(
            f"| {models[i]} | {raw[i]:.2f} | {raw_published[i]:.2f} | {fit.win_rate[i]:.1f} ({fit.standard_error[i]:.1f})"
            f" | {lc_published[i]:.1f} | {fit.win_rate[i] - lc_published[i]:+.1f} | {fit.length_beta[i]:.2f} | "
            f"{heldout[i]:.1f} | {heldout[i] - lc_published[i]:+.1f} | {alone.length_beta[i]:.2f} | "
            f"{alone.win_rate[i]:.1f} |"
        )
    print()
    print(
        f"raw win rate: largest |arena - published| = {np.abs(raw - raw_published).max():.4f} points "
        f"(rounded to 0.01); discrete: {max(abs(rows[m]['discrete_win_rate'] - float(published[m]['discrete_win_rate'])) for m in models):.4f}"
    )
    print(summary("raw win rate as a stand-in for LC", raw, lc_published))
    print(summary("arena LC (pool of twelve)", fit.win_rate, lc_published))
    print(summary("arena LC, held out (γ from the other eleven)", heldout, lc_published))
    print(summary("ablation: no pooling of β (each on its own judgments)", alone.win_rate, lc_published))
    print(summary("ablation: no pooling of β, held out", held_out(data, pool_length=False), lc_published))
    print(summary("ablation: stage 1 joint fit alone", joint_fit_alone(data), lc_published))
    print(summary("ablation: no shrinkage of γ (τ = 100)", unshrunk(data), lc_published))
    print(summary("ablation: γ from a fit without the length term", difficulty_without_length(data), lc_published))
    print(
        f"baseline variants regularising: {', '.join(models[v] for v in data.baseline_variants) or 'none'}; "
        f"τ (spread of instruction difficulty, EM) = {fit.difficulty_spread:.3f}; "
        f"pool's prior on β (EM): μ_β = {fit.length_prior.mean:.2f}, σ_β = {fit.length_prior.spread:.2f}; "
        f"import + raw + LC with {args.bootstrap} bootstrap + 12 held-out fits: {seconds:.1f} s"
    )
    synthetic_recovery()


if __name__ == "__main__":
    main()
