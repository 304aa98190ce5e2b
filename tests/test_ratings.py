import math

import numpy as np
import pytest
from scipy.optimize import minimize

from arena.ratings.bradley_terry_fit import ELO_SCALE, bradley_terry, predicted_win_matrix
from arena.ratings.diagnostics import cohen_kappa, judge_agreement, judge_bias, wilson_interval
from arena.ratings.matches import Matches, build_matches, win_rate_matrix
from arena.ratings.paper_elo import elo_final_ratings, elo_reference, match_orders, paper_elo
from arena.ratings.relative import relative_score
from arena.store.records import Judgment


def J(a, b, verdict, q="1", judge="gpt-4", protocol="pairwise", **kw):
    return Judgment("b", q, a, b, judge, protocol, verdict, **kw)


def random_judgments(seed, n=600, models=5, tie_rate=0.2, error_rate=0.03):
    rng = np.random.default_rng(seed)
    strength = rng.normal(0, 1, models)
    out = []
    for i in range(n):
        a, b = rng.choice(models, 2, replace=False)
        u = rng.random()
        p = 1 / (1 + math.exp(strength[b] - strength[a]))
        verdict = (
            "error" if u < error_rate else "tie" if u < error_rate + tie_rate else ("A" if rng.random() < p else "B")
        )
        out.append(J(f"m{a}", f"m{b}", verdict, q=str(i)))
    return out


# --- Elo -------------------------------------------------------------------------------------------
def test_elo_single_match_by_hand():
    matches = build_matches([J("x", "y", "A")])
    final = elo_final_ratings(matches, orderings=3, seed=0)
    # Equal ratings: expected 0.5, winner gains K * 0.5 = 16.
    assert final.tolist() == [[1016.0, 984.0]] * 3


def test_elo_two_matches_by_hand_in_both_orders():
    matches = build_matches([J("x", "y", "A", q="1"), J("x", "y", "tie", q="2")])
    # Order (win, tie): x 1016, then tie: expected_x = 1/(1+10^(-32/400)); delta = 32*(0.5-e).
    e = 1 / (1 + 10 ** (-32 / 400))
    win_then_tie = 1016 + 32 * (0.5 - e)
    # Order (tie, win): tie at equal ratings changes nothing, then win: +16.
    tie_then_win = 1016.0
    orders = match_orders(2, 200, seed=3)
    final = elo_final_ratings(matches, 200, seed=3)
    for order, ratings in zip(orders, final):
        expected = win_then_tie if order[0] == 0 else tie_then_win
        assert ratings[0] == pytest.approx(expected) and ratings[1] == pytest.approx(2000 - expected)


def test_elo_matches_reference_loop_on_random_data():
    matches = build_matches(random_judgments(1))
    orders = match_orders(len(matches), 300, seed=11)
    fast = elo_final_ratings(matches, 300, seed=11)
    assert np.allclose(fast, elo_reference(matches, orders), atol=1e-9)


def test_elo_orderings_from_any_offset_are_those_of_the_whole_sequence():
    """Orderings are played several per thread; a run that starts mid-group (as `--orderings auto` batches
    may) must still play each ordering exactly as the whole run does, bit for bit."""
    matches = build_matches(random_judgments(4))
    whole = elo_final_ratings(matches, 23, seed=2)
    assert np.array_equal(elo_final_ratings(matches, 9, seed=2, first=5), whole[5:14])
    assert np.array_equal(elo_final_ratings(matches, 1, seed=2, first=22), whole[22:])
    assert np.allclose(whole, elo_reference(matches, match_orders(len(matches), 23, seed=2)), atol=1e-9)


def test_elo_orders_are_permutations_and_deterministic():
    orders = match_orders(50, 20, seed=5)
    assert all(sorted(o) == list(range(50)) for o in orders.tolist())
    assert len({tuple(o) for o in orders.tolist()}) == 20
    assert np.array_equal(orders, match_orders(50, 20, seed=5))
    assert not np.array_equal(orders, match_orders(50, 20, seed=6))


def test_paper_elo_is_seeded_and_zero_sum():
    matches = build_matches(random_judgments(2))
    one, two = paper_elo(matches, 500, seed=4).summary, paper_elo(matches, 500, seed=4).summary
    assert np.array_equal(one.rating, two.rating)
    assert one.rating.sum() == pytest.approx(1000 * len(matches.models))
    assert np.all(one.ci_low <= one.rating) and np.all(one.rating <= one.ci_high)


def test_swapping_a_and_b_with_the_verdict_changes_nothing():
    judgments = random_judgments(3)
    swapped = [
        J(j.model_b, j.model_a, {"A": "B", "B": "A"}.get(j.verdict, j.verdict), q=j.question_id) for j in judgments
    ]
    m1, m2 = build_matches(judgments), build_matches(swapped)
    assert np.allclose(paper_elo(m1, 300, 1).summary.rating, paper_elo(m2, 300, 1).summary.rating)
    assert np.allclose(bradley_terry(m1, 0).rating, bradley_terry(m2, 0).rating)
    assert m1.record() == m2.record()


def test_errors_are_excluded_and_counted_never_ties():
    base = [J("x", "y", "A", q="1"), J("x", "y", "B", q="2")]
    with_errors = base + [J("x", "y", "error", q="3", raw="??"), J("y", "x", "error", q="4")]
    m = build_matches(with_errors)
    assert len(m) == 2
    assert m.record()["x"] == {"matches": 2, "wins": 1, "losses": 1, "ties": 0, "errors": 2}
    assert np.allclose(bradley_terry(m, 0).rating, bradley_terry(build_matches(base), 0).rating)


# --- Bradley-Terry ---------------------------------------------------------------------------------
def _bt_by_scipy(matches: Matches) -> np.ndarray:
    """Straightforward reference: maximise the BT log-likelihood with a generic optimiser."""
    n = len(matches.models)

    def negative_log_likelihood(theta):
        diff = theta[matches.model_a] - theta[matches.model_b]
        return -np.sum(matches.outcome * -np.logaddexp(0, -diff) + (1 - matches.outcome) * -np.logaddexp(0, diff))

    theta = minimize(negative_log_likelihood, np.zeros(n), method="BFGS", options={"gtol": 1e-9}).x
    return 1000 + ELO_SCALE * (theta - theta.mean())


def test_bt_matches_a_generic_optimiser():
    matches = build_matches(random_judgments(4, n=1500))
    assert np.allclose(bradley_terry(matches, 0).rating, _bt_by_scipy(matches), atol=1e-3)


def test_bt_hand_case_three_to_one():
    # x beats y 3 times and loses once: P = 3/4, so the gap is 400*log10(3) Elo points.
    matches = build_matches([J("x", "y", "A", q=str(i)) for i in range(3)] + [J("x", "y", "B", q="9")])
    rating = dict(zip(matches.models, bradley_terry(matches, 0).rating))
    assert rating["x"] - rating["y"] == pytest.approx(400 * math.log10(3), abs=1e-4)
    assert rating["x"] + rating["y"] == pytest.approx(2000)


def test_bt_ties_count_as_half_a_win_each_way():
    ties = build_matches([J("x", "y", "tie", q=str(i)) for i in range(4)] + [J("x", "y", "A", q="9")])
    halves = build_matches(
        [J("x", "y", "A", q=str(i)) for i in range(2)]
        + [J("x", "y", "B", q=str(i + 5)) for i in range(2)]
        + [J("x", "y", "A", q="9")]
    )
    assert np.allclose(bradley_terry(ties, 0).rating, bradley_terry(halves, 0).rating)


def test_bt_is_invariant_to_match_order_and_anchor_works():
    judgments = random_judgments(5)
    shuffled = [judgments[i] for i in np.random.default_rng(0).permutation(len(judgments))]
    r1 = bradley_terry(build_matches(judgments), 200, seed=1)
    r2 = bradley_terry(build_matches(shuffled), 200, seed=1)
    assert np.allclose(r1.rating, r2.rating)
    anchored = bradley_terry(build_matches(judgments), 0, anchor="m2")
    assert anchored.rating[anchored.models.index("m2")] == pytest.approx(1000)
    assert np.allclose(np.diff(anchored.rating), np.diff(r1.rating))


def test_bt_bootstrap_interval_contains_the_estimate_and_shrinks_with_data():
    small = bradley_terry(build_matches(random_judgments(6, n=200)), 300, seed=2)
    large = bradley_terry(build_matches(random_judgments(6, n=3000)), 300, seed=2)
    assert np.all(small.ci_low <= small.rating) and np.all(small.rating <= small.ci_high)
    assert np.mean(large.ci_high - large.ci_low) < np.mean(small.ci_high - small.ci_low)


def test_bt_unbeaten_model_stays_finite():
    rating = bradley_terry(build_matches([J("x", "y", "A", q=str(i)) for i in range(5)]), 50)
    assert np.all(np.isfinite(rating.rating)) and rating.rating[0] > rating.rating[1]


def test_win_rate_and_predicted_matrices():
    matches = build_matches([J("x", "y", "A", q="1"), J("y", "x", "tie", q="2"), J("x", "z", "B", q="3")])
    observed = win_rate_matrix(matches)
    assert observed[0, 1] == pytest.approx(0.75) and observed[1, 0] == pytest.approx(0.25)
    assert observed[0, 2] == 0 and math.isnan(observed[1, 2])
    predicted = predicted_win_matrix(np.array([1100.0, 1000.0]))
    assert predicted[0, 1] == pytest.approx(1 / (1 + 10 ** (-0.25))) and predicted[0, 1] + predicted[
        1, 0
    ] == pytest.approx(1)


# --- relative --------------------------------------------------------------------------------------
def R(a, b, sa, sb, q, **kw):
    verdict = "error" if sa is None else ("A" if sa > sb else "B" if sb > sa else "tie")
    return J(a, b, verdict, q=q, protocol="relative", score_a=sa, score_b=sb, **kw)


def test_relative_score_by_hand():
    judgments = [
        R("cand", "gpt", 8, 10, "1"),
        R("cand", "gpt", 9, 9, "2"),  # candidate first: 17 / 19
        R("gpt", "cand", 10, 6, "1"),
        R("gpt", "cand", 8, 8, "2"),  # baseline first: 14 / 18
        R("gpt", "cand", None, None, "3"),  # unparsed: left out and counted
    ]
    score = relative_score(judgments, "cand", "gpt", bootstrap=200)
    assert score.candidate_first == pytest.approx(100 * 17 / 19)
    assert score.baseline_first == pytest.approx(100 * 14 / 18)
    assert score.percent == pytest.approx((100 * 17 / 19 + 100 * 14 / 18) / 2)
    assert score.left_out == 1 and score.questions == 2
    assert (score.wins, score.losses, score.ties) == (0, 2, 2)
    assert score.ci_low <= score.percent <= score.ci_high


# --- diagnostics -----------------------------------------------------------------------------------
def test_position_bias_and_order_consistency():
    judgments = [
        J("x", "y", "A", q="1"),
        J("y", "x", "A", q="1"),  # first always wins: inconsistent
        J("x", "y", "A", q="2"),
        J("y", "x", "B", q="2"),  # x both times: consistent
        J("x", "y", "tie", q="3"),
        J("y", "x", "tie", q="3"),  # tie both: consistent
        J("x", "y", "error", q="4"),
    ]
    (bias,) = judge_bias(judgments)
    assert (bias.decided, bias.first_wins, bias.ties, bias.errors) == (4, 3, 2, 1)
    assert bias.first_win_share == 0.75
    assert (bias.order_pairs, bias.consistent_pairs) == (3, 2)
    low, high = wilson_interval(3, 4)
    assert (bias.ci_low, bias.ci_high) == (low, high) and low < 0.75 < high


def test_agreement_and_kappa():
    gpt = [J("x", "y", v, q=str(i)) for i, v in enumerate(["A", "A", "B", "tie", "B", "A"])]
    human = [J("x", "y", v, q=str(i), judge="human") for i, v in enumerate(["A", "B", "B", "tie", "tie", "A"])]
    result = judge_agreement(gpt, human, {"x": 1100, "y": 900, "z": 1000}, {"x": 1050, "y": 950, "z": 1000})
    assert result.items == 6 and result.agreement == pytest.approx(4 / 6)
    assert result.decided_items == 4 and result.agreement_without_ties == pytest.approx(3 / 4)
    assert result.kendall_tau == pytest.approx(1.0) and result.spearman == pytest.approx(1.0)
    # Perfect agreement gives kappa 1; the textbook 2x2-style case by hand.
    assert cohen_kappa(["A", "B", "tie"], ["A", "B", "tie"]) == pytest.approx(1.0)
    p_o, p_e = 4 / 6, (3 * 2 + 2 * 2 + 1 * 2) / 36
    assert result.cohen_kappa == pytest.approx((p_o - p_e) / (1 - p_e))


# --- scale (issue 13) --------------------------------------------------------------------------------
def _synthetic(models, count, seed=0, ties=0.1):
    from arena.ratings.matches import Matches

    rng = np.random.default_rng(seed)
    strength = rng.normal(0, 1, models)
    a = rng.integers(0, models, count)
    b = (a + rng.integers(1, models, count)) % models
    p = 1 / (1 + np.exp(strength[b] - strength[a]))
    outcome = np.where(rng.random(count) < ties, 0.5, (rng.random(count) < p).astype(float))
    return Matches(tuple(f"m{i:03d}" for i in range(models)), a, b, outcome, {})


@pytest.mark.slow
def test_bt_on_200_models_runs_in_bounded_memory():
    import tracemalloc

    matches = _synthetic(200, 60_000)
    tracemalloc.start()
    summary = bradley_terry(matches, bootstrap=40, seed=0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert np.isfinite(summary.rating).all() and (summary.ci_low <= summary.ci_high).all()
    assert peak < 400e6, f"peak {peak / 1e6:.0f} MB"  # a dense (outcome kinds × models²) table would be 3.6 GB


def test_bt_converges_to_the_maximum_likelihood_in_few_steps():
    from scipy.optimize import minimize

    import arena.ratings.bradley_terry_fit as bt

    matches = _synthetic(12, 3_000, seed=3)
    kinds, counts = bt.match_kinds(matches)
    points = bt.points_tables(kinds, counts, 12)
    steps = []
    original = np.linalg.solve

    def counting(a, b):
        steps.append(1)
        return original(a, b)

    np.linalg.solve, solve_was = counting, original
    try:
        theta = bt.fit_log_strengths(points)[0]
    finally:
        np.linalg.solve = solve_was
    assert len(steps) <= 8

    a, b, y = matches.model_a, matches.model_b, matches.outcome

    def loss(x):
        z = x[a] - x[b]
        return (y * np.logaddexp(0, -z) + (1 - y) * np.logaddexp(0, z)).sum()

    long_run = minimize(loss, np.zeros(12), method="BFGS", options={"gtol": 1e-11, "maxiter": 10_000}).x
    assert np.abs((theta - (long_run - long_run.mean())) * ELO_SCALE).max() < 1e-3


def test_orderings_auto_reaches_its_error_or_says_so_and_agrees_with_a_fixed_count():
    matches = _synthetic(4, 80, seed=5)
    auto = paper_elo(matches, "auto", seed=2, batch=500, max_orderings=40_000)
    fixed = paper_elo(matches, 10_000, seed=2)
    assert auto.orderings % 500 == 0 and (auto.standard_error.max() < 0.1 or auto.orderings == 40_000)
    combined = np.sqrt(auto.standard_error**2 + fixed.standard_error**2)
    assert (np.abs(auto.summary.rating - fixed.summary.rating) <= 4 * combined).all()
    # Auto plays the same seeded orders: its first 10,000 are the fixed run's.
    assert auto.orderings >= 10_000 or np.allclose(
        auto.summary.rating, paper_elo(matches, auto.orderings, 2).summary.rating
    )
