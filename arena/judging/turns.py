"""Per-turn judging for sets whose later user turns the model answers itself (MT-bench): each of a model's
replies is graded (single) or compared (pairwise) on its own, turn 1 with the plain template and later turns with
the multi-turn one, which shows the conversation so far. Math, reasoning and coding questions get the
reference-guided template and the set's reference answer for the turn.

The fields a template may use, for turn t (1-based) of a question:
    question, answer, answer_a, answer_b       the user turn graded and the reply (replies) to it
    question_k, answer_k, answer_a_k, answer_b_k, ref_answer_k   for every turn k <= t (FastChat's names)
    conversation                                 the dialogue before turn t (arena's own multi-turn templates)
    reference                                    the reference answer for turn t
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from arena.errors import ArenaError
from arena.judging.templates import JudgeTemplate, TemplateSet
from arena.prompts.records import Message, Prompt
from arena.prompts.references import needs_reference
from arena.store import Answer


@dataclass(frozen=True)
class Exchange:
    """One user turn a model replied to, with the dialogue that came before it (given turns and earlier replies)."""

    history: tuple[Message, ...]
    question: str
    reply: str


def exchanges(prompt: Prompt, answer: Answer) -> list[Exchange]:
    """The model's replies paired with what each answered, in order, the same walk generation makes."""
    result: list[Exchange] = []
    history: list[Message] = []
    replies = iter(answer.turns)
    for index, message in enumerate(prompt.turns):
        answered_by_model = message.role == "user" and (
            index + 1 == len(prompt.turns) or prompt.turns[index + 1].role != "assistant"
        )
        if not answered_by_model:
            history.append(message)
            continue
        reply = next(replies, None)
        if reply is None:
            break
        result.append(Exchange(tuple(history), message.content, reply))
        history += [message, Message("assistant", reply)]
    return result


def _dialogue(messages: tuple[Message, ...]) -> str:
    return "\n\n".join(f"{'User' if m.role == 'user' else 'Assistant'}: {m.content}" for m in messages)


def turn_fields(prompt: Prompt, turn: int, answer_a: Answer, answer_b: Answer | None) -> dict[str, str]:
    """Everything a per-turn template may name, for turn `turn` (see the module docstring)."""
    mine = exchanges(prompt, answer_a)
    theirs = exchanges(prompt, answer_b) if answer_b is not None else []
    current = mine[turn - 1]
    given = _dialogue(current.history[: len(current.history) - 2 * (turn - 1)])  # turns the set gave, not replies
    fields = {
        "question": f"{given}\n\nUser: {current.question}" if given and turn == 1 else current.question,
        "answer": current.reply,
        "answer_a": current.reply,
        "conversation": _dialogue(current.history),
    }
    for k, exchange in enumerate(mine[:turn], start=1):
        fields[f"question_{k}"] = exchange.question
        fields[f"answer_{k}"] = fields[f"answer_a_{k}"] = exchange.reply
        reference = prompt.reference_for(_user_turn_index(prompt, exchange))
        if reference is not None:
            fields[f"ref_answer_{k}"] = reference
    for k, exchange in enumerate(theirs[:turn], start=1):
        fields[f"answer_b_{k}"] = exchange.reply
    if theirs:
        fields["answer_b"] = theirs[turn - 1].reply
    if f"ref_answer_{turn}" in fields:
        fields["reference"] = fields[f"ref_answer_{turn}"]
    return fields


def _user_turn_index(prompt: Prompt, exchange: Exchange) -> int:
    return sum(m.role == "user" for m in exchange.history) + 1


def expand_turns(matchups: list, templates: TemplateSet) -> list:
    """Matchups without a turn become one per turn both sides replied to; others pass unchanged."""
    expanded = []
    for m in matchups:
        if m.turn is not None:
            expanded.append(m)
            continue
        turns = len(exchanges(m.prompt, m.answer_a))
        if m.answer_b is not None:
            turns = min(turns, len(exchanges(m.prompt, m.answer_b)))
        expanded += [replace(m, turn=t) for t in range(1, turns + 1)]
    return expanded


def render_turn(templates: TemplateSet, matchup) -> tuple[JudgeTemplate, str, str]:
    """The template for the matchup's turn and category, filled in. A reference-guided template on a question
    with no reference is bad input, reported with the question id before anything is sent."""
    template = templates.for_turn(matchup.prompt.category, matchup.turn)
    where = f"question {matchup.prompt.id} ({matchup.prompt.category}), turn {matchup.turn}"
    fields = turn_fields(matchup.prompt, matchup.turn, matchup.answer_a, matchup.answer_b)
    if needs_reference(matchup.prompt.category) and "reference" not in fields:
        raise ArenaError(
            f"{where}: the judge template '{template.name}' needs a reference answer and the prompt set "
            "has none for it: pull the set with its references (`arena prompts pull NAME --from FILE "
            "--references FILE`)"
        )
    system, user = template.render_fields(fields, where)
    return template, system, user
