// Measures the dashboard's page loads in Debian's chromium for the load
// benchmark (bench/dashboard_test.go), against a collector whose store
// holds a generated fleet. Prints one line: "RESULT <json>" with, per
// run, the overview's time from navigation until every host row is on
// the page, the bytes the browser received, and the host page's time
// until all its open items are shown.
//
// Environment: PLUMB_URL, PLUMB_SPKI, PLUMB_TOKEN, PLUMB_HOSTS (how many
// rows to wait for), PLUMB_HOST and PLUMB_ITEMS (a host and its open
// items), PLUMB_RUNS, PLUMB_CHROMIUM, PLUMB_ARTIFACTS.

import { chromium } from 'playwright-core';
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';

const env = (k, d) => process.env[k] ?? d;
const url = env('PLUMB_URL');
const hosts = Number(env('PLUMB_HOSTS'));
const host = env('PLUMB_HOST');
const items = Number(env('PLUMB_ITEMS'));
const runs = Number(env('PLUMB_RUNS', '3'));
const artifacts = env('PLUMB_ARTIFACTS');
mkdirSync(artifacts, { recursive: true });

const browser = await chromium.launch({
  executablePath: env('PLUMB_CHROMIUM', '/usr/bin/chromium'),
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', `--ignore-certificate-errors-spki-list=${env('PLUMB_SPKI')}`],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(120000);
  await page.goto(url);
  await page.locator('input#token').fill(env('PLUMB_TOKEN'));
  await page.locator('form#signin button[type=submit]').click();
  await page.locator(`.fleet[data-hosts="${hosts}"]`).waitFor({ state: 'attached' });

  const out = { overview: [], host: [] };
  for (let i = 0; i < runs; i++) {
    // A fresh navigation: the token stays in the tab's sessionStorage.
    let bytes = 0;
    let first;
    const count = (r) => r.body().then((b) => { bytes += b.length; }, () => {});
    const pending = [];
    const onResp = (r) => pending.push(count(r));
    page.on('response', onResp);
    await page.goto(`${url}#/`, { waitUntil: 'commit' });
    await page.reload();
    await page.locator(`.fleet[data-hosts="${hosts}"]`).waitFor({ state: 'attached' });
    first = Number(await page.locator('.fleet').getAttribute('data-first-page-at'));
    const rendered = Number(await page.locator('.fleet').getAttribute('data-rendered-at'));
    const rows = await page.locator('#hosts tr').count();
    await Promise.all(pending);
    page.off('response', onResp);
    const nav = await page.evaluate(() => {
      const n = performance.getEntriesByType('navigation')[0];
      const api = performance.getEntriesByType('resource').filter((e) => e.name.includes('/v1/hosts'));
      return { doc: n.encodedBodySize, firstAPI: api[0]?.encodedBodySize ?? 0, firstAPIDecoded: api[0]?.decodedBodySize ?? 0, apiCalls: api.length };
    });
    out.overview.push({ firstRowMs: Math.round(first), allRowsMs: rendered, rows, bytes, ...nav });
    if (i === 0) {
      await page.locator('#feed-state.feed-live').waitFor();
      await page.screenshot({ path: join(artifacts, 'fleet-1000.png') });
    }

    const t0 = Date.now();
    await page.goto(`${url}#/host/${encodeURIComponent(host)}`);
    await page.locator(`#open-count`, { hasText: `(${items})` }).waitFor();
    await page.locator('#open-drift article.drift-item').nth(items - 1).waitFor({ state: 'attached' });
    out.host.push({ allItemsMs: Date.now() - t0 });
    if (i === 0) await page.screenshot({ path: join(artifacts, 'host-100.png') });
  }
  console.log(`RESULT ${JSON.stringify(out)}`);
} catch (e) {
  console.log(`FAIL ${e.stack ?? e}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
