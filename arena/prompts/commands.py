"""`arena prompts list | show | pull`."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

from arena.console import info, print_records, print_table
from arena.prompts.registry import list_prompt_sets, load_prompt_set, pull_prompt_set

# A prompt longer than this is cut in the table (one oa953 prompt is 540 KB); --full shows it whole.
SHOW_CHARACTERS = 1_000


def run_list(args) -> int:
    sets = list_prompt_sets()
    if args.format == "json":
        print_records(
            [{**asdict(s), "pull": None if s.available else f"arena prompts pull {s.name}"} for s in sets], "json"
        )
        return 0
    rows = [
        [s.name, s.count, ", ".join(s.categories) or "-", "yes" if s.available else f"no: arena prompts pull {s.name}"]
        for s in sets
    ]
    print_table("Prompt sets", ["name", "prompts", "categories", "available"], rows)
    return 0


def _shown(content: str, full: bool) -> str:
    if full or len(content) <= SHOW_CHARACTERS:
        return content
    return f"{content[:SHOW_CHARACTERS]} … [{len(content) - SHOW_CHARACTERS:,} more characters: --full shows them]"


def run_show(args) -> int:
    prompt_set = load_prompt_set(args.name)
    prompts = prompt_set.prompts[: args.limit] if args.limit else prompt_set.prompts
    if args.format == "jsonl":
        for prompt in prompts:
            sys.stdout.write(json.dumps(prompt.to_dict(), ensure_ascii=False) + "\n")
        return 0
    with_references = any(p.references for p in prompt_set.prompts)
    rows = [
        [p.id, p.category, p.language or "-", "\n".join(f"[{m.role}] {_shown(m.content, args.full)}" for m in p.turns)]
        + (
            ["\n".join(f"[turn {i}] {_shown(r, args.full)}" for i, r in enumerate(p.references, 1)) or "-"]
            if with_references
            else []
        )
        for p in prompts
    ]
    print_table(
        f"{prompt_set.name}: {len(prompts)} of {len(prompt_set)} prompts",
        ["id", "category", "lang", "turns"] + (["reference"] if with_references else []),
        rows,
    )
    return 0


def _prompts(count: int) -> str:
    return f"{count} prompt" + ("" if count == 1 else "s")


def run_pull(args) -> int:
    from arena.prompts.registry import find_prompt_set

    earlier = find_prompt_set(args.name) if args.replace else None  # --replace must say what it replaced
    path, count = pull_prompt_set(args.name, args.from_path, args.references, args.replace)
    references = sum(bool(p.references) for p in load_prompt_set(args.name).prompts)
    info(
        (f"replaced the earlier '{args.name}' ({_prompts(len(earlier))}): " if earlier is not None else "")
        + f"stored {_prompts(count)} for '{args.name}' in {path}"
        + (f", with reference answers for {references} of them" if references else "")
    )
    return 0
