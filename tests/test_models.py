import json
import re
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="the hf extra (torch, transformers) is not installed")

from openai_server import OpenAICompatibleServer  # noqa: E402

from arena.errors import ArenaError  # noqa: E402
from arena.generation.runner import next_request  # noqa: E402
from arena.models.base import GenerationParams, GenerationRequest, backend_factory, clean_answer  # noqa: E402
from arena.models.formats import guanaco_prompt, render_prompt  # noqa: E402
from arena.models.spec import PRESETS, ModelSpec, resolve_model  # noqa: E402
from arena.prompts import load_prompt_set  # noqa: E402
from arena.prompts.records import Message, Prompt  # noqa: E402
from arena.store import ResultsStore  # noqa: E402

GREEDY = GenerationParams(greedy=True, max_new_tokens=24)
SMOL = PRESETS["smollm2-135m-q4"]


@pytest.fixture(scope="module")
def smol():
    return backend_factory("hf")(SMOL)


def requests_for(prompts):
    return [next_request(p, []) for p in prompts]


def test_real_model_gives_nonempty_english_answers(smol):
    sample = load_prompt_set("sample").prompts[:4]
    generations = smol.generate(requests_for(sample), GREEDY)
    for generation in generations:
        assert generation.text.strip()
        letters = re.findall(r"[A-Za-z]", generation.text)
        assert len(letters) > 0.6 * len(generation.text.replace(" ", ""))
        assert generation.finish_reason in ("stop", "length") and generation.tokens > 0


def test_batched_greedy_equals_one_at_a_time(smol):
    sample = load_prompt_set("sample").prompts[:5]
    batched = [g.text for g in smol.generate(requests_for(sample), GREEDY)]
    smol.batch_size = 1
    try:
        single = [g.text for g in smol.generate(requests_for(sample), GREEDY)]
    finally:
        smol.batch_size = 8
    assert batched == single


def test_same_seed_same_sampled_answers(smol):
    sample = load_prompt_set("sample").prompts[:2]
    params = GenerationParams(max_new_tokens=16, seed=3)
    first = [g.text for g in smol.generate(requests_for(sample), params)]
    again = [g.text for g in smol.generate(requests_for(sample), params)]
    other = [g.text for g in smol.generate(requests_for(sample), GenerationParams(max_new_tokens=16, seed=4))]
    assert first == again and first != other


def test_multi_turn_prompts_are_rendered_in_order(smol):
    prompt = Prompt(
        "m",
        "x",
        (Message("user", "FIRST question"), Message("assistant", "FIRST answer"), Message("user", "SECOND question")),
    )
    request = next_request(prompt, [])
    text = render_prompt("chat_template", request.messages, smol.tokenizer)
    assert text.index("FIRST question") < text.index("FIRST answer") < text.index("SECOND question")
    guanaco = guanaco_prompt(request.messages)
    assert guanaco.endswith("### Human: SECOND question ### Assistant:")
    assert "### Human: FIRST question ### Assistant: FIRST answer" in guanaco
    # FastChat-style user-only turns: each is answered in order, earlier replies fed back.
    two_turns = Prompt("f", "x", (Message("user", "one"), Message("user", "two")))
    assert [m.content for m in next_request(two_turns, []).messages] == ["one"]
    assert [m.content for m in next_request(two_turns, ["reply one"]).messages] == ["one", "reply one", "two"]
    assert next_request(two_turns, ["a", "b"]) is None


def test_stop_sequence_and_echo_are_cut():
    assert clean_answer("Sure, here it is. ### Human: and now me") == ("Sure, here it is.", True)
    assert clean_answer("### Assistant: hello") == ("hello", False)


def test_guanaco_format_on_the_real_model_stops_at_the_next_turn(smol):
    smol.prompt_format = "guanaco"
    try:
        sample = load_prompt_set("sample").prompts[:3]
        generations = smol.generate(requests_for(sample), GenerationParams(greedy=True, max_new_tokens=40))
    finally:
        smol.prompt_format = "chat_template"
    assert all("### Human" not in g.text for g in generations)


@pytest.mark.model
def test_generate_cli_stores_and_resumes(cli, tmp_path):
    results = tmp_path / "results"
    first = cli(
        "generate",
        "--model",
        "smollm2-135m-q4",
        "--benchmark",
        "sample",
        "--limit",
        "2",
        "--greedy",
        "--max-new-tokens",
        "12",
        "--results",
        results,
    )
    assert first.code == 0, first.err
    assert "2 answers generated, 0 already stored" in first.err
    again = cli(
        "generate",
        "--model",
        "smollm2-135m-q4",
        "--benchmark",
        "sample",
        "--limit",
        "3",
        "--greedy",
        "--max-new-tokens",
        "12",
        "--results",
        results,
    )
    assert "1 answers generated, 2 already stored" in again.err
    answers = ResultsStore(results).answers("sample", "smollm2-135m-q4")
    assert set(answers) == {"s01", "s02", "s03"}
    record = answers["s01"]
    assert record.tokens and record.seconds is not None and record.finish_reason in ("stop", "length")
    assert record.params["greedy"] is True and record.params["max_new_tokens"] == 12
    manifest = json.loads(sorted((results / "runs").glob("*generate*.json"))[0].read_text())
    assert manifest["status"] == "ok" and manifest["model_facts"]["gguf_file"].endswith(".gguf")
    assert manifest["counts"]["generated"] == 2 and manifest["exit_status"] == 0


def test_multi_turn_answers_are_stored_per_unanswered_turn(tmp_path, smol):
    from arena.generation.runner import generate_answers
    from arena.prompts.records import PromptSet

    prompt_set = PromptSet(
        "two", [Prompt("f", "x", (Message("user", "Name a fruit."), Message("user", "And a colour?")))], "t"
    )
    report = generate_answers(ResultsStore(tmp_path), prompt_set, SMOL, GREEDY, model=smol, show_progress=False)
    assert report.generated == 1
    assert len(ResultsStore(tmp_path).answers("two", SMOL.name)["f"].turns) == 2


def test_adapter_trained_elsewhere_changes_output_and_loads_by_name(cli, tmp_path, smol, monkeypatch):
    from peft import LoraConfig, get_peft_model

    from arena.models.hf import load_base

    _, base = load_base(SMOL)
    torch.manual_seed(0)
    peft_model = get_peft_model(
        base, LoraConfig(r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    adapter = tmp_path / "my-adapter"
    peft_model.save_pretrained(adapter)
    (tmp_path / "arena.toml").write_text(
        f'[models.smol-tuned]\nbackend = "hf"\nextends = "smollm2-135m-q4"\nadapter = "{adapter}"\n'
    )
    monkeypatch.chdir(tmp_path)
    spec = resolve_model("smol-tuned")
    assert spec.option("adapter") == str(adapter) and spec.option("gguf_file")
    tuned = backend_factory("hf")(spec)
    sample = load_prompt_set("sample").prompts[:2]
    assert [g.text for g in tuned.generate(requests_for(sample), GREEDY)] != [
        g.text for g in smol.generate(requests_for(sample), GREEDY)
    ]
    result = cli(
        "generate",
        "--model",
        "smol-tuned",
        "--benchmark",
        "sample",
        "--limit",
        "1",
        "--greedy",
        "--max-new-tokens",
        "8",
        "--results",
        tmp_path / "results",
    )
    assert result.code == 0, result.err
    assert ResultsStore(tmp_path / "results").answers("sample", "smol-tuned")


@pytest.mark.model
def test_adapter_for_another_base_is_refused(tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    tiny = LlamaForCausalLM(
        LlamaConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=4,
            vocab_size=49152,
        )
    )
    adapter = tmp_path / "wrong-adapter"
    get_peft_model(tiny, LoraConfig(r=2, target_modules=["q_proj"])).save_pretrained(adapter)
    spec = ModelSpec("mismatch", "hf", SMOL.path, {**SMOL.options, "adapter": str(adapter)})
    with pytest.raises(ArenaError, match="does not fit base"):
        backend_factory("hf")(spec)


@pytest.mark.parametrize(
    "toml, name, message",
    [
        ('[models.x]\nbackend = "tensorflow"\n', "x", "field 'backend' must be one of"),
        ("", "gpt-5-turbo-max", "unknown model 'gpt-5-turbo-max'"),
        (
            '[models.x]\nbackend = "hf"\nextends = "smollm2-135m-q4"\nadapter = "./no/such/adapter"\n',
            "x",
            "adapter folder not found",
        ),
        ('[models.x\nbackend = "hf"\n', "x", "not valid TOML"),
    ],
)
def test_bad_model_specs(cli, tmp_path, toml, name, message):
    models = tmp_path / "models.toml"
    models.write_text(toml)
    result = cli(
        "generate", "--model", name, "--benchmark", "sample", "--models-file", models, "--results", tmp_path / "r"
    )
    assert result.code == 2 and message in result.err
    assert not (tmp_path / "r" / "sample").exists()


def test_missing_api_key_fails_before_any_work(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    result = cli("generate", "--model", "chatgpt", "--benchmark", "sample", "--results", tmp_path / "r")
    assert result.code == 2 and "OPENAI_API_KEY" in result.err
    assert not (tmp_path / "r").exists()


def test_hub_only_gpu_preset_fails_fast(cli, tmp_path):
    # Fast means before anything is loaded or fetched: the GPU check's message (a download attempt would end
    # in a network error here, with no internet) and nothing written.
    result = cli("generate", "--model", "guanaco-7b", "--benchmark", "sample", "--results", tmp_path / "r")
    assert result.code == 2 and "needs a CUDA GPU" in result.err
    assert not (tmp_path / "r").exists()


def test_a_dry_run_plans_a_gpu_only_preset_and_notes_the_real_run_needs_a_gpu(cli, tmp_path, monkeypatch):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the preset can load here")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    base = ["evaluate", "--model", "guanaco-7b", "--benchmark", "sample", "--baseline", "chatgpt", "--judge", "gpt-4"]
    for extra in (["--protocol", "both"], ["--batch"]):
        result = cli(*base, *extra, "--dry-run", "--results", tmp_path / "r")
        assert result.code == 0, result.err
        assert "the real run cannot load this model here" in result.err and "needs a CUDA GPU" in result.err
        assert "guanaco-7b:" in result.err and "answers to generate" in result.err
        assert "judge calls needed" in result.err and "no model loaded" in result.err
    real = cli(*base, "--results", tmp_path / "real")
    assert real.code == 2 and "needs a CUDA GPU" in real.err


def test_vllm_backend_missing_is_a_clear_error(tmp_path):
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here")
    with pytest.raises(ArenaError, match="vllm backend, which is not installed"):
        backend_factory("vllm")(ModelSpec("v", "vllm", "some/model"))


def test_openai_backend_against_a_real_loopback_server(cli, tmp_path, smol, monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-test")
    with OpenAICompatibleServer(model=smol, faults=["429", "500", "garbage"]) as server:
        (tmp_path / "m.toml").write_text(
            f'[models.served]\nbackend = "openai"\npath = "smol"\n'
            f'base_url = "{server.base_url}"\napi_key_env = "MY_KEY"\nretries = 4\n'
        )
        result = cli(
            "generate",
            "--model",
            "served",
            "--benchmark",
            "sample",
            "--limit",
            "3",
            "--greedy",
            "--max-new-tokens",
            "16",
            "--models-file",
            tmp_path / "m.toml",
            "--results",
            tmp_path / "r",
        )
        assert result.code == 0, result.err
        assert len(server.requests) == 6  # three faults retried, three answers
        assert all(r["auth"] == "Bearer sk-test" for r in server.requests)
        assert server.requests[-1]["body"]["messages"][-1]["role"] == "user"
    answers = ResultsStore(tmp_path / "r").answers("sample", "served")
    assert len(answers) == 3 and all(a.text for a in answers.values())
    direct = smol.generate(
        [next_request(load_prompt_set("sample").prompts[0], [])], GenerationParams(greedy=True, max_new_tokens=16)
    )[0].text
    assert answers["s01"].text == direct


def test_empty_generation_is_stored_with_its_finish_reason(cli, tmp_path):
    with OpenAICompatibleServer(reply=lambda m: "fine", faults=["empty"]) as server:
        spec = ModelSpec("e", "openai", "e", {"base_url": server.base_url, "max_concurrency": 1})
        from arena.generation.runner import generate_answers

        generate_answers(ResultsStore(tmp_path), load_prompt_set("sample"), spec, GREEDY, limit=2, show_progress=False)
    answers = ResultsStore(tmp_path).answers("sample", "e")
    assert answers["s01"].finish_reason == "empty" and answers["s01"].text == ""
    assert answers["s02"].text == "fine"


def test_endpoint_that_keeps_failing_is_a_clear_error(tmp_path):
    with OpenAICompatibleServer(reply=lambda m: "x", faults=["500"] * 10) as server:
        spec = ModelSpec("f", "openai", "f", {"base_url": server.base_url, "retries": 1})
        model = backend_factory("openai")(spec)
        model.policy = type(model.policy)(attempts=2, base_delay=0.01, timeout=2)
        with pytest.raises(ArenaError, match="gave up after 2 attempts: HTTP 500"):
            model.generate([GenerationRequest("1", (Message("user", "hi"),))], GREEDY)


def test_published_answers_play_as_a_model(cli, tmp_path):
    from conftest import shared_path

    generations = shared_path(
        "published",
        "qlora-vicuna-pairwise-sample",
        "generations",
        "7b-guanaco-vicuna-generations-topp0.9-temp0.7.jsonl",
    )
    shared_prompts = shared_path("benchmarks", "vicuna80", "questions.jsonl")
    assert cli("prompts", "pull", "vicuna80", "--from", shared_prompts).code == 0
    result = cli(
        "generate", "--model", f"answers:{generations}", "--benchmark", "vicuna80", "--results", tmp_path / "r"
    )
    assert result.code == 0, result.err
    name = Path(generations).stem
    answers = ResultsStore(tmp_path / "r").answers("vicuna80", name)
    assert len(answers) == 80 and all(a.text and "### Human" not in a.text for a in answers.values())


@pytest.mark.parametrize("rows", [[{"question_id": 81, "turns": ["a"]}, {"question_id": 82, "turns": ["b"]}], []])
def test_published_answers_for_another_set_are_refused(cli, tmp_path, rows):
    from conftest import shared_path

    assert (
        cli("prompts", "pull", "vicuna80", "--from", shared_path("benchmarks", "vicuna80", "questions.jsonl")).code == 0
    )
    path = tmp_path / "mt-bench-answers.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    result = cli("generate", "--model", f"answers:{path}", "--benchmark", "vicuna80", "--results", tmp_path / "r")
    assert result.code == 2 and "Traceback" not in result.err
    assert f"{path}: {len(rows)} answer rows, none of them for a prompt of this set" in result.err
    assert ("e.g. '81'" if rows else "ids (none)") in result.err and "80 ids (e.g. '1')" in result.err


def test_a_partial_published_file_warns_and_stores_what_it_has(cli, tmp_path):
    from conftest import shared_path

    assert (
        cli("prompts", "pull", "vicuna80", "--from", shared_path("benchmarks", "vicuna80", "questions.jsonl")).code == 0
    )
    path = tmp_path / "three.jsonl"
    path.write_text("".join(json.dumps({"question_id": q, "turns": [f"answer {q}"]}) + "\n" for q in (1, 2, 3)))
    result = cli("generate", "--model", f"answers:{path}", "--benchmark", "vicuna80", "--results", tmp_path / "r")
    assert result.code == 0, result.err
    assert "3 answers generated" in result.err and "77 prompts have no published answer: 4, 5," in result.err
    assert "3/3 answers" in result.err  # the bar counts the answers the file has, not the set's 80
    assert sorted(ResultsStore(tmp_path / "r").answers("vicuna80", "three")) == ["1", "2", "3"]


def test_a_misspelled_model_name_gets_the_closest_known_one(cli):
    result = cli("models", "show", "gpt4")
    assert result.code == 2 and "unknown model 'gpt4' (did you mean 'gpt-4'?)" in result.err
