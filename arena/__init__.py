"""arena: evaluation and tournament suite for chat LLMs."""

__version__ = "0.1.0"
