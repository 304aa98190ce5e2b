"""The one normalized prompt record every prompt set is turned into."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

Role = Literal["user", "assistant"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True)
class Prompt:
    """A question to answer. `turns` is the dialogue so far; every user turn with no assistant reply after
    it is answered in order, so the last user turn is always the one the final answer replies to."""

    id: str
    category: str
    turns: tuple[Message, ...]
    language: str | None = None
    reference: str | None = None
    source: str = ""
    # Reference answers, one per user turn (MT-bench's GPT-4 answers for math, reasoning and coding): what a
    # reference-guided judge template shows the judge. Empty when the set has none for this question.
    references: tuple[str, ...] = ()

    @property
    def user_turns(self) -> list[str]:
        return [m.content for m in self.turns if m.role == "user"]

    @property
    def model_turns(self) -> int:
        """How many replies a model writes: one per user turn with no given reply after it (MT-bench: two;
        an OpenAssistant dialogue with its history: one)."""
        turns = self.turns
        return sum(
            m.role == "user" and (i + 1 == len(turns) or turns[i + 1].role != "assistant") for i, m in enumerate(turns)
        )

    @property
    def question(self) -> str:
        """The last user turn: the text the final answer replies to."""
        return self.user_turns[-1]

    def to_dict(self) -> dict:
        data = asdict(self)
        data["turns"] = [asdict(m) for m in self.turns]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Prompt:
        turns = tuple(Message(t["role"], t["content"]) for t in data["turns"])
        return cls(**{**data, "turns": turns, "references": tuple(data.get("references") or ())})

    def reference_for(self, turn: int) -> str | None:
        """The reference answer for user turn `turn` (1-based): from the set's reference file, else the
        question's own `reference` field for a one-turn question."""
        if self.references:
            return self.references[turn - 1] if turn <= len(self.references) else None
        return self.reference if turn == len(self.user_turns) else None


@dataclass
class PromptSet:
    name: str
    prompts: list[Prompt]
    source: str
    sha256: str | None = None
    description: str = ""
    by_id: dict[str, Prompt] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.by_id = {p.id: p for p in self.prompts}

    @property
    def categories(self) -> list[str]:
        return sorted({p.category for p in self.prompts})

    def __len__(self) -> int:
        return len(self.prompts)
