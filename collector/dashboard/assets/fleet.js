// The fleet overview: every host with its labels, drift score (open items
// by severity), health and coverage, when it was last seen and whether its
// agent is connected. Hosts arrive a page at a time and each page is
// rendered as it arrives; filtering and sorting touch each row once.

import { call, pages, paths } from './api.js';
import { feed } from './feed.js';
import { h, clear, link, message } from './dom.js';
import { num, nanoToDate, ago, timeText, enumName } from './display.js';

const pageSize = 250;
// refreshAfter is the least time between two re-reads of the fleet that
// live events ask for.
const refreshAfter = 5000;

export function render(view) {
  document.title = 'Plumb: fleet';
  const filter = h('input', { type: 'search', id: 'host-filter', placeholder: 'Filter: host id or label (role=web)', 'aria-label': 'Filter hosts' });
  const sort = h('select', { id: 'host-sort', 'aria-label': 'Sort hosts' },
    h('option', { value: 'score' }, 'Most drift first'),
    h('option', { value: 'id' }, 'By host id'),
    h('option', { value: 'seen' }, 'Least recently seen first'));
  const summary = h('p', { class: 'summary', id: 'fleet-summary' }, 'Loading hosts…');
  const status = h('div', { class: 'status' });
  const tbody = h('tbody', { id: 'hosts' });
  const table = h('table', { class: 'hosts' },
    h('thead', {}, h('tr', {},
      h('th', {}, 'Host'), h('th', {}, 'Labels'), h('th', { class: 'num' }, 'Open drift'),
      h('th', {}, 'By severity'), h('th', {}, 'Health / coverage'), h('th', {}, 'Last seen'), h('th', {}, 'Agent'))),
    tbody);
  view.append(h('section', { class: 'fleet' },
    h('div', { class: 'toolbar' }, h('h1', {}, 'Fleet'), filter, sort), summary, status, table));

  let rows = []; // {host, tr, text, score, seen}
  let abort = null;
  let loading = null;
  let refreshTimer = null;
  let lastLoad = 0;

  const applyFilter = () => {
    const terms = filter.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    for (const r of rows) {
      const ok = terms.every((t) => r.text.includes(t));
      r.tr.hidden = !ok;
      if (ok) shown++;
    }
    return shown;
  };

  const order = () => {
    const by = sort.value;
    const cmp = {
      id: (a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
      score: (a, b) => b.score - a.score || (a.id < b.id ? -1 : 1),
      seen: (a, b) => a.seen - b.seen || (a.id < b.id ? -1 : 1),
    }[by];
    rows.sort(cmp);
    tbody.append(...rows.map((r) => r.tr)); // moves each row once
  };

  const summarize = (done) => {
    let connected = 0, open = 0, critical = 0, health = 0;
    for (const r of rows) {
      if (r.host.connected) connected++;
      open += num(r.host.open_drift);
      const c = r.host.open_drift_counts ?? {};
      if (num(c.critical) > 0) critical++;
      if (num(c.health) > 0) health++;
    }
    summary.textContent = `${rows.length} hosts${done ? '' : ' so far'} · ${connected} connected · ${open} open drift items · ` +
      `${critical} hosts with critical drift · ${health} hosts with health problems`;
  };

  const load = async () => {
    abort?.abort();
    abort = new AbortController();
    const signal = abort.signal;
    const started = performance.now();
    lastLoad = Date.now();
    const fresh = [];
    const first = rows.length === 0;
    try {
      await pages(paths.hosts, 'hosts', { pageSize, signal }, (hosts) => {
        const frag = document.createDocumentFragment();
        for (const host of hosts) {
          const r = row(host);
          fresh.push(r);
          if (first) frag.append(r.tr);
        }
        if (first) {
          rows = fresh;
          tbody.append(frag);
          view.querySelector('.fleet')?.setAttribute('data-first-page-at', String(Math.round(performance.now())));
          applyFilter();
          summarize(false);
        }
      });
      if (!first) {
        rows = fresh;
        clear(tbody);
      }
      order();
      applyFilter();
      summarize(true);
      clear(status);
      // For the load benchmark: when the whole fleet was on the page
      // (ms since navigation), and how long this read took.
      const section = view.querySelector('.fleet');
      if (section) {
        section.dataset.hosts = String(rows.length);
        section.dataset.loadedMs = String(Math.round(performance.now() - started));
        section.dataset.renderedAt = String(Math.round(performance.now()));
      }
      if (rows.length === 0) status.append(message('info', 'No host has reported yet.'));
    } catch (e) {
      if (e.name === 'AbortError') return;
      clear(status).append(message('error', e.explain ? e.explain('list hosts') : e.message));
    }
  };

  filter.addEventListener('input', () => applyFilter());
  sort.addEventListener('change', () => order());

  // Live events change drift scores: re-read the fleet, at most every
  // refreshAfter, never while a read is running.
  const unsubscribe = feed.subscribe(() => {
    if (refreshTimer) return;
    const wait = Math.max(0, lastLoad + refreshAfter - Date.now());
    refreshTimer = setTimeout(async () => {
      refreshTimer = null;
      await loading;
      loading = load();
    }, wait);
  });
  loading = load();
  const ticker = setInterval(() => {
    const now = Date.now();
    for (const r of rows) r.seenCell.textContent = ago(nanoToDate(r.host.last_seen_unix_nano), now);
  }, 10000);

  return () => {
    abort?.abort();
    unsubscribe();
    clearTimeout(refreshTimer);
    clearInterval(ticker);
  };
}

// row renders one host.
function row(host) {
  const id = host.host_id ?? '';
  const labels = Object.entries(host.labels ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  const c = host.open_drift_counts ?? {};
  const crit = num(c.critical), warn = num(c.warning), info = num(c.info), health = num(c.health);
  const coverage = (host.coverage ?? []).filter((cc) => enumName(cc.state, 'COVERAGE_STATE_') !== 'ok');
  const seen = nanoToDate(host.last_seen_unix_nano);
  const seenCell = h('td', { title: timeText(seen) }, ago(seen));
  const healthCell = h('td', { class: 'health' });
  for (const k of c.health_keys ?? []) healthCell.append(h('span', { class: 'badge badge-health' }, k));
  for (const cc of coverage.slice(0, 3)) {
    healthCell.append(h('span', { class: 'badge badge-coverage', title: cc.detail ?? '' }, `${cc.source ?? ''}: ${cc.reason ?? ''}`));
  }
  if (coverage.length > 3) healthCell.append(h('span', { class: 'more' }, `+${coverage.length - 3}`));
  if (!healthCell.childElementCount) healthCell.append(h('span', { class: 'ok' }, 'ok'));
  const tr = h('tr', { dataset: { host: id }, class: crit ? 'sev-critical' : warn ? 'sev-warning' : '' },
    h('td', {}, link(`#/host/${encodeURIComponent(id)}`, id), host.has_baseline ? null : h('span', { class: 'badge' }, 'no baseline')),
    h('td', { class: 'labels' }, labels.map(([k, v]) => h('span', { class: 'label' }, `${k}=${v}`))),
    h('td', { class: 'num score' }, String(num(host.open_drift))),
    h('td', { class: 'sev' },
      crit ? h('span', { class: 'badge badge-critical', title: 'critical' }, `${crit} critical`) : null,
      warn ? h('span', { class: 'badge badge-warning', title: 'warning' }, `${warn} warning`) : null,
      info ? h('span', { class: 'badge badge-info', title: 'info' }, `${info} info`) : null),
    healthCell,
    seenCell,
    h('td', {}, host.connected ? h('span', { class: 'conn conn-yes' }, 'connected') : h('span', { class: 'conn conn-no' }, 'disconnected')));
  const text = [id, host.info?.hostname ?? '', ...labels.map(([k, v]) => `${k}=${v}`)].join(' ').toLowerCase();
  // The score orders hosts: critical first, then warning, info, health.
  const score = crit * 1e9 + warn * 1e6 + info * 1e3 + health;
  return { host, id, tr, text, score, seen: seen ? seen.getTime() : 0, seenCell };
}
