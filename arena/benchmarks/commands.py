"""`arena prompts list | show | pull`."""

from __future__ import annotations

import json
import sys

from arena.benchmarks.registry import list_prompt_sets, load_prompt_set, pull_prompt_set
from arena.console import info, print_table


def run_list(args) -> int:
    rows = [[s.name, s.count, ", ".join(s.categories) or "-", "yes" if s.available else f"no: arena prompts pull {s.name}"]
            for s in list_prompt_sets()]
    print_table("Prompt sets", ["name", "prompts", "categories", "available"], rows)
    return 0


def run_show(args) -> int:
    prompt_set = load_prompt_set(args.name)
    prompts = prompt_set.prompts[: args.limit] if args.limit else prompt_set.prompts
    if args.format == "jsonl":
        for prompt in prompts:
            sys.stdout.write(json.dumps(prompt.to_dict(), ensure_ascii=False) + "\n")
        return 0
    with_references = any(p.references for p in prompt_set.prompts)
    rows = [[p.id, p.category, p.language or "-", "\n".join(f"[{m.role}] {m.content}" for m in p.turns)]
            + (["\n".join(f"[turn {i}] {r}" for i, r in enumerate(p.references, 1)) or "-"] if with_references else [])
            for p in prompts]
    print_table(f"{prompt_set.name}: {len(prompts)} of {len(prompt_set)} prompts", ["id", "category", "lang", "turns"]
                + (["reference"] if with_references else []), rows)
    return 0


def run_pull(args) -> int:
    path, count = pull_prompt_set(args.name, args.from_path, args.references)
    references = sum(bool(p.references) for p in load_prompt_set(args.name).prompts)
    info(f"stored {count} prompts for '{args.name}' in {path}"
         + (f", with reference answers for {references} of them" if references else ""))
    return 0
