"""HTTP for the rating form: server-rendered pages, one small script for keyboard shortcuts, strict
headers (no framing, no referrer: the personal token is in the URL), CSRF tokens on every POST."""

from __future__ import annotations

import secrets
from pathlib import Path

from arena.report.safe_markdown import render_markdown
from arena.web.app import RateSettings, RatingService, TokenBuckets, VoteRejected

TEMPLATES = Path(__file__).parent / "templates"
MAX_RENDERED_CHARS = 12_000  # an answer longer than this is cut for display: markdown of hostile text can be slow


def create_app(settings: RateSettings):
    from jinja2 import Environment, FileSystemLoader, select_autoescape
    from markupsafe import Markup
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
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
        return response

    def refuse(status: int, message: str) -> HTMLResponse:
        return page("message.html", status=status, title="Not accepted", message=message)

    def rate_page(token: str, saved: bool) -> HTMLResponse:
        rater = service.rater(token)
        if rater is None:
            return refuse(403, "This link is not valid (unknown or revoked).")
        assignment = service.current_assignment(rater["id"])
        done = service.progress(rater["id"])
        if assignment is None:
            return page("message.html", title="All done", message=f"Thank you, {rater['name']}: you rated {done} items.",
                        done=done, total=service.quota, saved=saved)
        prompt = service.prompt_set.by_id[assignment["question_id"]]
        answers = {side: Markup(render_markdown(service.answers[assignment[f"{side}_model"]][prompt.id].text,
                                                MAX_RENDERED_CHARS))
                   for side in ("left", "right")}
        return page("rate.html", rater=rater["name"], turns=prompt.turns, left=answers["left"], right=answers["right"],
                    assignment=assignment, token=token, done=done, total=service.quota, saved=saved)

    async def show(request: Request):
        return await run_in_threadpool(rate_page, request.path_params["token"], "saved" in request.query_params)

    async def vote(request: Request):
        token = request.path_params["token"]
        origin = request.headers.get("origin")
        if origin and origin not in (f"{request.url.scheme}://{request.url.netloc}", "null"):
            return refuse(403, "cross-site form submissions are not accepted")
        rater = await run_in_threadpool(service.rater, token)
        if rater is None:
            return refuse(403, "This link is not valid (unknown or revoked).")
        if not limiter.allow(token):
            return refuse(429, "Too many votes in a short time; wait a moment and try again.")
        try:
            form = await request.form()
        except Exception:  # the multipart parser's own errors for a body that is not a form
            return refuse(400, "The request body is not a form.")
        values = {name: form.get(name) for name in ("assignment", "csrf", "choice", "comment")}
        if any(value is not None and not isinstance(value, str) for value in values.values()):
            return refuse(400, "Only text fields are accepted (no file uploads).")
        if values["comment"] is None:
            values["comment"] = ""
        if any(value is None for value in values.values()) or not values["assignment"].isascii() \
                or not values["assignment"].isdigit():
            return refuse(400, "The form is incomplete or malformed (assignment, csrf and choice are required).")
        assignment_id, fields = int(values["assignment"]), (values["csrf"], values["choice"], values["comment"])
        try:
            await run_in_threadpool(service.record_vote, rater, assignment_id, *fields)
        except VoteRejected as exc:
            return refuse(exc.status, str(exc))
        return RedirectResponse(f"/r/{token}?saved=1", status_code=303)

    async def home(request: Request):
        return page("message.html", title="arena rating", message="Open the personal link you were given to start rating.")

    async def health(request: Request):
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/", home), Route("/healthz", health), Route("/r/{token}", show),
                            Route("/r/{token}/vote", vote, methods=["POST"])])
    return SecurityHeaders(app)


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
                message["headers"] = [*message.get("headers", []),
                                      *((k, v) for k, v in SECURITY_HEADERS.items() if k not in present)]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def serve(settings: RateSettings, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")
