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
