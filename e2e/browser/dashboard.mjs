// Drives Debian's chromium through the collector's dashboard for
// e2e/dashboard_test.go, which started a real collector and agent. It
// talks to the test over stdin/stdout, one line each way:
//   out "READY"             the pages are open and watching
//   in  "CHANGED <unix ms>" the test changed the watched file then
//   out "RESULT <json>"     what was measured; exit 0 when every check held
// A failed check prints "FAIL <reason>" and exits 1. Screenshots of each
// page go to $PLUMB_ARTIFACTS.
//
// Environment: PLUMB_URL (the collector's https://host:port/),
// PLUMB_SPKI (base64 SHA-256 of the collector's certificate key, which
// chromium is told to trust), PLUMB_VIEWER_TOKEN, PLUMB_OPERATOR_TOKEN,
// PLUMB_HOST (the agent's host id), PLUMB_KEY (the watched file's path),
// PLUMB_CHROMIUM (default /usr/bin/chromium), PLUMB_ARTIFACTS.

import { chromium } from 'playwright-core';
import { createInterface } from 'node:readline';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const env = (k, d) => {
  const v = process.env[k] ?? d;
  if (v === undefined) fail(`${k} is not set`);
  return v;
};
const url = env('PLUMB_URL');
const host = env('PLUMB_HOST');
const key = env('PLUMB_KEY');
const artifacts = env('PLUMB_ARTIFACTS');
const deadline = 2000; // ms from the write to the page
mkdirSync(artifacts, { recursive: true });

function fail(why) {
  console.log(`FAIL ${why}`);
  process.exit(1);
}

const lines = createInterface({ input: process.stdin });
const waiting = [];
lines.on('line', (l) => waiting.shift()?.(l));
const readLine = () => new Promise((resolve) => waiting.push(resolve));

const browser = await chromium.launch({
  executablePath: env('PLUMB_CHROMIUM', '/usr/bin/chromium'),
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync',
    `--ignore-certificate-errors-spki-list=${env('PLUMB_SPKI')}`,
  ],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const consoleErrors = [];
const shot = async (page, name) => page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });

async function open(name) {
  const page = await context.newPage();
  page.on('console', (m) => {
    // The browser logs each refused call (the bad token's 401, the
    // viewer's 403); those refusals are what the test wants.
    if (m.type() === 'error' && !/Failed to load resource: the server responded with a status of 40[13]/.test(m.text())) {
      consoleErrors.push(`${name}: ${m.text()}`);
    }
  });
  page.on('pageerror', (e) => consoleErrors.push(`${name}: ${e.message}`));
  page.setDefaultTimeout(15000);
  return page;
}

// signIn opens the dashboard in page, checks it asks for a token in a
// password field, and signs in with token.
async function signIn(page, token, screenshot) {
  await page.goto(url);
  const field = page.locator('form#signin input#token');
  await field.waitFor();
  if ((await field.getAttribute('type')) !== 'password') fail('the token field is not a password field');
  if (screenshot) await shot(page, screenshot);
  await field.fill(token);
  await page.locator('form#signin button[type=submit]').click();
  await page.locator('#hosts').waitFor({ state: 'attached' });
  if (page.url().includes(token)) fail('the token is in the URL');
}

const hostRow = `#hosts tr[data-host="${host}"]`;
const openItem = `#open-drift article.drift-item[data-key="${key}"]`;
const liveEntry = `#live li.event-opened[data-host="${host}"][data-key="${key}"], #live li.event-updated[data-host="${host}"][data-key="${key}"]`;

try {
  // A bad token is refused at the sign-in form.
  const viewer = await open('viewer');
  await viewer.goto(url);
  await viewer.locator('input#token').fill('pat.nope.nope');
  await viewer.locator('form#signin button[type=submit]').click();
  await viewer.locator('form#signin .msg-error').waitFor();
  await shot(viewer, '01-signin-refused');

  await signIn(viewer, env('PLUMB_VIEWER_TOKEN'), '00-signin');
  await viewer.locator(hostRow).waitFor();
  await viewer.locator('#fleet-summary', { hasText: '1 hosts ·' }).waitFor();
  await shot(viewer, '02-fleet');
  await viewer.locator(`${hostRow} a`).click();
  await viewer.locator('section.host h1', { hasText: host }).waitFor();
  await viewer.locator('#open-drift').waitFor({ state: 'attached' });

  const live = await open('operator-live');
  await signIn(live, env('PLUMB_OPERATOR_TOKEN'));
  await live.goto(`${url}#/live`);
  await live.locator('#live-state[data-state="live"]').waitFor();

  const hostPage = await open('operator-host');
  await signIn(hostPage, env('PLUMB_OPERATOR_TOKEN'));
  await hostPage.goto(`${url}#/host/${encodeURIComponent(host)}`);
  await hostPage.locator('#open-drift').waitFor({ state: 'attached' });
  await hostPage.locator('section.host .msg-ok', { hasText: 'No open drift' }).waitFor();
  await hostPage.locator('#facts tr').first().waitFor();
  // The fact search: text within keys, in any case. (Text with glob
  // characters goes to the collector as key_glob.)
  for (const q of ['motd', 'MOTD']) {
    await hostPage.locator('#fact-search').fill(q);
    await hostPage.waitForFunction(() => {
      const rows = document.querySelectorAll('#facts tr');
      return rows.length === 1 && rows[0].textContent.includes('/motd');
    });
  }
  await hostPage.locator('#fact-search').fill('');
  await hostPage.waitForFunction(() => document.querySelectorAll('#facts tr').length === 3);
  if ((await hostPage.locator(openItem).count()) !== 0) fail(`${key} drifted before the change`);
  await shot(hostPage, '03-host-clean');
  await hostPage.locator('#top #feed-state.feed-live').waitFor();
  await viewer.locator('#top #feed-state.feed-live').waitFor();

  console.log('READY');
  const changed = await readLine();
  const wrote = Number(changed.split(' ')[1]);
  if (!wrote) fail(`expected "CHANGED <ms>", got ${changed}`);

  const seen = async (page, sel) => {
    await page.locator(sel).first().waitFor({ timeout: 15000 });
    return Date.now() - wrote;
  };
  const [liveMs, hostMs, viewerMs] = await Promise.all([seen(live, liveEntry), seen(hostPage, openItem), seen(viewer, openItem)]);
  await hostPage.locator(`${openItem} pre.unified`).waitFor();
  // The facts table shows the new value too (38 bytes now, 35 before).
  await hostPage.locator('#facts tr', { hasText: 'app.conf' }).filter({ hasText: 'size 38' }).waitFor();
  await shot(live, '04-live-feed');
  await shot(hostPage, '05-host-drift');

  // A viewer may look but not accept: the refusal says so.
  await viewer.locator(`${openItem} input[name=reason]`).fill('looks fine to me');
  await viewer.locator(`${openItem} button[type=submit]`).click();
  const refusal = viewer.locator(`${openItem} .msg-error`);
  await refusal.waitFor();
  const refusalText = await refusal.textContent();
  if (!/Refused/.test(refusalText) || !/operator/.test(refusalText)) fail(`viewer's refusal reads: ${refusalText}`);
  await shot(viewer, '06-viewer-refused');

  // The operator accepts from the page: the item leaves the open drift,
  // the history and the live feed show the accept.
  await hostPage.locator(`${openItem} input[name=reason]`).fill('planned change, ticket 42');
  const accepted = Date.now();
  await hostPage.locator(`${openItem} button[type=submit]`).click();
  await hostPage.locator(openItem).waitFor({ state: 'detached' });
  const clearMs = Date.now() - accepted;
  await hostPage.locator('#history li.status-accepted', { hasText: 'planned change, ticket 42' }).waitFor();
  await live.locator(`#live li.event-accepted[data-key="${key}"]`).waitFor();
  await viewer.locator(openItem).waitFor({ state: 'detached' });
  await shot(hostPage, '07-host-accepted');
  await shot(live, '08-live-accepted');

  // The fleet overview, for the record.
  await viewer.goto(`${url}#/`);
  await viewer.locator(hostRow).waitFor();
  await shot(viewer, '09-fleet-after');

  if (consoleErrors.length) fail(`console errors: ${consoleErrors.join(' | ')}`);
  console.log(`RESULT ${JSON.stringify({ liveMs, hostMs, viewerMs, clearMs, refusal: refusalText })}`);
  if (liveMs > deadline || hostMs > deadline) fail(`the change took ${liveMs} ms to the live feed and ${hostMs} ms to the host page, over ${deadline} ms`);
} catch (e) {
  fail(e.stack ?? String(e));
} finally {
  await browser.close();
}
process.exit(0);
