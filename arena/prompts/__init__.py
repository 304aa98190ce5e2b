"""Prompt sets: the first stage of the pipeline (prompts -> answers -> judgments -> ratings -> reports)."""

from arena.prompts.records import Message, Prompt, PromptSet
from arena.prompts.registry import list_prompt_sets, load_prompt_set, pull_prompt_set

__all__ = ["Message", "Prompt", "PromptSet", "list_prompt_sets", "load_prompt_set", "pull_prompt_set"]
