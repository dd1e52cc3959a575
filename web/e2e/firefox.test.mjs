// The core flows of the browser client in Firefox (Debian's firefox-esr over
// WebDriver BiDi), alone and together with Chromium in the same room: join
// and chat, audio and video clips both ways, live push-to-talk and live
// video both ways, a call; a Firefox without an audio output, whose player
// says so; and every clip of a session in sync, as in Chromium.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { startServer, launchBrowser, join, artifacts } from './harness.mjs';
import { missing, firefoxVersion, startPulse, launchFirefox, joinFirefox } from './firefox.mjs';
import { traceScript, publishing, sessionProblems } from './clipsync.mjs';

// Elsewhere a machine without Firefox skips these tests; CI fails them.
const why = missing();
const skip = why && !process.env.CI ? `${why}` : false;

/**
 * A page of either browser: Playwright's (Chromium) or puppeteer's
 * (Firefox). Both have evaluate(fn, arg), click, keyboard and errors.
 * @typedef {(import('playwright-core').Page | import('puppeteer-core').Page) & {errors: Error[]}} AnyPage
 */

/** @param {AnyPage} page */
const isFirefox = (page) => typeof (/** @type {any} */ (page).browserContext) === 'function';

/**
 * Waits until fn(arg) is true in the page (it may be async).
 * @param {AnyPage} page
 * @param {(arg: any) => unknown} fn
 * @param {unknown} [arg]
 * @param {number} [timeout]
 */
function until(page, fn, arg, timeout = 30_000) {
  if (isFirefox(page)) return /** @type {any} */ (page).waitForFunction(fn, { timeout, polling: 100 }, arg);
  return /** @type {any} */ (page).waitForFunction(fn, arg, { timeout, polling: 100 });
}

/** @param {AnyPage[]} ps */
async function closeAll(...ps) {
  for (const p of ps) {
    if (isFirefox(p)) await /** @type {any} */ (p).browserContext().close();
    else await /** @type {any} */ (p).context().close();
  }
}

/** @param {AnyPage[]} ps */
function noErrors(...ps) {
  for (const p of ps) assert.deepEqual(p.errors.map(String), [], 'errors in the page');
}

/**
 * Records (or talks) with SPACE held for ms milliseconds, counted from when
 * the client has started; then waits until it is idle again.
 * @param {AnyPage} page
 * @param {number} ms
 */
async function holdSpace(page, ms) {
  await page.click('#recorder h2');
  await page.keyboard.down(' ');
  await until(page, () => document.querySelector('#record')?.getAttribute('aria-pressed') === 'true');
  await new Promise((r) => setTimeout(r, ms)); // the hold itself
  await page.keyboard.up(' ');
  await until(page, () => document.querySelector('#record')?.getAttribute('aria-pressed') === 'false');
}

/**
 * Keeps, for each clip the player plays, how far it got: window.played[id]
 * = {at, duration, width, ended, error}. Media events do not bubble, so
 * the listeners capture them on the document.
 * @param {AnyPage} page
 */
async function watchPlayer(page) {
  await page.evaluate(() => {
    /** @type {Record<string, {at: number, duration: number, width: number, ended: boolean, error: string}>} */
    const played = {};
    Object.assign(window, { played });
    const seen = (/** @type {Event} */ ev) => {
      const el = /** @type {HTMLVideoElement} */ (ev.target);
      if (!(el instanceof HTMLMediaElement) || !el.dataset.id || !el.closest('#timeline')) return;
      const p = (played[el.dataset.id] ??= { at: 0, duration: 0, width: 0, ended: false, error: '' });
      if (el.currentTime > p.at) p.at = el.currentTime;
      if (isFinite(el.duration)) p.duration = el.duration;
      if (el instanceof HTMLVideoElement && el.videoWidth > p.width) p.width = el.videoWidth;
      if (ev.type === 'ended') p.ended = true;
      if (ev.type === 'error') p.error = el.error?.message || 'error';
    };
    for (const t of ['timeupdate', 'durationchange', 'resize', 'ended', 'error']) document.addEventListener(t, seen, true);
  });
}

/**
 * Waits until the newest clip by author is listed in page; returns it as
 * the API lists it.
 * @param {AnyPage} page
 * @param {string} room
 * @param {string} author
 */
async function clipBy(page, room, author) {
  await until(page, (a) => !!document.querySelector(`#timeline .clip[data-author="${a}"]`), author);
  const id = await page.evaluate((a) => [...document.querySelectorAll(`#timeline .clip[data-author="${a}"]`)].at(-1)?.getAttribute('data-id'), author);
  return page.evaluate(
    async ([room, id]) => (await (await fetch(`/api/rooms/${room}/clips`, { cache: 'no-store' })).json()).clips.find((/** @type {any} */ c) => c.id === id),
    [room, id],
  );
}

/**
 * Waits until page has played clip id to its end; returns how far it got.
 * @param {AnyPage} page
 * @param {string} id
 */
async function playedToEnd(page, id) {
  await until(page, (id) => /** @type {any} */ (window).played[id]?.ended || /** @type {any} */ (window).played[id]?.error, id, 30_000);
  return page.evaluate((id) => /** @type {any} */ (window).played[id], id);
}

/**
 * Inbound RTP of one kind, summed over the page's tracks.
 * @param {AnyPage} page
 * @param {string} kind
 */
function inbound(page, kind) {
  return page.evaluate(async (kind) => {
    const s = (await window.parley.stats()).filter((x) => x.kind === kind);
    return { packets: s.reduce((n, x) => n + x.packets, 0), frames: s.reduce((n, x) => n + x.frames, 0) };
  }, kind);
}

/**
 * Waits until page has received more of kind than it had (packets, or
 * decoded frames for video).
 * @param {AnyPage} page
 * @param {string} kind
 * @param {number} more
 */
async function receives(page, kind, more) {
  const from = await inbound(page, kind);
  const key = kind === 'video' ? 'frames' : 'packets';
  await until(
    page,
    async ([kind, key, want]) => {
      const s = (await window.parley.stats()).filter((x) => x.kind === kind);
      return s.reduce((n, x) => n + /** @type {any} */ (x)[key], 0) >= want;
    },
    [kind, key, from[key] + more],
  );
}

describe(`Firefox (${why ? 'not installed' : 'firefox-esr ' + firefoxVersion()})`, { skip }, () => {
  /** @type {Awaited<ReturnType<typeof startServer>>} */
  let srv;
  /** @type {Awaited<ReturnType<typeof startPulse>>} */
  let pulse;
  /** @type {import('puppeteer-core').Browser} */
  let firefox;
  /** @type {import('playwright-core').Browser} */
  let chromium;
  /** @type {AnyPage[]} */
  const pages = [];

  before(async () => {
    if (why) throw new Error(why);
    srv = await startServer();
    pulse = await startPulse();
    firefox = await launchFirefox({ pulse });
    chromium = await launchBrowser();
  });

  after(async () => {
    for (const p of pages) {
      if (p.errors.length) console.log(`page errors: ${p.errors.map(String).join('\n')}`);
    }
    await firefox?.close();
    await chromium?.close();
    await pulse?.stop();
    await srv?.stop();
  });

  /**
   * A user in Firefox. With trace, the page keeps its connections
   * (clipsync.traceScript, added to the page before it loads the client).
   * @param {string} room
   * @param {string} name
   * @param {{trace?: boolean, camera?: boolean}} [opts] camera: on, in a live room
   */
  async function fox(room, name, opts = {}) {
    const traced = {
      async createBrowserContext() {
        const context = await firefox.createBrowserContext();
        const newPage = context.newPage.bind(context);
        context.newPage = async (/** @type {any} */ o) => {
          const page = await newPage(o);
          await page.evaluateOnNewDocument(traceScript);
          return page;
        };
        return context;
      },
    };
    const p = /** @type {AnyPage} */ (await joinFirefox(opts.trace ? /** @type {any} */ (traced) : firefox, srv.url, room, name, { camera: opts.camera }));
    pages.push(p);
    await watchPlayer(p);
    return p;
  }

  /**
   * A user in Chromium.
   * @param {string} room
   * @param {string} name
   * @param {{camera?: boolean}} [opts] camera: on, in a live room
   */
  async function chrome(room, name, opts = {}) {
    const prejoin = opts.camera ? (/** @type {import('playwright-core').Page} */ p) => p.click('#prejoin-cam') : undefined;
    const p = /** @type {AnyPage} */ (/** @type {unknown} */ (await join(chromium, srv.url, room, name, { prejoin })));
    pages.push(p);
    await watchPlayer(p);
    return p;
  }

  test('join and chat with Chromium, both ways; text stays text', async () => {
    const F = await fox('chat', 'fern');
    const C = await chrome('chat', 'cleo');
    await until(F, () => !!document.querySelector('#online button[data-name="cleo"]'));
    await until(C, () => !!document.querySelector('#online button[data-name="fern"]'));

    const say = async (/** @type {AnyPage} */ p, /** @type {string} */ text) => {
      await p.click('#chat-text');
      await p.keyboard.type(text);
      await p.keyboard.press('Enter');
    };
    const heard = (/** @type {AnyPage} */ p, /** @type {string} */ text) =>
      until(p, (t) => [...document.querySelectorAll('#timeline .msg')].some((m) => m.textContent?.includes(t)), text);
    await say(F, 'from firefox <b>bold</b>');
    await heard(C, 'from firefox <b>bold</b>');
    await say(C, 'from chromium');
    await heard(F, 'from chromium');
    await heard(F, 'from firefox <b>bold</b>');
    assert.equal(await F.evaluate(() => document.querySelectorAll('#timeline b').length), 0, 'chat text inserted as HTML');

    mkdirSync(artifacts, { recursive: true });
    await /** @type {import('puppeteer-core').Page} */ (/** @type {unknown} */ (F)).screenshot({ path: path.join(artifacts, 'firefox-room.png') });
    noErrors(F, C);
    await closeAll(F, C);
  });

  test('mediaChat: a clip recorded in Firefox plays in Chromium, and one from Chromium plays in Firefox to the end', async () => {
    const F = await fox('chat', 'fay');
    const C = await chrome('chat', 'cal');

    await holdSpace(F, 2000);
    const fromF = await clipBy(C, 'chat', 'fay');
    assert.equal(fromF.kind, 'audio');
    assert.ok(fromF.duration >= 1.6 && fromF.duration <= 2.8, `Firefox's clip lasts ${fromF.duration} s, want about 2 s`);
    const inC = await playedToEnd(C, fromF.id);
    assert.equal(inC.error, '', 'Chromium failed to play the clip from Firefox');
    assert.ok(Math.abs(inC.at - fromF.duration) < 0.3, `Chromium played ${inC.at} s of ${fromF.duration} s`);

    await holdSpace(C, 2000);
    const fromC = await clipBy(F, 'chat', 'cal');
    const inF = await playedToEnd(F, fromC.id);
    assert.equal(inF.error, '', 'Firefox failed to play the clip from Chromium');
    assert.ok(Math.abs(inF.duration - fromC.duration) < 0.3, `Firefox's player: ${inF.duration} s, server: ${fromC.duration} s`);
    assert.ok(Math.abs(inF.at - inF.duration) < 0.3, `Firefox played ${inF.at} s of ${inF.duration} s`);
    noErrors(F, C);
    await closeAll(F, C);
  });

  test('videoChat: a video clip from Firefox plays in Chromium, and one from Chromium in Firefox', async () => {
    const F = await fox('videochat', 'vera');
    const C = await chrome('videochat', 'cole');
    await until(F, () => {
      const v = /** @type {HTMLVideoElement|null} */ (document.querySelector('#preview:not([hidden])'));
      return !!v && v.videoWidth > 0;
    });

    await holdSpace(F, 2000);
    const fromF = await clipBy(C, 'videochat', 'vera');
    assert.equal(fromF.kind, 'video');
    const inC = await playedToEnd(C, fromF.id);
    assert.equal(inC.error, '', 'Chromium failed to play the video clip from Firefox');
    assert.ok(inC.width > 0, 'no picture in Chromium');
    assert.ok(inC.at > 1.5, `Chromium played ${inC.at} s of ${fromF.duration} s`);

    await holdSpace(C, 2000);
    const fromC = await clipBy(F, 'videochat', 'cole');
    assert.equal(fromC.kind, 'video');
    const inF = await playedToEnd(F, fromC.id);
    assert.equal(inF.error, '', 'Firefox failed to play the video clip from Chromium');
    assert.ok(inF.width > 0, 'no picture in Firefox');
    assert.ok(inF.at > 1.5, `Firefox played ${inF.at} s of ${fromC.duration} s`);
    noErrors(F, C);
    await closeAll(F, C);
  });

  test('audioStream: live push-to-talk between Firefox and Chromium, both ways', async () => {
    const F = await fox('walkie', 'finn');
    const C = await chrome('walkie', 'chad');
    for (const [talker, listener] of [
      [F, C],
      [C, F],
    ]) {
      await talker.click('#recorder h2');
      await talker.keyboard.down(' ');
      await receives(listener, 'audio', 50); // a second of audio
      await talker.keyboard.up(' ');
      await until(talker, () => document.querySelector('#record')?.getAttribute('aria-pressed') === 'false');
    }
    await until(F, () => !!document.querySelector('#live .tile'));
    noErrors(F, C);
    await closeAll(F, C);
  });

  test('videoStream: Firefox and Chromium see each other live, frames decoded', async () => {
    const F = await fox('live', 'faye', { camera: true });
    const C = await chrome('live', 'cyd', { camera: true });
    await receives(F, 'video', 30);
    await receives(C, 'video', 30);
    for (const p of [F, C]) await until(p, () => [...document.querySelectorAll('#tiles video')].some((v) => /** @type {HTMLVideoElement} */ (v).videoWidth > 0 && /** @type {HTMLVideoElement} */ (v).currentTime > 0.5));
    noErrors(F, C);
    await closeAll(F, C);
  });

  test('a call from Firefox to Chromium: ring, accept, audio both ways, hang up', async () => {
    const F = await fox('chat', 'flo');
    const C = await chrome('chat', 'cam');
    await until(F, () => !!document.querySelector('#online button[data-name="cam"]'));
    await F.click('#online button[data-name="cam"]');
    await until(F, () => !(/** @type {HTMLButtonElement} */ (document.querySelector('#call')).disabled));
    await F.click('#call');
    await until(C, () => !!document.querySelector('#ringing:not([hidden])'));
    assert.match(await C.evaluate(() => document.querySelector('#ringing-text')?.textContent ?? ''), /flo is calling/);
    await C.click('#accept');
    for (const p of [F, C]) await until(p, () => document.querySelector('#call-state')?.getAttribute('data-state') === 'active');
    await receives(F, 'audio', 50);
    await receives(C, 'audio', 50);
    await F.click('#hangup');
    for (const p of [F, C]) await until(p, () => document.querySelector('#call-state')?.getAttribute('data-state') === 'idle');
    noErrors(F, C);
    await closeAll(F, C);
  });

  /**
   * Records the kinds in order in one session of a videoChat room in
   * Firefox, with pause ms between clips, and checks every clip
   * (clipsync.sessionProblems).
   * @param {string} name
   * @param {('video'|'audio')[]} kinds
   * @param {number} pause
   */
  async function syncSession(name, kinds, pause) {
    const F = await fox('videochat', name, { trace: true });
    const count = () => F.evaluate((n) => document.querySelectorAll(`#timeline .clip[data-author="${n}"]`).length, name);
    const problems = await sessionProblems({
      url: srv.url,
      log: srv.log,
      room: 'videochat',
      name,
      kinds,
      pause,
      choose: async (kind) => {
        await F.click(`input[name="kind"][value="${kind}"]`);
        await until(F, (hidden) => /** @type {HTMLElement} */ (document.querySelector('#preview')).hidden === hidden, kind !== 'video');
      },
      published: async (video) => {
        await until(F, publishing, video, 10_000);
        // The camera's picture is there to be sent from the first moment.
        if (video) await until(F, () => /** @type {HTMLVideoElement} */ (document.querySelector('#preview')).videoWidth > 0);
      },
      talk: async (ms) => {
        const before = await count();
        const t0 = Date.now();
        await holdSpace(F, ms);
        const held = (Date.now() - t0) / 1000;
        await until(F, ([n, want]) => document.querySelectorAll(`#timeline .clip[data-author="${n}"]`).length === want, [name, before + 1], 10_000);
        const id = await F.evaluate((n) => [...document.querySelectorAll(`#timeline .clip[data-author="${n}"]`)].at(-1)?.getAttribute('data-id') ?? null, name);
        return { id, held };
      },
    });
    assert.deepEqual(problems, [], 'clips out of sync');
    noErrors(F);
    await closeAll(F);
  }

  test('videoChat: every clip of a session is in sync: video, audio, video', async () => {
    await syncSession('fsync1', ['video', 'audio', 'video'], 0);
  });

  test('videoChat: every clip of a session is in sync: video, a 4 s pause, video', async () => {
    await syncSession('fsync2', ['video', 'video'], 4000);
  });

  test('a Firefox without an audio output says so once, instead of skipping every clip', async () => {
    const mute = await launchFirefox({ pulse: null });
    try {
      const F = /** @type {AnyPage} */ (await joinFirefox(mute, srv.url, 'chat', 'nell'));
      await watchPlayer(F);
      const C = await chrome('chat', 'cora');
      for (let i = 1; i <= 2; i++) {
        await holdSpace(C, 1000);
        await until(F, (n) => document.querySelectorAll('#timeline .clip[data-author="cora"]').length === n, i);
        await until(F, (n) => Object.values(/** @type {any} */ (window).played).filter((p) => p.error).length === n, i);
      }
      const notice = await F.evaluate(() => ({ text: document.querySelector('#notice-text')?.textContent ?? '', hidden: /** @type {HTMLElement} */ (document.querySelector('#notice')).hidden }));
      assert.equal(notice.hidden, false);
      assert.match(notice.text, /cannot play sound: no audio output/);
      // The clips stay listed, to be played once there is an output.
      assert.equal(await F.evaluate(() => document.querySelectorAll('#timeline audio[data-id], #timeline video[data-id]').length), 0);
      noErrors(F, C);
      await closeAll(C);
    } finally {
      await mute.close();
    }
  });
});
