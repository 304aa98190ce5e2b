"""`arena rate`: serve the form, manage raters, export votes."""

from __future__ import annotations

import csv
import json
import sys

from arena.console import info, print_records
from arena.errors import ArenaError
from arena.web import db


def _engine(args):
    return db.connect(args.db or db.default_db_url(args.results))


def run_rate(args) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    try:
        if args.action in ("serve", "add-rater", "revoke"):  # the commands that change something leave a manifest
            from arena.store import ResultsStore

            config = {
                "action": args.action,
                "db": db.shown_url(args.db or db.default_db_url(args.results)),
                **{k: getattr(args, k) for k in ("benchmark", "models", "name", "per_rater") if hasattr(args, k)},
            }
            with ResultsStore(args.results).run(f"rate-{args.action}", config) as manifest:
                _rate(args)
                manifest.update(exit_status=0)
        else:
            _rate(args)
    except SQLAlchemyError as exc:
        shown = db.shown_url(args.db or db.default_db_url(args.results))
        raise ArenaError(
            f"the ratings database ({shown}) refused the change: {getattr(exc, 'orig', None) or exc}"
        ) from None
    return 0


def _rate(args) -> None:
    if args.action == "serve":
        _serve(args)
    elif args.action == "add-rater":
        token = db.add_rater(_engine(args), args.name)
        info(f"rater '{args.name}' added; their personal link (keep it secret):")
        print(f"{args.base_url.rstrip('/')}/r/{token}")
    elif args.action == "revoke":
        db.revoke_rater(_engine(args), args.name)
        info(f"rater '{args.name}' revoked: their link now answers 403")
    elif args.action == "raters":
        progress = db.rater_progress(_engine(args))
        records = [
            {
                "rater": r["rater"],
                "votes": r["votes"],
                "status": "revoked" if r["revoked"] else "active",
                "created": str(r["created"]),
            }
            for r in progress
        ]
        print_records(records, args.format, "Raters", ["rater", "votes", "status", "created"])
    else:
        _export(db.all_votes(_engine(args), args.benchmark), args.format)


def _serve(args) -> None:
    """Everything is checked (prompt set, models, answers, database, port) before the form is announced."""
    from arena.web.app import RateSettings
    from arena.web.server import TrustedProxies, create_app, listen, run

    root_path = args.root_path.rstrip("/")
    if root_path and not root_path.startswith("/"):
        raise ArenaError(f"--root-path {args.root_path!r}: a sub-path starts with '/' (e.g. /rate)")
    try:
        trusted = TrustedProxies.parse(args.forwarded_allow_ips)
    except ValueError as exc:
        raise ArenaError(f"--forwarded-allow-ips: {exc}") from None
    settings = RateSettings(
        args.benchmark,
        tuple(args.models),
        args.results,
        args.db or db.default_db_url(args.results),
        args.per_rater,
        args.votes_per_minute,
        args.burst,
        args.mirror_every,
    )
    app = create_app(settings, trusted)
    sock = listen(args.host, args.port)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        info(f"warning: serving on {args.host}, reachable from other machines")
    info(
        f"rating form on http://{args.host}:{args.port}{root_path}/ — give each rater the link from "
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
                    str(v["created"]),
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
