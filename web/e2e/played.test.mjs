// End-to-end tests of what the server keeps of each person's listening:
// played or not across a reload and on another device with the same key;
// talk spurts heard live not played again from their archive; the
// waveform of a clip recorded in the browser.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, join, makeClip, uploadClip, holdSpace, watchPlaying } from './harness.mjs';

/** @type {Awaited<ReturnType<typeof startServer>>} */
let srv;
/** @type {import('playwright-core').Browser} */
let browser;

before(async () => {
  srv = await startServer({
    rooms: {
      played: 'mode = "mediaChat"\ntitle = "Played"\n',
      spurts: 'mode = "audioStream"\ntitle = "Spurts"\narchive = true\n',
      waves: 'mode = "mediaChat"\ntitle = "Waves"\n',
    },
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

/** Turns automatic playing of new clips off, from the settings menu. */
async function noAutoplay(page) {
  await page.click('#more-player summary');
  await page.setChecked('#autoplay', false);
  await page.click('#more-player summary');
}

const clip = (page, id) => page.locator(`#timeline .clip[data-id="${id}"]`);
const unplayed = (page, id) => clip(page, id).evaluate((e) => e.classList.contains('unplayed'));

test('played or not is kept by the server: after a reload, and on another device with the same key', async () => {
  const A = await join(browser, srv.url, 'played', 'ada');
  const B = await join(browser, srv.url, 'played', 'bo');
  await noAutoplay(B);
  const c1 = await uploadClip(A, 'played', makeClip(1));
  const c2 = await uploadClip(A, 'played', makeClip(1, { freq: 660 }));
  await clip(B, c2.id).waitFor();
  assert.equal(await B.locator('#unplayed-count').textContent(), '2');
  await clip(B, c1.id).locator('button.play').click();
  await B.waitForFunction((id) => !document.querySelector(`#timeline .clip[data-id="${id}"]`)?.classList.contains('unplayed'), c1.id);
  // The server has it once the clip list says so for bo's key.
  await B.waitForFunction(async (id) => {
    const key = JSON.parse(localStorage.getItem('parley.ownerKey') ?? '""');
    const r = await fetch('/api/rooms/played/clips', { headers: { Authorization: `Bearer ${key}` } });
    return (await r.json()).clips.some((c) => c.id === id && c.played === true);
  }, c1.id);

  await B.reload();
  await B.waitForFunction(() => window.parley?.state().inRoom);
  await clip(B, c2.id).waitFor();
  assert.equal(await unplayed(B, c1.id), false, 'the clip played before the reload is unplayed again');
  assert.equal(await unplayed(B, c2.id), true);
  assert.equal(await B.locator('#unplayed-count').textContent(), '1');

  const key = await B.evaluate(() => localStorage.getItem('parley.ownerKey'));
  const D = await join(browser, srv.url, 'played', 'bo-phone', {
    setup: (p) => p.addInitScript((k) => localStorage.setItem('parley.ownerKey', k), key),
  });
  await clip(D, c2.id).waitFor();
  assert.equal(await unplayed(D, c1.id), false, 'another device with the key sees the clip unplayed');
  assert.equal(await unplayed(D, c2.id), true);
  for (const p of [A, B, D]) await p.context().close();
});

test('a talk spurt heard live is archived as played for those who heard it, and does not play again', async () => {
  const A = await join(browser, srv.url, 'spurts', 'cy');
  const B = await join(browser, srv.url, 'spurts', 'di');
  await watchPlaying(B);
  await holdSpace(A, 1800);
  const spurt = B.locator('#timeline .clip[data-author="cy"]');
  await spurt.waitFor({ timeout: 20_000 });
  assert.equal(await spurt.evaluate((e) => e.classList.contains('unplayed')), false, 'the spurt heard live is unplayed');
  // A clip that would auto-play starts within a moment; give it two.
  await B.waitForTimeout(2000);
  assert.deepEqual(await B.evaluate(() => /** @type {any} */ (window).__played), [], 'the spurt played again');
  for (const p of [A, B]) await p.context().close();
});

test('a clip recorded in the browser has a waveform of its sound, drawn as bars', async () => {
  const A = await join(browser, srv.url, 'waves', 'ed');
  const B = await join(browser, srv.url, 'waves', 'flo');
  await noAutoplay(B);
  await holdSpace(A, 2500);
  const row = B.locator('#timeline .clip[data-author="ed"]');
  await row.waitFor({ timeout: 20_000 });
  const id = await row.getAttribute('data-id');
  const list = await (await fetch(`${srv.url}/api/rooms/waves/clips`)).json();
  const c = list.clips.find((x) => x.id === id);
  assert.ok(Array.isArray(c.waveform) && c.waveform.length >= 32, `waveform ${JSON.stringify(c.waveform)}`);
  assert.ok(Math.max(...c.waveform) > 20, `the fake microphone's tone is not in the waveform: ${c.waveform}`);
  // The bars: columns of the canvas painted to more than one height.
  const heights = await row.locator('.wave canvas').evaluate((cv) => {
    const canvas = /** @type {HTMLCanvasElement} */ (cv);
    const g = canvas.getContext('2d');
    if (!g) return [];
    const { data, width, height } = g.getImageData(0, 0, canvas.width, canvas.height);
    const tops = new Set();
    for (let x = 0; x < width; x++) {
      for (let y = 0; y < height; y++) {
        if (data[(y * width + x) * 4 + 3] > 0) {
          tops.add(y);
          break;
        }
      }
    }
    return [...tops];
  });
  assert.ok(heights.length >= 2, `the bars are drawn at ${heights.length} heights`);
  for (const p of [A, B]) await p.context().close();
});
