"""`arena ratings` with judges that differ in what they can rate: one judge's errors or missing baseline never
blocks the others; exit 2 only when no judge has anything to rate, naming what each lacks."""

from __future__ import annotations

import random
from itertools import combinations

import pytest

MODELS = ("m0", "m1", "m2", "m3")


def _store(root, relative: bool = False) -> None:
    """loopjudge judged every pair of m0-m3 (12 questions, both orders: 144 judgments); garbjudge judged m0
    vs m1 and every reply was unreadable (24 errors)."""
    from arena.store import Judgment, ResultsStore

    rng = random.Random(3)
    protocol = "relative" if relative else "pairwise"
    good = []
    for q in range(12):
        for a, b in combinations(MODELS, 2):
            for first, second in ((a, b), (b, a)):
                scores = dict(score_a=rng.uniform(5, 9), score_b=rng.uniform(5, 9)) if relative else {}
                verdict = rng.choice(["A", "B", "tie"])
                good.append(
                    Judgment(
                        "sample", str(q), first, second, "loopjudge", protocol, verdict, category="writing", **scores
                    )
                )
    errors = [
        Judgment("sample", str(q), first, second, "garbjudge", protocol, "error", category="writing")
        for q in range(12)
        for first, second in (("m0", "m1"), ("m1", "m0"))
    ]
    ResultsStore(root).save_judgments(good + errors)


@pytest.mark.parametrize("method", ["elo", "bt"])
def test_an_all_error_judge_leaves_the_others_rated(cli, tmp_path, method):
    _store(tmp_path / "r")
    result = cli("ratings", "--benchmark", "sample", "--results", tmp_path / "r", "--method", method,
                 "--bootstrap", "10", "--orderings", "10")  # fmt: skip
    assert result.code == 0, result.err
    assert "judge loopjudge" in result.out and "m3" in result.out
    assert "garbjudge" in result.err and "--retry-errors" in result.err


def test_only_all_error_judges_is_exit_2_naming_them(cli, tmp_path):
    _store(tmp_path / "r")
    result = cli("ratings", "--benchmark", "sample", "--results", tmp_path / "r", "--judge", "garbjudge")
    assert result.code == 2 and "garbjudge" in result.err and "--retry-errors" in result.err
    assert "Traceback" not in result.err


@pytest.mark.parametrize(
    "extra",
    [
        ("--method", "winrate"),
        ("--method", "winrate", "--control", "length"),
        ("--method", "bt"),
    ],
)
def test_a_baseline_one_judge_lacks_rates_the_judges_that_have_it(cli, tmp_path, extra):
    _store(tmp_path / "r")
    if "--control" in extra:  # length control needs the answers
        from arena.store import Answer, ResultsStore

        ResultsStore(tmp_path / "r").save_answers(
            [Answer("sample", str(q), m, ["word " * (3 + i)]) for q in range(12) for i, m in enumerate(MODELS)]
        )
    result = cli("ratings", "--benchmark", "sample", "--results", tmp_path / "r", "--baseline", "m3",
                 "--bootstrap", "10", *extra)  # fmt: skip
    assert result.code == 0, result.err
    assert "loopjudge" in result.out and "garbjudge" in result.err  # all errors or without m3: not rated


def test_relative_and_by_category_skip_a_judge_without_the_baseline(cli, tmp_path):
    _store(tmp_path / "r", relative=True)
    for extra in ((), ("--by-category",)):
        result = cli("ratings", "--benchmark", "sample", "--results", tmp_path / "r", "--method", "relative",
                     "--baseline", "m3", "--bootstrap", "10", *extra)  # fmt: skip
        assert result.code == 0, result.err
        assert "loopjudge" in result.out and "skipped judge garbjudge" in result.err


def test_a_baseline_no_judge_has_names_what_each_covers(cli, tmp_path):
    _store(tmp_path / "r")
    result = cli("ratings", "--benchmark", "sample", "--results", tmp_path / "r", "--method", "winrate",
                 "--baseline", "m9")  # fmt: skip
    assert result.code == 2, result.err
    assert "judge loopjudge covers m0, m1, m2, m3" in result.err and "judge garbjudge covers m0, m1" in result.err


def test_report_with_a_baseline_one_judge_lacks(cli, tmp_path):
    _store(tmp_path / "r", relative=True)
    common = ("report", "--benchmark", "sample", "--results", tmp_path / "r", "--bootstrap", "10")
    result = cli(*common, "--out", tmp_path / "o", "--baseline", "m3")
    assert result.code == 0, result.err
    assert "garbjudge" in result.err and (tmp_path / "o").is_dir()
    missing = cli(*common, "--out", tmp_path / "o2", "--baseline", "m9")
    assert missing.code == 2 and "judge loopjudge covers m0, m1, m2, m3" in missing.err, missing.err


@pytest.mark.parametrize("method", ["bt", "elo", "winrate"])
def test_pairwise_methods_on_single_grades_point_to_method_score(cli, tmp_path, method):
    from arena.store import Judgment, ResultsStore

    ResultsStore(tmp_path / "r").save_judgments(
        [
            Judgment("sample", str(q), m, "", "gradejudge", "single", "graded", score_a=7.0)
            for q in range(4)
            for m in MODELS
        ]
    )
    result = cli("ratings", "--benchmark", "sample", "--results", tmp_path / "r", "--method", method,
                 "--baseline", "m0")  # fmt: skip
    assert result.code == 2 and "--method score" in result.err, result.err
