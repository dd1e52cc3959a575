// End-to-end tests of the room's timeline in headless Chromium: chat and
// clips in one order, links, the new-messages button, a phone's width, the
// clip bubble's player (play, pause, seek, speed, a video in full screen),
// the grouping of one author's consecutive items, unplayed clips, the
// auto-play queue and PLAY FROM HERE. Each test has a room of its own, with nothing in it from
// other tests; clips are uploaded (ffmpeg-made tones) rather than recorded,
// so that their lengths are known.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, join, makeClip, uploadClip, lookAt } from './harness.mjs';

/** @type {Awaited<ReturnType<typeof startServer>>} */
let srv;
/** @type {import('playwright-core').Browser} */
let browser;
const pages = [];

before(async () => {
  const room = (title) => `mode = "mediaChat"\ntitle = "${title}"\n`;
  srv = await startServer({ rooms: { order: room('In order'), bubble: room('Bubbles'), queue: room('Queue') } });
  browser = await launchBrowser();
});

after(async () => {
  for (const p of pages) {
    if (p.errors.length) console.log(`page errors: ${p.errors.map(String).join('\n')}`);
  }
  await browser?.close();
  await srv?.stop();
});

/**
 * @param {string} room
 * @param {string} name
 */
async function user(room, name) {
  const p = await join(browser, srv.url, room, name);
  pages.push(p);
  return p;
}

async function closeAll(...ps) {
  for (const p of ps) await p.context().close();
}

/** Unexpected page errors (a 404 for a resource, a thrown exception). */
function noErrors(...ps) {
  for (const p of ps) assert.deepEqual(p.errors.map(String), [], 'errors in the page');
}

const rows = (page, author) => page.locator(`#timeline .clip[data-author="${author}"]`);

/**
 * The timeline as the page shows it: its messages and clips in order, each
 * as "msg:<text>" or "clip:<id>".
 * @param {import('playwright-core').Page} page
 */
function timelineOrder(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll('#timeline > li.item')].map((li) =>
      li.classList.contains('clip') ? `clip:${li.getAttribute('data-id')}` : `msg:${li.querySelector('.text')?.textContent}`,
    ),
  );
}

/**
 * How the page groups its timeline: per message or clip, "head" for the
 * first of a group (its author named) or "cont" for one that carries on
 * the one before, and ",last" for the last of its group.
 * @param {import('playwright-core').Page} page
 */
function grouping(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll('#timeline > li.item')].map((li) => `${li.classList.contains('cont') ? 'cont' : 'head'}${li.classList.contains('last') ? ',last' : ''}`),
  );
}

/** Sends a chat message to the room. */
async function say(page, text) {
  await page.fill('#chat-text', text);
  await page.press('#chat-text', 'Enter');
}

/**
 * Keeps, in the page, the order in which clips start and end playing
 * (window.__events: "playing:<id>", "ended:<id>") and every websocket
 * message the client sends (window.__sent).
 * @param {import('playwright-core').Page} page
 */
async function watch(page) {
  await page.evaluate(() => {
    const w = /** @type {any} */ (window);
    w.__events = [];
    w.__sent = [];
    for (const t of ['playing', 'ended']) {
      document.addEventListener(
        t,
        (ev) => {
          const el = /** @type {HTMLElement} */ (ev.target);
          if (el instanceof HTMLMediaElement && el.dataset.id) w.__events.push(`${t}:${el.dataset.id}`);
        },
        true,
      );
    }
    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function (d) {
      w.__sent.push(String(d));
      return send.call(this, d);
    };
  });
}

/** Turns automatic playing of new clips on or off, from the settings menu. */
async function setAutoplay(page, on) {
  await page.click('#more-player summary');
  await page.setChecked('#autoplay', on);
  await page.click('#more-player summary');
}

test('timeline: chat and clips in one order, grouped by author, links clickable and safe, comings and goings, a jump to new messages, no overflow at 360 px', async () => {
  const A = await user('order', 'tia');
  const B = await user('order', 'uma');
  await A.locator('#timeline .sys').filter({ hasText: 'uma joined' }).waitFor();
  await setAutoplay(B, false);

  await say(A, 'one');
  await B.locator('#timeline .msg').filter({ hasText: 'one' }).waitFor();
  const c1 = await uploadClip(A, 'order', makeClip(3), { description: 'a tone, with a caption' });
  await rows(B, 'tia').waitFor();
  await say(B, 'two: see https://example.org/a?b=1, or javascript:alert(1) and <b>not bold</b>');
  await A.locator('#timeline .msg').filter({ hasText: 'two:' }).waitFor();
  const c2 = await uploadClip(B, 'order', makeClip(2, { video: true, freq: 660 }), { video: true, description: 'a video' });
  await rows(A, 'uma').waitFor();
  await say(A, 'three');
  const want = ['msg:one', `clip:${c1.id}`, 'msg:two: see https://example.org/a?b=1, or javascript:alert(1) and <b>not bold</b>', `clip:${c2.id}`, 'msg:three'];
  for (const p of [A, B]) {
    await p.locator('#timeline .msg').filter({ hasText: 'three' }).waitFor();
    assert.deepEqual(await timelineOrder(p), want, 'the timeline is out of order');
    // One author's consecutive message and clip are one group, named once.
    assert.deepEqual(await grouping(p), ['head', 'cont,last', 'head', 'cont,last', 'head,last'], 'grouped by author');
  }
  assert.equal(await B.locator('#timeline .msg').filter({ hasText: 'one' }).locator('.who').isVisible(), true, "the group's author is not named");
  assert.equal(await B.locator(`#timeline .clip[data-id="${c1.id}"] .who`).isVisible(), false, 'the author named again in their group');
  // The same order for someone who joins later, from the history and the catalog.
  const C = await user('order', 'val');
  await C.locator(`#timeline .clip[data-id="${c2.id}"]`).waitFor();
  assert.deepEqual(await timelineOrder(C), want, 'the timeline from history is out of order');
  assert.equal(await C.locator('#timeline .day').first().textContent(), 'Today');
  // Others' clips are left and right of one's own.
  const side = (p, id) => p.locator(`#timeline .clip[data-id="${id}"]`).evaluate((el) => el.classList.contains('mine'));
  assert.equal(await side(A, c1.id), true);
  assert.equal(await side(B, c1.id), false);

  // The address is a link that opens elsewhere without a referrer; the
  // javascript: "link" and the markup stay text.
  const links = await A.locator('#timeline .msg a').evaluateAll((as) => as.map((a) => ({ href: a.getAttribute('href'), rel: a.getAttribute('rel'), target: a.getAttribute('target'), text: a.textContent })));
  assert.deepEqual(links, [{ href: 'https://example.org/a?b=1', rel: 'noopener noreferrer', target: '_blank', text: 'https://example.org/a?b=1' }]);
  assert.equal(await A.locator('#timeline a[href^="javascript"], #timeline b').count(), 0, 'markup or a javascript: link in the timeline');

  // A reader scrolled up keeps their place; a button counts what came below.
  await A.setViewportSize({ width: 390, height: 600 });
  await A.waitForFunction(() => {
    const l = /** @type {HTMLElement} */ (document.querySelector('#timeline'));
    return l.scrollHeight > l.clientHeight + 100;
  });
  await A.locator('#timeline').evaluate((l) => l.scrollTo({ top: 0 }));
  await A.waitForTimeout(100);
  await say(B, 'four');
  await A.locator('#jump:not([hidden])').waitFor();
  assert.equal(await A.locator('#jump-text').textContent(), '1 new message');
  assert.equal(await A.locator('#timeline').evaluate((l) => l.scrollTop), 0, 'the reader was moved');
  await A.click('#jump');
  await A.locator('#jump').waitFor({ state: 'hidden' });
  await A.waitForFunction(() => {
    const l = /** @type {HTMLElement} */ (document.querySelector('#timeline'));
    return l.scrollHeight - l.scrollTop - l.clientHeight < 48;
  });

  // Nothing is wider than a 360 px phone.
  await A.setViewportSize({ width: 360, height: 740 });
  const wide = await A.evaluate(() => {
    const out = [];
    if (document.documentElement.scrollWidth > 360) out.push(`page ${document.documentElement.scrollWidth} px`);
    const l = /** @type {HTMLElement} */ (document.querySelector('#timeline'));
    if (l.scrollWidth > l.clientWidth) out.push(`timeline ${l.scrollWidth} > ${l.clientWidth} px`);
    for (const b of document.querySelectorAll('#timeline .bubble')) {
      const r = b.getBoundingClientRect();
      if (r.right > 360 || r.left < 0) out.push(`bubble ${r.left}..${r.right}`);
    }
    return out;
  });
  assert.deepEqual(wide, [], 'wider than the screen');

  // The room looked at, light and dark.
  await lookAt(A, 'timeline-order');
  await A.emulateMedia({ colorScheme: 'dark' });
  await lookAt(A, 'timeline-order-dark');
  noErrors(A, B, C);
  await closeAll(A, B, C);
});

test('bubble player: play, pause, seek on the waveform, speed remembered; a video in full screen', async () => {
  const A = await user('bubble', 'wes');
  const B = await user('bubble', 'xia');
  await setAutoplay(B, false);
  const c = await uploadClip(A, 'bubble', makeClip(6));
  const bubble = B.locator(`#timeline .clip[data-id="${c.id}"]`);
  await bubble.waitFor();
  assert.equal(await bubble.locator('.clock').textContent(), '0:06');
  const el = B.locator(`#timeline audio[data-id="${c.id}"]`);
  const at = () => el.evaluate((m) => /** @type {HTMLMediaElement} */ (m).currentTime);

  await bubble.locator('button.play').click();
  await B.waitForFunction((id) => /** @type {HTMLMediaElement|null} */ (document.querySelector(`audio[data-id="${id}"]`))?.currentTime > 0.5, c.id);
  assert.match(await bubble.getAttribute('class'), /playing/);
  assert.match(await bubble.locator('button.play').getAttribute('aria-label'), /^Pause/);
  // Pause, and the position stays.
  await bubble.locator('button.play').click();
  await B.waitForFunction((id) => /** @type {HTMLMediaElement} */ (document.querySelector(`audio[data-id="${id}"]`)).paused, c.id);
  const paused = await at();
  await B.waitForTimeout(300);
  assert.equal(await at(), paused);

  // A click at three quarters of the waveform goes there; so do the keys.
  const box = await bubble.locator('.wave').boundingBox();
  await B.mouse.click(box.x + box.width * 0.75, box.y + box.height / 2);
  const t = await at();
  assert.ok(Math.abs(t - 4.5) < 0.4, `seeked to ${t} s, want 4.5 s`);
  assert.ok(Math.abs(Number(await bubble.locator('.wave').getAttribute('aria-valuenow')) - 4.5) < 0.4);
  await B.keyboard.press('Home');
  assert.ok((await at()) < 0.1, 'Home did not go to the start');
  // A drag seeks as it moves.
  await B.mouse.move(box.x + box.width * 0.2, box.y + box.height / 2);
  await B.mouse.down();
  await B.mouse.move(box.x + box.width * 0.5, box.y + box.height / 2, { steps: 5 });
  await B.mouse.up();
  assert.ok(Math.abs((await at()) - 3) < 0.4, `dragged to ${await at()} s, want 3 s`);

  // Speed: 1×, 1.5×, 2×; remembered after a reload.
  const speed = bubble.locator('button.speed');
  assert.equal(await speed.textContent(), '1×');
  await speed.click();
  assert.equal(await speed.textContent(), '1.5×');
  assert.equal(await el.evaluate((m) => /** @type {HTMLMediaElement} */ (m).playbackRate), 1.5);
  await B.reload();
  await B.waitForFunction(() => window.parley?.state().inRoom);
  await bubble.waitFor();
  assert.equal(await bubble.locator('button.speed').textContent(), '1.5×');
  await bubble.locator('button.play').click();
  await B.waitForFunction((id) => /** @type {HTMLMediaElement|null} */ (document.querySelector(`audio[data-id="${id}"]`))?.currentTime > 0.3, c.id);
  assert.equal(await el.evaluate((m) => /** @type {HTMLMediaElement} */ (m).playbackRate), 1.5);
  await B.keyboard.press('Escape');
  await el.waitFor({ state: 'detached' });

  // A video clip's full screen button plays it, in full screen with the
  // browser's controls; leaving full screen keeps it in its bubble.
  const v = await uploadClip(A, 'bubble', makeClip(6, { video: true }), { video: true });
  const vb = B.locator(`#timeline .clip[data-id="${v.id}"]`);
  await vb.waitFor();
  // Before it plays, its screen shows a frame of it, not a black box.
  await B.waitForFunction((id) => {
    const c = /** @type {HTMLCanvasElement|null} */ (document.querySelector(`#timeline .clip[data-id="${id}"] .screen canvas.poster`));
    if (!c?.width) return false;
    const d = c.getContext('2d')?.getImageData(0, 0, c.width, c.height).data ?? new Uint8ClampedArray();
    let bright = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] + d[i + 1] + d[i + 2] > 150) bright++;
    return bright > d.length / 4 / 10;
  }, v.id);
  await vb.scrollIntoViewIfNeeded();
  await lookAt(B, 'video-clip-unplayed');
  await vb.locator('button.full').click();
  await B.waitForFunction((id) => {
    const f = document.fullscreenElement;
    const video = f instanceof HTMLVideoElement ? f : f?.querySelector('video');
    return !!video && f?.closest('.clip')?.getAttribute('data-id') === id && video.controls;
  }, v.id);
  // Paused, so that it is still there when full screen is left.
  await B.evaluate(async () => {
    const f = document.fullscreenElement;
    (f instanceof HTMLVideoElement ? f : f?.querySelector('video'))?.pause();
    await document.exitFullscreen();
  });
  // The browser's controls go with full screen (at its fullscreenchange).
  await B.waitForFunction((id) => {
    const m = /** @type {HTMLVideoElement|null} */ (document.querySelector(`#timeline .clip[data-id="${id}"] .screen video`));
    return document.fullscreenElement === null && !!m && !m.controls;
  }, v.id);
  noErrors(A, B);
  await closeAll(A, B);
});

test('unplayed clips: a dot and a count, PLAY UNPLAYED in order, clip-played sent; the auto-play queue never cuts a clip off; PLAY FROM HERE', async () => {
  const A = await user('queue', 'yan');
  const B = await user('queue', 'zoe');
  await setAutoplay(B, false);
  await watch(B);
  const c1 = await uploadClip(A, 'queue', makeClip(2));
  const c2 = await uploadClip(A, 'queue', makeClip(1, { freq: 660 }));
  await B.locator(`#timeline .clip[data-id="${c2.id}"]`).waitFor();
  assert.equal(await B.locator('#timeline .clip.unplayed').count(), 2);
  assert.equal(await B.locator('#unplayed-count').textContent(), '2');
  assert.equal(await A.locator('#timeline .clip.unplayed').count(), 0, 'one\'s own clips are not unplayed');
  await B.click('#play-unplayed');
  await B.waitForFunction((id) => /** @type {any} */ (window).__events.includes(`ended:${id}`), c2.id, { timeout: 10_000 });
  assert.deepEqual(await B.evaluate(() => /** @type {any} */ (window).__events), [`playing:${c1.id}`, `ended:${c1.id}`, `playing:${c2.id}`, `ended:${c2.id}`]);
  await B.locator('#play-unplayed').waitFor({ state: 'hidden' });
  assert.equal(await B.locator('#timeline .clip.unplayed').count(), 0);
  const told = (await B.evaluate(() => /** @type {any} */ (window).__sent)).map((m) => JSON.parse(m)).filter((m) => m.type === 'clip-played').map((m) => m.id);
  assert.deepEqual(told, [c1.id, c2.id]);

  // Auto-play on: a clip that arrives while another plays waits for it.
  await setAutoplay(B, true);
  await B.evaluate(() => (/** @type {any} */ (window).__events.length = 0));
  const c3 = await uploadClip(A, 'queue', makeClip(3));
  await B.waitForFunction((id) => /** @type {HTMLMediaElement|null} */ (document.querySelector(`audio[data-id="${id}"]`))?.currentTime > 0.5, c3.id, { timeout: 10_000 });
  const c4 = await uploadClip(A, 'queue', makeClip(1, { freq: 660 }));
  await B.waitForFunction((id) => /** @type {any} */ (window).__events.includes(`ended:${id}`), c4.id, { timeout: 15_000 });
  assert.deepEqual(await B.evaluate(() => /** @type {any} */ (window).__events), [`playing:${c3.id}`, `ended:${c3.id}`, `playing:${c4.id}`, `ended:${c4.id}`]);
  // One's own clips do not play by themselves.
  const c5 = await uploadClip(B, 'queue', makeClip(1));
  await rows(A, 'zoe').waitFor();
  await B.waitForTimeout(500);
  assert.equal(await B.locator(`audio[data-id="${c5.id}"]`).count(), 0, 'played one\'s own clip');

  // PLAY FROM HERE: that clip, then the newer ones in order; not the
  // older ones, nor one's own.
  await setAutoplay(B, false);
  const c6 = await uploadClip(A, 'queue', makeClip(1, { freq: 880 }));
  await B.locator(`#timeline .clip[data-id="${c6.id}"]`).waitFor();
  await B.evaluate(() => (/** @type {any} */ (window).__events.length = 0));
  await B.locator(`#timeline .clip[data-id="${c4.id}"] button.from`).click();
  await B.waitForFunction((id) => /** @type {any} */ (window).__events.includes(`ended:${id}`), c6.id, { timeout: 15_000 });
  const events = await B.evaluate(() => /** @type {any} */ (window).__events);
  assert.deepEqual(events, [`playing:${c4.id}`, `ended:${c4.id}`, `playing:${c6.id}`, `ended:${c6.id}`], `from ${c4.id}: not ${c3.id} (older) nor ${c5.id} (own)`);
  // Nothing plays after the newest.
  await B.locator('#timeline audio[data-id]').waitFor({ state: 'detached' });
  noErrors(A, B);
  await closeAll(A, B);
});
