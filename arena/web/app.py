"""`arena rate serve`: blind pairwise rating of stored answers by people with a personal link.

A rater sees the question and two anonymised answers in random left/right order; the server remembers the
sides. Every vote is committed to the database before the reply says "saved", then mirrored into the
results store as a judgment by judge `human`, so the rating engine needs no special case (votes the
mirror missed, e.g. after a crash, are mirrored when the server starts)."""

from __future__ import annotations

import logging
import random
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC
from itertools import combinations
from pathlib import Path

from sqlalchemy import and_, func, select
from sqlalchemy.exc import IntegrityError

from arena.errors import ArenaError
from arena.store import Judgment, ResultsStore
from arena.store.records import HUMAN_JUDGE, stable_id
from arena.token_bucket import TokenBucket
from arena.web import db

logger = logging.getLogger(__name__)

_VERDICT = {"left": "A", "right": "B", "tie": "tie", "both_bad": "tie"}
MAX_COMMENT = 2000
MIRROR_GRACE_SECONDS = 2.0


@dataclass(frozen=True)
class RateSettings:
    benchmark: str
    models: tuple[str, ...]
    results: Path
    db_url: str
    per_rater: int | None = None  # items each rater is asked for (default: all)
    votes_per_minute: float = 120.0  # per token
    burst: int = 20
    mirror_every: float = 10.0  # seconds between sweeps for votes another (killed) server did not mirror


class TokenBuckets:
    """One token bucket per rater link (votes only): `allow` refuses a vote the link has no token for."""

    def __init__(self, per_minute: float, burst: int):
        self.per_second, self.capacity = per_minute / 60.0, burst
        self.buckets: dict[str, TokenBucket] = {}
        self.lock = threading.Lock()

    def allow(self, key: str) -> bool:
        with self.lock:
            bucket = self.buckets.get(key)
            if bucket is None:
                bucket = self.buckets[key] = TokenBucket(self.per_second, self.capacity)
            return not bucket.take()


def vote_judgment(vote: dict, benchmark: str) -> Judgment:
    """A vote as a judgment by `human`: the left answer counts as shown first; 'both bad' is a tie."""
    return Judgment(
        benchmark=benchmark,
        question_id=vote["question_id"],
        model_a=vote["left_model"],
        model_b=vote["right_model"],
        judge=HUMAN_JUDGE,
        protocol="pairwise",
        verdict=_VERDICT[vote["choice"]],
        explanation=vote["comment"] or "",
        source="arena-rate",
        judgment_id=stable_id(
            "human-vote", benchmark, vote["question_id"], vote["left_model"], vote["right_model"], vote["name"]
        ),
        created=db.iso_utc(vote["created"]),
        meta={"rater": vote["name"], "vote_id": vote["id"], "choice": vote["choice"]},
    )


def mirror_votes(
    engine, store: ResultsStore, benchmark: str, vote_id: int | None = None, settled_for: float = 0.0
) -> int:
    """Copy votes not yet mirrored into the results store and mark them synced; returns how many.

    Every server on a results folder does this under the store's lock of judge `human`, and looks at the
    synced flag again once it holds it, so a vote is written once even when the server that took it and
    another server's sweep reach it together. `vote_id`: only the vote just taken (no need to read the log).
    Otherwise a sweep: it also reads the log, for a vote written by a server killed before it could mark it,
    and with `settled_for` leaves alone votes younger than that many seconds, which their own server is
    still mirroring."""
    with store.exclusive(benchmark, "judgments", HUMAN_JUDGE, quiet=True):
        pending = db.all_votes(engine, benchmark, vote_id=vote_id, unsynced=True)
        if settled_for:
            pending = [vote for vote in pending if _age_seconds(vote["created"]) >= settled_for]
        if not pending:
            return 0
        judgments = [vote_judgment(vote, benchmark) for vote in pending]
        if vote_id is None:
            stored = {j.judgment_id for j in store.judgments(benchmark, HUMAN_JUDGE)}
            judgments = [j for j in judgments if j.judgment_id not in stored]
        store.save_judgments(judgments)
        with engine.begin() as conn:
            conn.execute(db.votes.update().where(db.votes.c.id.in_([v["id"] for v in pending])).values(synced=True))
    return len(pending)


def _age_seconds(created) -> float:
    """Seconds since a vote's timestamp (SQLite gives it back without its UTC zone)."""
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return (db.now() - created).total_seconds()


class RatingService:
    """The rating logic without HTTP: assignments, votes, progress."""

    def __init__(self, settings: RateSettings):
        from arena.prompts.registry import find_prompt_set

        self.settings = settings
        self.store = ResultsStore(settings.results)
        prompt_set = find_prompt_set(settings.benchmark)
        if prompt_set is None:
            raise ArenaError(f"prompt set '{settings.benchmark}' is not available locally (arena prompts pull ...)")
        self.prompt_set = prompt_set
        if len(set(settings.models)) < 2:
            raise ArenaError("rating needs at least two different models (--models A B ...)")
        self.answers = {m: self.store.answers(settings.benchmark, m) for m in settings.models}
        for model, answers in self.answers.items():
            if not answers:
                raise ArenaError(
                    f"no answers stored for model '{model}' on '{settings.benchmark}' in {settings.results}"
                )
        pairs = [
            (p.id, a, b)
            for p in self.prompt_set.prompts
            for a, b in combinations(sorted(settings.models), 2)
            if p.id in self.answers[a] and p.id in self.answers[b]
        ]
        if not pairs:
            raise ArenaError("no question has answers from two of these models")
        self.engine = db.connect(settings.db_url)
        self.total_items = db.ensure_items(self.engine, settings.benchmark, pairs)
        self.quota = min(settings.per_rater or self.total_items, self.total_items)
        mirror_votes(self.engine, self.store, settings.benchmark)

    def mirror_orphans(self) -> int:
        """Mirror votes that their server committed but did not mirror (it was killed in between); a vote
        gets a few seconds to be mirrored by the server that took it first."""
        return mirror_votes(self.engine, self.store, self.settings.benchmark, settled_for=MIRROR_GRACE_SECONDS)

    def rater(self, token: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(db.raters).where(db.raters.c.token_hash == db.hash_token(token))).first()
        return dict(row._mapping) if row and not row.revoked else None

    def progress(self, rater_id: int) -> int:
        with self.engine.connect() as conn:
            return self._progress(conn, rater_id)

    def _progress(self, conn, rater_id: int) -> int:
        """Votes of the rater on served items, on a connection the caller holds: a request never waits for a
        second connection while holding one (with more requests than pooled connections, that deadlocks)."""
        query = (
            select(func.count(db.votes.c.id))
            .join(db.assignments, db.votes.c.assignment_id == db.assignments.c.id)
            .join(db.items, db.assignments.c.item_id == db.items.c.id)
            .where(db.assignments.c.rater_id == rater_id, self._served_items())
        )
        return conn.execute(query).scalar_one()

    def _served_items(self):
        """Items of this set between two of the models this server shows (the database may hold others:
        it is shared by every server on the results directory)."""
        models = list(self.settings.models)
        return and_(
            db.items.c.benchmark == self.settings.benchmark,
            db.items.c.model_1.in_(models),
            db.items.c.model_2.in_(models),
        )

    def current_assignment(self, rater_id: int) -> dict | None:
        """The rater's open assignment on a served item, or a new one on the least-rated item they have not
        seen. Open assignments on items this server does not show (another set, or a model no longer served)
        wait for a server that shows them."""
        base = (
            select(db.assignments, db.items.c.question_id)
            .join(db.items, db.assignments.c.item_id == db.items.c.id)
            .outerjoin(db.votes, db.votes.c.assignment_id == db.assignments.c.id)
            .where(db.assignments.c.rater_id == rater_id, self._served_items(), db.votes.c.id.is_(None))
            .order_by(db.assignments.c.id)
            .limit(1)
        )
        for _ in range(5):
            with self.engine.connect() as conn:
                open_row = conn.execute(base).first()
                if open_row and open_row.question_id in self.prompt_set.by_id:
                    return dict(open_row._mapping)
                if self._progress(conn, rater_id) >= self.quota:
                    return None
                seen = select(db.assignments.c.item_id).where(db.assignments.c.rater_id == rater_id)
                load = (
                    select(func.count(db.assignments.c.id))
                    .where(db.assignments.c.item_id == db.items.c.id)
                    .correlate(db.items)
                    .scalar_subquery()
                )
                item = conn.execute(
                    select(db.items)
                    .where(and_(self._served_items(), db.items.c.id.not_in(seen)))
                    .order_by(load, func.random())
                    .limit(1)
                ).first()
            if item is None:
                return None
            left, right = random.sample([item.model_1, item.model_2], 2)
            try:
                with self.engine.begin() as conn:
                    conn.execute(
                        db.assignments.insert().values(
                            rater_id=rater_id,
                            item_id=item.id,
                            left_model=left,
                            right_model=right,
                            csrf=secrets.token_urlsafe(24),
                            created=db.now(),
                        )
                    )
            except IntegrityError:
                continue  # a parallel request of the same rater took it; look again
        return None

    def record_vote(self, rater: dict, assignment_id: int, csrf: str, choice: str, comment: str) -> int:
        """Commit a vote; raises VoteRejected with an HTTP status for anything not allowed. One transaction
        checks the assignment and stores the vote, so a refused vote is never half stored."""
        if choice not in db.CHOICES:
            shown = f" {choice!r}" if len(choice) <= 20 else ""  # a hostile megabyte is not echoed back
            raise VoteRejected(422, f"unknown choice{shown}: expected one of {', '.join(db.CHOICES)}")
        if len(comment) > MAX_COMMENT:
            raise VoteRejected(422, f"comment longer than {MAX_COMMENT} characters")
        if not 1 <= assignment_id <= db.MAX_ID:
            raise VoteRejected(400, "the form's assignment number is out of range")
        if len(csrf) != db.CSRF_LENGTH:
            raise VoteRejected(403, "the form's CSRF token does not match; reload the page")
        try:
            with self.engine.begin() as conn:
                assignment = conn.execute(
                    select(db.assignments, db.items.c.benchmark, db.items.c.model_1, db.items.c.model_2)
                    .join(db.items, db.assignments.c.item_id == db.items.c.id)
                    .where(db.assignments.c.id == assignment_id)
                ).first()
                if assignment is None or assignment.rater_id != rater["id"]:
                    raise VoteRejected(403, "this item is not assigned to you")
                # Bytes: compare_digest refuses non-ASCII str.
                if not secrets.compare_digest(assignment.csrf.encode(), csrf.encode("utf-8", "surrogatepass")):
                    raise VoteRejected(403, "the form's CSRF token does not match; reload the page")
                served = set(self.settings.models)
                if (
                    assignment.benchmark != self.settings.benchmark
                    or not {assignment.model_1, assignment.model_2} <= served
                ):
                    raise VoteRejected(
                        409,
                        "this item belongs to another rating session (another prompt set or "
                        "models this server does not show); reload the page",
                    )
                vote_id = conn.execute(
                    db.votes.insert()
                    .values(assignment_id=assignment_id, choice=choice, comment=comment, created=db.now(), synced=False)
                    .returning(db.votes.c.id)
                ).scalar_one()
        except IntegrityError:
            raise VoteRejected(409, "you already rated this item") from None
        try:
            mirror_votes(self.engine, self.store, self.settings.benchmark, vote_id=vote_id)
        except Exception:  # the vote is committed: a sweep mirrors it later, and the rater is told it is saved
            logger.exception(
                "vote %s is saved in the database but not yet mirrored into %s", vote_id, self.settings.results
            )
        return vote_id


class VoteRejected(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
