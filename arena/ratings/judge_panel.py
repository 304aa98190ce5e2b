"""Judge panels and self-preference on stored judgments: turns Judgment records into the arrays that
`arena.ratings.panel` works on, and its results back into records and rows.

A panel's verdicts become judgments of a judge of their own (`panel-majority`, `panel-mean`), in exactly the
shape one judge's are, so every rating method (Elo, Bradley-Terry, win rate, the MT-bench score) rates a panel
the way it rates a judge.

Items. Pairwise (and relative) verdicts are matched on (question, model shown first, model shown second, turn):
each answer order is its own item, as each order is its own match. Single grades are matched on (question,
model, turn). The turn is the judgment's own (`_turn`); only MT-bench's per-turn judging has a turn 2.

Which model is a judge's own. A judge judges its own model when
  1. `--self-model JUDGE=MODEL` says so (a judge named otherwise, e.g. `openai:gpt-4o-2024-08-06` judging the
     contestant `gpt-4o`), or else
  2. the judge's name is a contestant's name (judge `gpt-4` on answers by `gpt-4`, as in the QLoRA paper's
     and FastChat's published judgments), or else
  3. the judge replays another judge (`replay-gpt-4`) whose name is a contestant's name.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, replace
from typing import Any

import numpy as np

from arena.errors import ArenaError
from arena.ratings import panel
from arena.ratings.matches import OUTCOME, build_matches, outcome_of, win_rate_matrix
from arena.store.records import Judgment

PANEL_PREFIX = "panel-"
PANEL_RULES = {"majority": ("pairwise", "relative"), "mean": ("single",)}
_CODE = {verdict: code for code, verdict in enumerate(panel.CLASSES)}
_REPLAY_PREFIX = "replay-"


def _turn(j: Judgment) -> int:
    """The turn judged: the record's own `turn` where the store has that field (single grading and per-turn
    pairwise judging set it), else `meta["turn"]` (FastChat imports), else 1."""
    return getattr(j, "turn", None) or int(j.meta.get("turn", 1))


def _pair_key(j: Judgment) -> tuple:
    return j.question_id, j.model_a, j.model_b, _turn(j)


def _single_key(j: Judgment) -> tuple:
    return j.question_id, j.model_a, _turn(j)


def _indexed(judgments: list[Judgment], judges: list[str], key) -> tuple[list[tuple], dict[tuple, int], dict]:
    """Items in first-seen order, their positions, and the first judgment of each item (its template)."""
    position: dict[tuple, int] = {}
    first: dict[tuple, Judgment] = {}
    for j in judgments:
        if j.judge in judges:
            k = key(j)
            if k not in position:
                position[k] = len(position)
                first[k] = j
    return list(position), position, first


def votes_of(judgments: list[Judgment], judges: list[str]) -> tuple[list[tuple], np.ndarray, dict]:
    """(items, items x judges class codes, first judgment per item); NO_VOTE where a judge has no readable
    verdict. A judge's later record of the same item replaces its earlier one, as in the store."""
    items, position, first = _indexed(judgments, judges, _pair_key)
    column = {judge: i for i, judge in enumerate(judges)}
    votes = np.full((len(items), len(judges)), panel.NO_VOTE, dtype=np.int64)
    for j in judgments:
        if j.judge in column:
            votes[position[_pair_key(j)], column[j.judge]] = _CODE.get(j.verdict, panel.NO_VOTE)
    return items, votes, first


def grades_of(judgments: list[Judgment], judges: list[str]) -> tuple[list[tuple], np.ndarray, dict]:
    """(items, items x judges grades, first judgment per item); NaN where a judge gave no readable grade."""
    items, position, first = _indexed(judgments, judges, _single_key)
    column = {judge: i for i, judge in enumerate(judges)}
    grades = np.full((len(items), len(judges)), np.nan)
    for j in judgments:
        if j.judge in column:
            readable = j.verdict == "graded" and j.score_a is not None
            grades[position[_single_key(j)], column[j.judge]] = j.score_a if readable else np.nan
    return items, grades, first


def panel_name(rule: str) -> str:
    return f"{PANEL_PREFIX}{rule}"


def check_panel(rule: str, protocol: str, judges: list[str]) -> None:
    """A clear error for a panel that cannot be formed (one judge, a rule that does not fit the protocol)."""
    if protocol not in PANEL_RULES[rule]:
        fitting = [r for r, protocols in PANEL_RULES.items() if protocol in protocols]
        raise ArenaError(
            f"--panel {rule} rates {' or '.join(PANEL_RULES[rule])} judgments, not {protocol} ones"
            + (f"; for {protocol} judgments use --panel {fitting[0]}" if fitting else "")
        )
    if len(judges) < 2:
        raise ArenaError(
            f"--panel {rule} needs at least two judges with {protocol} judgments; found "
            f"{', '.join(judges) or 'none'} (give --judge once per panel member, or store the "
            "judgments of more judges)"
        )


# What a panel's judgment keeps of its first member's record is the matchup itself: that judge's scores, soft
# preference, text and template are not the panel's (and the id is computed anew).
_MEMBERS_OWN: dict[str, Any] = {
    "score_b": None,
    "preference_b": None,
    "raw": None,
    "probabilities": None,
    "template_hash": None,
    "judgment_id": "",
}


def panel_judgments(judgments: list[Judgment], judges: list[str], rule: str) -> list[Judgment]:
    """The panel's verdict on every item that a quorum of `judges` judged, as judgments by `panel-RULE`;
    `meta["votes"]` keeps each member's verdict (or grade) on the item."""
    name, members = panel_name(rule), ", ".join(judges)

    def record(first: Judgment, turn, votes: dict, verdict: str, grade: float | None = None) -> Judgment:
        return replace(
            first,
            **_MEMBERS_OWN,
            judge=name,
            verdict=verdict,
            score_a=grade,
            explanation=f"{rule} of {members}",
            source=_panel_source(members, turn),
            meta={"panel": judges, "turn": turn, "votes": votes},
        )

    if rule == "majority":
        items, votes, first = votes_of(judgments, judges)
        verdicts = panel.majority_verdicts(votes).tolist()
        return [
            record(first[k], k[-1], dict(zip(judges, map(_vote_name, row))), panel.CLASSES[v])
            for k, v, row in zip(items, verdicts, votes.tolist())
            if v != panel.NO_VOTE
        ]
    items, grades, first = grades_of(judgments, judges)
    means = panel.mean_grades(grades).tolist()
    return [
        record(first[k], k[-1], dict(zip(judges, map(_grade_shown, row))), "graded", round(g, 4))
        for k, g, row in zip(items, means, grades.tolist())
        if not np.isnan(g)
    ]


def report_panel(judgments: list[Judgment]) -> tuple[str, list[Judgment], str] | None:
    """The majority panel of every judge with pairwise verdicts, for the HTML report (None with fewer than two
    such judges): its name, its judgments and a label saying who sits on it and who judged its own model."""
    pairwise = [j for j in judgments if j.protocol == "pairwise" and not j.judge.startswith(PANEL_PREFIX)]
    judges = sorted({j.judge for j in pairwise})
    if len(judges) < 2:
        return None
    majority = panel_judgments(pairwise, judges, "majority")
    if not majority:
        return None
    return panel_name("majority"), majority, f"majority verdict of {', '.join(judges)} (a tie when no majority)"


def self_judging_label(judge: str, judgments: list[Judgment]) -> str:
    """A note for a judge that is also a contestant by name (the report has no --self-model), else ''."""
    own = own_models([judge], contestants_of(judgments), {})
    count = self_judged_counts(judgments, own).get(judge, 0)
    return f"also a contestant: {count} of its judgments are on its own model {own[judge]}" if count else ""


def _panel_source(members: str, turn) -> str:
    """Part of the judgment id: the two turns of one matchup are two panel judgments."""
    return f"panel:{members}" + (f":turn{turn}" if turn != 1 else "")


def _vote_name(code: int) -> str | None:
    return None if code == panel.NO_VOTE else panel.CLASSES[code]


def _grade_shown(grade: float) -> float | None:
    return None if np.isnan(grade) else float(grade)


def agreement_rows(judgments: list[Judgment], judges: list[str]) -> tuple[list[dict], dict]:
    """One row per pair of judges (agreement with and without ties) and the panel's Fleiss' kappa."""
    _, votes, _ = votes_of(judgments, judges)
    result = panel.panel_agreement(votes)
    pairs = []
    for a in range(len(judges)):
        for b in range(a + 1, len(judges)):
            pairs.append(
                {
                    "judge_1": judges[a],
                    "judge_2": judges[b],
                    "items": int(result.pair_items[a, b]),
                    "agreement": _rounded(result.pair_agreement[a, b]),
                    "decided_items": int(result.pair_decided[a, b]),
                    "agreement_without_ties": _rounded(result.pair_agreement_without_ties[a, b]),
                }
            )
    summary = {
        "judges": judges,
        "items": result.items_all,
        "fleiss_kappa": _rounded(result.fleiss_kappa),
        "items_without_ties": result.items_all_without_ties,
        "fleiss_kappa_without_ties": _rounded(result.fleiss_kappa_without_ties),
    }
    return pairs, summary


def _rounded(value: float) -> float | None:
    return None if np.isnan(value) else round(float(value), 4)


# --- self-preference --------------------------------------------------------------------------------------------
def own_models(judges: list[str], contestants: set[str], declared: dict[str, str]) -> dict[str, str]:
    """Each judge whose own model is among the contestants, and that model (the rules are in the module
    docstring). A declared model that is no contestant is an error: it would silently flag nothing."""
    own = {}
    for judge in judges:
        if judge in declared:
            if declared[judge] not in contestants:
                raise ArenaError(
                    f"--self-model {judge}={declared[judge]}: '{declared[judge]}' is not a contestant "
                    f"in these judgments (models: {', '.join(sorted(contestants))})"
                )
            own[judge] = declared[judge]
        elif judge in contestants:
            own[judge] = judge
        elif judge.startswith(_REPLAY_PREFIX) and judge[len(_REPLAY_PREFIX) :] in contestants:
            own[judge] = judge[len(_REPLAY_PREFIX) :]
    unknown = sorted(set(declared) - set(judges))
    if unknown:
        raise ArenaError(
            f"--self-model names judges with no judgments here: {', '.join(unknown)} (judges: {', '.join(judges)})"
        )
    return own


def contestants_of(judgments: list[Judgment]) -> set[str]:
    return {m for j in judgments for m in (j.model_a, j.model_b) if m}


def involves(j: Judgment, model: str) -> bool:
    return model in (j.model_a, j.model_b)


def without_self(judgments: list[Judgment], own: dict[str, str]) -> list[Judgment]:
    """Every judgment except those in which a judge judged its own model."""
    return [j for j in judgments if not (j.judge in own and involves(j, own[j.judge]))]


def self_judged_counts(judgments: list[Judgment], own: dict[str, str]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for j in judgments:
        if j.judge in own and involves(j, own[j.judge]):
            counts[j.judge] += 1
    return dict(counts)


def _own_points(items: list[Judgment], model: str) -> np.ndarray:
    """The own model's points in each decided judgment (1 win, 0.5 tie, 0 loss; a soft verdict's share)."""
    outcome = np.array([outcome_of(j) for j in items])
    first = np.array([j.model_a == model for j in items])
    return np.where(first, outcome, 1.0 - outcome)


def self_preference_rows(judgments: list[Judgment], own: dict[str, str]) -> list[dict]:
    """Per judge that judged its own model: its win rate for that model against the other judges' view of
    the same matches (same question, same order), or, with no other judge, against the field (the other
    contestants' win rates against the same opponents, in this judge's eyes)."""
    decided = [j for j in judgments if j.verdict in OUTCOME]
    by_judge: dict[str, list[Judgment]] = defaultdict(list)
    for j in decided:
        by_judge[j.judge].append(j)
    rows = []
    for judge, model in sorted(own.items()):
        mine = [j for j in by_judge.get(judge, []) if involves(j, model)]
        if not mine:
            continue
        others = [name for name in by_judge if name != judge and not name.startswith(PANEL_PREFIX)]
        points = _own_points(mine, model)
        if others:
            reference = _other_judges_points(mine, model, [j for name in others for j in by_judge[name]])
            against = "other judges: " + ", ".join(sorted(others))
        else:
            matches = build_matches(by_judge[judge])
            opponents = np.array([matches.index(j.model_b if j.model_a == model else j.model_a) for j in mine])
            reference = panel.field_reference(win_rate_matrix(matches), matches.index(model), opponents)
            against = "the field (no other judge: mixes quality with bias)"
        result = panel.paired_preference(points, reference)
        rows.append(
            {
                "judge": judge,
                "own_model": model,
                "reference": against,
                **{k: (_rounded(v) if isinstance(v, float) else v) for k, v in asdict(result).items()},
            }
        )
    return rows


def _other_judges_points(mine: list[Judgment], model: str, others: list[Judgment]) -> np.ndarray:
    """Per match of `mine`, the mean points the other judges gave `model` on the same item (NaN if none)."""
    relevant = [j for j in others if involves(j, model)]
    points: dict[tuple, list[float]] = defaultdict(list)
    for j, p in zip(relevant, _own_points(relevant, model).tolist()):
        points[_pair_key(j)].append(p)
    return np.array([np.mean(points[_pair_key(j)]) if points.get(_pair_key(j)) else np.nan for j in mine])
