// One host: what it is, its open drift (baseline against current, the
// content diff where the agent kept one, accept with a reason), its health
// items, its facts by kind with a search, and its history. Live events of
// this host re-read its drift, keeping the items that did not change (and
// a reason being typed into one).

import { call, pages, paths } from './api.js';
import { feed } from './feed.js';
import { h, clear, link, message } from './dom.js';
import {
  attributes, volatileAttrs, content, keyText, kindName, kinds, severityName, changeName, statusName,
  num, nanoToDate, ago, timeText, hexOf, enumName,
} from './display.js';

// diffsShown is how many items' diffs load with the page; the others load
// on a click.
const diffsShown = 10;
const factPage = 200;
const historyShown = 200;

export function render(view, hostId) {
  document.title = `Plumb: ${hostId}`;
  const abort = new AbortController();
  const signal = abort.signal;

  const head = h('div', { class: 'host-head' }, h('h1', {}, hostId));
  const info = h('dl', { class: 'host-info' });
  const openStatus = h('div', { class: 'status' });
  const openList = h('div', { class: 'drift-list', id: 'open-drift' });
  const healthList = h('div', { class: 'drift-list', id: 'health' });
  const history = h('ol', { class: 'timeline', id: 'history' });
  const historyStatus = h('div', { class: 'status' });
  const facts = factsSection(hostId, signal);
  view.append(h('section', { class: 'host', dataset: { host: hostId } },
    h('p', { class: 'crumbs' }, link('#/', 'Fleet'), ' / ', hostId),
    head, info,
    h('h2', {}, 'Open drift ', h('span', { class: 'count', id: 'open-count' })),
    openStatus, openList,
    h('h2', {}, 'Health'), healthList,
    facts.el,
    h('h2', {}, 'History'), historyStatus, history));

  const nodes = new Map(); // item id + updated time -> element
  let reading = null;
  let again = false;

  const loadHost = async () => {
    // The host list has no lookup by id; the filter narrows it where
    // the collector knows it, otherwise the page is searched.
    let found = null;
    await pages(paths.hosts, 'hosts', { params: { host_glob: globQuote(hostId) }, pageSize: 500, signal }, (hosts) => {
      found = hosts.find((x) => x.host_id === hostId) ?? null;
      return found === null;
    });
    clear(info);
    if (!found) {
      info.append(message('error', `The collector knows no host "${hostId}".`));
      return;
    }
    const seen = nanoToDate(found.last_seen_unix_nano);
    const hi = found.info ?? {};
    const add = (k, ...v) => info.append(h('dt', {}, k), h('dd', {}, ...v));
    add('Agent', found.connected ? h('span', { class: 'conn conn-yes' }, 'connected') : h('span', { class: 'conn conn-no' }, 'disconnected'));
    add('Last seen', h('span', { title: timeText(seen) }, ago(seen)));
    if (hi.hostname) add('Hostname', hi.hostname);
    if (hi.os || hi.kernel_version) add('System', [hi.os, hi.kernel_version].filter(Boolean).join(' '));
    if (hi.agent_version) add('Agent version', hi.agent_version);
    add('Labels', Object.entries(found.labels ?? {}).sort().map(([k, v]) => h('span', { class: 'label' }, `${k}=${v}`)));
    add('Facts', String(num(found.fact_count)));
    add('Baseline', found.has_baseline ? 'yes' : 'not yet (waiting for the first complete snapshot)');
    const cov = found.coverage ?? [];
    add('Coverage', cov.length === 0 ? 'complete' : cov.map((c) => h('div', { class: 'coverage' },
      h('span', { class: 'badge badge-coverage' }, enumName(c.state, 'COVERAGE_STATE_') || 'unknown'),
      ` ${c.source ?? ''}: ${c.reason ?? ''} `, h('span', { class: 'muted' }, c.detail ?? ''))));
  };

  const loadDrift = async () => {
    const open = [];
    const all = [];
    await pages(paths.drift, 'items', { params: { host_id: hostId }, pageSize: 500, signal }, (items) => { open.push(...items); });
    await pages(paths.drift, 'items', { params: { host_id: hostId, include_closed: true }, pageSize: 500, signal }, (items) => { all.push(...items); });
    renderOpen(open);
    renderHistory(all);
  };

  const renderOpen = (items) => {
    const drift = items.filter((it) => kindName(it.kind) !== 'health');
    const health = items.filter((it) => kindName(it.kind) === 'health');
    sortBySeverity(drift);
    document.getElementById('open-count').textContent = `(${drift.length})`;
    const keep = new Map();
    const els = drift.map((it, i) => {
      const k = `${it.id}@${it.updated_unix_nano ?? ''}`;
      let el = nodes.get(k);
      if (!el) el = driftItem(it, hostId, i < diffsShown, signal, () => schedule());
      keep.set(k, el);
      return el;
    });
    nodes.clear();
    for (const [k, v] of keep) nodes.set(k, v);
    openList.replaceChildren(...els);
    clear(openStatus);
    if (drift.length === 0) openStatus.append(message('ok', 'No open drift: the host matches its baseline.'));
    healthList.replaceChildren(...health.map((it) => healthItem(it)));
    if (health.length === 0) healthList.append(message('ok', 'No health problems.'));
  };

  const renderHistory = (items) => {
    items.sort((a, b) => num(b.updated_unix_nano || b.detected_unix_nano) - num(a.updated_unix_nano || a.detected_unix_nano));
    clear(historyStatus);
    if (items.length === 0) historyStatus.append(message('info', 'No drift yet.'));
    if (items.length > historyShown) historyStatus.append(message('info', `The ${historyShown} latest of ${items.length} items.`));
    history.replaceChildren(...items.slice(0, historyShown).map(timelineEntry));
  };

  const refresh = async () => {
    if (reading) {
      again = true;
      return;
    }
    reading = (async () => {
      try {
        await Promise.all([loadHost(), loadDrift()]);
      } catch (e) {
        if (e.name !== 'AbortError') clear(openStatus).append(message('error', e.explain ? e.explain('read this host') : e.message));
      }
    })();
    await reading;
    reading = null;
    if (again) {
      again = false;
      refresh();
    }
  };
  let timer = null;
  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      refresh();
      facts.load(); // the facts as they are now (from the first page)
    }, 150);
  };
  const unsubscribe = feed.subscribe((ev) => {
    if (ev.host === hostId) schedule();
  });
  refresh();
  facts.load();
  return () => {
    abort.abort();
    unsubscribe();
    clearTimeout(timer);
  };
}

// globQuote escapes the glob characters of s, for a filter that must
// match s alone.
function globQuote(s) {
  return s.replace(/[\\*?[\]{}]/g, (c) => `\\${c}`);
}

const severityRank = { critical: 3, warning: 2, info: 1, '': 0 };

function sortBySeverity(items) {
  items.sort((a, b) => severityRank[severityName(b.severity)] - severityRank[severityName(a.severity)] ||
    num(b.detected_unix_nano) - num(a.detected_unix_nano));
}

function severityBadge(sev) {
  return h('span', { class: `badge badge-${sev || 'info'}` }, sev || 'info');
}

// driftItem renders one open item: its baseline and current attributes
// side by side, its diff, and the accept form.
function driftItem(it, hostId, loadDiff, signal, changed) {
  const sev = severityName(it.severity);
  const kind = kindName(it.kind);
  const key = keyText(it.key);
  const change = changeName(it.change);
  const el = h('article', { class: `drift-item sev-${sev || 'info'}`, dataset: { id: it.id ?? '', kind, key } });
  el.append(h('header', {},
    severityBadge(sev), h('span', { class: 'kind' }, kind), ' ', h('code', { class: 'key' }, key), ' ',
    h('span', { class: `change change-${change}` }, change),
    h('span', { class: 'when', title: timeText(nanoToDate(it.detected_unix_nano)) }, ` detected ${ago(nanoToDate(it.detected_unix_nano))}`)));
  el.append(attrTable(it.baseline, it.current));
  const c = content(it.current);
  if (c) el.append(diffBlock(it, hostId, c, loadDiff, signal));
  // An expectation item resolves when the host complies with the policy
  // rule, or the rule goes: it cannot be accepted.
  if (kind !== 'expectation') el.append(acceptForm(it, hostId, changed));
  return el;
}

function attrTable(baseline, current) {
  const b = new Map(attributes(baseline));
  const c = new Map(attributes(current));
  const names = [...new Set([...b.keys(), ...c.keys()])];
  const body = h('tbody', {});
  for (const n of names) {
    const bv = b.get(n), cv = c.get(n);
    const differs = bv !== cv && !volatileAttrs.has(n);
    body.append(h('tr', { class: differs ? 'differs' : '' },
      h('th', {}, n),
      h('td', { class: 'baseline' }, bv ?? h('span', { class: 'muted' }, '—')),
      h('td', { class: 'current' }, cv ?? h('span', { class: 'muted' }, '—'))));
  }
  return h('table', { class: 'attrs' },
    h('thead', {}, h('tr', {}, h('th', {}, ''), h('th', {}, baseline ? 'Baseline' : 'Baseline (absent)'), h('th', {}, current ? 'Current' : 'Current (removed)'))),
    body);
}

// diffBlock shows the kept content change: the diff itself is left out
// of lists, so it is read with the item.
function diffBlock(it, hostId, c, loadNow, signal) {
  const box = h('div', { class: 'diff' });
  if (c.state !== 'diff') {
    const why = { first: 'first content kept: nothing earlier to compare with', too_large: 'not kept: too large', binary: 'not kept: not text' }[c.state];
    box.append(h('p', { class: 'muted' }, `Content ${why ?? c.state}.`));
    return box;
  }
  const load = async () => {
    clear(box).append(h('p', { class: 'muted' }, 'Loading the diff…'));
    try {
      const r = await call(paths.driftItem(it.id), { params: { host_id: hostId }, signal });
      const d = content(r.item?.current);
      clear(box).append(diffPre(d?.diff ?? ''));
      if (d?.redacted) box.append(h('p', { class: 'muted' }, 'Lines that looked like secrets were redacted.'));
    } catch (e) {
      if (e.name !== 'AbortError') clear(box).append(message('error', e.explain ? e.explain('read the diff') : e.message));
    }
  };
  if (loadNow) load();
  else box.append(h('button', { type: 'button', class: 'link', onclick: load }, 'Show the diff'));
  return box;
}

function diffPre(text) {
  const pre = h('pre', { class: 'unified' });
  for (const line of text.split('\n')) {
    const cls = line.startsWith('@@') ? 'hunk' : line.startsWith('+') ? 'add' : line.startsWith('-') ? 'del' : '';
    pre.append(h('span', { class: cls }, line), '\n');
  }
  return pre;
}

// acceptForm accepts this one fact's drift with a reason, naming the
// current value the person looked at: the collector refuses if the fact
// has moved on since, so a later change is never accepted unseen.
function acceptForm(it, hostId, changed) {
  const reason = h('input', { type: 'text', name: 'reason', required: true, maxlength: 1000, placeholder: 'Why is this change right?', 'aria-label': 'Reason' });
  const button = h('button', { type: 'submit' }, 'Accept');
  const status = h('span', { class: 'accept-status', role: 'status' });
  const form = h('form', { class: 'accept' }, reason, button, status);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const why = reason.value.trim();
    if (!why) {
      clear(status).append(message('error', 'Say why this change is right.'));
      return;
    }
    button.disabled = true;
    clear(status).append(h('span', { class: 'muted' }, 'Accepting…'));
    try {
      await call(paths.accept(hostId), {
        method: 'POST',
        body: {
          host_id: hostId, kind: it.kind, key: it.key ?? '', reason: why,
          expected: { digest: it.current?.digest ?? '' },
        },
      });
      form.closest('.drift-item')?.classList.add('accepted');
      clear(status).append(message('ok', 'Accepted: this value is now the baseline.'));
      changed();
    } catch (err) {
      button.disabled = false;
      clear(status).append(message('error', err.explain ? err.explain('accept drift (an operator token is needed)') : err.message));
    }
  });
  return form;
}

function healthItem(it) {
  const sev = severityName(it.severity);
  const cur = attributes(it.current);
  return h('article', { class: `drift-item health sev-${sev || 'info'}`, dataset: { kind: 'health', key: keyText(it.key) } },
    h('header', {}, severityBadge(sev), h('span', { class: 'kind' }, 'health'), ' ', h('code', { class: 'key' }, keyText(it.key)),
      h('span', { class: 'when' }, ` since ${ago(nanoToDate(it.detected_unix_nano))}`)),
    cur.length ? h('p', {}, cur.map(([k, v]) => `${k}: ${v}`).join(' · ')) : null,
    h('p', { class: 'muted' }, 'A gap in what the collector knows of this host; it clears by itself when the gap closes.'));
}

function timelineEntry(it) {
  const st = statusName(it.status);
  const at = nanoToDate(it.updated_unix_nano) ?? nanoToDate(it.detected_unix_nano);
  return h('li', { class: `status-${st}` },
    h('time', { datetime: at ? at.toISOString() : '' }, timeText(at)), ' ',
    h('span', { class: `badge badge-status-${st}` }, st), ' ',
    severityBadge(severityName(it.severity)), ' ',
    h('span', { class: 'kind' }, kindName(it.kind)), ' ', h('code', { class: 'key' }, keyText(it.key)), ' ',
    h('span', { class: 'change' }, changeName(it.change)),
    st === 'accepted' ? h('span', { class: 'who' }, ` by ${it.accepted_by ?? '?'}: “${it.reason ?? ''}”`) : null,
    h('span', { class: 'muted' }, ` detected ${timeText(nanoToDate(it.detected_unix_nano))}`));
}

// factsSection lists the host's facts of one kind, a page at a time; the
// search keeps the facts whose key contains the text, reading further
// pages until a page's worth match.
function factsSection(hostId, signal) {
  const kind = h('select', { id: 'fact-kind', 'aria-label': 'Fact kind' },
    kinds.slice(1, 7).map((k) => h('option', { value: k }, k)));
  const search = h('input', { type: 'search', id: 'fact-search', placeholder: 'Search keys, or a glob: /etc/**/*.conf', 'aria-label': 'Search fact keys' });
  const tbody = h('tbody', { id: 'facts' });
  const more = h('button', { type: 'button', hidden: true }, 'More');
  const status = h('div', { class: 'status' });
  const el = h('section', { class: 'facts' },
    h('div', { class: 'toolbar' }, h('h2', {}, 'Facts'), kind, search),
    h('table', { class: 'facts' }, h('thead', {}, h('tr', {}, h('th', {}, 'Key'), h('th', {}, 'Attributes'), h('th', {}, 'Digest'))), tbody),
    more, status);
  let pageToken = '';
  let gen = 0;
  const next = async (reset) => {
    const mine = reset ? ++gen : gen;
    if (reset) {
      clear(tbody);
      pageToken = '';
    }
    more.hidden = true;
    clear(status).append(h('span', { class: 'muted' }, 'Loading facts…'));
    // Text with glob characters is the collector's key glob
    // ("/etc/**/*.conf"); plain text is searched for in each key.
    const text = search.value.trim();
    const glob = /[*?[{]/.test(text) ? text : '';
    const needle = glob ? '' : text.toLowerCase();
    let shown = 0;
    try {
      pageToken = await pages(paths.facts(hostId), 'facts',
        { params: { kind: `FACT_KIND_${kind.value.toUpperCase()}`, key_glob: glob }, pageSize: factPage, signal, start: pageToken },
        (facts) => {
          if (mine !== gen) return false;
          const frag = document.createDocumentFragment();
          for (const f of facts) {
            const key = keyText(f.key);
            if (needle && !key.toLowerCase().includes(needle)) continue;
            frag.append(h('tr', {},
              h('td', {}, h('code', {}, key)),
              h('td', { class: 'attrlist' }, attributes(f).map(([k, v]) => h('span', { class: 'attr' }, h('b', {}, k), ' ', v))),
              h('td', { class: 'digest', title: hexOf(f.digest) }, hexOf(f.digest).slice(0, 12))));
            shown++;
          }
          tbody.append(frag);
          return shown < factPage;
        });
      if (mine !== gen) return;
      clear(status);
      more.hidden = !pageToken;
      if (!tbody.childElementCount) status.append(message('info', needle ? 'No fact of this kind matches.' : 'No facts of this kind.'));
    } catch (e) {
      if (e.name !== 'AbortError' && mine === gen) clear(status).append(message('error', e.explain ? e.explain('list facts') : e.message));
    }
  };
  let t = null;
  kind.addEventListener('change', () => next(true));
  search.addEventListener('input', () => {
    clearTimeout(t);
    t = setTimeout(() => next(true), 250);
  });
  more.addEventListener('click', () => next(false));
  return { el, load: () => next(true) };
}
