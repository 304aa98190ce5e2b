"""AlpacaEval: importing its annotations (soft verdicts), its exact win rates, the length-controlled win rate,
the export back to its layout, and soft verdicts in win rate, Bradley-Terry and Elo."""

import csv
import json
import re
import shutil

import numpy as np
import pytest
from conftest import shared_path
from scipy.optimize import minimize
from scipy.stats import spearmanr

from arena.cli import main
from arena.ratings.matches import build_matches, matches_from_columns
from arena.store import Judgment, ResultsStore

BASELINE = "gpt4_1106_preview"
JUDGE = "weighted_alpaca_eval_gpt4_turbo"


def _sample():
    return shared_path("published", "alpaca-eval-2-sample")


def _published() -> dict[str, dict]:
    with open(_sample() / "leaderboard-rows.csv") as handle:
        return {row[""]: row for row in csv.DictReader(handle)}


@pytest.fixture(scope="session")
def alpaca_results(tmp_path_factory):
    results = tmp_path_factory.mktemp("alpaca") / "results"
    assert main(["import", "alpaca-eval", str(_sample() / "results"), "--results", str(results)]) == 0
    return results


def _small_copy(tmp_path, models=("claude-2", "vicuna-13b"), rows=5):
    """A results/ folder holding the first `rows` rows of some of the published files."""
    root = tmp_path / "results"
    for model in models:
        source = _sample() / "results" / model / JUDGE / "annotations.json"
        target = root / model / JUDGE / "annotations.json"
        target.parent.mkdir(parents=True)
        target.write_text(json.dumps(json.loads(source.read_text())[:rows]))
    return root


# --- import and the exact raw win rates ----------------------------------------------------------------
def test_raw_and_discrete_win_rates_equal_the_published_ones(cli, alpaca_results):
    rows = cli(
        "ratings",
        "--results",
        alpaca_results,
        "--benchmark",
        "alpaca-eval",
        "--method",
        "winrate",
        "--baseline",
        BASELINE,
        "--bootstrap",
        "1",
        "--format",
        "json",
    ).json()
    published = _published()
    assert len(rows) == 12
    for row in rows:
        expected = published[row["model"]]
        assert row["win_rate"] == pytest.approx(float(expected["win_rate"]), abs=0.005), row["model"]
        assert row["discrete_win_rate"] == pytest.approx(float(expected["discrete_win_rate"]), abs=0.005)
        assert row["standard_error"] == pytest.approx(float(expected["standard_error"]), abs=0.005)
        assert row["judgments"] == int(expected["n_total"])
        assert row["lc_win_rate"] is None  # no --control


def test_soft_verdicts_count_wins_ties_and_losses_like_alpaca_eval(cli, alpaca_results):
    rows = cli(
        "ratings",
        "--results",
        alpaca_results,
        "--benchmark",
        "alpaca-eval",
        "--method",
        "bt",
        "--bootstrap",
        "1",
        "--format",
        "json",
    ).json()
    published = _published()
    for row in rows:
        if row["model"] != BASELINE:
            expected = published[row["model"]]
            assert (row["wins"], row["ties"], row["losses"]) == (
                int(expected["n_wins"]),
                int(expected["n_draws"]),
                int(expected["n_wins_base"]),
            )


def test_import_is_idempotent_and_ids_follow_the_instruction_text(cli, alpaca_results, tmp_path):
    again = cli("import", "alpaca-eval", _sample() / "results", "--results", alpaca_results)
    assert again.code == 0 and "0 judgments added, 9658 already stored" in again.err
    store = ResultsStore(alpaca_results)
    judgments = store.judgments("alpaca-eval")
    assert len(judgments) == 9658 and {j.judge for j in judgments} == {JUDGE}
    # the same instruction text has the same id in every model's file: 805 questions, each judged once per model
    texts = {}
    for model in ("claude-2", "alpaca-7b"):
        for row in json.loads((_sample() / "results" / model / JUDGE / "annotations.json").read_text()):
            texts.setdefault(row["instruction"], set()).add(model)
    assert len({j.question_id for j in judgments}) == len(texts) == 805
    assert len(store.answers("alpaca-eval", BASELINE)) == 805
    claude = {j.question_id: j for j in judgments if j.model_b == "claude-2"}
    first = json.loads((_sample() / "results" / "claude-2" / JUDGE / "annotations.json").read_text())[0]
    judgment = next(
        j for j in claude.values() if store.answers("alpaca-eval", "claude-2")[j.question_id].text == first["output_2"]
    )
    assert judgment.preference_b == first["preference"] - 1 and judgment.meta["preference"] == first["preference"]
    assert judgment.model_a == BASELINE and judgment.verdict == ("B" if first["preference"] > 1.5 else "A")


def test_a_single_file_and_rows_without_preference(cli, tmp_path):
    root = _small_copy(tmp_path, ("gemma-7b-it",), rows=6)
    path = root / "gemma-7b-it" / JUDGE / "annotations.json"
    rows = json.loads(path.read_text())
    rows[2]["preference"] = None
    path.write_text(json.dumps(rows))
    result = cli("import", "alpaca-eval", path, "--results", tmp_path / "r")
    assert (
        result.code == 0 and "5 judgments added" in result.err and "1 rows without a preference skipped" in result.err
    )
    prompts = cli("prompts", "show", "alpaca-eval", "--format", "jsonl")
    assert prompts.code == 0 and len(prompts.out.strip().splitlines()) == 6


@pytest.mark.parametrize(
    "fault, message",
    [
        ("two baselines", "row 4: baseline (generator_1) is 'other-baseline', but row 1"),
        ("preference", "row 4: field 'preference' must be a number in [0, 2.5], got 2.7"),
        ("two texts", "row 4: instruction id 'q-1' has a different text"),
        ("duplicate", "row 4: duplicate id: instruction 'ae-"),
        ("two baseline answers", "row 1: gpt4_1106_preview's answer to instruction 'ae-"),
    ],
)
def test_bad_input_names_the_file_and_row_and_imports_nothing(cli, tmp_path, arena_home, fault, message):
    root = _small_copy(tmp_path)
    bad = root / "vicuna-13b" / JUDGE / "annotations.json"
    rows = json.loads(bad.read_text())
    if fault == "two baselines":
        rows[3]["generator_1"] = "other-baseline"
    elif fault == "preference":
        rows[3]["preference"] = 2.7
    elif fault == "duplicate":
        rows[3] = rows[0]
    elif fault == "two baseline answers":  # claude-2's file, read first, holds the baseline's answer as published
        rows[0]["output_1"] += " (edited)"
    else:
        rows[0]["instruction_id"] = rows[3]["instruction_id"] = "q-1"
    bad.write_text(json.dumps(rows))
    results = tmp_path / "r"
    result = cli("import", "alpaca-eval", root, "--results", results)
    assert result.code == 2 and f"{bad}: {message}" in result.err and "Traceback" not in result.err
    assert not (results / "alpaca-eval").exists()  # the good file read before it was not stored either
    assert not (arena_home / "prompts" / "user" / "alpaca-eval.jsonl").exists()


def test_an_id_whose_text_differs_from_an_earlier_import_is_refused(cli, tmp_path, arena_home):
    root = _small_copy(tmp_path, ("claude-2",), rows=3)
    results = tmp_path / "r"
    assert cli("import", "alpaca-eval", root, "--results", results).code == 0
    stored = (arena_home / "prompts" / "user" / "alpaca-eval.jsonl").read_text()
    first_id = json.loads(stored.splitlines()[0])["question_id"]
    other = _small_copy(tmp_path / "other", ("vicuna-13b",), rows=3)
    path = other / "vicuna-13b" / JUDGE / "annotations.json"
    rows = json.loads(path.read_text())
    rows[1]["instruction_id"] = first_id
    path.write_text(json.dumps(rows))
    result = cli("import", "alpaca-eval", other, "--results", results)
    assert result.code == 2 and f"{path}: row 2: instruction id '{first_id}'" in result.err
    assert (arena_home / "prompts" / "user" / "alpaca-eval.jsonl").read_text() == stored
    assert {j.model_b for j in ResultsStore(results).judgments("alpaca-eval")} == {"claude-2"}


def test_export_writes_the_same_shape_back(cli, tmp_path):
    root = _small_copy(tmp_path, ("claude-2", "vicuna-13b"), rows=8)
    results = tmp_path / "r"
    assert cli("import", "alpaca-eval", root, "--results", results).code == 0
    out = tmp_path / "out"
    exported = cli("export", "alpaca-eval", "--results", results, "--out", out)
    assert exported.code == 0, exported.err
    fields = ("instruction", "output_1", "generator_1", "output_2", "generator_2", "annotator", "preference", "dataset")
    for model in ("claude-2", "vicuna-13b"):
        original = json.loads((root / model / JUDGE / "annotations.json").read_text())
        written = json.loads((out / model / JUDGE / "annotations.json").read_text())
        assert [{f: r[f] for f in fields} for r in written] == [{f: r[f] for f in fields} for r in original]
    # and the export imports again as nothing new
    again = cli("import", "alpaca-eval", out, "--results", results)
    assert again.code == 0 and "0 judgments added, 16 already stored" in again.err


def test_export_turns_round_judgments_that_showed_the_baseline_second(cli, published_vicuna, tmp_path):
    shutil.copytree(published_vicuna, tmp_path / "r")
    assert (
        cli("prompts", "pull", "vicuna80", "--from", shared_path("benchmarks", "vicuna80", "questions.jsonl")).code == 0
    )
    out = tmp_path / "out"
    result = cli(
        "export",
        "alpaca-eval",
        "--results",
        tmp_path / "r",
        "--benchmark",
        "vicuna80",
        "--baseline",
        "gpt-3.5",
        "--out",
        out,
    )
    assert result.code == 0, result.err
    rows = json.loads((out / "gpt-4" / "gpt-4" / "annotations.json").read_text())
    assert {r["generator_1"] for r in rows} == {"gpt-3.5"} and len(rows) == 160  # 80 questions, both orders
    stored = [
        j
        for j in ResultsStore(tmp_path / "r").judgments("vicuna80")
        if {j.model_a, j.model_b} == {"gpt-4", "gpt-3.5"} and j.verdict != "error"
    ]
    gpt4_share = np.mean([(j.verdict == "A") == (j.model_a == "gpt-4") if j.verdict != "tie" else 0.5 for j in stored])
    assert np.mean([r["preference"] - 1 for r in rows if r["preference"] is not None]) == pytest.approx(gpt4_share)
    unclear = cli("export", "alpaca-eval", "--results", tmp_path / "r", "--benchmark", "vicuna80", "--out", out)
    assert unclear.code == 2 and "give --baseline MODEL" in unclear.err


# --- length-controlled win rate --------------------------------------------------------------------------
def test_length_controlled_win_rate_against_the_published_leaderboard(cli, alpaca_results):
    rows = cli(
        "ratings",
        "--results",
        alpaca_results,
        "--benchmark",
        "alpaca-eval",
        "--method",
        "winrate",
        "--baseline",
        BASELINE,
        "--control",
        "length",
        "--bootstrap",
        "20",
        "--format",
        "json",
    ).json()
    published = _published()
    ours = np.array([r["lc_win_rate"] for r in rows])
    theirs = np.array([float(published[r["model"]]["length_controlled_winrate"]) for r in rows])
    raw = np.array([r["win_rate"] for r in rows])
    # closer to the published LC than the raw win rate is, and in the same order but for a near-tie (README has
    # the table; a pull of α toward the baseline, the earlier regularisation, scrambled it to 0.958)
    assert np.abs(ours - theirs).mean() < np.abs(raw - theirs).mean()
    assert spearmanr(ours, theirs)[0] > 0.98
    assert all(r["lc_ci_low"] <= r["lc_win_rate"] <= r["lc_ci_high"] and r["lc_standard_error"] > 0 for r in rows)


def _synthetic_pool(seed=0, models=8, questions=400, tau=1.0):
    """A judge that only likes length: candidate strengths θ, difficulties γ ~ N(0, τ²), β = 2 per candidate."""
    from arena.ratings.length_controlled import BaselineJudgments

    rng = np.random.default_rng(seed)
    theta = rng.normal(-1.0, 1.0, models)
    gamma = rng.normal(0.0, tau, questions)
    model = np.repeat(np.arange(models), questions)
    question = np.tile(np.arange(questions), models)
    shift = rng.normal(0, 300, models)  # some candidates write longer answers than others
    gap = shift[model] + rng.normal(0, 600, len(model))
    z = gap / np.array([gap[model == m].std(ddof=1) for m in range(models)])[model]
    p = 1 / (1 + np.exp(-(theta[model] + 2.0 * np.tanh(z) + gamma[question])))
    score = rng.binomial(1, p).astype(float)
    truth = np.array([100 * np.mean(1 / (1 + np.exp(-(theta[m] + gamma)))) for m in range(models)])
    names = tuple(f"m{i}" for i in range(models))
    return BaselineJudgments(names, model, question, score, gap), truth


def test_length_controlled_recovers_the_win_rate_at_equal_length():
    from arena.ratings.length_controlled import length_controlled_win_rates

    data, truth = _synthetic_pool()
    fit = length_controlled_win_rates(data, bootstrap=50, seed=1)
    raw = np.array([100 * data.score[data.model == m].mean() for m in range(len(truth))])
    assert np.abs(fit.win_rate - truth).mean() < 0.4 * np.abs(raw - truth).mean()
    assert np.abs(fit.win_rate - truth).max() < 6.0
    assert abs(fit.length_beta.mean() - 2.0) < 0.5
    assert 0.7 < fit.difficulty_spread < 1.3  # τ estimated from the data, true 1.0
    assert np.all(fit.ci_low <= fit.win_rate) and np.all(fit.win_rate <= fit.ci_high)


def _pool_with_terse_models(seed, models=16, terse=4, questions=300):
    """A judge that rewards length alone, each candidate its own β_m ~ N(2, 0.4²); the first `terse` candidates
    always write far less than the baseline (1500 ± 300 characters), so tanh of their standardised gap is nearly
    -1 everywhere and their own judgments barely tell α from β; the others' gaps vary around 0."""
    from arena.ratings.length_controlled import BaselineJudgments, standardised_tanh

    rng = np.random.default_rng(seed)
    theta, beta, gamma = rng.normal(-1, 1, models), rng.normal(2, 0.4, models), rng.normal(0, 1, questions)
    model, question = np.repeat(np.arange(models), questions), np.tile(np.arange(questions), models)
    is_terse = np.arange(models) < terse
    gap = np.where(is_terse, -1500.0, rng.normal(0, 300, models))[model] + np.where(is_terse, 300.0, 600.0)[
        model
    ] * rng.normal(0, 1, len(model))
    tanh_gap = standardised_tanh(model, gap, models)
    score = rng.binomial(1, 1 / (1 + np.exp(-(theta[model] + beta[model] * tanh_gap + gamma[question]))))
    truth = 100 * (1 / (1 + np.exp(-(theta[:, None] + gamma[None, :])))).mean(axis=1)
    names = tuple(f"m{i}" for i in range(models))
    return BaselineJudgments(names, model, question, score.astype(float), gap), truth, beta, is_terse


def _unpooled(data):
    from arena.ratings.length_controlled import (
        NO_POOLING,
        fit_difficulty,
        length_controlled_win_rates,
        standardised_tanh,
    )

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
    return length_controlled_win_rates(data, 0, difficulty=gamma, length_prior=NO_POOLING)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_length_slope_its_own_judgments_barely_inform_is_drawn_to_the_pools(seed):
    from arena.ratings.length_controlled import length_controlled_win_rates

    data, truth, beta, terse = _pool_with_terse_models(seed)
    pooled, alone = length_controlled_win_rates(data, 0), _unpooled(data)
    # on their own, the terse candidates' slopes run off (α and β trade against each other) and their LC with them
    assert np.abs(alone.length_beta - beta)[terse].mean() > 3.0
    assert np.abs(pooled.length_beta - beta)[terse].mean() < 1.0
    assert np.abs(pooled.win_rate - truth)[terse].mean() < 0.5 * np.abs(alone.win_rate - truth)[terse].mean()
    # μ_β and σ_β come from the pool (true 2 and 0.4); the well-informed candidates' slopes are no worse for it
    assert abs(pooled.length_prior.mean - 2.0) < 0.4 and 0.1 < pooled.length_prior.spread < 0.8
    assert np.abs(pooled.length_beta - beta)[~terse].mean() <= np.abs(alone.length_beta - beta)[~terse].mean() + 0.05
    assert np.abs(pooled.win_rate - truth)[~terse].mean() <= np.abs(alone.win_rate - truth)[~terse].mean() + 0.3


def test_pooling_the_length_slopes_does_not_hurt_a_pool_whose_gaps_all_inform_them():
    from arena.ratings.length_controlled import (
        LengthSlopePrior,
        length_controlled_win_rates,
    )

    errors = []  # (pooled, unpooled) mean |LC - truth| per pool: either can win one pool of eight
    for seed in range(8):
        data, truth = _synthetic_pool(seed)
        pooled, alone = length_controlled_win_rates(data, 0), _unpooled(data)
        errors.append((np.abs(pooled.win_rate - truth).mean(), np.abs(alone.win_rate - truth).mean()))
        assert np.std(pooled.length_beta) < np.std(alone.length_beta)  # the truth is one β = 2 for all
    pooled_error, unpooled_error = np.mean(errors, axis=0)
    assert pooled_error <= 1.05 * unpooled_error
    # a prior given (fitted on another pool, as in the held-out check) is used as it is, not re-estimated
    held = length_controlled_win_rates(data, 0, length_prior=LengthSlopePrior(2.5, 1e-3))
    assert held.length_prior == LengthSlopePrior(2.5, 1e-3) and np.abs(held.length_beta - 2.5).max() < 0.01


def _pool_with_baseline_variants(seed, questions=600, variants=("base_verbose", "base_concise")):
    """A judge that rewards length alone with β = 1.5: six ordinary candidates, the baseline's own answers made
    longer and shorter (same quality, so α = 0), and a candidate whose answers are short and longer exactly
    where they are good (quality q_x, unseen, drives both): its own judgments confound length with quality."""
    rng = np.random.default_rng(seed)
    gamma = rng.normal(0, 1, questions)
    names, rows, truth = [], [], []

    def add(name, theta, gap, quality):
        p = 1 / (1 + np.exp(-(theta + quality + 1.5 * np.tanh(gap / gap.std(ddof=1)) + gamma)))
        rows.append((np.full(questions, len(names)), np.arange(questions), rng.binomial(1, p).astype(float), gap))
        truth.append(100 * np.mean(1 / (1 + np.exp(-(theta + quality + gamma)))))
        names.append(name)

    for i, theta in enumerate(rng.normal(-1, 1, 6)):
        add(f"m{i}", theta, rng.normal(rng.normal(0, 300), 600, questions), 0.0)
    add(variants[0], 0.0, rng.normal(800, 500, questions), 0.0)
    add(variants[1], 0.0, rng.normal(-800, 500, questions), 0.0)
    quality = rng.normal(0, 1.5, questions)
    add("truncator", -0.5, -1000 + 400 * quality + rng.normal(0, 300, questions), quality)
    model, question, score, gap = (np.concatenate(c) for c in zip(*rows))
    return tuple(names), model, question, score, gap, np.array(truth)


@pytest.mark.parametrize("seed", [0, 1])
def test_the_baselines_own_length_variants_hold_every_length_slope_to_the_judges(seed):
    from arena.ratings.length_controlled import (
        BaselineJudgments,
        baseline_variants,
        length_controlled_win_rates,
    )

    names, model, question, score, gap, truth = _pool_with_baseline_variants(seed)
    variants = baseline_variants(names, "base")
    assert [names[v] for v in variants] == ["base_verbose", "base_concise"]
    regularised = length_controlled_win_rates(BaselineJudgments(names, model, question, score, gap, variants), 0)
    alone = length_controlled_win_rates(BaselineJudgments(names, model, question, score, gap), 0)
    truncator = names.index("truncator")
    # the confounded candidate's slope moves toward the judge's 1.5 and its LC toward the truth ...
    assert abs(regularised.length_beta[truncator] - 1.5) < 0.7 * abs(alone.length_beta[truncator] - 1.5)
    assert abs(regularised.win_rate[truncator] - truth[truncator]) < 0.7 * abs(
        alone.win_rate[truncator] - truth[truncator]
    )
    # ... while the variant rows carry no intercept: nobody is pulled toward 50%, the honest candidates barely move
    honest = np.arange(6)
    assert np.abs(regularised.win_rate[honest] - alone.win_rate[honest]).max() < 3.0
    assert np.abs(regularised.win_rate[honest] - truth[honest]).mean() < 3.0


def test_winrate_rows_find_the_baselines_variants_by_alpacaevals_names():
    from arena.ratings.leaderboard import winrate_rows

    def rows(variants):
        names, model, question, score, gap, _ = _pool_with_baseline_variants(3, 300, variants)
        judgments = [
            Judgment(
                benchmark="s",
                question_id=str(q),
                model_a="base",
                model_b=names[m],
                judge="j",
                protocol="pairwise",
                verdict="B" if y > 0.5 else "A",
                preference_b=float(y),
                judgment_id=f"{m}-{q}",
            )
            for m, q, y in zip(model, question, score)
        ]
        lengths = {f"{m}-{q}": -float(g) for m, q, g in zip(model, question, gap)}  # first minus second
        return {r["model"]: r for r in winrate_rows(judgments, "base", lengths, bootstrap=10)}

    recognised, unrelated = rows(("base_verbose", "base_concise")), rows(("other_verbose", "other_concise"))
    assert recognised["truncator"]["win_rate"] == unrelated["truncator"]["win_rate"]
    assert recognised["truncator"]["length_beta"] < unrelated["truncator"]["length_beta"] - 0.5
    assert recognised["truncator"]["lc_win_rate"] < unrelated["truncator"]["lc_win_rate"] - 3


def test_difficulty_shrinks_more_where_it_is_less_informed():
    from arena.ratings.length_controlled import fit_difficulty

    # two instructions with the same observed share of wins (all lost), one seen by 2 candidates, one by 8
    rng = np.random.default_rng(0)
    rows = []
    for q in range(200):
        for m in range(8):
            rows.append((m, q, float(rng.random() < 0.5)))
    rows += [(m, 200, 0.0) for m in range(2)] + [(m, 201, 0.0) for m in range(8)]
    model, question, score = (np.array(c) for c in zip(*rows))
    gamma = fit_difficulty(model.astype(int), question.astype(int), score, np.zeros(len(score)), 8, 202).difficulty
    assert gamma[200] < 0 and gamma[201] < gamma[200]  # the better-informed one is allowed further from the rest
    assert np.isfinite(gamma).all()


# --- soft verdicts in the rating methods -----------------------------------------------------------------
def _soft_judgments(rng, count=600):
    models = ["a", "b", "c", "d"]
    strength = {"a": 1.0, "b": 0.3, "c": 0.0, "d": -0.8}
    out = []
    for i in range(count):
        first, second = rng.choice(models, 2, replace=False)
        p_second = 1 / (1 + np.exp(-(strength[second] - strength[first]) + rng.normal(0, 0.5)))
        out.append(
            Judgment(
                benchmark="s",
                question_id=str(i),
                model_a=str(first),
                model_b=str(second),
                judge="j",
                protocol="pairwise",
                verdict="B" if p_second > 0.5 else "A",
                preference_b=float(p_second),
            )
        )
    return out


def test_bradley_terry_maximises_the_fractional_likelihood():
    from arena.ratings.bradley_terry_fit import bradley_terry

    matches = build_matches(_soft_judgments(np.random.default_rng(0)))
    assert not np.isin(matches.outcome, (0.0, 0.5, 1.0)).all()
    ratings = bradley_terry(matches, bootstrap=0).rating
    n = len(matches.models)

    def negative_log_likelihood(theta):
        d = theta[matches.model_a] - theta[matches.model_b]
        return -(matches.outcome * -np.logaddexp(0, -d) + (1 - matches.outcome) * -np.logaddexp(0, d)).sum()

    theta = minimize(negative_log_likelihood, np.zeros(n), method="BFGS").x
    expected = 1000 + 400 / np.log(10) * (theta - theta.mean())
    assert np.allclose(ratings, expected, atol=0.05)


def test_a_soft_verdict_counts_as_that_fraction_of_a_win():
    from arena.ratings.bradley_terry_fit import bradley_terry

    def judged(pairs):
        return [
            Judgment(
                benchmark="s",
                question_id=str(i),
                model_a=a,
                model_b=b,
                judge="j",
                protocol="pairwise",
                verdict=v,
                preference_b=p,
            )
            for i, (a, b, v, p) in enumerate(pairs)
        ]

    soft = judged([("x", "y", "A", 0.3)] * 10 + [("y", "z", "A", 0.4)] * 10)  # x takes 0.7 of each game from y
    hard = judged(
        [("x", "y", "A", None)] * 7
        + [("x", "y", "B", None)] * 3
        + [("y", "z", "A", None)] * 6
        + [("y", "z", "B", None)] * 4
    )
    assert np.allclose(
        bradley_terry(build_matches(soft), bootstrap=0).rating,
        bradley_terry(build_matches(hard), bootstrap=0).rating,
        atol=1e-6,
    )
    with_ci = bradley_terry(build_matches(soft * 3), bootstrap=100, seed=0)
    assert (with_ci.ci_low <= with_ci.rating).all() and (with_ci.rating <= with_ci.ci_high).all()


def test_elo_plays_the_fractional_score():
    from arena.ratings.paper_elo import elo_final_ratings, elo_reference, match_orders

    matches = build_matches(_soft_judgments(np.random.default_rng(1), 300))
    compiled = elo_final_ratings(matches, 20, seed=3)
    assert np.allclose(compiled, elo_reference(matches, match_orders(len(matches), 20, 3)), atol=1e-6)
    one = build_matches(
        [
            Judgment(
                benchmark="s",
                question_id="1",
                model_a="x",
                model_b="y",
                judge="j",
                protocol="pairwise",
                verdict="B",
                preference_b=0.8,
            )
        ]
    )
    x = one.models.index("x")
    assert elo_final_ratings(one, 1, seed=0)[0, x] == pytest.approx(1000 + 32 * (0.2 - 0.5))


def test_win_rate_uses_soft_verdicts_in_both_answer_orders(tmp_path):
    from arena.ratings.leaderboard import winrate_rows

    judgments = [
        Judgment(
            benchmark="s",
            question_id="1",
            model_a="base",
            model_b="m",
            judge="j",
            protocol="pairwise",
            verdict="B",
            preference_b=0.9,
        ),
        Judgment(
            benchmark="s",
            question_id="1",
            model_a="m",
            model_b="base",
            judge="j",
            protocol="pairwise",
            verdict="B",
            preference_b=0.6,
        ),  # the model shown first: it took 0.4
        Judgment(
            benchmark="s", question_id="2", model_a="base", model_b="m", judge="j", protocol="pairwise", verdict="tie"
        ),
    ]
    row = winrate_rows(judgments, "base", None, bootstrap=0)[0]
    assert row["win_rate"] == pytest.approx(100 * (0.9 + 0.4 + 0.5) / 3, abs=0.005)
    assert row["discrete_win_rate"] == pytest.approx(100 * (1 + 0 + 0.5) / 3, abs=0.005)


def test_stores_without_soft_verdicts_read_as_before(tmp_path):
    store = ResultsStore(tmp_path)
    hard = Judgment(
        benchmark="s", question_id="1", model_a="x", model_b="y", judge="j", protocol="pairwise", verdict="A"
    )
    soft = Judgment(
        benchmark="s",
        question_id="2",
        model_a="x",
        model_b="y",
        judge="j",
        protocol="pairwise",
        verdict="B",
        preference_b=0.75,
    )
    assert "preference_b" not in hard.to_dict()  # a hard verdict's record is written as before
    store.save_judgments([hard, soft])
    columns = store.judgment_columns("s")
    from_columns = matches_from_columns(columns, "pairwise")
    from_objects = build_matches(store.judgments("s"))
    assert sorted(from_columns.outcome.tolist()) == sorted(from_objects.outcome.tolist()) == [0.25, 1.0]
    bad = tmp_path / "s" / "judgments" / "j.jsonl"
    bad.write_text(re.sub(r'"preference_b": ?0\.75', '"preference_b": 1.5', bad.read_text()))
    with pytest.raises(Exception, match="field 'preference_b' must be a number in \\[0, 1\\]"):
        store.judgments("s")


def test_a_columns_cache_written_before_soft_verdicts_is_rebuilt(tmp_path):
    import io

    from arena.store.columns import cache_path

    store = ResultsStore(tmp_path)
    store.save_judgments(
        [
            Judgment(
                benchmark="s", question_id="1", model_a="x", model_b="y", judge="j", protocol="pairwise", verdict="A"
            )
        ]
    )
    store.judgment_columns("s")
    path = cache_path(tmp_path / "s" / "judgments" / "j.jsonl")
    with np.load(path) as data:  # the same cache as the previous version wrote it: version 1, no soft column
        arrays = {k: data[k] for k in data.files if k != "preference_b"}
    meta = json.loads(str(arrays["meta"]))
    arrays["meta"] = np.array(json.dumps({**meta, "version": 1}))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.write_bytes(buffer.getvalue())
    columns = store.judgment_columns("s")
    assert len(columns) == 1 and np.isnan(columns.preference_b).all()
    assert matches_from_columns(columns, "pairwise").outcome.tolist() == [1.0]


def _candidate_rows(centre: float, spread: float, win: float, seed: int = 0):
    """A candidate always longer than the baseline by nearly the same normalised amount (tanh of the gap nearly
    constant: α and β nearly collinear), with mixed verdicts."""
    from arena.ratings.length_controlled import FitRows

    rng = np.random.default_rng(seed)
    n = 100
    gap = np.tanh(centre + spread * rng.standard_normal(n))
    return FitRows((rng.random(n) < win).astype(float), gap, rng.standard_normal(n))


def _penalised_optimum(rows):
    """The stage-2 objective (no variant rows, no pooling) maximised by BFGS: (its maximiser, the objective)."""
    from arena.ratings.length_controlled import _RIDGE

    design = np.stack([np.ones_like(rows.tanh_gap), rows.tanh_gap, rows.difficulty], axis=1)

    def negative(x):
        z = design @ x
        return (np.logaddexp(0.0, z) - rows.score * z).sum() + 0.5 * _RIDGE * x @ x

    def gradient(x):
        return design.T @ (1.0 / (1.0 + np.exp(-(design @ x))) - rows.score) + _RIDGE * x

    fit = minimize(negative, np.zeros(3), jac=gradient, method="BFGS", options={"gtol": 1e-9, "maxiter": 10_000})
    return fit.x, negative


def test_the_length_controlled_fit_converges_on_nearly_collinear_length_gaps():
    """The per-component clip of the Newton step changed its direction along the narrow ridge of α + β·tanh(z):
    on these rows it ended 100 steps at α = −8, β = 8 (−log-likelihood 172.2, the maximum's 57.6). The whole
    step scaled to the bound, with backtracking, reaches the maximum and says it converged."""
    from arena.ratings.length_controlled import FitRows, fit_candidate

    rows = _candidate_rows(1.0, 0.02, 0.8)
    none = FitRows(np.zeros(0), np.zeros(0), np.zeros(0))
    fit = fit_candidate(rows, np.ones((1, 100)), none, 0.0)
    best, negative = _penalised_optimum(rows)
    assert fit.converged.all()
    assert negative(fit.params[0]) == pytest.approx(negative(best), abs=1e-6)
    assert fit.params[0] == pytest.approx(best, abs=1e-3)
    assert negative(best) < 60  # the clipped step's 172.2 is far from it


def test_a_length_controlled_fit_that_does_not_converge_says_so(caplog, monkeypatch):
    """Tanh of the gap nearly constant and the candidate nearly always winning: α and β run off in opposite
    directions, further than 100 bounded steps reach, and the fit reports it. The win rate then warns, naming
    the candidate and what did not converge, instead of returning it silently (shown with one Newton step)."""
    import arena.ratings.length_controlled as lc

    rows = _candidate_rows(3.0, 0.02, 0.8, seed=3)
    none = lc.FitRows(np.zeros(0), np.zeros(0), np.zeros(0))
    assert not lc.fit_candidate(rows, np.ones((1, 100)), none, 0.0).converged.all()
    rng = np.random.default_rng(3)
    data = lc.BaselineJudgments(
        ("always-longer",),
        np.zeros(100, dtype=np.int64),
        np.arange(100),
        (rng.random(100) < 0.8).astype(float),
        120.0 + 20.0 * rng.standard_normal(100),
    )
    monkeypatch.setattr(lc, "_NEWTON_ITERATIONS", 1)
    with caplog.at_level("WARNING", logger="arena.ratings.length_controlled"):
        lc.length_controlled_win_rates(data, bootstrap=20)
    said = [r.getMessage() for r in caplog.records]
    assert any("instruction difficulties did not converge" in m for m in said)
    assert any(m.startswith("length-controlled win rate of always-longer: the fit of α, β, ψ") for m in said)
    assert any("always-longer: 20 of 20 resamples did not converge" in m for m in said)
