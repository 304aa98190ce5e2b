"""The report page. Everything model- or user-written is escaped here or rendered by the browser script
with textContent; only answers pre-rendered by the safe markdown renderer are inserted as HTML. A
Content-Security-Policy lets only this page's own script (by nonce) run and forbids any network access."""

from __future__ import annotations

import json
from html import escape

from arena.ratings.leaderboard import COEFFICIENT_COLUMNS, CONTROLLED_COLUMNS, RATING_COLUMNS, RELATIVE_COLUMNS

# The Bradley-Terry table adds how many judgments hold each place (arena.ratings.robustness).
BT_COLUMNS = (*RATING_COLUMNS, "held_by")
HELD_BY_NOTE = (
    '<p class="note">held by N judgments: the fewest judgments whose removal puts the model below '
    "above this one when Bradley-Terry is refit without them (searched up to 10% of the judgments; "
    "<code>arena ratings --method robustness</code> lists them).</p>"
)

CSS = """
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:1180px;padding:0 18px 60px;color:#222}
h1{margin-top:24px} h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:36px}
table{border-collapse:collapse;margin:8px 0 16px} th,td{border:1px solid #ddd;padding:4px 8px;text-align:right}
th{background:#f4f4f4} td:first-child,th:first-child{text-align:left}
.note{color:#666;font-size:13px} .figures{display:flex;flex-wrap:wrap;gap:16px} .figures svg{max-width:100%;height:auto}
.battle{border:1px solid #ddd;border-radius:6px;margin:12px 0;padding:10px}
.answers{display:grid;grid-template-columns:1fr 1fr;gap:12px} .answer{background:#fafafa;padding:6px 10px;overflow:auto;max-height:420px}
.turn{white-space:pre-wrap;margin:4px 0} .role{font-weight:bold;margin-right:6px} .verdict{font-size:13px;margin:4px 0;white-space:pre-wrap}
pre{background:#f0f0f0;padding:8px;overflow:auto} .controls select,.controls button{margin-right:8px}
.badge{display:inline-block;background:#eef;border-radius:4px;padding:0 6px;margin-right:6px}
.toggle button{font-size:13px;margin-left:6px} .toggle button[aria-pressed=true]{font-weight:bold}
"""

SCRIPT = r"""
(function () {
  const state = {data: null, filtered: [], page: 0, size: 20};
  const $ = (id) => document.getElementById(id);
  const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; };
  const verdictName = (v, a, b) => v === 'A' ? a + ' wins' : v === 'B' ? b + ' wins' : v === 'tie' ? 'tie' : 'unreadable (error)';
  function option(select, value, label) { const o = document.createElement('option'); o.value = value; o.textContent = label; select.appendChild(o); }
  function applyFilters() {
    const m = $('f-model').value, c = $('f-category').value, v = $('f-verdict').value, d = state.data;
    state.filtered = d.battles.filter((b) => (m === '' || d.models[b[1]] === m || d.models[b[2]] === m)
      && (c === '' || d.questions[b[0]].c === c) && (v === '' || b[5].some((x) => x[2] === v)));
    state.page = 0; render();
  }
  function render() {
    const d = state.data, list = $('battles'); list.replaceChildren();
    const pages = Math.max(1, Math.ceil(state.filtered.length / state.size));
    $('page-info').textContent = 'page ' + (state.page + 1) + ' of ' + pages + ' · ' + state.filtered.length + ' battles';
    for (const b of state.filtered.slice(state.page * state.size, (state.page + 1) * state.size)) {
      const q = d.questions[b[0]], a = d.models[b[1]], bm = d.models[b[2]];
      const card = el('div', undefined, 'battle'); card.dataset.question = b[0];
      const head = el('div'); head.appendChild(el('span', 'question ' + b[0], 'badge')); head.appendChild(el('span', q.c, 'badge'));
      head.appendChild(el('span', a + ' (shown first) vs ' + bm, 'badge')); card.appendChild(head);
      for (const [role, text] of q.t) { const t = el('div', undefined, 'turn'); t.appendChild(el('span', role + ':', 'role')); t.appendChild(document.createTextNode(text)); card.appendChild(t); }
      const answers = el('div', undefined, 'answers');
      for (const [name, index] of [[a, b[3]], [bm, b[4]]]) {
        const box = el('div', undefined, 'answer'); box.appendChild(el('strong', name));
        const body = el('div'); body.innerHTML = d.answers[index]; box.appendChild(body); answers.appendChild(box);
      }
      card.appendChild(answers);
      for (const [judge, protocol, verdict, text, sa, sb] of b[5]) {
        const scores = sa === null || sa === undefined ? '' : ' (' + Number(sa).toFixed(1) + ' vs ' + Number(sb).toFixed(1) + ')';
        const line = el('div', undefined, 'verdict'); line.appendChild(el('strong', d.judges[judge] + ' [' + (protocol === 'p' ? 'pairwise' : 'relative') + ']: ' + verdictName(verdict, a, bm) + scores));
        if (text) { line.appendChild(document.createElement('br')); line.appendChild(document.createTextNode(text)); }
        card.appendChild(line);
      }
      list.appendChild(card);
    }
  }
  async function load() {
    const encoded = $('battle-data').textContent.trim();
    const bytes = Uint8Array.from(atob(encoded), (ch) => ch.charCodeAt(0));
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
    state.data = JSON.parse(await new Response(stream).text());
    const d = state.data;
    for (const m of d.models) option($('f-model'), m, m);
    for (const c of [...new Set(Object.values(d.questions).map((q) => q.c))].sort()) option($('f-category'), c, c);
    for (const [v, label] of [['A', 'first shown wins'], ['B', 'second shown wins'], ['tie', 'tie'], ['error', 'unreadable']]) option($('f-verdict'), v, label);
    for (const id of ['f-model', 'f-category', 'f-verdict']) $(id).addEventListener('change', applyFilters);
    $('prev').addEventListener('click', () => { if (state.page > 0) { state.page--; render(); } });
    $('next').addEventListener('click', () => { if ((state.page + 1) * state.size < state.filtered.length) { state.page++; render(); } });
    applyFilters();
    document.body.dataset.battlesReady = '1';
  }
  for (const toggle of document.querySelectorAll('.toggle')) {
    for (const button of toggle.querySelectorAll('button')) {
      button.addEventListener('click', () => {
        const heading = toggle.closest('h3');
        let view = heading.nextElementSibling;
        while (view && view.dataset.view) { view.hidden = view.dataset.view !== button.dataset.show; view = view.nextElementSibling; }
        for (const other of toggle.querySelectorAll('button')) other.setAttribute('aria-pressed', String(other === button));
      });
    }
  }
  load().catch((e) => { $('page-info').textContent = 'could not load battles: ' + e; });
})();
"""


def _table(rows: list[dict], columns: tuple[str, ...], table_id: str) -> str:
    def cell(value):
        if value is None:
            return '<span title="fewer decided matches than a meaningful interval needs">n/a</span>'
        if isinstance(value, float):
            return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
        return escape(str(value))

    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{cell(r.get(c, ''))}</td>" for c in columns) + "</tr>" for r in rows)
    return f'<table id="{escape(table_id)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _figures(figures: dict, names: list[str]) -> str:
    shown = [figures[n] for n in names if n in figures]
    return f'<div class="figures">{"".join(shown)}</div>' if shown else ""


def render_page(
    benchmark: str,
    sections: list[dict],
    bias: list[dict],
    agreements: list[dict],
    figures: dict,
    metadata: dict,
    battles: str,
    nonce: str,
    counts: dict,
    mt_bench: list[dict] | None = None,
) -> str:
    from arena.store.results import file_safe

    parts = [
        f"<h1>arena report · {escape(benchmark)}</h1>",
        f'<p class="note">{counts["judgments"]} judgments by {counts["judges"]} judge(s). Each judged answer '
        "order is its own match (QLoRA paper). Elo: start 1000, K=32, mean over random match orders with a 95% "
        "interval. Bradley-Terry: maximum likelihood on the Elo scale, 95% bootstrap interval.</p>",
    ]
    for section in mt_bench or []:  # single-answer grades (MT-bench)
        slug = file_safe(section["judge"])
        parts.append(
            f'<h2 id="mt-bench-{escape(slug)}">MT-bench score · judge {escape(section["judge"])}</h2>'
            + _table(
                section["table"], ("model", "score", "ci", "turn1", "turn2", "graded", "errors"), f"mt-bench-{slug}"
            )
            + '<p class="note">score: mean grade (1-10) over every graded turn; turn1 and turn2 apart; ci: '
            "95% bootstrap interval over questions; unreadable grades are left out and counted as errors.</p>"
            + _figures(figures, [section["figure"]])
        )
    for section in sections:
        judge, slug = section["judge"], file_safe(section["judge"])
        label = f' <span class="note">({escape(section["label"])})</span>' if section.get("label") else ""
        parts.append(f'<h2 id="judge-{escape(slug)}">Judge: {escape(judge)}{label}</h2>')
        if "elo" in section:
            parts.append("<h3>Elo (paper method)</h3>" + _table(section["elo"], RATING_COLUMNS, f"elo-{slug}"))
            if "bt_controlled" in section:
                parts.append(
                    f'<h3>Bradley-Terry <span class="toggle" data-target="bt-{escape(slug)}">'
                    f'<button type="button" data-show="raw" aria-pressed="true">raw</button>'
                    f'<button type="button" data-show="controlled" aria-pressed="false">style-controlled</button></span></h3>'
                    f'<div data-view="raw">{_table(section["bt"], BT_COLUMNS, f"bt-{slug}")}{HELD_BY_NOTE}</div>'
                    f'<div data-view="controlled" hidden>{_table(section["bt_controlled"], CONTROLLED_COLUMNS, f"bt-controlled-{slug}")}'
                    '<p class="note">Controlled for answer length, markdown headers, list items and bold spans: '
                    "logit P(A beats B) = θ_A − θ_B + Σ β·d, d the normalised difference (a−b)/(a+b). rank_change &gt; 0: "
                    "moved up once style is accounted for.</p>"
                    + _table(section["coefficients"], COEFFICIENT_COLUMNS, f"coefficients-{slug}")
                    + "</div>"
                )
            else:
                parts.append("<h3>Bradley-Terry</h3>" + _table(section["bt"], BT_COLUMNS, f"bt-{slug}") + HELD_BY_NOTE)
        if "relative" in section:
            parts.append(
                f"<h3>Score as % of {escape(section['baseline'])} (mean of both orders)</h3>"
                + _table(section["relative"], RELATIVE_COLUMNS, f"relative-{slug}")
            )
        parts.append(
            _figures(
                figures,
                [
                    f"elo-{slug}.svg",
                    f"bt-{slug}.svg",
                    f"relative-{slug}.svg",
                    f"style-{slug}.svg",
                    f"winrate-{slug}.svg",
                    f"predicted-{slug}.svg",
                    f"categories-{slug}.svg",
                ],
            )
        )
    if bias:
        parts.append(
            "<h2>Judge diagnostics</h2>"
            + _table(
                bias,
                (
                    "judge",
                    "decided",
                    "first_wins",
                    "first_win_share",
                    "ci_low",
                    "ci_high",
                    "ties",
                    "errors",
                    "order_pairs",
                    "consistent_pairs",
                    "consistency",
                ),
                "bias",
            )
        )
        parts.append(_figures(figures, ["position-bias.svg"]))
        lengths = [s["length_bias"] for s in sections if "length_bias" in s]
        if lengths:
            parts.append(
                "<h3>Length preference</h3>"
                + _table(
                    lengths,
                    ("judge", "longer_wins_share", "length_beta", "length_beta_low", "length_beta_high"),
                    "length-bias",
                )
                + '<p class="note">longer_wins_share: decided matches won by the longer answer; '
                "length_beta: log-odds per unit of normalised length difference with the models held fixed "
                "(0 = no preference), 95% bootstrap interval.</p>"
            )
    if agreements:
        parts.append(
            "<h2>Judge vs human agreement</h2>"
            + _table(
                agreements,
                (
                    "judge_1",
                    "judge_2",
                    "items",
                    "agreement",
                    "agreement_without_ties",
                    "cohen_kappa",
                    "kendall_tau",
                    "spearman",
                ),
                "agreement",
            )
        )
    parts.append(
        '<h2>Battles</h2><div class="controls"><select id="f-model"><option value="">all models</option></select>'
        '<select id="f-category"><option value="">all categories</option></select>'
        '<select id="f-verdict"><option value="">any verdict</option></select>'
        '<button id="prev" type="button">previous</button><button id="next" type="button">next</button>'
        '<span id="page-info" class="note">loading…</span></div><div id="battles"></div>'
    )
    parts.append("<h2>Run metadata</h2><pre>" + escape(json.dumps(metadata, indent=2, default=str)) + "</pre>")
    csp = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; img-src data:; "
        "connect-src 'none'; base-uri 'none'; form-action 'none'"
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        f"<title>arena report · {escape(benchmark)}</title><style>{CSS}</style></head><body>"
        + "".join(parts)
        + f'<script type="application/octet-stream" id="battle-data">{battles}</script>'
        + f'<script nonce="{nonce}">{SCRIPT}</script></body></html>'
    )
