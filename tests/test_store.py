import json
import os
import signal
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pytest

from arena.errors import ArenaError
from arena.interop.fastchat_export import read_answer_files, store_answer_files
from arena.prompts import load_prompt_set
from arena.store import Answer, Judgment, ResultsStore
from arena.store.jsonl import JsonlLog, TornLineWarning

WRITER = """
import sys
from arena.store.jsonl import JsonlLog
log = JsonlLog(sys.argv[1])
pad = "x" * int(sys.argv[2])
i = 0
while True:
    log.append([{"i": i, "pad": pad}])
    if i == 0:
        print("ready", flush=True)
    i += 1
"""


def _answer(qid, model="m", text="hello", benchmark="sample"):
    return Answer(benchmark=benchmark, question_id=qid, model=model, turns=[text])


def test_answers_round_trip_and_resume_view(tmp_path):
    store = ResultsStore(tmp_path / "results")
    store.save_answers([_answer("s01"), _answer("s02")])
    done = store.answers("sample", "m")
    assert set(done) == {"s01", "s02"} and done["s01"].text == "hello"
    # A rerun saves only what is missing; an overwrite appends and the last record wins.
    store.save_answers([_answer(q) for q in ["s01", "s02", "s03"] if q not in done])
    store.save_answers([_answer("s01", text="better")])
    latest = store.answers("sample", "m")
    assert len(latest) == 3 and latest["s01"].text == "better"
    assert store.answered_models("sample") == ["m"]


def test_model_names_cannot_escape_the_results_dir(tmp_path):
    store = ResultsStore(tmp_path / "results")
    store.save_answers([_answer("1", model="../../etc/passwd"), _answer("1", model="huggyllama/llama-7b")])
    files = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.jsonl"))
    assert all(str(f).startswith("results/sample/answers/") for f in files)
    assert store.answered_models("sample") == ["../../etc/passwd", "huggyllama/llama-7b"]


@pytest.mark.slow
def test_sigkill_mid_write_loses_at_most_the_record_in_flight(tmp_path):
    path = tmp_path / "log.jsonl"
    torn_seen = 0
    for round_number in range(6):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(3_000_000)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.05 + 0.05 * round_number)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        raw = path.read_bytes()
        torn_seen += not raw.endswith(b"\n")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            records = JsonlLog(path).read()
        if not raw.endswith(b"\n"):
            assert any(issubclass(w.category, TornLineWarning) for w in caught)
        # Every complete record survives and no record is corrupted or out of order within a writer's run.
        assert all(len(r["pad"]) == 3_000_000 for r in records)
        assert path.read_bytes().endswith(b"\n")
    runs = [r["i"] for r in JsonlLog(path).read()]
    assert runs.count(0) == 6
    assert (path.with_name("log.jsonl.torn").exists()) == (torn_seen > 0)


def test_torn_last_line_is_set_aside_not_fatal(tmp_path):
    path = tmp_path / "answers.jsonl"
    log = JsonlLog(path)
    log.append([{"i": 0}, {"i": 1}])
    with open(path, "ab") as handle:
        handle.write(b'{"i": 2, "text": "cut of')
    with pytest.warns(TornLineWarning, match="cut off"):
        assert [r["i"] for r in log.read()] == [0, 1]
    assert path.with_name("answers.jsonl.torn").read_bytes().startswith(b'{"i": 2')
    log.append([{"i": 3}])
    assert [r["i"] for r in log.read()] == [0, 1, 3]


def test_writer_repairs_a_torn_tail_before_appending(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"i": 0}\n{"i": 1, "x"')
    with pytest.warns(TornLineWarning):
        JsonlLog(path).append([{"i": 2}])
    assert [r["i"] for r in JsonlLog(path).read()] == [0, 2]


def test_malformed_middle_line_names_file_and_line_and_touches_nothing(tmp_path, cli):
    store = ResultsStore(tmp_path / "results")
    store.save_answers([_answer("s01")])
    path = tmp_path / "results" / "sample" / "answers" / "m.jsonl"
    with open(path, "a") as handle:
        handle.write("this is not json\n")
    store.save_answers([_answer("s02")])
    before = path.read_bytes()
    with pytest.raises(ArenaError, match=r"m\.jsonl:2: not a valid JSON record"):
        store.answers("sample", "m")
    assert path.read_bytes() == before


def test_missing_field_in_a_stored_record(tmp_path):
    path = tmp_path / "results" / "sample" / "judgments" / "gpt-4.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text(
        json.dumps(
            {
                "benchmark": "sample",
                "question_id": "1",
                "model_a": "x",
                "judge": "gpt-4",
                "protocol": "pairwise",
                "verdict": "A",
            }
        )
        + "\n"
    )
    with pytest.raises(ArenaError, match=r"gpt-4\.jsonl:1: missing field 'model_b'"):
        ResultsStore(tmp_path / "results").judgments("sample")


def test_bad_verdict_in_a_stored_record(tmp_path):
    store = ResultsStore(tmp_path / "r")
    store.save_judgments([Judgment("sample", "1", "x", "y", "j", "pairwise", "A")])
    path = tmp_path / "r" / "sample" / "judgments" / "j.jsonl"
    path.write_text(path.read_text().replace('"verdict":"A"', '"verdict":"maybe"'))
    with pytest.raises(ArenaError, match="field 'verdict' must be one of"):
        store.judgments("sample")


def test_concurrent_threads_never_interleave(tmp_path):
    log = JsonlLog(tmp_path / "t.jsonl")

    def write(worker):
        for i in range(200):
            log.append([{"worker": worker, "i": i, "pad": "y" * (1000 + worker * 977)}])

    threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    records = log.read()
    assert len(records) == 1600
    for worker in range(8):
        mine = [r["i"] for r in records if r["worker"] == worker]
        assert mine == list(range(200))


def test_concurrent_processes_never_interleave(tmp_path):
    path = tmp_path / "p.jsonl"
    script = (
        "import sys\nfrom arena.store.jsonl import JsonlLog\nlog = JsonlLog(sys.argv[1])\n"
        "for i in range(300):\n    log.append([{'w': sys.argv[2], 'i': i, 'pad': 'z' * 70000}])\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(path), str(w)]) for w in range(3)]
    assert all(p.wait() == 0 for p in procs)
    records = JsonlLog(path).read()
    assert len(records) == 900
    for w in range(3):
        assert [r["i"] for r in records if r["w"] == str(w)] == list(range(300))


def test_unreadable_or_invalid_results_dir(tmp_path, cli):
    not_a_dir = tmp_path / "results"
    not_a_dir.write_text("oops")
    result = cli("ratings", "--results", not_a_dir, "--benchmark", "sample")
    assert result.code == 2 and "exists but is not a directory" in result.err
    if os.geteuid() != 0:  # root reads everything
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o000)
        assert "not readable" in cli("ratings", "--results", locked, "--benchmark", "sample").err


def test_unwritable_results_dir_is_a_clear_error(tmp_path):
    blocker = tmp_path / "results"
    blocker.mkdir()
    (blocker / "sample").write_text("a file where a folder should be")
    with pytest.raises(ArenaError, match="cannot write results here"):
        ResultsStore(blocker).save_answers([_answer("1")])


def test_run_manifest_records_config_versions_and_status(tmp_path):
    store = ResultsStore(tmp_path / "results")
    with store.run("generate", {"model": "m", "limit": 3}, seeds={"sampling": 7}):
        manifest_path = next((tmp_path / "results" / "runs").glob("*generate*.json"))
        assert json.loads(manifest_path.read_text())["status"] == "running"
    manifest = json.loads(manifest_path.read_text())
    assert manifest["status"] == "ok" and manifest["finished"]
    assert manifest["config"] == {"model": "m", "limit": 3} and manifest["seeds"] == {"sampling": 7}
    assert "numpy" in manifest["packages"] and "arena" in manifest["packages"]
    with pytest.raises(RuntimeError), store.run("judge", {}):
        raise RuntimeError("boom")
    failed = json.loads(next((tmp_path / "results" / "runs").glob("*judge*.json")).read_text())
    assert failed["status"] == "failed: RuntimeError"


def test_fastchat_export_import_round_trip(tmp_path, cli):
    store = ResultsStore(tmp_path / "results")
    sample = load_prompt_set("sample")
    store.save_answers([_answer(p.id, model="model-x", text=f"answer to {p.id}") for p in sample.prompts[:5]])
    result = cli(
        "export", "fastchat", "--benchmark", "sample", "--out", tmp_path / "fc", "--results", tmp_path / "results"
    )
    assert result.code == 0, result.err
    questions = [json.loads(line) for line in (tmp_path / "fc" / "question.jsonl").read_text().splitlines()]
    assert len(questions) == 12 and all(isinstance(q["turns"], list) for q in questions)
    rows = [json.loads(line) for line in (tmp_path / "fc" / "model_answer" / "model-x.jsonl").read_text().splitlines()]
    assert len(rows) == 5
    assert rows[0]["model_id"] == "model-x" and rows[0]["choices"][0]["turns"] == ["answer to s01"]
    assert {"question_id", "answer_id", "model_id", "choices", "tstamp"} <= set(rows[0])

    other = ResultsStore(tmp_path / "other")
    assert store_answer_files(other, read_answer_files(tmp_path / "fc", "sample"), "sample") == {"model-x": 5}
    assert store_answer_files(other, read_answer_files(tmp_path / "fc", "sample"), "sample") == {"model-x": 0}
    assert other.answers("sample", "model-x")["s03"].text == "answer to s03"


def test_fastchat_import_bad_line_imports_nothing(tmp_path, cli):
    folder = tmp_path / "fc" / "model_answer"
    folder.mkdir(parents=True)
    (folder / "a.jsonl").write_text(
        json.dumps({"question_id": 1, "model_id": "a", "choices": [{"turns": ["x"]}]}) + "\n"
    )
    (folder / "b.jsonl").write_text(
        json.dumps({"question_id": 1, "model_id": "b", "choices": [{"turns": ["x"]}]})
        + "\n"
        + json.dumps({"question_id": 2, "model_id": "b", "choices": []})
        + "\n"
    )
    # a set not available here, so ids are not checked against one
    result = cli("import", "fastchat", tmp_path / "fc", "--benchmark", "fc-only", "--results", tmp_path / "results")
    assert result.code == 2 and "b.jsonl:2: field 'choices'" in result.err
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").rglob("*.jsonl"))


def test_export_with_no_answers(tmp_path, cli):
    result = cli("export", "fastchat", "--benchmark", "sample", "--out", tmp_path / "fc", "--results", tmp_path / "r")
    assert result.code == 2 and "no answers stored" in result.err


def test_files_arena_writes_get_the_umask_mode(cli, tmp_path):
    """Atomic writes go through a temporary file (mode 0600): the result must still be readable by others."""
    import os
    import stat

    from arena.store.atomic import write_atomically

    old = os.umask(0o022)
    try:
        write_atomically(tmp_path / "a.json", "{}")
        prompts = tmp_path / "mine.jsonl"
        prompts.write_text('{"question_id": 1, "text": "hi"}\n')
        assert cli("prompts", "pull", "mine", "--from", prompts).code == 0
        with ResultsStore(tmp_path / "r").run("import", {}):
            pass
        written = [
            tmp_path / "a.json",
            *(tmp_path / "arena_home").rglob("mine.jsonl"),
            *(tmp_path / "r" / "runs").iterdir(),
        ]
        assert len(written) == 3
        assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in written} == {oct(0o644)}
    finally:
        os.umask(old)


def test_help_pages_show_percent_signs_once(cli):
    for command in (["finetune", "--help"], ["report", "--help"]):
        result = cli(*command)
        assert result.code == 0 and "%%" not in result.out


# --- the columnar cache of judgments (issue 13) -----------------------------------------------------
def _judgments(count, start=0, verdict="A"):
    return [Judgment("b", f"q{i}", "x", "y", "j", "pairwise", verdict) for i in range(start, start + count)]


def _cache_of(results):
    return next((results / "b" / "judgments" / ".columns").glob("*.npz"))


def test_the_column_cache_follows_appends_repairs_and_edits(tmp_path):
    import os

    from arena.store.columns import read_columns
    from arena.store.jsonl import JsonlLog

    store = ResultsStore(tmp_path / "r")
    store.save_judgments(_judgments(5))
    assert len(store.judgment_columns("b")) == 5
    first = _cache_of(tmp_path / "r").stat().st_mtime_ns
    store.save_judgments(_judgments(3, start=5))  # an append: only the new lines are parsed
    columns = store.judgment_columns("b")
    assert len(columns) == 8 and _cache_of(tmp_path / "r").stat().st_mtime_ns != first
    log = tmp_path / "r" / "b" / "judgments" / "j.jsonl"
    with open(log, "ab") as handle:  # a writer killed mid-record
        handle.write(b'{"benchmark": "b", "question_id": "q9", "mod')
    with pytest.warns(UserWarning, match="cut off"):
        assert len(store.judgment_columns("b")) == 8
    # An edit in place (same size, other content): the cache must not be believed.
    text = log.read_text()
    log.write_text(text.replace('"verdict":"A"', '"verdict":"B"', 1))
    os.utime(log, ns=(1, 1))
    columns = store.judgment_columns("b")
    assert sorted(columns.strings("verdict").tolist()).count("B") == 1
    # A cache that does not describe the log (here: another log's) is never used.
    other = ResultsStore(tmp_path / "o")
    other.save_judgments(_judgments(2, verdict="tie"))
    other.judgment_columns("b")
    _cache_of(tmp_path / "r").write_bytes(_cache_of(tmp_path / "o").read_bytes())
    assert len(read_columns(JsonlLog(log))) == 8


def test_columns_give_the_same_matches_as_records(tmp_path):
    from arena.ratings.matches import build_matches, matches_from_columns

    store = ResultsStore(tmp_path / "r")
    rng = np.random.default_rng(0)
    rows = [
        Judgment("b", f"q{i}", f"m{a}", f"m{b}", "j", "pairwise", str(rng.choice(["A", "B", "tie", "error"])))
        for i, (a, b) in enumerate(rng.integers(0, 5, (300, 2)))
        if a != b
    ]
    store.save_judgments(rows)
    store.save_judgments([Judgment("b", rows[0].question_id, rows[0].model_a, rows[0].model_b, "j", "pairwise", "tie")])
    by_records = build_matches(store.judgments("b"))
    by_columns = matches_from_columns(store.judgment_columns("b"), "pairwise")
    assert by_records.models == by_columns.models and by_records.errors == by_columns.errors
    order = lambda m: np.lexsort((m.outcome, m.model_b, m.model_a))  # noqa: E731
    for field in ("model_a", "model_b", "outcome"):
        assert np.array_equal(
            getattr(by_records, field)[order(by_records)], getattr(by_columns, field)[order(by_columns)]
        )


def test_fastchat_export_writes_numeric_question_ids_as_ints_like_fastchat(tmp_path, cli):
    from conftest import shared_path

    published = shared_path("benchmarks", "mt-bench", "question.jsonl")
    assert cli("prompts", "pull", "mt-bench", "--from", shared_path("benchmarks", "mt-bench")).code == 0
    store = ResultsStore(tmp_path / "results")
    store.save_answers([_answer(q, model="m", text=f"answer {q}", benchmark="mt-bench") for q in ("81", "82")])
    out = tmp_path / "fc"
    assert (
        cli("export", "fastchat", "--benchmark", "mt-bench", "--out", out, "--results", tmp_path / "results").code == 0
    )
    ours = [json.loads(line) for line in (out / "question.jsonl").read_text().splitlines()]
    theirs = [json.loads(line) for line in published.read_text().splitlines()]
    assert [q["question_id"] for q in ours] == [q["question_id"] for q in theirs] and ours[0]["question_id"] == 81
    rows = [json.loads(line) for line in (out / "model_answer" / "m.jsonl").read_text().splitlines()]
    assert [r["question_id"] for r in rows] == [81, 82]
    back = cli("import", "fastchat", out, "--benchmark", "mt-bench", "--results", tmp_path / "other")
    assert back.code == 0, back.err
    assert ResultsStore(tmp_path / "other").answers("mt-bench", "m")["82"].text == "answer 82"
    from arena.interop.fastchat_export import fastchat_question_id

    assert [fastchat_question_id(q) for q in ("81", "081", "s01", "٣", "0")] == [81, "081", "s01", "٣", 0]
