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
