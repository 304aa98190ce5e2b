"""The notebook API agrees with the command line on the paper's published judgments."""

import pytest

pd = pytest.importorskip("pandas", reason="the notebook API needs the analysis extra (pandas)")

import arena  # noqa: E402
from arena.analysis import JUDGMENT_COLUMNS, matches_from_frame  # noqa: E402
from arena.errors import ArenaError  # noqa: E402


def test_judgments_and_answers_frames(published_vicuna):
    res = arena.Results(published_vicuna)
    judgments = res.judgments("vicuna80", judge="gpt-4")
    assert tuple(judgments.columns) == JUDGMENT_COLUMNS
    assert len(judgments) == len(res.store.judgments("vicuna80", "gpt-4"))
    assert set(judgments["winner"].dropna()) <= {"model_a", "model_b", "tie"}
    # every judged answer is stored, so every length is known, and it is the stored answer's length
    assert judgments["answer_chars_a"].notna().all() and judgments["answer_chars_b"].notna().all()
    answers = res.answers("vicuna80")
    assert len(answers) == 8 * 80
    row = judgments.iloc[0]
    stored = answers[(answers.model == row.model_a) & (answers.question_id == row.question_id)]
    assert stored["chars"].item() == row.answer_chars_a


def test_leaderboard_equals_the_cli_json(published_vicuna, cli):
    res = arena.Results(published_vicuna)
    for method in ("elo", "bt"):
        frame = res.leaderboard("vicuna80", method=method, judge="gpt-4")
        out = cli(
            "ratings",
            "--benchmark",
            "vicuna80",
            "--method",
            method,
            "--judge",
            "gpt-4",
            "--format",
            "json",
            "--results",
            published_vicuna,
        )
        assert out.code == 0
        expected = out.json()
        assert frame["model"].tolist() == [r["model"] for r in expected]
        assert frame["rating"].tolist() == [r["rating"] for r in expected]
        assert frame["ci_low"].tolist() == [r["ci_low"] for r in expected]


def test_rating_any_dataframe_equals_the_store_path(published_vicuna):
    res = arena.Results(published_vicuna)
    battles = res.judgments("vicuna80", judge="gpt-4", protocol="pairwise")[["model_a", "model_b", "winner"]]
    mine = arena.ratings.bradley_terry(battles, bootstrap=200)
    stored = res.leaderboard("vicuna80", method="bt", judge="gpt-4", bootstrap=200)
    assert mine["model"].tolist() == stored["model"].tolist()
    assert mine["rating"].tolist() == pytest.approx(stored["rating"].tolist(), abs=0.01)
    assert (mine["errors"].sum()) == stored["errors"].sum()


def test_fastchat_battles_shape_and_bad_frames():
    battles = pd.DataFrame(
        {
            "model_a": ["x", "y", "x", "x"],
            "model_b": ["y", "x", "y", "y"],
            "winner": ["model_a", "model_b", "tie (bothbad)", None],
        }
    )
    matches = matches_from_frame(battles)
    assert matches.models == ("x", "y") and list(matches.outcome) == [1.0, 0.0, 0.5]
    assert matches.errors == {"x": 1, "y": 1}
    with pytest.raises(ArenaError, match="missing: winner"):
        matches_from_frame(battles.drop(columns="winner"))
    with pytest.raises(ArenaError, match="row 2: winner 'draw'"):
        matches_from_frame(battles.assign(winner=["model_a", "tie", "draw", "tie"]))


def test_import_arena_does_not_load_pandas():
    import subprocess
    import sys

    code = "import sys, arena; print('pandas' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


@pytest.fixture(scope="module")
def readme_results(published_vicuna, tmp_path_factory):
    """The README's notebook state: the paper's pairwise reviews plus the relative (1-10) sample."""
    import shutil

    from conftest import shared_path

    from arena.cli import main

    results = tmp_path_factory.mktemp("readme") / "results"
    shutil.copytree(published_vicuna, results)
    relative = shared_path("published", "qlora-vicuna-relative-sample")
    assert main(["import", "qlora", str(relative), "--results", str(results)]) == 0
    return results


def test_the_readme_notebook_example_prints_what_the_readme_says(readme_results, cli):
    res = arena.Results(readme_results)
    df = res.judgments("vicuna80", judge="gpt-4", protocol="pairwise")
    assert len(df) == 4480 and set(df["protocol"]) == {"pairwise"}
    assert len(res.judgments("vicuna80", judge="gpt-4")) == 4800  # the relative reviews too
    chars = res.answers("vicuna80").groupby("model")["chars"].mean().round()
    assert (chars["gpt-3.5"], chars["gpt-4"]) == (1206, 2108)
    elo = res.leaderboard("vicuna80", method="elo")
    assert elo[["model", "rating", "ci_low", "ci_high"]].iloc[0].tolist() == ["gpt-4", 1374.52, 1293.64, 1450.85]
    assert elo["rating"].iloc[1] == 1021.49
    bt = arena.ratings.bradley_terry(df[["model_a", "model_b", "winner"]], bootstrap=200)
    ratings = dict(zip(bt["model"], bt["rating"], strict=True))
    assert (ratings["gpt-4"], ratings["gpt-3.5"]) == (1366.3, 963.91)
    out = cli(
        "ratings",
        "--benchmark",
        "vicuna80",
        "--method",
        "bt",
        "--judge",
        "gpt-4",
        "--format",
        "json",
        "--results",
        readme_results,
    )
    assert out.code == 0
    assert [r["rating"] for r in out.json()] == bt["rating"].tolist()  # the CLI's numbers: a point estimate


def test_a_frame_mixing_protocols_is_refused(readme_results):
    mixed = arena.Results(readme_results).judgments("vicuna80", judge="gpt-4")
    for rate in (arena.ratings.bradley_terry, arena.ratings.elo):
        with pytest.raises(ArenaError, match=r"mixes protocols \(pairwise, relative\).*protocol=\"pairwise\""):
            rate(mixed)
    one = mixed[mixed["protocol"] == "pairwise"]
    assert len(arena.ratings.bradley_terry(one, bootstrap=0)) == 8


def test_the_notebook_functions_stay_functions_once_the_rating_modules_are_loaded():
    """`arena.ratings.elo` was once shadowed by the submodule of the same name as soon as a leaderboard had been
    computed (importing arena/ratings/elo.py set the package attribute): the module is now paper_elo."""
    import arena.ratings.bradley_terry_fit
    import arena.ratings.leaderboard
    import arena.ratings.paper_elo  # noqa: F401

    assert callable(arena.ratings.elo) and callable(arena.ratings.bradley_terry)
    frame = pd.DataFrame({"model_a": ["x", "y"] * 10, "model_b": ["y", "x"] * 10, "winner": ["model_a"] * 20})
    assert sorted(arena.ratings.elo(frame, orderings=50)["model"]) == ["x", "y"]
