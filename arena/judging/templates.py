"""Judge prompt templates: arena's own (prompts/judges/*.toml, general / coding / math variants) and a
loader for FastChat / QLoRA prompt files so the paper's exact prompts can be rerun. Every judgment
records the hash of the template that produced it."""

from __future__ import annotations

import hashlib
import re
import string
import tomllib
from dataclasses import dataclass
from pathlib import Path

from arena.errors import ArenaError
from arena.inputs import read_jsonl_objects, require_fields
from arena.paths import shipped_prompts_dir
from arena.store.records import PROTOCOLS

# FastChat llm_judge's judge_prompts.jsonl: for each protocol, the prompt names arena needs by variant. A
# per-turn template set grades (or compares) each turn: turn 1 with the first pair, later turns with the
# `-multi-turn` prompt that shows the whole conversation; `reference` variants serve math, reasoning, coding.
FASTCHAT_JUDGE_PROMPTS = {
    "single": {
        "general": "single-v1",
        "reference": "single-math-v1",
        "general-multi-turn": "single-v1-multi-turn",
        "reference-multi-turn": "single-math-v1-multi-turn",
    },
    "pairwise": {
        "general": "pair-v2",
        "reference": "pair-math-v1",
        "general-multi-turn": "pair-v2-multi-turn",
        "reference-multi-turn": "pair-math-v1-multi-turn",
    },
}
_CATEGORY_VARIANT = {"coding": "coding", "math": "math"}


@dataclass(frozen=True)
class JudgeTemplate:
    name: str
    protocol: str
    system: str
    user: str  # with {question}, {answer_1}, {answer_2}

    @property
    def hash(self) -> str:
        return hashlib.sha256(f"{self.protocol}\n{self.system}\n{self.user}".encode()).hexdigest()[:16]

    def render(self, question: str, answer_1: str, answer_2: str) -> tuple[str, str]:
        return self.system, self.user.format(question=question, answer_1=answer_1, answer_2=answer_2)

    def render_fields(self, fields: dict[str, str], where: str) -> tuple[str, str]:
        """Fill the placeholders this template uses from `fields` (a per-turn template's vocabulary)."""
        try:
            return self.system, self.user.format_map(fields)
        except KeyError as exc:
            raise ArenaError(
                f"{where}: the judge template '{self.name}' needs {{{exc.args[0]}}}, which this question does not have"
            ) from None
        except (ValueError, IndexError) as exc:
            raise ArenaError(
                f"judge template '{self.name}': unreadable placeholder ({exc}); write a literal brace as {{{{ or }}}}"
            ) from None


@dataclass(frozen=True)
class TemplateSet:
    """One protocol's templates by variant; a question's category picks the variant."""

    name: str
    protocol: str
    variants: dict[str, JudgeTemplate]
    per_turn: bool = False  # variants general / reference, each also -multi-turn: see FASTCHAT_JUDGE_PROMPTS

    def for_turn(self, category: str | None, turn: int) -> JudgeTemplate:
        from arena.prompts.references import needs_reference

        variant = "reference" if needs_reference(category) else "general"
        return self.variants[variant if turn == 1 else f"{variant}-multi-turn"]

    def for_category(self, category: str | None) -> JudgeTemplate:
        variant = _CATEGORY_VARIANT.get((category or "").lower(), "general")
        return self.variants.get(variant) or self.variants["general"]


def builtin_templates(protocol: str) -> TemplateSet:
    if protocol not in PROTOCOLS:
        raise ArenaError(f"unknown judge protocol '{protocol}': choose one of {', '.join(PROTOCOLS)}")
    return load_arena_templates(shipped_prompts_dir() / "judges" / f"{protocol}.toml", protocol, f"arena-{protocol}")


ACCEPTED_FORMATS = (
    "--judge-template takes arena's own TOML (a .toml file like prompts/judges/pairwise.toml: protocol, "
    "[variants.general] with system and user), FastChat llm_judge's judge_prompts.jsonl, or a FastChat / QLoRA "
    "review-prompt .jsonl (prompt_id, system_prompt, prompt_template)"
)
_PER_TURN_VARIANTS = ("general", "reference", "general-multi-turn", "reference-multi-turn")


def load_arena_templates(path: Path, protocol: str, name: str | None = None) -> TemplateSet:
    """arena's own TOML templates: `protocol`, optional `per_turn = true`, and `[variants.NAME]` tables with
    `system` and `user` (general, plus coding / math; or, per turn, the four of single.toml)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise ArenaError(f"{path}: cannot read ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ArenaError(f"{path}: not valid TOML ({exc}); {ACCEPTED_FORMATS}") from None
    file_protocol = data.get("protocol", protocol)
    if file_protocol not in PROTOCOLS:
        raise ArenaError(f"{path}: field 'protocol' must be one of {', '.join(PROTOCOLS)}, got {file_protocol!r}")
    per_turn = data.get("per_turn", False)
    if not isinstance(per_turn, bool):
        raise ArenaError(f"{path}: field 'per_turn' must be true or false, got {per_turn!r}")
    tables = data.get("variants")
    needed = _PER_TURN_VARIANTS if per_turn else ("general",)
    missing = [v for v in needed if not isinstance(tables, dict) or v not in tables]
    if missing or not isinstance(tables, dict):
        raise ArenaError(f"{path}: no [variants.{(missing or needed)[0]}] table (needed: {', '.join(needed)})")
    variants = {}
    for variant, table in tables.items():
        where = f"{path}: [variants.{variant}]"
        for key in ("system", "user"):
            if not isinstance(table, dict) or not isinstance(table.get(key), str):
                raise ArenaError(f"{where}: field '{key}' must be a string")
        if per_turn:
            check_turn_fields(table["user"], where)
        else:
            _check_placeholders(table["user"], f"{where} field 'user'")
        variants[variant] = JudgeTemplate(
            f"{name or path.stem}-{variant}", file_protocol, table["system"], table["user"]
        )
    return TemplateSet(name or path.stem, file_protocol, variants, per_turn=per_turn)


# The fields a per-turn template (FastChat's judge_prompts.jsonl, single.toml) may name; N is a turn number.
_TURN_FIELDS = re.compile(
    r"(question|answer|answer_a|answer_b|conversation|reference)|(question|answer|answer_a|answer_b|ref_answer)_[1-9][0-9]*"
)
TURN_FIELDS_SHOWN = (
    "{question}, {answer}, {answer_a}, {answer_b}, {conversation}, {reference}, and per turn N {question_N}, "
    "{answer_N}, {answer_a_N}, {answer_b_N}, {ref_answer_N}"
)


def check_turn_fields(template: str, where: str) -> None:
    """Every placeholder of a per-turn template is one arena fills: checked when the file is read, not at the
    first question."""
    try:
        names = [field for _, field, _, _ in string.Formatter().parse(template) if field is not None]
    except ValueError as exc:
        raise ArenaError(f"{where}: unreadable placeholder ({exc}); write a literal brace as {{{{ or }}}}") from None
    for field in names:
        if not _TURN_FIELDS.fullmatch(field):
            raise ArenaError(f"{where}: {{{field}}} is not a field arena fills; the fields are {TURN_FIELDS_SHOWN}")


def _check_placeholders(user: str, where: str) -> None:
    """A template is filled with str.format, so a brace that is not one of its placeholders (a JSON example
    such as {"winner": 1}) would fail at the first judgment: refuse it when the file is read."""
    try:
        user.format(question="", answer_1="", answer_2="")
    except (KeyError, IndexError, ValueError) as exc:
        raise ArenaError(
            f"{where} has a brace that is not one of the placeholders {{question}}, {{answer_1}}, "
            f"{{answer_2}} ({type(exc).__name__}: {exc}); write a literal brace twice: {{{{ and }}}}"
        ) from None


def load_judge_prompts(prompt_file: Path, protocol: str) -> TemplateSet:
    """FastChat llm_judge's judge_prompts.jsonl (name, type, system_prompt, prompt_template, output_format):
    the four prompts of `protocol` (single-v1, single-math-v1 and their -multi-turn variants; or pair-v2,
    pair-math-v1 and theirs), used per turn. A missing prompt is named, with the file."""
    if protocol not in FASTCHAT_JUDGE_PROMPTS:
        raise ArenaError(
            f"{prompt_file}: FastChat's judge prompts grade single answers (--protocol single) or "
            f"compare pairs (--protocol pairwise), not --protocol {protocol}"
        )
    rows = {}
    for number, row in read_jsonl_objects(prompt_file):
        require_fields(row, ("name", "system_prompt", "prompt_template"), f"{prompt_file}:{number}")
        if row["name"] in FASTCHAT_JUDGE_PROMPTS[protocol].values():
            check_turn_fields(row["prompt_template"], f"{prompt_file}:{number}: prompt '{row['name']}'")
        rows[row["name"]] = row
    variants = {}
    for variant, name in FASTCHAT_JUDGE_PROMPTS[protocol].items():
        if name not in rows:
            raise ArenaError(
                f"{prompt_file}: no prompt named '{name}' (needed for {protocol} grading of "
                f"{'later turns' if 'multi' in variant else 'turn 1'}"
                f"{' with a reference' if variant.startswith('reference') else ''})"
            )
        variants[variant] = JudgeTemplate(name, protocol, rows[name]["system_prompt"], rows[name]["prompt_template"])
    return TemplateSet(prompt_file.stem, protocol, variants, per_turn=True)


def load_fastchat_templates(
    prompt_file: Path, reviewer_file: Path | None = None, protocol: str | None = None
) -> TemplateSet:
    """A FastChat review-prompt file (prompt_id, system_prompt, prompt_template, defaults.prompt), with an
    optional reviewer file mapping categories (general / coding / math) to prompt ids; or llm_judge's
    judge_prompts.jsonl (rows with `name` and `type`), read for `protocol`."""
    if prompt_file.suffix.lower() == ".toml":
        return load_arena_templates(prompt_file, protocol or "pairwise")
    try:
        rows = read_jsonl_objects(prompt_file)
    except ArenaError as exc:
        if "not valid JSON" in str(exc):
            raise ArenaError(f"{exc}; {ACCEPTED_FORMATS}") from None
        raise
    if rows and "name" in rows[0][1] and "prompt_id" not in rows[0][1]:
        return load_judge_prompts(prompt_file, protocol or "pairwise")
    prompts = {}
    for number, row in rows:
        require_fields(row, ("prompt_id", "system_prompt", "prompt_template"), f"{prompt_file}:{number}")
        prompt = (row.get("defaults") or {}).get("prompt", "")
        # Fill {prompt} now and keep the answer placeholders for later.
        user = row["prompt_template"].replace("{prompt}", prompt.replace("{", "{{").replace("}", "}}"))
        _check_placeholders(user, f"{prompt_file}:{number}: field 'prompt_template'")
        prompts[row["prompt_id"]] = (row, row["system_prompt"], user)
    text = prompt_file.name + " " + " ".join(user for _, _, user in prompts.values())
    protocol = "pairwise" if "threeclass" in prompt_file.name or "choose 3" in text else "relative"
    if reviewer_file is not None:
        mapping = {row["category"]: row["prompt_id"] for _, row in read_jsonl_objects(reviewer_file)}
    else:
        mapping = {row.get("category", "general"): pid for pid, (row, _, _) in prompts.items()}
    variants = {}
    for category, prompt_id in mapping.items():
        if prompt_id not in prompts:
            raise ArenaError(
                f"{reviewer_file}: category '{category}' names prompt_id {prompt_id}, not in {prompt_file}"
            )
        _, system, user = prompts[prompt_id]
        variants[category] = JudgeTemplate(f"{prompt_file.stem}-{category}", protocol, system, user)
    if "general" not in variants:
        raise ArenaError(f"{prompt_file}: no template for the 'general' category")
    return TemplateSet(prompt_file.stem, protocol, variants)
