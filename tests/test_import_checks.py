"""Imports check every field they read, and every file, before writing anything: a wrong type is exit 2 with
one message naming the file, the line and the field, never a traceback, and the results folder is left as it
was."""

import json
import shutil

import pytest
from conftest import shared_path, write_jsonl

SAMPLE_IDS = ("s01", "s02", "s03")


def snapshot(folder):
    """Every file under `folder` with its bytes (empty when the folder does not exist)."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def pair_row(qid="s01", **changes):
    row = {
        "question_id": qid,
        "model_1": "alpha",
        "model_2": "beta",
        "g1_winner": "model_1",
        "g2_winner": "model_2",
        "judge": ["gpt-4", "pair-v2"],
        "g1_judgment": "[[A]]",
        "g2_judgment": "[[B]]",
        "turn": 1,
    }
    return {**row, **changes}


def fastchat_dir(tmp_path, judgment_rows):
    """A FastChat folder on arena's sample set: two models' answers and one pairwise judgment file."""
    root = tmp_path / "fc"
    (root / "model_answer").mkdir(parents=True)
    for model in ("alpha", "beta"):
        write_jsonl(
            root / "model_answer" / f"{model}.jsonl",
            [
                {"question_id": q, "model_id": model, "choices": [{"index": 0, "turns": [f"{model} {q}"]}]}
                for q in SAMPLE_IDS
            ],
        )
    (root / "model_judgment").mkdir()
    path = write_jsonl(root / "model_judgment" / "gpt-4_pair.jsonl", judgment_rows)
    return root, path


@pytest.mark.parametrize(
    ("changes", "field", "says"),
    [
        ({"judge": 42}, "judge", "must be [judge model, prompt name]"),
        ({"judge": [None, "pair-v2"]}, "judge", "must be [judge model, prompt name]"),
        ({"judge": "gpt-4"}, "judge", "must be [judge model, prompt name]"),
        ({"model_1": None}, "model_1", "must be a non-empty string, got None"),
        ({"model_2": 7}, "model_2", "must be a non-empty string, got 7"),
        ({"model_1": ""}, "model_1", "must be a non-empty string"),
        ({"question_id": None}, "question_id", "must be a string or an integer id, got None"),
        ({"question_id": ["s01"]}, "question_id", "must be a string or an integer id"),
        ({"g1_winner": ["model_1"]}, "g1_winner", "must be model_1, model_2, tie or error"),
        ({"g2_judgment": {"text": "x"}}, "g2_judgment", "must be a string"),
        ({"turn": "1"}, "turn", "must be a turn number"),
    ],
)
def test_fastchat_judgment_fields_of_the_wrong_type(cli, tmp_path, changes, field, says):
    root, path = fastchat_dir(tmp_path, [pair_row("s01"), pair_row("s02", **changes)])
    results = tmp_path / "results"
    result = cli("import", "fastchat", root, "--benchmark", "sample", "--results", results)
    assert result.code == 2, result.err
    assert "Traceback" not in result.err
    assert f"{path}:2: field '{field}' {says}" in result.err
    assert not results.exists()  # not the answers, not a run manifest


@pytest.mark.parametrize(
    ("row", "field", "says"),
    [
        ({"question_id": "s01", "model": None, "score": 8}, "model", "must be a non-empty string"),
        ({"question_id": "s01", "model": "alpha", "score": [8]}, "score", "must be a number"),
        ({"question_id": "s01", "model": "alpha", "score": 8, "judgment": 3}, "judgment", "must be a string"),
    ],
)
def test_fastchat_single_grade_fields_of_the_wrong_type(cli, tmp_path, row, field, says):
    root, path = fastchat_dir(tmp_path, [row])
    path.rename(path.with_name("gpt-4_single.jsonl"))
    result = cli("import", "fastchat", root, "--benchmark", "sample", "--results", tmp_path / "results")
    assert result.code == 2 and "Traceback" not in result.err
    assert f"gpt-4_single.jsonl:1: field '{field}' {says}" in result.err


@pytest.mark.parametrize(
    ("row", "says"),
    [
        (pair_row(999), "question_id '999' matches no question of prompt set 'sample' (12 questions)"),
        ({"question_id": "s99", "model": "alpha", "score": 8}, "question_id 's99' matches no question"),
        (pair_row("s02", model_2="alpha"), "fields 'model_1' and 'model_2' are both 'alpha': a model cannot be"),
    ],
)
def test_a_judgment_of_an_unknown_question_or_of_a_model_against_itself_is_refused(cli, tmp_path, row, says):
    root, path = fastchat_dir(tmp_path, [pair_row("s01"), row])
    results = tmp_path / "results"
    result = cli("import", "fastchat", root, "--benchmark", "sample", "--results", results)
    assert result.code == 2, result.err
    assert f"{path}:2: {says}" in result.err and "Traceback" not in result.err
    assert not results.exists()


def test_qlora_and_alpaca_eval_refuse_a_model_against_itself(cli, tmp_path):
    source = tmp_path / "ratings"
    shutil.copytree(shared_path("published", "qlora-vicuna-pairwise-sample", "ratings"), source)
    first = sorted(source.glob("*.jsonl"))[0]
    same = first.with_name(first.name.replace("-vs-30b-", "-vs-13b-"))
    first.rename(same)
    results = tmp_path / "results"
    result = cli("import", "qlora", source, "--benchmark", "vicuna80", "--results", results)
    assert result.code == 2 and "Traceback" not in result.err
    assert f"{same}: the file name compares" in result.err and "against itself" in result.err
    ae = tmp_path / "ae"
    shutil.copytree(shared_path("published", "alpaca-eval-2-sample", "results"), ae)
    file = sorted(ae.rglob("annotations.json"))[0]
    rows = json.loads(file.read_text())
    for row in rows:
        row["generator_2"] = row["generator_1"]
    file.write_text(json.dumps(rows))
    result = cli("import", "alpaca-eval", file, "--results", results)
    assert result.code == 2 and "Traceback" not in result.err
    assert f"{file}: row 1: fields 'generator_1' and 'generator_2' are both" in result.err
    assert not results.exists()


def test_a_bad_judgment_line_stores_no_answers_and_leaves_the_results_as_they_were(cli, tmp_path):
    results = tmp_path / "results"
    good, _ = fastchat_dir(tmp_path / "good", [pair_row("s01")])
    assert cli("import", "fastchat", good, "--benchmark", "sample", "--results", results).code == 0
    before = snapshot(results)
    root, path = fastchat_dir(tmp_path, [pair_row(q) for q in SAMPLE_IDS])
    (root / "model_answer" / "gamma.jsonl").write_text(
        json.dumps({"question_id": "s01", "model_id": "gamma", "choices": [{"turns": ["g"]}]}) + "\n"
    )
    with open(path, "a") as handle:
        handle.write('{"question_id": "s03", "model_1": "alpha", "model_2": "ga')  # cut off mid-line
    result = cli("import", "fastchat", root, "--benchmark", "sample", "--results", results)
    assert result.code == 2 and "Traceback" not in result.err
    assert f"{path}:4: not valid JSON (Unterminated string starting at column 55)" in result.err
    assert "at at" not in result.err
    assert snapshot(results) == before


def test_qlora_three_class_score_of_the_wrong_type(cli, tmp_path):
    source = tmp_path / "ratings"
    shutil.copytree(shared_path("published", "qlora-vicuna-pairwise-sample", "ratings"), source)
    path = sorted(source.glob("*-threeclass.jsonl"))[0]
    lines = path.read_text().splitlines()
    for number, score in ((3, [1, 2]), (3, {"a": 1}), (3, 1.5)):
        row = json.loads(lines[number - 1])
        path.write_text("\n".join([*lines[: number - 1], json.dumps({**row, "score": score}), *lines[number:]]) + "\n")
        result = cli("import", "qlora", source, "--benchmark", "vicuna80", "--results", tmp_path / "results")
        assert result.code == 2 and "Traceback" not in result.err
        assert f"{path}:3: field 'score' must be 1, 2, 3 or -1 in a three-class file, got {score!r}" in result.err
    for name, value, says in (
        ("question_id", None, "must be a string or an integer id"),
        ("text", 5, "must be a string"),
    ):
        row = json.loads(lines[1])
        path.write_text("\n".join([lines[0], json.dumps({**row, name: value}), *lines[2:]]) + "\n")
        result = cli("import", "qlora", source, "--benchmark", "vicuna80", "--results", tmp_path / "results")
        assert result.code == 2 and f"{path}:2: field '{name}' {says}" in result.err
    assert not (tmp_path / "results").exists()


def test_a_failed_qlora_import_leaves_the_results_as_they_were(cli, tmp_path):
    source = tmp_path / "ratings"
    shutil.copytree(shared_path("published", "qlora-vicuna-pairwise-sample", "ratings"), source)
    results = tmp_path / "results"
    first = sorted(source.glob("*.jsonl"))[0]
    kept = first.read_text()
    first.unlink()
    assert cli("import", "qlora", source, "--benchmark", "vicuna80", "--results", results).code == 0
    before = snapshot(results)
    first.write_text(kept)
    last = sorted(source.glob("*.jsonl"))[-1]
    last.write_text(last.read_text() + '{"question_id": 81, "text": "cut')
    result = cli("import", "qlora", source, "--benchmark", "vicuna80", "--results", results)
    assert result.code == 2 and "not valid JSON (Unterminated string starting at column" in result.err
    assert snapshot(results) == before


def test_a_failed_alpaca_eval_import_leaves_the_results_as_they_were(cli, tmp_path, arena_home):
    source = tmp_path / "ae"
    shutil.copytree(shared_path("published", "alpaca-eval-2-sample", "results"), source)
    files = sorted(source.rglob("annotations.json"))
    results = tmp_path / "results"
    assert cli("import", "alpaca-eval", files[0], "--results", results).code == 0
    before, prompts_before = snapshot(results), snapshot(arena_home)
    rows = json.loads(files[-1].read_text())
    rows[1]["annotator"] = ["weighted"]
    files[-1].write_text(json.dumps(rows))
    result = cli("import", "alpaca-eval", source, "--results", results)
    assert result.code == 2 and "Traceback" not in result.err
    assert f"{files[-1]}: row 2: field 'annotator' must be a string" in result.err
    files[-1].write_text(json.dumps(rows)[:-40])
    result = cli("import", "alpaca-eval", source, "--results", results)
    assert result.code == 2 and f"{files[-1]}: not valid JSON (" in result.err and "at at" not in result.err
    assert snapshot(results) == before and snapshot(arena_home) == prompts_before


def test_a_benchmark_name_one_typo_from_a_known_set_is_refused(cli, tmp_path):
    root, _ = fastchat_dir(tmp_path, [pair_row("s01")])
    results = tmp_path / "results"
    for typo, known in (("mtbench", "mt-bench"), ("vicuna", "vicuna80"), ("sampel", "sample")):
        result = cli("import", "fastchat", root, "--benchmark", typo, "--results", results)
        assert result.code == 2, result.err
        assert f"unknown prompt set '{typo}'; did you mean '{known}'?" in result.err
    qlora = cli("import", "qlora", tmp_path, "--benchmark", "mtbench", "--results", results)
    assert qlora.code == 2 and "did you mean 'mt-bench'?" in qlora.err
    assert not results.exists()


def test_a_set_of_ones_own_pulled_or_new_is_imported_into(cli, tmp_path):
    root, _ = fastchat_dir(tmp_path, [pair_row("s01")])
    prompts = write_jsonl(tmp_path / "mine.jsonl", [{"question_id": q, "text": f"question {q}"} for q in SAMPLE_IDS])
    assert cli("prompts", "pull", "mtbenchx", "--from", prompts).code == 0  # one typo from mt-bench, but pulled
    results = tmp_path / "results"
    pulled = cli("import", "fastchat", root, "--benchmark", "mtbenchx", "--results", results)
    assert pulled.code == 0, pulled.err
    new = cli("import", "fastchat", root, "--benchmark", "my-own-set", "--results", results)
    assert new.code == 0 and "prompt set 'my-own-set' is not available here" in new.err
    again = cli("import", "fastchat", root, "--benchmark", "my-own-set", "--results", results)
    assert again.code == 0 and "not available here" not in again.err  # already in the results folder


def test_the_readme_and_the_help_name_the_set_mt_bench():
    from pathlib import Path

    import arena.cli

    for path in (Path(__file__).parents[1] / "README.md", Path(arena.cli.__file__)):
        assert "--benchmark mtbench" not in path.read_text(), path
