"""The `arena` command line: parses arguments and hands over to the package that owns each stage.

Heavy libraries (torch, transformers) are imported inside the commands that need them, so `arena --help`
and `arena prompts list` start fast.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import sys
import textwrap
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arena import __version__
from arena.errors import ArenaError
from arena.models.demo import DEMO_JUDGE, DEMO_MODELS
from arena.models.options import DEFAULT_JUDGE_CONCURRENCY
from arena.ratings import DEFAULT_ORDERINGS, DEFAULT_RESAMPLES

DEFAULT_RESULTS = Path("results")

OVERVIEW = """\
arena evaluates chat LLMs the way the QLoRA paper did, with error bars:
prompts -> answers -> judgments -> ratings -> reports.

examples:
  arena prompts list                              # prompt sets and whether they are downloaded
  arena prompts pull vicuna80                     # fetch the Vicuna 80 questions (checksum-verified)
  arena import qlora DIR --benchmark vicuna80 --judge gpt-4
  arena ratings --benchmark vicuna80 --method elo # the paper's Elo with a 95% interval
  arena ratings --benchmark vicuna80 --method bt --format json
  arena export fastchat --benchmark vicuna80 --out fastchat/

Results go to ./results unless --results DIR is given. Run `arena COMMAND --help` for details.
"""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        """Descriptions and epilogs: prose lines wrap to the terminal, indented lines (examples) stay as written."""
        lines = []
        for line in text.splitlines():
            if not line.strip() or line[0].isspace():
                lines.append(indent + line)
            else:
                lines += _wrap(line, width, indent)
        return "\n".join(lines)

    def _split_lines(self, text: str, width: int) -> list[str]:
        return _wrap(" ".join(text.split()), width)

    def _get_help_string(self, action) -> str:
        """Each option's default, unless its help already says it or there is none to tell."""
        text = action.help or ""
        if (
            "default" in text
            or not action.option_strings
            or action.help == argparse.SUPPRESS
            or not _has_default(action)
        ):
            return text
        return f"{text} (default: %(default)s)".lstrip()


def _wrap(text: str, width: int, indent: str = "") -> list[str]:
    """Lines of at most `width` that never split a word, a name or an option at its hyphens."""
    return textwrap.wrap(
        text, width, initial_indent=indent, subsequent_indent=indent, break_on_hyphens=False, break_long_words=False
    )


def _lazy(module: str, function: str):
    """A handler that imports its implementation only when its command runs (keeps `arena --help` fast)."""

    def handler(args) -> int:
        return getattr(importlib.import_module(module), function)(args)

    return handler


def _integer(low: int, high: int | None = None):
    """An argparse type: a whole number in [low, high], else a one-line message and exit 2."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        return value

    return parse


def _orderings(text: str) -> int | str:
    return "auto" if text == "auto" else _integer(1)(text)


def _number(low: float, high: float | None = None, low_open: bool = False, high_open: bool = False):
    """An argparse type: a number in the given range (open or closed at each end)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        too_low = value <= low if low_open else value < low
        too_high = high is not None and (value >= high if high_open else value > high)
        if too_low or too_high or value != value:
            left = f"> {low:g}" if low_open else f">= {low:g}"
            right = "" if high is None else f" and {'<' if high_open else '<='} {high:g}"
            raise argparse.ArgumentTypeError(f"must be {left}{right}, got {text}")
        return value

    return parse


# --- the declaration: what every command is, its examples and its options -------------------------
@dataclass(frozen=True)
class Arg:
    """One argument: its name or flags and add_argument's settings."""

    names: tuple[str, ...]
    settings: dict[str, Any]


def arg(*names: str, **settings: Any) -> Arg:
    return Arg(names, settings)


def flag(name: str, help: str) -> Arg:
    """An option that is given or not."""
    return Arg((name,), {"action": "store_true", "help": help})


@dataclass(frozen=True)
class Group:
    """Arguments shown under their own title (with a description), or `exclusive`: at most one of them given."""

    args: tuple[Arg, ...]
    title: str | None = None
    description: str | None = None
    exclusive: bool = False


@dataclass(frozen=True)
class Command:
    """A command: its help line, the examples its help ends with, its arguments in the order the help shows
    them, and the function that runs it ("module:function", imported only then), or the subcommands it
    chooses between (`choose`: their name in the usage line)."""

    help: str
    examples: str  # one command line per line, as the help shows them
    args: tuple[Arg | Group, ...] = ()
    handler: str = ""
    description: str = ""  # the help's first paragraph; default: the help line
    defaults: dict[str, Any] = field(default_factory=dict)  # more values the handler finds in its Namespace
    choose: str = ""
    commands: dict[str, Command] = field(default_factory=dict)


RESULTS = arg(
    "--results", type=Path, default=DEFAULT_RESULTS, metavar="DIR", help="results directory (default: ./results)"
)
MODELS_FILE = arg(
    "--models-file",
    type=Path,
    metavar="TOML",
    help="model definitions ([models.NAME] tables); default: ./arena.toml if present",
)
LIST_FORMAT = arg(
    "--format",
    choices=["table", "json"],
    default="table",
    help="table for people, json (a list of objects) for scripts",
)
LIMIT = arg("--limit", type=_integer(1), metavar="N", help="only the first N prompts (default: every prompt)")
BENCHMARK = arg("--benchmark", required=True)
PROMPT_SET = arg("--benchmark", required=True, help="prompt set name or .jsonl/.csv path")
NAME = arg("name")
SEED = arg("--seed", type=_integer(0), default=0)
DB = (
    RESULTS,
    arg(
        "--db",
        metavar="URL",
        help="SQLAlchemy URL of the votes database (default: sqlite in the results directory; "
        "e.g. postgresql://user@host/arena to share it between servers)",
    ),
)
GENERATION = Group(
    (
        arg("--greedy", action="store_const", const=True, help="greedy decoding instead of nucleus sampling"),
        arg("--temperature", type=_number(0, 2), help="default 0.7"),
        arg("--top-p", type=_number(0, 1, low_open=True), help="default 0.9"),
        arg("--max-new-tokens", type=_integer(1), help="default 512"),
        arg(
            "--seed",
            type=_integer(0),
            default=0,
            help="random seed: same seed, same answers (and match orders and resamples in ratings)",
        ),
    ),
    "generation",
    "Given flags override a model's own settings (e.g. `greedy = true` in its entry), which "
    "override the defaults: the QLoRA paper's nucleus sampling, top_p 0.9, temperature 0.7.",
)


def _judging(judge_default: str, protocols: list[str], judge_more: str = "") -> Group:
    """The judging options of evaluate and tournament: the judge (`judge_default` unless given), and the first
    of `protocols` unless --protocol says otherwise."""
    return Group(
        (
            arg(
                "--judge",
                action="append",
                help=f"judge model (default: {judge_default}){judge_more}. Repeat for a panel: each judge "
                "judges every matchup (any mix, also 'human' for the votes of arena rate), then the "
                "panel's majority verdicts are rated beside each judge's",
            ),
            arg(
                "--judge-base-url",
                metavar="URL",
                help="send the judge's calls to this OpenAI-compatible endpoint (vLLM, llama.cpp, Azure...) (default: "
                "the judge's own base_url in its model entry, else OPENAI_BASE_URL, else the OpenAI API)",
            ),
            arg("--protocol", choices=protocols, default=protocols[0]),
            arg(
                "--judge-template",
                type=Path,
                metavar="JSONL",
                help="FastChat/QLoRA review-prompt file, or FastChat llm_judge's judge_prompts.jsonl (pair-v2 / "
                "single-v1 and their math and multi-turn variants, used per turn), instead of arena's "
                "own templates (default: arena's own)",
            ),
            arg(
                "--judge-reviewers",
                type=Path,
                metavar="JSONL",
                help="FastChat reviewer file mapping categories (general/coding/math) to prompt ids (default: each "
                "prompt of --judge-template for the category it names)",
            ),
            flag("--retry-errors", "judge again the judgments stored as errors"),
            arg(
                "--max-cost",
                type=_number(0, low_open=True),
                metavar="USD",
                help="one cap for the whole command (judging, and answers from paid endpoints): calls wait "
                "for money held by calls in flight and the run stops before spending could pass it; "
                "exit 3 when it stopped the run. Models without a known price need price_in/price_out (default: no cap)",
            ),
            flag(
                "--dry-run",
                "make no call and load no model: print the calls generation and judging need and their "
                "estimated cost, directly and through the Batch API",
            ),
            flag(
                "--batch",
                "send the judge's calls through the OpenAI Batch API at the judge's batch_discount (default "
                "0.5x price; results within 24 h). Submitted batches are recorded in RESULTS/SET/batches/: "
                "after Ctrl-C or a crash, rerun the same command to collect them (never paid twice). "
                "With --schedule adaptive each round is one batch",
            ),
            LIMIT,
            arg("--orderings", type=_integer(1), default=DEFAULT_ORDERINGS, help="Elo: random match orders"),
            arg("--bootstrap", type=_integer(1), default=DEFAULT_RESAMPLES, help="bootstrap resamples for intervals"),
        ),
        "judging",
    )


def _recipe_default(field_name: str, text: str) -> str:
    """A fine-tuning override's help with its default in each --preset."""
    from arena.finetune.config import PRESETS

    values = {name: getattr(config, field_name) for name, config in PRESETS.items()}
    if len(set(values.values())) == 1:
        return f"{text} (default: {next(iter(values.values()))})"
    return f"{text} (default: " + ", ".join(f"{value} with {name}" for name, value in values.items()) + ")"


RATE = "arena.web.commands:run_rate"
COMMANDS: dict[str, Command] = {
    "prompts": Command(
        "list, show and download prompt sets",
        """
        arena prompts list
        arena prompts show sample --limit 3
        arena prompts pull oa953 --from ../shared/benchmarks/oa953/questions.jsonl
        arena prompts pull mine --from my_prompts.csv   # your own set, by name
        """,
        choose="ACTION",
        commands={
            "list": Command(
                "prompt sets with counts, categories and whether they are available locally",
                """
                arena prompts list
                arena prompts list --format json
                """,
                (LIST_FORMAT,),
                "arena.prompts.commands:run_list",
            ),
            "show": Command(
                "print the prompts of a set (a name or a .jsonl/.csv path)",
                """
                arena prompts show sample --limit 3
                arena prompts show sample --format jsonl > sample.jsonl
                arena prompts show oa953 --limit 1 --full
                """,
                (
                    NAME,
                    arg(
                        "--limit",
                        type=_integer(1),
                        metavar="N",
                        help="show only the first N prompts (default: every prompt)",
                    ),
                    flag(
                        "--full",
                        "table: show every message whole (without it, messages longer than 1,000 characters "
                        "are cut, saying how much was left out); jsonl is always whole",
                    ),
                    arg(
                        "--format",
                        choices=["table", "jsonl"],
                        default="table",
                        help="table for people, jsonl for the normalized records",
                    ),
                ),
                "arena.prompts.commands:run_show",
            ),
            "pull": Command(
                "download a pinned set (checksum-verified) or add your own set from a file",
                """
                arena prompts pull vicuna80
                arena prompts pull oa953 --from ../shared/benchmarks/oa953/questions.jsonl
                arena prompts pull my-set --from my_prompts.csv   # then --benchmark my-set
                arena prompts pull mt-bench --from ../shared/benchmarks/mt-bench   # FastChat's data/mt_bench/
                arena prompts pull my-set --from my_prompts.jsonl --references my_references.jsonl
                arena prompts pull my-set --from my_prompts_v2.jsonl --replace
                """,
                (
                    NAME,
                    arg(
                        "--from",
                        dest="from_path",
                        type=Path,
                        metavar="PATH",
                        help="a local file (or, for mt-bench, FastChat's data/mt_bench/ folder) instead of the URL "
                        "(default: download from the set's pinned URL)",
                    ),
                    arg(
                        "--references",
                        type=Path,
                        metavar="JSONL",
                        help="reference answers: FastChat reference_answer rows (question_id, choices[0].turns) or "
                        "question_id + reference (a string or one per turn); every id must name a question (default: the "
                        "set's pinned references where it has them, else none)",
                    ),
                    flag(
                        "--replace",
                        "replace your own set of that name (without it, pulling an existing name is refused)",
                    ),
                ),
                "arena.prompts.commands:run_pull",
                description="Download vicuna80, oa953 or mt-bench from their pinned URL, or copy them --from a "
                "local file; the sha256 must match the pinned one or nothing is stored. mt-bench comes with "
                "GPT-4's reference answers (its own pinned file): --from takes a folder laid out like "
                "FastChat's data/mt_bench/ (question.jsonl, reference_answer/gpt-4.jsonl). Any other "
                "NAME with --from FILE stores your own JSONL (text / turns / input / messages) or CSV "
                "set; --references adds reference answers to any set.",
            ),
        },
    ),
    "generate": Command(
        "generate answers for a prompt set with a model",
        """
        arena generate --model smollm2-135m-q4 --benchmark vicuna80 --limit 5
        arena generate --model smollm2-135m-q4 --benchmark sample --greedy --max-new-tokens 128
        arena generate --model answers:published/gpt35.jsonl --benchmark vicuna80
        arena generate --model openai:gpt-4o-mini --benchmark sample   # OPENAI_API_KEY, OPENAI_BASE_URL
        """,
        (
            arg("--model", required=True, help="preset, models-file name, or BACKEND:TARGET"),
            PROMPT_SET,
            LIMIT,
            flag("--overwrite", "answer again prompts already answered"),
            GENERATION,
            arg("--batch-size", type=_integer(1), help="hf backend: prompts per batch (default 8)"),
            MODELS_FILE,
            RESULTS,
        ),
        "arena.generation.commands:run_generate",
        description="Answers every prompt (multi-turn prompts turn by turn) and stores them in the results "
        "store. A rerun skips prompts already answered; --overwrite answers them again. Sampling defaults "
        "follow the QLoRA paper (top_p 0.9, temperature 0.7).",
    ),
    "models": Command(
        "list the models arena knows and show one's settings",
        """
        arena models list
        arena models show guanaco-7b
        """,
        choose="ACTION",
        commands={
            "list": Command(
                "presets, models-file entries and fine-tuned models",
                """
                arena models list
                arena models list --models-file my-models.toml
                arena models list --format json
                """,
                (MODELS_FILE, LIST_FORMAT),
                "arena.generation.commands:run_models",
            ),
            "show": Command(
                "one model's backend and options",
                """
                arena models show guanaco-7b
                arena models show smollm2-nf4
                """,
                (NAME, MODELS_FILE),
                "arena.generation.commands:run_models",
            ),
        },
    ),
    "evaluate": Command(
        "judge candidates against a baseline in both orders; score as a percentage of the baseline",
        """
        arena evaluate --model smollm2-greedy --benchmark sample --baseline smollm2-sampled --judge smollm2-135m-q4
        arena evaluate --model guanaco-7b --benchmark vicuna80 --baseline chatgpt --judge gpt-4 --max-cost 5
        arena evaluate --model guanaco-7b --benchmark vicuna80 --baseline chatgpt --judge gpt-4 --dry-run --batch
        arena evaluate --model guanaco-7b --benchmark vicuna80 --baseline chatgpt --judge gpt-4 --batch --max-cost 5
        arena evaluate --model my-model --benchmark vicuna80 --baseline answers:gpt35.jsonl \\
            --judge openai:my-judge --judge-base-url http://127.0.0.1:8000/v1 --protocol both
        arena evaluate --model guanaco-7b --benchmark vicuna80 --baseline chatgpt --protocol pairwise \\
            --judge gpt-4 --judge chatgpt --judge human --max-cost 10   # a panel: each judge, then the majority
        arena evaluate --model answers:model_answer/vicuna-13b.jsonl --benchmark mt-bench --protocol single \\
            --judge gpt-4 --judge-template ../shared/judge-templates/fastchat-llm-judge/judge_prompts.jsonl
        arena evaluate --model vicuna-13b --benchmark mt-bench --protocol single --judge replay:published:gpt-4
        """,
        (
            arg("--model", action="append", required=True, help="candidate model (repeatable)"),
            PROMPT_SET,
            arg(
                "--baseline", default="chatgpt", help="baseline model (default: chatgpt; not used by --protocol single)"
            ),
            _judging("gpt-4", ["relative", "pairwise", "both", "single"]),
            GENERATION,
            MODELS_FILE,
            RESULTS,
        ),
        "arena.pipelines.commands:run_evaluate",
        description="Generates the answers that are missing (candidates and baseline), has the judge compare "
        "each candidate with the baseline in both answer orders, and prints the score relative to the "
        "baseline (the QLoRA paper's '% of ChatGPT') with a 95% interval, and win/tie/loss. "
        "--protocol single grades each turn of each candidate's answers from 1 to 10 instead (MT-bench; "
        "no baseline): turn 1 alone, later turns with the conversation shown, math, reasoning and coding "
        "questions against the set's reference answers; it prints the MT-bench score table "
        "(`arena ratings --method score`). --judge replay:RESULTS_DIR[:JUDGE] copies grades recorded "
        "there instead of asking a judge.",
        defaults={"default_judge": "gpt-4"},
    ),
    "tournament": Command(
        "all-pairs tournament judged in both orders; Elo and Bradley-Terry leaderboard",
        """
        arena tournament                       # offline demo: SmolLM2 4-bit configurations on `sample`
        arena tournament --models guanaco-7b guanaco-13b chatgpt --benchmark vicuna80 --judge gpt-4
        arena tournament --models a b c d --benchmark oa953 --budget 2000 --max-cost 20
        arena tournament --models a b c d --benchmark oa953 --budget 8000 --schedule adaptive --batch
        arena tournament --benchmark vicuna80 --judge replay:results:gpt-4 --budget 1000 --schedule adaptive --format json
        arena tournament --benchmark vicuna80 --judge replay:a:gpt-4 --judge replay:b:claude --judge replay:c:human   # a panel of recorded judges
        """,
        (
            arg("--models", nargs="+", metavar="MODEL", help=f"models to play (default demo: {' '.join(DEMO_MODELS)})"),
            arg("--benchmark", default="sample", help="prompt set (default: sample)"),
            arg(
                "--budget",
                type=_integer(1),
                metavar="N",
                help="judge calls in all (stored ones count): a random sample of N matchups, or what "
                "the adaptive schedule picks (default: every matchup; --schedule adaptive needs it)",
            ),
            arg(
                "--schedule",
                choices=["random", "adaptive"],
                default="random",
                help="random: N matchups drawn at random (the default). adaptive: rounds of the judge's "
                "concurrency, each refitting Bradley-Terry and judging (both orders of a question) "
                "the pairs whose order is least settled (arena/judging/schedule.py says how)",
            ),
            flag(
                "--until-separated",
                "adaptive: stop once every pair of neighbouring models is separated at --confidence",
            ),
            arg(
                "--confidence",
                type=_number(0, 1, low_open=True, high_open=True),
                default=0.95,
                help="adaptive: confidence for --until-separated and the unresolved pairs (default 0.95)",
            ),
            arg(
                "--round-size",
                type=_integer(2),
                metavar="CALLS",
                help=f"adaptive: judge calls per round (default {DEFAULT_JUDGE_CONCURRENCY}, a judge's usual "
                "concurrency; with --batch, a tenth of --budget: each round is one batch)",
            ),
            arg(
                "--format",
                choices=["table", "json"],
                default="table",
                help="json: {elo, bradley_terry, judge_calls, schedule, unresolved_pairs} on stdout",
            ),
            _judging(
                DEMO_JUDGE,
                ["pairwise", "relative"],
                "; or replay:RESULTS_DIR[:JUDGE] to replay recorded verdicts (no answers, no cost)",
            ),
            GENERATION,
            MODELS_FILE,
            RESULTS,
        ),
        "arena.pipelines.commands:run_tournament",
        description="Every pair of models on every question, in both answer orders (each order is a match, as "
        "in the QLoRA paper), or a random --budget of matchups; then the paper's Elo and Bradley-Terry "
        "leaderboards. With no arguments: an offline demo on the sample set among SmolLM2-135M 4-bit "
        "configurations, judged by the same small model as a clearly labelled demo judge.",
        defaults={"default_judge": DEMO_JUDGE},
    ),
    "ratings": Command(
        "leaderboards and judge diagnostics from stored judgments",
        """
        arena ratings --benchmark vicuna80 --method elo
        arena ratings --benchmark vicuna80 --method bt --bootstrap 1000 --format json
        arena ratings --benchmark vicuna80 --method relative --baseline gpt-3.5
        arena ratings --benchmark vicuna80 --method bt --control style --format json
        arena ratings --benchmark vicuna80 --method winrate --baseline gpt-3.5 --control length
        arena ratings --benchmark alpaca-eval --method winrate --baseline gpt4_1106_preview --control length
        arena ratings --benchmark vicuna80 --method bias
        arena ratings --benchmark vicuna80 --method agreement --judge gpt-4 --judge human
        arena ratings --benchmark vicuna80 --method robustness
        arena ratings --benchmark vicuna80 --method robustness --rating elo --orderings 1000 --format json
        arena ratings --benchmark vicuna80 --panel majority --method bt   # each judge's table and the panel's
        arena ratings --benchmark vicuna80 --method agreement --judge a --judge b --judge c   # + Fleiss' kappa
        arena ratings --benchmark vicuna80 --method bt --exclude-self   # without gpt-4's verdicts on gpt-4
        arena ratings --benchmark mine --method bias --self-model openai:gpt-4o-2024-08-06=gpt-4o
        arena ratings --benchmark mt-bench --method score --format json
        """,
        (
            RESULTS,
            arg("--benchmark", required=True, help="prompt set name"),
            arg("--judge", action="append", help="judge(s) to use (default: all stored, each judge rated on its own)"),
            flag("--pool-judges", "rate the judgments of every selected judge together as one leaderboard"),
            arg(
                "--method",
                choices=["elo", "bt", "relative", "winrate", "bias", "agreement", "robustness", "score"],
                default="elo",
            ),
            arg(
                "--rating",
                choices=["bt", "elo"],
                default="bt",
                help="robustness: the leaderboard whose order is tested (default bt; elo replays the paper's "
                "Elo with --orderings and --seed for every refit, so it is slower)",
            ),
            arg(
                "--max-share",
                type=_number(0, 1, low_open=True),
                default=0.1,
                metavar="SHARE",
                help="robustness: remove at most this share of the judgments (default 0.1); a pair that "
                "does not flip within it is reported verified: false",
            ),
            arg(
                "--panel",
                choices=["majority", "mean"],
                help="rate the selected judges (two or more) as a panel, beside each judge: majority = the "
                "verdict more than half of the votes gave, per question and answer order (else a tie; "
                "items a majority of the panel judged); mean = the mean of single-answer grades (default: no panel, "
                "each judge on its own)",
            ),
            flag("--exclude-self", "leave out the judgments in which a judge judged its own model"),
            arg(
                "--self-model",
                action="append",
                metavar="JUDGE=MODEL",
                help="JUDGE's own model is the contestant MODEL (by default a judge's own model is the "
                "contestant of the same name, or of the replayed judge's name)",
            ),
            arg(
                "--control",
                metavar="length|style|FEATURES",
                help="bt: style-controlled Bradley-Terry (logit = θ_A − θ_B + Σ β·d, d the normalised "
                "difference of each feature); winrate: 'length' for the length-controlled win rate. "
                "'style' = length, headers, lists, bold; or a comma list of length, headers, lists, "
                "bold, code_blocks. Needs the answers behind the verdicts in the results store (default: no control)",
            ),
            arg(
                "--protocol",
                choices=["pairwise", "relative", "single"],
                help="which judgments to rate (default: relative for --method relative, else pairwise)",
            ),
            arg(
                "--baseline",
                help="relative and winrate: the model compared against (required there); bt: the model "
                "anchored at 1000 (default: none, the models' mean sits at 1000)",
            ),
            arg(
                "--orderings",
                type=_orderings,
                default=DEFAULT_ORDERINGS,
                metavar="N|auto",
                help="Elo: random match orders (default: the paper's 10,000). The interval is the spread of "
                "single-order results (2.5-97.5 percentiles), as in the paper; JSON rows also give the "
                "interval of the mean (mean_ci_low/high) and its Monte Carlo error (mean_se). 'auto' adds "
                "orders until every mean_se is below 0.1 point or 100,000 orders are played (then it says "
                "so, with the precision reached)",
            ),
            arg(
                "--bootstrap",
                type=_integer(1),
                default=DEFAULT_RESAMPLES,
                metavar="N",
                help="BT/relative/score: resamples",
            ),
            SEED,
            flag("--by-category", "relative: add a per-category breakdown"),
            arg("--format", choices=["table", "json", "csv"], default="table"),
        ),
        "arena.ratings.commands:run_ratings",
        description="elo: the QLoRA paper's Elo (start 1000, K=32, mean over N random match orders, 95% "
        "interval).\nbt: Bradley-Terry maximum likelihood on the Elo scale with bootstrap 95% intervals."
        "\nrelative: the candidate's summed score over the baseline's, per answer order and their mean "
        "(the paper's '% of ChatGPT').\nwinrate: share of points against --baseline (ties half, soft "
        "verdicts as fractional wins: AlpacaEval's win_rate; discrete_win_rate from the hard verdicts), "
        "with --control length also AlpacaEval 2.0's length-controlled win rate: per-instruction "
        "difficulty fitted on all candidates (shrunk where little informed), then per candidate the "
        "prediction at zero length gap, averaged over instructions, with its standard error; each "
        "candidate's length slope is pooled toward the candidates' common one in proportion to how "
        "little its own judgments inform it (the slopes' spread estimated from the data); "
        "judgments of the baseline's own answers made longer or shorter (models named like "
        "<baseline>_verbose, <baseline>_concise) regularise every candidate's length slope, as in AlpacaEval. "
        "Soft verdicts are fractional wins in bt and elo too."
        "\nbias: position bias, order consistency and length preference per judge."
        "\nagreement: two judges compared on the same items (two --judge options); with three or more "
        "judges (or --panel), every pair's agreement and the panel's Fleiss' kappa, with and without "
        "ties. A judge whose own model is a contestant (same name, or --self-model) is noted under the "
        "table; bias then adds its self-preference."
        "\nrobustness: for each adjacent pair of the leaderboard from the top, the fewest judgments whose "
        "removal reverses their order (first-order influence, then proven by refitting without them), "
        "and the fewest that change the top model."
        "\nscore: single-answer grades (--protocol single), MT-bench style: per model the mean grade over "
        "every graded turn, turn 1 and turn 2 apart, per category, with a bootstrap 95% interval over "
        "questions.",
    ),
    "import": Command(
        "bring published judgments or answers into the results store",
        """
        arena import qlora ../shared/published/qlora-vicuna-pairwise-sample/ratings --benchmark vicuna80 --judge gpt-4
        arena import fastchat path/to/llm_judge/data/vicuna_bench --benchmark vicuna80
        arena import alpaca-eval ../shared/published/alpaca-eval-2-sample/results
        """,
        choose="SOURCE",
        commands={
            "qlora": Command(
                "the QLoRA paper's published evaluation: GPT-4 reviews and the judged answers",
                """
                arena import qlora path/to/qlora/eval          # the repository's whole eval/ folder
                arena import qlora ../shared/published/qlora-vicuna-relative-sample
                arena import qlora ../shared/published/qlora-oa-pairwise-sample/ratings --benchmark oa953
                """,
                (
                    arg("directory", type=Path, metavar="DIR"),
                    arg(
                        "--benchmark",
                        help="prompt set of every review found (default: vicuna80 or oa953, from the folder names)",
                    ),
                    arg("--judge", default="gpt-4", help="judge name to record (default: gpt-4)"),
                    arg(
                        "--generations",
                        type=Path,
                        metavar="DIR",
                        help="the answers that were judged (<model>.jsonl with question_id or message_id, and "
                        "generation or answer_id + text); default: generations/[vicuna|oa]/ in or beside DIR",
                    ),
                    RESULTS,
                ),
                "arena.interop.commands:run_import_qlora",
                description="DIR is the QLoRA repository's eval/ folder (ratings-gpt4/vicuna/pairwise, "
                "ratings-gpt4/vicuna/relative-gpt-3.5, ratings-gpt4/oa, generations/vicuna, "
                "generations/oa), any part of it, or one folder of review files "
                "<A>-vs-<B>-<reviewer>-reviewer[-threeclass].jsonl. -threeclass files are pairwise "
                "(score 1, 2, 3=tie, -1=unparsed); the others are relative 1-10 scores. Rows are "
                "keyed by question_id (Vicuna) or message_id (OpenAssistant). Which answer was "
                "shown first is read from the rows' answer1_id/answer2_id in the answer files "
                "(the file name is the fallback), and rows that contradict their file name are "
                "counted. Unparsed reviews are kept as errors. Everything is checked before "
                "anything is stored; importing the same files twice adds nothing.",
            ),
            "fastchat": Command(
                "FastChat llm_judge answers (model_answer/) and judgments (model_judgment/)",
                """
                arena import fastchat FastChat/fastchat/llm_judge/data/mt_bench --benchmark mt-bench
                arena export fastchat --benchmark sample --out out/ && arena import fastchat out/ --benchmark sample
                """,
                (
                    arg("directory", type=Path, metavar="DIR"),
                    BENCHMARK,
                    arg("--judge", help="judge name for judgments (default: from the files)"),
                    RESULTS,
                ),
                "arena.interop.commands:run_import_fastchat",
            ),
            "alpaca-eval": Command(
                "AlpacaEval annotations: soft judge preferences against its baseline",
                """
                arena import alpaca-eval ../shared/published/alpaca-eval-2-sample/results
                arena import alpaca-eval path/to/alpaca_eval/results/claude-2/weighted_alpaca_eval_gpt4_turbo/annotations.json
                arena ratings --benchmark alpaca-eval --method winrate --baseline gpt4_1106_preview --control length
                """,
                (
                    arg("path", type=Path, metavar="PATH"),
                    arg("--benchmark", default="alpaca-eval", help="prompt set to import into (default: alpaca-eval)"),
                    arg("--judge", help="judge name to record (default: each row's annotator)"),
                    RESULTS,
                ),
                "arena.interop.commands:run_import_alpaca_eval",
                description="PATH is a folder laid out like AlpacaEval's results/ (every annotations.json under it "
                "is read) or one annotations.json. Each row becomes a pairwise judgment by its "
                "annotator: the baseline (generator_1) shown first, the model (generator_2) second, "
                "the soft preference kept unrounded (preference - 1 = the chance the model's answer "
                "is better; 0 reads as a draw). Both answers are stored, and the instructions become "
                "the prompt set --benchmark, with ids from their text (the same in every file). Rows "
                "with no preference are skipped and counted. Every file is checked before anything is "
                "stored (a file naming two baselines, a preference outside [0, 2.5] or an id with two "
                "texts stops the import: exit 2, nothing stored); importing twice adds nothing.",
            ),
        },
    ),
    "export": Command(
        "write stored answers (FastChat layout) or judgments (AlpacaEval layout)",
        """
        arena export fastchat --benchmark sample --out fastchat_sample/
        arena export alpaca-eval --out alpaca_results/
        """,
        choose="FORMAT",
        commands={
            "fastchat": Command(
                "question.jsonl + model_answer/<model>.jsonl",
                """
                arena export fastchat --benchmark sample --out fastchat_sample/
                arena export fastchat --benchmark vicuna80 --model guanaco-7b --out out/
                """,
                (
                    BENCHMARK,
                    arg("--out", type=Path, required=True, metavar="DIR"),
                    arg("--model", action="append", help="only this model (repeatable; default: every model)"),
                    RESULTS,
                ),
                "arena.interop.commands:run_export_fastchat",
            ),
            "alpaca-eval": Command(
                "<model>/<judge>/annotations.json, as AlpacaEval writes them",
                """
                arena export alpaca-eval --out alpaca_results/
                arena export alpaca-eval --benchmark vicuna80 --baseline gpt-3.5 --judge gpt-4 --out out/
                """,
                (
                    arg("--benchmark", default="alpaca-eval", help="prompt set (default: alpaca-eval)"),
                    arg("--out", type=Path, required=True, metavar="DIR"),
                    arg("--baseline", help="the model every row compares against (default: the one model shown first)"),
                    arg("--judge", action="append", help="only this judge (repeatable; default: every judge)"),
                    RESULTS,
                ),
                "arena.interop.commands:run_export_alpaca_eval",
                description="Every pairwise judgment against the baseline becomes a row with the baseline's "
                "answer as output_1; a judgment that showed the baseline second is turned round. "
                "preference is the one imported, else 1 + the soft verdict, else 1 (baseline), "
                "2 (model) or 1.5 (tie); unreadable verdicts are written with none.",
            ),
        },
    ),
    "finetune": Command(
        "QLoRA fine-tuning stage that makes new tournament candidates",
        """
        arena finetune --base smollm2-135m-q4 --data sample --name smol-guanaco --preset cpu-smoke
        arena tournament --models smollm2-greedy smol-guanaco
        arena finetune --base guanaco-7b --data timdettmers/openassistant-guanaco --name my-7b   # GPU, online
        """,
        (
            arg("--base", required=True, help="base model (preset, models-file name or BACKEND:TARGET)"),
            arg("--data", required=True, help="training .jsonl, 'sample', or a hub dataset name"),
            arg("--name", required=True, help="name of the new model"),
            arg("--preset", choices=["guanaco", "cpu-smoke"], default="guanaco"),
            Group(
                (
                    arg("--max-steps", type=_integer(1), metavar="N", help=_recipe_default("max_steps", "steps")),
                    arg(
                        "--epochs",
                        type=_number(0, low_open=True),
                        metavar="E",
                        help="passes over the data instead of --max-steps (default: --max-steps)",
                    ),
                ),
                exclusive=True,
            ),
            arg("--out", type=Path, metavar="DIR", help="output folder (default: adapters/NAME)"),
            flag("--resume", "continue from the checkpoint in --out"),
            flag("--overwrite", "replace an existing --out folder"),
            flag("--merge", "also write the adapter merged into an unquantized base"),
            Group(
                (
                    arg("--lora-r", type=_integer(1), help=_recipe_default("lora_r", "LoRA rank")),
                    arg("--lora-alpha", type=_integer(1), help=_recipe_default("lora_alpha", "LoRA alpha")),
                    arg(
                        "--lora-dropout",
                        type=_number(0, 1, high_open=True),
                        help=_recipe_default("lora_dropout", "LoRA dropout (guanaco: 0.05 for 33B and up)"),
                    ),
                    arg(
                        "--target-modules",
                        help=_recipe_default("target_modules", "'all-linear' or comma-separated module names"),
                    ),
                    arg(
                        "--learning-rate",
                        type=_number(0, low_open=True),
                        help=_recipe_default("learning_rate", "constant after warm-up (guanaco: 1e-4 for 33B and up)"),
                    ),
                    arg("--batch-size", type=_integer(1), help=_recipe_default("batch_size", "examples per step")),
                    arg(
                        "--micro-batch-size",
                        type=_integer(1),
                        help=_recipe_default("micro_batch_size", "examples per forward pass"),
                    ),
                    arg("--source-max-len", type=_integer(1), help=_recipe_default("source_max_len", "prompt tokens")),
                    arg("--target-max-len", type=_integer(1), help=_recipe_default("target_max_len", "answer tokens")),
                    arg(
                        "--quantization",
                        choices=["4bit", "8bit", "none"],
                        help=_recipe_default("quantization", "how the base is loaded"),
                    ),
                    arg("--seed", type=_integer(0), help=_recipe_default("seed", "random seed")),
                    arg(
                        "--save-every",
                        type=_integer(1),
                        metavar="STEPS",
                        help=_recipe_default("save_every", "checkpoint interval"),
                    ),
                    arg(
                        "--eval-every",
                        type=_integer(1),
                        metavar="STEPS",
                        help=_recipe_default("eval_every", "held-out evaluation interval"),
                    ),
                ),
                "recipe overrides",
            ),
            MODELS_FILE,
            RESULTS,  # where the run's manifest goes (runs/)
        ),
        "arena.finetune.commands:run_finetune",
        description="Loads the base in 4-bit NF4 with double quantization, trains LoRA adapters on all linear "
        "layers with the QLoRA paper's recipe (preset guanaco: r 64, alpha 16, dropout 0.1, paged "
        "AdamW, constant lr 2e-4 after 3% warm-up, max grad norm 0.3, batch 16, 512+512 tokens, loss on "
        "assistant tokens only), evaluates on a held-out split, checkpoints, and registers NAME as a "
        "model for generate / evaluate / tournament. --data: a .jsonl with `text` (### Human: ... "
        "### Assistant: ...) or `messages`, 'sample' for the shipped sample, or a Hugging Face dataset.",
    ),
    "report": Command(
        "self-contained HTML leaderboard with charts and a battle browser",
        """
        arena report --benchmark sample
        arena report --benchmark vicuna80 --judge gpt-4 --judge human --out reports/vicuna/
        """,
        (
            RESULTS,
            BENCHMARK,
            arg("--judge", action="append", help="judges to include (default: all)"),
            arg(
                "--baseline",
                help="baseline of relative scores (default: the one the judgments name, e.g. evaluate's "
                "--baseline; required when they name none)",
            ),
            arg("--out", type=Path, metavar="DIR", help="default: reports/BENCHMARK/"),
            arg("--orderings", type=_integer(1), default=DEFAULT_ORDERINGS),
            arg("--bootstrap", type=_integer(1), default=DEFAULT_RESAMPLES),
            SEED,
        ),
        "arena.report.commands:run_report",
        description="Writes OUT/index.html (scripts, styles and charts inline: it opens from a file with no "
        "network) and the charts as SVG beside it: Elo and Bradley-Terry tables with 95% intervals, score as a "
        "percentage of the baseline when relative judgments exist, win-rate heatmap, per-category (or "
        "per-language) breakdown, judge position bias, judge-vs-human agreement, a battle browser, and "
        "run metadata. Prints the page's path.",
    ),
    "rate": Command(
        "web form for blind human pairwise rating",
        """
        arena rate add-rater alice                 # prints alice's personal link
        arena rate serve --benchmark sample --models smollm2-greedy smollm2-sampled smollm2-nf4
        arena rate raters
        arena rate export --format csv > votes.csv
        arena ratings --benchmark sample --judge human   # votes are judgments by `human`
        """,
        choose="ACTION",
        commands={
            "serve": Command(
                "run the rating web app",
                """
                arena rate serve --benchmark sample --models smollm2-greedy smollm2-sampled smollm2-nf4
                arena rate serve --benchmark vicuna80 --models guanaco-7b gpt-3.5 --per-rater 40 --port 8080
                # two servers on one PostgreSQL database, behind a proxy that serves them under /rate:
                arena rate serve --benchmark sample --models a b --db postgresql://arena:pw@db/arena --port 8001 --root-path /rate --forwarded-allow-ips 127.0.0.1
                arena rate serve --benchmark sample --models a b --db postgresql://arena:pw@db/arena --port 8002 --root-path /rate --forwarded-allow-ips 127.0.0.1
                """,
                (
                    BENCHMARK,
                    arg("--models", nargs="+", required=True, metavar="MODEL"),
                    arg("--host", default="127.0.0.1", help="interface to listen on (default: loopback only)"),
                    arg("--port", type=_integer(1, 65535), default=8000),
                    arg("--per-rater", type=_integer(1), metavar="N", help="items asked of each rater (default: all)"),
                    arg(
                        "--votes-per-minute",
                        type=_number(0, low_open=True),
                        default=120.0,
                        help="rate limit per rater link",
                    ),
                    arg(
                        "--burst",
                        type=_integer(1),
                        default=20,
                        help="votes a link may send at once before the limit applies",
                    ),
                    arg(
                        "--root-path",
                        default="",
                        metavar="PATH",
                        help="sub-path a reverse proxy serves the form under, stripped by the proxy before it "
                        "forwards (e.g. /rate; default: none)",
                    ),
                    arg(
                        "--forwarded-allow-ips",
                        default="",
                        metavar="IPS",
                        help="proxy addresses or networks whose X-Forwarded-Proto and -Host headers are believed "
                        "(comma-separated, e.g. 127.0.0.1,10.0.0.0/8; '*' for any; default: none)",
                    ),
                    arg(
                        "--mirror-every",
                        type=_number(0, low_open=True),
                        default=10.0,
                        metavar="SECONDS",
                        help="how often to mirror votes another server committed but was stopped before "
                        "mirroring (default 10)",
                    ),
                    *DB,
                ),
                RATE,
                description="Blind pairwise rating of answers already in the results store: each rater sees the "
                "question and two anonymised answers in random left/right order and picks left, "
                "right, tie or both bad. Votes are committed before the page says saved and appear "
                "to `arena ratings` as judge `human`. Several servers may share one --db "
                "(PostgreSQL) and one --results folder.",
            ),
            "add-rater": Command(
                "create a rater and print their personal link (a 256-bit random token)",
                """
                arena rate add-rater alice
                arena rate add-rater bob --base-url https://rate.example.org
                """,
                (NAME, arg("--base-url", default="http://127.0.0.1:8000", help="where the form is served"), *DB),
                RATE,
            ),
            "revoke": Command(
                "disable a rater's link",
                """
                              arena rate revoke alice
                              """,
                (NAME, *DB),
                RATE,
            ),
            "raters": Command(
                "list raters and how many votes each has given",
                """
                arena rate raters
                arena rate raters --format json
                """,
                (*DB, LIST_FORMAT),
                RATE,
            ),
            "export": Command(
                "all votes as JSONL or CSV on standard output",
                """
                arena rate export --format csv > votes.csv
                arena rate export --benchmark sample > votes.jsonl
                """,
                (
                    arg("--format", choices=["jsonl", "csv"], default="jsonl"),
                    arg("--benchmark", help="only the votes on this prompt set (default: every set)"),
                    *DB,
                ),
                RATE,
            ),
        },
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="arena", description=OVERVIEW, formatter_class=_Formatter)
    parser.add_argument("--version", action="version", version=f"arena {__version__}")
    _add_commands(parser, "command", "COMMAND", COMMANDS)
    _give_every_option_a_help_line(parser)
    return parser


def _add_commands(parser: argparse.ArgumentParser, dest: str, metavar: str, commands: dict[str, Command]) -> None:
    subparsers = parser.add_subparsers(dest=dest, required=True, metavar=metavar)
    for name, command in commands.items():
        _add_command(subparsers, name, command)


def _add_command(subparsers, name: str, command: Command) -> None:
    examples = "".join(f"\n  {line}" for line in textwrap.dedent(command.examples).strip("\n").splitlines())
    parser = subparsers.add_parser(
        name,
        help=command.help,
        description=command.description or command.help,
        epilog=f"examples:{examples}",
        formatter_class=_Formatter,
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="also show third-party libraries' warnings and log messages",
    )
    for item in command.args:
        if isinstance(item, Arg):
            parser.add_argument(*item.names, **item.settings)
            continue
        group = (
            parser.add_mutually_exclusive_group()
            if item.exclusive
            else parser.add_argument_group(item.title, item.description)
        )
        for member in item.args:
            group.add_argument(*member.names, **member.settings)
    if command.handler:
        parser.set_defaults(handler=_lazy(*command.handler.split(":")), **command.defaults)
    if command.commands:
        _add_commands(parser, "action", command.choose, command.commands)


def _give_every_option_a_help_line(parser: argparse.ArgumentParser) -> None:
    """argparse prints no help line, so no default, for an option without help text: give those with a
    default a line that says it."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in set(action.choices.values()):
                _give_every_option_a_help_line(command)
        elif action.help is None and action.option_strings and _has_default(action):
            action.help = "(default: %(default)s)"


def _has_default(action: argparse.Action) -> bool:
    return not (
        action.default is None or action.default is False or action.default == [] or action.default is argparse.SUPPRESS
    )


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    sys.stderr.write(f"arena: warning: {message}\n")


# Which extra of `pip install -e '.[EXTRA]'` brings each optional package.
EXTRAS = {
    **dict.fromkeys(
        ("torch", "transformers", "peft", "accelerate", "bitsandbytes", "safetensors", "gguf", "matplotlib"), "hf"
    ),
    **dict.fromkeys(("starlette", "uvicorn", "sqlalchemy", "multipart", "python_multipart", "psycopg"), "web"),
    "vllm": "gpu",
    "playwright": "dev",
    "pandas": "analysis",
}


def _quiet_third_parties() -> None:
    """Warnings users can do nothing about (a kernel hub that is offline, a deprecation inside a library)
    stay hidden unless --verbose; arena's own warnings always show."""
    import logging
    import os

    warnings.filterwarnings("ignore", module=r"(?!arena)")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    # Libraries' own progress bars (transformers' GGUF conversion uses plain tqdm); arena shows its own
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    for name in ("bitsandbytes", "transformers", "peft", "accelerate", "huggingface_hub", "torch", "numba", "vllm"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    """parse_args, except that an unknown option is reported by the command it was given to, with the
    closest option that command has ("--methd": did you mean --method?), not by the top-level usage."""
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if not extras:
        return args
    command = parser
    while True:  # down to the (sub)command that was chosen
        chosen = next((a for a in command._actions if isinstance(a, argparse._SubParsersAction)), None)
        if chosen is None or getattr(args, chosen.dest, None) not in chosen.choices:
            break
        command = chosen.choices[getattr(args, chosen.dest)]
    known = [o for a in command._actions for o in a.option_strings]
    hints = []
    for extra in extras:
        close = (
            difflib.get_close_matches(extra.split("=", 1)[0], known, n=1, cutoff=0.6) if extra.startswith("-") else []
        )
        hints.append(f"{extra} (did you mean {close[0]}?)" if close else extra)
    command.error(f"unrecognized arguments: {', '.join(hints)}")


EXIT_PIPE_CLOSED = 141  # what a shell reports for a tool that SIGPIPE ended (128 + 13), e.g. `yes | head -1`


def main(argv: list[str] | None = None) -> int:
    """`arena ARGS`. A reader that closes the pipe early (`| head`) is a normal end, not an error: the command
    stops quietly with EXIT_PIPE_CLOSED, like other Unix tools, whether stdout or stderr was the closed one."""
    try:
        code = _run(argv)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's last flush after main returns
        return code
    except BrokenPipeError:
        import contextlib
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        for stream in (sys.stdout, sys.stderr):  # nothing more can reach the reader; nothing may complain at exit
            with contextlib.suppress(OSError, ValueError):  # a stream that is no real file (captured) stays
                os.dup2(devnull, stream.fileno())
        return EXIT_PIPE_CLOSED


def _run(argv: list[str] | None) -> int:
    from arena.console import log_to_terminal

    warnings.showwarning = _show_warning
    log_to_terminal()
    args = _parse(argv)
    if not getattr(args, "verbose", False):
        _quiet_third_parties()
    try:
        return args.handler(args)
    except ArenaError as exc:
        sys.stderr.write(f"arena: error: {exc}\n")
        return exc.exit_code
    except BrokenPipeError:
        raise  # main's to handle: the reader went away, no error to report
    except ModuleNotFoundError as exc:
        package = (exc.name or "").split(".")[0]
        if package not in EXTRAS:
            raise
        sys.stderr.write(
            f"arena: error: this command needs the optional package '{package}', which is not installed: "
            f"install arena with its '{EXTRAS[package]}' extra: pip install -e '.[{EXTRAS[package]}]'\n"
        )
        return 2
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        sys.stderr.write(f"arena: error: {where}{exc.strerror or exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("arena: interrupted; everything saved so far is kept, rerun to continue\n")
        return 130
