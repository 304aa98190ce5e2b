"""Judge panels (majority verdicts, mean grades, agreement and Fleiss' kappa) and self-preference.

The panel below is built so every figure can be worked out by hand. Models x, y, z; 10 questions; each pair in
both orders (60 items). Judge j1 always says the answer shown first won; j2 knows the truth x > y > z; judge
`z` (its name is a contestant's) gives every match its own model plays to z and calls x-y a tie.

    order   j1  j2  z     majority        order   j1  j2  z     majority
    x,y     A   A   tie   A (x)           y,x     A   B   tie   tie (no majority)
    x,z     A   A   B     A (x)           z,x     A   B   A     A (z)
    y,z     A   A   B     A (y)           z,y     A   B   A     A (z)

Per question the panel gives x: 2 wins, 1 tie, 1 loss; y: 1 win, 1 tie, 2 losses; z: 2 wins, 2 losses.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from conftest import write_jsonl
from openai_server import OpenAICompatibleServer

from arena.errors import EXIT_BUDGET_STOPPED
from arena.prompts import load_prompt_set
from arena.ratings import panel
from arena.ratings.judge_panel import own_models, panel_judgments, self_preference_rows
from arena.ratings.matches import build_matches
from arena.store import Judgment, ResultsStore

TRUTH = {"x": 3, "y": 2, "z": 1}
QUESTIONS = [str(q) for q in range(1, 11)]
ORDERS = [("x", "y"), ("y", "x"), ("x", "z"), ("z", "x"), ("y", "z"), ("z", "y")]


def _verdict(judge: str, a: str, b: str) -> str:
    if judge == "j1":
        return "A"
    if judge == "j2":
        return "A" if TRUTH[a] > TRUTH[b] else "B"
    return "A" if a == "z" else "B" if b == "z" else "tie"


def _panel_judgments(judges=("j1", "j2", "z"), benchmark="panelset") -> list[Judgment]:
    return [
        Judgment(benchmark, q, a, b, judge, "pairwise", _verdict(judge, a, b), source="test")
        for judge in judges
        for q in QUESTIONS
        for a, b in ORDERS
    ]


@pytest.fixture
def panel_store(tmp_path):
    results = tmp_path / "results"
    ResultsStore(results).save_judgments(_panel_judgments())
    return results


# --- the maths -----------------------------------------------------------------------------------------------
def test_majority_needs_more_than_half_of_the_votes_and_a_quorum():
    A, B, T, N = 0, 1, 2, panel.NO_VOTE
    votes = np.array([[A, A, T], [A, B, T], [B, B, A], [A, B, N], [A, A, N], [A, N, N], [T, T, B]])
    assert panel.majority_verdicts(votes).tolist() == [A, T, B, T, A, N, T]


def test_fleiss_kappa_equals_the_hand_computation():
    # counts (A, B, tie): P_i = 1, 1/3, 1/3, 0 -> mean 5/12; shares 6/12, 4/12, 2/12 -> P_e = 7/18;
    # kappa = (5/12 - 7/18) / (1 - 7/18) = 1/22.
    counts = np.array([[3, 0, 0], [2, 1, 0], [0, 2, 1], [1, 1, 1]])
    assert panel.fleiss_kappa(counts) == pytest.approx(1 / 22)
    assert panel.fleiss_kappa(np.array([[3, 0], [0, 3]])) == pytest.approx(1.0)
    # The worked example of the Wikipedia article on Fleiss' kappa: 10 items, 14 raters, 5 classes, kappa 0.210.
    worked = np.array(
        [
            [0, 0, 0, 0, 14],
            [0, 2, 6, 4, 2],
            [0, 0, 3, 5, 6],
            [0, 3, 9, 2, 0],
            [2, 2, 8, 1, 1],
            [7, 7, 0, 0, 0],
            [3, 2, 6, 3, 0],
            [2, 5, 3, 2, 2],
            [6, 5, 2, 1, 0],
            [0, 2, 2, 3, 7],
        ]
    )
    assert panel.fleiss_kappa(worked) == pytest.approx(0.210, abs=5e-4)
    with pytest.raises(ValueError):
        panel.fleiss_kappa(np.array([[3, 0, 0], [1, 0, 0]]))


def test_mean_grades_need_a_quorum():
    grades = np.array([[8, 6, 7], [9, np.nan, 5], [4, np.nan, np.nan]], dtype=float)
    means = panel.mean_grades(grades)
    assert means[:2].tolist() == [7.0, 7.0] and np.isnan(means[2])


def test_a_panel_verdict_carries_no_member_s_soft_preference():
    soft = Judgment("s", "1", "x", "y", "j1", "pairwise", "B", preference_b=0.9, score_a=2, score_b=8)
    hard = [Judgment("s", "1", "x", "y", judge, "pairwise", "A") for judge in ("j2", "j3")]
    (verdict,) = panel_judgments([soft, *hard], ["j1", "j2", "j3"], "majority")
    assert (verdict.verdict, verdict.preference_b, verdict.score_a, verdict.judge) == (
        "A",
        None,
        None,
        "panel-majority",
    )
    assert build_matches([verdict]).outcome.tolist() == [1.0]
    assert verdict.meta["votes"] == {"j1": "B", "j2": "A", "j3": "A"}


def test_panel_judgments_mean_grade_per_question_model_and_turn():
    def grade(judge, q, turn, score):
        return Judgment("mt", q, "m", "", judge, "single", "graded", score_a=score, meta={"turn": turn})

    judgments = [
        grade("g1", "81", 1, 8),
        grade("g2", "81", 1, 6),
        grade("g3", "81", 1, 10),
        grade("g1", "81", 2, 3),
        grade("g2", "81", 2, 4),
        Judgment("mt", "81", "m", "", "g3", "single", "error", meta={"turn": 2}),
        grade("g1", "82", 1, 9),
    ]  # one grade of three: no quorum, no panel grade
    panel_grades = panel_judgments(judgments, ["g1", "g2", "g3"], "mean")
    assert [(j.question_id, j.meta["turn"], j.score_a, j.verdict) for j in panel_grades] == [
        ("81", 1, 8.0, "graded"),
        ("81", 2, 3.5, "graded"),
    ]
    assert panel_grades[1].meta["votes"] == {"g1": 3.0, "g2": 4.0, "g3": None}
    assert panel_grades[0].judgment_id != panel_grades[1].judgment_id and panel_grades[0].judge == "panel-mean"


def test_self_preference_against_other_judges_and_against_the_field():
    judgments = _panel_judgments()
    own = own_models(["j1", "j2", "z"], {"x", "y", "z"}, {})
    assert own == {"z": "z"}
    (row,) = self_preference_rows(judgments, own)
    # z gives itself all 40 of its matches; j1 and j2 give z 0, 0.5, 0, 0.5 on its four orders: 0.25.
    assert (row["matches"], row["own_win_rate"], row["reference_win_rate"]) == (40, 1.0, 0.25)
    assert row["difference"] == pytest.approx(0.75) and row["ci_low"] > 0.5
    (alone,) = self_preference_rows(_panel_judgments(("z",)), own)
    # With no other judge: the field (x and y) took half the points from z's opponents (x-y ties): 0.5.
    assert alone["reference_win_rate"] == 0.5 and alone["difference"] == pytest.approx(0.5)
    assert "field" in alone["reference"]


def test_own_model_by_name_replay_name_or_declaration(tmp_path):
    contestants = {"gpt-4", "guanaco-7b"}
    assert own_models(
        ["gpt-4", "replay-gpt-4", "claude", "openai:gpt-4-0613"], contestants, {"openai:gpt-4-0613": "gpt-4"}
    ) == {"gpt-4": "gpt-4", "replay-gpt-4": "gpt-4", "openai:gpt-4-0613": "gpt-4"}


# --- arena ratings ---------------------------------------------------------------------------------------------
def _rows_by_judge(rows):
    out = {}
    for row in rows:
        out.setdefault(row["judge"], {})[row["model"]] = row
    return out


def test_majority_panel_gives_the_hand_computed_leaderboard_beside_each_judge(cli, panel_store):
    result = cli(
        "ratings",
        "--results",
        panel_store,
        "--benchmark",
        "panelset",
        "--panel",
        "majority",
        "--method",
        "bt",
        "--bootstrap",
        "50",
        "--format",
        "json",
    )
    assert result.code == 0, result.err
    rows = _rows_by_judge(result.json())
    assert set(rows) == {"j1", "j2", "z", "panel-majority"}
    record = {m: (r["wins"], r["ties"], r["losses"], r["matches"]) for m, r in rows["panel-majority"].items()}
    assert record == {"x": (20, 10, 10, 40), "y": (10, 10, 20, 40), "z": (20, 0, 20, 40)}
    ranking = sorted(rows["panel-majority"], key=lambda m: -rows["panel-majority"][m]["rating"])
    assert ranking == ["x", "z", "y"]  # points 25, 20, 15 of 40
    assert rows["j1"]["x"]["wins"] == rows["j1"]["x"]["losses"] == 20  # the position-biased judge alone
    elo = cli(
        "ratings",
        "--results",
        panel_store,
        "--benchmark",
        "panelset",
        "--panel",
        "majority",
        "--judge",
        "j1",
        "--judge",
        "j2",
        "--judge",
        "z",
        "--orderings",
        "200",
    )
    assert elo.code == 0, elo.err
    assert elo.out.count("Elo (paper") == 4 and "panel-majority" in elo.out


def test_panel_agreement_and_fleiss_kappa_equal_the_hand_computation(cli, panel_store):
    result = cli(
        "ratings", "--results", panel_store, "--benchmark", "panelset", "--method", "agreement", "--format", "json"
    )
    assert result.code == 0, result.err
    data = result.json()
    # Per item type (10 of each), counts (A, B, tie): (2,0,1), (1,1,1), and four (2,1,0). P_i = 1/3, 0, 1/3:
    # mean 5/18; shares 11/18, 5/18, 2/18 -> P_e = 150/324; kappa = (5/18 - 25/54) / (1 - 25/54) = -10/29.
    # Without ties, the four (2,1) types: P = 1/3, P_e = 5/9, kappa = -1/2.
    assert data["panel"]["items"] == 60 and data["panel"]["fleiss_kappa"] == pytest.approx(-10 / 29, abs=1e-4)
    assert data["panel"]["items_without_ties"] == 40
    assert data["panel"]["fleiss_kappa_without_ties"] == pytest.approx(-0.5)
    pairs = {(p["judge_1"], p["judge_2"]): p for p in data["pairs"]}
    assert (pairs[("j1", "j2")]["agreement"], pairs[("j1", "j2")]["agreement_without_ties"]) == (0.5, 0.5)
    assert pairs[("j1", "z")]["agreement"] == pytest.approx(1 / 3, abs=1e-4)
    assert (pairs[("j1", "z")]["decided_items"], pairs[("j1", "z")]["agreement_without_ties"]) == (40, 0.5)
    assert pairs[("j2", "z")]["agreement"] == 0.0
    table = cli("ratings", "--results", panel_store, "--benchmark", "panelset", "--method", "agreement")
    assert table.code == 0 and "Fleiss" in table.out and "-0.345" in table.out


def test_self_judging_is_noted_measured_and_can_be_excluded(cli, panel_store):
    plain = cli(
        "ratings",
        "--results",
        panel_store,
        "--benchmark",
        "panelset",
        "--method",
        "bt",
        "--judge",
        "z",
        "--bootstrap",
        "20",
    )
    assert plain.code == 0, plain.err
    assert "judge z is also a contestant (model z): 40 of its judgments" in plain.err
    clean = cli(
        "ratings",
        "--results",
        panel_store,
        "--benchmark",
        "panelset",
        "--method",
        "bt",
        "--judge",
        "j2",
        "--bootstrap",
        "20",
    )
    assert "also a contestant" not in clean.err
    bias = cli("ratings", "--results", panel_store, "--benchmark", "panelset", "--method", "bias", "--format", "json")
    assert bias.code == 0, bias.err
    by_judge = {r["judge"]: r for r in bias.json()}
    assert by_judge["z"]["own_model"] == "z" and by_judge["z"]["self_preference"] == pytest.approx(0.75)
    assert by_judge["j1"]["own_model"] is None
    table = cli("ratings", "--results", panel_store, "--benchmark", "panelset", "--method", "bias")
    assert "Self-preference" in table.out and "other judges: j1, j2" in table.out
    excluded = cli(
        "ratings",
        "--results",
        panel_store,
        "--benchmark",
        "panelset",
        "--method",
        "elo",
        "--judge",
        "z",
        "--exclude-self",
        "--orderings",
        "100",
        "--format",
        "json",
    )
    assert excluded.code == 0, excluded.err
    assert "left out 40 judgments of z on its own model z" in excluded.err
    assert {r["model"]: r["ties"] for r in excluded.json()} == {"x": 20, "y": 20}  # only x-y is left: all ties


def test_declared_self_model(cli, tmp_path):
    results = tmp_path / "results"
    renamed = [
        Judgment(
            j.benchmark, j.question_id, j.model_a, j.model_b, "openai:zeta-judge", j.protocol, j.verdict, source="test"
        )
        for j in _panel_judgments(("z",))
    ]
    ResultsStore(results).save_judgments(renamed)
    bias = cli(
        "ratings",
        "--results",
        results,
        "--benchmark",
        "panelset",
        "--method",
        "bias",
        "--format",
        "json",
        "--self-model",
        "openai:zeta-judge=z",
    )
    assert bias.code == 0, bias.err
    assert bias.json()[0]["own_model"] == "z" and bias.json()[0]["self_preference"] == pytest.approx(0.5)
    unflagged = cli("ratings", "--results", results, "--benchmark", "panelset", "--method", "bias", "--format", "json")
    assert unflagged.json()[0]["own_model"] is None


@pytest.mark.parametrize(
    "args, message",
    [
        (("--panel", "majority", "--judge", "j1"), "--panel majority needs at least two judges"),
        (("--panel", "mean", "--method", "elo"), "--panel mean averages single-answer grades"),
        (("--panel", "majority", "--protocol", "relative"), "no relative judgments"),
        (("--panel", "majority", "--method", "relative", "--baseline", "x"), "not the two 1-10 scores"),
        (("--panel", "majority", "--method", "robustness"), "do not apply to --method robustness"),
        (("--panel", "majority", "--pool-judges"), "--pool-judges would count every vote twice"),
        (("--method", "bias", "--exclude-self"), "--exclude-self goes with the rating methods"),
        (("--self-model", "z"), "expected JUDGE=MODEL"),
        (("--self-model", "z=w"), "'w' is not a contestant"),
        (("--self-model", "nobody=z"), "names judges with no judgments here: nobody"),
    ],
)
def test_bad_panel_combinations_exit_2_with_one_message(cli, panel_store, args, message):
    result = cli("ratings", "--results", panel_store, "--benchmark", "panelset", "--method", "bt", *args)
    assert result.code == 2
    assert message in result.err and "Traceback" not in result.err


# --- panels in arena tournament / evaluate ---------------------------------------------------------------------
MODELS = ("alpha", "beta", "gamma")  # answers of growing length
PRICE_IN, PRICE_OUT = 10.0, 30.0  # USD per million tokens, set on each judge


def _billed(server) -> float:
    return sum(u["prompt_tokens"] * PRICE_IN + u["completion_tokens"] * PRICE_OUT for u in server.billed) / 1e6


def _replies(messages):
    user = messages[-1].content
    return [text for _, text in re.findall(r'<reply id="(\d)">\n(.*?)\n</reply>', user, re.DOTALL)]


def _longer_wins(messages):
    one, two = (len(r) for r in _replies(messages))
    return f"Longer is better.\n{1 if one > two else 2}"


def _shorter_wins(messages):
    one, two = (len(r) for r in _replies(messages))
    return f"Shorter is better.\n{1 if one < two else 2}"


def _beta_wins(messages):
    one, two = _replies(messages)
    return f"Beta or nothing.\n{1 if one.startswith('beta') else 2 if two.startswith('beta') else 3}"


@pytest.fixture
def three_judges(tmp_path):
    """Three loopback OpenAI-compatible judges with scripted verdicts, and a models file naming them. For every
    pair and order: alpha-beta: beta, alpha, beta -> beta; alpha-gamma: gamma, alpha, tie -> tie (no majority);
    beta-gamma: gamma, beta, beta -> beta."""
    sample = load_prompt_set("sample")
    lines = []
    for size, name in enumerate(MODELS, start=1):
        rows = [
            {"question_id": p.id, "generation": f"{name} answer to {p.id}. " + "detail " * (3 * size)}
            for p in sample.prompts
        ]
        lines.append(
            f'[models.{name}]\nbackend = "answers"\npath = "{write_jsonl(tmp_path / f"{name}.jsonl", rows)}"\n'
        )
    with (
        OpenAICompatibleServer(reply=_longer_wins) as one,
        OpenAICompatibleServer(reply=_shorter_wins) as two,
        OpenAICompatibleServer(reply=_beta_wins) as three,
    ):
        for judge, server in (("long-judge", one), ("short-judge", two), ("beta-judge", three)):
            lines.append(
                f'[models.{judge}]\nbackend = "openai"\npath = "gpt-4"\nbase_url = "{server.base_url}"\n'
                'api_key_env = "JUDGE_KEY"\nretries = 1\nretry_base_delay = 0.01\n'
                f"price_in = {PRICE_IN}\nprice_out = {PRICE_OUT}\nmax_concurrency = 2\n"
            )
        path = tmp_path / "models.toml"
        path.write_text("\n".join(lines))
        yield path, (one, two, three)


@pytest.fixture
def judge_key(monkeypatch):
    monkeypatch.setenv("JUDGE_KEY", "sk-judge")


def test_tournament_with_a_panel_of_three_loopback_judges(cli, tmp_path, three_judges, judge_key):
    models_file, servers = three_judges
    args = (
        "tournament",
        "--models",
        *MODELS,
        "--benchmark",
        "sample",
        "--limit",
        "4",
        "--models-file",
        models_file,
        "--results",
        tmp_path / "r",
        "--judge",
        "long-judge",
        "--judge",
        "short-judge",
        "--judge",
        "beta-judge",
        "--orderings",
        "100",
        "--bootstrap",
        "50",
        "--format",
        "json",
    )
    result = cli(*args)
    assert result.code == 0, result.err
    assert [len(s.requests) for s in servers] == [24, 24, 24]  # 3 pairs x 2 orders x 4 questions, each judge
    data = result.json()
    assert set(data["judges"]) == {"long-judge", "short-judge", "beta-judge"}
    assert [r["model"] for r in data["judges"]["long-judge"]["elo"]] == ["gamma", "beta", "alpha"]
    assert [r["model"] for r in data["judges"]["short-judge"]["elo"]] == ["alpha", "beta", "gamma"]
    record = {r["model"]: (r["wins"], r["ties"], r["losses"]) for r in data["panel"]["bradley_terry"]}
    assert record == {"beta": (16, 0, 0), "alpha": (0, 8, 8), "gamma": (0, 8, 8)}
    assert data["panel"]["bradley_terry"][0]["model"] == "beta"
    saved = json.loads((tmp_path / "r" / "sample" / "leaderboards" / "panel-majority.json").read_text())
    assert saved["judges"] == ["long-judge", "short-judge", "beta-judge"] and saved["matchups"] == 24
    stored = ResultsStore(tmp_path / "r").judgments("sample")
    assert {j.judge for j in stored} == {"long-judge", "short-judge", "beta-judge"}  # stored per judge, as today
    again = cli(*args[:-2])  # a rerun calls nobody and prints each judge's table and the panel's
    assert again.code == 0 and [len(s.requests) for s in servers] == [24, 24, 24]
    assert again.out.count("Bradley-Terry") == 4 and "panel-majority" in again.out
    agreement = cli(
        "ratings", "--results", tmp_path / "r", "--benchmark", "sample", "--method", "agreement", "--format", "json"
    )
    pairs = {(p["judge_1"], p["judge_2"]): p["agreement"] for p in agreement.json()["pairs"]}
    assert pairs[("long-judge", "short-judge")] == 0.0


def test_evaluate_with_a_panel_shares_one_cost_cap_and_prints_the_majority(cli, tmp_path, three_judges, judge_key):
    models_file, servers = three_judges
    result = cli(
        "evaluate",
        "--model",
        "alpha",
        "--model",
        "gamma",
        "--baseline",
        "beta",
        "--benchmark",
        "sample",
        "--limit",
        "3",
        "--protocol",
        "pairwise",
        "--models-file",
        models_file,
        "--results",
        tmp_path / "r",
        "--judge",
        "long-judge",
        "--judge",
        "short-judge",
        "--judge",
        "beta-judge",
        "--bootstrap",
        "50",
    )
    assert result.code == 0, result.err
    assert [len(s.requests) for s in servers] == [12, 12, 12]
    assert "panel-majority" in result.out and "vs beta" in result.out
    rows = cli(
        "ratings",
        "--results",
        tmp_path / "r",
        "--benchmark",
        "sample",
        "--panel",
        "majority",
        "--method",
        "winrate",
        "--baseline",
        "beta",
        "--bootstrap",
        "50",
        "--format",
        "json",
    ).json()
    panel_rows = {r["model"]: r["win_rate"] for r in rows if r["judge"] == "panel-majority"}
    assert panel_rows == {"alpha": 0.0, "gamma": 0.0}  # beta wins every majority


def test_panel_of_replay_judges_and_its_self_preference(cli, tmp_path, panel_store):
    judges = [f"replay:{panel_store}:{j}" for j in ("j1", "j2", "z")]
    result = cli(
        "tournament",
        "--benchmark",
        "panelset",
        "--results",
        tmp_path / "r",
        "--orderings",
        "100",
        "--bootstrap",
        "50",
        "--format",
        "json",
        *[x for j in judges for x in ("--judge", j)],
    )
    assert result.code == 0, result.err
    record = {r["model"]: (r["wins"], r["ties"], r["losses"]) for r in result.json()["panel"]["elo"]}
    assert record == {"x": (20, 10, 10), "y": (10, 10, 20), "z": (20, 0, 20)}
    bias = cli("ratings", "--results", tmp_path / "r", "--benchmark", "panelset", "--method", "bias")
    assert bias.code == 0, bias.err
    assert "replay-z" in bias.out and "Self-preference" in bias.out
    two = cli(
        "tournament",
        "--benchmark",
        "panelset",
        "--results",
        tmp_path / "two",
        "--models",
        "x",
        "y",
        "--orderings",
        "100",
        "--bootstrap",
        "50",
        "--format",
        "json",
        *[x for j in judges for x in ("--judge", j)],
    )
    assert two.code == 0, two.err  # models named only in the recorded judgments
    assert {r["model"]: r["ties"] for r in two.json()["panel"]["elo"]} == {"x": 10, "y": 10}


@pytest.mark.parametrize(
    "judges, extra, message",
    [
        (("human", "long-judge"), (), "--judge human: no human votes stored"),
        (("long-judge", "long-judge"), (), "given more than once"),
        (("long-judge", "no-such-judge"), (), "unknown model 'no-such-judge'"),
        (("long-judge", "short-judge"), ("--budget", "10", "--schedule", "adaptive"), "each panel member would judge"),
    ],
)
def test_bad_panels_stop_before_anything_is_judged(cli, tmp_path, three_judges, judge_key, judges, extra, message):
    models_file, servers = three_judges
    result = cli(
        "tournament",
        "--models",
        *MODELS,
        "--benchmark",
        "sample",
        "--limit",
        "2",
        "--models-file",
        models_file,
        "--results",
        tmp_path / "r",
        *extra,
        *[x for j in judges for x in ("--judge", j)],
    )
    assert result.code == 2 and message in result.err
    assert sum(len(s.requests) for s in servers) == 0


def test_report_shows_each_judge_beside_the_panel_and_flags_self_judging(cli, tmp_path, panel_store):
    result = cli(
        "report",
        "--results",
        panel_store,
        "--benchmark",
        "panelset",
        "--out",
        tmp_path / "rep",
        "--orderings",
        "50",
        "--bootstrap",
        "20",
    )
    assert result.code == 0, result.err
    html = (tmp_path / "rep" / "index.html").read_text()
    for judge in ("j1", "j2", "z", "panel-majority"):
        assert f'id="judge-{judge}"' in html
    assert "majority verdict of j1, j2, z" in html
    assert "also a contestant: 40 of its judgments are on its own model z" in html
    assert (tmp_path / "rep" / "bt-panel-majority.svg").exists()


def test_a_panel_spends_under_one_cap_and_keeps_what_it_judged(cli, tmp_path, three_judges, judge_key):
    models_file, servers = three_judges
    base = (
        "tournament",
        "--models",
        *MODELS,
        "--benchmark",
        "sample",
        "--limit",
        "4",
        "--models-file",
        models_file,
        "--judge",
        "long-judge",
        "--judge",
        "short-judge",
        "--judge",
        "beta-judge",
        "--orderings",
        "50",
        "--bootstrap",
        "20",
    )
    full = cli(*base, "--results", tmp_path / "full")
    assert full.code == 0, full.err
    one_judge = _billed(servers[0])
    for server in servers:
        server.requests.clear()
        server.billed.clear()
    cap = 1.6 * one_judge  # room for one judge and a part of the next, not for three
    capped = cli(*base, "--results", tmp_path / "capped", "--max-cost", f"{cap:.6f}")
    assert capped.code == EXIT_BUDGET_STOPPED, capped.err
    spent = sum(_billed(s) for s in servers)
    assert 0 < spent <= cap and sum(len(s.requests) for s in servers) < 72
    stored = ResultsStore(tmp_path / "capped").judgments("sample")
    assert len(stored) == sum(len(s.requests) for s in servers)  # every reply paid for is kept
    manifests = [json.loads(p.read_text()) for p in (tmp_path / "capped" / "runs").glob("*-tournament-*.json")]
    assert sum(m["cost"] for m in manifests) == pytest.approx(spent, rel=1e-6)  # each member's own cost


def test_a_panel_with_human_votes_and_two_endpoints(cli, tmp_path, three_judges, judge_key):
    models_file, servers = three_judges
    results = tmp_path / "r"
    sample = load_prompt_set("sample")
    # The human prefers alpha (the shortest answer) in every matchup of the first two questions, both orders.
    votes = [
        Judgment(
            "sample",
            p.id,
            a,
            b,
            "human",
            "pairwise",
            "A" if a == "alpha" else "B" if b == "alpha" else "tie",
            source="rate",
        )
        for p in sample.prompts[:2]
        for a in MODELS
        for b in MODELS
        if a != b
    ]
    ResultsStore(results).save_judgments(votes)
    result = cli(
        "evaluate",
        "--model",
        "alpha",
        "--model",
        "gamma",
        "--baseline",
        "beta",
        "--benchmark",
        "sample",
        "--limit",
        "2",
        "--protocol",
        "pairwise",
        "--models-file",
        models_file,
        "--results",
        results,
        "--judge",
        "long-judge",
        "--judge",
        "human",
        "--judge",
        "short-judge",
        "--bootstrap",
        "20",
    )
    assert result.code == 0, result.err
    assert [len(s.requests) for s in servers] == [8, 8, 0]
    assert "the votes stored in" in result.err
    # alpha vs beta: long says beta, human alpha, short alpha -> alpha; gamma vs beta: gamma, tie, beta -> tie.
    rows = cli(
        "ratings",
        "--results",
        results,
        "--benchmark",
        "sample",
        "--panel",
        "majority",
        "--judge",
        "long-judge",
        "--judge",
        "human",
        "--judge",
        "short-judge",
        "--method",
        "winrate",
        "--baseline",
        "beta",
        "--bootstrap",
        "20",
        "--format",
        "json",
    ).json()
    assert {r["model"]: r["win_rate"] for r in rows if r["judge"] == "panel-majority"} == {
        "alpha": 100.0,
        "gamma": 50.0,
    }  # percent


def test_evaluate_panel_with_a_replay_judge_says_where_replay_works(cli, tmp_path, panel_store):
    result = cli(
        "evaluate",
        "--model",
        "x",
        "--baseline",
        "y",
        "--benchmark",
        "sample",
        "--protocol",
        "pairwise",
        "--results",
        tmp_path / "r",
        "--judge",
        f"replay:{panel_store}:j1",
        "--judge",
        "gpt-4",
    )
    assert result.code == 2 and "a panel of replay: judges against a baseline is not supported" in result.err
    assert not (tmp_path / "r").exists()


def test_panel_mean_of_single_grades_read_back_from_the_store(tmp_path):
    """The interface `--panel mean` needs from single-answer grading: protocol 'single', verdict 'graded' (or
    'error'), the model graded in model_a, the grade in score_a, the turn. Stored and read back as the
    `--method score` command reads them. (Each turn's record needs its own judgment id: FastChat imports put
    the turn in `source`, single grading in the record's own `turn`.)"""
    from arena.cli import build_parser
    from arena.ratings.panel_commands import judge_view

    grades = {
        ("g1", "81", 1): 8,
        ("g2", "81", 1): 6,
        ("g3", "81", 1): 9,
        ("g1", "81", 2): 4,
        ("g2", "81", 2): 5,
        ("g3", "81", 2): None,
        ("g1", "82", 1): 10,
    }
    results = tmp_path / "results"
    ResultsStore(results).save_judgments(
        [
            Judgment(
                "mt",
                q,
                "vicuna",
                "",
                judge,
                "single",
                "graded" if g is not None else "error",
                score_a=g,
                meta={"turn": turn},
                source=f"test:turn{turn}",
            )
            for (judge, q, turn), g in grades.items()
        ]
    )
    args = build_parser().parse_args(["ratings", "--benchmark", "mt", "--results", str(results), "--panel", "mean"])
    rated = judge_view(ResultsStore(results).judgments("mt"), args, "single")
    mean = {(j.question_id, j.meta["turn"]): j.score_a for j in rated if j.judge == "panel-mean"}
    assert mean == {("81", 1): pytest.approx(23 / 3, abs=1e-4), ("81", 2): 4.5}  # 82: one grade of three, no quorum
    assert sum(j.judge != "panel-mean" for j in rated) == len(grades)  # each judge's own grades beside the panel's
