"""Results on disk: append-only, resumable, crash-safe."""

from arena.store.records import Answer, Judgment
from arena.store.results import ResultsStore

__all__ = ["Answer", "Judgment", "ResultsStore"]
