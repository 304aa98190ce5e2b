import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from conftest import REPO, run_arena_process
from helpers.net import free_port
from helpers.rating import mirrored, prepare, run_load, scratch_schema, start_server

from arena.web import db

POSTGRES_URL_ENV = "ARENA_TEST_POSTGRES_URL"
both_databases = pytest.mark.parametrize("database", ["sqlite", "postgresql"], indirect=True)


def _no_postgres(reason: str):
    """Skip on a developer's machine; in CI (CI=true) the PostgreSQL tests must run, so fail instead."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI must run the PostgreSQL tests: .ci/run sets {POSTGRES_URL_ENV})")
    pytest.skip(reason)


@pytest.fixture
def database(request):
    """The votes database of one test: None for the default SQLite file in the results folder, else the URL
    of a PostgreSQL schema of its own (created for the test and dropped after it)."""
    if getattr(request, "param", "sqlite") == "sqlite":
        yield None
        return
    url = os.environ.get(POSTGRES_URL_ENV)
    if not url:
        _no_postgres(
            f"no PostgreSQL: set {POSTGRES_URL_ENV}=postgresql://USER:PASSWORD@HOST/DATABASE (a role "
            "that may create schemas there) to run the rating tests on it"
        )
    import sqlalchemy.exc

    with contextlib.ExitStack() as stack:
        try:
            scratch = stack.enter_context(scratch_schema(url))
        except sqlalchemy.exc.OperationalError as exc:
            _no_postgres(f"PostgreSQL at {POSTGRES_URL_ENV} is not reachable: {str(exc.orig).strip()}")
        yield scratch


@pytest.fixture
def rating_server(tmp_path, database):
    """Real `arena rate serve` processes on loopback over three models' answers on the sample set, on the
    test's database (`db`: the options that name it, for the CLI)."""
    results = tmp_path / "results"
    models = prepare(results)
    port = free_port()
    env = {**os.environ}
    db_options = ["--db", database] if database else []
    servers = []

    def start(*extra, port=port):
        server = start_server(results, models, port, env, (*db_options, *extra))
        servers.append(server)
        return server

    engine = db.connect(database or db.default_db_url(results))
    yield {
        "results": results,
        "models": models,
        "base": f"http://127.0.0.1:{port}",
        "port": port,
        "start": start,
        "engine": engine,
        "db": db_options,
    }
    for server in servers:
        if server.poll() is None:
            server.terminate()
            server.wait()
    engine.dispose()


def assert_mirror_is_the_database(results, engine):
    """human.jsonl holds each vote of the database once, and nothing else."""
    lines = mirrored(results)
    votes = db.all_votes(engine)
    assert len({line["judgment_id"] for line in lines}) == len(lines) == len(votes)
    assert sorted(line["meta"]["vote_id"] for line in lines) == [v["id"] for v in votes]


@both_databases
def test_rate_in_a_real_browser_then_ratings_see_the_votes(cli, rating_server, browser):
    results, dbo = rating_server["results"], rating_server["db"]
    link = cli("rate", "add-rater", "alice", "--results", results, *dbo, "--base-url", rating_server["base"])
    assert link.code == 0 and re.fullmatch(r"http://127\.0\.0\.1:\d+/r/[A-Za-z0-9_-]{43}", link.out.strip())
    rating_server["start"]()
    page = browser.new_page()
    page.goto(link.out.strip())
    assert page.inner_text("#progress-text") == "0 / 36"
    assert page.locator("#question .turn").count() >= 1
    assert page.locator("#answer-left").inner_text().startswith("Left answer")
    assert "model-" not in page.inner_text("#answer-left").split("\n")[0]
    # Item 1 by keyboard: 1 = left is better, Enter saves.
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    page.wait_for_selector("#saved")
    assert page.inner_text("#progress-text") == "1 / 36"
    # Item 2 by mouse, with a comment.
    page.click("text=Right is better")
    page.fill("textarea[name=comment]", "the right one is clearer")
    page.click("#submit")
    page.wait_for_selector("#saved")
    assert page.inner_text("#progress-text") == "2 / 36"
    # Item 3 by keyboard: 3 = tie.
    page.keyboard.press("3")
    page.keyboard.press("Enter")
    page.wait_for_selector("#saved")
    assert page.inner_text("#progress-text") == "3 / 36"
    page.close()

    votes = db.all_votes(rating_server["engine"])
    assert [v["choice"] for v in votes] == ["left", "right", "tie"] and votes[1][
        "comment"
    ] == "the right one is clearer"
    assert len({v["question_id"] + v["left_model"] + v["right_model"] for v in votes}) == 3
    assert_mirror_is_the_database(results, rating_server["engine"])
    rows = cli(
        "ratings",
        "--results",
        results,
        "--benchmark",
        "sample",
        "--judge",
        "human",
        "--format",
        "json",
        "--orderings",
        "100",
    ).json()
    assert sum(r["matches"] for r in rows) == 6 and sum(r["ties"] for r in rows) == 2
    listing = cli("rate", "raters", "--results", results, *dbo)
    assert "alice" in listing.out and "3" in listing.out
    exported = cli("rate", "export", "--results", results, *dbo, "--format", "jsonl")
    assert [json.loads(line)["choice"] for line in exported.out.splitlines()] == ["left", "right", "tie"]
    csv_out = cli("rate", "export", "--results", results, *dbo, "--format", "csv").out.splitlines()
    assert csv_out[0].startswith("vote_id,benchmark,question_id,rater") and len(csv_out) == 4


def _form(page_html: str) -> dict:
    return {
        "assignment": re.search(r'name="assignment" value="(\d+)"', page_html).group(1),
        "csrf": re.search(r'name="csrf" value="([^"]+)"', page_html).group(1),
        "choice": "left",
    }


@both_databases
def test_every_bad_request_is_refused_and_stores_nothing(cli, rating_server):
    results, engine, dbo = rating_server["results"], rating_server["engine"], rating_server["db"]
    alice = cli("rate", "add-rater", "alice", "--results", results, *dbo).out.strip().rsplit("/", 1)[1]
    bob = cli("rate", "add-rater", "bob", "--results", results, *dbo).out.strip().rsplit("/", 1)[1]
    carol = cli("rate", "add-rater", "carol", "--results", results, *dbo).out.strip().rsplit("/", 1)[1]
    assert cli("rate", "add-rater", "alice", "--results", results, *dbo).code == 2
    assert cli("rate", "revoke", "carol", "--results", results, *dbo).code == 0
    rating_server["start"]("--burst", "6", "--votes-per-minute", "1")
    base = rating_server["base"]
    with httpx.Client(base_url=base) as client:
        assert client.get("/r/not-a-token").status_code == 403
        assert client.get(f"/r/{carol}").status_code == 403
        assert client.get("/r/..%2F..%2Fetc%2Fpasswd").status_code in (403, 404)
        page = client.get(f"/r/{alice}")
        assert page.status_code == 200 and page.headers["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        form = _form(page.text)
        bob_form = _form(client.get(f"/r/{bob}").text)
        refused = [
            (client.post(f"/r/{alice}/vote", data={**form, "choice": "model-1"}), 422),  # forged side
            (client.post(f"/r/{alice}/vote", data={**form, "csrf": "wrong"}), 403),
            (client.post(f"/r/{alice}/vote", data={**bob_form}), 403),  # bob's item
            (client.post(f"/r/{alice}/vote", data={"choice": "left"}), 400),
            (client.post(f"/r/{alice}/vote", data={**form, "assignment": "abc"}), 400),
            (
                client.post(
                    f"/r/{alice}/vote", content=b"\x00\xff", headers={"content-type": "multipart/form-data; boundary=x"}
                ),
                400,
            ),
            (client.post(f"/r/{carol}/vote", data=form), 403),
            (client.post(f"/r/{alice}/vote", data=form, headers={"origin": "http://evil.example"}), 403),
        ]
        for response, status in refused:
            assert response.status_code == status, (status, response.text[:300])
        assert db.all_votes(engine) == []
        # Six posts by alice reached the limiter above (its burst); a valid vote now hits the rate limit.
        limited = client.post(f"/r/{alice}/vote", data=form)
        assert limited.status_code == 429
        assert db.all_votes(engine) == []


@both_databases
def test_duplicate_posts_at_once_store_one_vote(cli, rating_server):
    """Twenty copies of one vote posted together (a double click, a retrying proxy): one is saved, the rest
    are told it is already rated; one vote in the database, one line in the mirror."""
    results, dbo = rating_server["results"], rating_server["db"]
    token = cli("rate", "add-rater", "dave", "--results", results, *dbo).out.strip().rsplit("/", 1)[1]
    rating_server["start"]()
    base = rating_server["base"]
    form = _form(httpx.get(f"{base}/r/{token}").text)

    async def post_twenty():
        async with httpx.AsyncClient(base_url=base, limits=httpx.Limits(max_connections=20)) as client:
            return await asyncio.gather(*(client.post(f"/r/{token}/vote", data=form) for _ in range(20)))

    with ThreadPoolExecutor(1) as pool:  # the session's Playwright browser keeps an event loop in this thread
        statuses = sorted(r.status_code for r in pool.submit(asyncio.run, post_twenty()).result())
    assert statuses == [303] + [409] * 19
    again = httpx.post(f"{base}/r/{token}/vote", data=form)
    assert again.status_code == 409 and "already rated" in again.text
    assert len(db.all_votes(rating_server["engine"])) == 1
    assert_mirror_is_the_database(results, rating_server["engine"])


@pytest.mark.slow
def test_load_50_raters_20_votes_with_a_sigkill_in_the_middle(rating_server):
    engine = rating_server["engine"]
    tokens = [db.add_rater(engine, f"r{i}") for i in range(50)]
    holder = {"server": rating_server["start"]()}

    def kill_and_restart():
        os.kill(holder["server"].pid, signal.SIGKILL)
        holder["server"].wait()
        holder["server"] = rating_server["start"]()

    # Its own thread: the session's Playwright browser keeps an event loop running in this one.
    with ThreadPoolExecutor(1) as pool:
        outcome = pool.submit(
            asyncio.run, run_load(rating_server["base"], tokens, 20, kill_and_restart, kill_after=300)
        ).result()
    votes = db.all_votes(engine)
    assert len(votes) == 1000
    assert len({v["assignment_id"] for v in votes}) == 1000
    assert len({(v["name"], v["question_id"], v["left_model"], v["right_model"]) for v in votes}) == 1000
    stored = {v["assignment_id"] for v in votes}
    assert all(assignment in stored for _, assignment in outcome["saved"])
    lines = (rating_server["results"] / "sample" / "judgments" / "human.jsonl").read_text().splitlines()
    assert len({json.loads(line)["judgment_id"] for line in lines}) == 1000
    print(f"load: 1000 votes, p50 {outcome['p50'] * 1000:.0f} ms, p95 {outcome['p95'] * 1000:.0f} ms")


@pytest.mark.slow
@both_databases
def test_two_servers_on_one_database_one_killed_mid_load(rating_server):
    """Two servers on one database and one results folder, 20 raters spread over them, the first killed by
    SIGKILL half-way and never restarted; its raters go on with the other (what a proxy does). Every vote
    answered "saved" is stored, none twice, no rater gets an item twice, and the survivor's sweep mirrors
    what the killed server left unmirrored."""
    engine, results = rating_server["engine"], rating_server["results"]
    tokens = [db.add_rater(engine, f"r{i}") for i in range(20)]
    other_port = free_port()
    first = rating_server["start"]("--mirror-every", "1")
    rating_server["start"]("--mirror-every", "1", port=other_port)

    def kill_first():
        os.kill(first.pid, signal.SIGKILL)
        first.wait()

    bases = [rating_server["base"], f"http://127.0.0.1:{other_port}"]
    with ThreadPoolExecutor(1) as pool:  # the session's Playwright browser keeps an event loop in this thread
        outcome = pool.submit(asyncio.run, run_load(bases, tokens, 10, kill_first, kill_after=100)).result()
    assert first.returncode == -signal.SIGKILL
    votes = db.all_votes(engine)
    assert len(votes) == 200 and len({v["assignment_id"] for v in votes}) == 200
    assert len({(v["name"], v["question_id"], v["left_model"], v["right_model"]) for v in votes}) == 200
    stored = {v["assignment_id"] for v in votes}
    # At most one vote per rater of the killed server was in flight, stored or not but never answered.
    assert len(outcome["saved"]) >= 190 and all(assignment in stored for _, assignment in outcome["saved"])
    with engine.connect() as conn:
        served = conn.execute(db.assignments.select()).fetchall()
    assert len({(row.rater_id, row.item_id) for row in served}) == len(served)
    # Whatever the kill left, made certain: a vote committed by a server killed before it wrote the mirror,
    # and one written but not marked. The survivor's sweep writes the first and does not write the second again.
    voted = {v["assignment_id"] for v in votes}
    open_assignment = next(row for row in served if row.id not in voted)
    with engine.begin() as conn:
        conn.execute(
            db.votes.insert().values(
                assignment_id=open_assignment.id, choice="tie", comment="", created=db.now(), synced=False
            )
        )
        conn.execute(db.votes.update().where(db.votes.c.id == votes[0]["id"]).values(synced=False))
    deadline = time.time() + 15
    while db.all_votes(engine, unsynced=True) and time.time() < deadline:
        time.sleep(0.2)
    assert len(db.all_votes(engine)) == 201
    assert_mirror_is_the_database(results, engine)


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_more_raters_at_once_than_pooled_connections(rating_server):
    """40 raters at once on one server whose PostgreSQL pool holds 15 connections: a page that held one
    connection while waiting for a second deadlocked the pool and answered 500 after 30 s."""
    engine = rating_server["engine"]
    tokens = [db.add_rater(engine, f"r{i}") for i in range(40)]
    rating_server["start"]()
    with ThreadPoolExecutor(1) as pool:  # the session's Playwright browser keeps an event loop in this thread
        outcome = pool.submit(asyncio.run, run_load(rating_server["base"], tokens, 2)).result()
    assert len(outcome["saved"]) == len(db.all_votes(engine)) == 80


@both_databases
def test_no_form_field_gives_a_500(cli, rating_server):
    """Numbers too long for an id (5,000 digits: Python's int() refuses over 4,300) and every field of the
    vote form at 1 MB, as a form and as multipart: a 4xx each, nothing stored."""
    results, engine = rating_server["results"], rating_server["engine"]
    alice = cli("rate", "add-rater", "alice", "--results", results, *rating_server["db"]).out.strip().rsplit("/", 1)[1]
    rating_server["start"]()
    megabyte, fifty_kb = "9" * 1_000_000, "9" * 50_000
    with httpx.Client(base_url=rating_server["base"], timeout=60) as client:
        form = _form(client.get(f"/r/{alice}").text)
        refused = [
            ({**form, "assignment": "7" * 5000}, 400),
            ({**form, "assignment": "0" * 4999 + "1"}, 400),
            ({**form, "assignment": str(db.MAX_ID)}, 403),  # in range, nobody's: the database is asked
            ({**form, "assignment": fifty_kb}, 400),
            ({**form, "csrf": fifty_kb}, 403),
            ({**form, "choice": fifty_kb}, 422),
            ({**form, "comment": fifty_kb}, 422),
            *(({**form, field: megabyte}, 413) for field in ("assignment", "csrf", "choice", "comment")),
        ]
        for data, status in refused:
            response = client.post(f"/r/{alice}/vote", data=data)
            assert response.status_code == status, (status, response.text[:300])
            assert len(response.content) < 20_000  # nothing hostile echoed back
        for field in ("assignment", "csrf", "choice", "comment"):
            fields = {**form, field: megabyte}
            response = client.post(f"/r/{alice}/vote", files={k: (None, v) for k, v in fields.items()})
            assert 400 <= response.status_code < 500, (field, response.status_code)
        assert db.all_votes(engine) == []
        assert client.post(f"/r/{alice}/vote", data=form).status_code == 303
    assert len(db.all_votes(engine)) == 1


def test_a_field_that_is_not_utf8_is_refused_by_name(cli, rating_server):
    """comment=\\xff\\xfe, percent-encoded, raw or in a multipart part: 400 naming the field, nothing stored
    (it used to be stored as the mojibake 'ÿþ'); a comment in any language is still taken."""
    from urllib.parse import urlencode

    results, engine = rating_server["results"], rating_server["engine"]
    alice = cli("rate", "add-rater", "alice", "--results", results, *rating_server["db"]).out.strip().rsplit("/", 1)[1]
    rating_server["start"]()
    urlencoded = {"content-type": "application/x-www-form-urlencoded"}
    with httpx.Client(base_url=rating_server["base"]) as client:
        form = _form(client.get(f"/r/{alice}").text)
        fields = urlencode(form).encode()
        bodies = [
            (fields + b"&comment=%FF%FE", urlencoded),
            (fields + b"&comment=\xff\xfe", urlencoded),
            (
                b"".join(
                    b'--x\r\ncontent-disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (k.encode(), v)
                    for k, v in [*((k, v.encode()) for k, v in form.items()), ("comment", b"\xff\xfe")]
                )
                + b"--x--\r\n",
                {"content-type": "multipart/form-data; boundary=x"},
            ),
        ]
        for body, headers in bodies:
            response = client.post(f"/r/{alice}/vote", content=body, headers=headers)
            assert response.status_code == 400, response.text[:300]
            assert "form field &#39;comment&#39; is not valid UTF-8" in response.text, response.text[:500]
        assert db.all_votes(engine) == []
        response = client.post(f"/r/{alice}/vote", data={**form, "comment": "Модель: ясно, café"})
        assert response.status_code == 303
    assert [v["comment"] for v in db.all_votes(engine)] == ["Модель: ясно, café"]


def test_serve_checks_everything_before_announcing_the_form(cli, rating_server):
    """A busy port, one model, an unknown prompt set: one line each, exit 2, and never "rating form on"."""
    results, models = rating_server["results"], rating_server["models"]
    serve = ("rate", "serve", "--benchmark", "sample", "--results", results)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        finished = run_arena_process(*serve, "--models", *models, "--port", port, timeout=60)
    assert finished.returncode == 2, finished.stderr
    assert finished.stderr.strip().splitlines() == [
        (
            f"arena: error: port {port} on 127.0.0.1 is already in use (another server?): stop it or choose another "
            "with --port"
        )
    ]
    assert "rating form on" not in finished.stdout + finished.stderr
    for bad in (("--models", models[0]), ("--models", *models, "--benchmark", "no-such-set")):
        outcome = cli(*serve, *bad, "--port", free_port())
        assert outcome.code == 2 and len(outcome.err.strip().splitlines()) == 1, outcome.err
        assert "rating form on" not in outcome.err + outcome.out
    outcome = cli(*serve, "--models", *models, "--forwarded-allow-ips", "10.0.0.300")
    assert outcome.code == 2 and "--forwarded-allow-ips: '10.0.0.300' is not an IP address" in outcome.err
    outcome = cli(*serve, "--models", *models, "--root-path", "rate")
    assert outcome.code == 2 and "--root-path 'rate': a sub-path starts with '/'" in outcome.err


def test_a_postgresql_url_without_its_driver_names_the_extra(cli, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if psycopg were not installed
    outcome = cli("rate", "add-rater", "alice", "--results", tmp_path, "--db", "postgresql://arena:secret@db/arena")
    assert outcome.code == 2
    assert outcome.err.strip() == (
        "arena: error: the ratings database postgresql://arena:***@db/arena needs the Python driver 'psycopg', which "
        "is not installed: install arena with its 'web' extra, which brings it: pip install -e '.[web]'"
    )
    manifests = [path.read_text() for path in (tmp_path / "runs").glob("*.json")]
    assert manifests and all("postgresql://arena:***@db/arena" in m and "secret" not in m for m in manifests)


@contextlib.contextmanager
def reverse_proxy(backend: str, prefix: str):
    """A small reverse proxy on loopback, set up as nginx usually is: it serves `backend` under `prefix`
    (stripped before forwarding), tells it the public host and scheme in X-Forwarded-Host/-Proto, and passes
    redirects back unchanged. Yields its public base URL."""
    import threading

    from aiohttp import ClientSession, web

    port, ready, stopping = free_port(), threading.Event(), {}
    hop_by_hop = {"host", "connection", "content-length", "transfer-encoding", "keep-alive"}

    async def forward(request: web.Request) -> web.StreamResponse:
        if not request.raw_path.startswith(prefix + "/"):
            return web.Response(status=404, text="not proxied")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in hop_by_hop}
        headers.update({"X-Forwarded-Host": request.host, "X-Forwarded-Proto": request.scheme})
        async with request.app["session"].request(
            request.method,
            backend + request.raw_path[len(prefix) :],
            headers=headers,
            data=await request.read(),
            allow_redirects=False,
        ) as upstream:
            return web.Response(
                status=upstream.status,
                body=await upstream.read(),
                headers={k: v for k, v in upstream.headers.items() if k.lower() not in hop_by_hop},
            )

    async def serve():
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", forward)
        async with ClientSession(auto_decompress=False) as session:
            app["session"] = session
            runner = web.AppRunner(app)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            stopping["event"], stopping["loop"] = asyncio.Event(), asyncio.get_running_loop()
            ready.set()
            await stopping["event"].wait()
            await runner.cleanup()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(30)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stopping["loop"].call_soon_threadsafe(stopping["event"].set)
        thread.join(30)


def test_behind_a_reverse_proxy_under_a_sub_path(cli, rating_server, browser):
    """A browser through a proxy that serves the form under /rate: pages, the form's action and the redirect
    after a vote stay under /rate, and the CSRF origin check accepts the proxy's public address, which the
    server learns from X-Forwarded-Host, believed only from --forwarded-allow-ips."""
    results, direct = rating_server["results"], rating_server["base"]
    with reverse_proxy(direct, "/rate") as public:
        link = cli("rate", "add-rater", "alice", "--results", results, "--base-url", f"{public}/rate").out.strip()
        token = link.rsplit("/", 1)[1]
        rating_server["start"]("--root-path", "/rate", "--forwarded-allow-ips", "127.0.0.1")
        page = browser.new_page()
        page.goto(link)
        assert page.inner_text("#progress-text") == "0 / 36"
        assert page.get_attribute("#vote-form", "action") == f"/rate/r/{token}/vote"
        page.keyboard.press("1")
        page.keyboard.press("Enter")
        page.wait_for_selector("#saved")
        assert page.url == f"{link}?saved=1" and page.inner_text("#progress-text") == "1 / 36"
        page.close()
        # The page's no-referrer policy makes Chromium send "Origin: null"; a browser that names the origin
        # names the proxy's address, which the server accepts only because it believes the proxy.
        form = _form(httpx.get(link).text)
        cross_site = httpx.post(f"{link}/vote", data=form, headers={"origin": "http://evil.example"})
        assert cross_site.status_code == 403 and "cross-site" in cross_site.text
        same_site = httpx.post(f"{link}/vote", data=form, headers={"origin": public})
        assert same_site.status_code == 303 and same_site.headers["location"] == f"/rate/r/{token}?saved=1"
        form = _form(httpx.get(link).text)
    # Forwarded headers from an address not allowed (127.0.0.2 is loopback too) are ignored...
    forged = {
        "x-forwarded-host": "rate.example.org",
        "x-forwarded-proto": "https",
        "origin": "https://rate.example.org",
    }
    with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2")) as outsider:
        refused = outsider.post(f"{direct}/r/{token}/vote", data=form, headers=forged)
    assert refused.status_code == 403 and "cross-site" in refused.text
    # ...and believed from the allowed one: host and scheme both count.
    assert (
        httpx.post(
            f"{direct}/r/{token}/vote", data=form, headers={**forged, "origin": "http://rate.example.org"}
        ).status_code
        == 403
    )
    saved = httpx.post(f"{direct}/r/{token}/vote", data=form, headers=forged)
    assert saved.status_code == 303 and saved.headers["location"] == f"/rate/r/{token}?saved=1"
    assert len(db.all_votes(rating_server["engine"])) == 3


@pytest.mark.slow
def test_hostile_requests_get_a_4xx_and_store_nothing(cli, rating_server, tmp_path):
    """Non-ASCII CSRF, out-of-range ids, file uploads, an assignment of another prompt set or of a model no
    longer served: each a 4xx on a kept-alive connection, nothing stored; every response has the headers."""
    from arena.store import Answer, ResultsStore

    results, engine, models = rating_server["results"], rating_server["engine"], rating_server["models"]
    other = tmp_path / "other.jsonl"
    other.write_text(
        '{"question_id": "o1", "text": "Name a colour."}\n{"question_id": "o2", "text": "Name a fruit."}\n'
    )
    assert cli("prompts", "pull", "other", "--from", other).code == 0
    ResultsStore(results).save_answers([Answer("other", q, m, [f"{m} on {q}"]) for q in ("o1", "o2") for m in models])
    alice = cli("rate", "add-rater", "alice", "--results", results).out.strip().rsplit("/", 1)[1]

    # Alice opens an item with model-2 (which the last server will not show) and one of the other set...
    server = subprocess_server(rating_server, "sample", models[1:])
    with httpx.Client(base_url=rating_server["base"]) as client:
        sample_form = _form(client.get(f"/r/{alice}").text)
    server.terminate(), server.wait()
    server = subprocess_server(rating_server, "other", models[1:])
    with httpx.Client(base_url=rating_server["base"]) as client:
        other_form = _form(client.get(f"/r/{alice}").text)
    server.terminate(), server.wait()
    # ...then a server on the sample set with model-0 and model-1 only.
    server = subprocess_server(rating_server, "sample", models[:2])
    with httpx.Client(base_url=rating_server["base"]) as client:
        page = client.get(f"/r/{alice}")
        assert page.status_code == 200, page.text[:300]  # not stuck on an item with a model no longer served
        form = _form(page.text)
        refused = [
            (client.post(f"/r/{alice}/vote", data={**form, "csrf": "jeton-\u00e9\u00e8"}), 403),
            (client.post(f"/r/{alice}/vote", data={**form, "assignment": str(2**63)}), 400),
            (client.post(f"/r/{alice}/vote", data={**form, "assignment": "0"}), 400),
            (client.post(f"/r/{alice}/vote", data={**form, "assignment": "\u0661"}), 400),  # an Arabic-Indic one
            (client.post(f"/r/{alice}/vote", data=form, files={"comment": ("c.txt", b"hello")}), 400),
            (client.post(f"/r/{alice}/vote", data=other_form), 409),  # another prompt set's assignment
            (client.post(f"/r/{alice}/vote", data=sample_form), 409),  # a model this server does not show
        ]
        for response, status in refused:
            assert response.status_code == status, (status, response.text[:300])
        assert db.all_votes(engine) == []
        assert not (results / "sample" / "judgments" / "human.jsonl").exists()
        saved = client.post(f"/r/{alice}/vote", data=form)
        responses = [saved, client.get("/healthz"), client.get("/nowhere"), client.delete(f"/r/{alice}/vote"), page]
        assert [r.status_code for r in responses[:4]] == [303, 200, 404, 405]
        for response in responses:
            assert response.headers["x-content-type-options"] == "nosniff", response.status_code
            assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
            assert response.headers["referrer-policy"] == "no-referrer"
    server.terminate(), server.wait()
    assert len(db.all_votes(engine)) == 1


def subprocess_server(rating_server, benchmark, models):
    import subprocess

    port = int(rating_server["base"].rsplit(":", 1)[1])
    command = [
        sys.executable,
        "-m",
        "arena",
        "rate",
        "serve",
        "--benchmark",
        benchmark,
        "--models",
        *models,
        "--results",
        str(rating_server["results"]),
        "--port",
        str(port),
    ]
    server = subprocess.Popen(command, env={**os.environ}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(300):
        try:
            if httpx.get(f"{rating_server['base']}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if server.poll() is not None:
            raise RuntimeError(server.stderr.read().decode()[-2000:])
        import time

        time.sleep(0.1)
    raise RuntimeError("server did not start")


def test_a_huge_hostile_answer_renders_quickly(cli, tmp_path):
    import time

    from starlette.testclient import TestClient

    from arena.report.safe_markdown import render_markdown
    from arena.store import Answer, ResultsStore
    from arena.web.app import RateSettings
    from arena.web.server import MAX_RENDERED_CHARS, create_app

    results = tmp_path / "results"
    sample_ids = [
        p["question_id"] for p in map(json.loads, (REPO / "prompts" / "sample.jsonl").read_text().splitlines())
    ]
    store = ResultsStore(results)
    store.save_answers([Answer("sample", q, "hostile", ["![" * 500_000]) for q in sample_ids])
    store.save_answers([Answer("sample", q, "plain", ["a short answer"]) for q in sample_ids])
    token = cli("rate", "add-rater", "eve", "--results", results).out.strip().rsplit("/", 1)[1]
    app = create_app(RateSettings("sample", ("hostile", "plain"), results, db.default_db_url(results)))
    with TestClient(app) as client:
        times = []
        for _ in range(2):
            started = time.perf_counter()
            page = client.get(f"/r/{token}")
            times.append(time.perf_counter() - started)
            assert page.status_code == 200 and "answer cut here for display" in page.text
    # Ratios measured now, not fixed times: the first page costs about what MAX_RENDERED_CHARS of the same text
    # costs (the million characters would take minutes), and the second comes from the cache.
    started = time.perf_counter()
    render_markdown("![" * (MAX_RENDERED_CHARS // 2 + 1))
    capped = time.perf_counter() - started
    assert times[0] < 4 * capped and times[1] < times[0] / 2, (times, capped)


def test_an_export_with_no_votes_still_has_its_full_header(cli, tmp_path):
    result = cli("rate", "export", "--results", tmp_path / "r", "--format", "csv")
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        "vote_id,benchmark,question_id,rater,left_model,right_model,choice,comment,created"
    ]
