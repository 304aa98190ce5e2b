import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from conftest import REPO, shared_path, write_jsonl
from helpers.models_file import write_models_file
from openai_server import OpenAICompatibleServer

from arena.errors import EXIT_BUDGET_STOPPED, EXIT_CALLS_FAILED
from arena.judging.parsing import parse_pairwise, parse_scores
from arena.judging.templates import builtin_templates, load_fastchat_templates
from arena.prompts import load_prompt_set
from arena.store import ResultsStore

MODELS = ("alpha", "beta", "gamma")


@pytest.mark.parametrize(
    "text, verdict",
    [
        ("Reasons...\n1", "A"),
        ("Reasons\n\n  2  \n", "B"),
        ("x\n3", "tie"),
        ("x\n**1**", "A"),
        ("x\nAssistant 2", "B"),
        ("x\n[[1]]", "A"),
        ("x\nFinal answer: 2.", "B"),
        ("x\n`3`", "tie"),
        ("Assistant 1 is better.", None),
        ("x\n4", None),
        ("", None),
        ("x\n1 or 2", None),
        ("2\nexplanation", None),
    ],
)
def test_pairwise_verdict_parsing(text, verdict):
    assert parse_pairwise(text) == verdict


@pytest.mark.parametrize(
    "text, scores",
    [
        ("8 7\nbecause", (8.0, 7.0)),
        ("8, 7\n...", (8.0, 7.0)),
        ("**9/10 6/10**\n", (9.0, 6.0)),
        ("10 9.5\nx", (10.0, 9.5)),
        ("Let me solve it... so the result is (7, 3)", (7.0, 3.0)),
        ("The first is good.\nThe second too.", None),
        ("", None),
    ],
)
def test_score_parsing(text, scores):
    assert parse_scores(text) == scores


def test_builtin_templates_have_variants_and_stable_hashes():
    for protocol in ("pairwise", "relative"):
        templates = builtin_templates(protocol)
        assert set(templates.variants) == {"general", "coding", "math"}
        assert templates.for_category("coding").name.endswith("coding")
        assert templates.for_category("roleplay").name.endswith("general")
        system, user = templates.for_category("math").render("Q{x}", "A {b}", "B")
        assert "Q{x}" in user and "A {b}" in user and system
        assert templates.for_category("math").hash == builtin_templates(protocol).for_category("math").hash
    assert (
        builtin_templates("pairwise").for_category(None).hash != builtin_templates("relative").for_category(None).hash
    )


def test_paper_prompt_files_load():
    folder = shared_path("judge-templates", "qlora-paper")
    three = load_fastchat_templates(folder / "vicuna_prompt_threeclass.jsonl", folder / "reviewer.jsonl")
    assert three.protocol == "pairwise" and set(three.variants) == {"general", "coding", "math"}
    _, user = three.for_category("coding").render("Write code", "ans one", "ans two")
    assert "ans one" in user and "{prompt}" not in user and "choose between the answers" in user
    relative = load_fastchat_templates(folder / "vicuna_prompt_relative.jsonl", folder / "reviewer.jsonl")
    assert relative.protocol == "relative"
    oa = load_fastchat_templates(folder / "oa_prompt_threeclass.jsonl", folder / "oa_reviewer.jsonl")
    assert oa.protocol == "pairwise" and list(oa.variants) == ["general"]


# --- end-to-end with published answers and a loopback judge --------------------------------------
@pytest.fixture
def answers_files(tmp_path):
    """Three 'models' as published answer files on the sample set: short, medium and long answers."""
    sample = load_prompt_set("sample")
    paths = {}
    for size, name in enumerate(MODELS, start=1):
        rows = [
            {"question_id": p.id, "generation": f"{name} answer to {p.id}. " + "detail " * (3 * size)}
            for p in sample.prompts
        ]
        paths[name] = write_jsonl(tmp_path / f"{name}.jsonl", rows)
    return paths


def longer_wins(messages):
    """A deterministic judge: the longer reply wins; answers in the judge's free-text format."""
    user = messages[-1].content
    replies = re.findall(r'<reply id="(\d)">\n(.*?)\n</reply>', user, re.S) or re.findall(
        r"Assistant (\d)'s Answer\]\n(.*?)\n\n\[The End", user, re.S
    )
    one, two = len(replies[0][1]), len(replies[1][1])
    if "two scores" in user or "scores" in user.split("</reply>")[-1]:
        return f"{min(10, one // 10)} {min(10, two // 10)}\nlonger is better"
    return f"I compared them carefully.\n{1 if one > two else 2 if two > one else 3}"


def models_file(tmp_path, answers_files, judge_url, **judge_options):
    options = {"retries": 4, "retry_base_delay": 0.01, "timeout": 1.0, "max_concurrency": 4, **judge_options}
    return write_models_file(tmp_path / "models.toml", answers_files, judge_url, **options)


@pytest.fixture(autouse=True)
def judge_key(monkeypatch):
    monkeypatch.setenv("JUDGE_KEY", "sk-judge")


def tournament(cli, models, results, *extra):
    return cli(
        "tournament",
        "--models",
        *MODELS,
        "--benchmark",
        "sample",
        "--judge",
        "judge",
        "--models-file",
        models,
        "--results",
        results,
        "--orderings",
        "200",
        "--bootstrap",
        "100",
        *extra,
    )


def test_tournament_with_an_openai_judge_and_rerun_makes_no_calls(cli, tmp_path, answers_files):
    with OpenAICompatibleServer(reply=longer_wins) as server:
        models = models_file(tmp_path, answers_files, server.base_url)
        first = tournament(cli, models, tmp_path / "r", "--limit", "4")
        assert first.code == 0, first.err
        assert len(server.requests) == 3 * 2 * 4
        assert "24 judged now" in first.err
        rows = json.loads((tmp_path / "r" / "sample" / "leaderboards" / "judge.json").read_text())
        assert [r["model"] for r in rows["elo"]] == ["gamma", "beta", "alpha"]
        assert [r["model"] for r in rows["bradley_terry"]] == ["gamma", "beta", "alpha"]
        assert "gamma" in first.out and "Bradley-Terry" in first.out
        again = tournament(cli, models, tmp_path / "r", "--limit", "4")
        assert again.code == 0 and len(server.requests) == 24
        assert "24 already stored" in again.err
    judgments = ResultsStore(tmp_path / "r").judgments("sample", "judge")
    assert len(judgments) == 24 and all(j.template_hash and j.meta["cache_key"] for j in judgments)
    assert {(j.model_a, j.model_b) for j in judgments} == {(a, b) for a in MODELS for b in MODELS if a != b}


def test_faults_end_as_verdicts_or_failed_calls_never_lost_or_duplicated(cli, tmp_path, answers_files):
    # The first call meets five faults in a row (all its attempts): it fails and stores nothing; the run goes
    # on, exits 4, and the rerun judges exactly that one.
    faults = ["429", "500", "slow", "garbage", "429", None, "500", "429"]
    with OpenAICompatibleServer(reply=longer_wins, faults=faults) as server:
        models = models_file(tmp_path, answers_files, server.base_url, max_concurrency=2)
        result = tournament(cli, models, tmp_path / "r", "--limit", "3")
        assert result.code == EXIT_CALLS_FAILED, result.err
        assert "1 calls failed and stored nothing" in result.err and "HTTP 429" in result.err
        path = tmp_path / "r" / "sample" / "judgments" / "judge.jsonl"
        assert len(path.read_text().splitlines()) == 17
        again = tournament(cli, models, tmp_path / "r", "--limit", "3")
        assert again.code == 0, again.err
        assert "17 already stored" in again.err and "1 judged now" in again.err
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 18 == len({r["judgment_id"] for r in lines})
    assert all(r["verdict"] in ("A", "B", "tie") for r in lines)


def test_unparseable_verdicts_are_errors_and_retry_errors_fixes_them(cli, tmp_path, answers_files):
    replies = iter(["I like both." if i % 3 == 0 else None for i in range(100)])

    def sometimes_vague(messages):
        vague = next(replies)
        return vague or longer_wins(messages)

    with OpenAICompatibleServer(reply=sometimes_vague) as server:
        models = models_file(tmp_path, answers_files, server.base_url, max_concurrency=1)
        first = tournament(cli, models, tmp_path / "r", "--limit", "3")
        assert "(6 unreadable, kept as errors)" in first.err
        stored = ResultsStore(tmp_path / "r").judgments("sample", "judge")
        errors = [j for j in stored if j.verdict == "error"]
        assert len(errors) == 6 and all(j.raw == "I like both." for j in errors)
        rows = json.loads((tmp_path / "r" / "sample" / "leaderboards" / "judge.json").read_text())["elo"]
        assert sum(r["errors"] for r in rows) == 12 and sum(r["ties"] for r in rows) == 0
        calls = len(server.requests)
        retried = tournament(cli, models, tmp_path / "r", "--limit", "3", "--retry-errors")
        assert retried.code == 0 and len(server.requests) == calls + 6
    stored = ResultsStore(tmp_path / "r").judgments("sample", "judge")
    assert len(stored) == 18 and sum(j.verdict == "error" for j in stored) <= 2


def test_dry_run_says_when_identical_prompts_share_one_call(cli, tmp_path, answers_files):
    # alpha and beta answer the first question word for word: on it, alpha-beta and beta-alpha render one
    # prompt, and so do alpha-gamma and beta-gamma, and gamma-alpha and gamma-beta: 3 calls fewer than judgments.
    first = load_prompt_set("sample").prompts[0].id
    for name in ("alpha", "beta"):
        rows = [json.loads(line) for line in answers_files[name].read_text().splitlines()]
        rows = [{**r, "generation": "the same answer"} if r["question_id"] == first else r for r in rows]
        write_jsonl(answers_files[name], rows)
    with OpenAICompatibleServer(reply=longer_wins) as server:
        models = models_file(tmp_path, answers_files, server.base_url)
        dry = tournament(cli, models, tmp_path / "r", "--dry-run")
        assert dry.code == 0, dry.err
        assert "69 judge calls needed" in dry.err and "72 judgments to make, 69 distinct calls" in dry.err
        real = tournament(cli, models, tmp_path / "r")
        assert real.code == 0 and len(server.requests) == 69, "one call for each distinct prompt"


def test_dry_run_and_budget_guard(cli, tmp_path, answers_files):
    with OpenAICompatibleServer(reply=longer_wins) as server:
        models = models_file(tmp_path, answers_files, server.base_url, max_concurrency=2)
        dry = tournament(cli, models, tmp_path / "r", "--dry-run")
        assert dry.code == 0 and "dry run (pairwise): 72 judge calls needed" in dry.err
        cost = float(re.search(r"estimated cost \$([\d.]+)", dry.err).group(1))
        assert cost > 0 and not server.requests
        cap = round(cost / 4, 4)
        capped = tournament(cli, models, tmp_path / "r", "--max-cost", str(cap))
        assert capped.code == EXIT_BUDGET_STOPPED, capped.err
        left = int(re.search(r"(\d+) left to judge", capped.err).group(1))
        assert 0 < left < 72 and len(server.requests) == 72 - left
    spent = sum(j.meta["cost"] for j in ResultsStore(tmp_path / "r").judgments("sample", "judge"))
    assert 0 < spent <= cap


def test_identical_answers_are_judged_once(cli, tmp_path, answers_files):
    answers_files["delta"] = answers_files["gamma"]  # same texts under another name
    with OpenAICompatibleServer(reply=longer_wins) as server:
        models = models_file(tmp_path, answers_files, server.base_url)
        result = cli(
            "tournament",
            "--models",
            "alpha",
            "gamma",
            "delta",
            "--benchmark",
            "sample",
            "--judge",
            "judge",
            "--models-file",
            models,
            "--results",
            tmp_path / "r",
            "--limit",
            "2",
            "--orderings",
            "50",
        )
        assert result.code == 0, result.err
        prompts = [r["body"]["messages"][-1]["content"] for r in server.requests]
        assert len(prompts) == len(set(prompts))
    assert len(ResultsStore(tmp_path / "r").judgments("sample", "judge")) == 12


def test_evaluate_against_a_loopback_judge_both_protocols(cli, tmp_path, answers_files):
    with OpenAICompatibleServer(reply=longer_wins) as server:
        models = models_file(tmp_path, answers_files, server.base_url)
        result = cli(
            "evaluate",
            "--model",
            "gamma",
            "--model",
            "alpha",
            "--benchmark",
            "sample",
            "--baseline",
            "beta",
            "--judge",
            "judge",
            "--protocol",
            "both",
            "--models-file",
            models,
            "--results",
            tmp_path / "r",
            "--bootstrap",
            "100",
        )
        assert result.code == 0, result.err
        assert len(server.requests) == 2 * 2 * 12 * 2
    assert "% of beta" in result.out and "gamma" in result.out and "length-controlled" in result.out
    stored = ResultsStore(tmp_path / "r").judgments("sample", "judge")
    relative = [j for j in stored if j.protocol == "relative"]
    assert len(relative) == 48 and all(j.score_a is not None for j in relative)
    from arena.ratings.leaderboard import relative_leaderboard

    rows = relative_leaderboard(relative, "beta", 100)
    assert rows[0]["model"] == "gamma" and rows[0]["rating"] > 100 > rows[-1]["rating"]


def test_judge_base_url_flag_and_missing_key(cli, tmp_path, answers_files, monkeypatch):
    with OpenAICompatibleServer(reply=longer_wins) as server:
        models = models_file(tmp_path, answers_files, server.base_url)
        result = cli(
            "evaluate",
            "--model",
            "alpha",
            "--benchmark",
            "sample",
            "--baseline",
            "beta",
            "--judge",
            "openai:gpt-4",
            "--judge-base-url",
            server.base_url,
            "--limit",
            "2",
            "--models-file",
            models,
            "--results",
            tmp_path / "r",
            "--protocol",
            "pairwise",
        )
        assert result.code == 0, result.err
        assert len(server.requests) == 4
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    missing = cli(
        "evaluate",
        "--model",
        "alpha",
        "--benchmark",
        "sample",
        "--baseline",
        "beta",
        "--judge",
        "gpt-4",
        "--models-file",
        models,
        "--results",
        tmp_path / "r2",
    )
    assert missing.code == 2 and "OPENAI_API_KEY" in missing.err and not (tmp_path / "r2").exists()


def tournament_process(models, results):
    """`arena tournament` as a separate process, for tests that kill it or run two at once."""
    command = [
        sys.executable,
        "-m",
        "arena",
        "tournament",
        "--models",
        *MODELS,
        "--benchmark",
        "sample",
        "--judge",
        "judge",
        "--models-file",
        str(models),
        "--results",
        str(results),
        "--orderings",
        "50",
        "--bootstrap",
        "50",
    ]
    return command, {**os.environ, "JUDGE_KEY": "sk"}


@pytest.mark.slow
def test_killed_judging_run_continues_without_duplicates(tmp_path, answers_files):
    with OpenAICompatibleServer(reply=longer_wins, delay=0.15) as server:
        models = models_file(tmp_path, answers_files, server.base_url, max_concurrency=2)
        command, env = tournament_process(models, tmp_path / "r")
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=REPO)
        path = tmp_path / "r" / "sample" / "judgments" / "judge.jsonl"
        deadline = time.time() + 60
        while time.time() < deadline and (not path.exists() or len(path.read_text().splitlines()) < 10):
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        saved = len(path.read_text().splitlines())
        assert 10 <= saved < 72
        calls_before = len(server.requests)
        subprocess.run(command, check=True, capture_output=True, env=env, cwd=REPO)
        # Only the judgments not saved before the kill (plus at most the calls in flight) were paid again.
        assert len(server.requests) - calls_before == 72 - saved
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 72 == len({r["judgment_id"] for r in lines})


@pytest.mark.slow
def test_concurrent_runs_do_not_duplicate(tmp_path, answers_files):
    with OpenAICompatibleServer(reply=longer_wins, delay=0.05) as server:
        models = models_file(tmp_path, answers_files, server.base_url, max_concurrency=4)
        command, env = tournament_process(models, tmp_path / "r")
        runs = [
            subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=REPO)
            for _ in range(2)
        ]
        codes = [run.wait(timeout=120) for run in runs]
        assert codes == [0, 0], [run.stderr.read().decode()[-2000:] for run in runs]
        assert len(server.requests) == 72
    lines = (tmp_path / "r" / "sample" / "judgments" / "judge.jsonl").read_text().splitlines()
    assert len(lines) == 72


torch = pytest.importorskip("torch", reason="the hf extra is not installed")


@pytest.mark.model
def test_local_judge_on_the_real_model_gives_valid_soft_verdicts(tmp_path, answers_files):
    from arena.judging.judges import LocalProbabilityJudge
    from arena.judging.runner import judge_matchups, pairs_of, plan_matchups
    from arena.models.spec import PRESETS

    store = ResultsStore(tmp_path)
    sample = load_prompt_set("sample")
    from arena.generation.runner import generate_answers
    from arena.models.base import GenerationParams
    from arena.models.spec import ModelSpec

    for name, path in list(answers_files.items())[:2]:
        generate_answers(
            store, sample, ModelSpec(name, "answers", str(path)), GenerationParams(), limit=2, show_progress=False
        )
    answers = {m: store.answers("sample", m) for m in MODELS[:2]}
    matchups = plan_matchups(sample, answers, pairs_of(list(MODELS[:2])), limit=2)
    judge = LocalProbabilityJudge(PRESETS["smollm2-135m-q4"])
    for protocol in ("pairwise", "relative"):
        report = judge_matchups(store, "sample", judge, builtin_templates(protocol), matchups, show_progress=False)
        assert report.judged == 4 and report.errors == 0
    stored = store.judgments("sample", "smollm2-135m-q4")
    pairwise = [j for j in stored if j.protocol == "pairwise"]
    for j in pairwise:
        assert j.verdict in ("A", "B", "tie")
        assert sum(j.probabilities["calibrated"].values()) == pytest.approx(1.0)
        assert set(j.probabilities["raw"]) == {"1", "2", "3"}
    for j in (j for j in stored if j.protocol == "relative"):
        assert 1 <= j.score_a <= 9 and 1 <= j.score_b <= 9


@pytest.mark.model
def test_demo_tournament_end_to_end_on_the_real_model(cli, tmp_path):
    models = tmp_path / "models.toml"
    models.write_text(
        "".join(
            f'[models.{name}]\nbackend = "hf"\nextends = "{name}"\nmax_new_tokens = 12\n'
            for name in ("smollm2-greedy", "smollm2-sampled", "smollm2-nf4")
        )
    )
    args = (
        "tournament",
        "--models",
        "smollm2-greedy",
        "smollm2-sampled",
        "smollm2-nf4",
        "--limit",
        "2",
        "--models-file",
        models,
        "--results",
        tmp_path / "r",
        "--orderings",
        "200",
        "--bootstrap",
        "100",
    )
    first = cli(*args)
    assert first.code == 0, first.err
    rows = json.loads((tmp_path / "r" / "sample" / "leaderboards" / "smollm2-135m-q4.json").read_text())
    assert {r["model"] for r in rows["elo"]} == {"smollm2-greedy", "smollm2-sampled", "smollm2-nf4"}
    assert {r["model"] for r in rows["bradley_terry"]} == {r["model"] for r in rows["elo"]}
    assert all(r["matches"] == 8 for r in rows["elo"])
    # The judge is marked as a demo judge: labelled although these are not the default demo models.
    assert rows["demo_judge"] is True and "DEMO judge" in first.out and "DEMO judge" in first.err
    again = cli(*args)
    assert again.code == 0 and "12 already stored" in again.err and "0 judged now" in again.err


def test_evaluate_warns_of_prompts_a_published_answer_file_lacks(cli, tmp_path, answers_files):
    alpha = answers_files[MODELS[0]]
    rows = alpha.read_text().splitlines()
    alpha.write_text("\n".join(rows[1:]) + "\n")  # the first prompt has no published answer
    with OpenAICompatibleServer(reply=longer_wins) as server:
        models = models_file(tmp_path, answers_files, server.base_url)
        result = cli(
            "evaluate",
            "--model",
            MODELS[0],
            "--baseline",
            MODELS[1],
            "--benchmark",
            "sample",
            "--judge",
            "judge",
            "--models-file",
            models,
            "--results",
            tmp_path / "r",
            "--bootstrap",
            "20",
        )
    assert result.code == 0, result.err
    first = json.loads(rows[0])["question_id"]
    assert f"arena: warning: 1 prompts have no published answer: {first}" in result.err
