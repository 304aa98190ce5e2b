import json

import pytest
from conftest import shared_path, write_jsonl

from arena.errors import ArenaError
from arena.prompts import load_prompt_set
from arena.prompts.parsing import parse_guanaco_dialogue

VICUNA = ("benchmarks", "vicuna80", "questions.jsonl")
OA = ("benchmarks", "oa953", "questions.jsonl")


def test_sample_ships_and_covers_the_vicuna_categories():
    sample = load_prompt_set("sample")
    assert 10 <= len(sample) <= 16
    assert set(sample.categories) == {
        "generic",
        "knowledge",
        "roleplay",
        "common-sense",
        "fermi",
        "counterfactual",
        "coding",
        "math",
        "writing",
    }
    multi = [p for p in sample.prompts if len(p.turns) > 1]
    assert multi, "the sample must include multi-turn prompts"
    for prompt in multi:
        roles = [m.role for m in prompt.turns]
        assert roles[-1] == "user" and "assistant" in roles


def test_list_shows_sample_and_pinned_sets_as_not_downloaded(cli):
    result = cli("prompts", "list")
    assert result.code == 0
    assert "sample" in result.out and "12" in result.out
    assert "vicuna80" in result.out and "80" in result.out
    assert "oa953" in result.out and "953" in result.out
    assert "mt-bench" in result.out
    assert result.out.count("no: arena prompts pull") == 3


def test_pull_vicuna_and_oa_from_local_copies(cli):
    for name, parts, count in (("vicuna80", VICUNA, 80), ("oa953", OA, 953)):
        result = cli("prompts", "pull", name, "--from", shared_path(*parts))
        assert result.code == 0, result.err
        assert f"stored {count} prompts" in result.err
    listing = cli("prompts", "list").out
    assert "no: arena prompts pull vicuna80" not in listing and "no: arena prompts pull oa953" not in listing
    vicuna = load_prompt_set("vicuna80")
    assert len(vicuna) == 80 and len(vicuna.categories) == 9
    assert vicuna.prompts[0].language == "en"


def test_oa_dialogues_become_turns_in_order():
    shared = shared_path(*OA)
    from arena.prompts import pull_prompt_set

    pull_prompt_set("oa953", shared)
    oa = load_prompt_set("oa953")
    assert len(oa) == 953
    by_user_turns = {}
    for prompt in oa.prompts:
        by_user_turns.setdefault(len(prompt.user_turns), 0)
        by_user_turns[len(prompt.user_turns)] += 1
        assert prompt.turns[-1].role == "user"
        roles = [m.role for m in prompt.turns]
        assert all(a != b for a, b in zip(roles, roles[1:])), "turns alternate user/assistant"
    assert by_user_turns == {1: 517, 2: 414, 3: 22}
    assert sum(n > 1 for n in (len(p.user_turns) for p in oa.prompts)) == 436
    assert len({p.language for p in oa.prompts}) > 10
    assert all(p.reference for p in oa.prompts)
    raw = json.loads(shared.read_text().splitlines()[0])
    first = oa.by_id[raw["question_id"]]
    assert raw["input"].startswith("### Human: " + first.turns[0].content[:20])


def test_guanaco_dialogue_parsing():
    turns = parse_guanaco_dialogue(
        "### Human: Hi there ### Assistant: Hello! ### Human: Tell me a joke ### Assistant:", "x"
    )
    assert [(m.role, m.content) for m in turns] == [
        ("user", "Hi there"),
        ("assistant", "Hello!"),
        ("user", "Tell me a joke"),
    ]


def test_tampered_copy_is_refused_and_nothing_stored(cli, tmp_path, arena_home):
    original = shared_path(*VICUNA).read_text().splitlines()
    original[3] = original[3].replace("?", "!")
    tampered = tmp_path / "vicuna.jsonl"
    tampered.write_text("\n".join(original) + "\n")
    result = cli("prompts", "pull", "vicuna80", "--from", tampered)
    assert result.code == 2
    assert "checksum mismatch" in result.err and "vicuna80" in result.err
    assert not (arena_home / "prompts" / "vicuna80.jsonl").exists()
    assert not list((arena_home / "prompts").glob("*.part"))


def test_tampered_copy_does_not_replace_a_good_one(cli, tmp_path, arena_home):
    assert cli("prompts", "pull", "vicuna80", "--from", shared_path(*VICUNA)).code == 0
    stored = (arena_home / "prompts" / "vicuna80.jsonl").read_bytes()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question_id": 1, "text": "x", "category": "generic"}\n')
    assert cli("prompts", "pull", "vicuna80", "--from", bad).code == 2
    assert (arena_home / "prompts" / "vicuna80.jsonl").read_bytes() == stored


def test_pull_offline_without_from_fails_clearly(cli, monkeypatch):
    monkeypatch.setattr("arena.prompts.registry._QLORA_RAW", "http://127.0.0.1:9/none")
    from arena.prompts import registry

    monkeypatch.setitem(
        registry.PINNED,
        "vicuna80",
        registry.PinnedSet(registry.PinnedFile("http://127.0.0.1:9/q.jsonl", "0" * 64), 80, ""),
    )
    result = cli("prompts", "pull", "vicuna80")
    assert result.code == 2
    assert "could not download" in result.err and "--from" in result.err


def test_show_unknown_set_names_the_known_ones(cli):
    result = cli("prompts", "show", "vicuna81")
    assert result.code == 2
    assert "unknown prompt set 'vicuna81'" in result.err and "sample" in result.err


def test_show_pinned_set_before_pull_says_how(cli):
    result = cli("prompts", "show", "oa953")
    assert result.code == 2 and "arena prompts pull oa953" in result.err


def test_show_limit_and_jsonl(cli):
    result = cli("prompts", "show", "sample", "--limit", "3", "--format", "jsonl")
    rows = [json.loads(line) for line in result.out.splitlines()]
    assert len(rows) == 3
    assert set(rows[0]) >= {"id", "category", "turns", "language", "reference", "source"}
    table = cli("prompts", "show", "sample", "--limit", "2")
    assert "[user]" in table.out and "3 of 12" not in table.out and "2 of 12" in table.out


@pytest.mark.parametrize(
    "rows, message",
    [
        (
            [
                '{"question_id": 1, "text": "hi"}',
                '{"question_id": 2, "text": "yo"',
            ],
            "bad.jsonl:2: not valid JSON",
        ),
        (['{"question_id": 1, "category": "x"}'], "bad.jsonl:1: no prompt found"),
        (['{"text": "hello"}'], "bad.jsonl:1: missing field 'question_id'"),
        (
            ['{"question_id": 1, "text": "a"}', '{"question_id": 1, "text": "b"}'],
            "bad.jsonl:2: duplicate question id '1'",
        ),
        (['{"question_id": 1, "turns": []}'], "bad.jsonl:1: field 'turns'"),
        (['{"question_id": 1, "input": "no speakers here"}'], "bad.jsonl:1: field 'input'"),
        (['{"question_id": 1, "text": ""}'], "bad.jsonl:1: field 'text' must be a non-empty str"),
        (["[1, 2]"], "bad.jsonl:1: expected a JSON object"),
        (
            [
                '{"question_id": 1, "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}'
            ],
            "bad.jsonl:1: field 'messages' must end with a user message",
        ),
    ],
)
def test_bad_user_sets_name_file_and_line(cli, tmp_path, rows, message, arena_home):
    bad = write_jsonl(tmp_path / "bad.jsonl", rows)
    shown = cli("prompts", "show", bad)
    assert shown.code == 2 and message in shown.err
    pulled = cli("prompts", "pull", "mine", "--from", bad)
    assert pulled.code == 2 and "bad.jsonl" in pulled.err
    assert not (arena_home / "prompts" / "user" / "mine.jsonl").exists()


def test_user_sets_in_every_shape(cli, tmp_path):
    write_jsonl(tmp_path / "vicuna.jsonl", [{"question_id": 1, "text": "What is 2+2?", "category": "math"}])
    write_jsonl(
        tmp_path / "fastchat.jsonl",
        [{"question_id": 81, "category": "writing", "turns": ["Write a haiku.", "Now shorter."]}],
    )
    write_jsonl(
        tmp_path / "oa.jsonl",
        [
            {
                "question_id": "x",
                "lang": "de",
                "output": "Hallo!",
                "input": "### Human: Hallo ### Assistant: Hi ### Human: Wie geht's? ### Assistant:",
            }
        ],
    )
    (tmp_path / "prompts.csv").write_text(
        'id,Prompt,category\na1,Name three rivers,knowledge\na2,"Say hi, politely",generic\n'
    )
    for name in ("vicuna", "fastchat", "oa"):
        assert cli("prompts", "pull", f"my-{name}", "--from", tmp_path / f"{name}.jsonl").code == 0
    assert cli("prompts", "pull", "my-csv", "--from", tmp_path / "prompts.csv").code == 0
    assert load_prompt_set("my-vicuna").prompts[0].question == "What is 2+2?"
    assert load_prompt_set("my-fastchat").prompts[0].user_turns == ["Write a haiku.", "Now shorter."]
    oa = load_prompt_set("my-oa").prompts[0]
    assert (
        [m.role for m in oa.turns] == ["user", "assistant", "user"] and oa.reference == "Hallo!" and oa.language == "de"
    )
    csv_set = load_prompt_set("my-csv")
    assert [p.id for p in csv_set.prompts] == ["a1", "a2"] and csv_set.prompts[1].question == "Say hi, politely"
    listing = cli("prompts", "list").out
    assert "my-csv" in listing and "my-oa" in listing
    assert len(load_prompt_set(str(tmp_path / "prompts.csv"))) == 2


def test_csv_without_prompt_column(cli, tmp_path):
    (tmp_path / "x.csv").write_text("id,body\n1,hello\n")
    result = cli("prompts", "show", tmp_path / "x.csv")
    assert result.code == 2 and "x.csv:1: no prompt column" in result.err


def test_missing_file(cli, tmp_path):
    result = cli("prompts", "show", tmp_path / "nope.jsonl")
    assert result.code == 2 and "nope.jsonl: no such file" in result.err


def test_pull_sample_or_unknown_without_from(cli):
    assert "ships with arena" in cli("prompts", "pull", "sample").err
    result = cli("prompts", "pull", "mmlu")
    assert result.code == 2 and "--from" in result.err


def test_unwritable_data_dir(cli, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a dir")
    monkeypatch.setenv("ARENA_HOME", str(blocker))
    result = cli("prompts", "pull", "vicuna80", "--from", shared_path(*VICUNA))
    assert result.code == 2 and "cannot create the arena data directory" in result.err


def test_errors_are_arena_errors_not_tracebacks(tmp_path):
    with pytest.raises(ArenaError):
        load_prompt_set(str(write_jsonl(tmp_path / "e.jsonl", ["{"])))


def test_replacing_a_set_says_so_and_counts_in_words(cli, tmp_path):
    two = tmp_path / "two.jsonl"
    two.write_text('{"question_id": "a", "text": "Hi?"}\n{"question_id": "b", "text": "Bye?"}\n')
    one = tmp_path / "one.jsonl"
    one.write_text('{"question_id": "c", "text": "Why?"}\n')
    first = cli("prompts", "pull", "myset", "--from", two)
    assert first.code == 0 and "stored 2 prompts for 'myset'" in first.err and "replaced" not in first.err
    again = cli("prompts", "pull", "myset", "--from", one, "--replace")
    assert again.code == 0, again.err
    assert "replaced the earlier 'myset' (2 prompts): stored 1 prompt for 'myset' in" in again.err


def test_a_set_name_differing_from_an_existing_one_only_by_case_is_refused(cli, tmp_path, arena_home):
    csv = tmp_path / "p.csv"
    csv.write_text("question_id,text\n1,hello there\n")
    for name, twin in (("Sample", "sample"), ("VICUNA80", "vicuna80")):
        result = cli("prompts", "pull", name, "--from", csv)
        assert result.code == 2 and "Traceback" not in result.err
        assert f"prompt set name '{name}' differs from the existing set '{twin}' only by case" in result.err
    assert cli("prompts", "pull", "mine", "--from", csv).code == 0
    result = cli("prompts", "pull", "Mine", "--from", csv)
    assert result.code == 2 and "the existing set 'mine' only by case" in result.err
    assert sorted(p.name for p in (arena_home / "prompts" / "user").iterdir()) == ["mine.csv"]
