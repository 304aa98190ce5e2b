"""`arena report`: one self-contained HTML page (scripts, styles and charts inline; it opens from a file with
no network) plus the charts as SVG files beside it.

The battle browser's data (questions, answers pre-rendered as safe markdown, every judge's verdict) travels
gzip-compressed inside the page and is rendered a page at a time, so ~50,000 judgments stay light."""

from __future__ import annotations

import base64
import functools
import gzip
import json
import secrets
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from arena.console import info, warn
from arena.errors import AnswersMissing, ArenaError, NothingToRate
from arena.prompts.registry import find_prompt_set
from arena.ratings import judge_panel, leaderboard
from arena.ratings.bradley_terry_fit import predicted_win_matrix
from arena.ratings.diagnostics import judge_agreement, judge_bias
from arena.ratings.matches import OUTCOME, build_matches, win_rate_matrix
from arena.ratings.relative import BaselineNotCovered
from arena.report import charts
from arena.report.options import ReportOptions
from arena.report.page import PageContent, render_page
from arena.report.safe_markdown import render_markdown
from arena.report.scores import mt_bench_sections
from arena.store import ResultsStore
from arena.store.atomic import write_atomically
from arena.store.records import HUMAN_JUDGE, Judgment, utc_now
from arena.store.results import file_safe

if TYPE_CHECKING:
    from arena.store.columns import JudgmentColumns


def _category_key(prompt_set):
    """Vicuna-style sets break down by category; single-category sets such as oa953 by language."""
    if prompt_set is None:
        return lambda qid: "all"
    by_id = prompt_set.by_id
    if len(prompt_set.categories) > 1:
        return lambda qid: by_id[qid].category if qid in by_id else "unknown"
    return lambda qid: (by_id[qid].language or "unknown") if qid in by_id else "unknown"


def _breakdown(judgments: list[Judgment], key) -> tuple[list[str], list[str], list[list[float]]]:
    """Share of points per model (rows) in each category or language (columns)."""
    points: defaultdict[tuple[str, str], float] = defaultdict(float)
    played: defaultdict[tuple[str, str], int] = defaultdict(int)
    for j in judgments:
        if j.verdict not in ("A", "B", "tie"):
            continue
        group = key(j.question_id)
        score_a = OUTCOME[j.verdict]
        for model, score in ((j.model_a, score_a), (j.model_b, 1 - score_a)):
            points[(model, group)] += score
            played[(model, group)] += 1
    models = sorted({m for m, _ in played})
    groups = sorted({g for _, g in played})
    values = [[points[(m, g)] / played[(m, g)] if played[(m, g)] else float("nan") for g in groups] for m in models]
    return models, groups, values


def _relative_baseline(judge: str, judgments: list[Judgment], requested: str | None) -> str | None:
    """The model the relative scores are a percentage of: --baseline, else the reference the judgments name
    (evaluate's baseline, the QLoRA paper's ChatGPT), else the one model every relative pair holds. Never a
    guess: with one candidate and no named reference either side could be the baseline, so --baseline it is."""
    if requested or not judgments:
        return requested
    common = set.intersection(*({j.model_a, j.model_b} for j in judgments))
    named = {j.meta.get("baseline") for j in judgments} - {None}
    if len(named) == 1 and named <= common:
        return named.pop()
    if len(common) == 1:
        return common.pop()
    models = sorted({m for j in judgments for m in (j.model_a, j.model_b)})
    raise ArenaError(
        f"the relative judgments of judge '{judge}' do not say which model is the baseline (they "
        f"compare {', '.join(models)}): pass --baseline MODEL"
    )


def _judge_section(
    judge: str,
    judgments: list[Judgment],
    prompt_set,
    store: ResultsStore,
    options: ReportOptions,
    figures: dict,
    columns: Callable[[], JudgmentColumns] | None,
) -> dict:
    """One judge's tables and charts. `columns`: the store's columns (read on first call), where this judge's
    judgments are the stored ones; None for a panel, whose majority verdicts exist only as objects."""
    label = next((j.meta.get("judge_label") for j in judgments if j.meta.get("judge_label")), "")
    if any(j.meta.get("demo_judge") for j in judgments):
        label = "DEMO judge: a tiny model, not a real verdict" + (f"; {label}" if label else "")
    self_note = judge_panel.self_judging_label(judge, judgments)
    label = "; ".join(part for part in (label, self_note) if part)
    section: dict[str, Any] = {"judge": judge, "label": label}  # tables (lists of rows) join the two names
    pairwise = [j for j in judgments if j.protocol == "pairwise"]
    relative = [j for j in judgments if j.protocol == "relative"]
    slug = file_safe(judge)
    if pairwise and any(j.verdict != "error" for j in pairwise):
        section["elo"] = leaderboard.elo_leaderboard(pairwise, options.orderings, options.seed)
        section["bt"] = leaderboard.bt_leaderboard(pairwise, options.bootstrap, options.seed)
        figures[f"elo-{slug}.svg"] = charts.interval_chart(
            section["elo"], f"Elo (paper method) · judge {judge}", "Elo", 1000
        )
        figures[f"bt-{slug}.svg"] = charts.interval_chart(
            section["bt"], f"Bradley-Terry · judge {judge}", "rating", 1000
        )
        matches = build_matches(pairwise)
        _held_by(section["bt"], matches)
        order = [r["model"] for r in section["bt"]]
        observed = win_rate_matrix(matches)
        index = [matches.models.index(m) for m in order]
        figures[f"winrate-{slug}.svg"] = charts.heatmap(
            order,
            order,
            observed[np.ix_(index, index)],
            f"Observed win rate (row vs column) · judge {judge}",
            "ties count half; both answer orders pooled; – = never met",
        )
        predicted = predicted_win_matrix(
            np.array([np.nan if r["rating"] is None else r["rating"] for r in section["bt"]])
        )
        np.fill_diagonal(predicted, np.nan)
        figures[f"predicted-{slug}.svg"] = charts.heatmap(
            order,
            order,
            predicted,
            f"Predicted win probability (Bradley-Terry) · judge {judge}",
            "P(row beats column) from the Bradley-Terry ratings",
        )
        models, groups, values = _breakdown(pairwise, _category_key(prompt_set))
        if len(groups) > 1:
            figures[f"categories-{slug}.svg"] = charts.heatmap(
                models,
                groups,
                values,
                f"Share of points by category · judge {judge}",
                "share of points in that category's matches",
            )
    _style_section(section, pairwise, store, options, figures, slug, judge, columns)
    baseline = _relative_baseline(judge, relative, options.baseline)
    if relative and baseline:
        try:
            section["relative"] = leaderboard.relative_leaderboard(relative, baseline, options.bootstrap, options.seed)
            section["baseline"] = baseline
            figures[f"relative-{slug}.svg"] = charts.interval_chart(
                section["relative"], f"Score as % of {baseline} · judge {judge}", "%", 100
            )
        except BaselineNotCovered as missing:  # the other judges' sections still show it
            section["uncovered"] = missing.present
        except NothingToRate:
            pass  # every relative verdict unreadable: the report shows the rest
    return section


def _note_uncovered_baseline(sections: list[dict], judges: list[str], baseline: str | None) -> None:
    """--baseline that some judges never judged: their relative table is left out, with a note naming them;
    an error when no judge's relative judgments hold it."""
    uncovered = {judge: s.pop("uncovered") for judge, s in zip(judges, sections) if "uncovered" in s}
    if not uncovered:
        return
    covers = "; ".join(f"judge {judge} covers {', '.join(models)}" for judge, models in uncovered.items())
    if not any("relative" in s for s in sections):
        raise ArenaError(f"unknown baseline '{baseline}': no judge's relative judgments hold it ({covers})")
    info(
        f"note: no relative scores for judge {', '.join(uncovered)}: no judgment with baseline '{baseline}' ({covers})"
    )


def _held_by(rows: list[dict], matches) -> None:
    """Each Bradley-Terry place gets "held by N judgments": the fewest whose removal lets the model
    ranked next below overtake it."""
    from arena.ratings.robustness_command import held_by

    texts = held_by(matches)
    for row in rows:
        row["held_by"] = texts.get(row["model"], "")


def _style_section(
    section: dict,
    pairwise: list[Judgment],
    store: ResultsStore,
    options: ReportOptions,
    figures: dict,
    slug: str,
    judge: str,
    columns: Callable[[], JudgmentColumns] | None,
) -> None:
    """Style-controlled ratings, the judge's style coefficients and its taste for length, when the answers
    behind its verdicts are stored (else the report simply has no style section for this judge). The matches
    come from the store's columns when there are any (see _judge_section), as `arena ratings` reads them."""
    from arena.ratings.style.data import styled_matches, styled_matches_from_columns
    from arena.ratings.style.features import CONTROLS
    from arena.ratings.style.fit import length_bias, style_warning

    if "bt" not in section:
        return
    names = CONTROLS["style"]
    try:
        if columns is None:
            matches, features = styled_matches(store, options.benchmark, pairwise, names)
        else:
            matches, features = styled_matches_from_columns(
                store, options.benchmark, columns(), "pairwise", [judge], names
            )
    except AnswersMissing:
        return
    rows, coefficients, fit = leaderboard.controlled_bt_rows(matches, features, names, options.bootstrap, options.seed)
    section["bt_controlled"] = rows
    section["coefficients"] = [{**c, "note": c["note"] or ""} for c in coefficients]  # a blank cell, not n/a
    message = style_warning(fit, judge)
    if message:  # on the page beside the tables, and on the terminal
        section["style_warning"] = {"text": message, "alarming": fit.alarming}
        if fit.alarming:
            warn(message)
        else:
            info(f"note: {message}")
    bias = length_bias(judge, matches, features[:, names.index("length")], min(options.bootstrap, 200), options.seed)
    section["length_bias"] = asdict(bias)
    figures[f"style-{slug}.svg"] = charts.shift_chart(
        [(r["model"], r["rating_uncontrolled"], r["rating"]) for r in rows if r["rating"] is not None],
        f"Raw → style-controlled Bradley-Terry · judge {judge}",
        "grey: raw rating; arrow head: controlled for length, headers, lists and bold",
    )


def _run_metadata(store: ResultsStore, benchmark: str, prompt_set, judgments: list[Judgment]) -> dict:
    models, packages, dates = {}, {}, []
    runs = sorted((store.root / "runs").glob("*.json")) if (store.root / "runs").is_dir() else []
    for path in runs:
        try:
            manifest = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        config = manifest.get("config", {})
        if manifest.get("command") == "generate" and config.get("benchmark") == benchmark:
            facts = manifest.get("model_facts") or config.get("model_facts", {})
            model = config.get("model")
            name = model.get("name") if isinstance(model, dict) else model
            models[name] = {
                k: facts.get(k)
                for k in ("backend", "path", "quantization", "adapter", "gguf_file", "prompt_format")
                if facts.get(k)
            }
            dates.append(manifest.get("started"))
        packages.update(manifest.get("packages", {}))
    templates = sorted({(j.judge, j.meta.get("template") or j.source or "", j.template_hash or "") for j in judgments})
    return {
        "models": models,
        "templates": templates,
        "packages": packages,
        "prompt_set": {
            "name": benchmark,
            "prompts": len(prompt_set) if prompt_set else None,
            "sha256": prompt_set.sha256 if prompt_set else None,
            "source": prompt_set.source if prompt_set else "not available locally",
        },
        "generated_from": min(d for d in dates if d) if any(dates) else None,
        # an old store's human votes read "YYYY-MM-DD HH:MM:SS" where every other record has a "T"
        "judgments_dated": [min(stamps := [j.created.replace(" ", "T", 1) for j in judgments]), max(stamps)],
        "report_written": utc_now(),
    }


def _battles_payload(store: ResultsStore, benchmark: str, judgments: list[Judgment], prompt_set) -> str:
    """gzip + base64 JSON: questions, each answer once (as safe HTML), battles referencing them by index."""
    models = sorted({j.model_a for j in judgments} | {j.model_b for j in judgments})
    judges = sorted({j.judge for j in judgments})
    answers_by_model = {m: store.answers(benchmark, m) for m in models}
    key = _category_key(prompt_set)
    answer_index: dict[tuple[str, str], int] = {}
    answer_html: list[str] = []

    def answer_ref(model: str, qid: str) -> int:
        if (model, qid) not in answer_index:
            answer = answers_by_model[model].get(qid)
            answer_index[(model, qid)] = len(answer_html)
            answer_html.append(render_markdown(answer.text) if answer else "<p><em>answer not stored</em></p>")
        return answer_index[(model, qid)]

    questions = {}
    grouped: dict[tuple[str, str, str], list] = defaultdict(list)
    for j in judgments:
        grouped[(j.question_id, j.model_a, j.model_b)].append(
            [judges.index(j.judge), j.protocol[0], j.verdict, j.explanation or j.raw or "", j.score_a, j.score_b]
        )
    battles = []
    for (qid, a, b), verdicts in sorted(grouped.items()):
        if qid not in questions:
            prompt = prompt_set.by_id.get(qid) if prompt_set else None
            questions[qid] = {
                "c": key(qid),
                "t": [[m.role, m.content] for m in prompt.turns]
                if prompt
                else [["user", f"(question {qid}: prompt set not available locally)"]],
            }
        battles.append([qid, models.index(a), models.index(b), answer_ref(a, qid), answer_ref(b, qid), verdicts])
    data = {"models": models, "judges": judges, "questions": questions, "answers": answer_html, "battles": battles}
    raw = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return base64.b64encode(gzip.compress(raw, compresslevel=6)).decode()


def build_report(store: ResultsStore, options: ReportOptions) -> Path:
    benchmark, judges, out_dir = options.benchmark, options.judges, options.out_dir
    judgments = store.judgments(benchmark)
    if judges:
        present = sorted({j.judge for j in judgments})
        missing = [judge for judge in judges if judge not in present]
        if missing:  # a mistyped judge would otherwise just be left out of the page, unnoticed
            raise ArenaError(
                f"no judgments by {', '.join(missing)} for prompt set '{benchmark}' in {store.root}; "
                f"judges with judgments there: {', '.join(present) or 'none'}"
            )
        judgments = [j for j in judgments if j.judge in judges]
    single = [j for j in judgments if j.protocol == "single"]
    judgments = [j for j in judgments if j.protocol in ("pairwise", "relative")]
    if not judgments and not single:
        raise ArenaError(
            f"no pairwise or relative judgments (nor single-answer grades) for prompt set '{benchmark}'"
            f"{' by ' + ', '.join(judges) if judges else ''} in {store.root}"
        )
    if out_dir.exists() and not out_dir.is_dir():
        raise ArenaError(f"{out_dir}: exists and is not a folder; --out names the folder the report is written to")
    prompt_set = find_prompt_set(benchmark)
    judgments = leaderboard.with_categories(judgments, prompt_set)
    figures: dict[str, str] = {}
    mt_bench = mt_bench_sections(single, prompt_set, options.bootstrap, options.seed, figures)
    by_judge: dict[str, list[Judgment]] = defaultdict(list)
    for j in judgments:
        by_judge[j.judge].append(j)
    columns = functools.cache(lambda: store.judgment_columns(benchmark))  # read once, if a style section asks
    sections = [
        _judge_section(judge, items, prompt_set, store, options, figures, columns)
        for judge, items in sorted(by_judge.items())
    ]
    _note_uncovered_baseline(sections, sorted(by_judge), options.baseline)
    panel = judge_panel.report_panel(judgments)  # every judge's leaderboard beside the panel's
    if panel:
        section = _judge_section(panel[0], panel[1], prompt_set, store, options, figures, None)
        sections.append({**section, "label": panel[2]})

    bias = judge_bias([j for j in judgments if j.protocol == "pairwise"])
    if bias:
        figures["position-bias.svg"] = charts.share_bars(
            [(b.judge, b.first_win_share, b.ci_low, b.ci_high) for b in bias],
            "Judge position bias: share of decided matches won by the answer shown first",
            "0.5 = no position bias; bars are 95% Wilson intervals",
        )
    agreements = []
    if HUMAN_JUDGE in by_judge:
        human = [j for j in by_judge[HUMAN_JUDGE] if j.protocol == "pairwise"]
        for section in sections:
            other = section["judge"]
            if other != HUMAN_JUDGE and "bt" in section and human:
                machine = [j for j in by_judge[other] if j.protocol == "pairwise"]
                human_section = next(s for s in sections if s["judge"] == HUMAN_JUDGE)
                ratings = [{r["model"]: r["rating"] for r in s.get("bt", [])} for s in (section, human_section)]
                agreements.append(asdict(judge_agreement(machine, human, *ratings)))

    metadata = _run_metadata(store, benchmark, prompt_set, judgments + single)
    nonce = secrets.token_urlsafe(16)
    content = PageContent(
        benchmark=benchmark,
        sections=sections,
        bias=[asdict(b) for b in bias],
        agreements=agreements,
        figures=figures,
        metadata=metadata,
        battles=_battles_payload(store, benchmark, judgments, prompt_set),
        nonce=nonce,
        counts={"judgments": len(judgments), "judges": len(by_judge)},
        mt_bench=mt_bench,
    )
    html = render_page(content)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, svg in figures.items():
        (out_dir / name).write_text(svg, encoding="utf-8")
    path = out_dir / "index.html"
    write_atomically(path, html)
    return path
