// The dashboard's entry: sign-in, the page router (#/, #/host/ID, #/live)
// and the header. Each page module exports render(view, args) and may
// return a function that tears it down when the page changes.

import { token, setToken, forgetToken, onUnauthenticated, call, paths } from './api.js';
import { feed } from './feed.js';
import { h, clear, message } from './dom.js';
import * as fleet from './fleet.js';
import * as host from './host.js';
import * as live from './live.js';

const view = document.getElementById('view');
const nav = document.getElementById('nav');
const signout = document.getElementById('signout');
const feedState = document.getElementById('feed-state');

let teardown = null;
let signinNotice = '';

function route() {
  teardown?.();
  teardown = null;
  clear(view);
  if (!token()) {
    showSignin();
    return;
  }
  nav.hidden = false;
  signout.hidden = false;
  feedState.hidden = false;
  feed.start();
  const hash = location.hash.replace(/^#/, '') || '/';
  let page = 'fleet';
  if (hash.startsWith('/host/')) {
    page = 'host';
    teardown = host.render(view, decodeURIComponent(hash.slice('/host/'.length)));
  } else if (hash === '/live') {
    page = 'live';
    teardown = live.render(view);
  } else {
    teardown = fleet.render(view);
  }
  for (const a of nav.querySelectorAll('a')) a.classList.toggle('current', a.dataset.page === page);
}

function showSignin() {
  nav.hidden = true;
  signout.hidden = true;
  feedState.hidden = true;
  document.title = 'Plumb: sign in';
  const input = h('input', {
    id: 'token', type: 'password', name: 'token', autocomplete: 'off', spellcheck: 'false',
    required: true, placeholder: 'pat.…', 'aria-describedby': 'token-help',
  });
  const status = h('div', { class: 'signin-status' }, signinNotice ? message('error', signinNotice) : null);
  const button = h('button', { type: 'submit' }, 'Sign in');
  const form = h('form', { class: 'signin', id: 'signin' },
    h('h1', {}, 'Sign in to Plumb'),
    h('label', { for: 'token' }, 'API token'),
    input,
    h('p', { id: 'token-help', class: 'help' },
      'A viewer token is enough to look; accepting drift needs an operator token. ',
      'Create one with ', h('code', {}, 'plumbctl apitoken create --role viewer'), '. ',
      'It is kept in this tab only and sent to this collector alone.'),
    button, status);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const t = input.value.trim();
    if (!t) return;
    button.disabled = true;
    clear(status).append(message('info', 'Checking the token…'));
    setToken(t);
    try {
      await call(paths.hosts, { params: { page_size: 1 } });
      signinNotice = '';
      input.value = '';
      route();
    } catch (err) {
      forgetToken();
      button.disabled = false;
      clear(status).append(message('error', err.explain ? err.explain('list hosts') : err.message));
    }
  });
  view.append(form);
  input.focus();
}

onUnauthenticated((err) => {
  if (!token()) return;
  forgetToken();
  feed.stop();
  signinNotice = `Signed out: the collector refused your API token (${err.message}).`;
  route();
});

signout.addEventListener('click', () => {
  forgetToken();
  feed.stop();
  signinNotice = '';
  route();
});

feed.onState((state, detail) => {
  feedState.className = `feed-state feed-${state}`;
  feedState.textContent = { live: 'live', connecting: 'connecting…', retrying: 'reconnecting…', stopped: 'offline' }[state] ?? state;
  feedState.title = detail;
});

window.addEventListener('hashchange', route);
route();
