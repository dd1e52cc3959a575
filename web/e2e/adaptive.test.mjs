// End-to-end tests of media that adapts: a browser's camera goes out in
// simulcast layers, and each subscriber gets the layer its tile's size
// (and its downlink) calls for; the statistics overlay of a tile shows
// what the browser receives and what the server sends it.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, join, checkA11y, shot } from './harness.mjs';

/** @type {Awaited<ReturnType<typeof startServer>>} */
let srv;
/** @type {import('playwright-core').Browser} */
let browser;
const pages = [];

before(async () => {
  srv = await startServer({ rooms: { layers: 'mode = "videoStream"\ntitle = "Layers"\n' } });
  browser = await launchBrowser();
});

after(async () => {
  for (const p of pages) {
    if (p.errors.length) console.log(`page errors: ${p.errors.map(String).join('\n')}`);
  }
  await browser?.close();
  await srv?.stop();
});

/** The tile of a person, by name. */
const tile = (name) => `#tiles .tile[data-name="${name}"]:not(.screen-tile)`;

/** The width of the picture of name's camera as page p receives it (0 before one). */
const receivedWidth = (p) =>
  p.evaluate(async () => (await window.parley.stats()).filter((s) => s.kind === 'video').reduce((w, s) => Math.max(w, s.width), 0));

test('simulcast: the camera goes out in layers; a small tile gets a smaller one, a large tile the largest; the statistics overlay says so', async () => {
  const A = await join(browser, srv.url, 'layers', 'ann', {
    async prejoin(p) {
      await p.click('#prejoin-cam');
      await p.waitForFunction(() => /** @type {HTMLVideoElement} */ (document.querySelector('#prejoin-video')).videoWidth > 0, null, { timeout: 30_000 });
    },
  });
  pages.push(A);
  const B = await join(browser, srv.url, 'layers', 'bob');
  pages.push(B);
  await B.waitForFunction((sel) => /** @type {HTMLVideoElement|null} */ (document.querySelector(`${sel} video`))?.videoWidth > 0, tile('ann'), { timeout: 30_000 });

  // Ann sends two layers or more, each a different size.
  await A.waitForFunction(
    async () => {
      const sent = (await window.parley.sent()).filter((s) => s.bytes > 0 && s.width > 0);
      return new Set(sent.map((s) => s.width)).size >= 2;
    },
    null,
    { timeout: 30_000, polling: 500 },
  );
  const sent = await A.evaluate(() => window.parley.sent());
  const top = Math.max(...sent.map((s) => s.width));
  const smaller = Math.min(...sent.filter((s) => s.width > 0).map((s) => s.width));
  console.log(`ann sends ${JSON.stringify(sent)}`);

  // Bob shows her large: the largest layer.
  await B.waitForFunction(async (top) => (await window.parley.stats()).some((s) => s.kind === 'video' && s.width === top), top, { timeout: 30_000, polling: 500 });
  // Small (a phone, its tile 240 px wide): a smaller layer.
  await B.setViewportSize({ width: 260, height: 640 });
  await B.waitForFunction(async (top) => {
    const w = (await window.parley.stats()).filter((s) => s.kind === 'video').reduce((m, s) => Math.max(m, s.width), 0);
    return w > 0 && w < top;
  }, top, { timeout: 30_000, polling: 500 });
  const small = await receivedWidth(B);
  assert.ok(small >= smaller && small < top, `a 260 px wide page receives ${small} px of ${top}`);
  // Large again: the top layer comes back.
  await B.setViewportSize({ width: 1200, height: 900 });
  await B.waitForFunction(async (top) => (await window.parley.stats()).some((s) => s.kind === 'video' && s.width === top), top, { timeout: 30_000, polling: 500 });

  // The overlay: the layer the server sends, the picture, the losses.
  await B.click(`${tile('ann')} .tile-btn.info`);
  await B.waitForFunction((sel) => /Layer: \d of \d/.test(document.querySelector(`${sel} .tile-stats`)?.textContent ?? ''), tile('ann'), { timeout: 30_000 });
  const text = await B.locator(`${tile('ann')} .tile-stats`).textContent();
  assert.match(text ?? '', new RegExp(`Picture: ${top}×\\d+`));
  assert.match(text ?? '', /Lost: \d+ of \d+ packets/);
  assert.match(text ?? '', /Freezes: \d+/);
  await shot(B, tile('ann'), 'adaptive-stats');
  await checkA11y(B, 'a tile with its statistics');
  await B.click(`${tile('ann')} .tile-btn.info`);
  await B.locator(`${tile('ann')} .tile-stats`).waitFor({ state: 'hidden' });

  for (const p of [A, B]) assert.deepEqual(p.errors.map(String), [], 'errors in the page');
  await A.context().close();
  await B.context().close();
});
