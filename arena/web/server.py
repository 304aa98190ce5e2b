"""HTTP for the rating form: server-rendered pages, one small script for keyboard shortcuts, strict
headers (no framing, no referrer: the personal token is in the URL), CSRF tokens on every POST.

Several servers can stand behind one reverse proxy: `root_path` is the sub-path the proxy serves them under
(it strips it before forwarding), and the scheme and host the proxy reports in X-Forwarded-* headers are
believed only from the proxy addresses the operator names."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import re
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote_to_bytes, urlsplit

from arena.errors import ArenaError
from arena.report.safe_markdown import render_markdown
from arena.web import db
from arena.web.app import RateSettings, RatingService, TokenBuckets, VoteRejected

logger = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
MAX_RENDERED_CHARS = 12_000  # an answer longer than this is cut for display: markdown of hostile text can be slow
MAX_FORM_BYTES = 64 * 1024  # a vote form is a few hundred bytes plus a comment of at most 2,000 characters
_HOST = re.compile(r"[A-Za-z0-9.\-]+(:\d{1,5})?|\[[0-9A-Fa-f:.]+\](:\d{1,5})?")


@dataclass(frozen=True)
class TrustedProxies:
    """The addresses whose X-Forwarded-Proto and -Host headers are believed (`--forwarded-allow-ips`)."""

    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    everyone: bool = False

    @classmethod
    def parse(cls, text: str) -> TrustedProxies:
        """'127.0.0.1,10.0.0.0/8' (addresses or networks, comma-separated) or '*' (any: only when nothing but
        the proxy can reach the server). Raises ValueError naming the bad entry."""
        entries = [entry.strip() for entry in text.split(",") if entry.strip()]
        if entries == ["*"]:
            return cls(everyone=True)
        networks = []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ValueError(
                    f"'{entry}' is not an IP address or network (e.g. 127.0.0.1, 10.0.0.0/8, or '*')"
                ) from None
        return cls(tuple(networks))

    def trusts(self, address: str | None) -> bool:
        if self.everyone:
            return True
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(ip in network for network in self.networks)


def create_app(settings: RateSettings, trusted_proxies: TrustedProxies = TrustedProxies()):
    from jinja2 import Environment, FileSystemLoader, select_autoescape
    from markupsafe import Markup
    from sqlalchemy.exc import SQLAlchemyError
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse
    from starlette.routing import Route

    service = RatingService(settings)
    limiter = TokenBuckets(settings.votes_per_minute, settings.burst)
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))

    def page(name: str, status: int = 200, **context) -> HTMLResponse:
        nonce = secrets.token_urlsafe(16)
        response = HTMLResponse(env.get_template(name).render(nonce=nonce, **context), status_code=status)
        response.headers["Content-Security-Policy"] = (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; img-src data:; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        )
        return response

    def refuse(status: int, message: str) -> HTMLResponse:
        return page("message.html", status=status, title="Not accepted", message=message)

    def rate_page(token: str, saved: bool, root: str) -> HTMLResponse:
        rater = service.rater(token)
        if rater is None:
            return refuse(403, "This link is not valid (unknown or revoked).")
        assignment = service.current_assignment(rater["id"])
        done = service.progress(rater["id"])
        if assignment is None:
            return page(
                "message.html",
                title="All done",
                message=f"Thank you, {rater['name']}: you rated {done} items.",
                done=done,
                total=service.quota,
                saved=saved,
            )
        prompt = service.prompt_set.by_id[assignment["question_id"]]
        answers = {
            side: Markup(
                render_markdown(service.answers[assignment[f"{side}_model"]][prompt.id].text, MAX_RENDERED_CHARS)
            )
            for side in ("left", "right")
        }
        return page(
            "rate.html",
            rater=rater["name"],
            turns=prompt.turns,
            left=answers["left"],
            right=answers["right"],
            assignment=assignment,
            token=token,
            done=done,
            total=service.quota,
            saved=saved,
            root=root,
        )

    async def show(request: Request):
        return await run_in_threadpool(
            rate_page, request.path_params["token"], "saved" in request.query_params, request.scope.get("root_path", "")
        )

    async def vote(request: Request):
        token = request.path_params["token"]
        origin = request.headers.get("origin")
        if origin and origin != "null" and not same_origin(origin, request.url.scheme, request.url.netloc):
            return refuse(403, "cross-site form submissions are not accepted")
        length = request.headers.get("content-length", "")
        if length.isdigit() and (len(length) > 9 or int(length) > MAX_FORM_BYTES):
            return refuse(413, f"The form is larger than {MAX_FORM_BYTES // 1024} KB.")
        rater = await run_in_threadpool(service.rater, token)
        if rater is None:
            return refuse(403, "This link is not valid (unknown or revoked).")
        if not limiter.allow(token):
            return refuse(429, "Too many votes in a short time; wait a moment and try again.")
        body = await request.body()  # kept: request.form() below parses these same bytes
        if len(body) > MAX_FORM_BYTES:  # a body sent without a content-length
            return refuse(413, f"The form is larger than {MAX_FORM_BYTES // 1024} KB.")
        invalid = not_utf8_field(request.headers.get("content-type", ""), body)
        if invalid is not None:
            known = invalid in ("assignment", "csrf", "choice", "comment")
            return refuse(
                400,
                f"The form field '{invalid}' is not valid UTF-8 text."
                if known
                else "A form field is not valid UTF-8 text.",
            )
        try:
            form = await request.form()
        except Exception:  # the multipart parser's own errors for a body that is not a form
            return refuse(400, "The request body is not a form.")
        values = {name: form.get(name) for name in ("assignment", "csrf", "choice", "comment")}
        if any(value is not None and not isinstance(value, str) for value in values.values()):
            return refuse(400, "Only text fields are accepted (no file uploads).")
        texts = {"comment": "", **{name: value for name, value in values.items() if isinstance(value, str)}}
        if len(texts) < len(values) or not texts["assignment"].isascii() or not texts["assignment"].isdigit():
            return refuse(400, "The form is incomplete or malformed (assignment, csrf and choice are required).")
        if len(texts["assignment"]) > db.MAX_ID_DIGITS:  # before int(): Python refuses over 4,300 digits
            return refuse(400, "The form's assignment number is out of range.")
        assignment_id, fields = int(texts["assignment"]), (texts["csrf"], texts["choice"], texts["comment"])
        try:
            await run_in_threadpool(service.record_vote, rater, assignment_id, *fields)
        except VoteRejected as exc:
            return refuse(exc.status, str(exc))
        return RedirectResponse(f"{request.scope.get('root_path', '')}/r/{token}?saved=1", status_code=303)

    async def home(request: Request):
        return page(
            "message.html", title="arena rating", message="Open the personal link you were given to start rating."
        )

    async def health(request: Request):
        return PlainTextResponse("ok")

    async def database_unavailable(request: Request, exc: Exception):
        """Overload or a database restart is not the rater's fault: 503 and try again, not a 500."""
        logger.warning("ratings database unavailable: %s", exc)
        response = refuse(503, "The ratings database is busy or unreachable; try again in a moment.")
        response.headers["retry-after"] = "5"
        return response

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        async def sweep():
            while True:
                await asyncio.sleep(settings.mirror_every)
                try:
                    await run_in_threadpool(service.mirror_orphans)
                except Exception:  # the database or the results folder briefly unavailable: next time
                    logger.exception(
                        "mirroring votes into %s failed; retrying in %s s", settings.results, settings.mirror_every
                    )

        task = asyncio.create_task(sweep())
        yield
        task.cancel()

    app = Starlette(
        routes=[
            Route("/", home),
            Route("/healthz", health),
            Route("/r/{token}", show),
            Route("/r/{token}/vote", vote, methods=["POST"]),
        ],
        lifespan=lifespan,
        exception_handlers={SQLAlchemyError: database_unavailable},
    )
    return SecurityHeaders(ForwardedHeaders(app, trusted_proxies))


def same_origin(origin: str, scheme: str, host: str) -> bool:
    """Whether a browser's Origin names this server (scheme, host and port; a default port may be written
    or not)."""
    try:
        theirs, ours = urlsplit(origin), urlsplit(f"{scheme}://{host}")
        default = {"http": 80, "https": 443}
        return (theirs.scheme, theirs.hostname, theirs.port or default.get(theirs.scheme)) == (
            ours.scheme,
            ours.hostname,
            ours.port or default.get(ours.scheme),
        )
    except ValueError:  # a malformed port in either
        return False


def not_utf8_field(content_type: str, body: bytes) -> str | None:
    """The name of the first form field whose value is not valid UTF-8, else None. The form parser would turn
    such bytes into replacement characters or Latin-1 mojibake ('\\xff\\xfe' stored as 'ÿþ'); the vote is
    refused instead. Reads URL-encoded and multipart bodies; file parts are refused later anyway."""
    media_type, _, parameters = content_type.partition(";")
    media_type = media_type.strip().lower()
    fields: list[tuple[bytes, bytes]] = []
    if media_type == "application/x-www-form-urlencoded":
        for pair in body.split(b"&"):
            name, _, value = pair.partition(b"=")
            fields.append((unquote_to_bytes(name.replace(b"+", b" ")), unquote_to_bytes(value.replace(b"+", b" "))))
    elif media_type == "multipart/form-data":
        boundary = re.search(r'boundary="?([^";]+)"?', parameters)
        if boundary is None:
            return None  # not a form the parser reads: it refuses it itself
        for part in body.split(b"--" + boundary.group(1).encode("latin-1")):
            headers, separator, value = part.partition(b"\r\n\r\n")
            named = re.search(rb'(?i)content-disposition:[^\r\n]*?\bname="([^"]*)"', headers)
            if separator and named is not None and b"filename=" not in headers:
                fields.append((named.group(1), value.removesuffix(b"\r\n")))
    for name, value in fields:
        try:
            value.decode("utf-8")
        except UnicodeDecodeError:
            return name.decode("utf-8", errors="replace")
    return None


class ForwardedHeaders:
    """Behind a reverse proxy, the scheme and host it reports (X-Forwarded-Proto, X-Forwarded-Host) replace
    the connection's own, so that the CSRF origin check compares the browser's Origin with the public
    address. Believed only on connections from `trusted` addresses: from anyone else, a forged
    X-Forwarded-Host would pass any origin."""

    def __init__(self, app, trusted: TrustedProxies):
        self.app, self.trusted = app, trusted

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and self.trusted.trusts((scope.get("client") or (None,))[0]):
            headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
            scope = dict(scope)
            proto = headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
            if proto in ("http", "https"):
                scope["scheme"] = proto
            host = headers.get("x-forwarded-host", "").split(",")[0].strip()
            if _HOST.fullmatch(host):
                scope["headers"] = [(name, value) for name, value in scope["headers"] if name.lower() != b"host"]
                scope["headers"].append((b"host", host.encode()))
        await self.app(scope, receive, send)


# Sent on every response (redirects, errors and /healthz included); HTML pages set their own stricter CSP.
SECURITY_HEADERS = {
    b"content-security-policy": b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
    b"referrer-policy": b"no-referrer",  # the personal token is in the URL
    b"x-frame-options": b"DENY",
    b"x-content-type-options": b"nosniff",
    b"cache-control": b"no-store",
}


class SecurityHeaders:
    """ASGI wrapper outside Starlette's own error handling, so even its 404, 405 and 500 answers carry the
    headers."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *((k, v) for k, v in SECURITY_HEADERS.items() if k not in present),
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def listen(host: str, port: int) -> socket.socket:
    """The server's listening socket, bound before the form is announced: a busy port is one clear error."""
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise ArenaError(f"--host {host}: cannot listen there ({exc.strerror})") from None
    sock = socket.socket(family, kind, protocol)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart need not wait for TIME_WAIT
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ArenaError(
                f"port {port} on {host} is already in use (another server?): stop it or choose another with --port"
            ) from None
        raise ArenaError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


def run(app, sock: socket.socket, root_path: str = "") -> None:
    """Serve until Ctrl-C or SIGTERM. Proxy headers are handled by ForwardedHeaders, not by uvicorn, which
    does not read X-Forwarded-Host."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, root_path=root_path, proxy_headers=False, log_level="warning"))
    server.run(sockets=[sock])
    if not server.started:
        raise ArenaError("the rating server stopped while starting (see the messages above)")
