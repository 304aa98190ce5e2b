"""A new user's first hour: typos in arena.toml, out-of-range numbers, read-only folders and missing extras
all end in one clear message and exit 2, never a traceback; every command leaves one manifest."""

import json
import os
import shutil
import subprocess
import sys
import warnings

import pytest
from conftest import shared_path
from openai_server import OpenAICompatibleServer
from test_judging import answers_files, longer_wins, models_file, tournament  # noqa: F401  (fixture)

from arena.cli import build_parser
from arena.store import Judgment, ResultsStore


# --- arena.toml ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "line, message",
    [
        ('quantisation = "4bit"', "unknown key 'quantisation'; did you mean 'quantization'?"),
        ("temprature = 0.1", "unknown key 'temprature'; did you mean 'temperature'?"),
        ('quantization = "3bit"', "field 'quantization' must be one of 'none', '8bit', '4bit', got '3bit'"),
        ("max_new_tokens = -5", "field 'max_new_tokens' must be an integer >= 1"),
        ('extends = "smollm3"', "field 'extends': unknown preset 'smollm3'; did you mean"),
    ],
)
def test_a_typo_in_the_models_file_is_caught_when_it_is_read(cli, tmp_path, line, message):
    path = tmp_path / "arena.toml"
    path.write_text(f'[models.mine]\nbackend = "hf"\npath = "some/model"\n{line}\n')
    result = cli("models", "show", "mine", "--models-file", path)
    assert result.code == 2 and f"{path}: [models.mine] {message}" in result.err


def test_a_model_without_a_path_says_so(cli, tmp_path):
    path = tmp_path / "arena.toml"
    path.write_text('[models.mine]\nbackend = "hf"\nquantization = "4bit"\n')
    result = cli("models", "show", "mine", "--models-file", path)
    assert result.code == 2 and "[models.mine] needs field 'path'" in result.err


# --- numbers ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args, message",
    [
        (
            ("generate", "--model", "smollm2-135m-q4", "--benchmark", "sample", "--limit", "-1"),
            "--limit: must be at least 1, got -1",
        ),
        (
            ("generate", "--model", "smollm2-135m-q4", "--benchmark", "sample", "--limit", "0"),
            "--limit: must be at least 1, got 0",
        ),
        (("ratings", "--benchmark", "sample", "--bootstrap", "-1"), "--bootstrap: must be at least 1"),
        (("ratings", "--benchmark", "sample", "--orderings", "0"), "--orderings: must be at least 1"),
        (("tournament", "--budget", "-5"), "--budget: must be at least 1, got -5"),
        (("tournament", "--max-cost", "0"), "--max-cost: must be > 0"),
        (("generate", "--model", "m", "--benchmark", "b", "--top-p", "1.5"), "--top-p: must be > 0 and <= 1"),
        (
            ("finetune", "--base", "b", "--data", "d", "--name", "n", "--lora-dropout", "1"),
            "--lora-dropout: must be >= 0 and < 1",
        ),
        (
            ("rate", "serve", "--benchmark", "b", "--models", "a", "b", "--port", "70000"),
            "--port: must be between 1 and 65535",
        ),
        (("prompts", "show", "sample", "--limit", "x"), "--limit: expected a whole number, got 'x'"),
    ],
)
def test_numbers_out_of_range_are_refused_by_the_parser(cli, args, message):
    result = cli(*args)
    assert result.code == 2 and message in result.err and "Traceback" not in result.err


# --- no tracebacks ---------------------------------------------------------------------------------
def _read_only(path):
    """Run a command with `path` mounted read-only (root ignores permission bits), else chmod."""
    if os.geteuid() == 0:
        command = [
            "unshare",
            "-m",
            "sh",
            "-c",
            'd="$1"; shift; mount --bind "$d" "$d" && mount -o remount,bind,ro "$d" && exec "$@"',
            "sh",
            str(path),
        ]
        if not shutil.which("unshare") or subprocess.run([*command, "true"], capture_output=True).returncode != 0:
            pytest.skip("running as root without the right to mount: no way to make a folder read-only here")
        return command
    for folder, _, files in os.walk(path):
        os.chmod(folder, 0o555)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o444)
    return []


@pytest.mark.slow
def test_every_command_on_a_read_only_results_directory_ends_without_a_traceback(cli, tmp_path, answers_files):  # noqa: F811
    results = tmp_path / "results"
    sample = shared_path("published", "qlora-vicuna-pairwise-sample")
    assert cli("import", "qlora", sample, "--results", results).code == 0
    assert cli("rate", "add-rater", "alice", "--results", results).code == 0
    with OpenAICompatibleServer(reply=longer_wins) as server:
        models = models_file(tmp_path, answers_files, server.base_url)
        commands = [
            ("import", "qlora", sample),
            ("ratings", "--benchmark", "vicuna80", "--orderings", "50"),
            (
                "report",
                "--benchmark",
                "vicuna80",
                "--out",
                tmp_path / "report",
                "--orderings",
                "50",
                "--bootstrap",
                "20",
            ),
            ("export", "fastchat", "--benchmark", "vicuna80", "--out", tmp_path / "fc"),
            ("generate", "--model", "alpha", "--benchmark", "sample", "--models-file", models),
            ("tournament", "--models", "alpha", "beta", "--judge", "judge", "--models-file", models, "--limit", "1"),
            (
                "evaluate",
                "--model",
                "alpha",
                "--baseline",
                "beta",
                "--benchmark",
                "sample",
                "--judge",
                "judge",
                "--models-file",
                models,
                "--limit",
                "1",
            ),
            ("finetune", "--base", "smollm2-135m-q4", "--data", "sample", "--name", "x", "--out", tmp_path / "ft"),
            ("rate", "add-rater", "bob"),
            ("rate", "revoke", "alice"),
            ("rate", "raters"),
            ("rate", "export"),
        ]
        prefix = _read_only(results)
        env = {**os.environ, "JUDGE_KEY": "sk", "OMP_NUM_THREADS": "1"}
        for command in commands:
            run = subprocess.run(
                [*prefix, sys.executable, "-m", "arena", *map(str, command), "--results", str(results)],
                capture_output=True,
                text=True,
                env=env,
                cwd=tmp_path,
                timeout=300,
            )
            assert "Traceback" not in run.stderr, (command, run.stderr[-3000:])
            assert run.returncode in (0, 2), (command, run.returncode, run.stderr[-2000:])
            if run.returncode == 2:
                assert run.stderr.startswith("arena: error:") or "\narena: error:" in run.stderr, (command, run.stderr)


def test_report_onto_an_existing_file_is_a_message(cli, tmp_path):
    results = tmp_path / "results"
    assert (
        cli("import", "qlora", shared_path("published", "qlora-vicuna-pairwise-sample"), "--results", results).code == 0
    )
    target = tmp_path / "index.html"
    target.write_text("mine")
    result = cli("report", "--benchmark", "vicuna80", "--results", results, "--out", target, "--orderings", "20")
    assert result.code == 2 and "exists and is not a folder" in result.err and target.read_text() == "mine"


@pytest.mark.parametrize(
    "module, command, extra",
    [
        ("torch", ("tournament", "--limit", "1"), "hf"),
        ("sqlalchemy", ("rate", "raters"), "web"),
    ],
)
def test_a_missing_extra_names_the_install_command(cli, tmp_path, monkeypatch, module, command, extra):
    for name in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        monkeypatch.delitem(sys.modules, name)
    for name in [m for m in sys.modules if m.startswith("arena.web") or m.startswith("arena.models.hf")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, module, None)  # what `import torch` meets when torch is not installed
    result = cli(*command, "--results", tmp_path / "r")
    assert result.code == 2 and f"pip install -e '.[{extra}]'" in result.err and module in result.err


def test_finetune_of_a_gpu_model_on_cpu_names_the_gpu_first(cli, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = cli(
        "finetune",
        "--base",
        "guanaco-7b",
        "--data",
        "timdettmers/openassistant-guanaco",
        "--name",
        "g",
        "--results",
        tmp_path / "r",
        "--out",
        tmp_path / "out",
    )
    assert result.code == 2 and "needs a CUDA GPU" in result.err and "datasets" not in result.err


# --- ratings -------------------------------------------------------------------------------------
def _store_two_judges(results):
    store = ResultsStore(results)
    rows = []
    for q in range(30):
        for judge in ("gpt-4", "human"):
            verdict = "A" if (q + (judge == "human")) % 3 else "B"
            rows.append(Judgment("sample", f"q{q}", "alpha", "beta", judge, "pairwise", verdict))
    store.save_judgments(rows)
    store.save_judgments([Judgment("sample", "q1", "alpha", "gamma", "human", "pairwise", "A")])


def test_ratings_rate_each_judge_on_its_own_unless_pooled(cli, tmp_path):
    _store_two_judges(tmp_path / "r")
    separate = cli(
        "ratings", "--results", tmp_path / "r", "--benchmark", "sample", "--format", "json", "--orderings", "50"
    ).json()
    assert {r["judge"] for r in separate} == {"gpt-4", "human"}
    assert sum(r["matches"] for r in separate if r["judge"] == "gpt-4") == 60
    table = cli("ratings", "--results", tmp_path / "r", "--benchmark", "sample", "--orderings", "50")
    assert table.out.count("Elo (paper") == 2  # one table per judge
    pooled = cli(
        "ratings",
        "--results",
        tmp_path / "r",
        "--benchmark",
        "sample",
        "--format",
        "json",
        "--orderings",
        "50",
        "--pool-judges",
    ).json()
    assert pooled[0]["judge"] == "gpt-4, human" and sum(r["matches"] for r in pooled) == 2 * 61


def test_intervals_from_a_handful_of_matches_are_not_shown(cli, tmp_path):
    _store_two_judges(tmp_path / "r")
    rows = cli(
        "ratings",
        "--results",
        tmp_path / "r",
        "--benchmark",
        "sample",
        "--judge",
        "human",
        "--format",
        "json",
        "--method",
        "bt",
        "--bootstrap",
        "50",
    ).json()
    gamma = next(r for r in rows if r["model"] == "gamma")
    assert gamma["matches"] == 1 and gamma["ci_low"] is None and gamma["ci_high"] is None
    alpha = next(r for r in rows if r["model"] == "alpha")
    assert alpha["ci_low"] is not None and alpha["ci_low"] <= alpha["rating"] <= alpha["ci_high"]
    table = cli(
        "ratings",
        "--results",
        tmp_path / "r",
        "--benchmark",
        "sample",
        "--judge",
        "human",
        "--method",
        "bt",
        "--bootstrap",
        "50",
    )
    assert "n/a" in table.out and "no meaningful interval" in table.err


def test_an_empty_results_folder_names_no_other_folder(cli, tmp_path):
    (tmp_path / "r" / "sample" / "answers").mkdir(parents=True)  # answers only: no judgments
    result = cli("ratings", "--results", tmp_path / "r", "--benchmark", "vicuna80")
    assert result.code == 2 and "(sets with judgments there: none)" in result.err


# --- manifests and timestamps ----------------------------------------------------------------------
def test_one_manifest_per_command_and_judgments_stamped_as_they_land(cli, tmp_path, answers_files):  # noqa: F811
    with OpenAICompatibleServer(reply=longer_wins, delay=0.05) as server:
        models = models_file(tmp_path, answers_files, server.base_url, max_concurrency=1)
        assert tournament(cli, models, tmp_path / "r", "--limit", "2").code == 0
        evaluated = cli(
            "evaluate",
            "--model",
            "alpha",
            "--baseline",
            "beta",
            "--benchmark",
            "sample",
            "--judge",
            "judge",
            "--models-file",
            models,
            "--results",
            tmp_path / "r",
            "--limit",
            "1",
            "--bootstrap",
            "20",
        )
        assert evaluated.code == 0, evaluated.err
    assert (
        cli(
            "import", "qlora", shared_path("published", "qlora-vicuna-pairwise-sample"), "--results", tmp_path / "r"
        ).code
        == 0
    )
    assert cli("rate", "add-rater", "alice", "--results", tmp_path / "r").code == 0
    manifests = [json.loads(p.read_text()) for p in sorted((tmp_path / "r" / "runs").glob("*.json"))]
    assert sorted(m["command"] for m in manifests) == ["evaluate", "import-qlora", "rate-add-rater", "tournament"]
    run = next(m for m in manifests if m["command"] == "tournament")
    assert run["status"] == "ok" and run["exit_status"] == 0 and run["finished"] and run["arena_version"]
    assert run["config"]["judge"]["options"]["base_url"] == server.base_url
    assert run["config"]["prompt_set_sha256"] and run["judging"][0]["judged"] == 12 and run["cost"] > 0
    stamps = [j.created for j in ResultsStore(tmp_path / "r").judgments("sample", "judge")]
    assert len(set(stamps)) == len(stamps)  # one per reply, as it landed


# --- noise and help --------------------------------------------------------------------------------
def test_third_party_warnings_only_with_verbose(cli, capsys):
    for verbose in ((), ("--verbose",)):
        with warnings.catch_warnings():
            assert cli("prompts", "list", *verbose).code == 0
            warnings.warn_explicit(
                "Failed to load CPU gemm_4bit_forward", UserWarning, "bnb.py", 1, module="bitsandbytes.backends"
            )
            shown = "gemm_4bit_forward" in capsys.readouterr().err
        assert shown == bool(verbose)


def _leaves(parser, path=()):
    actions = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    if not actions:
        yield path, parser
        return
    for name, sub in actions[0].choices.items():
        yield from _leaves(sub, (*path, name))


def test_every_command_help_ends_with_examples():
    leaves = list(_leaves(build_parser()))
    assert len(leaves) >= 19
    for path, parser in leaves:
        assert parser.epilog and parser.epilog.startswith("examples:\n  arena"), " ".join(path)
