"""Answers: the second stage (prompts -> answers)."""
