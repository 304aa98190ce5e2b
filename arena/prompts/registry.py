"""Named prompt sets: the pinned public benchmarks, the shipped offline sample, and sets users pulled."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path

from arena.errors import ArenaError
from arena.inputs import PLAIN_NAME
from arena.paths import arena_home, shipped_prompts_dir
from arena.prompts.parsing import read_prompt_file, read_prompt_jsonl
from arena.prompts.records import PromptSet
from arena.store.atomic import new_file_mode

_QLORA_COMMIT = "05daee4ead5387636f6caf06a7941db789e75900"
_QLORA_RAW = f"https://raw.githubusercontent.com/artidoro/qlora/{_QLORA_COMMIT}/eval/prompts"
_FASTCHAT_COMMIT = "0e6d3e4beaab66f4d3f93db72541a4abab8af28d"
_MT_BENCH_RAW = f"https://raw.githubusercontent.com/lm-sys/FastChat/{_FASTCHAT_COMMIT}/fastchat/llm_judge/data/mt_bench"


@dataclass(frozen=True)
class PinnedFile:
    """A public file fetched by URL and accepted only with this exact checksum."""

    url: str
    sha256: str
    path_in_folder: str = ""  # where it sits in a folder laid out like the source repository's, if it has one


@dataclass(frozen=True)
class PinnedSet:
    """A public prompt set (named by its key in PINNED): its questions' file, and its reference answers' if any."""

    questions: PinnedFile
    count: int
    description: str
    language: str | None = None
    references: PinnedFile | None = None


PINNED = {
    "vicuna80": PinnedSet(
        PinnedFile(
            f"{_QLORA_RAW}/vicuna_questions.jsonl", "590c39157bc561eadd7f03cad4be18c2b597f93029780af65f86718f39eafa87"
        ),
        80,
        "Vicuna benchmark: 80 questions in 9 categories (QLoRA paper copy)",
        language="en",
    ),
    "oa953": PinnedSet(
        PinnedFile(
            f"{_QLORA_RAW}/oa_questions.jsonl", "6fb3b5d42975bd72c5a22612435d9daee2de29fdf1fe595d65754b18a4dc57f4"
        ),
        953,
        "OpenAssistant benchmark: 953 OASST1 validation prompts, many languages, multi-turn",
    ),
    "mt-bench": PinnedSet(
        PinnedFile(
            f"{_MT_BENCH_RAW}/question.jsonl",
            "119565adbab82227089cefdb44c8d7e2cf04dc0a0ec233634c82e7d4e2a944f7",
            "question.jsonl",
        ),
        80,
        "MT-bench: 80 two-turn questions in 8 categories, GPT-4 references for math, reasoning and coding (FastChat)",
        language="en",
        references=PinnedFile(
            f"{_MT_BENCH_RAW}/reference_answer/gpt-4.jsonl",
            "f957a5bc977badb66885ec970e6cd08527845780313f0995764260e5777b9b3f",
            "reference_answer/gpt-4.jsonl",
        ),
    ),
}
SAMPLE = "sample"
_NAME = PLAIN_NAME


def prompts_dir() -> Path:
    return arena_home() / "prompts"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _stored_path(name: str) -> Path:
    return prompts_dir() / f"{name}.jsonl"


def _references_path(name: str) -> Path:
    return prompts_dir() / "references" / f"{name}.jsonl"


def _attach_references(name: str, prompts: list) -> list:
    from arena.prompts.references import with_references

    path = _references_path(name)
    return with_references(prompts, path) if path.exists() else prompts


def _user_set_path(name: str) -> Path | None:
    for suffix in (".jsonl", ".csv"):
        path = prompts_dir() / "user" / f"{name}{suffix}"
        if path.exists():
            return path
    return None


def is_available(name: str) -> bool:
    if name == SAMPLE:
        return True
    if name in PINNED:
        return _stored_path(name).exists()
    return _user_set_path(name) is not None


def load_prompt_set(name_or_path: str) -> PromptSet:
    """A set by name (pinned, sample, or pulled by the user) or straight from a prompt file's path."""
    if name_or_path == SAMPLE:
        path = shipped_prompts_dir() / "sample.jsonl"
        return PromptSet(
            SAMPLE,
            read_prompt_file(path, SAMPLE),
            str(path),
            sha256_of(path),
            "arena's own offline sample, written for this project",
        )
    if name_or_path in PINNED:
        name, pinned = name_or_path, PINNED[name_or_path]
        path = _stored_path(name)
        if not path.exists():
            raise ArenaError(
                f"prompt set '{name}' is not downloaded yet: run `arena prompts pull {name}` "
                f"(or `arena prompts pull {name} --from FILE` with a local copy)"
            )
        prompts = _attach_references(name, read_prompt_file(path, name))
        if pinned.language:
            prompts = [p if p.language else replace(p, language=pinned.language) for p in prompts]
        return PromptSet(name, prompts, pinned.questions.url, pinned.questions.sha256, pinned.description)
    user_path = _user_set_path(name_or_path) if _NAME.match(name_or_path) else None
    if user_path is not None:
        prompts = _attach_references(name_or_path, read_prompt_file(user_path, name_or_path))
        return PromptSet(name_or_path, prompts, str(user_path), sha256_of(user_path))
    path = Path(name_or_path)
    if path.suffix.lower() in (".jsonl", ".csv", ".json") or path.exists():
        prompts = read_prompt_file(path)
        return PromptSet(path.stem, prompts, str(path.resolve()), sha256_of(path))
    known = ", ".join(sorted([SAMPLE, *PINNED, *user_set_names()]))
    raise ArenaError(f"unknown prompt set '{name_or_path}': known sets are {known}; or give a .jsonl/.csv path")


def find_prompt_set(name: str) -> PromptSet | None:
    """The set when it is available locally, else None (for views that can do without question texts)."""
    try:
        return load_prompt_set(name)
    except ArenaError:
        return None


def _refuse_case_twin(name: str) -> None:
    """Names that differ only by case would share one folder on a case-insensitive file system (macOS,
    Windows): results/Sample would be results/sample."""
    twin = next((n for n in [SAMPLE, *PINNED, *user_set_names()] if n != name and n.lower() == name.lower()), None)
    if twin is not None:
        raise ArenaError(
            f"prompt set name '{name}' differs from the existing set '{twin}' only by case: their results "
            f"folders would collide on a case-insensitive file system; use '{twin}' or pick another name"
        )


def user_set_file(name: str) -> Path:
    """Where an import writes a prompt set of its own: a user set, loaded by name like a pulled one."""
    if name == SAMPLE or name in PINNED or not _NAME.match(name):
        raise ArenaError(
            f"invalid prompt set name '{name}' for an import: use ASCII letters, digits, '.', '_' or '-', "
            f"and not {', '.join([SAMPLE, *PINNED])}"
        )
    _refuse_case_twin(name)
    return prompts_dir() / "user" / f"{name}.jsonl"


def user_set_names() -> list[str]:
    folder = prompts_dir() / "user"
    if not folder.is_dir():
        return []
    return sorted({p.stem for p in folder.iterdir() if p.suffix in (".jsonl", ".csv")})  # one entry per name


def _download(url: str, dest: Path) -> None:
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(dest, "wb") as out:
            while block := response.read(1 << 20):
                out.write(block)
    except (urllib.error.URLError, OSError) as exc:
        raise ArenaError(
            f"could not download {url}: {exc}. If this machine is offline, pass a local copy with --from FILE"
        ) from None


def _source_folder(name: str, folder: Path, references: Path | None) -> tuple[Path, Path | None]:
    """`--from FOLDER` for a set pinned with its source repository's layout (MT-bench: question.jsonl and
    reference_answer/gpt-4.jsonl): the questions' file and, unless given, the references'."""
    pinned = PINNED.get(name)
    if pinned is None or not pinned.questions.path_in_folder:
        raise ArenaError(f"{folder}: is a directory; give the prompt file itself (--from FILE)")
    questions = folder / pinned.questions.path_in_folder
    if not questions.is_file():
        raise ArenaError(
            f"{folder}: no {pinned.questions.path_in_folder} in this folder (expected FastChat's data/mt_bench/ layout)"
        )
    if references is None and pinned.references and (folder / pinned.references.path_in_folder).is_file():
        references = folder / pinned.references.path_in_folder
    return questions, references


def _check_pinned(path: Path, pinned: PinnedFile, what: str, given: Path | None) -> None:
    """`path` (downloaded from the pinned URL, or the copy the user `given`) is the pinned file, else nothing
    is stored."""
    actual = sha256_of(path)
    if actual != pinned.sha256:
        raise ArenaError(
            f"{given or pinned.url}: checksum mismatch for '{what}': expected sha256 {pinned.sha256}, got {actual}. "
            "The file is not the pinned one; nothing was stored"
        )


def pull_prompt_set(
    name: str, from_path: Path | None = None, references: Path | None = None, replace_existing: bool = False
) -> tuple[Path, int]:
    """Fetch (or copy) a set into the data directory, with its reference answers when it has some. Pinned
    files must match their checksums; nothing is stored unless every file checks out and parses (a reference
    whose question id matches no question is refused). One file per name: your own set is replaced only with
    `replace_existing` (judgments stored under the name would otherwise silently describe other prompts)."""
    if name == SAMPLE:
        raise ArenaError("the 'sample' set ships with arena; there is nothing to pull")
    if name not in PINNED and from_path is None:
        raise ArenaError(
            f"unknown prompt set '{name}': pinned sets are {', '.join(PINNED)}; to add your own set give --from FILE"
        )
    if name not in PINNED and not _NAME.match(name):
        raise ArenaError(
            f"invalid set name '{name}': use ASCII letters (a-z, A-Z), digits, '.', '_' or '-' (at most 64, "
            "starting with a letter or digit)"
        )
    _refuse_case_twin(name)
    if from_path is not None and from_path.is_dir():
        from_path, references = _source_folder(name, from_path, references)
    if from_path is not None and not from_path.is_file():
        raise ArenaError(f"{from_path}: no such file")
    if references is not None and not references.is_file():
        raise ArenaError(f"{references}: no such file")
    pinned_references = PINNED[name].references if name in PINNED else None
    folder = prompts_dir() if name in PINNED else prompts_dir() / "user"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _references_path(name).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ArenaError(f"cannot create the arena data directory {folder}: {exc.strerror}") from None
    existing = _user_set_path(name) if name not in PINNED else None
    if existing is not None and not replace_existing:
        raise ArenaError(
            f"prompt set '{name}' already exists ({existing}): pass --replace to replace its prompts "
            "(answers and judgments stored under that name stay), or pick another name"
        )
    suffix = ".csv" if from_path is not None and from_path.suffix.lower() == ".csv" else ".jsonl"
    dest = folder / f"{name}{suffix}"
    tmp, tmp_references = (_temporary(folder, name), _temporary(_references_path(name).parent, name))
    try:
        if from_path is None:
            _download(PINNED[name].questions.url, tmp)
            if pinned_references is not None:
                _download(pinned_references.url, tmp_references)
                references = tmp_references
        source = from_path or tmp
        if name in PINNED:
            _check_pinned(source, PINNED[name].questions, name, from_path)
        if references is not None and pinned_references is not None:
            given = references if references != tmp_references else None
            _check_pinned(references, pinned_references, f"{name} references", given)
        prompts = read_prompt_file(source, name) if from_path else read_prompt_jsonl(source, name)
        if references is not None:
            from arena.prompts.references import read_references

            read_references(references, prompts)  # every id must name a question: checked before storing
        if from_path is not None:
            shutil.copyfile(from_path, tmp)
        if references is not None and references != tmp_references:
            shutil.copyfile(references, tmp_references)
        os.chmod(tmp, new_file_mode())
        os.replace(tmp, dest)
        for other in (folder / f"{name}{s}" for s in (".jsonl", ".csv")):
            if other != dest:
                other.unlink(missing_ok=True)
        if references is not None:
            os.chmod(tmp_references, new_file_mode())
            os.replace(tmp_references, _references_path(name))
        else:  # references of an earlier pull would not describe these questions
            _references_path(name).unlink(missing_ok=True)
    finally:
        tmp.unlink(missing_ok=True)
        tmp_references.unlink(missing_ok=True)
    return dest, len(prompts)


def _temporary(folder: Path, name: str) -> Path:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
    os.close(fd)
    return Path(tmp_name)


@dataclass(frozen=True)
class SetSummary:
    name: str
    count: int
    categories: list[str]
    available: bool
    description: str


def list_prompt_sets() -> list[SetSummary]:
    rows = []
    for name in [SAMPLE, *PINNED, *user_set_names()]:
        available = is_available(name)
        if available:
            prompt_set = load_prompt_set(name)
            rows.append(SetSummary(name, len(prompt_set), prompt_set.categories, True, prompt_set.description))
        else:
            pinned = PINNED[name]
            rows.append(SetSummary(name, pinned.count, [], False, pinned.description))
    return rows
