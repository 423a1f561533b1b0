// The live feed: drift events as the collector commits them, newest on
// top, from the tab's one event stream (feed.js). It shows the events the
// tab already received, then each new one; at most `shown` stay on the
// page. The events are the collector's event JSON: keys already readable
// text, times in RFC 3339.

import { feed } from './feed.js';
import { h, link, message } from './dom.js';
import { timeText } from './display.js';

const shown = 500;

export function render(view) {
  document.title = 'Plumb: live feed';
  const state = h('p', { class: 'summary', id: 'live-state' });
  const list = h('ol', { class: 'live', id: 'live' });
  const empty = message('info', 'Waiting for drift: events appear here the moment the collector records them.');
  view.append(h('section', { class: 'live-feed' }, h('h1', {}, 'Live feed'), state, empty, list));

  const add = (ev) => {
    empty.hidden = true;
    list.prepend(entry(ev));
    while (list.childElementCount > shown) list.lastElementChild.remove();
  };
  const frag = document.createDocumentFragment();
  for (const ev of feed.events.slice(-shown)) frag.prepend(entry(ev));
  if (feed.events.length) {
    empty.hidden = true;
    list.append(frag);
  }
  const unsubscribe = feed.subscribe(add);
  const unstate = feed.onState((s, detail) => {
    state.textContent = {
      live: 'Connected: new drift appears as it happens.',
      connecting: 'Connecting…',
      retrying: 'Disconnected; reconnecting and resuming where the feed left off.',
      stopped: 'Not connected.',
    }[s] + (detail ? ` (${detail})` : '');
    state.dataset.state = s;
  });
  return () => {
    unsubscribe();
    unstate();
  };
}

function entry(ev) {
  const type = String(ev.type ?? '');
  const short = type.replace(/^drift\./, '');
  const sev = String(ev.severity ?? '');
  const li = h('li', { class: `event event-${short.replace(/[^a-z_]/g, '')}`, dataset: { seq: String(ev.seq ?? ''), host: String(ev.host ?? ''), key: String(ev.key ?? '') } },
    h('time', { datetime: String(ev.at ?? '') }, timeText(String(ev.at ?? ''))), ' ',
    h('span', { class: `badge badge-type` }, type), ' ');
  if (type === 'silence.ended') {
    const s = ev.silence_summary ?? {};
    li.append(`a silence ended; it held back ${Number(s.events ?? 0)} events about ${Number(s.items ?? 0)} items`);
    return li;
  }
  li.append(
    sev ? h('span', { class: `badge badge-${sev.replace(/[^a-z]/g, '')}` }, sev) : null, ' ',
    link(`#/host/${encodeURIComponent(String(ev.host ?? ''))}`, String(ev.host ?? '')), ' ',
    h('span', { class: 'kind' }, String(ev.kind ?? '')), ' ',
    h('code', { class: 'key' }, String(ev.key ?? '')), ' ',
    h('span', { class: 'change' }, String(ev.change ?? '')));
  if (ev.accepted_by) li.append(h('span', { class: 'who' }, ` by ${ev.accepted_by}: “${ev.reason ?? ''}”`));
  if (ev.package_change) {
    const p = ev.package_change;
    li.append(h('span', { class: 'muted' }, ` ${p.package ?? ''} ${p.old_version ?? ''} → ${p.new_version ?? ''}`));
  }
  return li;
}
