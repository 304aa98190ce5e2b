"""A results store at the scale of the paper's OpenAssistant evaluation (953 prompts in many languages, every
ordered pair of models judged with GPT-4-length explanations), shared by tests/test_report.py and
benchmarks/report_scale.py."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

WORDS = (
    "the",
    "answer",
    "model",
    "response",
    "explains",
    "clearly",
    "detail",
    "helpful",
    "accurate",
    "relevant",
    "assistant",
    "first",
    "second",
    "question",
    "user",
    "because",
    "however",
    "although",
    "example",
    "code",
    "step",
    "result",
    "correct",
    "missing",
    "concise",
    "thorough",
    "language",
    "tone",
    "structure",
    "list",
    "point",
    "overall",
    "better",
    "worse",
    "similar",
    "quality",
    "reasoning",
    "fact",
    "claim",
    "source",
)
LANGUAGES = ("en", "es", "ru", "de", "fr", "zh", "th", "ca", "pt", "it")


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def build_big_store(results: Path, models: int = 8, prompts: int = 953, seed: int = 0) -> Path:
    """Prompt set "oa-synthetic" pulled into ARENA_HOME, answers of `models` models and every ordered pair of them
    judged on every prompt, all from one seed; returns `results`."""
    import json

    from arena.prompts import pull_prompt_set
    from arena.store import Answer, Judgment, ResultsStore

    rng = random.Random(seed)
    prompt_file = results.parent / "oa-synthetic.jsonl"
    prompt_file.parent.mkdir(parents=True, exist_ok=True)
    with open(prompt_file, "w") as handle:
        for q in range(prompts):
            handle.write(
                json.dumps(
                    {"question_id": f"q{q}", "lang": LANGUAGES[q % len(LANGUAGES)], "text": _text(rng, 25) + "?"}
                )
                + "\n"
            )
    pull_prompt_set("oa-synthetic", prompt_file)
    names = [f"model-{i}" for i in range(models)]
    store = ResultsStore(results)
    store.save_answers(
        [
            Answer(
                "oa-synthetic",
                f"q{q}",
                m,
                [
                    f"## Answer\n\n{_text(rng, 120)}\n\n- {_text(rng, 20)}\n- "
                    f"{_text(rng, 20)}\n\n```python\nprint({q})\n```"
                ],
            )
            for m in names
            for q in range(prompts)
        ]
    )
    judgments = []
    for a, b in itertools.permutations(names, 2):
        for q in range(prompts):
            verdict = rng.choice(("A", "A", "B", "tie", "B"))
            judgments.append(
                Judgment(
                    "oa-synthetic", f"q{q}", a, b, "gpt-4", "pairwise", verdict, explanation=_text(rng, 130), raw=None
                )
            )
    store.save_judgments(judgments)
    return results
