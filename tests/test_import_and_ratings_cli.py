import csv
import io
import json
import random
import shutil

import pytest
from conftest import shared_path, write_jsonl

from arena.interop.qlora import parse_review_file_name, readable_model_name
from arena.store import ResultsStore

SUFFIX = "-vicuna-generations-topp0.9-temp0.7"


@pytest.fixture
def sample_ratings():
    return shared_path("published", "qlora-vicuna-pairwise-sample", "ratings")


@pytest.fixture
def imported(cli, tmp_path, sample_ratings):
    results = tmp_path / "results"
    result = cli("import", "qlora", sample_ratings, "--benchmark", "vicuna80", "--judge", "gpt-4", "--results", results)
    assert result.code == 0, result.err
    return results, result


def test_import_counts_errors_and_is_idempotent(cli, imported, sample_ratings):
    results, first = imported
    assert "480 judgments (480 pairwise): 480 added" in first.err
    assert "9 reviews could not be parsed" in first.err
    judgments = ResultsStore(results).judgments("vicuna80")
    assert len(judgments) == 480
    assert sum(j.verdict == "error" for j in judgments) == 9
    assert {j.model_a for j in judgments} == {"guanaco-7b", "guanaco-13b", "guanaco-33b"}
    one = next(j for j in judgments if j.source.startswith("qlora:13b-") and j.question_id == "1")
    assert one.meta["original_model_a"] == "13b-guanaco" + SUFFIX
    assert one.explanation and one.raw
    again = cli("import", "qlora", sample_ratings, "--benchmark", "vicuna80", "--judge", "gpt-4", "--results", results)
    assert again.code == 0 and "0 added, 480 already stored" in again.err
    assert len(ResultsStore(results).judgments("vicuna80")) == 480


def _elo_by_hand(folder, orderings=200, seed=0):
    """Independent reading of the raw files and a textbook Elo loop."""
    matches = []
    for path in sorted(folder.glob("*-threeclass.jsonl")):
        first, rest = path.name.split("-vs-")
        second = rest.split(SUFFIX)[0]
        for line in path.read_text().splitlines():
            score = json.loads(line)["score"]
            if score in (1, 2, 3):
                matches.append((first.split("-")[0], second.split("-")[0], {1: 1.0, 2: 0.0, 3: 0.5}[score]))
    rng = random.Random(seed)
    totals = {}
    for _ in range(orderings):
        rng.shuffle(matches)
        rating = {m: 1000.0 for pair in matches for m in pair[:2]}
        for a, b, s in matches:
            expected = 1 / (1 + 10 ** ((rating[b] - rating[a]) / 400))
            rating[a] += 32 * (s - expected)
            rating[b] -= 32 * (s - expected)
        for m, r in rating.items():
            totals[m] = totals.get(m, 0) + r / orderings
    return sorted(totals, key=totals.get, reverse=True)


def test_elo_reproduces_the_order_computed_by_hand(cli, imported, sample_ratings):
    results, _ = imported
    rows = cli("ratings", "--results", results, "--benchmark", "vicuna80", "--method", "elo", "--format", "json").json()
    by_hand = _elo_by_hand(sample_ratings)
    assert [r["model"] for r in rows] == [f"guanaco-{size.replace('30b', '33b')}" for size in by_hand]
    assert [r["model"] for r in rows] == ["guanaco-33b", "guanaco-13b", "guanaco-7b"]
    assert sum(r["errors"] for r in rows) == 18  # each unparsed review touches two models
    assert all(r["ci_low"] < r["rating"] < r["ci_high"] for r in rows)


def test_bt_json_shape(cli, imported):
    results, _ = imported
    result = cli(
        "ratings",
        "--results",
        results,
        "--benchmark",
        "vicuna80",
        "--method",
        "bt",
        "--bootstrap",
        "200",
        "--format",
        "json",
    )
    rows = result.json()
    assert [r["model"] for r in rows] == ["guanaco-33b", "guanaco-13b", "guanaco-7b"]
    for row in rows:
        assert set(row) == {
            "judge",
            "model",
            "rating",
            "ci_low",
            "ci_high",
            "matches",
            "wins",
            "losses",
            "ties",
            "errors",
        }
        assert row["matches"] == row["wins"] + row["losses"] + row["ties"]
    assert sum(r["rating"] for r in rows) == pytest.approx(3000, abs=0.05)
    anchored = cli(
        "ratings",
        "--results",
        results,
        "--benchmark",
        "vicuna80",
        "--method",
        "bt",
        "--bootstrap",
        "10",
        "--baseline",
        "guanaco-7b",
        "--format",
        "json",
    ).json()
    assert next(r for r in anchored if r["model"] == "guanaco-7b")["rating"] == 1000


def test_csv_and_table_formats(cli, imported):
    results, _ = imported
    out = cli("ratings", "--results", results, "--benchmark", "vicuna80", "--orderings", "100", "--format", "csv").out
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 3 and rows[0]["model"] == "guanaco-33b"
    table = cli("ratings", "--results", results, "--benchmark", "vicuna80", "--orderings", "100").out
    assert "guanaco-33b" in table and "Elo" in table
    bias = cli(
        "ratings", "--results", results, "--benchmark", "vicuna80", "--method", "bias", "--format", "json"
    ).json()
    assert bias[0]["judge"] == "gpt-4" and bias[0]["first_win_share"] > 0.5 and bias[0]["errors"] == 9


def test_relative_reviews_and_percent_of_baseline(cli, tmp_path):
    folder = tmp_path / "reviews"
    folder.mkdir()
    name = "answer-gpt35-vs-7b-guanaco" + SUFFIX + "-gpt-4-reviewer.jsonl"
    write_jsonl(
        folder / name,
        [
            {"question_id": q, "score": s, "text": "t", "review_id": f"r{q}"}
            for q, s in [(1, [9, 7]), (2, [8, 8]), (3, [-1, -1])]
        ],
    )
    reverse = "7b-guanaco" + SUFFIX + "-vs-answer-gpt35-gpt-4-reviewer.jsonl"
    write_jsonl(folder / reverse, [{"question_id": q, "score": s, "text": "t"} for q, s in [(1, [6, 9]), (2, [9, 8])]])
    results = tmp_path / "results"
    assert cli("import", "qlora", folder, "--benchmark", "vicuna80", "--results", results).code == 0
    rows = cli(
        "ratings",
        "--results",
        results,
        "--benchmark",
        "vicuna80",
        "--method",
        "relative",
        "--baseline",
        "gpt-3.5",
        "--format",
        "json",
    ).json()
    (row,) = rows
    assert row["model"] == "guanaco-7b"
    assert row["baseline_first"] == pytest.approx(round(100 * 15 / 17, 2))
    assert row["candidate_first"] == pytest.approx(round(100 * 15 / 17, 2))
    assert row["errors"] == 1 and row["questions"] == 2
    unknown = cli(
        "ratings", "--results", results, "--benchmark", "vicuna80", "--method", "relative", "--baseline", "bard"
    )
    assert (
        unknown.code == 2 and "no judge judged baseline 'bard' (judge gpt-4 covers gpt-3.5, guanaco-7b)" in unknown.err
    )


def test_fastchat_judgments_pairwise_and_single(cli, tmp_path):
    folder = tmp_path / "bench" / "model_judgment"
    folder.mkdir(parents=True)
    write_jsonl(
        folder / "gpt-4_pair.jsonl",
        [
            {
                "question_id": 81,
                "model_1": "vicuna",
                "model_2": "llama",
                "g1_winner": "model_1",
                "g2_winner": "model_1",
                "judge": ["gpt-4", "pair-v2"],
                "g1_judgment": "[[A]]",
                "g2_judgment": "[[B]]",
                "turn": 1,
            },
            {
                "question_id": 82,
                "model_1": "vicuna",
                "model_2": "llama",
                "g1_winner": "tie",
                "g2_winner": "error",
                "judge": ["gpt-4", "pair-v2"],
                "turn": 1,
            },
        ],
    )
    write_jsonl(
        folder / "gpt-4_single.jsonl",
        [
            {
                "question_id": 81,
                "model": "vicuna",
                "judge": ["gpt-4", "single-v1"],
                "score": 8,
                "judgment": "[[8]]",
                "turn": 1,
            },
            {
                "question_id": 82,
                "model": "vicuna",
                "judge": ["gpt-4", "single-v1"],
                "score": -1,
                "judgment": "?",
                "turn": 1,
            },
        ],
    )
    results = tmp_path / "results"
    assert cli("import", "fastchat", tmp_path / "bench", "--benchmark", "mt-bench", "--results", results).code == 0
    judgments = ResultsStore(results).judgments("mt-bench")
    pair = sorted((j.question_id, j.model_a, j.verdict) for j in judgments if j.protocol == "pairwise")
    # g2 shows model_2 first, so model_1 winning there is a win for the second-shown answer.
    assert pair == [("81", "llama", "B"), ("81", "vicuna", "A"), ("82", "llama", "error"), ("82", "vicuna", "tie")]
    single = sorted((j.question_id, j.verdict, j.score_a) for j in judgments if j.protocol == "single")
    assert single == [("81", "graded", 8.0), ("82", "error", None)]
    assert cli("import", "fastchat", tmp_path / "bench", "--benchmark", "mt-bench", "--results", results).code == 0
    assert len(ResultsStore(results).judgments("mt-bench")) == 6


def test_review_file_names():
    parsed = parse_review_file_name(
        __import__("pathlib").Path("answer-gpt35-vs-65b-guanaco" + SUFFIX + "-gpt4-reviewer-threeclass.jsonl")
    )
    assert (parsed.model_a, parsed.reviewer, parsed.pairwise) == ("answer-gpt35", "gpt4", True)
    assert readable_model_name(parsed.model_b) == "guanaco-65b"
    assert readable_model_name("30b-guanaco" + SUFFIX) == "guanaco-33b"
    assert readable_model_name("13b-vicuna") == "vicuna-13b"
    assert readable_model_name("bard") == "bard"


@pytest.mark.parametrize(
    "bad_name, message",
    [
        ("guanaco-and-gpt35-gpt-4-reviewer.jsonl", "has no '-vs-'"),
        ("a-vs-b-gpt-4.jsonl", "does not end in '-reviewer"),
    ],
)
def test_bad_review_file_name_imports_nothing(cli, tmp_path, sample_ratings, bad_name, message):
    folder = tmp_path / "reviews"
    shutil.copytree(sample_ratings, folder)
    write_jsonl(folder / bad_name, [{"question_id": 1, "score": 1, "text": "t"}])
    result = cli("import", "qlora", folder, "--benchmark", "vicuna80", "--results", tmp_path / "results")
    assert result.code == 2 and bad_name in result.err and message in result.err
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").rglob("*.jsonl"))


@pytest.mark.parametrize(
    "line, message",
    [
        ("{not json", ":2: not valid JSON"),
        ('{"question_id": 2, "text": "t"}', ":2: missing field 'score'"),
        ('{"question_id": 2, "score": 7, "text": "t"}', ":2: field 'score' must be 1, 2, 3 or -1"),
        ('{"question_id": 1, "score": 1, "text": "t"}', ":2: duplicate question id '1'"),
    ],
)
def test_bad_review_line_names_file_and_line_and_imports_nothing(cli, tmp_path, sample_ratings, line, message):
    folder = tmp_path / "reviews"
    shutil.copytree(sample_ratings, folder)
    target = sorted(folder.glob("*.jsonl"))[-1]
    first = target.read_text().splitlines()[0]
    target.write_text(first + "\n" + line + "\n")
    result = cli("import", "qlora", folder, "--benchmark", "vicuna80", "--results", tmp_path / "results")
    assert result.code == 2 and f"{target.name}{message}" in result.err
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").rglob("*.jsonl"))


def test_ratings_without_judgments_or_with_unknown_judge(cli, imported, tmp_path):
    results, _ = imported
    empty = cli("ratings", "--results", tmp_path / "nothing", "--benchmark", "vicuna80")
    assert empty.code == 2 and "no judgments stored for prompt set 'vicuna80'" in empty.err
    other_set = cli("ratings", "--results", results, "--benchmark", "oa953")
    assert other_set.code == 2 and "sets with judgments there: vicuna80" in other_set.err
    wrong_judge = cli("ratings", "--results", results, "--benchmark", "vicuna80", "--judge", "claude")
    assert wrong_judge.code == 2 and "by claude" in wrong_judge.err and "pairwise judgments: gpt-4" in wrong_judge.err
    no_baseline = cli(
        "ratings", "--results", results, "--benchmark", "vicuna80", "--method", "bt", "--baseline", "gpt-9"
    )
    assert (
        no_baseline.code == 2 and "no judge judged baseline 'gpt-9' (judge gpt-4 covers guanaco-13b" in no_baseline.err
    )
    missing_dir = cli("import", "qlora", tmp_path / "nope", "--benchmark", "vicuna80", "--results", results)
    assert missing_dir.code == 2 and "not a directory" in missing_dir.err


def test_agreement_between_two_judges(cli, imported, tmp_path):
    results, _ = imported
    store = ResultsStore(results)
    from dataclasses import replace

    gpt = store.judgments("vicuna80", "gpt-4")
    flipped = {"A": "B", "B": "A"}
    human = [
        replace(
            j, judge="human", judgment_id="", verdict=flipped.get(j.verdict, j.verdict) if i % 5 == 0 else j.verdict
        )
        for i, j in enumerate(gpt)
    ]
    store.save_judgments([replace(h, judgment_id="") for h in human])
    rows = cli(
        "ratings",
        "--results",
        results,
        "--benchmark",
        "vicuna80",
        "--method",
        "agreement",
        "--judge",
        "gpt-4",
        "--judge",
        "human",
        "--format",
        "json",
    ).json()
    (row,) = rows
    assert row["items"] == 471 and 0.75 < row["agreement"] < 0.9 and 0 < row["cohen_kappa"] < 1
    assert row["ranked_models"] == 3
    single = cli(
        "ratings", "--results", results, "--benchmark", "vicuna80", "--method", "agreement", "--judge", "gpt-4"
    )
    assert single.code == 2 and "two or more judges" in single.err
