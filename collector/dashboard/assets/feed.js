// The live feed of drift events: one server-sent-event stream from
// /v1/drift:watch per tab, shared by every page. EventSource cannot send
// an Authorization header, so the stream is read with fetch and parsed
// here. After a disconnect it reconnects with Last-Event-ID set to the
// last event's id (its seq), and the collector resends what came after,
// so nothing still in its event log is lost.

import { token, onUnauthenticated, APIError, paths } from './api.js';

// keep is how many recent events the feed holds for pages opened later.
const keep = 500;

class Feed {
  constructor() {
    this.events = []; // newest last, at most keep
    this.lastId = '';
    this.state = 'stopped'; // connecting, live, retrying, stopped
    this.detail = '';
    this.listeners = new Set();
    this.stateListeners = new Set();
    this.abort = null;
    this.generation = 0;
  }

  // subscribe calls fn(event) for each event from now on; it returns the
  // unsubscribe function.
  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  onState(fn) {
    this.stateListeners.add(fn);
    fn(this.state, this.detail);
    return () => this.stateListeners.delete(fn);
  }

  setState(state, detail = '') {
    this.state = state;
    this.detail = detail;
    for (const fn of this.stateListeners) fn(state, detail);
  }

  start() {
    if (this.abort) return;
    const gen = ++this.generation;
    this.abort = new AbortController();
    this.run(gen, this.abort.signal);
  }

  stop() {
    this.generation++;
    this.abort?.abort();
    this.abort = null;
    this.events = [];
    this.lastId = '';
    this.setState('stopped');
  }

  async run(gen, signal) {
    let delay = 250;
    while (gen === this.generation) {
      this.setState(this.lastId ? 'retrying' : 'connecting', this.lastId ? `resuming after event ${this.lastId}` : '');
      try {
        await this.stream(signal, () => { delay = 250; });
        if (gen !== this.generation) return;
        this.setState('retrying', 'the collector ended the stream');
      } catch (e) {
        if (gen !== this.generation || e.name === 'AbortError') return;
        if (e instanceof APIError && e.status === 401) {
          onUnauthenticated(e);
          return;
        }
        this.setState('retrying', e.message);
      }
      await sleep(delay + Math.random() * delay / 2, signal).catch(() => {});
      delay = Math.min(delay * 2, 5000);
    }
  }

  async stream(signal, connected) {
    const headers = { Accept: 'text/event-stream', Authorization: `Bearer ${token()}` };
    if (this.lastId) headers['Last-Event-ID'] = this.lastId;
    const resp = await fetch(new URL(paths.watch, location.origin), {
      headers, signal, credentials: 'omit', cache: 'no-store', redirect: 'error',
    });
    if (!resp.ok) {
      let msg = resp.statusText;
      try {
        const j = await resp.json();
        msg = j.message ?? msg;
      } catch { /* not JSON */ }
      throw new APIError(resp.status, msg);
    }
    connected();
    this.setState('live', this.lastId ? `resumed after event ${this.lastId}` : '');
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    let data = [];
    let id = null;
    let type = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      let nl;
      while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + (buf.startsWith('\r\n', nl) ? 2 : 1));
        if (line === '') {
          if (type === 'end') {
            // The collector ended the watch (shutting down, or this
            // reader fell behind): reconnect and resume.
            let why = 'the collector ended the stream';
            try { why = JSON.parse(data.join('\n')).message ?? why; } catch { /* keep */ }
            throw new Error(why);
          }
          if (data.length) this.dispatch(data.join('\n'), id);
          data = [];
          id = null;
          type = '';
          continue;
        }
        if (line.startsWith(':')) continue; // a comment: keep-alive
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let v = colon < 0 ? '' : line.slice(colon + 1);
        if (v.startsWith(' ')) v = v.slice(1);
        if (field === 'data') data.push(v);
        else if (field === 'id' && !v.includes('\0')) id = v;
        else if (field === 'event') type = v;
      }
      if (buf.length > 8 << 20) throw new Error('an event larger than 8 MiB');
    }
  }

  dispatch(text, id) {
    let ev;
    try {
      ev = JSON.parse(text);
    } catch {
      return; // not an event we can read
    }
    if (!ev || typeof ev !== 'object') return;
    if (id !== null) this.lastId = id;
    else if (ev.seq !== undefined) this.lastId = String(ev.seq);
    this.events.push(ev);
    if (this.events.length > keep) this.events.splice(0, this.events.length - keep);
    for (const fn of this.listeners) {
      try {
        fn(ev);
      } catch (e) {
        console.error(e);
      }
    }
  }
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(t); reject(new DOMException('aborted', 'AbortError')); }, { once: true });
  });
}

export const feed = new Feed();
