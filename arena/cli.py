"""The `arena` command line: parses arguments and hands over to the package that owns each stage.

Heavy libraries (torch, transformers) are imported inside the commands that need them, so `arena --help`
and `arena prompts list` start fast.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import sys
import warnings
from pathlib import Path

from arena import __version__
from arena.errors import ArenaError
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


def _command(subparsers, name: str, help_text: str, examples: str = "", description: str = ""):
    epilog = f"examples:\n{examples}" if examples else None
    parser = subparsers.add_parser(
        name, help=help_text, description=description or help_text, epilog=epilog, formatter_class=_Formatter
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="also show third-party libraries' warnings and log messages",
    )
    return parser


def _add_list_format(parser) -> None:
    parser.add_argument(
        "--format",
        choices=["table", "json"],
        default="table",
        help="table for people, json (a list of objects) for scripts",
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


def _add_results(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--results", type=Path, default=DEFAULT_RESULTS, metavar="DIR", help="results directory (default: ./results)"
    )


# --- prompts -----------------------------------------------------------------------------------
def _add_prompts(subparsers) -> None:
    prompts = _command(
        subparsers,
        "prompts",
        "list, show and download prompt sets",
        "  arena prompts list\n  arena prompts show sample --limit 3\n"
        "  arena prompts pull oa953 --from ../shared/benchmarks/oa953/questions.jsonl\n"
        "  arena prompts pull mine --from my_prompts.csv   # your own set, by name",
    )
    sub = prompts.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = _command(
        sub,
        "list",
        "prompt sets with counts, categories and whether they are available locally",
        "  arena prompts list\n  arena prompts list --format json",
    )
    _add_list_format(listing)
    listing.set_defaults(handler=_lazy("arena.prompts.commands", "run_list"))
    show = _command(
        sub,
        "show",
        "print the prompts of a set (a name or a .jsonl/.csv path)",
        "  arena prompts show sample --limit 3\n  arena prompts show sample --format jsonl > sample.jsonl\n"
        "  arena prompts show oa953 --limit 1 --full",
    )
    show.add_argument("name")
    show.add_argument("--limit", type=_integer(1), default=None, metavar="N", help="show only the first N prompts")
    show.add_argument(
        "--full",
        action="store_true",
        help="table: show every message whole (without it, messages longer than 1,000 characters are "
        "cut, saying how much was left out); jsonl is always whole",
    )
    show.add_argument(
        "--format",
        choices=["table", "jsonl"],
        default="table",
        help="table for people, jsonl for the normalized records",
    )
    show.set_defaults(handler=_lazy("arena.prompts.commands", "run_show"))
    pull = _command(
        sub,
        "pull",
        "download a pinned set (checksum-verified) or add your own set from a file",
        "  arena prompts pull vicuna80\n"
        "  arena prompts pull oa953 --from ../shared/benchmarks/oa953/questions.jsonl\n"
        "  arena prompts pull my-set --from my_prompts.csv   # then --benchmark my-set\n"
        "  arena prompts pull mt-bench --from ../shared/benchmarks/mt-bench   # FastChat's data/mt_bench/\n"
        "  arena prompts pull my-set --from my_prompts.jsonl --references my_references.jsonl\n"
        "  arena prompts pull my-set --from my_prompts_v2.jsonl --replace",
        description="Download vicuna80, oa953 or mt-bench from their pinned URL, or copy them --from a local "
        "file; the sha256 must match the pinned one or nothing is stored. mt-bench comes with "
        "GPT-4's reference answers (its own pinned file): --from takes a folder laid out like "
        "FastChat's data/mt_bench/ (question.jsonl, reference_answer/gpt-4.jsonl). Any other "
        "NAME with --from FILE stores your own JSONL (text / turns / input / messages) or CSV "
        "set; --references adds reference answers to any set.",
    )
    pull.add_argument("name")
    pull.add_argument(
        "--from",
        dest="from_path",
        type=Path,
        metavar="PATH",
        help="a local file (or, for mt-bench, FastChat's data/mt_bench/ folder) instead of the URL",
    )
    pull.add_argument(
        "--references",
        type=Path,
        default=None,
        metavar="JSONL",
        help="reference answers: FastChat reference_answer rows (question_id, choices[0].turns) or "
        "question_id + reference (a string or one per turn); every id must name a question",
    )
    pull.add_argument(
        "--replace",
        action="store_true",
        help="replace your own set of that name (without it, pulling an existing name is refused)",
    )
    pull.set_defaults(handler=_lazy("arena.prompts.commands", "run_pull"))


# --- import / export ---------------------------------------------------------------------------
def _add_import_export(subparsers) -> None:
    importer = _command(
        subparsers,
        "import",
        "bring published judgments or answers into the results store",
        "  arena import qlora ../shared/published/qlora-vicuna-pairwise-sample/ratings "
        "--benchmark vicuna80 --judge gpt-4\n"
        "  arena import fastchat path/to/llm_judge/data/vicuna_bench --benchmark vicuna80\n"
        "  arena import alpaca-eval ../shared/published/alpaca-eval-2-sample/results",
    )
    sub = importer.add_subparsers(dest="action", required=True, metavar="SOURCE")
    qlora = _command(
        sub,
        "qlora",
        "the QLoRA paper's published evaluation: GPT-4 reviews and the judged answers",
        "  arena import qlora path/to/qlora/eval          # the repository's whole eval/ folder\n"
        "  arena import qlora ../shared/published/qlora-vicuna-relative-sample\n"
        "  arena import qlora ../shared/published/qlora-oa-pairwise-sample/ratings --benchmark oa953",
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
    )
    qlora.add_argument("directory", type=Path, metavar="DIR")
    qlora.add_argument(
        "--benchmark",
        default=None,
        help="prompt set of every review found (default: vicuna80 or oa953, from the folder names)",
    )
    qlora.add_argument("--judge", default="gpt-4", help="judge name to record (default: gpt-4)")
    qlora.add_argument(
        "--generations",
        type=Path,
        default=None,
        metavar="DIR",
        help="the answers that were judged (<model>.jsonl with question_id or message_id, and "
        "generation or answer_id + text); default: generations/[vicuna|oa]/ in or beside DIR",
    )
    _add_results(qlora)
    qlora.set_defaults(handler=_lazy("arena.interop.commands", "run_import_qlora"))
    fastchat = _command(
        sub,
        "fastchat",
        "FastChat llm_judge answers (model_answer/) and judgments (model_judgment/)",
        "  arena import fastchat FastChat/fastchat/llm_judge/data/mt_bench --benchmark mtbench\n"
        "  arena export fastchat --benchmark sample --out out/ && arena import fastchat out/ --benchmark sample",
    )
    fastchat.add_argument("directory", type=Path, metavar="DIR")
    fastchat.add_argument("--benchmark", required=True)
    fastchat.add_argument("--judge", default=None, help="judge name for judgments (default: from the files)")
    _add_results(fastchat)
    fastchat.set_defaults(handler=_lazy("arena.interop.commands", "run_import_fastchat"))
    alpaca = _command(
        sub,
        "alpaca-eval",
        "AlpacaEval annotations: soft judge preferences against its baseline",
        "  arena import alpaca-eval ../shared/published/alpaca-eval-2-sample/results\n"
        "  arena import alpaca-eval path/to/alpaca_eval/results/claude-2/weighted_alpaca_eval_gpt4_turbo/"
        "annotations.json\n"
        "  arena ratings --benchmark alpaca-eval --method winrate --baseline gpt4_1106_preview --control length",
        description="PATH is a folder laid out like AlpacaEval's results/ (every annotations.json under it "
        "is read) or one annotations.json. Each row becomes a pairwise judgment by its "
        "annotator: the baseline (generator_1) shown first, the model (generator_2) second, "
        "the soft preference kept unrounded (preference - 1 = the chance the model's answer "
        "is better; 0 reads as a draw). Both answers are stored, and the instructions become "
        "the prompt set --benchmark, with ids from their text (the same in every file). Rows "
        "with no preference are skipped and counted. Every file is checked before anything is "
        "stored (a file naming two baselines, a preference outside [0, 2.5] or an id with two "
        "texts stops the import: exit 2, nothing stored); importing twice adds nothing.",
    )
    alpaca.add_argument("path", type=Path, metavar="PATH")
    alpaca.add_argument("--benchmark", default="alpaca-eval", help="prompt set to import into (default: alpaca-eval)")
    alpaca.add_argument("--judge", default=None, help="judge name to record (default: each row's annotator)")
    _add_results(alpaca)
    alpaca.set_defaults(handler=_lazy("arena.interop.commands", "run_import_alpaca_eval"))

    exporter = _command(
        subparsers,
        "export",
        "write stored answers (FastChat layout) or judgments (AlpacaEval layout)",
        "  arena export fastchat --benchmark sample --out fastchat_sample/\n"
        "  arena export alpaca-eval --out alpaca_results/",
    )
    sub = exporter.add_subparsers(dest="action", required=True, metavar="FORMAT")
    fastchat_out = _command(
        sub,
        "fastchat",
        "question.jsonl + model_answer/<model>.jsonl",
        "  arena export fastchat --benchmark sample --out fastchat_sample/\n"
        "  arena export fastchat --benchmark vicuna80 --model guanaco-7b --out out/",
    )
    fastchat_out.add_argument("--benchmark", required=True)
    fastchat_out.add_argument("--out", type=Path, required=True, metavar="DIR")
    fastchat_out.add_argument("--model", action="append", help="only this model (repeatable)")
    _add_results(fastchat_out)
    fastchat_out.set_defaults(handler=_lazy("arena.interop.commands", "run_export_fastchat"))
    alpaca_out = _command(
        sub,
        "alpaca-eval",
        "<model>/<judge>/annotations.json, as AlpacaEval writes them",
        "  arena export alpaca-eval --out alpaca_results/\n"
        "  arena export alpaca-eval --benchmark vicuna80 --baseline gpt-3.5 --judge gpt-4 --out out/",
        description="Every pairwise judgment against the baseline becomes a row with the baseline's "
        "answer as output_1; a judgment that showed the baseline second is turned round. "
        "preference is the one imported, else 1 + the soft verdict, else 1 (baseline), "
        "2 (model) or 1.5 (tie); unreadable verdicts are written with none.",
    )
    alpaca_out.add_argument("--benchmark", default="alpaca-eval", help="prompt set (default: alpaca-eval)")
    alpaca_out.add_argument("--out", type=Path, required=True, metavar="DIR")
    alpaca_out.add_argument(
        "--baseline", default=None, help="the model every row compares against (default: the one model shown first)"
    )
    alpaca_out.add_argument("--judge", action="append", help="only this judge (repeatable)")
    _add_results(alpaca_out)
    alpaca_out.set_defaults(handler=_lazy("arena.interop.commands", "run_export_alpaca_eval"))


# --- ratings -----------------------------------------------------------------------------------
def _add_ratings(subparsers) -> None:
    ratings = _command(
        subparsers,
        "ratings",
        "leaderboards and judge diagnostics from stored judgments",
        "  arena ratings --benchmark vicuna80 --method elo\n"
        "  arena ratings --benchmark vicuna80 --method bt --bootstrap 1000 --format json\n"
        "  arena ratings --benchmark vicuna80 --method relative --baseline gpt-3.5\n"
        "  arena ratings --benchmark vicuna80 --method bt --control style --format json\n"
        "  arena ratings --benchmark vicuna80 --method winrate --baseline gpt-3.5 --control length\n"
        "  arena ratings --benchmark alpaca-eval --method winrate --baseline gpt4_1106_preview --control length\n"
        "  arena ratings --benchmark vicuna80 --method bias\n"
        "  arena ratings --benchmark vicuna80 --method agreement --judge gpt-4 --judge human\n"
        "  arena ratings --benchmark vicuna80 --method robustness\n"
        "  arena ratings --benchmark vicuna80 --method robustness --rating elo --orderings 1000 --format json\n"
        "  arena ratings --benchmark vicuna80 --panel majority --method bt   # each judge's table and the panel's\n"
        "  arena ratings --benchmark vicuna80 --method agreement --judge a --judge b --judge c   # + Fleiss' kappa\n"
        "  arena ratings --benchmark vicuna80 --method bt --exclude-self   # without gpt-4's verdicts on gpt-4\n"
        "  arena ratings --benchmark mine --method bias --self-model openai:gpt-4o-2024-08-06=gpt-4o\n"
        "  arena ratings --benchmark mt-bench --method score --format json",
        description="elo: the QLoRA paper's Elo (start 1000, K=32, mean over N random match orders, 95% interval). "
        "bt: Bradley-Terry maximum likelihood on the Elo scale with bootstrap 95% intervals. "
        "relative: the candidate's summed score over the baseline's, per answer order and their mean "
        "(the paper's '% of ChatGPT'). winrate: share of points against --baseline (ties half, soft "
        "verdicts as fractional wins: AlpacaEval's win_rate; discrete_win_rate from the hard verdicts), "
        "with --control length also AlpacaEval 2.0's length-controlled win rate: per-instruction "
        "difficulty fitted on all candidates (shrunk where little informed), then per candidate the "
        "prediction at zero length gap, averaged over instructions, with its standard error; each "
        "candidate's length slope is pooled toward the candidates' common one in proportion to how "
        "little its own judgments inform it (the slopes' spread estimated from the data); "
        "judgments of the baseline's own answers made longer or shorter (models named like "
        "<baseline>_verbose, <baseline>_concise) regularise every candidate's length slope, as in AlpacaEval. "
        "Soft verdicts are fractional wins in bt and elo too. "
        "bias: position bias, order consistency and length preference per judge. "
        "agreement: two judges compared on the same items (two --judge options); with three or more "
        "judges (or --panel), every pair's agreement and the panel's Fleiss' kappa, with and without "
        "ties. A judge whose own model is a contestant (same name, or --self-model) is noted under the "
        "table; bias then adds its self-preference. "
        "robustness: for each adjacent pair of the leaderboard from the top, the fewest judgments whose "
        "removal reverses their order (first-order influence, then proven by refitting without them), "
        "and the fewest that change the top model. "
        "score: single-answer grades (--protocol single), MT-bench style: per model the mean grade over "
        "every graded turn, turn 1 and turn 2 apart, per category, with a bootstrap 95% interval over "
        "questions.",
    )
    _add_results(ratings)
    ratings.add_argument("--benchmark", required=True, help="prompt set name")
    ratings.add_argument(
        "--judge", action="append", help="judge(s) to use (default: all stored, each judge rated on its own)"
    )
    ratings.add_argument(
        "--pool-judges",
        action="store_true",
        help="rate the judgments of every selected judge together as one leaderboard",
    )
    ratings.add_argument(
        "--method",
        choices=["elo", "bt", "relative", "winrate", "bias", "agreement", "robustness", "score"],
        default="elo",
    )
    ratings.add_argument(
        "--rating",
        choices=["bt", "elo"],
        default="bt",
        help="robustness: the leaderboard whose order is tested (default bt; elo replays the paper's "
        "Elo with --orderings and --seed for every refit, so it is slower)",
    )
    ratings.add_argument(
        "--max-share",
        type=_number(0, 1, low_open=True),
        default=0.1,
        metavar="SHARE",
        help="robustness: remove at most this share of the judgments (default 0.1); a pair that "
        "does not flip within it is reported verified: false",
    )
    ratings.add_argument(
        "--panel",
        choices=["majority", "mean"],
        default=None,
        help="rate the selected judges (two or more) as a panel, beside each judge: majority = the "
        "verdict more than half of the votes gave, per question and answer order (else a tie; "
        "items a majority of the panel judged); mean = the mean of single-answer grades",
    )
    ratings.add_argument(
        "--exclude-self", action="store_true", help="leave out the judgments in which a judge judged its own model"
    )
    ratings.add_argument(
        "--self-model",
        action="append",
        metavar="JUDGE=MODEL",
        help="JUDGE's own model is the contestant MODEL (by default a judge's own model is the "
        "contestant of the same name, or of the replayed judge's name)",
    )
    ratings.add_argument(
        "--control",
        default=None,
        metavar="length|style|FEATURES",
        help="bt: style-controlled Bradley-Terry (logit = θ_A − θ_B + Σ β·d, d the normalised "
        "difference of each feature); winrate: 'length' for the length-controlled win rate. "
        "'style' = length, headers, lists, bold; or a comma list of length, headers, lists, "
        "bold, code_blocks. Needs the answers behind the verdicts in the results store",
    )
    ratings.add_argument(
        "--protocol",
        choices=["pairwise", "relative", "single"],
        default=None,
        help="which judgments to rate (default: relative for --method relative, else pairwise)",
    )
    ratings.add_argument("--baseline", default=None, help="baseline model for relative scores / BT anchor")
    ratings.add_argument(
        "--orderings",
        type=_orderings,
        default=DEFAULT_ORDERINGS,
        metavar="N|auto",
        help="Elo: random match orders (default: the paper's 10,000). The interval is the spread of "
        "single-order results (2.5-97.5 percentiles), as in the paper; JSON rows also give the "
        "interval of the mean (mean_ci_low/high) and its Monte Carlo error (mean_se). 'auto' adds "
        "orders until every mean_se is below 0.1 point or 100,000 orders are played (then it says "
        "so, with the precision reached)",
    )
    ratings.add_argument(
        "--bootstrap", type=_integer(1), default=DEFAULT_RESAMPLES, metavar="N", help="BT/relative/score: resamples"
    )
    ratings.add_argument("--seed", type=_integer(0), default=0)
    ratings.add_argument("--by-category", action="store_true", help="relative: add a per-category breakdown")
    ratings.add_argument("--format", choices=["table", "json", "csv"], default="table")
    ratings.set_defaults(handler=_lazy("arena.ratings.commands", "run_ratings"))


# --- models and generation ----------------------------------------------------------------------
def _add_models_file(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--models-file",
        type=Path,
        default=None,
        metavar="TOML",
        help="model definitions ([models.NAME] tables); default: ./arena.toml if present",
    )


def _add_generation_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "generation",
        "Given flags override a model's own settings (e.g. `greedy = true` in its entry), which "
        "override the defaults: the QLoRA paper's nucleus sampling, top_p 0.9, temperature 0.7.",
    )
    group.add_argument(
        "--greedy", action="store_const", const=True, default=None, help="greedy decoding instead of nucleus sampling"
    )
    group.add_argument("--temperature", type=_number(0, 2), default=None, help="default 0.7")
    group.add_argument("--top-p", type=_number(0, 1, low_open=True), default=None, help="default 0.9")
    group.add_argument("--max-new-tokens", type=_integer(1), default=None, help="default 512")
    group.add_argument(
        "--seed",
        type=_integer(0),
        default=0,
        help="random seed: same seed, same answers (and match orders and resamples in ratings)",
    )


def _add_generate(subparsers) -> None:
    generate = _command(
        subparsers,
        "generate",
        "generate answers for a prompt set with a model",
        "  arena generate --model smollm2-135m-q4 --benchmark vicuna80 --limit 5\n"
        "  arena generate --model smollm2-135m-q4 --benchmark sample --greedy --max-new-tokens 128\n"
        "  arena generate --model answers:published/gpt35.jsonl --benchmark vicuna80\n"
        "  arena generate --model openai:gpt-4o-mini --benchmark sample   # OPENAI_API_KEY, OPENAI_BASE_URL",
        description="Answers every prompt (multi-turn prompts turn by turn) and stores them in the results store. "
        "A rerun skips prompts already answered; --overwrite answers them again. Sampling defaults "
        "follow the QLoRA paper (top_p 0.9, temperature 0.7).",
    )
    generate.add_argument("--model", required=True, help="preset, models-file name, or BACKEND:TARGET")
    generate.add_argument("--benchmark", required=True, help="prompt set name or .jsonl/.csv path")
    generate.add_argument("--limit", type=_integer(1), default=None, metavar="N", help="only the first N prompts")
    generate.add_argument("--overwrite", action="store_true", help="answer again prompts already answered")
    _add_generation_options(generate)
    generate.add_argument(
        "--batch-size", type=_integer(1), default=None, help="hf backend: prompts per batch (default 8)"
    )
    _add_models_file(generate)
    _add_results(generate)
    generate.set_defaults(handler=_lazy("arena.generation.commands", "run_generate"))

    models = _command(
        subparsers,
        "models",
        "list the models arena knows and show one's settings",
        "  arena models list\n  arena models show guanaco-7b",
    )
    sub = models.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = _command(
        sub,
        "list",
        "presets, models-file entries and fine-tuned models",
        "  arena models list\n  arena models list --models-file my-models.toml\n  arena models list --format json",
    )
    _add_models_file(listing)
    _add_list_format(listing)
    listing.set_defaults(handler=_lazy("arena.generation.commands", "run_models"))
    show = _command(
        sub,
        "show",
        "one model's backend and options",
        "  arena models show guanaco-7b\n  arena models show smollm2-nf4",
    )
    show.add_argument("name")
    _add_models_file(show)
    show.set_defaults(handler=_lazy("arena.generation.commands", "run_models"))


# --- evaluate and tournament --------------------------------------------------------------------
def _add_judging_options(
    parser: argparse.ArgumentParser, judge_default: str, protocol_choices, protocol_default, judge_more: str = ""
) -> None:
    group = parser.add_argument_group("judging")
    group.add_argument(
        "--judge",
        action="append",
        default=None,
        help=f"judge model (default: {judge_default}){judge_more}. Repeat for a panel: each judge "
        "judges every matchup (any mix, also 'human' for the votes of arena rate), then the "
        "panel's majority verdicts are rated beside each judge's",
    )
    parser.set_defaults(default_judge=judge_default)
    group.add_argument(
        "--judge-base-url",
        default=None,
        metavar="URL",
        help="send the judge's calls to this OpenAI-compatible endpoint (vLLM, llama.cpp, Azure...)",
    )
    group.add_argument("--protocol", choices=protocol_choices, default=protocol_default)
    group.add_argument(
        "--judge-template",
        type=Path,
        default=None,
        metavar="JSONL",
        help="FastChat/QLoRA review-prompt file, or FastChat llm_judge's judge_prompts.jsonl (pair-v2 / "
        "single-v1 and their math and multi-turn variants, used per turn), instead of arena's "
        "own templates",
    )
    group.add_argument(
        "--judge-reviewers",
        type=Path,
        default=None,
        metavar="JSONL",
        help="FastChat reviewer file mapping categories (general/coding/math) to prompt ids",
    )
    group.add_argument("--retry-errors", action="store_true", help="judge again the judgments stored as errors")
    group.add_argument(
        "--max-cost",
        type=_number(0, low_open=True),
        default=None,
        metavar="USD",
        help="one cap for the whole command (judging, and answers from paid endpoints): calls wait "
        "for money held by calls in flight and the run stops before spending could pass it; "
        "exit 3 when it stopped the run. Models without a known price need price_in/price_out",
    )
    group.add_argument(
        "--dry-run",
        action="store_true",
        help="make no call and load no model: print the calls generation and judging need and their "
        "estimated cost, directly and through the Batch API",
    )
    group.add_argument(
        "--batch",
        action="store_true",
        help="send the judge's calls through the OpenAI Batch API at the judge's batch_discount (default "
        "0.5x price; results within 24 h). Submitted batches are recorded in RESULTS/SET/batches/: "
        "after Ctrl-C or a crash, rerun the same command to collect them (never paid twice). "
        "With --schedule adaptive each round is one batch",
    )
    group.add_argument("--limit", type=_integer(1), default=None, metavar="N", help="only the first N prompts")
    group.add_argument("--orderings", type=_integer(1), default=DEFAULT_ORDERINGS, help="Elo: random match orders")
    group.add_argument(
        "--bootstrap", type=_integer(1), default=DEFAULT_RESAMPLES, help="bootstrap resamples for intervals"
    )


def _add_pipelines(subparsers) -> None:
    from arena.models.demo import DEMO_MODELS  # constants only: `arena --help` stays fast

    evaluate = _command(
        subparsers,
        "evaluate",
        "judge candidates against a baseline in both orders; score as a percentage of the baseline",
        "  arena evaluate --model smollm2-greedy --benchmark sample --baseline smollm2-sampled --judge smollm2-135m-q4\n"
        "  arena evaluate --model guanaco-7b --benchmark vicuna80 --baseline chatgpt --judge gpt-4 --max-cost 5\n"
        "  arena evaluate --model guanaco-7b --benchmark vicuna80 --baseline chatgpt --judge gpt-4 --dry-run --batch\n"
        "  arena evaluate --model guanaco-7b --benchmark vicuna80 --baseline chatgpt --judge gpt-4 --batch --max-cost 5\n"
        "  arena evaluate --model my-model --benchmark vicuna80 --baseline answers:gpt35.jsonl \\\n"
        "      --judge openai:my-judge --judge-base-url http://127.0.0.1:8000/v1 --protocol both\n"
        "  arena evaluate --model guanaco-7b --benchmark vicuna80 --baseline chatgpt --protocol pairwise \\\n"
        "      --judge gpt-4 --judge chatgpt --judge human --max-cost 10   # a panel: each judge, then the majority\n"
        "  arena evaluate --model answers:model_answer/vicuna-13b.jsonl --benchmark mt-bench --protocol single \\\n"
        "      --judge gpt-4 --judge-template ../shared/judge-templates/fastchat-llm-judge/judge_prompts.jsonl\n"
        "  arena evaluate --model vicuna-13b --benchmark mt-bench --protocol single --judge replay:published:gpt-4",
        description="Generates the answers that are missing (candidates and baseline), has the judge compare each "
        "candidate with the baseline in both answer orders, and prints the score relative to the "
        "baseline (the QLoRA paper's '% of ChatGPT') with a 95% interval, and win/tie/loss. "
        "--protocol single grades each turn of each candidate's answers from 1 to 10 instead (MT-bench; "
        "no baseline): turn 1 alone, later turns with the conversation shown, math, reasoning and coding "
        "questions against the set's reference answers; it prints the MT-bench score table "
        "(`arena ratings --method score`). --judge replay:RESULTS_DIR[:JUDGE] copies grades recorded "
        "there instead of asking a judge.",
    )
    evaluate.add_argument("--model", action="append", required=True, help="candidate model (repeatable)")
    evaluate.add_argument("--benchmark", required=True, help="prompt set name or .jsonl/.csv path")
    evaluate.add_argument(
        "--baseline", default="chatgpt", help="baseline model (default: chatgpt; not used by --protocol single)"
    )
    _add_judging_options(evaluate, "gpt-4", ["relative", "pairwise", "both", "single"], "relative")
    _add_generation_options(evaluate)
    _add_models_file(evaluate)
    _add_results(evaluate)
    evaluate.set_defaults(handler=_lazy("arena.pipelines", "run_evaluate"))

    tournament = _command(
        subparsers,
        "tournament",
        "all-pairs tournament judged in both orders; Elo and Bradley-Terry leaderboard",
        "  arena tournament                       # offline demo: SmolLM2 4-bit configurations on `sample`\n"
        "  arena tournament --models guanaco-7b guanaco-13b chatgpt --benchmark vicuna80 --judge gpt-4\n"
        "  arena tournament --models a b c d --benchmark oa953 --budget 2000 --max-cost 20\n"
        "  arena tournament --models a b c d --benchmark oa953 --budget 8000 --schedule adaptive --batch\n"
        "  arena tournament --benchmark vicuna80 --judge replay:results:gpt-4 --budget 1000 --schedule adaptive "
        "--format json"
        "\n  arena tournament --benchmark vicuna80 --judge replay:a:gpt-4 --judge replay:b:claude --judge replay:c:human"
        "   # a panel of recorded judges",
        description="Every pair of models on every question, in both answer orders (each order is a match, as in "
        "the QLoRA paper), or a random --budget of matchups; then the paper's Elo and Bradley-Terry "
        "leaderboards. With no arguments: an offline demo on the sample set among SmolLM2-135M 4-bit "
        "configurations, judged by the same small model as a clearly labelled demo judge.",
    )
    tournament.add_argument(
        "--models",
        nargs="+",
        default=None,
        metavar="MODEL",
        help=f"models to play (default demo: {' '.join(DEMO_MODELS)})",
    )
    tournament.add_argument("--benchmark", default="sample", help="prompt set (default: sample)")
    tournament.add_argument(
        "--budget",
        type=_integer(1),
        default=None,
        metavar="N",
        help="judge calls in all (stored ones count): a random sample of N matchups, or what "
        "the adaptive schedule picks",
    )
    tournament.add_argument(
        "--schedule",
        choices=["random", "adaptive"],
        default="random",
        help="random: N matchups drawn at random (the default). adaptive: rounds of the judge's "
        "concurrency, each refitting Bradley-Terry and judging (both orders of a question) "
        "the pairs whose order is least settled (arena/judging/schedule.py says how)",
    )
    tournament.add_argument(
        "--until-separated",
        action="store_true",
        help="adaptive: stop once every pair of neighbouring models is separated at --confidence",
    )
    tournament.add_argument(
        "--confidence",
        type=_number(0, 1, low_open=True, high_open=True),
        default=0.95,
        help="adaptive: confidence for --until-separated and the unresolved pairs (default 0.95)",
    )
    tournament.add_argument(
        "--round-size",
        type=_integer(2),
        default=None,
        metavar="CALLS",
        help="adaptive: judge calls per round (default 16, a judge's usual concurrency; with --batch, "
        "a tenth of --budget: each round is one batch)",
    )
    tournament.add_argument(
        "--format",
        choices=["table", "json"],
        default="table",
        help="json: {elo, bradley_terry, judge_calls, schedule, unresolved_pairs} on stdout",
    )
    _add_judging_options(
        tournament,
        "smollm2-135m-q4",
        ["pairwise", "relative"],
        "pairwise",
        "; or replay:RESULTS_DIR[:JUDGE] to replay recorded verdicts (no answers, no cost)",
    )
    _add_generation_options(tournament)
    _add_models_file(tournament)
    _add_results(tournament)
    tournament.set_defaults(handler=_lazy("arena.pipelines", "run_tournament"))


# --- fine-tuning --------------------------------------------------------------------------------
def _add_finetune(subparsers) -> None:
    finetune = _command(
        subparsers,
        "finetune",
        "QLoRA fine-tuning stage that makes new tournament candidates",
        "  arena finetune --base smollm2-135m-q4 --data sample --name smol-guanaco --preset cpu-smoke\n"
        "  arena tournament --models smollm2-greedy smol-guanaco\n"
        "  arena finetune --base guanaco-7b --data timdettmers/openassistant-guanaco --name my-7b   # GPU, online",
        description="Loads the base in 4-bit NF4 with double quantization, trains LoRA adapters on all linear "
        "layers with the QLoRA paper's recipe (preset guanaco: r 64, alpha 16, dropout 0.1, paged "
        "AdamW, constant lr 2e-4 after 3% warm-up, max grad norm 0.3, batch 16, 512+512 tokens, loss on "
        "assistant tokens only), evaluates on a held-out split, checkpoints, and registers NAME as a "
        "model for generate / evaluate / tournament. --data: a .jsonl with `text` (### Human: ... "
        "### Assistant: ...) or `messages`, 'sample' for the shipped sample, or a Hugging Face dataset.",
    )
    finetune.add_argument("--base", required=True, help="base model (preset, models-file name or BACKEND:TARGET)")
    finetune.add_argument("--data", required=True, help="training .jsonl, 'sample', or a hub dataset name")
    finetune.add_argument("--name", required=True, help="name of the new model")
    finetune.add_argument("--preset", choices=["guanaco", "cpu-smoke"], default="guanaco")
    length = finetune.add_mutually_exclusive_group()
    length.add_argument("--max-steps", type=_integer(1), default=None, metavar="N")
    length.add_argument("--epochs", type=_number(0, low_open=True), default=None, metavar="E")
    finetune.add_argument(
        "--out", type=Path, default=None, metavar="DIR", help="output folder (default: adapters/NAME)"
    )
    finetune.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    finetune.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    finetune.add_argument("--merge", action="store_true", help="also write the adapter merged into an unquantized base")
    recipe = finetune.add_argument_group("recipe overrides")
    recipe.add_argument("--lora-r", type=_integer(1))
    recipe.add_argument("--lora-alpha", type=_integer(1))
    recipe.add_argument("--lora-dropout", type=_number(0, 1, high_open=True))
    recipe.add_argument("--target-modules", help="'all-linear' or comma-separated module names")
    recipe.add_argument("--learning-rate", type=_number(0, low_open=True))
    recipe.add_argument("--batch-size", type=_integer(1))
    recipe.add_argument("--micro-batch-size", type=_integer(1))
    recipe.add_argument("--source-max-len", type=_integer(1))
    recipe.add_argument("--target-max-len", type=_integer(1))
    recipe.add_argument("--quantization", choices=["4bit", "8bit", "none"])
    recipe.add_argument("--seed", type=_integer(0))
    recipe.add_argument("--save-every", type=_integer(1), metavar="STEPS", help="checkpoint interval")
    recipe.add_argument("--eval-every", type=_integer(1), metavar="STEPS", help="held-out evaluation interval")
    _add_models_file(finetune)
    _add_results(finetune)  # where the run's manifest goes (runs/)
    finetune.set_defaults(handler=_lazy("arena.finetune.commands", "run_finetune"))


# --- report --------------------------------------------------------------------------------------
def _add_report(subparsers) -> None:
    report = _command(
        subparsers,
        "report",
        "self-contained HTML leaderboard with charts and a battle browser",
        "  arena report --benchmark sample\n"
        "  arena report --benchmark vicuna80 --judge gpt-4 --judge human --out reports/vicuna/",
        description="Writes OUT/index.html (scripts, styles and charts inline: it opens from a file with no network) "
        "and the charts as SVG beside it: Elo and Bradley-Terry tables with 95% intervals, score as a "
        "percentage of the baseline when relative judgments exist, win-rate heatmap, per-category (or "
        "per-language) breakdown, judge position bias, judge-vs-human agreement, a battle browser, and "
        "run metadata. Prints the page's path.",
    )
    _add_results(report)
    report.add_argument("--benchmark", required=True)
    report.add_argument("--judge", action="append", help="judges to include (default: all)")
    report.add_argument(
        "--baseline",
        default=None,
        help="baseline of relative scores (default: the one the judgments name, e.g. evaluate's "
        "--baseline; required when they name none)",
    )
    report.add_argument("--out", type=Path, default=None, metavar="DIR", help="default: reports/BENCHMARK/")
    report.add_argument("--orderings", type=_integer(1), default=DEFAULT_ORDERINGS)
    report.add_argument("--bootstrap", type=_integer(1), default=DEFAULT_RESAMPLES)
    report.add_argument("--seed", type=_integer(0), default=0)
    report.set_defaults(handler=_lazy("arena.report.commands", "run_report"))


# --- human rating --------------------------------------------------------------------------------
def _add_db(parser: argparse.ArgumentParser) -> None:
    _add_results(parser)
    parser.add_argument(
        "--db",
        default=None,
        metavar="URL",
        help="SQLAlchemy URL of the votes database (default: sqlite in the results directory; "
        "e.g. postgresql://user@host/arena to share it between servers)",
    )


def _add_rate(subparsers) -> None:
    rate = _command(
        subparsers,
        "rate",
        "web form for blind human pairwise rating",
        "  arena rate add-rater alice                 # prints alice's personal link\n"
        "  arena rate serve --benchmark sample --models smollm2-greedy smollm2-sampled smollm2-nf4\n"
        "  arena rate raters\n"
        "  arena rate export --format csv > votes.csv\n"
        "  arena ratings --benchmark sample --judge human   # votes are judgments by `human`",
    )
    sub = rate.add_subparsers(dest="action", required=True, metavar="ACTION")
    serve = _command(
        sub,
        "serve",
        "run the rating web app",
        "  arena rate serve --benchmark sample --models smollm2-greedy smollm2-sampled smollm2-nf4\n"
        "  arena rate serve --benchmark vicuna80 --models guanaco-7b gpt-3.5 --per-rater 40 --port 8080\n"
        "  # two servers on one PostgreSQL database, behind a proxy that serves them under /rate:\n"
        "  arena rate serve --benchmark sample --models a b --db postgresql://arena:pw@db/arena "
        "--port 8001 --root-path /rate --forwarded-allow-ips 127.0.0.1\n"
        "  arena rate serve --benchmark sample --models a b --db postgresql://arena:pw@db/arena "
        "--port 8002 --root-path /rate --forwarded-allow-ips 127.0.0.1",
        description="Blind pairwise rating of answers already in the results store: each rater sees the "
        "question and two anonymised answers in random left/right order and picks left, "
        "right, tie or both bad. Votes are committed before the page says saved and appear "
        "to `arena ratings` as judge `human`. Several servers may share one --db "
        "(PostgreSQL) and one --results folder.",
    )
    serve.add_argument("--benchmark", required=True)
    serve.add_argument("--models", nargs="+", required=True, metavar="MODEL")
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: loopback only)")
    serve.add_argument("--port", type=_integer(1, 65535), default=8000)
    serve.add_argument(
        "--per-rater", type=_integer(1), default=None, metavar="N", help="items asked of each rater (default: all)"
    )
    serve.add_argument(
        "--votes-per-minute", type=_number(0, low_open=True), default=120.0, help="rate limit per rater link"
    )
    serve.add_argument(
        "--burst", type=_integer(1), default=20, help="votes a link may send at once before the limit applies"
    )
    serve.add_argument(
        "--root-path",
        default="",
        metavar="PATH",
        help="sub-path a reverse proxy serves the form under, stripped by the proxy before it "
        "forwards (e.g. /rate; default: none)",
    )
    serve.add_argument(
        "--forwarded-allow-ips",
        default="",
        metavar="IPS",
        help="proxy addresses or networks whose X-Forwarded-Proto and -Host headers are believed "
        "(comma-separated, e.g. 127.0.0.1,10.0.0.0/8; '*' for any; default: none)",
    )
    serve.add_argument(
        "--mirror-every",
        type=_number(0, low_open=True),
        default=10.0,
        metavar="SECONDS",
        help="how often to mirror votes another server committed but was stopped before mirroring (default 10)",
    )
    _add_db(serve)
    add = _command(
        sub,
        "add-rater",
        "create a rater and print their personal link (a 256-bit random token)",
        "  arena rate add-rater alice\n  arena rate add-rater bob --base-url https://rate.example.org",
    )
    add.add_argument("name")
    add.add_argument("--base-url", default="http://127.0.0.1:8000", help="where the form is served")
    _add_db(add)
    revoke = _command(sub, "revoke", "disable a rater's link", "  arena rate revoke alice")
    revoke.add_argument("name")
    _add_db(revoke)
    raters = _command(
        sub,
        "raters",
        "list raters and how many votes each has given",
        "  arena rate raters\n  arena rate raters --format json",
    )
    _add_db(raters)
    _add_list_format(raters)
    export = _command(
        sub,
        "export",
        "all votes as JSONL or CSV on standard output",
        "  arena rate export --format csv > votes.csv\n  arena rate export --benchmark sample > votes.jsonl",
    )
    export.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    export.add_argument("--benchmark", default=None)
    _add_db(export)
    for parser in (serve, add, revoke, raters, export):
        parser.set_defaults(handler=_lazy("arena.web.commands", "run_rate"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="arena", description=OVERVIEW, formatter_class=_Formatter)
    parser.add_argument("--version", action="version", version=f"arena {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_prompts(subparsers)
    _add_generate(subparsers)
    _add_pipelines(subparsers)
    _add_ratings(subparsers)
    _add_import_export(subparsers)
    _add_finetune(subparsers)
    _add_report(subparsers)
    _add_rate(subparsers)
    _give_every_option_a_help_line(parser)
    return parser


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
