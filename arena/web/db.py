"""The human-rating store: raters, the items to rate, per-rater assignments (which model sat on which
side) and votes, in any SQLAlchemy database (SQLite in WAL mode by default, PostgreSQL through psycopg 3
when several servers share one store). Tokens are stored only as hashes."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError

from arena.errors import ArenaError

metadata = MetaData()
# 64-bit keys, so every id a form can carry (up to MAX_ID) is a valid comparison on every backend; on SQLite
# only INTEGER PRIMARY KEY is the auto-incrementing rowid (itself 64-bit).
Id = BigInteger().with_variant(Integer, "sqlite")

raters = Table(
    "raters",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("revoked", Boolean, nullable=False, default=False),
    Column("created", DateTime(timezone=True), nullable=False),
)
items = Table(
    "items",
    metadata,
    Column("id", Id, primary_key=True),
    Column("benchmark", String(200), nullable=False),
    Column("question_id", String(200), nullable=False),
    Column("model_1", String(200), nullable=False),
    Column("model_2", String(200), nullable=False),
    UniqueConstraint("benchmark", "question_id", "model_1", "model_2"),
)
assignments = Table(
    "assignments",
    metadata,
    Column("id", Id, primary_key=True),
    Column("rater_id", ForeignKey("raters.id"), nullable=False),
    Column("item_id", ForeignKey("items.id"), nullable=False),
    Column("left_model", String(200), nullable=False),
    Column("right_model", String(200), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    UniqueConstraint("rater_id", "item_id"),
)
votes = Table(
    "votes",
    metadata,
    Column("id", Id, primary_key=True),
    Column("assignment_id", ForeignKey("assignments.id"), nullable=False, unique=True),
    Column("choice", String(20), nullable=False),
    Column("comment", Text, nullable=False, default=""),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("synced", Boolean, nullable=False, default=False, index=True),
)

CHOICES = ("left", "right", "tie", "both_bad")
MAX_ID = 2**63 - 1  # the largest integer key SQLite (and PostgreSQL's bigint) can hold
MAX_ID_DIGITS = len(str(MAX_ID))  # a form number with more digits is out of range before any conversion
CSRF_LENGTH = 32  # characters of secrets.token_urlsafe(24)


def now() -> datetime:
    return datetime.now(UTC)


def iso_utc(value: datetime | str) -> str:
    """A stored time as every other record in the results store writes it (ISO 8601 with 'T', milliseconds
    and +00:00): SQLite hands back naive datetimes, which are UTC here, and str() of one has a space."""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
    else:
        moment = value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def default_db_url(results: Path) -> str:
    return f"sqlite:///{(results / 'human_ratings.sqlite').resolve()}"


def sqlite_file_missing(url: str) -> bool:
    """A SQLite URL whose file does not exist (yet): a read-only listing has nothing to read and must not
    create it."""
    parsed = engine_url(url)
    path = parsed.database
    return parsed.get_backend_name() == "sqlite" and path not in (None, "", ":memory:") and not Path(str(path)).exists()


def engine_url(url: str) -> URL:
    """The SQLAlchemy URL to open: `postgresql://` (and `postgres://`) name no driver, and SQLAlchemy's
    default for them is psycopg2; arena's `web` extra installs psycopg 3, so that is the one they get."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ArenaError(
            f"--db {url!r} is not a database URL (e.g. postgresql://user:password@host/arena, "
            "sqlite:///path/to/votes.sqlite)"
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def shown_url(url: str) -> str:
    """The URL as the user wrote it, less its password: for messages and run manifests."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def connect(url: str) -> Engine:
    parsed = engine_url(url)
    shown = shown_url(url)
    try:
        if parsed.get_backend_name() == "sqlite":
            path = parsed.database
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(
                parsed, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=20, max_overflow=40
            )

            @event.listens_for(engine, "connect")
            def _sqlite_pragmas(connection, _record):
                cursor = connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=FULL")  # a vote answered "saved" survives a crash
                cursor.execute("PRAGMA busy_timeout=30000")
                cursor.close()
        else:
            # 15 connections per server at most: four servers stay within PostgreSQL's default 100.
            engine = create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=10)
        metadata.create_all(engine)
    except ImportError as exc:  # the URL's driver (psycopg for postgresql://) is not installed
        driver = (exc.name or parsed.get_driver_name()).split(".")[0]
        remedy = (
            "install arena with its 'web' extra, which brings it: pip install -e '.[web]'"
            if driver == "psycopg"
            else "install it, or write the URL as postgresql://... to use psycopg, which arena's 'web' extra installs"
        )
        raise ArenaError(
            f"the ratings database {shown} needs the Python driver '{driver}', which is not installed: {remedy}"
        ) from None
    except Exception as exc:  # SQLAlchemy raises many kinds for a bad URL or an unreachable server
        reason = str(getattr(exc, "orig", None) or exc).strip()
        raise ArenaError(f"cannot open the ratings database {shown}: {reason}") from None
    return engine


def add_rater(engine: Engine, name: str) -> str:
    """Create a rater and return their secret token (256 bits); only its hash is stored."""
    token = secrets.token_urlsafe(32)
    try:
        with engine.begin() as db:
            db.execute(raters.insert().values(name=name, token_hash=hash_token(token), revoked=False, created=now()))
    except IntegrityError:
        raise ArenaError(f"a rater called '{name}' already exists") from None
    return token


def revoke_rater(engine: Engine, name: str) -> None:
    with engine.begin() as db:
        if db.execute(raters.update().where(raters.c.name == name).values(revoked=True)).rowcount == 0:
            raise ArenaError(f"no rater called '{name}'")


def rater_progress(engine: Engine, benchmark: str | None = None) -> list[dict]:
    voted = (
        select(assignments.c.rater_id, func.count(votes.c.id).label("done"))
        .join(votes, votes.c.assignment_id == assignments.c.id)
        .group_by(assignments.c.rater_id)
        .subquery()
    )
    query = (
        select(raters.c.name, raters.c.revoked, raters.c.created, func.coalesce(voted.c.done, 0))
        .outerjoin(voted, voted.c.rater_id == raters.c.id)
        .order_by(raters.c.name)
    )
    with engine.connect() as db:
        return [
            {"rater": name, "votes": done, "revoked": bool(revoked), "created": iso_utc(created)}
            for name, revoked, created, done in db.execute(query)
        ]


def ensure_items(engine: Engine, benchmark: str, pairs: list[tuple[str, str, str]]) -> int:
    """Insert (question, model_1, model_2) items not there yet; returns how many exist for the set."""
    with engine.begin() as db:
        existing = {
            tuple(row)
            for row in db.execute(
                select(items.c.question_id, items.c.model_1, items.c.model_2).where(items.c.benchmark == benchmark)
            )
        }
        new = [
            {"benchmark": benchmark, "question_id": q, "model_1": a, "model_2": b}
            for q, a, b in pairs
            if (q, a, b) not in existing
        ]
        if new:
            db.execute(items.insert(), new)
        return len(existing) + len(new)


def all_votes(engine: Engine, benchmark: str | None = None, vote_id: int | None = None, unsynced: bool = False):
    """Votes with their rater and item, oldest first; `unsynced`: only those not yet mirrored into the
    results store."""
    query = (
        select(
            votes.c.id,
            votes.c.assignment_id,
            votes.c.choice,
            votes.c.comment,
            votes.c.created,
            votes.c.synced,
            raters.c.name,
            items.c.benchmark,
            items.c.question_id,
            assignments.c.left_model,
            assignments.c.right_model,
        )
        .join(assignments, votes.c.assignment_id == assignments.c.id)
        .join(raters, assignments.c.rater_id == raters.c.id)
        .join(items, assignments.c.item_id == items.c.id)
        .order_by(votes.c.id)
    )
    if benchmark:
        query = query.where(items.c.benchmark == benchmark)
    if vote_id is not None:
        query = query.where(votes.c.id == vote_id)
    if unsynced:
        query = query.where(votes.c.synced.is_(False))
    with engine.connect() as db:
        return [dict(row._mapping) for row in db.execute(query)]
