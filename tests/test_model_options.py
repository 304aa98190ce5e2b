"""A model's options are checked by one rule, whether the model comes from arena.toml or is built in code."""

import pytest

from arena.errors import ArenaError
from arena.models.hf import _quantization_config
from arena.models.options import check_entry
from arena.models.spec import ModelSpec


@pytest.mark.parametrize(
    "options, message",
    [
        ({"quantization": "2bit"}, "model 'coded': quantization must be one of 'none', '8bit', '4bit', got '2bit'"),
        (
            {"quantization": "4bit", "compute_dtype": "float8"},
            "model 'coded': compute_dtype must be one of 'float32', 'float16', 'bfloat16', got 'float8'",
        ),
    ],
)
def test_a_bad_option_of_a_model_built_in_code_is_named_like_one_from_a_file(options, message):
    pytest.importorskip("transformers")
    if options["quantization"] == "4bit":
        pytest.importorskip("bitsandbytes")
    with pytest.raises(ArenaError) as raised:
        _quantization_config(ModelSpec("coded", "hf", "unused", options))
    assert str(raised.value) == message
    key = next(k for k in options if k != "quantization" or len(options) == 1)
    with pytest.raises(ArenaError, match=f"field '{key}' must be one of"):
        check_entry("filed", {"backend": "hf", "path": "x", **options}, "arena.toml")
