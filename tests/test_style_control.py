"""Style features, style-controlled Bradley-Terry, the length-controlled win rate and the judge's taste."""

import numpy as np
from scipy.optimize import minimize

from arena.ratings.bradley_terry import ELO_SCALE, bradley_terry
from arena.ratings.covariates import fit_with_covariates
from arena.ratings.matches import Matches
from arena.ratings.style_control import controlled_bt, normalised_difference
from arena.style.features import answer_features, text_features
from conftest import shared_path


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

    x = minimize(loss, np.zeros(n + features.shape[1]), jac=grad, method="BFGS",
                 options={"gtol": 1e-10, "maxiter": 10_000}).x
    x[:n] -= x[:n].mean()
    return x


def test_joint_fit_matches_a_reference_optimiser_on_random_data():
    rng = np.random.default_rng(7)
    n, m = 6, 2_000
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    features = normalised_difference(rng.integers(0, 400, (m, 3)).astype(float), rng.integers(0, 400, (m, 3)).astype(float))
    y = np.where(rng.random(m) < 0.15, 0.5, (rng.random(m) < 0.5).astype(float))
    ours = fit_with_covariates(a, b, y, features, np.ones((1, m)), n)[0]
    assert np.abs(ours - _reference(a, b, y, features, n)).max() < 1e-4


def test_joint_fit_matches_a_reference_on_the_published_judgments(tmp_path, cli):
    from arena.ratings.styled import styled_matches
    from arena.store import ResultsStore

    results = tmp_path / "r"
    assert cli("import", "qlora", shared_path("published", "qlora-vicuna-pairwise-full"), "--results", results).code == 0
    store = ResultsStore(results)
    names = ("length", "headers", "lists", "bold")
    matches, features = styled_matches(store, "vicuna80", store.judgments("vicuna80"), names)
    n = len(matches.models)
    ours = fit_with_covariates(matches.model_a, matches.model_b, matches.outcome, features, np.ones((1, len(matches))), n)[0]
    reference = _reference(matches.model_a, matches.model_b, matches.outcome, features, n)
    assert np.abs(ours - reference).max() < 1e-4


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
    out = cli("ratings", "--results", published_vicuna, "--benchmark", "vicuna80", "--method", "bt", "--control", "style",
              "--bootstrap", "100", "--format", "json")
    assert out.code == 0, out.err
    data = out.json()
    assert [c["feature"] for c in data["coefficients"]] == ["length", "headers", "lists", "bold"]
    length = data["coefficients"][0]
    assert 0 < length["ci_low"] < length["beta"] < length["ci_high"]  # GPT-4 prefers longer answers
    row = data["ratings"][0]
    assert {"rating_uncontrolled", "rank_change", "ci_low", "matches"} <= set(row)
    assert sum(r["rank_change"] for r in data["ratings"]) == 0


def test_length_controlled_win_rate_against_chatgpt(cli, published_vicuna):
    rows = cli("ratings", "--results", published_vicuna, "--benchmark", "vicuna80", "--method", "winrate", "--baseline",
               "gpt-3.5", "--control", "length", "--bootstrap", "100", "--format", "json").json()
    gpt4 = next(r for r in rows if r["model"] == "gpt-4")
    assert gpt4["ci_low"] <= gpt4["win_rate"] <= gpt4["ci_high"] and gpt4["questions"] == 80
    assert gpt4["lc_win_rate"] < gpt4["win_rate"]  # GPT-4's answers are longer than ChatGPT's
    assert all(r["lc_ci_low"] <= r["lc_win_rate"] <= r["lc_ci_high"] for r in rows)


def test_bias_report_has_the_length_preference(cli, published_vicuna, tmp_path):
    rows = cli("ratings", "--results", published_vicuna, "--benchmark", "vicuna80", "--method", "bias", "--bootstrap", "50",
               "--format", "json").json()
    assert rows[0]["length_beta"] > 0 and 0.5 < rows[0]["longer_wins_share"] <= 1
    report = cli("report", "--results", published_vicuna, "--benchmark", "vicuna80", "--out", tmp_path / "rep",
                 "--bootstrap", "50", "--orderings", "100")
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
