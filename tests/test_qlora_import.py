"""The QLoRA paper's published evaluation files: OA rows keyed by message_id, sides resolved by answer ids,
the whole eval/ layout in one command, the paper's figures reproduced."""

import json
import shutil

import pytest
from conftest import shared_path, write_jsonl

from arena.interop.qlora import readable_model_name
from arena.store import ResultsStore


@pytest.fixture
def eval_folder(tmp_path):
    """A folder laid out like the QLoRA repository's eval/, built from the shared samples."""
    published = shared_path("published")
    root = tmp_path / "eval"
    shutil.copytree(published / "qlora-vicuna-pairwise-full" / "ratings", root / "ratings-gpt4/vicuna/pairwise")
    shutil.copytree(
        published / "qlora-vicuna-relative-sample" / "ratings", root / "ratings-gpt4/vicuna/relative-gpt-3.5"
    )
    shutil.copytree(published / "qlora-oa-pairwise-sample" / "ratings", root / "ratings-gpt4/oa")
    shutil.copytree(published / "qlora-vicuna-pairwise-full" / "generations", root / "generations/vicuna")
    shutil.copy(
        published / "qlora-vicuna-relative-sample/generations/7b-guanaco-vicuna-generations-topp0.9-temp0.7.jsonl",
        root / "generations/vicuna",
    )
    shutil.copytree(published / "qlora-oa-pairwise-sample" / "generations", root / "generations/oa")
    (root / "prompts").mkdir()
    shutil.copy(shared_path("benchmarks", "vicuna80", "questions.jsonl"), root / "prompts/vicuna_questions.jsonl")
    return root


def test_relative_sample_gives_the_papers_percentages(cli, tmp_path):
    folder = shared_path("published", "qlora-vicuna-relative-sample")
    results = tmp_path / "results"
    imported = cli("import", "qlora", folder, "--results", results)
    assert imported.code == 0, imported.err
    assert "160 rows showed the answers in the other order" in imported.err
    assert "7b-guanaco-vicuna-generations-topp0.9-temp0.7-vs-gpt-3.5-gpt4-reviewer.jsonl: 80 of 80 rows" in imported.err
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
    percent = {r["model"]: r["rating"] for r in rows}
    assert percent.keys() == {"guanaco-7b", "bard"}
    # The paper's figures, to the paper's one decimal.
    assert abs(percent["guanaco-7b"] - 87.0) <= 0.05 and abs(percent["bard"] - 94.8) <= 0.05

    judgments = ResultsStore(results).judgments("vicuna80")
    named_second = [j for j in judgments if j.meta["file"].startswith("7b-guanaco") and j.question_id == "1"][0]
    assert (named_second.model_a, named_second.model_b) == ("gpt-3.5", "guanaco-7b")  # as the answer ids say
    assert named_second.meta["original_model_a"].startswith("7b-guanaco")
    assert named_second.meta["sides_from"] == "answer ids" and named_second.meta["order_corrected"] is True
    # Bard's files agree with their names: nothing corrected.
    assert not any(j.meta["order_corrected"] for j in judgments if "bard" in j.meta["file"])


def test_oa_rows_keyed_by_message_id_import_with_their_answers(cli, tmp_path):
    folder = shared_path("published", "qlora-oa-pairwise-sample", "ratings")
    results = tmp_path / "results"
    imported = cli("import", "qlora", folder, "--benchmark", "oa953", "--results", results)
    assert imported.code == 0, imported.err
    store = ResultsStore(results)
    judgments = store.judgments("oa953")
    assert len(judgments) == 180
    first_row = json.loads((folder / sorted(p.name for p in folder.iterdir())[0]).read_text().splitlines()[0])
    assert first_row["message_id"] in {j.question_id for j in judgments}
    answers = store.answers("oa953", "gpt-3.5")
    assert len(answers) == 60
    # The answers meet their verdicts: every judgment naming ChatGPT finds ChatGPT's answer to that prompt.
    with_chatgpt = [j for j in judgments if "gpt-3.5" in (j.model_a, j.model_b)]
    assert with_chatgpt and all(j.question_id in answers for j in with_chatgpt)
    assert {j.model_a for j in judgments} | {j.model_b for j in judgments} == {
        "gpt-3.5",
        "guanaco-65b",
        "guanaco-7b",
        "guanaco-13b",
    }


def test_one_command_imports_a_whole_eval_folder(cli, tmp_path, eval_folder):
    results = tmp_path / "results"
    imported = cli("import", "qlora", eval_folder, "--results", results)
    assert imported.code == 0, imported.err
    assert "oa953: 3 review files, 180 judgments (180 pairwise): 180 added" in imported.err
    assert "vicuna80: 60 review files, 4800 judgments (4480 pairwise, 320 relative): 4800 added" in imported.err
    store = ResultsStore(results)
    vicuna = store.judgments("vicuna80")
    # Answers join their verdicts under the same names: answer_gpt35.jsonl is gpt-3.5, answer_bard.jsonl bard.
    models = {j.model_a for j in vicuna} | {j.model_b for j in vicuna}
    assert models == {
        "gpt-4",
        "gpt-3.5",
        "bard",
        "vicuna-13b",
        "guanaco-7b",
        "guanaco-13b",
        "guanaco-33b",
        "guanaco-65b",
    }
    assert set(store.answered_models("vicuna80")) == models
    rows = cli("ratings", "--results", results, "--benchmark", "vicuna80", "--method", "elo", "--format", "json").json()
    # The paper's Table 1 order (GPT-4 judge, Vicuna benchmark).
    assert [r["model"] for r in rows] == [
        "gpt-4",
        "guanaco-65b",
        "guanaco-33b",
        "vicuna-13b",
        "gpt-3.5",
        "guanaco-13b",
        "bard",
        "guanaco-7b",
    ]
    again = cli("import", "qlora", eval_folder, "--results", results)
    assert again.code == 0 and "0 added, 4800 already stored" in again.err and "180 already stored" in again.err
    assert len(ResultsStore(results).judgments("vicuna80")) == 4800


def test_a_part_of_the_eval_folder_imports_too(cli, tmp_path, eval_folder):
    results = tmp_path / "results"
    imported = cli("import", "qlora", eval_folder / "ratings-gpt4" / "oa", "--results", results)
    assert imported.code == 0, imported.err
    assert "oa953" in imported.err and "answers of gpt-3.5: 60 added" in imported.err
    assert ResultsStore(results).benchmarks() == ["oa953"]


def _bad_import(cli, tmp_path, folder, *extra):
    results = tmp_path / "results"
    result = cli("import", "qlora", folder, "--results", results, *extra)
    assert result.code == 2
    assert not results.exists() or not any(results.rglob("*.jsonl")), "a failed import stored something"
    return result.err


def test_a_row_matching_no_prompt_names_file_and_line(cli, tmp_path, eval_folder):
    assert (
        cli("prompts", "pull", "vicuna80", "--from", shared_path("benchmarks", "vicuna80", "questions.jsonl")).code == 0
    )
    path = sorted((eval_folder / "ratings-gpt4/vicuna/pairwise").glob("*.jsonl"))[3]
    lines = path.read_text().splitlines()
    row = json.loads(lines[4])
    row["question_id"] = 999
    lines[4] = json.dumps(row)
    path.write_text("\n".join(lines) + "\n")
    err = _bad_import(cli, tmp_path, eval_folder)
    assert f"{path.name}:5: question id '999' matches no prompt of 'vicuna80'" in err


def test_an_answer_id_in_two_answer_files_is_refused(cli, tmp_path, eval_folder):
    generations = eval_folder / "generations/vicuna"
    first = json.loads((generations / "answer_bard.jsonl").read_text().splitlines()[0])
    rows = [json.loads(line) for line in (generations / "answer_gpt35.jsonl").read_text().splitlines()]
    rows[2]["answer_id"] = first["answer_id"]
    write_jsonl(generations / "answer_gpt35.jsonl", rows)
    err = _bad_import(cli, tmp_path, eval_folder)
    assert "answer_gpt35.jsonl:3: answer id" in err and "answer_bard.jsonl:1" in err


def test_a_file_name_without_vs_is_refused(cli, tmp_path):
    folder = tmp_path / "reviews"
    shutil.copytree(shared_path("published", "qlora-vicuna-pairwise-sample", "ratings"), folder)
    (folder / "guanaco-7b-gpt-4-reviewer-threeclass.jsonl").write_text('{"question_id": 1, "score": 1, "text": "1"}\n')
    err = _bad_import(cli, tmp_path, folder, "--benchmark", "vicuna80")
    assert "guanaco-7b-gpt-4-reviewer-threeclass.jsonl: file name has no '-vs-'" in err


def test_one_name_normalisation_for_reviews_and_answers():
    assert (
        readable_model_name("answer_bard")
        == readable_model_name("answer-bard")
        == readable_model_name("bard")
        == "bard"
    )
    assert readable_model_name("answer_gpt35") == readable_model_name("gpt-3.5-oa-generations") == "gpt-3.5"
    assert readable_model_name("answer_vicuna-13b") == readable_model_name("13b-vicuna") == "vicuna-13b"
    assert readable_model_name("13b-hh-rlhf") == readable_model_name("hh-rlhf-13b") == "hh-rlhf-13b"
    assert readable_model_name("30b-guanaco-oa-generations-topp0.9-temp0.7") == "guanaco-33b"
