"""Style features, style-controlled Bradley-Terry, the length-controlled win rate and the judge's taste."""

from pathlib import Path

import numpy as np
import pytest
from conftest import shared_path
from scipy.optimize import minimize

from arena.ratings.bradley_terry_fit import ELO_SCALE, bradley_terry
from arena.ratings.matches import Matches
from arena.ratings.style import batched
from arena.ratings.style.batched import covariate_matches
from arena.ratings.style.features import answer_features, text_features
from arena.ratings.style.fit import controlled_bt, normalised_difference
from arena.ratings.style.kernels import bootstrap_fits, fit_with_covariates, resample_counts


def test_features_count_words_and_markdown():
    text = "# Title\n\nSome **bold** and __more__ words.\n\n- one\n- two\n1. three\n\n```\n# not a header\n- nor a list\n```\n"
    words, headers, lists, bold, code = text_features(text)
    assert (headers, lists, bold, code) == (1, 3, 2, 1)
    assert words == len(text.split())
    assert answer_features(["a b", "c"])["length"] == 3  # a multi-turn answer sums its turns


def test_normalised_difference_is_zero_when_both_are_zero():
    assert normalised_difference(np.array([0.0, 3.0, 1.0]), np.array([0.0, 1.0, 0.0])).tolist() == [0.0, 0.5, 1.0]


def _reference(a, b, y, features, n):
    def loss(x):
        z = x[a] - x[b] + features @ x[n:]
        return (y * np.logaddexp(0, -z) + (1 - y) * np.logaddexp(0, z)).sum()

    def grad(x):
        z = x[a] - x[b] + features @ x[n:]
        r = y - 1 / (1 + np.exp(-z))
        g = np.zeros_like(x)
        np.add.at(g, a, -r)
        np.add.at(g, b, r)
        g[n:] = -features.T @ r
        return g

    x = minimize(
        loss, np.zeros(n + features.shape[1]), jac=grad, method="BFGS", options={"gtol": 1e-10, "maxiter": 10_000}
    ).x
    x[:n] -= x[:n].mean()
    return x


def test_joint_fit_matches_a_reference_optimiser_on_random_data():
    rng = np.random.default_rng(7)
    n, m = 6, 2_000
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    features = normalised_difference(
        rng.integers(0, 400, (m, 3)).astype(float), rng.integers(0, 400, (m, 3)).astype(float)
    )
    y = np.where(rng.random(m) < 0.15, 0.5, (rng.random(m) < 0.5).astype(float))
    ours, converged = fit_with_covariates(covariate_matches(a, b, y, features, n))
    assert converged
    assert np.abs(ours - _reference(a, b, y, features, n)).max() < 1e-4


def test_joint_fit_matches_a_reference_on_the_published_judgments(tmp_path, cli):
    from arena.ratings.style.data import styled_matches
    from arena.store import ResultsStore

    results = tmp_path / "r"
    assert (
        cli("import", "qlora", shared_path("published", "qlora-vicuna-pairwise-full"), "--results", results).code == 0
    )
    store = ResultsStore(results)
    names = ("length", "headers", "lists", "bold")
    matches, features = styled_matches(store, "vicuna80", store.judgments("vicuna80"), names)
    n = len(matches.models)
    ours, converged = fit_with_covariates(
        covariate_matches(matches.model_a, matches.model_b, matches.outcome, features, n)
    )
    assert converged
    reference = _reference(matches.model_a, matches.model_b, matches.outcome, features, n)
    assert np.abs(ours - reference).max() < 1e-4


def test_the_compiled_sigmoid_is_as_exact_as_numpys():
    from arena.ratings.style.kernels import _sigmoid

    z = np.linspace(-60, 60, 24_001)
    ours, exact = np.array([_sigmoid(value) for value in z]), 1 / (1 + np.exp(-z))
    inside = np.abs(z) <= 40
    assert (np.abs(ours - exact) / exact)[inside].max() < 1e-13
    assert np.abs(ours - exact)[~inside].max() < 5e-18


def _random_style_data(seed: int, n: int = 6, m: int = 3_000, k: int = 3):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    features = normalised_difference(
        rng.integers(0, 400, (m, k)).astype(float), rng.integers(0, 400, (m, k)).astype(float)
    )
    z = np.linspace(-1, 1, n)[a] - np.linspace(-1, 1, n)[b] + features @ np.linspace(0.8, -0.4, k)
    y = np.where(rng.random(m) < 0.15, 0.5, (rng.random(m) < 1 / (1 + np.exp(-z))).astype(float))
    return covariate_matches(a, b, y, features, n)


def test_every_bootstrap_resample_ends_at_its_own_maximum_likelihood_fit():
    """The resamples are solved by chord steps from the full-data fit; each must land where Newton does on
    the same resample (the draws of a seed are reproducible)."""
    data = _random_style_data(5)
    point = fit_with_covariates(data).params
    seeds = np.arange(1, 41, dtype=np.uint64) * 7919
    fits, converged = bootstrap_fits(data, point, seeds)
    assert converged.all()
    exact = np.array([fit_with_covariates(data, resample_counts(data, seed)).params for seed in seeds])
    assert np.abs(fits - exact).max() < 1e-4
    assert np.abs(fits - point).max() > 1e-2  # the resamples really moved


def test_resamples_on_the_published_judgments_end_at_their_own_fits(tmp_path, cli):
    """Sparse features (headers appear in a handful of matches) make some resamples' chord steps stall: those
    go on with full Newton steps and must still land on the resample's own fit."""
    from arena.ratings.style.data import styled_matches
    from arena.store import ResultsStore

    results = tmp_path / "r"
    assert (
        cli("import", "qlora", shared_path("published", "qlora-vicuna-pairwise-full"), "--results", results).code == 0
    )
    store = ResultsStore(results)
    matches, features = styled_matches(
        store, "vicuna80", store.judgments("vicuna80"), ("length", "headers", "lists", "bold")
    )
    n = len(matches.models)
    data = covariate_matches(matches.model_a, matches.model_b, matches.outcome, features, n)
    point = fit_with_covariates(data).params
    seeds = np.random.default_rng(0).bit_generator.random_raw(1_000)
    fits = bootstrap_fits(data, point, seeds).params
    exact = np.array([fit_with_covariates(data, resample_counts(data, seed)).params for seed in seeds])
    assert np.abs(fits[:, :n] - exact[:, :n]).max() < 1e-4  # the ratings
    assert np.abs(fits[:, n] - exact[:, n]).max() < 1e-4  # the length coefficient
    assert np.abs(fits[:, n + 1]).max() > 5  # headers: some resamples do run away (and needed Newton)


def test_resamples_do_not_depend_on_how_they_are_spread_over_the_cores():
    data = _random_style_data(6)
    point = fit_with_covariates(data).params
    seeds = np.random.default_rng(1).bit_generator.random_raw(30)
    every = bootstrap_fits(data, point, seeds).params
    assert np.array_equal(every[:7], bootstrap_fits(data, point, seeds[:7]).params)
    assert np.array_equal(bootstrap_fits(data, point, seeds[3:4]).params, every[3:4])


def test_a_resample_draws_every_match_with_equal_chance():
    data = _random_style_data(7, m=500)
    counts = np.array([resample_counts(data, seed) for seed in range(2_000)])
    assert (counts.sum(axis=1) == 500).all()
    assert abs(counts.mean() - 1) < 1e-12
    per_match = counts.mean(axis=0)  # 2,000 draws of Binomial(500, 1/500) per match: sd of the mean ~0.022
    assert np.abs(per_match - 1).max() < 0.12
    assert abs((counts == 0).mean() - (1 - 1 / 500) ** 500) < 0.005  # the share of matches left out, ~36.8%
    assert not np.array_equal(counts[0], counts[1])


def test_the_numpy_engine_draws_the_resamples_of_the_compiled_one():
    data = _random_style_data(8, m=257)
    seeds = np.concatenate(
        [np.array([0, 1, 2**64 - 1], dtype=np.uint64), np.random.default_rng(2).bit_generator.random_raw(50)]
    )
    compiled = np.array([resample_counts(data, seed) for seed in seeds])
    assert np.array_equal(batched.resample_counts(data, seeds), compiled)


def _few_matches_data():
    """Six models, one of which (m5) played only 14 matches, with ties and two style features."""
    rng = np.random.default_rng(21)
    a = np.concatenate([rng.integers(0, 5, 400), np.full(7, 5), rng.integers(0, 5, 7)])
    b = np.concatenate([(a[:400] + rng.integers(1, 5, 400)) % 5, rng.integers(0, 5, 7), np.full(7, 5)])
    y = np.where(rng.random(len(a)) < 0.2, 0.5, (rng.random(len(a)) < 0.5).astype(float))
    y[400:] = [1, 0, 0.5, 1, 0, 1, 0.5, 0, 1, 0, 0.5, 1, 0, 1]
    features = normalised_difference(
        rng.integers(0, 300, (len(a), 2)).astype(float), rng.integers(0, 300, (len(a), 2)).astype(float)
    )
    return Matches(tuple(f"m{i}" for i in range(6)), a, b, y, {}), features


@pytest.mark.parametrize("case", ["random", "small", "few matches"])
def test_the_numpy_and_compiled_engines_give_the_same_fit_and_intervals(case, monkeypatch):
    """The numpy engine (small inputs) and the compiled kernels draw the same resamples and end every fit at
    its maximum-likelihood estimate within the tolerance: the point fit agrees to rounding, the resamples and
    the intervals to the tolerance (1e-4 log-odds)."""
    from arena.ratings.style import fit as style_fit

    if case == "few matches":
        matches, features = _few_matches_data()
    else:
        data_seed, m = (9, 3_000) if case == "random" else (10, 102)
        rng = np.random.default_rng(data_seed)
        n, k = (6, 3) if case == "random" else (3, 4)
        a = rng.integers(0, n, m)
        b = (a + rng.integers(1, n, m)) % n
        features = normalised_difference(
            rng.integers(0, 400, (m, k)).astype(float), rng.integers(0, 400, (m, k)).astype(float)
        )
        y = np.where(rng.random(m) < 0.15, 0.5, (rng.random(m) < 0.5).astype(float))
        matches = Matches(tuple(f"m{i}" for i in range(n)), a, b, y, {})
    n, names = len(matches.models), tuple(f"f{i}" for i in range(features.shape[1]))
    data = covariate_matches(matches.model_a, matches.model_b, matches.outcome, features, n)
    point = batched.fit_with_covariates(data).params
    assert np.abs(point - fit_with_covariates(data).params).max() < 1e-6
    if case != "few matches":  # there a rare resample leaves m5 unbeaten: its fit runs off, on either route
        seeds = np.random.default_rng(4).bit_generator.random_raw(100)
        numpy_fits, compiled_fits = batched.bootstrap_fits(data, point, seeds), bootstrap_fits(data, point, seeds)
        assert np.abs(numpy_fits.params - compiled_fits.params).max() < 1e-4
        assert numpy_fits.converged.all() and compiled_fits.converged.all()
    fits = {}
    for engine, cells in (("numpy", 10**12), ("compiled", 0)):
        monkeypatch.setattr(style_fit, "_NUMPY_MAX_CELLS", cells)
        fits[engine] = controlled_bt(matches, features, names, bootstrap=200, seed=5)
    numpy_fit, compiled = fits["numpy"], fits["compiled"]
    for field in ("rating", "ci_low", "ci_high"):
        difference = getattr(numpy_fit.summary, field) - getattr(compiled.summary, field)
        assert np.abs(difference).max() < 1e-4 * ELO_SCALE, field
    for field in ("beta", "beta_low", "beta_high"):
        assert np.abs(getattr(numpy_fit, field) - getattr(compiled, field)).max() < 1e-4, field
    assert np.abs(numpy_fit.summary.rating - compiled.summary.rating).max() < 1e-6 * ELO_SCALE


def test_a_small_report_fits_style_without_numba_or_scipy_sparse(tmp_path):
    """102 judgments with their answers: the report's style section takes the numpy engine, so the process
    never imports numba (half a second to start) nor scipy.sparse."""
    import subprocess
    import sys

    _startup_store(tmp_path / "r", answer="- {m} answers {q}. ", verdicts=("A", "B", "tie", "A"))
    code = (
        "import sys\nfrom arena.cli import main\n"
        f"main(['report', '--benchmark', 'styled', '--results', {str(tmp_path / 'r')!r}, '--out', "
        f"{str(tmp_path / 'rep')!r}])\n"
        "print(' '.join(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    modules = set(out.stdout.split())
    assert "arena.ratings.style.batched" in modules  # the style section was fitted ...
    assert not {m for m in modules if m.split(".")[0] == "numba"} and "scipy.sparse" not in modules  # ... in numpy
    assert 'data-show="controlled"' in (tmp_path / "rep" / "index.html").read_text()


def test_style_matches_from_the_columns_are_those_of_the_judgment_objects(tmp_path, cli):
    """The columnar path (`arena ratings --control style`, the report) and the object path (panels) give the
    same matches, in the same order, and the same style differences: on the paper's judgments, and on a store
    with unreadable verdicts, one model judged only unreadably and a second judge."""
    from arena.ratings.style.data import styled_matches, styled_matches_from_columns
    from arena.store import Answer, Judgment, ResultsStore

    names = ("length", "headers", "lists", "bold")
    results = tmp_path / "paper"
    assert (
        cli("import", "qlora", shared_path("published", "qlora-vicuna-pairwise-full"), "--results", results).code == 0
    )
    mixed = ResultsStore(tmp_path / "mixed")
    models, questions = ["a", "b", "c", "d"], [f"q{i}" for i in range(12)]
    mixed.save_answers(
        [
            Answer("set", q, m, ["# x\n" * (i % 2) + "word " * (3 + 5 * i + len(q))])
            for q in questions
            for i, m in enumerate(models)
        ]
    )
    verdicts = ["A", "B", "tie", "error", "B", "A"]
    mixed.save_judgments(
        [
            Judgment("set", q, x, y, judge, "pairwise", verdicts[(n + len(judge)) % 6])
            for n, q in enumerate(questions)
            for x, y in (("a", "b"), ("c", "a"), ("b", "c"))
            for judge in ("one", "other")
        ]
        + [Judgment("set", q, "d", "a", "one", "pairwise", "error") for q in questions[:3]]
    )
    for store, benchmark, judges in (
        (ResultsStore(results), "vicuna80", None),
        (mixed, "set", ["one"]),
        (mixed, "set", None),
    ):
        objects = [j for j in store.judgments(benchmark) if not judges or j.judge in judges]
        expected, expected_features = styled_matches(store, benchmark, objects, names)
        columns = store.judgment_columns(benchmark)
        matches, features = styled_matches_from_columns(store, benchmark, columns, "pairwise", judges, names)
        assert matches.models == expected.models and matches.errors == expected.errors
        for field in ("model_a", "model_b", "outcome"):
            assert np.array_equal(getattr(matches, field), getattr(expected, field))
        assert np.array_equal(features, expected_features)
    assert "d" not in matches.models and matches.errors["d"] == 3


def test_a_known_length_effect_is_recovered_and_unmasks_a_long_winded_model():
    rng = np.random.default_rng(11)
    n, m = 5, 20_000
    strength = np.array([1.0, 0.5, 0.0, -0.5, -1.0])
    verbosity = np.array([200, 200, 200, 200, 2000.0])  # model 4, the weakest, writes ten times more
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    length_a = rng.poisson(verbosity[a]).astype(float)
    length_b = rng.poisson(verbosity[b]).astype(float)
    d = normalised_difference(length_a, length_b)
    p = 1 / (1 + np.exp(-(strength[a] - strength[b] + 2.5 * d)))
    y = (rng.random(m) < p).astype(float)
    matches = Matches(tuple(f"m{i}" for i in range(n)), a, b, y, {})
    fit = controlled_bt(matches, d[:, None], ("length",), bootstrap=200, seed=0)
    assert fit.beta_low[0] <= 2.5 <= fit.beta_high[0]
    assert list(np.argsort(-fit.summary.rating)) == [0, 1, 2, 3, 4]
    plain = bradley_terry(matches, bootstrap=0).rating
    assert np.argsort(-plain)[0] == 4  # uncontrolled, the long-winded weakest model looks best


def test_with_all_differences_zero_the_controlled_fit_is_plain_bradley_terry():
    rng = np.random.default_rng(3)
    n, m = 7, 3_000
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    y = np.where(rng.random(m) < 0.2, 0.5, (rng.random(m) < 0.6).astype(float))
    matches = Matches(tuple(f"m{i}" for i in range(n)), a, b, y, {})
    controlled = controlled_bt(matches, np.zeros((m, 4)), ("length", "headers", "lists", "bold"), bootstrap=0)
    plain = bradley_terry(matches, bootstrap=0)
    assert np.abs(controlled.summary.rating - plain.rating).max() < 1e-9 * ELO_SCALE
    assert np.allclose(controlled.beta, 0.0)


# --- from the command line, on the paper's own files -----------------------------------------------
def test_style_controlled_leaderboard_and_coefficients_as_json(cli, published_vicuna):
    out = cli(
        "ratings",
        "--results",
        published_vicuna,
        "--benchmark",
        "vicuna80",
        "--method",
        "bt",
        "--control",
        "style",
        "--bootstrap",
        "100",
        "--format",
        "json",
    )
    assert out.code == 0, out.err
    data = out.json()
    assert [c["feature"] for c in data["coefficients"]] == ["length", "headers", "lists", "bold"]
    length = data["coefficients"][0]
    assert 0 < length["ci_low"] < length["beta"] < length["ci_high"]  # GPT-4 prefers longer answers
    row = data["ratings"][0]
    assert {"rating_uncontrolled", "rank_change", "ci_low", "matches"} <= set(row)
    assert sum(r["rank_change"] for r in data["ratings"]) == 0


def test_length_controlled_win_rate_against_chatgpt(cli, published_vicuna):
    rows = cli(
        "ratings",
        "--results",
        published_vicuna,
        "--benchmark",
        "vicuna80",
        "--method",
        "winrate",
        "--baseline",
        "gpt-3.5",
        "--control",
        "length",
        "--bootstrap",
        "100",
        "--format",
        "json",
    ).json()
    gpt4 = next(r for r in rows if r["model"] == "gpt-4")
    assert gpt4["ci_low"] <= gpt4["win_rate"] <= gpt4["ci_high"] and gpt4["questions"] == 80
    assert gpt4["lc_win_rate"] < gpt4["win_rate"]  # GPT-4's answers are longer than ChatGPT's
    assert all(r["lc_ci_low"] <= r["lc_win_rate"] <= r["lc_ci_high"] for r in rows)


def test_bias_report_has_the_length_preference(cli, published_vicuna, tmp_path):
    rows = cli(
        "ratings",
        "--results",
        published_vicuna,
        "--benchmark",
        "vicuna80",
        "--method",
        "bias",
        "--bootstrap",
        "50",
        "--format",
        "json",
    ).json()
    assert rows[0]["length_beta"] > 0 and 0.5 < rows[0]["longer_wins_share"] <= 1
    report = cli(
        "report",
        "--results",
        published_vicuna,
        "--benchmark",
        "vicuna80",
        "--out",
        tmp_path / "rep",
        "--bootstrap",
        "50",
        "--orderings",
        "100",
    )
    assert report.code == 0, report.err
    html = (tmp_path / "rep" / "index.html").read_text()
    assert 'data-show="controlled"' in html and "Length preference" in html
    assert (tmp_path / "rep" / "style-gpt-4.svg").exists()


def test_control_without_stored_answers_names_the_models(cli, tmp_path):
    results = tmp_path / "r"
    ratings = shared_path("published", "qlora-vicuna-pairwise-sample", "ratings")
    assert cli("import", "qlora", ratings, "--results", results, "--generations", tmp_path).code == 0  # no answers
    result = cli("ratings", "--results", results, "--benchmark", "vicuna80", "--method", "bt", "--control", "length")
    assert result.code == 2 and "no stored answer for: guanaco-13b" in result.err and "guanaco-7b" in result.err
    unknown = cli("ratings", "--results", results, "--benchmark", "vicuna80", "--method", "bt", "--control", "emoji")
    assert unknown.code == 2 and "known are length, headers, lists, bold, code_blocks" in unknown.err


def test_readme_length_controlled_table_is_what_arena_prints(cli, published_vicuna):
    """The README's "vs gpt-3.5 (ChatGPT)" table quotes the command it names (1,000 bootstrap resamples, seed
    0): when the LC method changes, the table must be rerun, not left showing the old method's figures."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    table = readme[readme.index("| vs gpt-3.5 (ChatGPT) |") :].split("\n\n")[0].splitlines()[2:]
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in table]
    quoted = {model: figures for model, *figures in cells}
    rows = cli(
        "ratings",
        "--results",
        published_vicuna,
        "--benchmark",
        "vicuna80",
        "--method",
        "winrate",
        "--baseline",
        "gpt-3.5",
        "--control",
        "length",
        "--format",
        "json",
    ).json()
    printed = {
        r["model"]: [
            f"{r['win_rate']:.1f} ({r['ci_low']:.1f}–{r['ci_high']:.1f})",
            f"{r['lc_win_rate']:.1f} ({r['lc_ci_low']:.1f}–{r['lc_ci_high']:.1f})",
        ]
        for r in rows
    }
    assert quoted == printed
    assert list(quoted) == [r["model"] for r in rows]  # in the order arena prints them


def test_a_misspelled_control_gets_the_closest_feature():
    from arena.errors import ArenaError
    from arena.ratings.style.features import resolve_control

    with pytest.raises(ArenaError, match=r"unknown style feature 'lenght' \(did you mean 'length'\?\)"):
        resolve_control("lenght")
    with pytest.raises(ArenaError, match=r"'lenght', 'boldd' \(did you mean 'length', 'bold'\?\)"):
        resolve_control("lenght,boldd,headers")


# --- a style feature the judgments cannot identify -----------------------------------------------------------
def _startup_matches():
    """The judgments of benchmarks/startup.py's report store, as matches: 17 questions × 3 models × both orders,
    verdicts cycling A, B, tie, and every model's answer of one length on every question (5, 12 and 19 times
    one five-word sentence). Pooled over both orders alpha beats beta 3:1, beta beats gamma 3:1, alpha and
    gamma are even; the three pairs' length differences nearly add up round the cycle (d_ab + d_bg − d_ag =
    −0.054), so length is almost fully determined by which models meet, and the saturated maximum-likelihood
    fit puts its coefficient at β = (ln 3 + ln 3 − 0) / −0.054 ≈ −40.5."""
    import itertools

    words = 5.0 * (5 + 7 * np.arange(3))
    pairs = [pair for _ in range(17) for pair in itertools.permutations(range(3), 2)]
    a, b = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    y = np.array([(1.0, 0.0, 0.5)[i % 3] for i in range(len(pairs))])
    d = normalised_difference(words[a], words[b])
    cycle = d[(a == 0) & (b == 1)][0] + d[(a == 1) & (b == 2)][0] - d[(a == 0) & (b == 2)][0]
    return Matches(("alpha", "beta", "gamma"), a, b, y, {}), d[:, None], 2 * np.log(3) / cycle


def test_a_nearly_collinear_feature_is_fitted_to_its_maximum_likelihood_by_both_engines():
    """Newton with each component of its step clipped bounced between two points here for all 60 iterations
    and returned β = 0; the damped Newton of both engines reaches the maximum (and says it converged)."""
    matches, d, beta = _startup_matches()
    data = covariate_matches(matches.model_a, matches.model_b, matches.outcome, d, 3)
    assert -41 < beta < -40
    compiled, numpy_fit = fit_with_covariates(data), batched.fit_with_covariates(data)
    assert compiled.converged and numpy_fit.converged
    assert abs(compiled.params[3] - beta) < 1e-3  # the ridge (1e-9) moves it by less
    assert np.abs(compiled.params - numpy_fit.params).max() < 1e-6
    gradient, _ = batched.curvature(data, compiled.params)
    assert np.linalg.norm(gradient) < 1e-3  # 31 at the clipped iteration's β = 0
    seeds = np.random.default_rng([0, 2]).bit_generator.random_raw(200)
    assert bootstrap_fits(data, compiled.params, seeds).converged.all()
    assert batched.bootstrap_fits(data, compiled.params, seeds).converged.all()


def test_unidentified_features_are_named_with_the_reason():
    from arena.ratings.style.fit import style_warning

    matches, d, _ = _startup_matches()
    fit = controlled_bt(matches, np.c_[d, np.zeros((len(d), 2))], ("length", "headers", "bold"), bootstrap=50)
    kinds = {p.feature: p.kind for p in fit.problems}
    assert kinds == {"length": "collinear", "headers": "constant", "bold": "constant"}
    length = fit.problems[0]
    assert length.explained > 0.99 and length.uncertainty > 1 and abs(length.beta + 40.5) < 0.1
    assert fit.converged and not fit.trustworthy and fit.alarming
    assert [fit.note(f) for f in fit.features] == ["not identifiable", "no differences", "no differences"]
    message = style_warning(fit, "gpt-4")
    assert message.startswith("judge gpt-4: the style-controlled ratings are not to be trusted: length is almost ")
    assert "determined by which models meet (99.8% of its differences)" in message
    assert "differ in headers and bold, so their coefficients cannot be estimated" in message

    # A feature with no differences at all leaves the ratings alone: a note, not a warning.
    rng = np.random.default_rng(3)
    a = rng.integers(0, 4, 400)
    b = (a + rng.integers(1, 4, 400)) % 4
    y = rng.choice([0.0, 0.5, 1.0], 400)
    plain = Matches(tuple("wxyz"), a, b, y, {})
    length = rng.uniform(-0.5, 0.5, 400)
    fit = controlled_bt(plain, np.c_[length, np.zeros(400)], ("length", "bold"), bootstrap=0)
    assert [p.kind for p in fit.problems] == ["constant"] and fit.trustworthy and not fit.alarming
    assert style_warning(fit, "j").startswith("judge j: style control: no two answers judged against each other")

    # A feature fixed by the pairing (one value per pair, adding up round every cycle): any β fits.
    exact = np.array([0.4, -0.1, 0.7, 0.2])[a] - np.array([0.4, -0.1, 0.7, 0.2])[b]
    fit = controlled_bt(plain, np.c_[length, exact], ("length", "lists"), bootstrap=0)
    assert [(p.feature, p.kind) for p in fit.problems] == [("lists", "collinear")]
    assert "lists is fully determined by which models meet" in style_warning(fit, "j")

    # The answer with more headers won every match in which the answers differ in headers: β runs off.
    headers = np.zeros(400)
    headers[:30] = rng.choice([-1.0, 1.0], 30)
    separated = Matches(tuple("wxyz"), a, b, np.where(headers != 0, (headers > 0).astype(float), y), {})
    fit = controlled_bt(separated, np.c_[length, headers], ("length", "headers"), bootstrap=0)
    assert [(p.feature, p.kind) for p in fit.problems] == [("headers", "unbounded")] and fit.beta[1] > 10
    assert "the answer with more headers won, or lost, nearly every match" in style_warning(fit, "j")


def test_a_fit_that_runs_out_of_iterations_says_what_was_still_moving():
    """Tiny differences (±0.02) and the answer with more always winning: β heads for infinity (the ridge holds
    it near 1,000), further than 60 bounded steps reach. Both engines say so; the message names the feature."""
    from arena.ratings.style.fit import style_warning

    rng = np.random.default_rng(5)
    a = rng.integers(0, 3, 120)
    b = (a + rng.integers(1, 3, 120)) % 3
    tiny = rng.uniform(-0.02, 0.02, 120)
    matches = Matches(tuple("xyz"), a, b, (tiny > 0).astype(float), {})
    data = covariate_matches(a, b, matches.outcome, tiny[:, None], 3)
    assert not fit_with_covariates(data).converged and not batched.fit_with_covariates(data).converged
    fit = controlled_bt(matches, tiny[:, None], ("bold",), bootstrap=20)
    assert not fit.converged and fit.still_moving == ("the coefficient of bold",) and fit.unconverged_resamples
    message = style_warning(fit, "j")
    assert "did not converge in 60 Newton steps: the coefficient of bold was still running off" in message
    assert "resamples did not converge" in message


def test_well_identified_fits_raise_no_problem():
    rng = np.random.default_rng(11)
    n, m = 5, 20_000  # length 99% determined by which models meet (one of them writes ten times more) ...
    verbosity = np.array([200, 200, 200, 200, 2000.0])
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    d = normalised_difference(rng.poisson(verbosity[a]).astype(float), rng.poisson(verbosity[b]).astype(float))
    y = (rng.random(m) < 1 / (1 + np.exp(-(np.linspace(1, -1, n)[a] - np.linspace(1, -1, n)[b] + 2.5 * d)))).astype(
        float
    )
    fit = controlled_bt(Matches(tuple(f"m{i}" for i in range(n)), a, b, y, {}), d[:, None], ("length",), bootstrap=0)
    assert fit.problems == () and fit.trustworthy  # ... but 20,000 judgments pin its coefficient down


def _startup_store(root, answer="answer of {m} to {q}. ", verdicts=("A", "B", "tie")):
    """benchmarks/startup.py's report store (questions named q0..q16): see `_startup_matches`. Model i's answer
    to every question is `answer` repeated 5 + 7i times; the verdicts cycle through `verdicts`."""
    import itertools

    from arena.store import Answer, Judgment, ResultsStore

    store = ResultsStore(root)
    models, questions = ["alpha", "beta", "gamma"], [f"q{i}" for i in range(17)]
    store.save_answers(
        [
            Answer("styled", q, m, [answer.format(m=m, q=q) * (5 + 7 * i)])
            for q in questions
            for i, m in enumerate(models)
        ]
    )
    pairs = itertools.product(questions, itertools.permutations(models, 2))
    store.save_judgments(
        [
            Judgment("styled", q, a, b, "gpt-4", "pairwise", verdicts[n % len(verdicts)])
            for n, (q, (a, b)) in enumerate(pairs)
        ]
    )
    return store


def test_the_ratings_command_and_the_report_warn_of_an_unidentifiable_style_feature(tmp_path, cli):
    import json

    _startup_store(tmp_path / "r")
    common = ("--benchmark", "styled", "--results", tmp_path / "r", "--bootstrap", "100")
    result = cli("ratings", "--method", "bt", "--control", "length", *common)
    err = " ".join(result.err.split())  # the terminal wraps long lines
    assert result.code == 0  # the tables are still printed, marked
    assert err.count("arena: warning:") == 1
    assert (
        "arena: warning: judge gpt-4: the style-controlled ratings are not to be trusted: length is almost fully "
        "determined by which models meet (99.8% of its differences), so its coefficient is not identifiable from "
        "these judgments (the fit puts it at -40.5" in err
    )
    assert "UNRELIABLE, see the warning above" in " ".join(result.out.split()) and "not identifiable" in result.out

    data = json.loads(cli("ratings", "--method", "bt", "--control", "length", "--format", "json", *common).out)
    assert len(data["warnings"]) == 1 and "length is almost fully determined" in data["warnings"][0]
    assert data["coefficients"][0]["note"] == "not identifiable" and data["coefficients"][0]["beta"] < -40

    styled = cli("ratings", "--method", "bt", "--control", "style", *common)
    err = " ".join(styled.err.split())
    assert styled.code == 0 and err.count("arena: warning:") == 1
    assert "no two answers judged against each other differ in headers, lists and bold" in err

    bias = cli("ratings", "--method", "bias", *common)
    err = " ".join(bias.err.split())
    assert bias.code == 0 and "judge gpt-4: the length preference (length_beta) is not to be trusted" in err

    report = cli("report", "--benchmark", "styled", "--results", tmp_path / "r", "--out", tmp_path / "rep")
    assert report.code == 0 and "length is almost fully determined" in " ".join(report.err.split())
    page = (tmp_path / "rep" / "index.html").read_text()
    assert page.count('class="warning"') == 2  # the style-controlled view and the length preference
    assert "not identifiable" in page


def test_no_warning_when_each_models_answers_vary_in_length(tmp_path, cli):
    import itertools

    from arena.store import Answer, Judgment, ResultsStore

    store = ResultsStore(tmp_path / "r")
    models, questions = ["alpha", "beta", "gamma"], [f"q{i}" for i in range(17)]
    store.save_answers(
        [
            Answer("styled", q, m, ["word " * (20 + (37 * i + 53 * k) % 90)])
            for k, q in enumerate(questions)
            for i, m in enumerate(models)
        ]
    )
    pairs = itertools.product(questions, itertools.permutations(models, 2))
    store.save_judgments(
        [
            Judgment("styled", q, a, b, "gpt-4", "pairwise", ("A", "B", "tie", "A")[n % 4])
            for n, (q, (a, b)) in enumerate(pairs)
        ]
    )
    result = cli(
        "ratings", "--method", "bt", "--control", "length", "--benchmark", "styled", "--results", tmp_path / "r"
    )
    assert result.code == 0 and "warning" not in result.err and "UNRELIABLE" not in result.out


def _strong_ratings_data(seed: int):
    """Models far apart (θ ~ ±5 log-odds), strong style effects, few matches: Newton's first steps overshoot."""
    rng = np.random.default_rng(seed)
    n, m, k = 4, 40, 2
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    features = rng.uniform(-1, 1, (m, k))
    z = rng.normal(0, 5, n)[a] - rng.normal(0, 5, n)[b] + features @ rng.normal(0, 2, k)
    y = (rng.random(m) < 1 / (1 + np.exp(-z))).astype(float)
    return a, b, y, features, n


def test_overshooting_steps_are_halved_and_both_engines_reach_the_maximum(monkeypatch):
    """Where the bounds cannot vouch for a step, it is halved until the objective rises; both engines then end
    at the maximum (the objective is strictly concave: where the next Newton step is below the tolerance),
    together, also where a separated model or feature leaves only the ridge to hold it."""
    halved = []
    backtrack = batched._backtrack
    monkeypatch.setattr(batched, "_backtrack", lambda *args: (halved.append(1), backtrack(*args))[1])
    reached = 0
    for seed in range(8):
        a, b, y, features, n = _strong_ratings_data(seed)
        data = covariate_matches(a, b, y, features, n)
        numpy_fit, compiled = batched.fit_with_covariates(data), fit_with_covariates(data)
        assert numpy_fit.converged == compiled.converged
        if not compiled.converged:  # separated so far that 60 bounded steps do not reach the ridge's hold
            continue
        assert np.abs(numpy_fit.params - compiled.params).max() < 1e-6 * max(1, np.abs(compiled.params).max())
        gradient, system = batched.curvature(data, numpy_fit.params)
        assert np.abs(np.linalg.solve(system, gradient)).max() < 1e-4
        reached += 1
    assert halved and reached >= 4  # the line search did its part


def test_a_step_sure_to_rise_does_rise():
    """The bounds that let a step skip the line search (`_sure_rise`, `_sure_rise_by_match`) must never pass a
    step whose objective does not rise by the sufficient share of its slope."""
    passed = 0
    for seed in range(40):
        a, b, y, features, n = _strong_ratings_data(seed)
        data = covariate_matches(a, b, y, features, n)
        design = batched._Design(data)
        rng = np.random.default_rng(seed)
        rows = rng.normal(0, 1.5, (20, n + 2))
        p = batched._sigmoid(design.predictor(rows))
        gradient = design.gradient(data.outcome - p, rows)
        step = np.linalg.solve(design.system(p * (1 - p)), gradient[:, :, None])[:, :, 0]
        scale = np.minimum(1.0, batched._MAX_STEP / np.abs(step).max(axis=1))
        step *= scale[:, None]
        slope = np.einsum("sp,sp->s", gradient, step)
        weights = np.ones_like(p)
        sure = batched._sure_rise(step, slope, scale, n, design.spread)
        sure |= batched._sure_rise_by_match(step, slope, design.predictor(step), weights, p * (1 - p))

        def objective(x, design=design, outcome=data.outcome):
            return batched.log_likelihood(design.predictor(x), outcome).sum(axis=1) - 0.5e-9 * (x * x).sum(1)

        rise = objective(rows + step) - objective(rows)
        assert (rise[sure] >= batched._SUFFICIENT_RISE * slope[sure] - 1e-9).all()
        passed += sure.sum()
    assert passed > 100  # the bounds do settle most steps
