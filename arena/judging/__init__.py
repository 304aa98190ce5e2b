"""Judgments: the third stage (answers -> judgments): templates, verdict parsing, judges, the runner."""
