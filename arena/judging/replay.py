"""The replay judge, `--judge replay:RESULTS_DIR[:JUDGE]`: answers each matchup with the verdict recorded for that
(prompt set, question, model shown first, model shown second) in an existing results store, e.g. one filled
by `arena import qlora`. It costs nothing and is instant, so whole tournaments can be re-run under other
budgets and schedules ("what would I have concluded with a tenth of the calls?"). It never invents a
verdict: a matchup it has no record of is reported as missing, not stored as an error."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from arena.errors import ArenaError
from arena.store import Judgment, ResultsStore
from arena.store.records import utc_now

PREFIX = "replay:"


@dataclass
class ReplayJudge:
    source: Path
    recorded_judge: str
    protocol: str
    records: dict[tuple[str, str, str], Judgment]
    demo: bool = False

    @property
    def name(self) -> str:
        """Replayed verdicts are stored under their own judge name, never mixed with the recorded ones."""
        return f"replay-{self.recorded_judge}"

    @classmethod
    def parse(cls, text: str, benchmark: str, protocol: str) -> ReplayJudge:
        """`replay:DIR` or `replay:DIR:JUDGE`; the judge may be left out when DIR holds one judge's verdicts."""
        target = text[len(PREFIX) :]
        folder, judge = (target, "") if Path(target).is_dir() or ":" not in target else target.rsplit(":", 1)
        source = Path(folder)
        if not source.is_dir():
            raise ArenaError(f"--judge {text}: {source} is not a results folder")
        stored = ResultsStore(source).judgments(benchmark)
        available = sorted({j.judge for j in stored if j.protocol == protocol})
        if not available:
            raise ArenaError(f"--judge {text}: {source} holds no {protocol} judgments on '{benchmark}'")
        if not judge:
            if len(available) > 1:
                raise ArenaError(
                    f"--judge {text}: {source} holds verdicts of several judges ({', '.join(available)}); "
                    f"name one: replay:{source}:JUDGE"
                )
            judge = available[0]
        if judge not in available:
            raise ArenaError(
                f"--judge {text}: no {protocol} judgments by '{judge}' in {source} "
                f"(judges there: {', '.join(available)})"
            )
        records = {
            (j.question_id, j.model_a, j.model_b): j for j in stored if j.judge == judge and j.protocol == protocol
        }
        return cls(source, judge, protocol, records)

    def pool(self, models: list[str] | None) -> list[tuple[str, str, str]]:
        """Every recorded matchup among `models` (all recorded models when None)."""
        keep = set(models) if models else None
        return sorted(k for k in self.records if keep is None or (k[1] in keep and k[2] in keep))

    def models(self) -> list[str]:
        return sorted({m for _, a, b in self.records for m in (a, b)})

    def replay(self, store: ResultsStore, benchmark: str, matchups: list[tuple[str, str, str]]) -> tuple[int, int]:
        """Store the recorded verdicts of these matchups as this judge's; (stored now, missing)."""
        existing = {m[:3] for m in store.judgment_columns(benchmark, self.name).matchups(self.protocol)}
        found = [self.records[m] for m in matchups if m in self.records and m not in existing]
        missing = sum(m not in self.records for m in matchups)
        store.save_judgments(
            [
                replace(
                    j,
                    judge=self.name,
                    source=f"{PREFIX}{self.source}:{self.recorded_judge}",
                    judgment_id="",
                    created=utc_now(),
                    meta={**j.meta, "replayed_from": j.judgment_id},
                )
                for j in found
            ]
        )
        return len(found), missing


def refuse_batch(batch: bool, judge_name: str) -> None:
    """Replayed verdicts are copied, never sent anywhere, so --batch has nothing to batch."""
    if batch:
        raise ArenaError(
            f"--batch sends the judge's calls to an OpenAI-compatible Batch API; the judge '{judge_name}' "
            "replays recorded verdicts and makes no call: drop --batch"
        )
