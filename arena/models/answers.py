"""Published answers as a model: the QLoRA generations JSONL (`question_id` + `generation`), FastChat
model_answer JSONL, review-era answer files (`text`), or arena's own answer files (`turns`), so baselines
such as ChatGPT, Bard or Guanaco play without being run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from arena.errors import ArenaError
from arena.inputs import id_field, read_jsonl_objects
from arena.models.base import ChatModel, Generation, GenerationParams, GenerationRequest, clean_answer, register_backend
from arena.models.spec import ModelSpec

# The fields that carry a prompt's id in published files: Vicuna/FastChat rows use question_id, the QLoRA
# paper's OpenAssistant rows message_id (the same value the oa953 prompt set uses as its id).
QUESTION_ID_FIELDS = ("question_id", "message_id")


def question_id_of(row: dict, where: str) -> str:
    for name in QUESTION_ID_FIELDS:
        if name in row:
            return id_field(row, name, where)
    raise ArenaError(f"{where}: missing field 'question_id' (or 'message_id')")


@dataclass(frozen=True)
class PublishedAnswer:
    question_id: str
    text: str  # the answer to the last user turn
    answer_id: str | None  # the id reviews name in answer1_id / answer2_id, when the file has one
    line: int
    turns: tuple[str, ...] = ()  # every turn's answer, in order (FastChat files of multi-turn sets)


# Every shape of answer row read here, as the error for a row of none of them lists them.
ANSWER_SHAPES = (
    "'generation' (QLoRA generations)",
    "'choices': [{'turns': [...]}] (FastChat model_answer)",
    "'turns': [...] (arena's own results/<set>/answers/*.jsonl)",
    "'text' (review-era answer files)",
)


def read_published_answer_rows(path: Path) -> list[PublishedAnswer]:
    """Rows of any of ANSWER_SHAPES, keyed by question_id or message_id; a multi-turn answer plays its last
    turn."""
    rows: list[PublishedAnswer] = []
    seen: dict[str, int] = {}
    for number, row in read_jsonl_objects(path):
        where = f"{path}:{number}"
        qid = question_id_of(row, where)
        turns: list[str] = []
        if "generation" in row:
            text = row["generation"]
        elif "choices" in row:
            try:
                turns = row["choices"][0]["turns"]
                text = turns[-1]
            except (KeyError, IndexError, TypeError):
                raise ArenaError(f"{where}: field 'choices' must hold [{{'turns': [...]}}]") from None
            if not all(isinstance(t, str) for t in turns):
                raise ArenaError(f"{where}: field 'choices[0].turns' must be a list of strings")
        elif "turns" in row:
            turns = row["turns"]
            if not isinstance(turns, list) or not turns or not all(isinstance(t, str) for t in turns):
                raise ArenaError(f"{where}: field 'turns' must be a non-empty list of strings")
            text = turns[-1]
        elif "text" in row:
            text = row["text"]
        else:
            raise ArenaError(
                f"{where}: no answer found; an answer row needs one of the fields "
                f"{'; '.join(ANSWER_SHAPES)}, beside 'question_id' (or 'message_id')"
            )
        if not isinstance(text, str):
            raise ArenaError(f"{where}: the answer must be a string")
        if qid in seen:
            raise ArenaError(f"{where}: duplicate question id {qid!r} (first seen on line {seen[qid]})")
        seen[qid] = number
        answer_id = row.get("answer_id")
        rows.append(
            PublishedAnswer(
                qid,
                clean_answer(text)[0],
                None if answer_id is None else str(answer_id),
                number,
                tuple(clean_answer(t)[0] for t in turns),
            )
        )
    return rows


def published_ids_for(path: Path, prompt_ids: list[str]) -> set[str]:
    """The ids of `prompt_ids` the file answers. None at all is a wrong file (another set's answers, or an
    empty file), not a partial run: refused naming both sides so the mismatch is visible at a glance."""
    file_ids = [row.question_id for row in read_published_answer_rows(path)]
    found = set(file_ids) & set(prompt_ids)
    if not found:
        example = f"e.g. {file_ids[0]!r}" if file_ids else "none"
        raise ArenaError(
            f"{path}: {len(file_ids)} answer rows, none of them for a prompt of this set: the file's ids "
            f"({example}) match none of the set's {len(prompt_ids)} ids (e.g. {prompt_ids[0]!r})"
        )
    return found


class PublishedAnswersModel(ChatModel):
    """Replies turn by turn: a multi-turn file (FastChat `choices[0].turns`) gives its n-th turn as the model's
    n-th reply to a question; a one-answer file replies once. A turn the file does not have is missing."""

    def __init__(self, spec: ModelSpec):
        self.name = spec.name
        self.path = Path(spec.path or "")
        self.answers = {row.question_id: row.turns or (row.text,) for row in read_published_answer_rows(self.path)}

    def describe(self) -> dict:
        return {"backend": "answers", "path": str(self.path)}

    def generate(self, requests: list[GenerationRequest], params: GenerationParams) -> list[Generation]:
        replies = []
        for request in requests:
            turns = self.answers.get(request.prompt_id, ())
            replies.append(
                Generation(turns[request.turn], "stop") if request.turn < len(turns) else Generation("", "missing")
            )
        return replies


@register_backend("answers", check=lambda spec: read_published_answer_rows(Path(spec.path or "")))
def load(spec: ModelSpec) -> ChatModel:
    return PublishedAnswersModel(spec)
