"""A new user's first hour, second pass (issue 20): models never silently merged, baselines never guessed,
ratings never invented, and every bad input one line with exit 2."""

import json
import re
import shutil

import pytest
from conftest import shared_path, write_jsonl
from helpers.models_file import write_models_file
from openai_server import OpenAICompatibleServer

from arena.prompts import load_prompt_set
from arena.store import Judgment, ResultsStore
from arena.store.results import file_safe, log_name


@pytest.fixture(autouse=True)
def judge_key(monkeypatch):
    monkeypatch.setenv("JUDGE_KEY", "sk-judge")


def _answers_and_models_file(tmp_path, names, judge_url):
    """Published answer files, one per name, each answer naming its model; an arena.toml defining them and
    a judge at judge_url."""
    prompts = load_prompt_set("sample").prompts[:3]
    answers = {
        name: write_jsonl(
            tmp_path / f"answers-{index}.jsonl",
            [{"question_id": p.id, "generation": f"answer of model number {index} to {p.id}"} for p in prompts],
        )
        for index, name in enumerate(names)
    }
    return write_models_file(tmp_path / "arena.toml", answers, judge_url, retries=0)


def _pairwise_judge(messages):
    return "Both fine.\n3"


# --- 1. one log per name ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "first, second",
    [
        ("Модель-ü", "Модуль-ä"),  # non-ASCII letters only
        ("Guanaco-7B", "guanaco-7b"),  # case only (one file on a case-insensitive file system)
        ("my model", "my_model"),  # punctuation
        ("org/model", "org__model"),
    ],
)
def test_models_whose_names_differ_only_in_letters_case_or_punctuation_are_never_merged(cli, tmp_path, first, second):
    with OpenAICompatibleServer(reply=_pairwise_judge) as server:
        models = _answers_and_models_file(tmp_path, [first, second], server.base_url)
        common = ("--benchmark", "sample", "--limit", "3", "--models-file", models, "--results", tmp_path / "r")
        assert cli("generate", "--model", first, *common).code == 0
        second_run = cli("generate", "--model", second, *common)
        assert second_run.code == 0 and "3 answers generated" in second_run.err, second_run.err
        result = cli(
            "evaluate",
            "--model",
            first,
            "--baseline",
            second,
            "--judge",
            "judge",
            "--protocol",
            "pairwise",
            "--orderings",
            "20",
            "--bootstrap",
            "20",
            *common,
        )
        assert result.code == 0, result.err
        shown = [m["content"] for r in server.requests for m in r["body"]["messages"] if m["role"] == "user"]
    assert len(shown) == 6
    for prompt in shown:  # the judge always saw both models' own answers, never one answer twice
        assert "model number 0" in prompt and "model number 1" in prompt
    files = sorted(p.name for p in (tmp_path / "r" / "sample" / "answers").glob("*.jsonl"))
    assert len(files) == 2
    store = ResultsStore(tmp_path / "r")
    assert {a.turns[-1][:22] for a in store.answers("sample", first).values()} == {"answer of model number"}
    assert all("number 1" in a.turns[-1] for a in store.answers("sample", second).values())
    assert sorted(store.answered_models("sample")) == sorted([first, second])


def test_file_names_are_readable_and_plain_names_unchanged():
    assert log_name("gpt-4") == "gpt-4" and log_name("guanaco-7b.q4") == "guanaco-7b.q4"
    assert re.fullmatch(r"Guanaco-7B~[0-9a-f]{10}", log_name("Guanaco-7B"))
    assert log_name("Модель-ü").startswith("______-_~")
    names = ["Модель-ü", "Модуль-ä", "a b", "a_b", "A_b", "a/b", "a__b", "a~b", "a_b~" + log_name("a b")[4:]]
    assert len({log_name(n) for n in names}) == len(names)


def test_a_store_written_before_injective_names_is_still_read(cli, tmp_path):
    """An older arena stored both models in `______-_.jsonl`: each still gets its own answers back, and new
    answers go to the new file."""
    store = ResultsStore(tmp_path / "r")
    legacy = tmp_path / "r" / "sample" / "answers" / f"{file_safe('Модель-ü')}.jsonl"
    legacy.parent.mkdir(parents=True)
    rows = [
        {
            "benchmark": "sample",
            "question_id": "q1",
            "model": name,
            "turns": [f"old answer of {name}"],
            "params": {},
            "created": "2024-01-01T00:00:00Z",
        }
        for name in ("Модель-ü", "Модуль-ä")
    ]
    write_jsonl(legacy, rows)
    judgments = tmp_path / "r" / "sample" / "judgments" / f"{file_safe('Judge One')}.jsonl"
    judgments.parent.mkdir(parents=True)
    write_jsonl(
        judgments,
        [
            {
                "benchmark": "sample",
                "question_id": "q1",
                "model_a": "Модель-ü",
                "model_b": "Модуль-ä",
                "judge": "Judge One",
                "protocol": "pairwise",
                "verdict": "A",
                "judgment_id": "j1",
            }
        ],
    )
    assert store.answers("sample", "Модель-ü")["q1"].turns == ["old answer of Модель-ü"]
    assert store.answers("sample", "Модуль-ä")["q1"].turns == ["old answer of Модуль-ä"]
    assert [j.judgment_id for j in store.judgments("sample", "Judge One")] == ["j1"]
    assert len(store.judgment_columns("sample", "Judge One")) == 1
    assert len(store.judgment_columns("sample", "Judge Two")) == 0


# --- 2. the report's baseline ----------------------------------------------------------------------
def test_report_on_the_bard_relative_files_uses_chatgpt_as_the_baseline(cli, tmp_path):
    ratings = shared_path("published", "qlora-vicuna-relative-sample", "ratings")
    source = tmp_path / "bard-only"
    source.mkdir()
    for path in ratings.glob("*bard*.jsonl"):
        shutil.copy(path, source / path.name)
    assert (
        cli("import", "qlora", source, "--benchmark", "vicuna80", "--judge", "gpt-4", "--results", tmp_path / "r").code
        == 0
    )
    result = cli(
        "report",
        "--benchmark",
        "vicuna80",
        "--results",
        tmp_path / "r",
        "--out",
        tmp_path / "rep",
        "--bootstrap",
        "50",
        "--orderings",
        "50",
    )
    assert result.code == 0, result.err
    html = (tmp_path / "rep" / "index.html").read_text()
    assert "Score as % of gpt-3.5" in html and "Score as % of bard" not in html


def test_report_after_evaluate_uses_its_baseline_and_asks_when_nothing_names_one(cli, tmp_path):
    # "alpha" sorts before "zeta": the old guess took the candidate for the baseline
    with OpenAICompatibleServer(reply=lambda messages: "7 8\nfine") as server:
        models = _answers_and_models_file(tmp_path, ["zeta", "alpha"], server.base_url)
        assert (
            cli(
                "evaluate",
                "--model",
                "alpha",
                "--baseline",
                "zeta",
                "--judge",
                "judge",
                "--protocol",
                "relative",
                "--benchmark",
                "sample",
                "--limit",
                "3",
                "--models-file",
                models,
                "--results",
                tmp_path / "r",
                "--bootstrap",
                "20",
            ).code
            == 0
        )
    result = cli(
        "report",
        "--benchmark",
        "sample",
        "--results",
        tmp_path / "r",
        "--out",
        tmp_path / "rep",
        "--bootstrap",
        "20",
        "--orderings",
        "20",
    )
    assert result.code == 0, result.err
    assert "Score as % of zeta" in (tmp_path / "rep" / "index.html").read_text()

    ResultsStore(tmp_path / "r2").save_judgments(
        [
            Judgment("sample", q, a, b, "gpt-4", "relative", "A", score_a=8, score_b=7)
            for q, (a, b) in enumerate([("x", "base"), ("base", "x")])
        ]
    )
    unnamed = cli("report", "--benchmark", "sample", "--results", tmp_path / "r2", "--out", tmp_path / "rep2")
    assert unnamed.code == 2 and "pass --baseline MODEL" in unnamed.err and "base, x" in unnamed.err
    assert "Traceback" not in unnamed.err


# --- 4. Bradley-Terry never invents a rating -------------------------------------------------------
def test_bradley_terry_gives_no_rating_to_models_with_too_few_decided_matches(cli, tmp_path):
    store = ResultsStore(tmp_path / "r")
    store.save_judgments([Judgment("sample", "1", "alice", "bob", "human", "pairwise", "A")])
    table = cli("ratings", "--benchmark", "sample", "--method", "bt", "--results", tmp_path / "r")
    assert table.code == 0 and "2606" not in table.out and "-606" not in table.out
    assert "too few to rate" in table.err
    rows = cli(
        "ratings", "--benchmark", "sample", "--method", "bt", "--format", "json", "--results", tmp_path / "r"
    ).json()
    assert [(r["model"], r["rating"], r["matches"]) for r in rows] == [("alice", None, 1), ("bob", None, 1)]

    # Two well-judged models keep their ratings (fitted without the newcomer's single match).
    verdicts = ["A", "B", "A", "tie"] * 5
    store.save_judgments(
        [Judgment("sample", str(q), "carol", "dave", "human", "pairwise", v) for q, v in enumerate(verdicts, start=10)]
        + [Judgment("sample", "99", "carol", "erin", "human", "pairwise", "B")]
    )
    rows = {
        r["model"]: r
        for r in cli(
            "ratings", "--benchmark", "sample", "--method", "bt", "--format", "json", "--results", tmp_path / "r"
        ).json()
    }
    assert rows["erin"]["rating"] is None and rows["alice"]["rating"] is None
    assert rows["carol"]["rating"] > rows["dave"]["rating"]
    assert rows["carol"]["rating"] + rows["dave"]["rating"] == pytest.approx(2000, abs=0.1)
    report = cli(
        "report",
        "--benchmark",
        "sample",
        "--results",
        tmp_path / "r",
        "--out",
        tmp_path / "rep",
        "--bootstrap",
        "20",
        "--orderings",
        "20",
    )
    assert report.code == 0, report.err


# --- 3. --orderings auto says when its cap came first ---------------------------------------------
def test_orderings_auto_says_when_it_stops_at_its_cap_short_of_its_target(cli, tmp_path):
    import itertools
    import random

    rng = random.Random(1)  # three evenly matched models: single orders swing so far that 100,000 are not enough
    models = ("m0", "m1", "m2")
    ResultsStore(tmp_path / "r").save_judgments(
        [
            Judgment("sample", f"{q}-{a}-{b}", a, b, "judge", "pairwise", rng.choice("AB"))
            for q in range(40)
            for a, b in itertools.permutations(models, 2)
        ]
    )
    result = cli(
        "ratings",
        "--benchmark",
        "sample",
        "--method",
        "elo",
        "--orderings",
        "auto",
        "--format",
        "json",
        "--results",
        tmp_path / "r",
    )
    assert result.code == 0, result.err
    rows = result.json()
    worst = max(r["mean_se"] for r in rows)
    assert rows[0]["orderings"] == 100_000 and worst >= 0.1
    assert "stopped at its cap of 100,000 orders" in result.err and f"{worst:.3f} points" in result.err


# --- 5. one line and exit 2, never a traceback -----------------------------------------------------
@pytest.mark.parametrize(
    "name, content, message",
    [
        ("ok.csv", b"question_id,text\n1,hi\n", "not a GGUF file"),
        ("empty.gguf", b"", "the file is empty, not a GGUF model"),
    ],
)
def test_a_gguf_path_that_is_not_a_gguf_model_is_one_line(cli, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    result = cli(
        "generate", "--model", f"gguf:{path}", "--benchmark", "sample", "--limit", "1", "--results", tmp_path / "r"
    )
    assert result.code == 2 and f"arena: error: {path}: {message}" in result.err
    assert "Traceback" not in result.err and len(result.err.strip().splitlines()) == 1


def test_a_judge_template_with_a_literal_brace_is_refused_when_read(cli, tmp_path):
    template = tmp_path / "my_prompt.jsonl"
    template.write_text(
        json.dumps(
            {
                "prompt_id": 1,
                "system_prompt": "You judge.",
                "prompt_template": '{question}\n{answer_1}\n{answer_2}\nReply as JSON: {"winner": 1}',
            }
        )
        + "\n"
    )
    with OpenAICompatibleServer(reply=_pairwise_judge) as server:
        models = _answers_and_models_file(tmp_path, ["alpha", "zeta"], server.base_url)
        result = cli(
            "evaluate",
            "--model",
            "alpha",
            "--baseline",
            "zeta",
            "--judge",
            "judge",
            "--protocol",
            "pairwise",
            "--judge-template",
            template,
            "--benchmark",
            "sample",
            "--limit",
            "2",
            "--models-file",
            models,
            "--results",
            tmp_path / "r",
        )
        assert server.requests == []
    assert result.code == 2 and f"{template}:1: field 'prompt_template' has a brace" in result.err
    assert "write a literal brace twice" in result.err and "Traceback" not in result.err


# --- 8. unreadable relative replies do not hide the pairwise results --------------------------------
def _scores_unreadable(messages):
    user = messages[-1].content
    if "two scores" in user or "scores" in user.split("</reply>")[-1]:
        return "Both answers are good; I will not give numbers."
    return "The first is better.\n1"


def test_evaluate_both_with_unreadable_relative_replies_prints_the_pairwise_results(cli, tmp_path):
    with OpenAICompatibleServer(reply=_scores_unreadable) as server:
        models = _answers_and_models_file(tmp_path, ["alpha", "zeta"], server.base_url)
        args = (
            "evaluate",
            "--model",
            "alpha",
            "--baseline",
            "zeta",
            "--judge",
            "judge",
            "--protocol",
            "both",
            "--benchmark",
            "sample",
            "--limit",
            "3",
            "--models-file",
            models,
            "--results",
            tmp_path / "r",
            "--bootstrap",
            "20",
        )
        first = cli(*args)
        again = cli(*args)
    for result in (first, again):
        assert result.code == 0, result.err
        assert "alpha vs zeta · pairwise" in result.out and "Win rate vs zeta" in result.out
        assert "no relative scores" in result.err and "Traceback" not in result.err
        assert "6 relative judgments are stored as errors" in result.err and "--retry-errors" in result.err


def test_evaluate_with_every_reply_unreadable_prints_no_empty_win_rate_table(cli, tmp_path):
    with OpenAICompatibleServer(reply=lambda messages: "I cannot decide.") as server:
        models = _answers_and_models_file(tmp_path, ["alpha", "zeta"], server.base_url)
        result = cli(
            "evaluate", "--model", "alpha", "--baseline", "zeta", "--judge", "judge", "--protocol", "pairwise", "--benchmark", "sample",
            "--limit", "3", "--models-file", models, "--results", tmp_path / "r", "--bootstrap", "20",
        )  # fmt: skip
    assert result.code == 0, result.err
    assert "Win rate vs zeta" not in result.out and "no win rate vs zeta" in result.err, result.err
    assert "unreadable" in result.err and "--retry-errors" in result.err


# --- 9. an unknown top-level table in arena.toml ----------------------------------------------------
@pytest.mark.parametrize(
    "text, message",
    [
        ('[model.my-guanaco]\nbackend = "hf"\npath = "x"\n', "unknown top-level table 'model'; did you mean 'models'?"),
        ('[modles.a]\nbackend = "hf"\npath = "x"\n', "unknown top-level table 'modles'; did you mean 'models'?"),
        ('judge = "gpt-4"\n', "unknown top-level key 'judge'; model definitions go in [models.NAME] tables"),
    ],
)
def test_an_unknown_top_level_table_in_the_models_file_is_named(cli, tmp_path, text, message):
    path = tmp_path / "arena.toml"
    path.write_text(text)
    result = cli("models", "list", "--models-file", path)
    assert result.code == 2 and f"{path}: {message}" in result.err


# --- 10. a UTF-8 byte-order mark is accepted by every reader ----------------------------------------
BOM = "\ufeff"


def test_files_starting_with_a_byte_order_mark_are_read(cli, tmp_path):
    csv_file = tmp_path / "excel.csv"
    csv_file.write_text(BOM + "prompt,category\nWhat is 2+2?,math\nName a colour.,general\n", encoding="utf-8")
    result = cli("prompts", "show", csv_file)
    assert result.code == 0 and "What is 2+2?" in result.out, result.err
    assert cli("prompts", "pull", "excel-set", "--from", csv_file).code == 0

    jsonl = tmp_path / "prompts.jsonl"
    jsonl.write_text(BOM + json.dumps({"question_id": "q1", "text": "Hello?"}) + "\n", encoding="utf-8")
    result = cli("prompts", "show", jsonl)
    assert result.code == 0 and "Hello?" in result.out, result.err

    answers = tmp_path / "answers.jsonl"
    prompts = load_prompt_set("sample").prompts[:2]
    answers.write_text(
        BOM + "".join(json.dumps({"question_id": p.id, "generation": "an answer"}) + "\n" for p in prompts),
        encoding="utf-8",
    )
    toml = tmp_path / "arena.toml"
    toml.write_text(BOM + f'[models.bom-model]\nbackend = "answers"\npath = "{answers}"\n', encoding="utf-8")
    result = cli(
        "generate",
        "--model",
        "bom-model",
        "--benchmark",
        "sample",
        "--limit",
        "2",
        "--models-file",
        toml,
        "--results",
        tmp_path / "r",
    )
    assert result.code == 0 and "2 answers generated" in result.err, result.err

    template = tmp_path / "template.jsonl"
    template.write_text(
        BOM
        + json.dumps(
            {
                "prompt_id": 1,
                "system_prompt": "Judge.",
                "prompt_template": "{question} {answer_1} {answer_2} choose 3 for a tie",
            }
        )
        + "\n",
        encoding="utf-8",
    )
    from arena.judging.templates import load_fastchat_templates

    assert load_fastchat_templates(template).protocol == "pairwise"

    log = tmp_path / "r2" / "sample" / "judgments" / "judge.jsonl"
    log.parent.mkdir(parents=True)
    log.write_text(
        BOM
        + json.dumps(
            {
                "benchmark": "sample",
                "question_id": "1",
                "model_a": "a",
                "model_b": "b",
                "judge": "judge",
                "protocol": "pairwise",
                "verdict": "A",
                "judgment_id": "j1",
            }
        )
        + "\n",
        encoding="utf-8",
    )
    assert len(ResultsStore(tmp_path / "r2").judgments("sample", "judge")) == 1
    assert len(ResultsStore(tmp_path / "r2").judgment_columns("sample", "judge")) == 1


# --- 11. the answers backend reads what people have --------------------------------------------------
def test_the_answers_backend_reads_arenas_own_files_and_plain_text_and_names_what_it_accepts(cli, tmp_path):
    prompts = load_prompt_set("sample").prompts[:2]
    plain = write_jsonl(tmp_path / "plain.jsonl", [{"question_id": p.id, "text": f"plain {p.id}"} for p in prompts])
    common = ("--benchmark", "sample", "--limit", "2", "--results", tmp_path / "r")
    assert cli("generate", "--model", f"answers:{plain}", *common).code == 0
    own = tmp_path / "r" / "sample" / "answers" / "plain.jsonl"  # arena's own answer file, fed back in
    result = cli(
        "generate", "--model", f"answers:{own}", "--benchmark", "sample", "--limit", "2", "--results", tmp_path / "r2"
    )
    assert result.code == 0, result.err
    assert {a.text for a in ResultsStore(tmp_path / "r2").answers("sample", "plain").values()} == {
        f"plain {p.id}" for p in prompts
    }

    bad = write_jsonl(tmp_path / "bad.jsonl", [{"question_id": prompts[0].id, "answer": "hi"}])
    result = cli("generate", "--model", f"answers:{bad}", *common)
    assert result.code == 2 and f"{bad}:1: no answer found" in result.err
    for field in ("'generation'", "'choices'", "'turns'", "'text'"):
        assert field in result.err


def test_a_model_definition_sets_the_name_its_answers_are_stored_under(cli, tmp_path):
    prompts = load_prompt_set("sample").prompts[:2]
    answers = write_jsonl(
        tmp_path / "answer_gpt35.jsonl", [{"question_id": p.id, "generation": "chatgpt says"} for p in prompts]
    )
    models = tmp_path / "arena.toml"
    models.write_text(f'[models.chatgpt-published]\nbackend = "answers"\npath = "{answers}"\nname = "gpt-3.5"\n')
    result = cli(
        "generate",
        "--model",
        "chatgpt-published",
        "--benchmark",
        "sample",
        "--limit",
        "2",
        "--models-file",
        models,
        "--results",
        tmp_path / "r",
    )
    assert result.code == 0, result.err
    store = ResultsStore(tmp_path / "r")
    assert store.answered_models("sample") == ["gpt-3.5"] and len(store.answers("sample", "gpt-3.5")) == 2


# --- 13. one prompt set per name; replacing one asks for --replace ----------------------------------
def test_pulling_a_name_twice_needs_replace_and_keeps_one_entry(cli, tmp_path, arena_home):
    csv_file = tmp_path / "mine.csv"
    csv_file.write_text("prompt\nFirst version?\n")
    jsonl = write_jsonl(
        tmp_path / "mine.jsonl",
        [{"question_id": "a", "text": "Second version?"}, {"question_id": "b", "text": "And another?"}],
    )
    assert cli("prompts", "pull", "my-set", "--from", csv_file).code == 0
    refused = cli("prompts", "pull", "my-set", "--from", jsonl)
    assert refused.code == 2 and "prompt set 'my-set' already exists" in refused.err and "--replace" in refused.err
    assert "First version?" in cli("prompts", "show", "my-set").out
    assert cli("prompts", "pull", "my-set", "--from", jsonl, "--replace").code == 0
    shown = cli("prompts", "show", "my-set").out
    assert "Second version?" in shown and "First version?" not in shown
    listing = cli("prompts", "list").out
    assert listing.count("my-set") == 1
    assert sorted(p.name for p in (arena_home / "prompts" / "user").iterdir()) == ["my-set.jsonl"]


# --- 14. --by-category before the prompt set is pulled ----------------------------------------------
def test_relative_by_category_without_the_prompt_set_says_how_to_get_categories(cli, tmp_path):
    source = shared_path("published", "qlora-vicuna-relative-sample")
    assert cli("import", "qlora", source, "--results", tmp_path / "r").code == 0
    args = (
        "ratings",
        "--benchmark",
        "vicuna80",
        "--results",
        tmp_path / "r",
        "--method",
        "relative",
        "--baseline",
        "gpt-3.5",
        "--by-category",
        "--bootstrap",
        "50",
        "--format",
        "json",
    )
    result = cli(*args)
    assert result.code == 2 and "arena prompts pull vicuna80" in result.err and "uncategorized" not in result.out
    assert (
        cli("prompts", "pull", "vicuna80", "--from", shared_path("benchmarks", "vicuna80", "questions.jsonl")).code == 0
    )
    rows = cli(*args).json()
    assert [r["category"] for r in rows[:2]] == ["all", "all"]
    assert "uncategorized" not in {r["category"] for r in rows} and len({r["category"] for r in rows}) > 5


# --- 16. machine-readable output: strict JSON, one shape, CSV as complete as the table ----------------
def _strict_json(text):
    def refuse(constant):
        raise AssertionError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def _two_judges_store(root):
    """Three models with answers of different lengths, judged by two judges on different questions."""
    import random

    from arena.store import Answer

    rng = random.Random(3)
    store = ResultsStore(root)
    models = {"short": 1, "medium": 4, "long": 9}
    questions = [str(q) for q in range(30)]
    store.save_answers(
        [
            Answer("sample", q, m, ["word " * (size * 10) + "\n- a list item" * (size % 2)])
            for q in questions
            for m, size in models.items()
        ]
    )
    judgments = []
    for judge, subset in (("judge-one", questions[:15]), ("judge-two", questions[15:])):
        for q in subset:
            for a, b in (("short", "medium"), ("medium", "long"), ("long", "short")):
                judgments.append(Judgment("sample", q, a, b, judge, "pairwise", rng.choice(["A", "B", "B", "tie"])))
    store.save_judgments(judgments)


def test_json_is_strict_and_one_shape_per_method_and_csv_keeps_the_coefficients(cli, tmp_path):
    _two_judges_store(tmp_path / "r")
    common = ("--benchmark", "sample", "--results", tmp_path / "r", "--bootstrap", "30")
    agreement = cli(
        "ratings", "--method", "agreement", "--judge", "judge-one", "--judge", "judge-two", "--format", "json", *common
    )
    assert agreement.code == 0, agreement.err
    row = _strict_json(agreement.out)[0]
    assert row["items"] == 0 and row["agreement"] is None and row["cohen_kappa"] is None

    one = _strict_json(cli("ratings", "--method", "bt", "--judge", "judge-one", "--format", "json", *common).out)
    both = _strict_json(cli("ratings", "--method", "bt", "--format", "json", *common).out)
    assert {r["judge"] for r in one} == {"judge-one"} and {r["judge"] for r in both} == {"judge-one", "judge-two"}
    assert set(one[0]) == set(both[0])

    shapes = []
    for judges in (("--judge", "judge-one"), ()):
        result = cli("ratings", "--method", "bt", "--control", "style", "--format", "json", *judges, *common)
        assert result.code == 0, result.err
        data = _strict_json(result.out)
        shapes.append((type(data).__name__, sorted(data), sorted(data["ratings"][0]), sorted(data["coefficients"][0])))
        assert all("judge" in r for r in data["ratings"] + data["coefficients"])
    assert shapes[0] == shapes[1]

    csv_out = cli("ratings", "--method", "bt", "--control", "style", "--format", "csv", *common).out
    header, *lines = csv_out.splitlines()
    assert header.startswith("table,judge,model,rating") and header.endswith("feature,beta")
    assert sum(line.startswith("coefficients,judge-one,") for line in lines) == 4
    assert sum(line.startswith("ratings,judge-two,") for line in lines) == 3


# --- 15. an 80-column terminal folds no number and no name ------------------------------------------
@pytest.mark.parametrize("method", ["elo", "bt", "bias", "relative"])
def test_tables_in_an_80_column_terminal_never_fold_numbers_or_names(cli, tmp_path, monkeypatch, method):
    monkeypatch.setenv("COLUMNS", "80")
    _two_judges_store(tmp_path / "r")
    store = ResultsStore(tmp_path / "r")
    store.save_judgments(
        [
            Judgment("sample", str(q), a, b, "judge-one", "relative", "A", score_a=8, score_b=7)
            for q in range(12)
            for a, b in (("a-rather-long-model-name-7b", "medium"), ("medium", "a-rather-long-model-name-7b"))
        ]
    )
    extra = ("--baseline", "medium", "--protocol", "relative") if method == "relative" else ()
    result = cli(
        "ratings",
        "--benchmark",
        "sample",
        "--results",
        tmp_path / "r",
        "--method",
        method,
        "--bootstrap",
        "30",
        "--orderings",
        "30",
        "--judge",
        "judge-one",
        *extra,
    )
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert max(len(line) for line in lines) <= 80
    body = [line for line in lines if line.startswith("│")]
    cells = [cell.strip() for line in body for cell in line.strip("│").split("│")]
    for cell in cells:  # every cell a whole number or name: none cut in two
        assert cell == "" or re.fullmatch(r"-?\d+(\.\d+)?|n/a|[\w.-]+", cell), cell
    if method == "relative":
        assert "a-rather-long-model-name-7b" in cells
    # a folded row goes on over a second line whose first cell is blank
    assert all(line.strip("│").split("│")[0].strip() for line in body), result.out


# --- 17. noise, help and listings -----------------------------------------------------------------
def test_published_answers_print_no_token_speed(cli, tmp_path):
    prompts = load_prompt_set("sample").prompts[:2]
    path = write_jsonl(tmp_path / "pub.jsonl", [{"question_id": p.id, "generation": "hi"} for p in prompts])
    result = cli(
        "generate", "--model", f"answers:{path}", "--benchmark", "sample", "--limit", "2", "--results", tmp_path / "r"
    )
    assert result.code == 0 and "2 answers generated" in result.err
    assert "tok/s" not in result.err and "0 tokens" not in result.err


def test_prompts_show_cuts_a_long_prompt_unless_full(cli, tmp_path):
    path = write_jsonl(tmp_path / "long.jsonl", [{"question_id": "big", "text": "start " + "x" * 50_000 + " end"}])
    cut = cli("prompts", "show", path)
    assert cut.code == 0 and "start" in cut.out and " end" not in cut.out and len(cut.out) < 5_000
    assert "more characters: --full shows them" in cut.out
    full = cli("prompts", "show", path, "--full")
    assert full.code == 0 and full.out.count("x") >= 50_000
    assert "x" * 50_000 in cli("prompts", "show", path, "--format", "jsonl").out


def test_a_misspelled_flag_is_answered_by_its_command_with_the_close_match(cli):
    result = cli("ratings", "--benchmark", "sample", "--methd", "bt")
    assert result.code == 2
    assert "usage: arena ratings" in result.err and "--methd (did you mean --method?)" in result.err
    nested = cli("prompts", "show", "sample", "--limt", "2")
    assert nested.code == 2 and "usage: arena prompts show" in nested.err and "did you mean --limit?" in nested.err


def test_help_shows_each_options_default(cli):
    ratings = cli("ratings", "--help").out
    for option, default in (("--method", "elo"), ("--seed", "0"), ("--format", "table"), ("--bootstrap", "1000")):
        block = ratings.split(f"  {option} ", 1)[1].split("\n  -", 1)[0]
        assert f"(default: {default})" in " ".join(block.split()), (option, block)
    assert "(default: 10000)" in " ".join(cli("report", "--help").out.split())


def test_listings_as_json(cli, tmp_path):
    sets = cli("prompts", "list", "--format", "json").json()
    assert {"name", "count", "categories", "available"} <= set(sets[0]) and sets[0]["name"] == "sample"
    models = cli("models", "list", "--format", "json").json()
    assert any(m["name"] == "smollm2-135m-q4" and m["backend"] == "hf" for m in models)
    assert cli("rate", "add-rater", "alice", "--results", tmp_path / "r").code == 0
    raters = cli("rate", "raters", "--results", tmp_path / "r", "--format", "json").json()
    assert [(r["rater"], r["votes"], r["status"]) for r in raters] == [("alice", 0, "active")]


@pytest.mark.model
def test_the_gguf_conversion_shows_no_progress_bar_without_verbose(tmp_path):
    """The real SmolLM2 GGUF, converted afresh (tens of seconds): the library's tqdm bar stays hidden."""
    from conftest import run_arena_process

    result = run_arena_process(
        "generate",
        "--model",
        "smollm2-135m-q4",
        "--benchmark",
        "sample",
        "--limit",
        "1",
        "--max-new-tokens",
        "2",
        "--results",
        tmp_path / "r",
        env={"ARENA_CONVERTED_DIR": str(tmp_path / "converted")},
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "de-quantizing" not in result.stderr and "it/s" not in result.stderr
    assert "1 answers generated" in result.stderr


# --- 18. start-up: heavy modules only where used ------------------------------------------------------
def _modules_after(code: str) -> set[str]:
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(out.stdout.split())


def test_evaluate_reaches_its_judge_without_scipy_or_numba():
    modules = _modules_after("import arena.pipelines.commands, arena.judging.judges, arena.models.openai_api")
    assert not {m for m in modules if m.split(".")[0] in ("scipy", "numba", "torch", "transformers")}


def test_small_elo_and_report_skip_numba_and_scipy_stats(tmp_path):
    _two_judges_store(tmp_path / "r")  # 90 judgments with answers
    elo = _modules_after(
        f"from arena.cli import main; main(['ratings', '--benchmark', 'sample', '--results', "
        f"{str(tmp_path / 'r')!r}, '--orderings', '200'])"
    )
    assert "numba" not in elo and "scipy.stats" not in elo
    report = _modules_after(
        f"from arena.cli import main; main(['report', '--benchmark', 'sample', '--results', "
        f"{str(tmp_path / 'r')!r}, '--out', {str(tmp_path / 'rep')!r}, '--bootstrap', '20'])"
    )
    assert "scipy.stats" not in report and (tmp_path / "rep" / "index.html").exists()


def test_the_numpy_elo_plays_the_orders_of_the_compiled_kernels():
    import numpy as np

    from arena.ratings.elo_compiled import _elo_kernel_from, _orders_kernel
    from arena.ratings.matches import Matches
    from arena.ratings.paper_elo import _numpy_elo, _numpy_orders

    for n_matches, seed, first in ((2, 0, 0), (3, 5, 3), (57, 2**40, 7)):
        assert np.array_equal(
            _numpy_orders(n_matches, 30, seed, first), _orders_kernel(n_matches, 30 + first, seed)[first:]
        )
    rng = np.random.default_rng(0)
    matches = Matches(
        tuple("abcdef"), rng.integers(0, 3, 200), rng.integers(3, 6, 200), rng.choice([0.0, 0.5, 1.0], 200), {}
    )
    compiled = _elo_kernel_from(matches.model_a, matches.model_b, matches.outcome, 6, 300, 3, 32.0, 11)
    assert np.allclose(_numpy_elo(matches, 300, 3, 32.0, 11), compiled, atol=1e-9)
