"""`arena rate`: serve the form, manage raters, export votes."""

from __future__ import annotations

import csv
import json
import sys
from argparse import Namespace
from dataclasses import dataclass
from pathlib import Path

from arena.command_options import options_from
from arena.console import info, print_records
from arena.errors import ArenaError
from arena.web import db


@dataclass(frozen=True, kw_only=True)
class RateOptions:
    """What `arena rate ACTION` was asked, typed by the handler; the options another action has stay unset."""

    action: str
    results: Path
    db_url: str  # --db, else the SQLite file in the results directory
    name: str = ""  # add-rater, revoke
    base_url: str = ""  # add-rater
    benchmark: str | None = None  # serve, export
    models: tuple[str, ...] = ()  # serve
    host: str = ""
    port: int = 0
    per_rater: int | None = None
    votes_per_minute: float = 0.0
    burst: int = 0
    root_path: str = ""
    forwarded_allow_ips: str = ""
    mirror_every: float = 0.0
    format: str = ""  # raters, export

    @classmethod
    def of(cls, args: Namespace) -> RateOptions:
        db_url = args.db or db.default_db_url(args.results)
        return options_from(cls, args, db_url=db_url, models=tuple(getattr(args, "models", ())))

    @property
    def shown_db(self) -> str:
        return db.shown_url(self.db_url)


# What the run manifest of each action that changes something records (the others leave none).
_RECORDED = {"serve": ("benchmark", "models", "per_rater"), "add-rater": ("name",), "revoke": ("name",)}


def run_rate(args: Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    options = _checked(RateOptions.of(args))
    try:
        if options.action == "revoke":
            _require_rater(options)  # before the run manifest: an unknown name creates nothing
        if options.action in _RECORDED:
            from arena.store import ResultsStore

            config = {
                "action": options.action,
                "db": options.shown_db,
                **{k: getattr(options, k) for k in _RECORDED[options.action]},
            }
            with ResultsStore(options.results).run(f"rate-{options.action}", config) as manifest:
                _rate(options)
                manifest.update(exit_status=0)
        else:
            _rate(options)
    except SQLAlchemyError as exc:
        raise ArenaError(
            f"the ratings database ({options.shown_db}) refused the change: {getattr(exc, 'orig', None) or exc}"
        ) from None
    return 0


RATER_NAME_MAX = 100


def _checked(options: RateOptions) -> RateOptions:
    """A rater's name and the link's base URL, checked before anything is opened or written."""
    from dataclasses import replace
    from urllib.parse import urlsplit

    if options.action not in ("add-rater", "revoke"):
        return options
    name = options.name.strip()
    if not name or len(name) > RATER_NAME_MAX or not name.isprintable():
        raise ArenaError(
            f"invalid rater name {options.name[:40]!r}{'...' if len(options.name) > 40 else ''}: "
            f"give 1 to {RATER_NAME_MAX} printable characters (got {len(name)} after removing outer spaces)"
        )
    if options.action == "add-rater":
        parts = urlsplit(options.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ArenaError(
                f"--base-url: {options.base_url!r} is not a web address: give http(s)://HOST[:PORT][/PATH], "
                "where the form is served (e.g. https://rate.example.org)"
            )
    return replace(options, name=name)


def _require_rater(options: RateOptions) -> None:
    known = [] if db.sqlite_file_missing(options.db_url) else db.rater_progress(db.connect(options.db_url))
    if options.name not in {r["rater"] for r in known}:
        raise ArenaError(
            f"no rater called '{options.name}'" + ("" if known else f" (no raters yet in {options.shown_db})")
        )


def _rate(options: RateOptions) -> None:
    if options.action == "serve":
        _serve(options)
        return
    if options.action in ("raters", "export") and db.sqlite_file_missing(options.db_url):
        _show(options, None)  # a listing creates no database: nothing rated yet
        return
    _show(options, db.connect(options.db_url))


def _show(options: RateOptions, engine) -> None:
    """The action on the votes database; `engine` None: there is none yet (the read-only listings only)."""
    if options.action == "add-rater":
        token = db.add_rater(engine, options.name)
        info(f"rater '{options.name}' added; their personal link (keep it secret):")
        print(f"{options.base_url.rstrip('/')}/r/{token}")
    elif options.action == "revoke":
        db.revoke_rater(engine, options.name)
        info(f"rater '{options.name}' revoked: their link now answers 403")
    elif options.action == "raters":
        progress = db.rater_progress(engine) if engine is not None else []
        if not progress and options.format == "table":
            info(f"no raters yet in {options.shown_db}: add one with `arena rate add-rater NAME`")
            return
        records = [
            {
                "rater": r["rater"],
                "votes": r["votes"],
                "status": "revoked" if r["revoked"] else "active",
                "created": r["created"],
            }
            for r in progress
        ]
        print_records(records, options.format, "Raters", ["rater", "votes", "status", "created"])
    else:
        _export(db.all_votes(engine, options.benchmark) if engine is not None else [], options.format)


def _serve(options: RateOptions) -> None:
    """Everything is checked (prompt set, models, answers, database, port) before the form is announced."""
    from arena.web.app import RateSettings
    from arena.web.server import TrustedProxies, create_app, listen, run

    root_path = options.root_path.rstrip("/")
    if root_path and not root_path.startswith("/"):
        raise ArenaError(f"--root-path {options.root_path!r}: a sub-path starts with '/' (e.g. /rate)")
    try:
        trusted = TrustedProxies.parse(options.forwarded_allow_ips)
    except ValueError as exc:
        raise ArenaError(f"--forwarded-allow-ips: {exc}") from None
    assert options.benchmark is not None  # required by `arena rate serve`
    settings = RateSettings(
        options.benchmark,
        options.models,
        options.results,
        options.db_url,
        options.per_rater,
        options.votes_per_minute,
        options.burst,
        options.mirror_every,
    )
    app = create_app(settings, trusted)
    sock = listen(options.host, options.port)
    if options.host not in ("127.0.0.1", "localhost", "::1"):
        info(f"warning: serving on {options.host}, reachable from other machines")
    info(
        f"rating form on http://{options.host}:{options.port}{root_path}/ — give each rater the link from "
        "`arena rate add-rater`"
    )
    run(app, sock, root_path)


# The export's columns, in order: a CSV with no votes still has its full header, so scripts read it alike.
EXPORT_COLUMNS = (
    "vote_id",
    "benchmark",
    "question_id",
    "rater",
    "left_model",
    "right_model",
    "choice",
    "comment",
    "created",
)


def _export(votes: list[dict], fmt: str) -> None:
    rows = [
        dict(
            zip(
                EXPORT_COLUMNS,
                (
                    v["id"],
                    v["benchmark"],
                    v["question_id"],
                    v["name"],
                    v["left_model"],
                    v["right_model"],
                    v["choice"],
                    v["comment"],
                    db.iso_utc(v["created"]),
                ),
                strict=True,
            )
        )
        for v in votes
    ]
    if fmt == "jsonl":
        for row in rows:
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        return
    writer = csv.DictWriter(sys.stdout, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
