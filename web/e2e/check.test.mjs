// End-to-end tests of the connection check, /check, in headless Chromium
// against a local parley with its TURN server: every check works; then
// against one whose media ports nobody reaches, the page says so.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, checkA11y, lookAt } from './harness.mjs';

/** @type {Awaited<ReturnType<typeof startServer>>} */
let srv;
/** @type {import('playwright-core').Browser} */
let browser;

before(async () => {
  srv = await startServer({ turn: true });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

/**
 * Runs the check in a new page of b and returns each check's result and
 * text, and the summary.
 * @param {import('playwright-core').Browser} b
 * @param {string} [url] the server's
 */
async function runCheck(b, url = srv.url) {
  const page = await (await b.newContext()).newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  await page.goto(`${url}/check`);
  await page.waitForSelector('body[data-done="true"]', { timeout: 90_000 });
  const rows = await page.$$eval('[data-check]', (els) =>
    Object.fromEntries(els.map((el) => [el.getAttribute('data-check'), { result: el.getAttribute('data-result'), text: el.querySelector('.detail')?.textContent ?? '' }])),
  );
  const summary = await page.textContent('#summary-title');
  const report = await page.inputValue('#report');
  assert.deepEqual(errors, [], 'no error in the page');
  return { page, rows, summary, report };
}

test('every check works against a local parley: UDP, TCP, the TURN relay, microphone and camera', async () => {
  const { page, rows, summary } = await runCheck(browser);
  for (const k of ['websocket', 'server', 'udp', 'tcp', 'relay', 'microphone', 'camera']) {
    assert.equal(rows[k]?.result, 'ok', `${k}: ${rows[k]?.result}: ${rows[k]?.text}`);
  }
  assert.match(rows.udp.text, /directly over UDP \(port \d+; a round trip took \d+ ms\)/);
  assert.match(rows.relay.text, /relay over (udp|tcp)/);
  assert.equal(summary, 'Everything works');
  await checkA11y(page, 'the connection check');
  await lookAt(page, 'check');
});

test('a media port nobody reaches: the page says UDP, TCP and the relay fail, and what to tell the operator', async () => {
  // The server tells browsers its media is at 127.0.0.2 (media.public_ip),
  // where nothing listens: as when a firewall closes the media ports.
  const closed = await startServer({ turn: true, media: 'public_ip = "127.0.0.2"\n' });
  try {
    const { page, rows, summary, report } = await runCheck(browser, closed.url);
    for (const k of ['udp', 'tcp', 'relay']) assert.equal(rows[k].result, 'fail', `${k}: ${rows[k].text}`);
    assert.match(rows.udp.text, /blocks UDP to 127\.0\.0\.1 port \d+/);
    assert.match(rows.udp.text, /Tell the operator: "UDP to port \d+ is blocked from my network"/);
    assert.equal(rows.websocket.result, 'ok');
    assert.equal(summary, 'Calls will not work from here');
    assert.match(report, /- Calls, directly \(UDP to the media port\): fail \(/);
    await lookAt(page, 'check-closed');
  } finally {
    await closed.stop();
  }
});
