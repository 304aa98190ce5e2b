from argparse import Namespace

from arena.generation.commands import generation_params
from arena.models.base import GenerationParams


def test_explicit_flags_beat_model_settings_which_beat_defaults():
    params, explicit = generation_params(Namespace(temperature=None, top_p=None, max_new_tokens=4, greedy=None, seed=7))
    assert params == GenerationParams(seed=7) and explicit == {"max_new_tokens": 4}
    model_settings = {"max_new_tokens": 128, "greedy": True, "gguf_file": "x.gguf"}
    effective = params.with_overrides(model_settings).with_overrides(explicit)
    assert effective.max_new_tokens == 4  # typed on the command line
    assert effective.greedy is True  # the model's own setting
    assert (effective.temperature, effective.top_p) == (0.7, 0.9)  # the paper's defaults
    assert GenerationParams().with_overrides({"temperature": None}).temperature == 0.7
