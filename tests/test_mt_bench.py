"""MT-bench in arena: the prompt set with its references, multi-turn answers, single-answer grading per turn
(FastChat's templates and arena's own), `ratings --method score`, FastChat single-grade imports, the replay
judge, and the bad inputs around them. Judges are real HTTP servers on 127.0.0.1."""

import json
import re
import shutil

import pytest
from conftest import shared_path, write_jsonl
from openai_server import OpenAICompatibleServer
from test_judging import models_file

from arena.judging.judges import reply_from_text
from arena.judging.parsing import parse_grade
from arena.prompts import load_prompt_set
from arena.store import ResultsStore

REFERENCE_CATEGORIES = {"math", "reasoning", "coding"}
MODELS = {"alpha": 0, "beta": 3}  # a grade offset per model: the loopback judge grades by the model's marker


@pytest.fixture(autouse=True)
def judge_key(monkeypatch):
    monkeypatch.setenv("JUDGE_KEY", "sk-judge")


@pytest.fixture
def mt_bench(cli):
    result = cli("prompts", "pull", "mt-bench", "--from", shared_path("benchmarks", "mt-bench"))
    assert result.code == 0, result.err
    return load_prompt_set("mt-bench")


def judge_prompts():
    return shared_path("judge-templates", "fastchat-llm-judge", "judge_prompts.jsonl")


def expected_grade(model: str, question_id: str, turn: int) -> float:
    """What the loopback judge gives: a function of the question, the turn and the model."""
    return 1 + (int(question_id) * turn + MODELS[model]) % 10


def grading_judge(messages):
    """Reads the graded reply's marker ('<model> q<id> t<turn>', the last one in the prompt: turn 2's prompt
    shows turn 1 too) and grades as expected_grade says."""
    text = messages[-1].content
    model, qid, turn = re.findall(r"(alpha|beta) q(\d+) t(\d)", text)[-1]
    return f"The reply is fine.\nRating: [[{expected_grade(model, qid, int(turn))}]]"


def fastchat_answer_files(tmp_path, prompt_set, models=MODELS):
    folder = tmp_path / "fastchat" / "model_answer"
    folder.mkdir(parents=True)
    for model in models:
        write_jsonl(
            folder / f"{model}.jsonl",
            [
                {
                    "question_id": int(p.id),
                    "answer_id": f"{model}-{p.id}",
                    "model_id": model,
                    "choices": [{"index": 0, "turns": [f"{model} q{p.id} t{t}" for t in (1, 2)]}],
                }
                for p in prompt_set.prompts
            ],
        )
    return {m: folder / f"{m}.jsonl" for m in models}


def models_toml(tmp_path, answer_files, judge_url, **judge_options):
    """test_judging's arena.toml (the answers models and a judge at `judge_url`), with one retry and a judge
    that can take MT-bench's longer prompts."""
    return models_file(
        tmp_path, answer_files, judge_url, **{"retries": 1, "timeout": 2.0, "max_concurrency": 8, **judge_options}
    )


def grade(cli, models, results, *extra):
    return cli(
        "evaluate",
        "--model",
        "alpha",
        "--model",
        "beta",
        "--benchmark",
        "mt-bench",
        "--protocol",
        "single",
        "--judge",
        "judge",
        "--models-file",
        models,
        "--results",
        results,
        "--bootstrap",
        "200",
        *extra,
    )


def test_pull_mt_bench_keeps_references_for_exactly_the_30_math_reasoning_coding_questions(mt_bench, cli):
    assert len(mt_bench) == 80 and all(len(p.user_turns) == 2 for p in mt_bench.prompts)
    with_references = {p.id for p in mt_bench.prompts if p.references}
    assert len(with_references) == 30
    assert with_references == {p.id for p in mt_bench.prompts if p.category in REFERENCE_CATEGORIES}
    assert all(len(p.references) == 2 for p in mt_bench.prompts if p.references)
    shown = cli("prompts", "show", "mt-bench", "--format", "jsonl")
    rows = [json.loads(line) for line in shown.out.splitlines()]
    assert sum(bool(r["references"]) for r in rows) == 30
    table = cli("prompts", "show", "mt-bench", "--limit", "21")
    assert "reference" in table.out and "[turn 2]" in table.out


def test_a_changed_byte_in_the_pinned_references_is_refused(tmp_path, cli, arena_home):
    folder = tmp_path / "mt_bench"
    shutil.copytree(shared_path("benchmarks", "mt-bench"), folder)
    references = folder / "reference_answer" / "gpt-4.jsonl"
    references.write_bytes(references.read_bytes().replace(b"second place", b"first place", 1))
    result = cli("prompts", "pull", "mt-bench", "--from", folder)
    assert result.code == 2 and "checksum mismatch for 'mt-bench references'" in result.err
    assert "Traceback" not in result.err
    assert not list((arena_home / "prompts").rglob("*.jsonl"))


def test_references_for_your_own_set_and_ids_that_match_no_question(tmp_path, cli, arena_home):
    questions = write_jsonl(
        tmp_path / "q.jsonl",
        [
            {"question_id": 1, "category": "math", "turns": ["2+2?", "And times 3?"]},
            {"question_id": 2, "category": "writing", "turns": ["A haiku."]},
        ],
    )
    bad = write_jsonl(
        tmp_path / "bad.jsonl", [{"question_id": 1, "reference": ["4", "12"]}, {"question_id": 7, "reference": "?"}]
    )
    result = cli("prompts", "pull", "mine", "--from", questions, "--references", bad)
    assert result.code == 2 and f"{bad}:2: question id '7' matches no question" in result.err
    assert not list((arena_home / "prompts").rglob("*.jsonl")), "nothing stored"
    good = write_jsonl(tmp_path / "good.jsonl", [{"question_id": 1, "reference": ["4", "12"]}])
    assert cli("prompts", "pull", "mine", "--from", questions, "--references", good).code == 0
    assert load_prompt_set("mine").by_id["1"].references == ("4", "12")


@pytest.mark.parametrize(
    "text, grade",
    [
        ("Fine.\nRating: [[7]]", 7.0),
        ("Rating: [[8.5]]", 8.5),
        ("Rating: [9]", 9.0),
        ("[[10]]", 10.0),
        ("Rating: [[11]]", None),
        ("Rating: [[0]]", None),
        ("no grade here", None),
        ("", None),
    ],
)
def test_grade_parsing_is_one_to_ten_decimals_allowed(text, grade):
    assert parse_grade(text) == grade
    reply = reply_from_text(text, "single")
    assert (reply.verdict, reply.score_a) == (("error", None) if grade is None else ("graded", grade))


def test_fastchat_pairwise_verdicts_are_read():
    assert reply_from_text("A is better.\n[[A]]", "pairwise").verdict == "A"
    assert reply_from_text("[[C]]", "pairwise").verdict == "tie"
    assert reply_from_text("[[A]] or [[B]]", "pairwise").verdict == "error"


def test_single_grading_of_both_turns_with_fastchat_templates_and_the_score(mt_bench, cli, tmp_path):
    answer_files = fastchat_answer_files(tmp_path, mt_bench)
    with OpenAICompatibleServer(reply=grading_judge) as server:
        models = models_toml(tmp_path, answer_files, server.base_url)
        result = grade(cli, models, tmp_path / "r", "--judge-template", judge_prompts())
        assert result.code == 0, result.err
        calls = [r["body"]["messages"] for r in server.requests]
        assert len(calls) == 80 * 2 * 2
        again = grade(cli, models, tmp_path / "r", "--judge-template", judge_prompts())
        assert again.code == 0 and len(server.requests) == len(calls), "a rerun sends nothing"
    store = ResultsStore(tmp_path / "r")
    answers = store.answers("mt-bench", "alpha")
    assert answers["81"].turns == ["alpha q81 t1", "alpha q81 t2"]
    grades = store.judgments("mt-bench", "judge")
    assert len(grades) == 320 and all(
        g.protocol == "single" and g.verdict == "graded" and g.model_b == "" for g in grades
    )
    assert all(g.score_a == expected_grade(g.model_a, g.question_id, g.turn) for g in grades)
    templates = {(g.question_id, g.turn): g.meta["template"] for g in grades}
    for prompt in mt_bench.prompts:
        reference = prompt.category in REFERENCE_CATEGORIES
        assert templates[(prompt.id, 1)] == ("single-math-v1" if reference else "single-v1")
        assert templates[(prompt.id, 2)] == ("single-math-v1-multi-turn" if reference else "single-v1-multi-turn")
    # the reference is in the prompt exactly for the 30 questions that have one, for the turn graded
    by_reference = {}
    for messages in calls:
        user = messages[-1]["content"]
        model, qid, turn = re.findall(r"(alpha|beta) q(\d+) t(\d)", user)[-1]
        prompt = mt_bench.by_id[qid]
        by_reference[(model, qid, turn)] = bool(prompt.references) and prompt.references[int(turn) - 1] in user
        if turn == "2":
            assert f"{model} q{qid} t1" in user and prompt.user_turns[0] in user and prompt.user_turns[1] in user
    assert sum(by_reference.values()) == 30 * 2 * 2
    assert {q for (_, q, _), used in by_reference.items() if used} == {p.id for p in mt_bench.prompts if p.references}

    scores = cli(
        "ratings",
        "--benchmark",
        "mt-bench",
        "--method",
        "score",
        "--results",
        tmp_path / "r",
        "--format",
        "json",
        "--bootstrap",
        "200",
    )
    assert scores.code == 0, scores.err
    rows = {r["model"]: r for r in scores.json()}
    for model in MODELS:
        by_turn = {t: [expected_grade(model, p.id, t) for p in mt_bench.prompts] for t in (1, 2)}
        row = rows[model]
        assert set(row) == {"model", "score", "turn1", "turn2", "categories", "ci"}
        assert row["score"] == pytest.approx((sum(by_turn[1]) + sum(by_turn[2])) / 160, abs=1e-4)
        assert row["turn1"] == pytest.approx(sum(by_turn[1]) / 80, abs=1e-4)
        assert row["turn2"] == pytest.approx(sum(by_turn[2]) / 80, abs=1e-4)
        math = [expected_grade(model, p.id, t) for p in mt_bench.prompts if p.category == "math" for t in (1, 2)]
        assert row["categories"]["math"] == pytest.approx(sum(math) / 20, abs=1e-4)
        assert set(row["categories"]) == set(mt_bench.categories)
        assert row["ci"][0] < row["score"] < row["ci"][1]
    table = cli("ratings", "--benchmark", "mt-bench", "--method", "score", "--results", tmp_path / "r")
    assert "MT-bench score" in table.out and "humanities" in table.out


def test_arena_own_single_templates_grade_each_turn_with_references(mt_bench, cli, tmp_path):
    answer_files = fastchat_answer_files(tmp_path, mt_bench)
    with OpenAICompatibleServer(reply=grading_judge) as server:
        models = models_toml(tmp_path, answer_files, server.base_url)
        result = grade(cli, models, tmp_path / "r", "--limit", "30")  # 81-110: writing, roleplay, reasoning
        assert result.code == 0, result.err
        calls = [r["body"]["messages"][-1]["content"] for r in server.requests]
    grades = ResultsStore(tmp_path / "r").judgments("mt-bench", "judge")
    assert len(grades) == 30 * 2 * 2 and {g.turn for g in grades} == {1, 2}
    names = {g.meta["template"] for g in grades if mt_bench.by_id[g.question_id].category == "reasoning"}
    assert names == {"arena-single-reference", "arena-single-reference-multi-turn"}
    assert sum("<reference>" in c for c in calls) == 10 * 2 * 2
    assert "MT-bench score" in result.out


def test_pairwise_on_mt_bench_with_fastchat_pair_templates_judges_each_turn(mt_bench, cli, tmp_path):
    answer_files = fastchat_answer_files(tmp_path, mt_bench)

    def pair_judge(messages):
        text = messages[-1].content
        return "Assistant A follows the instructions better.\n[[A]]" if "Assistant A" in text else "?"

    with OpenAICompatibleServer(reply=pair_judge) as server:
        models = models_toml(tmp_path, answer_files, server.base_url)
        result = cli(
            "evaluate",
            "--model",
            "alpha",
            "--baseline",
            "beta",
            "--benchmark",
            "mt-bench",
            "--protocol",
            "pairwise",
            "--judge",
            "judge",
            "--judge-template",
            judge_prompts(),
            "--limit",
            "21",
            "--models-file",
            models,
            "--results",
            tmp_path / "r",
            "--bootstrap",
            "100",
        )
        assert result.code == 0, result.err
    judged = ResultsStore(tmp_path / "r").judgments("mt-bench", "judge")
    assert len(judged) == 21 * 2 * 2  # questions x orders x turns
    assert {j.turn for j in judged} == {1, 2} and {j.verdict for j in judged} == {"A"}
    templates = {j.meta["template"] for j in judged if j.question_id == "101"}
    assert templates == {"pair-math-v1", "pair-math-v1-multi-turn"}


def test_spending_cap_and_rerun_for_single_grading(mt_bench, cli, tmp_path):
    answer_files = fastchat_answer_files(tmp_path, mt_bench)
    with OpenAICompatibleServer(reply=grading_judge, completion_tokens=100) as server:
        models = models_toml(
            tmp_path,
            answer_files,
            server.base_url,
            price_in=10.0,
            price_out=30.0,
            judge_max_tokens=100,
            max_concurrency=1,
        )
        capped = grade(cli, models, tmp_path / "r", "--limit", "10", "--max-cost", "0.05")
        assert capped.code == 3, capped.err
        stored = ResultsStore(tmp_path / "r").judgments("mt-bench", "judge")
        assert 0 < len(stored) < 40
        billed = sum(u["prompt_tokens"] * 10.0 + u["completion_tokens"] * 30.0 for u in server.billed) / 1e6
        assert billed <= 0.05
        sent = len(server.requests)
        rest = grade(cli, models, tmp_path / "r", "--limit", "10", "--max-cost", "5")
        assert rest.code == 0, rest.err
        assert len(server.requests) - sent == 40 - len(stored), "only what was not judged is sent"
    assert len(ResultsStore(tmp_path / "r").judgments("mt-bench", "judge")) == 40


def test_replay_judge_copies_recorded_grades(mt_bench, cli, tmp_path):
    answer_files = fastchat_answer_files(tmp_path, mt_bench)
    with OpenAICompatibleServer(reply=grading_judge) as server:
        models = models_toml(tmp_path, answer_files, server.base_url)
        assert grade(cli, models, tmp_path / "recorded", "--limit", "5").code == 0
    replay = (
        "evaluate",
        "--model",
        "alpha",
        "--model",
        "beta",
        "--benchmark",
        "mt-bench",
        "--protocol",
        "single",
        "--judge",
        f"replay:{tmp_path / 'recorded'}:judge",
        "--results",
        tmp_path / "r",
        "--limit",
        "8",
    )
    result = cli(*replay)
    assert result.code == 0, result.err
    assert "6 question/model pairs have no recorded grade" in result.err
    copies = ResultsStore(tmp_path / "r").judgments("mt-bench", "replay-judge")
    assert len(copies) == 5 * 2 * 2
    assert all(c.score_a == expected_grade(c.model_a, c.question_id, c.turn) for c in copies)
    again = cli(*replay)
    assert again.code == 0 and "0 grades copied" in again.err
    assert len(ResultsStore(tmp_path / "r").judgments("mt-bench", "replay-judge")) == 20
    replay_args = ["--protocol", "single", "--judge", f"replay:{tmp_path / 'recorded'}:judge", "--limit", "8"]
    models = ["--model", "alpha", "--model", "beta", "--benchmark", "mt-bench"]
    dry = cli("evaluate", *models, *replay_args, "--results", tmp_path / "dry", "--dry-run")
    assert dry.code == 0, dry.err
    assert "20 grades of 'judge' would be copied" in dry.err and "cost $0" in dry.err
    assert not (tmp_path / "dry").exists() or not any((tmp_path / "dry").rglob("*.*")), "a dry run writes nothing"
    batch = cli("evaluate", *models, *replay_args, "--results", tmp_path / "dry", "--batch")
    assert batch.code == 2 and "drop --batch" in batch.err


def test_import_fastchat_single_grades_and_score(mt_bench, cli, tmp_path):
    folder = tmp_path / "fastchat" / "model_judgment"
    folder.mkdir(parents=True)
    rows = [
        {
            "question_id": int(p.id),
            "model": "vicuna-13b",
            "judge": ["gpt-4", "single-v1"],
            "user_prompt": "...",
            "judgment": f"ok Rating: [[{g}]]",
            "score": g,
            "turn": t,
            "tstamp": 0,
        }
        for p, g in zip(mt_bench.prompts[:3], (7, 9, 4))
        for t in (1, 2)
    ]
    rows[-1]["score"] = -1  # FastChat's mark for a grade it could not read
    write_jsonl(folder / "gpt-4_single.jsonl", rows)
    result = cli("import", "fastchat", tmp_path / "fastchat", "--benchmark", "mt-bench", "--results", tmp_path / "r")
    assert result.code == 0, result.err
    again = cli("import", "fastchat", tmp_path / "fastchat", "--benchmark", "mt-bench", "--results", tmp_path / "r")
    assert "0 judgments added" in again.err + again.out
    grades = ResultsStore(tmp_path / "r").judgments("mt-bench")
    assert sorted((g.question_id, g.turn, g.score_a) for g in grades)[:2] == [("81", 1, 7.0), ("81", 2, 7.0)]
    scores = cli(
        "ratings", "--benchmark", "mt-bench", "--method", "score", "--results", tmp_path / "r", "--format", "json"
    ).json()
    assert scores == [
        {
            "model": "vicuna-13b",
            "score": round((7 + 7 + 9 + 9 + 4) / 5, 4),
            "turn1": round(20 / 3, 4),
            "turn2": 8.0,
            "categories": {"writing": round(36 / 5, 4)},
            "ci": scores[0]["ci"],
        }
    ]


def test_import_fastchat_refuses_an_answer_to_no_question_of_the_set_and_writes_nothing(mt_bench, cli, tmp_path):
    files = fastchat_answer_files(tmp_path, mt_bench, models={"alpha": 0})
    rows = files["alpha"].read_text().splitlines()
    rows[2] = json.dumps({"question_id": 9999, "model_id": "alpha", "choices": [{"index": 0, "turns": ["x"]}]})
    files["alpha"].write_text("\n".join(rows) + "\n")
    result = cli("import", "fastchat", tmp_path / "fastchat", "--benchmark", "mt-bench", "--results", tmp_path / "r")
    assert result.code == 2 and "Traceback" not in result.err
    assert f"{files['alpha']}:3: question_id '9999' matches no question of prompt set 'mt-bench'" in result.err
    assert not (tmp_path / "r").exists()  # no answers, and no run manifest either


def test_a_failed_fastchat_import_leaves_no_run_manifest(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    result = cli("import", "fastchat", tmp_path / "empty", "--benchmark", "mt-bench", "--results", tmp_path / "r")
    assert result.code == 2 and "has neither model_answer/ nor model_judgment/" in result.err
    assert not (tmp_path / "r").exists()


def test_judge_prompts_missing_a_template_is_named_and_nothing_is_written(mt_bench, cli, tmp_path):
    broken = tmp_path / "judge_prompts.jsonl"
    broken.write_text(
        "".join(
            line
            for line in judge_prompts().read_text().splitlines(keepends=True)
            if '"single-math-v1-multi-turn"' not in line
        )
    )
    answer_files = fastchat_answer_files(tmp_path, mt_bench)
    models = models_toml(tmp_path, answer_files, "http://127.0.0.1:9/v1")
    result = grade(cli, models, tmp_path / "r", "--judge-template", broken)
    assert result.code == 2 and f"{broken}: no prompt named 'single-math-v1-multi-turn'" in result.err
    assert "Traceback" not in result.err and not (tmp_path / "r").exists()


def test_a_judge_template_with_an_unknown_field_or_in_another_format_is_named(mt_bench, cli, tmp_path):
    broken = tmp_path / "judge_prompts.jsonl"
    lines = judge_prompts().read_text().splitlines(keepends=True)
    number = next(n for n, line in enumerate(lines, start=1) if '"name": "single-v1"' in line)
    row = json.loads(lines[number - 1])
    lines[number - 1] = json.dumps({**row, "prompt_template": row["prompt_template"] + " {oops}"}) + "\n"
    broken.write_text("".join(lines))
    answer_files = fastchat_answer_files(tmp_path, mt_bench)
    models = models_toml(tmp_path, answer_files, "http://127.0.0.1:9/v1")
    result = grade(cli, models, tmp_path / "r", "--judge-template", broken)
    assert result.code == 2 and "Traceback" not in result.err
    assert f"{broken}:{number}: prompt 'single-v1': {{oops}} is not a field arena fills; the fields are" in result.err
    assert "question s01" not in result.err and not (tmp_path / "r").exists()
    toml = tmp_path / "x.toml"
    toml.write_text('protocol = "single"\n[variants.general\n')
    result = grade(cli, models, tmp_path / "r", "--judge-template", toml)
    assert result.code == 2 and f"{toml}: not valid TOML" in result.err and "arena's own TOML" in result.err
    text = tmp_path / "x.txt"
    text.write_text("Judge this: {question}\n")
    result = grade(cli, models, tmp_path / "r", "--judge-template", text)
    assert result.code == 2 and f"{text}:1: not valid JSON" in result.err and "arena's own TOML" in result.err
    assert not (tmp_path / "r").exists()


def test_arena_s_own_toml_judge_template_is_read(mt_bench, cli, tmp_path):
    from arena.paths import shipped_prompts_dir

    own = tmp_path / "mine.toml"
    own.write_text((shipped_prompts_dir() / "judges" / "single.toml").read_text().replace("You ", "Dear judge, you "))
    answer_files = fastchat_answer_files(tmp_path, mt_bench)
    with OpenAICompatibleServer(reply=grading_judge) as server:
        models = models_toml(tmp_path, answer_files, server.base_url)
        result = grade(cli, models, tmp_path / "r", "--judge-template", own, "--limit", "3")
        assert result.code == 0, result.err
        assert all("Dear judge" in r["body"]["messages"][0]["content"] for r in server.requests)
    stored = ResultsStore(tmp_path / "r").judgments("mt-bench", "judge")
    assert len(stored) == 3 * 2 * 2 and {j.verdict for j in stored} == {"graded"}


def test_a_question_whose_template_needs_a_reference_it_lacks_is_named(cli, tmp_path):
    questions = write_jsonl(
        tmp_path / "q.jsonl",
        [
            {"question_id": 1, "category": "writing", "turns": ["A haiku.", "Another."]},
            {"question_id": 2, "category": "math", "turns": ["2+2?", "And times 3?"]},
        ],
    )
    assert cli("prompts", "pull", "mine", "--from", questions).code == 0
    answers = write_jsonl(
        tmp_path / "a.jsonl", [{"question_id": q, "choices": [{"turns": ["x", "y"]}]} for q in (1, 2)]
    )
    models = models_toml(tmp_path, {"alpha": answers, "alpha2": answers}, "http://127.0.0.1:9/v1")
    result = cli(
        "evaluate",
        "--model",
        "alpha",
        "--benchmark",
        "mine",
        "--protocol",
        "single",
        "--judge",
        "judge",
        "--models-file",
        models,
        "--results",
        tmp_path / "r",
    )
    assert result.code == 2 and "question 2 (math): no reference answer for turn 1" in result.err
    assert not (tmp_path / "r").exists()
    pairwise = cli(
        "evaluate",
        "--model",
        "alpha",
        "--baseline",
        "alpha2",
        "--benchmark",
        "mine",
        "--protocol",
        "pairwise",
        "--judge",
        "judge",
        "--judge-template",
        judge_prompts(),
        "--models-file",
        models,
        "--results",
        tmp_path / "r",
    )
    assert pairwise.code == 2 and "question 2 (math): no reference answer for turn 1" in pairwise.err
    assert "'pair-math-v1'" in pairwise.err and not (tmp_path / "r").exists()


def test_report_shows_the_mt_bench_table_and_category_chart(mt_bench, cli, tmp_path, browser):
    answer_files = fastchat_answer_files(tmp_path, mt_bench)
    with OpenAICompatibleServer(reply=grading_judge) as server:
        models = models_toml(tmp_path, answer_files, server.base_url)
        assert grade(cli, models, tmp_path / "r", "--judge-template", judge_prompts()).code == 0
    scores = {
        r["model"]: r
        for r in cli(
            "ratings",
            "--benchmark",
            "mt-bench",
            "--method",
            "score",
            "--results",
            tmp_path / "r",
            "--format",
            "json",
            "--bootstrap",
            "200",
        ).json()
    }
    out = tmp_path / "report"
    result = cli("report", "--benchmark", "mt-bench", "--results", tmp_path / "r", "--out", out, "--bootstrap", "200")
    assert result.code == 0, result.err
    assert (out / "mt-bench-categories-judge.svg").exists()
    page = browser.new_page()
    page.goto((out / "index.html").as_uri())
    rows = page.locator("#mt-bench-judge tbody tr")
    assert rows.count() == 2
    first = rows.first.locator("td")
    best = max(scores.values(), key=lambda r: r["score"])
    assert first.nth(0).inner_text() == best["model"] and float(first.nth(1).inner_text()) == pytest.approx(
        best["score"], abs=1e-3
    )
    chart = page.locator("svg[aria-label^='Mean grade per category']")
    assert chart.count() == 1 and chart.locator("rect[fill^='#']").count() == 2 + 8 * 2  # legend + bars
    page.close()


def test_judge_prompts_jsonl_is_read_for_its_protocols_and_named_for_others(mt_bench, cli, tmp_path):
    """Issue 20, item 12: FastChat's judge_prompts.jsonl used to fail with "missing field 'prompt_id'"."""
    from arena.judging.templates import load_fastchat_templates

    single = load_fastchat_templates(judge_prompts(), None, "single")
    pairwise = load_fastchat_templates(judge_prompts(), None, "pairwise")
    assert single.per_turn and single.for_turn("math", 2).name == "single-math-v1-multi-turn"
    assert pairwise.for_turn("writing", 1).name == "pair-v2" and pairwise.for_turn("coding", 1).name == "pair-math-v1"
    answer_files = fastchat_answer_files(tmp_path, mt_bench)
    models = models_toml(tmp_path, answer_files, "http://127.0.0.1:9/v1")
    result = cli(
        "evaluate",
        "--model",
        "alpha",
        "--baseline",
        "beta",
        "--benchmark",
        "mt-bench",
        "--judge",
        "judge",
        "--judge-template",
        judge_prompts(),
        "--models-file",
        models,
        "--results",
        tmp_path / "r",
    )
    assert result.code == 2 and "not --protocol relative" in result.err and "Traceback" not in result.err


def test_dry_run_of_single_grading_counts_every_turn_and_sends_nothing(mt_bench, cli, tmp_path):
    answer_files = fastchat_answer_files(tmp_path, mt_bench)
    with OpenAICompatibleServer(reply=grading_judge) as server:
        models = models_toml(tmp_path, answer_files, server.base_url)
        result = grade(cli, models, tmp_path / "r", "--limit", "4", "--dry-run")
        assert result.code == 0, result.err
        assert "dry run (single): 16 judge calls needed" in result.err and not server.requests


def test_records_made_before_the_turn_field_keep_their_ids():
    from arena.store import Judgment

    old = Judgment("vicuna80", "1", "a", "b", "gpt-4", "pairwise", "A", template_hash="h", source="arena")
    record = old.to_dict()
    assert "turn" not in record, "a whole answer's record is written as before"
    assert Judgment.from_dict(record, "x").judgment_id == old.judgment_id and old.turn is None
    turn_two = Judgment(
        "mt-bench", "81", "a", "", "gpt-4", "single", "graded", score_a=7.0, template_hash="h", source="arena", turn=2
    )
    assert (
        turn_two.judgment_id
        != Judgment(
            "mt-bench",
            "81",
            "a",
            "",
            "gpt-4",
            "single",
            "graded",
            score_a=7.0,
            template_hash="h",
            source="arena",
            turn=1,
        ).judgment_id
    )


def test_single_grades_go_through_the_batch_api_like_direct_calls(mt_bench, cli, tmp_path):
    from test_batch import POLL, BatchServer

    answer_files = fastchat_answer_files(tmp_path, mt_bench)
    server = BatchServer()
    try:
        models = models_toml(
            tmp_path, answer_files, server.base_url, price_in=10.0, price_out=30.0, batch_poll_seconds=POLL
        )
        result = grade(cli, models, tmp_path / "r", "--limit", "10", "--batch")  # writing and roleplay
        assert result.code == 0, result.err
        [batch] = server.arena_batches()
        assert batch["endpoint"] == "/v1/chat/completions"
        again = grade(cli, models, tmp_path / "r", "--limit", "10", "--batch")
        assert again.code == 0 and "40 already stored" in again.err and len(server.arena_batches()) == 1
    finally:
        server.stop()
    grades = ResultsStore(tmp_path / "r").judgments("mt-bench", "judge")
    assert len(grades) == 40 and {g.turn for g in grades} == {1, 2}
    assert all(
        g.verdict == "graded" and g.score_a == min(10, 1 + len(f"{g.model_a} q{g.question_id} t{g.turn}") // 10)
        for g in grades
    )


def test_arena_own_pairwise_templates_on_mt_bench_warn_that_only_the_last_turn_is_shown(mt_bench, cli, tmp_path):
    answer_files = fastchat_answer_files(tmp_path, mt_bench)
    models = models_toml(tmp_path, answer_files, "http://127.0.0.1:9/v1")
    result = cli(
        "evaluate",
        "--model",
        "alpha",
        "--baseline",
        "beta",
        "--benchmark",
        "mt-bench",
        "--protocol",
        "pairwise",
        "--judge",
        "judge",
        "--limit",
        "2",
        "--dry-run",
        "--models-file",
        models,
        "--results",
        tmp_path / "r",
    )
    assert result.code == 0, result.err
    assert "shows the judge only each answer's last turn" in result.err and "judge_prompts.jsonl" in result.err


def test_a_dry_run_plans_a_judge_call_for_every_turn_of_answers_not_generated_yet(mt_bench, cli, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = cli(
        "evaluate",
        "--model",
        "openai:some-model",
        "--benchmark",
        "mt-bench",
        "--protocol",
        "single",
        "--judge",
        "gpt-4",
        "--limit",
        "3",
        "--dry-run",
        "--results",
        tmp_path / "r",
    )
    assert result.code == 0, result.err
    assert "dry run (single): 6 judge calls needed" in result.err
