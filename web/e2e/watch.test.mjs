// End-to-end tests of the viewer page, /watch/{room}: a live room watched
// over WHEP in headless Chromium, published by another browser.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { startServer, launchBrowser, join, artifacts, lookAt, widthsUntil, traceScript } from './harness.mjs';

/** @type {Awaited<ReturnType<typeof startServer>>} */
let srv;
/** @type {import('playwright-core').Browser} */
let browser;

before(async () => {
  srv = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

/**
 * Opens the viewer page of room at a size; with trace, the page keeps
 * its connections (traceScript).
 * @param {string} query
 * @param {{width: number, height: number}} viewport
 * @param {boolean} [trace]
 */
async function viewer(query, viewport, trace = false) {
  const context = await browser.newContext({ viewport });
  if (trace) await context.addInitScript(traceScript);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  page.errors = errors;
  await page.goto(`${srv.url}/watch/live${query}`);
  return page;
}

/** @param {import('playwright-core').Page} page @param {string} state */
function waitState(page, state) {
  return page.waitForFunction((s) => document.getElementById('stage')?.dataset.state === s, state, { timeout: 20_000 });
}

/** Frames the page's video has decoded so far. */
function frames(page) {
  return page.evaluate(() => document.querySelector('video')?.getVideoPlaybackQuality().totalVideoFrames ?? 0);
}

async function snap(page, name) {
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: path.join(artifacts, `${name}.png`) });
}

test('the viewer page plays a live room, says offline when the publisher leaves, and resumes when it returns', async () => {
  const W = await viewer('', { width: 1280, height: 800 });
  const P = await viewer('?embed=1', { width: 390, height: 844 });
  await waitState(W, 'offline');
  await snap(W, 'watch-offline-desktop');
  await lookAt(W, 'watch-offline');

  const camera = (/** @type {import('playwright-core').Page} */ p) => p.click('#prejoin-cam');
  let A = await join(browser, srv.url, 'live', 'streamer', { prejoin: camera });
  for (const V of [W, P]) {
    await waitState(V, 'live');
    const f1 = await frames(V);
    await V.waitForFunction((f) => (document.querySelector('video')?.getVideoPlaybackQuality().totalVideoFrames ?? 0) > f + 15, f1, { timeout: 15_000 });
  }
  assert.ok(await W.evaluate(() => document.querySelector('video').videoWidth > 0), 'the video has a picture');
  // The viewer's congestion control starts it on the camera's smallest
  // layer and, the link being free, brings it to the largest.
  const started = Date.now();
  await widthsUntil(A, () => W.evaluate(() => document.querySelector('video').videoWidth), 'the viewer gets the largest layer',
    (sends, gets) => sends.length > 1 && gets === Math.max(...sends));
  console.log(`the viewer on the largest layer ${Date.now() - started} ms after its first frames`);
  assert.equal(await W.locator('#title').textContent(), 'Live');
  await snap(W, 'watch-live-desktop');
  await snap(P, 'watch-live-phone-embed');
  await lookAt(W, 'watch-live');

  await A.context().close();
  await waitState(W, 'offline');
  A = await join(browser, srv.url, 'live', 'streamer', { prejoin: camera });
  await waitState(W, 'live');
  const f2 = await frames(W);
  await W.waitForFunction((f) => (document.querySelector('video')?.getVideoPlaybackQuality().totalVideoFrames ?? 0) > f + 15, f2, { timeout: 15_000 });

  // Mute and fullscreen are buttons with names; sound starts muted.
  assert.equal(await W.evaluate(() => document.querySelector('video').muted), true);
  await W.click('#unmute');
  assert.equal(await W.evaluate(() => document.querySelector('video').muted), false);
  assert.equal(await W.locator('#unmute').getAttribute('aria-pressed'), 'true');

  // Leaving the page ends its viewer on the server.
  const before = await (await fetch(`${srv.url}/api/rooms/live`)).json();
  assert.equal(before.viewers, 2);
  await W.context().close();
  await P.context().close();
  const deadline = Date.now() + 60_000; // see below
  for (;;) {
    const info = await (await fetch(`${srv.url}/api/rooms/live`)).json();
    if (info.viewers === 0) break;
    assert.ok(Date.now() < deadline, `${info.viewers} viewers left after the pages closed`);
    await new Promise((r) => setTimeout(r, 200));
  }
  for (const V of [W, P]) assert.deepEqual(V.errors.map(String), []);
  await A.context().close();
});

test('a room that is not live, and one that does not exist, say so', async () => {
  const V = await viewer('', { width: 1280, height: 800 });
  await V.goto(`${srv.url}/watch/chat`);
  await waitState(V, 'error');
  assert.match(await V.locator('#status').textContent(), /no live stream/);
  await V.goto(`${srv.url}/watch/nope`);
  await waitState(V, 'error');
  assert.match(await V.locator('#status').textContent(), /no room/);
  await lookAt(V, 'watch-error');
  await V.context().close();
});

test('the room shows its viewer page and how many watch it', async () => {
  const A = await join(browser, srv.url, 'live', 'host');
  const link = A.locator('#viewers');
  await link.waitFor();
  assert.equal(await link.textContent(), 'Viewer page');
  assert.equal(await link.getAttribute('href'), '/watch/live');
  const V = await viewer('', { width: 1280, height: 800 });
  await A.waitForFunction(() => document.getElementById('viewers')?.textContent === '1 watching', null, { timeout: 15_000 });
  // The page says goodbye as it closes (DELETE); if that is lost, the
  // viewer's connection fails and ends it, within a minute.
  await V.context().close();
  await A.waitForFunction(() => document.getElementById('viewers')?.textContent === 'Viewer page', null, { timeout: 60_000 });
  const C = await join(browser, srv.url, 'chat', 'clipper');
  assert.equal(await C.locator('#viewers').isHidden(), true, 'a clip room has no viewer page');
  await A.context().close();
  await C.context().close();
});

/** Video frames decoded on the page's latest connection (a traced page). */
function decoded(page) {
  return page.evaluate(async () => {
    const pc = window.__trace.pcs.at(-1);
    let n = 0;
    (await pc.getStats()).forEach((r) => {
      if (r.type === 'inbound-rtp' && r.kind === 'video') n += r.framesDecoded ?? 0;
    });
    return n;
  });
}

test('after the server restarts, the viewer page plays again by itself, without a reload', async () => {
  const W = await viewer('', { width: 1280, height: 800 }, true);
  const A = await join(browser, srv.url, 'live', 'streamer', { prejoin: (p) => p.click('#prejoin-cam') });
  await waitState(W, 'live');
  const f0 = await frames(W);
  await W.waitForFunction((f) => (document.querySelector('video')?.getVideoPlaybackQuality().totalVideoFrames ?? 0) > f + 15, f0, { timeout: 15_000 });
  // A mark in the document: a reload would lose it.
  await W.evaluate(() => Object.defineProperty(window, '__before', { value: true }));
  const pcs = await W.evaluate(() => window.__trace.pcs.length);

  await srv.restart();
  const back = Date.now();
  // The page notices the lost connection and makes a new one to the new
  // server; the streamer's page rejoins and publishes again.
  await W.waitForFunction((n) => window.__trace.pcs.length > n && window.__trace.pcs.at(-1).connectionState === 'connected', pcs, { timeout: 60_000 });
  assert.equal(await W.evaluate(() => window.__before), true, 'the page was reloaded');
  await W.waitForFunction(() => document.getElementById('stage')?.dataset.state === 'live', null, { timeout: 60_000 });
  console.log(`the viewer page plays again ${Date.now() - back} ms after the server is back`);
  const d0 = await decoded(W);
  const f1 = await frames(W);
  // Generous: the machine may be busy with other tests' browsers.
  const deadline = Date.now() + 30_000;
  while ((await decoded(W)) < d0 + 15) {
    assert.ok(Date.now() < deadline, `the new connection decoded ${await decoded(W)} frames, ${d0} 30 s ago`);
    await new Promise((r) => setTimeout(r, 200));
  }
  await W.waitForFunction((f) => (document.querySelector('video')?.getVideoPlaybackQuality().totalVideoFrames ?? 0) > f + 15, f1, { timeout: 30_000 });
  assert.ok(await W.evaluate(() => document.querySelector('video').videoWidth > 0), 'the video has a picture again');
  assert.deepEqual(W.errors.map(String), []);
  await W.context().close();
  await A.context().close();
});
