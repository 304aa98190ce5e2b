import re
import time
from pathlib import Path

import pytest
from conftest import shared_path

from arena.store import Answer, Judgment, ResultsStore

XSS_ANSWER = (
    'Here is my answer.\n\n<script>window.__xss = 1; alert("script")</script>\n\n'
    "<img src=x onerror=\"window.__xss = 2; alert('img')\">\n\n[click me](javascript:alert(3))\n\n"
    '```python\nprint("code stays code")\n```'
)


@pytest.fixture
def imported(cli, tmp_path):
    assert (
        cli("prompts", "pull", "vicuna80", "--from", shared_path("benchmarks", "vicuna80", "questions.jsonl")).code == 0
    )
    results = tmp_path / "results"
    ratings = shared_path("published", "qlora-vicuna-pairwise-sample", "ratings")
    assert cli("import", "qlora", ratings, "--benchmark", "vicuna80", "--results", results).code == 0
    return results


@pytest.mark.slow
def test_report_from_the_published_sample_in_a_browser(cli, imported, tmp_path, browser):
    out = tmp_path / "report"
    result = cli(
        "report",
        "--benchmark",
        "vicuna80",
        "--results",
        imported,
        "--out",
        out,
        "--orderings",
        "500",
        "--bootstrap",
        "200",
    )
    assert result.code == 0, result.err
    assert Path(result.out.strip()) == (out / "index.html").resolve()
    assert {p.name for p in out.glob("*.svg")} >= {
        "elo-gpt-4.svg",
        "bt-gpt-4.svg",
        "winrate-gpt-4.svg",
        "categories-gpt-4.svg",
        "position-bias.svg",
    }
    page = browser.new_page()
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto((out / "index.html").as_uri())
    page.wait_for_selector("body[data-battles-ready='1']", timeout=10_000)
    assert page.locator("#elo-gpt-4 tbody tr").count() == 3
    assert page.locator("#bt-gpt-4 tbody tr").first.locator("td").first.inner_text() == "guanaco-33b"
    assert page.locator("svg[aria-label^='Observed win rate']").count() == 1
    assert page.locator("svg[aria-label^='Predicted win probability']").count() == 1
    assert page.locator("svg[aria-label^='Share of points by category']").count() == 1
    assert "page 1 of 24 · 480 battles" in page.inner_text("#page-info")
    math_questions = shared_path("benchmarks", "vicuna80", "questions.jsonl").read_text().count('"category": "math"')
    page.select_option("#f-category", "math")
    assert f"of 1 · {math_questions * 6} battles" in page.inner_text("#page-info")
    page.select_option("#f-category", "")
    page.select_option("#f-model", "guanaco-7b")
    assert "· 320 battles" in page.inner_text("#page-info")
    page.click("#next")
    assert "page 2 of 16" in page.inner_text("#page-info")
    first = page.locator(".battle").first
    assert "Time management" not in first.inner_text() and first.locator(".answer").count() == 2
    assert "gpt-4 [pairwise]" in first.inner_text()
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert all(url.startswith("file://") for url in requests), requests
    page.close()


def _xss_store(results: Path) -> None:
    store = ResultsStore(results)
    store.save_answers(
        [Answer("sample", "s01", "evil", [XSS_ANSWER]), Answer("sample", "s01", "good", ["A **fine** answer."])]
    )
    store.save_judgments(
        [
            Judgment(
                "sample",
                "s01",
                "evil",
                "good",
                "gpt-4",
                "pairwise",
                "B",
                explanation="<script>window.__xss = 3</script> judged",
            ),
            Judgment("sample", "s01", "good", "evil", "gpt-4", "pairwise", "A"),
        ]
    )


def test_untrusted_answers_stay_inert(cli, tmp_path, browser):
    _xss_store(tmp_path / "results")
    out = tmp_path / "report"
    assert (
        cli(
            "report",
            "--benchmark",
            "sample",
            "--results",
            tmp_path / "results",
            "--out",
            out,
            "--orderings",
            "100",
            "--bootstrap",
            "50",
        ).code
        == 0
    )
    html = (out / "index.html").read_text()
    assert "<script>window.__xss" not in html and "onerror=" not in html.split('id="battle-data"')[0]
    page = browser.new_page()
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto((out / "index.html").as_uri())
    page.wait_for_selector("body[data-battles-ready='1']")
    page.select_option("#f-model", "evil")
    evil = page.locator(".answer", has_text="evil").first
    text = evil.inner_text()
    assert '<script>window.__xss = 1; alert("script")</script>' in text
    assert "onerror" in text and evil.locator("img").count() == 0 and evil.locator("script").count() == 0
    assert evil.locator("pre code").inner_text().strip() == 'print("code stays code")'
    assert evil.locator("a[href^='javascript']").count() == 0
    page.mouse.wheel(0, 2000)
    # Nothing in the battles could ever run: no script, no image, no element with an on... handler attribute.
    assert (
        page.evaluate("""() => [...document.querySelectorAll('#battles *')].filter((e) =>
        ['SCRIPT', 'IMG', 'IFRAME', 'OBJECT', 'EMBED'].includes(e.tagName)
        || [...e.attributes].some((a) => a.name.startsWith('on'))).length""")
        == 0
    )
    assert dialogs == [] and page.evaluate("window.__xss") is None
    assert "<script>window.__xss = 3</script> judged" in page.inner_text("#battles")
    page.close()


def test_relative_section_with_both_orders(cli, tmp_path):
    store = ResultsStore(tmp_path / "r")
    store.save_judgments(
        [
            Judgment("sample", q, a, b, "gpt-4", "relative", "A" if sa > sb else "B", score_a=sa, score_b=sb)
            for q, (a, b, sa, sb) in enumerate(
                [("x", "base", 8, 7), ("base", "x", 9, 6), ("x", "base", 7, 8), ("base", "x", 5, 8)]
            )
        ]
    )
    out = tmp_path / "rep"
    assert (
        cli(
            "report",
            "--benchmark",
            "sample",
            "--results",
            tmp_path / "r",
            "--out",
            out,
            "--bootstrap",
            "50",
            "--baseline",
            "base",
        ).code
        == 0
    )
    html = (out / "index.html").read_text()
    assert "Score as % of base" in html and "candidate_first" in html and "baseline_first" in html
    assert (out / "relative-gpt-4.svg").exists()


def test_report_without_judgments(cli, tmp_path):
    result = cli("report", "--benchmark", "sample", "--results", tmp_path / "empty")
    assert result.code == 2 and "no pairwise or relative judgments" in result.err


def test_report_names_judges_without_judgments(cli, tmp_path):
    ResultsStore(tmp_path / "r").save_judgments(
        [Judgment("sample", q, "x", "y", "gpt-4", "pairwise", "A") for q in ("1", "2")]
    )
    for asked in (["gpt-4", "nosuchjudge"], ["human"]):
        args = [a for judge in asked for a in ("--judge", judge)]
        result = cli("report", "--benchmark", "sample", "--results", tmp_path / "r", "--out", tmp_path / "o", *args)
        assert result.code == 2 and "Traceback" not in result.err
        assert f"no judgments by {asked[-1]}" in result.err and "judges with judgments there: gpt-4" in result.err
        assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_big_set_stays_light_and_opens_fast(tmp_path, browser):
    from helpers.report_store import build_big_store

    results = build_big_store(tmp_path / "results", models=8)
    from arena.report.builder import build_report
    from arena.report.options import ReportOptions

    options = ReportOptions("oa-synthetic", tmp_path / "report", orderings=200, bootstrap=50)
    path = build_report(ResultsStore(results), options)
    judgments = len((results / "oa-synthetic" / "judgments" / "gpt-4.jsonl").read_text().splitlines())
    assert judgments > 50_000
    size = path.stat().st_size
    assert size < 30 * 2**20
    page = browser.new_page()
    started = time.perf_counter()
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-battles-ready='1']", timeout=30_000)
    opened = time.perf_counter() - started
    assert re.search(r"of \d+ · \d+ battles", page.inner_text("#page-info"))
    page.close()
    # The opening-time target (< 3 s) is measured by benchmarks/report_scale.py: on a shared machine a fixed
    # time in a test fails on noise, so here it only has to open and stay within the timeout above.
    print(f"big report: {judgments} judgments, {size / 2**20:.1f} MiB, opened in {opened:.2f} s")


def test_names_with_markup_are_text_in_headings_and_tables(cli, tmp_path):
    """The page template escapes every model, judge and label string (autoescape): none of them becomes an
    element, and the page holds exactly its two own scripts and its own stylesheet."""
    from html.parser import HTMLParser

    model, judge, label = "<b id=m>mdl</b>", "<i>judge</i>", '<img src=x onerror="alert(1)"> & co'
    ResultsStore(tmp_path / "r").save_judgments(
        [
            Judgment("sample", f"s0{i}", a, b, judge, "pairwise", v, meta={"judge_label": label})
            for i, (a, b, v) in enumerate([(model, "plain", "A"), ("plain", model, "B"), (model, "plain", "tie")])
        ]
    )
    out = tmp_path / "rep"
    assert (
        cli(
            "report",
            "--benchmark",
            "sample",
            "--results",
            tmp_path / "r",
            "--out",
            out,
            "--orderings",
            "20",
            "--bootstrap",
            "20",
        ).code
        == 0
    )

    class Elements(HTMLParser):
        def __init__(self):
            super().__init__(convert_charrefs=True)
            self.tags, self.cells, self.headings, self._in = [], [], [], None

        def handle_starttag(self, tag, attrs):
            self.tags.append(tag)
            self._in = tag if tag in ("td", "h2") else self._in

        def handle_endtag(self, tag):
            self._in = None if tag in ("td", "h2") else self._in

        def handle_data(self, data):
            if self._in == "td":
                self.cells.append(data)
            elif self._in == "h2":
                self.headings.append(data)

    page = Elements()
    page.feed((out / "index.html").read_text())
    assert not {"b", "i", "img"} & set(page.tags)
    assert page.tags.count("script") == 2 and page.tags.count("style") == 1
    assert model in page.cells and "plain" in page.cells
    assert f"Judge: {judge}" in "".join(page.headings) and f"({label})" in "".join(page.headings)
