import asyncio
from concurrent.futures import ThreadPoolExecutor
import json
import os
import re
import signal
import sys

import httpx
import pytest

from arena.web import db
from conftest import REPO
from helpers.net import free_port
from helpers.rating import prepare, run_load, start_server


@pytest.fixture
def rating_server(tmp_path):
    """A real `arena rate serve` process on loopback over three models' answers on the sample set."""
    results = tmp_path / "results"
    models = prepare(results)
    port = free_port()
    env = {**os.environ}
    servers = []

    def start(*extra):
        server = start_server(results, models, port, env, extra)
        servers.append(server)
        return server

    yield {"results": results, "models": models, "base": f"http://127.0.0.1:{port}", "start": start,
           "engine": db.connect(db.default_db_url(results))}
    for server in servers:
        if server.poll() is None:
            server.terminate()
            server.wait()


def test_rate_in_a_real_browser_then_ratings_see_the_votes(cli, rating_server, browser):
    results = rating_server["results"]
    link = cli("rate", "add-rater", "alice", "--results", results, "--base-url", rating_server["base"])
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
    assert [v["choice"] for v in votes] == ["left", "right", "tie"] and votes[1]["comment"] == "the right one is clearer"
    assert len({v["question_id"] + v["left_model"] + v["right_model"] for v in votes}) == 3
    rows = cli("ratings", "--results", results, "--benchmark", "sample", "--judge", "human", "--format", "json",
               "--orderings", "100").json()
    assert sum(r["matches"] for r in rows) == 6 and sum(r["ties"] for r in rows) == 2
    listing = cli("rate", "raters", "--results", results)
    assert "alice" in listing.out and "3" in listing.out
    exported = cli("rate", "export", "--results", results, "--format", "jsonl")
    assert [json.loads(line)["choice"] for line in exported.out.splitlines()] == ["left", "right", "tie"]
    csv_out = cli("rate", "export", "--results", results, "--format", "csv").out.splitlines()
    assert csv_out[0].startswith("vote_id,benchmark,question_id,rater") and len(csv_out) == 4


def _form(page_html: str) -> dict:
    return {"assignment": re.search(r'name="assignment" value="(\d+)"', page_html).group(1),
            "csrf": re.search(r'name="csrf" value="([^"]+)"', page_html).group(1), "choice": "left"}


def test_every_bad_request_is_refused_and_stores_nothing(cli, rating_server):
    results, engine = rating_server["results"], rating_server["engine"]
    alice = cli("rate", "add-rater", "alice", "--results", results).out.strip().rsplit("/", 1)[1]
    bob = cli("rate", "add-rater", "bob", "--results", results).out.strip().rsplit("/", 1)[1]
    carol = cli("rate", "add-rater", "carol", "--results", results).out.strip().rsplit("/", 1)[1]
    assert cli("rate", "add-rater", "alice", "--results", results).code == 2
    assert cli("rate", "revoke", "carol", "--results", results).code == 0
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
            (client.post(f"/r/{alice}/vote", content=b"\x00\xff", headers={"content-type": "multipart/form-data; boundary=x"}), 400),
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


def test_repeated_vote_is_409(cli, rating_server):
    results = rating_server["results"]
    token = cli("rate", "add-rater", "dave", "--results", results).out.strip().rsplit("/", 1)[1]
    rating_server["start"]()
    with httpx.Client(base_url=rating_server["base"]) as client:
        form = _form(client.get(f"/r/{token}").text)
        assert client.post(f"/r/{token}/vote", data=form).status_code == 303
        again = client.post(f"/r/{token}/vote", data=form)
        assert again.status_code == 409 and "already rated" in again.text
    assert len(db.all_votes(rating_server["engine"])) == 1


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
        outcome = pool.submit(asyncio.run, run_load(rating_server["base"], tokens, 20, kill_and_restart,
                                                    kill_after=300)).result()
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
def test_hostile_requests_get_a_4xx_and_store_nothing(cli, rating_server, tmp_path):
    """Non-ASCII CSRF, out-of-range ids, file uploads, an assignment of another prompt set or of a model no
    longer served: each a 4xx on a kept-alive connection, nothing stored; every response has the headers."""
    from arena.store import Answer, ResultsStore

    results, engine, models = rating_server["results"], rating_server["engine"], rating_server["models"]
    other = tmp_path / "other.jsonl"
    other.write_text('{"question_id": "o1", "text": "Name a colour."}\n{"question_id": "o2", "text": "Name a fruit."}\n')
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
    command = [sys.executable, "-m", "arena", "rate", "serve", "--benchmark", benchmark, "--models", *models,
               "--results", str(rating_server["results"]), "--port", str(port)]
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

    from arena.report.safe_markdown import render_markdown
    from arena.store import Answer, ResultsStore
    from arena.web.app import RateSettings
    from arena.web.server import MAX_RENDERED_CHARS, create_app
    from starlette.testclient import TestClient

    results = tmp_path / "results"
    sample_ids = [p["question_id"] for p in map(json.loads, (REPO / "prompts" / "sample.jsonl").read_text().splitlines())]
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
