"""How many judgments hold each place: `arena ratings --method robustness`, its search, and the report and
tournament lines. Every claimed flip is checked the way a reader would: delete the judgments from the store
and rate again through the CLI."""

import json
import shutil

import numpy as np
import pytest

from arena.ratings import robustness
from arena.ratings.matches import Matches
from arena.store import ResultsStore
from arena.store.records import Judgment

BENCH = "b"


def store_with(path, verdicts):
    """verdicts: (model_a, model_b, verdict, judge) rows, each on its own question."""
    ResultsStore(path).save_judgments(
        [Judgment(BENCH, f"q{i}", a, b, judge, "pairwise", v) for i, (a, b, v, judge) in enumerate(verdicts)]
    )
    return path


def robustness_rows(cli, results, *extra, benchmark=BENCH):
    result = cli(
        "ratings", "--benchmark", benchmark, "--results", results, "--method", "robustness", "--format", "json", *extra
    )
    assert result.code == 0, result.err
    return result.json()


def delete_judgments(results, benchmark, removed):
    """Rewrite the judgment logs without the lines of the removed judgments (matched on the fields the row
    gives, as a reader would), returning how many lines went."""
    keys = {(r["question_id"], r["model_a"], r["model_b"], r["judge"], r.get("turn")) for r in removed}
    gone = 0
    for path in (results / benchmark / "judgments").glob("*.jsonl"):
        kept = []
        for line in path.read_text().splitlines():
            record = json.loads(line)
            key = (
                record["question_id"],
                record["model_a"],
                record["model_b"],
                record["judge"],
                (record.get("meta") or {}).get("turn"),
            )
            if key in keys and record["protocol"] == "pairwise":
                gone += 1
            else:
                kept.append(line)
        path.write_text("".join(line + "\n" for line in kept))
    return gone


def rerun(cli, results, benchmark, *extra, method="bt"):
    result = cli(
        "ratings",
        "--benchmark",
        benchmark,
        "--results",
        results,
        "--method",
        method,
        "--format",
        "json",
        *(("--bootstrap", "1") if method == "bt" else ()),
        *extra,
    )
    assert result.code == 0, result.err
    return {row["model"]: row["rating"] for row in result.json()}


# --- the exact two-model answer -----------------------------------------------------------------------
def test_520_against_480_needs_exactly_41(cli, tmp_path):
    results = store_with(tmp_path / "r", [("x", "y", "A", "gpt-4")] * 520 + [("x", "y", "B", "gpt-4")] * 480)
    rows = robustness_rows(cli, results)
    pair = rows[0]
    assert (pair["pair"], pair["higher"], pair["lower"]) == ("neighbours", "x", "y")
    assert pair["flip_count"] == 41 and pair["verified"] is True
    assert pair["flip_share"] == pytest.approx(41 / 1000)
    assert len(pair["removed"]) == 41
    assert all(set(r) >= {"question_id", "model_a", "model_b", "judge"} for r in pair["removed"])
    # Only x's wins help x: 41 of them gone leaves 479 against 480.
    stored = {j.question_id: j.verdict for j in ResultsStore(results).judgments(BENCH)}
    assert {stored[r["question_id"]] for r in pair["removed"]} == {"A"}
    assert rows[-1]["pair"] == "top model" and rows[-1]["flip_count"] == 41
    assert delete_judgments(results, BENCH, pair["removed"]) == 41
    after = rerun(cli, results, BENCH)
    assert after["y"] > after["x"]


def test_40_removed_leaves_a_tie_which_is_no_flip():
    matches = Matches(
        ("x", "y"),
        np.zeros(1000, dtype=np.int64),
        np.ones(1000, dtype=np.int64),
        np.r_[np.ones(520), np.zeros(480)],
        {},
    )
    theta = robustness.bt_fit(matches)
    tied = robustness.bt_fit(robustness.without(matches, np.arange(40)))
    assert tied[0] == pytest.approx(tied[1], abs=1e-9)
    result = robustness.bt_neighbours(matches)[0]
    assert result.flip_count == 41 and result.estimate in (41, 42)  # first order lands within one of the truth
    assert theta[0] > theta[1]


def test_first_order_influence_matches_a_single_removal_refit():
    rng = np.random.default_rng(4)
    strength = rng.normal(0, 0.7, 6)
    a = rng.integers(0, 6, 3000)
    b = (a + rng.integers(1, 6, 3000)) % 6
    outcome = (rng.random(3000) < 1 / (1 + np.exp(strength[b] - strength[a]))).astype(float)
    outcome[rng.random(3000) < 0.15] = 0.5
    matches = Matches(tuple("abcdef"), a, b, outcome, {})
    theta = robustness.bt_fit(matches)
    influence = robustness.gap_influence(matches, theta, np.array([[0, 1], [2, 5]]))
    for m in (0, 7, 100):
        refit = robustness.bt_fit(robustness.without(matches, np.array([m])))
        for column, (hi, lo) in enumerate(((0, 1), (2, 5))):
            actual = (theta[hi] - theta[lo]) - (refit[hi] - refit[lo])
            assert influence[m, column] == pytest.approx(actual, rel=0.02, abs=1e-7)


# --- every reported set, deleted from the store and rated again ----------------------------------------
@pytest.fixture(scope="module")
def vicuna_rows(published_vicuna):
    import contextlib
    import io

    from arena.cli import main

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):  # no bound: every pair gets its count
        assert (
            main(
                [
                    "ratings",
                    "--benchmark",
                    "vicuna80",
                    "--results",
                    str(published_vicuna),
                    "--method",
                    "robustness",
                    "--max-share",
                    "1",
                    "--format",
                    "json",
                ]
            )
            == 0
        )
    return json.loads(buffer.getvalue())


def test_published_vicuna_has_a_count_for_each_pair_of_the_papers_table(cli, vicuna_rows, published_vicuna):
    neighbours = [r for r in vicuna_rows if r["pair"] == "neighbours"]
    assert [r["higher"] for r in neighbours] + [neighbours[-1]["lower"]] == [
        "gpt-4",
        "guanaco-65b",
        "guanaco-33b",
        "vicuna-13b",
        "gpt-3.5",
        "guanaco-13b",
        "bard",
        "guanaco-7b",
    ]
    for row in neighbours:
        assert row["verified"] and row["flip_count"] == len(row["removed"]) > 0
        assert row["flip_share"] == pytest.approx(row["flip_count"] / 4467, abs=1e-6)
    # The closest pair (8 points) is the most fragile; GPT-4's lead of ~350 points the least.
    assert min(neighbours, key=lambda r: r["flip_count"])["higher"] == "vicuna-13b"
    assert max(neighbours, key=lambda r: r["flip_count"])["higher"] == "gpt-4"
    top = next(r for r in vicuna_rows if r["pair"] == "top model")
    assert top["higher"] == "gpt-4" and top["flip_count"] <= neighbours[0]["flip_count"]
    # Within the default bound (10% of the judgments) GPT-4's lead holds; the others are the same counts.
    bounded = [r for r in robustness_rows(cli, published_vicuna, benchmark="vicuna80") if r["pair"] == "neighbours"]
    assert bounded[0]["bound"] == 446 < neighbours[0]["flip_count"]
    assert not bounded[0]["verified"] and bounded[0]["flip_count"] is None and bounded[0]["removed"] == []
    assert [r["flip_count"] for r in bounded[1:]] == [r["flip_count"] for r in neighbours[1:]]


def test_each_removed_set_flips_through_the_cli_and_one_judgment_fewer_does_not(
    cli, vicuna_rows, published_vicuna, tmp_path
):
    for row in [r for r in vicuna_rows if r["verified"] and r["pair"] == "neighbours"]:
        for removed, flips in ((row["removed"], True), (row["removed"][:-1], False)):
            results = tmp_path / f"{row['place']}-{flips}"
            shutil.copytree(published_vicuna, results)
            assert delete_judgments(results, "vicuna80", removed) == len(removed)
            ratings = rerun(cli, results, "vicuna80")
            assert (ratings[row["lower"]] > ratings[row["higher"]]) is flips, (row["place"], flips)


def test_unreadable_verdicts_are_never_removed(cli, vicuna_rows, published_vicuna, tmp_path):
    errors = {
        (j.question_id, j.model_a, j.model_b)
        for j in ResultsStore(published_vicuna).judgments("vicuna80")
        if j.verdict == "error"
    }
    assert len(errors) == 13
    removed = {(r["question_id"], r["model_a"], r["model_b"]) for row in vicuna_rows for r in row["removed"]}
    assert removed and not removed & errors
    # A pair drowned in errors: the errors change nothing, and none is ever offered for removal.
    verdicts = [("x", "y", "A", "gpt-4")] * 60 + [("x", "y", "B", "gpt-4")] * 40 + [("x", "y", "error", "gpt-4")] * 300
    results = store_with(tmp_path / "errors", verdicts)
    row = robustness_rows(cli, results, "--max-share", "1")[0]
    assert row["flip_count"] == 21 and row["matches"] == 100
    ids = {j.judgment_id for j in ResultsStore(results).judgments(BENCH) if j.verdict == "error"}
    assert not {r["judgment_id"] for r in row["removed"]} & ids


def test_a_pair_decided_by_one_judges_wide_margin_needs_many_removals(cli, tmp_path):
    """Judge `split` sees x and y as equals (500 each); judge `sure` prefers x 150 to 50. Pooled, x leads
    only because of `sure`, and 101 of its verdicts must go before y is ahead: a large count, though the
    pair is close on the pooled record."""
    verdicts = (
        [("x", "y", "A", "split")] * 500
        + [("x", "y", "B", "split")] * 500
        + [("x", "y", "A", "sure")] * 150
        + [("x", "y", "B", "sure")] * 50
    )
    results = store_with(tmp_path / "r", verdicts)
    pooled = robustness_rows(cli, results, "--pool-judges")[0]
    assert pooled["flip_count"] == 101
    assert {r["judge"] for r in pooled["removed"]} <= {"split", "sure"}
    sure = robustness_rows(cli, results, "--judge", "sure", "--max-share", "1")[0]
    assert sure["flip_count"] == 101 and sure["flip_share"] > 0.5  # half its verdicts
    split = robustness_rows(cli, results, "--judge", "split")[0]
    assert split["verified"] and split["flip_count"] == 1  # a dead heat: any one verdict decides it


def test_elo_sets_flip_the_papers_elo_on_a_rerun(cli, tmp_path):
    rng = np.random.default_rng(2)
    strength = {"x": 0.3, "y": 0.15, "z": 0.0}
    verdicts = []
    for _ in range(900):
        a, b = rng.choice(list(strength), 2, replace=False)
        p = 1 / (1 + np.exp(strength[b] - strength[a]))
        verdicts.append((a, b, "A" if rng.random() < p else "B", "gpt-4"))
    results = store_with(tmp_path / "r", verdicts)
    rows = robustness_rows(cli, results, "--rating", "elo", "--orderings", "200")
    checked = 0
    for row in [r for r in rows if r["verified"] and r["pair"] == "neighbours"]:
        for removed, flips in ((row["removed"], True), (row["removed"][:-1], False)):
            copy = tmp_path / f"copy-{row['place']}-{flips}"
            shutil.copytree(results, copy)
            delete_judgments(copy, BENCH, removed)
            ratings = rerun(cli, copy, BENCH, "--orderings", "200", method="elo")
            assert (ratings[row["lower"]] > ratings[row["higher"]]) is flips
            checked += 1
    assert checked >= 2


def test_fastchat_turns_name_the_removed_judgments(cli, tmp_path):
    folder = tmp_path / "fc" / "model_judgment"
    folder.mkdir(parents=True)
    rows = []
    for q in range(40):
        for turn in (1, 2):
            winner = "model_1" if (q + turn) % 5 else "model_2"
            rows.append(
                {
                    "question_id": q,
                    "model_1": "x",
                    "model_2": "y",
                    "g1_winner": winner,
                    "g2_winner": winner,
                    "judge": ["gpt-4", "pair-v2"],
                    "turn": turn,
                }
            )
    (folder / "gpt-4_pair.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    results = tmp_path / "r"
    assert cli("import", "fastchat", tmp_path / "fc", "--benchmark", "mt-bench", "--results", results).code == 0
    row = robustness_rows(cli, results, "--max-share", "1", benchmark="mt-bench")[0]
    assert row["verified"] and all(r["turn"] in (1, 2) for r in row["removed"])
    assert delete_judgments(results, "mt-bench", row["removed"]) == row["flip_count"]
    after = rerun(cli, results, "mt-bench")
    assert after[row["lower"]] > after[row["higher"]]


def test_table_and_top_model_line(cli, tmp_path):
    results = store_with(
        tmp_path / "r",
        [("x", "y", "A", "gpt-4")] * 30
        + [("x", "y", "B", "gpt-4")] * 20
        + [("y", "z", "A", "gpt-4")] * 40
        + [("y", "z", "B", "gpt-4")] * 10,
    )
    result = cli("ratings", "--benchmark", BENCH, "--results", results, "--method", "robustness")
    assert result.code == 0
    assert "Judgments holding each place" in result.out
    assert "Fewest judgments that change the top model" in result.out


@pytest.mark.parametrize(
    "extra, message",
    [
        (("--max-share", "0"), "--max-share"),
        (("--max-share", "1.5"), "--max-share"),
        (("--rating", "glicko"), "--rating"),
        (("--judge", "nobody"), "nobody"),
    ],
)
def test_bad_options_are_one_message_and_exit_2(cli, tmp_path, extra, message):
    results = store_with(tmp_path / "r", [("x", "y", "A", "gpt-4")] * 3)
    result = cli("ratings", "--benchmark", BENCH, "--results", results, "--method", "robustness", *extra)
    assert result.code == 2 and message in result.err and "Traceback" not in result.err


def test_every_judgment_an_error_is_a_message(cli, tmp_path):
    results = store_with(tmp_path / "r", [("x", "y", "error", "gpt-4")] * 3)
    result = cli("ratings", "--benchmark", BENCH, "--results", results, "--method", "robustness")
    assert result.code == 2 and "error" in result.err


# --- the report column and the tournament line -----------------------------------------------------------
def test_report_shows_how_many_judgments_hold_each_place(cli, tmp_path):
    results = store_with(
        tmp_path / "r",
        [("x", "y", "A", "gpt-4")] * 520
        + [("x", "y", "B", "gpt-4")] * 480
        + [("y", "z", "A", "gpt-4")] * 300
        + [("y", "z", "B", "gpt-4")] * 100,
    )
    out = tmp_path / "report"
    assert (
        cli(
            "report",
            "--benchmark",
            BENCH,
            "--results",
            results,
            "--out",
            out,
            "--orderings",
            "100",
            "--bootstrap",
            "20",
        ).code
        == 0
    )
    html = (out / "index.html").read_text()
    table = html[html.index('id="bt-gpt-4"') :]
    table = table[: table.index("</table>")]
    expected = robustness.bt_neighbours(robustness_matches(results))
    assert expected[0].flip_count is not None
    for result in expected:
        count = result.flip_count
        assert (f"held by {count} judgments" if count is not None else "held by more than") in table
    assert table.count("held by") == 2  # the last place holds nothing


def robustness_matches(results):
    from arena.ratings.matches import build_matches

    return build_matches(ResultsStore(results).judgments(BENCH))


def test_tournament_prints_the_top_pairs_count(cli, published_vicuna, tmp_path):
    result = cli(
        "tournament",
        "--benchmark",
        "vicuna80",
        "--judge",
        f"replay:{published_vicuna}:gpt-4",
        "--models",
        "guanaco-65b",
        "guanaco-33b",
        "vicuna-13b",
        "--results",
        tmp_path / "t",
        "--orderings",
        "100",
        "--bootstrap",
        "20",
    )
    assert result.code == 0, result.err
    line = next(line for line in result.out.splitlines() if line.startswith("Top place:"))
    judgments = [j for j in ResultsStore(tmp_path / "t").judgments("vicuna80")]
    from arena.ratings.matches import build_matches

    top = robustness.bt_neighbours(build_matches(judgments), places=1)[0]
    assert f"held by {top.flip_count} of" in line and "guanaco-65b over guanaco-33b" in line


def test_json_rows_name_their_judge_even_with_one_judge(cli, tmp_path):
    results = store_with(tmp_path / "r", [("x", "y", "A", "gpt-4")] * 30 + [("x", "y", "B", "gpt-4")] * 20)
    rows = robustness_rows(cli, results)
    assert rows and all(row["judge"] == "gpt-4" for row in rows)
