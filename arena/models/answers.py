"""Published answers as a model: FastChat model_answer JSONL or the QLoRA generations JSONL
(`question_id` + `generation`), so baselines such as ChatGPT, Bard or Guanaco play without being run."""

from __future__ import annotations

from pathlib import Path

from arena.errors import ArenaError
from arena.inputs import read_jsonl_objects, require_fields
from arena.models.base import ChatModel, Generation, GenerationParams, GenerationRequest, clean_answer, register_backend
from arena.models.spec import ModelSpec


def read_published_answers(path: Path) -> dict[str, str]:
    answers: dict[str, str] = {}
    for number, row in read_jsonl_objects(path):
        where = f"{path}:{number}"
        require_fields(row, ("question_id",), where)
        if "generation" in row:
            text = row["generation"]
        elif "choices" in row:
            try:
                text = row["choices"][0]["turns"][-1]
            except (KeyError, IndexError, TypeError):
                raise ArenaError(f"{where}: field 'choices' must hold [{{'turns': [...]}}]") from None
        elif "text" in row and "answer_id" in row:
            text = row["text"]
        else:
            raise ArenaError(f"{where}: no answer found: expected field 'generation' (QLoRA) or 'choices' (FastChat)")
        if not isinstance(text, str):
            raise ArenaError(f"{where}: the answer must be a string")
        qid = str(row["question_id"])
        if qid in answers:
            raise ArenaError(f"{where}: duplicate question id {qid!r}")
        answers[qid] = clean_answer(text)[0]
    return answers


class PublishedAnswers(ChatModel):
    def __init__(self, spec: ModelSpec):
        self.name = spec.name
        self.path = Path(spec.path or "")
        self.answers = read_published_answers(self.path)

    def describe(self) -> dict:
        return {"backend": "answers", "path": str(self.path)}

    def generate(self, requests: list[GenerationRequest], params: GenerationParams) -> list[Generation]:
        return [Generation(self.answers[r.prompt_id], "stop") if r.prompt_id in self.answers
                else Generation("", "missing") for r in requests]


@register_backend("answers")
def load(spec: ModelSpec) -> ChatModel:
    return PublishedAnswers(spec)
