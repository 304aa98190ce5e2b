"""`arena ratings` on the small and odd stores a new user meets first: a handful of matches, single grades
only, a judge named twice, an empty judgments file, the baseline always shown first."""

import csv

import pytest
from conftest import shared_path

from arena.store import Judgment, ResultsStore


def pairwise(a, b, verdict, q, judge="gpt-4", **kw):
    return Judgment("s", q, a, b, judge, "pairwise", verdict, **kw)


def relative(a, b, score_a, score_b, q, category):
    verdict = "A" if score_a > score_b else "B" if score_b > score_a else "tie"
    return Judgment("s", q, a, b, "gpt-4", "relative", verdict, score_a=score_a, score_b=score_b, category=category)


def test_winrate_gives_no_interval_below_ten_decided_judgments(cli, tmp_path):
    ResultsStore(tmp_path).save_judgments(
        [pairwise("base", "few", "B", "1"), pairwise("few", "base", "A", "2")]
        + [pairwise("base", "many", "B" if i % 3 else "A", str(i)) for i in range(12)]
    )
    out = cli(
        "ratings",
        "--results",
        tmp_path,
        "--benchmark",
        "s",
        "--method",
        "winrate",
        "--baseline",
        "base",
        "--format",
        "json",
    )
    assert out.code == 0, out.err
    rows = {r["model"]: r for r in out.json()}
    few, many = rows["few"], rows["many"]
    assert few["win_rate"] == 100.0 and few["judgments"] == 2
    assert few["ci_low"] is None and few["ci_high"] is None and few["standard_error"] is None
    assert many["ci_low"] is not None and many["ci_low"] <= many["win_rate"] <= many["ci_high"]
    table = cli("ratings", "--results", tmp_path, "--benchmark", "s", "--method", "winrate", "--baseline", "base")
    assert "fewer than 10 decided matches" in table.err


def test_relative_by_category_gives_no_interval_below_ten_matches(cli, tmp_path):
    rows = [relative("cand", "base", 8, 9, str(i), "writing") for i in range(12)]
    rows += [relative("cand", "base", 7 + i % 3, 8, f"m{i}", "math") for i in range(6)]
    ResultsStore(tmp_path).save_judgments(rows)
    out = cli(
        "ratings",
        "--results",
        tmp_path,
        "--benchmark",
        "s",
        "--method",
        "relative",
        "--baseline",
        "base",
        "--by-category",
        "--format",
        "json",
    )
    assert out.code == 0, out.err
    by_category = {r["category"]: r for r in out.json()}
    assert by_category["math"]["ci_low"] is None and by_category["math"]["ci_high"] is None
    assert by_category["writing"]["ci_low"] is not None and by_category["all"]["ci_low"] is not None


def single_grades_store(path):
    ResultsStore(path).save_judgments(
        [
            Judgment("s", str(q), model, "", judge, "single", "graded", score_a=float(3 + q % 5))
            for q in range(6)
            for model in ("x", "y")
            for judge in ("gpt-4", "llama")
        ]
    )


@pytest.mark.parametrize("method", ["bt", "elo", "agreement", "robustness"])
def test_pairwise_methods_on_single_grades_point_to_score(cli, tmp_path, method):
    single_grades_store(tmp_path)
    out = cli("ratings", "--results", tmp_path, "--benchmark", "s", "--method", method, "--protocol", "single")
    assert out.code == 2 and not out.out
    assert f"--method {method} rates pairwise verdicts" in out.err and "--method score" in out.err
    assert "every judgment is an error" not in out.err and "Traceback" not in out.err


def test_agreement_without_two_pairwise_judges_lists_the_stored_judges(cli, tmp_path):
    single_grades_store(tmp_path)
    out = cli("ratings", "--results", tmp_path, "--benchmark", "s", "--method", "agreement")
    assert out.code == 2
    assert "judges stored: gpt-4 (single), llama (single)" in out.err


@pytest.mark.parametrize("method", ["bt", "winrate", "bias"])
def test_a_judge_named_twice_is_refused(cli, tmp_path, method):
    ResultsStore(tmp_path).save_judgments([pairwise("base", "m", "B", str(q)) for q in range(12)])
    out = cli(
        "ratings", "--results", tmp_path, "--benchmark", "s", "--method", method, "--baseline", "base",
        "--judge", "gpt-4", "--judge", "gpt-4",
    )  # fmt: skip
    assert out.code == 2 and not out.out
    assert "--judge gpt-4 given more than once" in out.err


def test_winrate_rows_count_wins_ties_and_losses_and_the_table_drops_unset_lc_columns(cli, tmp_path):
    verdicts = ["B"] * 6 + ["tie"] * 3 + ["A"] * 2 + ["error"]  # the model is shown second: B is its win
    ResultsStore(tmp_path).save_judgments([pairwise("base", "m", v, str(q)) for q, v in enumerate(verdicts)])
    args = ("ratings", "--results", tmp_path, "--benchmark", "s", "--method", "winrate", "--baseline", "base")
    (row,) = cli(*args, "--format", "json").json()
    assert (row["wins"], row["ties"], row["losses"], row["judgments"]) == (6, 3, 2, 11)
    assert row["lc_win_rate"] is None and "lc_ci_low" in row  # JSON keeps its shape
    csv_header = cli(*args, "--format", "csv").out.splitlines()[0].split(",")
    assert {"wins", "ties", "losses", "lc_win_rate"} <= set(csv_header)
    table = cli(*args).out
    assert "wins" in table and "losses" in table
    assert "lc_" not in table and "length_beta" not in table


def test_an_empty_judgments_file_is_named_as_such(cli, tmp_path):
    store = ResultsStore(tmp_path)
    store.save_judgments([pairwise("x", "y", "A", "1")])
    (log,) = (tmp_path / "s" / "judgments").glob("*.jsonl")
    log.write_text("")
    out = cli("ratings", "--results", tmp_path, "--benchmark", "s")
    assert out.code == 2 and "Traceback" not in out.err
    assert "its judgment files hold no records" in out.err and f"{log} (empty)" in " ".join(out.err.split())
    assert "sets with judgments there" not in out.err  # it used to list the very set it said had none


def test_bias_with_the_baseline_always_first_says_so_and_prints_no_nan(cli, tmp_path):
    verdicts = ["A"] * 9 + ["B"] * 3  # the baseline, always shown first, wins 9 of 12
    ResultsStore(tmp_path).save_judgments(
        [pairwise("base", model, v, str(q)) for model in ("m", "n") for q, v in enumerate(verdicts)]
    )
    args = ("ratings", "--results", tmp_path, "--benchmark", "s", "--method", "bias", "--bootstrap", "20")
    table = cli(*args)
    assert table.code == 0, table.err
    assert "nan" not in table.out.lower() and "n/a" in table.out
    message = " ".join(table.err.split())
    assert "every judgment by gpt-4 shows base first" in message and "cannot be told from base's strength" in message
    (row,) = cli(*args, "--format", "json").json()
    assert row["consistency"] is None and row["order_pairs"] == 0


def test_bias_with_both_orders_has_no_such_note(cli, tmp_path):
    ResultsStore(tmp_path).save_judgments(
        [pairwise("base", "m", "A", str(q)) for q in range(6)] + [pairwise("m", "base", "B", str(q)) for q in range(6)]
    )
    table = cli("ratings", "--results", tmp_path, "--benchmark", "s", "--method", "bias", "--bootstrap", "20")
    assert table.code == 0 and "shows base first" not in table.err


def test_winrate_counts_and_bias_note_on_published_alpaca_eval(cli, tmp_path):
    sample = shared_path("published", "alpaca-eval-2-sample")
    results = tmp_path / "results"
    assert cli("import", "alpaca-eval", sample / "results", "--results", results).code == 0
    with open(sample / "leaderboard-rows.csv") as handle:
        published = {row[""]: row for row in csv.DictReader(handle)}
    baseline = "gpt4_1106_preview"
    args = ("ratings", "--results", results, "--benchmark", "alpaca-eval", "--bootstrap", "10")
    rows = cli(*args, "--method", "winrate", "--baseline", baseline, "--format", "json").json()
    assert rows
    for row in rows:
        expected = published[row["model"]]
        assert (row["wins"], row["ties"], row["losses"]) == (
            int(expected["n_wins"]),
            int(expected["n_draws"]),
            int(expected["n_wins_base"]),
        )
    bias = cli(*args, "--method", "bias")
    assert bias.code == 0, bias.err
    assert "nan" not in bias.out.lower() and f"shows {baseline} first" in " ".join(bias.err.split())
