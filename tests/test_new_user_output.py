"""A new user's pass over arena's output: narrow terminals, number formats, help texts, messages."""

from __future__ import annotations

import re

import pytest

from arena.console import print_records


def _header(out: str) -> list[str]:
    line = next(line for line in out.splitlines() if line.startswith("┃"))
    return [cell.strip() for cell in line.strip("┃").split("┃")]


def _column(out: str, name: str) -> list[str]:
    index = _header(out).index(name)
    return [line.strip("│").split("│")[index].strip() for line in out.splitlines() if line.startswith("│")]


# --- 1. the columns a method is about stay at 80 columns ----------------------------------------------------
def test_length_controlled_win_rate_keeps_its_sort_key_at_80_columns(cli, published_vicuna, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    result = cli(
        "ratings", "--benchmark", "vicuna80", "--results", published_vicuna, "--method", "winrate",
        "--baseline", "gpt-3.5", "--control", "length", "--bootstrap", "20",
    )  # fmt: skip
    assert result.code == 0, result.err
    shown = _header(result.out)
    assert {"model", "lc_win_rate", "length_beta", "lc_ci_low", "lc_ci_high"} <= set(shown), shown
    assert max(len(line) for line in result.out.splitlines()) <= 80
    assert "left out to fit 80 columns" in result.err


def test_bias_keeps_the_length_preference_at_80_columns(cli, published_vicuna, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    result = cli("ratings", "--benchmark", "vicuna80", "--results", published_vicuna, "--method", "bias")
    assert result.code == 0, result.err
    shown = _header(result.out)
    assert {"first_win_share", "consistency", "longer_wins_share", "length_beta"} <= set(shown), shown


def test_an_interval_is_left_out_whole_and_the_sort_key_never(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "40")
    rows = [{"model": "m", "wins": 1, "ties": 2, "rating": 1000.0, "ci_low": 990.0, "ci_high": 1010.0}]
    print_records(rows, "table", "", list(rows[0]))
    shown = _header(capsys.readouterr().out)
    assert "rating" in shown and ("ci_low" in shown) == ("ci_high" in shown), shown
    assert "wins" not in shown  # the unranked columns go first


# --- 2. one number format per column -------------------------------------------------------------------
def test_a_column_keeps_one_number_format(monkeypatch, capsys):
    rows = [{"model": m, "win_rate": v, "se": 1.42} for m, v in (("a", 63.31), ("b", 10.8), ("c", 9.18), ("d", 7.4))]
    print_records(rows, "table", "", ["model", "win_rate", "se"])
    out = capsys.readouterr().out
    assert _column(out, "win_rate") == ["63.3", "10.8", "9.2", "7.4"]
    assert _column(out, "se") == ["1.420"] * 4


def test_trailing_zeros_keep_a_column_in_one_format(monkeypatch, capsys):
    rows = [{"model": m, "score": v} for m, v in (("a", 7.278), ("b", 6.0), ("c", 4.79))]
    rows.append({"model": "d", "score": 0.6496})
    print_records(rows, "table", "", ["model", "score"])
    assert _column(capsys.readouterr().out, "score") == ["7.278", "6.000", "4.790", "0.650"]


def test_alpaca_eval_win_rates_share_one_format(cli, tmp_path):
    from tests.conftest import shared_path

    results = tmp_path / "r"
    folder = shared_path("published", "alpaca-eval-2-sample", "results")
    assert cli("import", "alpaca-eval", folder, "--results", results).code == 0
    result = cli(
        "ratings", "--benchmark", "alpaca-eval", "--results", results, "--method", "winrate",
        "--baseline", "gpt4_1106_preview", "--bootstrap", "20",
    )  # fmt: skip
    assert result.code == 0, result.err
    for name in ("win_rate", "ci_low", "ci_high", "standard_error"):
        values = _column(result.out, name)
        assert len({len(v.partition(".")[2]) for v in values}) == 1, (name, values)


# --- 3. names never fold --------------------------------------------------------------------------------
def test_models_list_folds_no_name_at_80_columns(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    result = cli("models", "list")
    assert result.code == 0, result.err
    assert "SmolLM2-135M-Instruct," in result.out
    assert max(len(line) for line in result.out.splitlines()) <= 80
    assert not re.search(r"SmolLM2-135M-Ins\s", result.out)


def test_a_column_too_narrow_for_its_words_is_left_out_and_named(cli, tmp_path, monkeypatch):
    """At 60 columns a 50-character model name leaves no room for the description: the description is left
    out and named in the note, rather than drawn as an empty, headerless column or folded mid-word. A name
    wider than the terminal itself is folded onto the next line, never cut off."""
    fitting, too_wide = (
        "a-model-name-of-fifty-characters-" + "x" * 17,
        "a-model-name-wider-than-the-terminal-" + "y" * 33,
    )
    models = tmp_path / "arena.toml"
    models.write_text(
        "".join(
            f'[models.{n}]\nbackend = "hf"\npath = "some/model"\ndescription = "a local model"\n' for n in [fitting]
        )
    )
    monkeypatch.setenv("COLUMNS", "60")
    result = cli("models", "list", "--models-file", models)
    assert result.code == 0, result.err
    assert fitting in result.out and max(len(line) for line in result.out.splitlines()) <= 60
    assert "left out to fit 60 columns" in result.err and "description" in result.err
    assert "││" not in result.out
    models.write_text(f'[models.{too_wide}]\nbackend = "hf"\npath = "some/model"\n')
    result = cli("models", "list", "--models-file", models)
    assert max(len(line) for line in result.out.splitlines()) <= 60
    assert too_wide in "".join(line.strip("│ ") for line in result.out.splitlines())


def test_report_never_breaks_a_judge_name(cli, tmp_path, browser):
    from arena.store import Judgment, ResultsStore

    verdicts = ["A", "B", "tie", "A"]
    ResultsStore(tmp_path / "r").save_judgments(
        [
            Judgment("sample", str(q), a, b, "smollm2-135m-q4", "pairwise", verdicts[(q + len(a)) % 4])
            for q in range(20)
            for a, b in (("model-one", "model-two-long"), ("model-two-long", "model-one"))
        ]
    )
    result = cli("report", "--benchmark", "sample", "--results", tmp_path / "r", "--out", tmp_path / "o")
    assert result.code == 0, result.err
    page = browser.new_page(viewport={"width": 480, "height": 800})
    page.goto((tmp_path / "o" / "index.html").as_uri())
    lines = page.evaluate(
        """() => [...document.querySelectorAll('#bias tbody td:first-child')].map(td => {
            const range = document.createRange(); range.selectNodeContents(td);
            return [td.textContent.trim(), range.getClientRects().length];
        })"""
    )
    assert lines == [["smollm2-135m-q4", 1]], lines
    note = page.locator("p.note", has_text="held by N judgments").first.inner_text()
    assert "below above" not in note and "the model ranked next below overtake this one" in " ".join(note.split())


@pytest.mark.parametrize("command", [("ratings",), ("import", "qlora"), ()])
def test_help_prose_wraps_to_the_terminal_and_examples_stay_raw(cli, monkeypatch, command):
    monkeypatch.setenv("COLUMNS", "80")
    result = cli(*command, "--help")
    assert result.code == 0
    long_lines = [line for line in result.out.splitlines() if len(line) > 80]
    assert all(line.startswith("  ") for line in long_lines), long_lines  # only examples and usage run on
    examples = result.out.split("examples:", 1)[1]
    assert all(line.startswith("  ") for line in examples.strip("\n").splitlines()[:2])


# --- 4. every option's help says what happens when it is left out -------------------------------------
def _options_without_a_stated_default(parser, name="arena"):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, subparser in action.choices.items():
                yield from _options_without_a_stated_default(subparser, f"{name} {sub}")
        elif (
            action.option_strings
            and not action.required
            and action.nargs != 0
            and action.default is None
            and action.help != argparse.SUPPRESS
            and "default" not in (action.help or "")
        ):
            yield f"{name} {action.option_strings[-1]}"


def test_every_option_without_a_default_value_says_what_leaving_it_out_does(cli, monkeypatch):
    from arena.cli import build_parser

    assert list(_options_without_a_stated_default(build_parser())) == []
    monkeypatch.setenv("COLUMNS", "100")
    help_text = " ".join(cli("tournament", "--help").out.split())
    assert "default: no cap" in help_text and "default: every matchup" in help_text
    assert "default: every prompt" in help_text
    assert "the models' mean sits at 1000" in " ".join(cli("ratings", "--help").out.split())
    finetune = cli("finetune", "--help").out
    assert "cpu-smoke" in finetune and "cpu-\n" not in finetune  # a name never splits at its hyphen


# --- 6. messages that say what is wrong -------------------------------------------------------------------
@pytest.mark.parametrize(
    "table, message",
    [
        ('extends = "nosuch"', "field 'extends': unknown preset 'nosuch' (presets: "),
        ('extends = "smollm2-greedi"', "unknown preset 'smollm2-greedi'; did you mean 'smollm2-greedy'?"),
        ('path = "x"', "field 'backend' must be one of hf, openai, vllm, answers; it is missing"),
    ],
)
def test_models_file_messages_name_the_real_problem(cli, tmp_path, table, message):
    path = tmp_path / "arena.toml"
    path.write_text(f"[models.y]\n{table}\n")
    result = cli("models", "show", "y", "--models-file", path)
    assert result.code == 2 and message in result.err and "None" not in result.err, result.err


def test_a_model_extending_a_preset_takes_its_backend(cli, tmp_path):
    path = tmp_path / "arena.toml"
    path.write_text('[models.y]\nextends = "smollm2-greedy"\nmax_new_tokens = 12\n')
    result = cli("models", "show", "y", "--models-file", path)
    assert result.code == 0, result.err
    assert re.search(r"│ backend\s+│ hf", result.out)


def test_a_set_name_with_non_ascii_letters_says_ascii(cli, tmp_path):
    source = tmp_path / "f.csv"
    source.write_text("prompt\nhello\n")
    result = cli("prompts", "pull", "Модель", "--from", source)
    assert result.code == 2 and "use ASCII letters" in result.err


@pytest.mark.parametrize("target", ["/nonexistent/path", "./no-such-folder", "~/no/such/model", "a/b/c"])
def test_a_missing_local_model_folder_is_named(cli, target):
    result = cli("generate", "--model", f"hf:{target}", "--benchmark", "sample", "--limit", "1")
    assert result.code == 2 and f"no such folder {target}" in result.err and "Repo id" not in result.err


# --- 8. small things ------------------------------------------------------------------------------------
def test_human_votes_are_dated_like_every_other_judgment():
    from datetime import datetime

    from arena.store.records import utc_now
    from arena.web.app import vote_judgment

    vote = {
        "question_id": "1", "left_model": "a", "right_model": "b", "choice": "left", "comment": "", "name": "alice",
        "id": 1, "created": datetime(2026, 11, 29, 20, 27, 40, 142279),  # SQLite hands back naive UTC
    }  # fmt: skip
    created = vote_judgment(vote, "sample").created
    assert created == "2026-11-29T20:27:40.142+00:00"
    assert len(created) == len(utc_now()) and created[10] == "T"
    old = vote_judgment({**vote, "created": "2026-11-29 20:27:40.142279"}, "sample").created  # an old store's text
    assert old == created


def test_listing_raters_creates_no_database(cli, tmp_path):
    results = tmp_path / "EMPTY"
    result = cli("rate", "raters", "--results", results)
    assert result.code == 0 and "no raters yet" in result.err and not results.exists()
    assert cli("rate", "raters", "--results", results, "--format", "json").json() == []
    assert cli("rate", "export", "--results", results, "--format", "csv").out.startswith("vote_id,benchmark")
    assert not results.exists()
    assert cli("rate", "add-rater", "alice", "--results", results).code == 0
    listed = cli("rate", "raters", "--results", results, "--format", "json").json()
    assert [r["rater"] for r in listed] == ["alice"] and re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", listed[0]["created"]
    )


def _self_judged_store(root):
    """Three models with answers of different lengths, judged by 'medium', one of them."""
    import random

    from arena.store import Answer, Judgment, ResultsStore

    rng = random.Random(5)
    store = ResultsStore(root)
    sizes = {"short": 1, "medium": 4, "long": 9}
    questions = [str(q) for q in range(20)]
    store.save_answers([Answer("sample", q, m, ["word " * (n * 10)]) for q in questions for m, n in sizes.items()])
    store.save_judgments(
        [
            Judgment("sample", q, a, b, "medium", "pairwise", rng.choice(["A", "B", "tie"]))
            for q in questions
            for a, b in (("short", "medium"), ("medium", "long"), ("long", "short"))
        ]
    )


def test_one_judge_agreement_says_two_or_more(cli, tmp_path):
    _self_judged_store(tmp_path / "r")
    result = cli("ratings", "--benchmark", "sample", "--results", tmp_path / "r", "--method", "agreement")
    assert result.code == 2 and "two or more judges" in result.err and "exactly two" not in result.err


@pytest.mark.parametrize("extra", [(), ("--self-model", "medium=medium")])
def test_style_controlled_bt_notes_a_judge_that_is_a_contestant(cli, tmp_path, extra):
    _self_judged_store(tmp_path / "r")
    common = ("--benchmark", "sample", "--results", tmp_path / "r", "--bootstrap", "10", *extra)
    plain = cli("ratings", "--method", "bt", *common)
    controlled = cli("ratings", "--method", "bt", "--control", "style", *common)
    assert plain.code == 0 and controlled.code == 0, controlled.err
    note = "note: judge medium is also a contestant (model medium)"
    assert note in plain.err and note in controlled.err


def test_what_the_readme_examples_write_is_ignored_by_git():
    import shutil
    import subprocess

    from tests.conftest import REPO

    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    readme = (REPO / "README.md").read_text()
    written = set(re.findall(r"(?:--results|--out) ([a-z][\w.-]*/?)(?=\s)", readme))
    written |= set(re.findall(r"> ([a-z][\w.-]*\.(?:csv|jsonl|json))\b", readme))
    assert {"recorded", "votes.csv"} <= {w.rstrip("/") for w in written}
    for path in sorted(written):
        probe = path.rstrip("/") + ("/x" if not path.endswith((".csv", ".jsonl", ".json")) else "")
        ignored = subprocess.run(["git", "check-ignore", "-q", probe], cwd=REPO, check=False).returncode == 0
        assert ignored, f"{path} (written by a README example) is not in .gitignore"


def test_revoking_an_unknown_rater_creates_nothing(cli, tmp_path):
    results = tmp_path / "x"
    result = cli("rate", "revoke", "bob", "--results", results)
    assert result.code == 2 and "no rater called 'bob'" in result.err and "Traceback" not in result.err
    assert not results.exists()
    assert cli("rate", "add-rater", "alice", "--results", results).code == 0
    before = sorted(p.name for p in results.rglob("*"))
    result = cli("rate", "revoke", "bob", "--results", results)
    assert result.code == 2 and "no rater called 'bob'" in result.err
    assert sorted(p.name for p in results.rglob("*")) == before  # no run manifest for a refused revoke
    assert cli("rate", "revoke", " alice ", "--results", results).code == 0


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("",), "invalid rater name ''"),
        (("   ",), "invalid rater name '   '"),
        (("x" * 5000,), "give 1 to 100 printable characters (got 5000"),
        (("a\tb",), "invalid rater name"),
        (("carol", "--base-url", "notaurl"), "--base-url: 'notaurl' is not a web address"),
        (("carol", "--base-url", "ftp://host"), "is not a web address"),
        (("carol", "--base-url", "http://"), "is not a web address"),
    ],
)
def test_a_bad_rater_name_or_base_url_is_refused(cli, tmp_path, args, says):
    results = tmp_path / "x"
    result = cli("rate", "add-rater", *args, "--results", results)
    assert result.code == 2 and says in result.err and "Traceback" not in result.err
    assert not results.exists()
