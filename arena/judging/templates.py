"""Judge prompt templates: arena's own (prompts/judges/*.toml, general / coding / math variants) and a
loader for FastChat / QLoRA prompt files so the paper's exact prompts can be rerun. Every judgment
records the hash of the template that produced it."""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path

from arena.errors import ArenaError
from arena.inputs import read_jsonl_objects, require_fields
from arena.paths import shipped_prompts_dir

PROTOCOLS = ("pairwise", "relative")
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


@dataclass(frozen=True)
class TemplateSet:
    """One protocol's templates by variant; a question's category picks the variant."""

    name: str
    protocol: str
    variants: dict[str, JudgeTemplate]

    def for_category(self, category: str | None) -> JudgeTemplate:
        variant = _CATEGORY_VARIANT.get((category or "").lower(), "general")
        return self.variants.get(variant) or self.variants["general"]


def builtin_templates(protocol: str) -> TemplateSet:
    if protocol not in PROTOCOLS:
        raise ArenaError(f"unknown judge protocol '{protocol}': choose one of {', '.join(PROTOCOLS)}")
    path = shipped_prompts_dir() / "judges" / f"{protocol}.toml"
    data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    variants = {name: JudgeTemplate(f"arena-{protocol}-{name}", protocol, v["system"], v["user"])
                for name, v in data["variants"].items()}
    return TemplateSet(f"arena-{protocol}", protocol, variants)


def _check_placeholders(user: str, where: str) -> None:
    """A template is filled with str.format, so a brace that is not one of its placeholders (a JSON example
    such as {"winner": 1}) would fail at the first judgment: refuse it when the file is read."""
    try:
        user.format(question="", answer_1="", answer_2="")
    except (KeyError, IndexError, ValueError) as exc:
        raise ArenaError(f"{where} has a brace that is not one of the placeholders {{question}}, {{answer_1}}, "
                         f"{{answer_2}} ({type(exc).__name__}: {exc}); write a literal brace twice: {{{{ and }}}}") from None


def load_fastchat_templates(prompt_file: Path, reviewer_file: Path | None = None) -> TemplateSet:
    """A FastChat review-prompt file (prompt_id, system_prompt, prompt_template, defaults.prompt), with an
    optional reviewer file mapping categories (general / coding / math) to prompt ids."""
    rows = read_jsonl_objects(prompt_file)
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
            raise ArenaError(f"{reviewer_file}: category '{category}' names prompt_id {prompt_id}, not in {prompt_file}")
        _, system, user = prompts[prompt_id]
        variants[category] = JudgeTemplate(f"{prompt_file.stem}-{category}", protocol, system, user)
    if "general" not in variants:
        raise ArenaError(f"{prompt_file}: no template for the 'general' category")
    return TemplateSet(prompt_file.stem, protocol, variants)
