// End-to-end tests of the browser client: two or three users in headless
// Chromium with fake media devices, against a real parley server.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, join, shot, holdSpace, lookAt } from './harness.mjs';
import { publishing, sessionProblems } from './clipsync.mjs';

/** @type {Awaited<ReturnType<typeof startServer>>} */
let srv;
/** @type {import('playwright-core').Browser} */
let browser;
const pages = [];

before(async () => {
  srv = await startServer();
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
 * @param {Parameters<typeof join>[4]} [opts]
 */
async function user(room, name, opts) {
  const p = await join(browser, srv.url, room, name, opts);
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
/** The media element playing in the timeline, if any. */
const playing = (page) => page.locator('#timeline audio[data-id], #timeline video[data-id]');

test('chat: to the room and privately; text stays text', async () => {
  const A = await user('chat', 'ann');
  const B = await user('chat', 'bob');
  const C = await user('chat', 'cyd');
  await A.waitForSelector('#online button[data-name="cyd"]');

  await A.fill('#chat-text', 'hello <img src=x onerror=alert(1)> all');
  await A.press('#chat-text', 'Enter');
  for (const p of [B, C]) {
    const msg = p.locator('#timeline .msg').filter({ hasText: 'hello <img src=x onerror=alert(1)> all' });
    await msg.waitFor();
    assert.equal(await p.locator('#timeline img').count(), 0, 'chat text inserted as HTML');
  }
  assert.equal(await B.locator('#unread').textContent(), '1');

  // A private message: select bob, send, then a public one as a marker.
  await A.click('#online button[data-name="bob"]');
  assert.match(await A.locator('#chat-to').textContent(), /bob/);
  await A.fill('#chat-text', 'just for bob');
  await A.press('#chat-text', 'Enter');
  await A.click('#chat-to-clear');
  await A.fill('#chat-text', 'marker');
  await A.press('#chat-text', 'Enter');
  await B.locator('#timeline .msg.private').filter({ hasText: 'just for bob' }).waitFor();
  await C.locator('#timeline .msg').filter({ hasText: 'marker' }).waitFor();
  // The server sends in order: by the marker, C would have the private one.
  assert.equal(await C.locator('#timeline .msg').filter({ hasText: 'just for bob' }).count(), 0, 'private message reached a third person');
  await A.locator('#timeline .msg.private').filter({ hasText: 'just for bob' }).waitFor();

  await shot(A, '#conversation', 'conversation-chat');

  // A message for someone away: C leaves, A writes to C by name; C comes
  // back (same browser, so the same owner key) and finds it. A newcomer
  // under C's name, with another key, does not; a newcomer sees the
  // room's history but not the private message.
  await A.click('#online button[data-name="cyd"]');
  await C.click('#leave');
  await A.waitForSelector('#online button[data-name="cyd"]', { state: 'detached' });
  assert.match(await A.locator('#chat-to').textContent(), /away/);
  await A.fill('#chat-text', 'see you later, cyd');
  await A.press('#chat-text', 'Enter');
  await A.locator('#timeline .msg').filter({ hasText: 'waiting for cyd' }).waitFor();
  const D = await user('chat', 'dee');
  await D.locator('#timeline .msg.history').filter({ hasText: 'marker' }).waitFor();
  assert.equal(await D.locator('#timeline .msg').filter({ hasText: 'just for bob' }).count(), 0, 'a private message in the history');
  await C.selectOption('#entry-room', 'chat');
  await C.click('#entry-join');
  await C.locator('#timeline .msg.offline').filter({ hasText: 'see you later, cyd' }).waitFor();
  noErrors(A, B, C, D);
  await closeAll(A, B, C, D);
});

test('mediaChat: SPACE records a clip that the other plays to the end; DELETE removes it everywhere', async () => {
  const A = await user('chat', 'amy');
  const B = await user('chat', 'ben');

  await holdSpace(A, 2000);
  const released = Date.now();
  const row = rows(B, 'amy');
  await row.waitFor({ timeout: 3000 });
  const shownAfter = Date.now() - released;

  // B plays it by itself, to the end.
  const media = B.locator('#timeline audio[data-id]');
  await media.waitFor({ state: 'attached', timeout: 3000 });
  const id = await row.getAttribute('data-id');
  assert.equal(await media.getAttribute('data-id'), id);
  await shot(B, '#conversation', 'conversation-playing');
  // The player moves on at "ended"; what it reached is kept from timeupdate.
  const played = await B.evaluate(
    (id) =>
      new Promise((resolve, reject) => {
        const el = /** @type {HTMLMediaElement} */ (document.querySelector('#timeline audio[data-id]'));
        if (!el || el.dataset.id !== id) return reject(new Error('not playing the clip'));
        const t0 = performance.now();
        const start = el.currentTime;
        let duration = el.duration;
        let at = el.currentTime;
        const seen = () => {
          if (isFinite(el.duration)) duration = el.duration;
          if (el.currentTime > 0) at = el.currentTime;
        };
        el.addEventListener('timeupdate', seen);
        el.addEventListener('durationchange', seen);
        el.addEventListener('ended', () => resolve({ wall: (performance.now() - t0) / 1000, duration, at, start }), { capture: true, once: true });
        el.addEventListener('error', () => reject(new Error('media error')), { once: true });
        setTimeout(() => reject(new Error('did not end in 15 s')), 15_000);
      }),
    id,
  );
  const clipSeconds = Number((await B.evaluate(async (id) => {
    const r = await fetch(`/api/rooms/chat/clips`);
    return (await r.json()).clips.find((c) => c.id === id).duration;
  }, id)));
  assert.ok(clipSeconds >= 1.6 && clipSeconds <= 2.8, `clip lasts ${clipSeconds} s, want about 2 s`);
  assert.ok(Math.abs(played.duration - clipSeconds) < 0.3, `player duration ${played.duration}, server ${clipSeconds}`);
  assert.ok(Math.abs(played.at - played.duration) < 0.1, `ended at ${played.at} of ${played.duration}`);
  // It played in real time from where it was when we looked.
  assert.ok(played.wall >= (played.duration - played.start) * 0.8, `played ${played.wall} s of wall time for ${played.duration - played.start} s`);
  console.log(`clip shown ${shownAfter} ms after release; ${clipSeconds} s played in ${played.wall.toFixed(2)} s`);

  // Only the author has DELETE; it removes the clip from both lists.
  assert.equal(await rows(B, 'amy').locator('button.del:visible').count(), 0);
  await rows(A, 'amy').locator('button.del').click();
  await rows(A, 'amy').waitFor({ state: 'detached' });
  await rows(B, 'amy').waitFor({ state: 'detached' });
  await shot(A, '#recorder', 'recorder-panel');
  noErrors(A, B);
  await closeAll(A, B);
});

test('mediaForum: a draft is previewed, and others see it only once published', async () => {
  const A = await user('forum', 'ada');
  const B = await user('forum', 'bea');
  await A.fill('#description', 'first <b>post</b>');
  // Enter on the record button records hands-free; the button then sends.
  await A.focus('#record');
  await A.keyboard.press('Enter');
  await A.waitForFunction(() => document.querySelector('#record')?.getAttribute('aria-pressed') === 'true');
  await A.waitForTimeout(2000);
  await A.click('#record');
  await A.locator('#draft:not([hidden])').waitFor({ timeout: 5000 });
  const draft = A.locator('#draft .clip[data-author="ada"]');
  await draft.waitFor();
  assert.match(await draft.getAttribute('class'), /draft/);
  assert.equal(await draft.locator('.caption').textContent(), 'first <b>post</b>');
  assert.equal(await rows(A, 'ada').count(), 0, 'a draft in the timeline');

  // Preview: the draft plays in its bubble (with its token).
  await draft.locator('button.play').click();
  await A.waitForFunction(() => {
    const el = /** @type {HTMLMediaElement|null} */ (document.querySelector('#draft audio[data-id], #draft video[data-id]'));
    return el && el.currentTime > 0.3;
  });
  await lookAt(A, 'forum-draft');

  // B sees nothing yet, not even through the API.
  assert.equal(await rows(B, 'ada').count(), 0);
  const seen = await B.evaluate(async () => (await (await fetch('/api/rooms/forum/clips')).json()).clips.length);
  assert.equal(seen, 0);

  await A.click('#draft-publish');
  await rows(B, 'ada').waitFor({ timeout: 5000 });
  await A.locator('#draft').waitFor({ state: 'hidden' });
  await rows(A, 'ada').waitFor();
  assert.doesNotMatch(await rows(A, 'ada').getAttribute('class'), /draft/);
  noErrors(A, B);
  await closeAll(A, B);
});

test('audioStream: audio flows only while SPACE is held', async () => {
  const A = await user('walkie', 'al');
  const B = await user('walkie', 'bo');
  const audioPackets = (page) =>
    page.evaluate(async () => (await window.parley.stats()).filter((s) => s.kind === 'audio').reduce((n, s) => n + s.packets, 0));

  await A.locator('#recorder h2').click();
  await A.keyboard.down(' ');
  await B.waitForFunction(async () => (await window.parley.stats()).some((s) => s.kind === 'audio' && s.packets > 0), null, { timeout: 10_000 });
  const p1 = await audioPackets(B);
  await B.waitForTimeout(1000);
  const p2 = await audioPackets(B);
  assert.ok(p2 - p1 > 20, `while talking, ${p2 - p1} packets arrived in 1 s`);
  // The server encrypted and sent them itself, not through Pion's write
  // path, and read and decrypted Chromium's audio itself.
  assert.match(srv.log(), /subscribe connection sends directly/);
  assert.match(srv.log(), /publish connection reads its audio directly.*ssrcs=1/);
  assert.match(srv.log(), /subscribe connection's RTCP read directly/);
  await B.locator('#live .tile').first().waitFor();
  await shot(B, '#live', 'live-panel');
  await A.keyboard.up(' ');

  // After release (and the tail), nothing more arrives.
  await B.waitForTimeout(800);
  const p3 = await audioPackets(B);
  await B.waitForTimeout(1000);
  const p4 = await audioPackets(B);
  assert.equal(p4 - p3, 0, `after release, ${p4 - p3} packets arrived in 1 s`);
  noErrors(A, B);
  await closeAll(A, B);
});

test('videoStream: each sees the other live, every frame decoded', async () => {
  // Both turn their camera on before joining (it is off by default).
  const camera = (/** @type {import('playwright-core').Page} */ p) => p.click('#prejoin-cam');
  const A = await user('live', 'vic', { prejoin: camera });
  const B = await user('live', 'wes', { prejoin: camera });
  /** @param {import('playwright-core').Page} page */
  const video = (page) =>
    page.evaluate(async () => {
      const v = (await window.parley.stats()).filter((s) => s.kind === 'video');
      return { packets: v.reduce((n, s) => n + s.packets, 0), frames: v.reduce((n, s) => n + s.frames, 0) };
    });
  for (const P of [A, B]) {
    await P.waitForFunction(async () => (await window.parley.stats()).some((s) => s.kind === 'video' && s.frames > 10), null, { timeout: 15_000 });
  }
  // Frames keep coming and decoding, encrypted by the server itself (the
  // direct send path).
  const v1 = await video(B);
  await B.waitForTimeout(2000);
  const v2 = await video(B);
  assert.ok(v2.frames - v1.frames >= 20, `in 2 s, ${v2.frames - v1.frames} frames decoded`);
  assert.ok(v2.packets - v1.packets >= 20, `in 2 s, ${v2.packets - v1.packets} video packets`);
  await B.waitForFunction(() => [...document.querySelectorAll('#tiles video')].some((v) => v.videoWidth > 0 && v.currentTime > 0.5));
  assert.match(srv.log(), /subscribe connection sends directly/);
  noErrors(A, B);
  await closeAll(A, B);
});

test('calls: ring, accept, media between the two only, hang up', async () => {
  const A = await user('chat', 'cat');
  const B = await user('chat', 'dan');
  const C = await user('chat', 'eve');
  await A.click('#online button[data-name="dan"]');
  await A.click('#call');
  await B.locator('#ringing:not([hidden])').waitFor();
  assert.match(await B.locator('#ringing-text').textContent(), /cat is calling/);
  assert.equal(await A.locator('#call-state').getAttribute('data-state'), 'calling');
  await shot(B, '#phone', 'phone-ringing');
  await B.click('#accept');
  for (const p of [A, B]) await p.waitForFunction(() => document.querySelector('#call-state')?.getAttribute('data-state') === 'active');

  // In a clip room, the call's media is the only thing forwarded.
  const audio = (page) => page.evaluate(async () => (await window.parley.stats()).filter((s) => s.kind === 'audio').reduce((n, s) => n + s.packets, 0));
  await B.waitForFunction(async () => (await window.parley.stats()).some((s) => s.kind === 'audio' && s.packets > 20), null, { timeout: 10_000 });
  await A.waitForFunction(async () => (await window.parley.stats()).some((s) => s.kind === 'audio' && s.packets > 20), null, { timeout: 10_000 });
  await B.locator('#live .tile').waitFor();
  assert.equal(await audio(C), 0, 'a third person received call media');
  await shot(B, '#live', 'live-call');

  await B.click('#hangup');
  for (const p of [A, B]) await p.waitForFunction(() => document.querySelector('#call-state')?.getAttribute('data-state') === 'idle');
  assert.match(await A.locator('#call-state').textContent(), /ended/);
  await B.locator('#live').waitFor({ state: 'hidden' });
  // The timeline keeps the call and its length, for both.
  for (const [p, other] of [[A, 'dan'], [B, 'cat']]) await p.locator('#timeline .sys.call').filter({ hasText: new RegExp(`Call with ${other} · \\d+:\\d\\d`) }).waitFor();
  // A call that is not answered is a missed call for the one called.
  await A.click('#online button[data-name="eve"]');
  await A.click('#call');
  await C.locator('#ringing:not([hidden])').waitFor();
  await A.click('#hangup');
  await C.locator('#timeline .sys.call').filter({ hasText: 'Missed call from cat' }).waitFor();
  await A.locator('#timeline .sys.call').filter({ hasText: 'Call to eve: cancelled' }).waitFor();
  noErrors(A, B, C);
  await closeAll(A, B, C);
});

test('a denied microphone gives a clear message; chat still works', async () => {
  const denied = await launchBrowser({ deny: true });
  try {
    const A = await join(denied, srv.url, 'chat', 'fay');
    await A.locator('#notice:not([hidden])').waitFor();
    assert.match(await A.locator('#notice-text').textContent(), /microphone was denied/);
    assert.equal(await A.locator('#notice-retry').isVisible(), true);
    await A.locator('#recorder h2').click();
    await A.keyboard.down(' ');
    await A.keyboard.up(' ');
    assert.match(await A.locator('#notice-text').textContent(), /microphone/);
    const B = await user('chat', 'gus');
    await A.fill('#chat-text', 'typing works');
    await A.press('#chat-text', 'Enter');
    await B.locator('#timeline .msg').filter({ hasText: 'typing works' }).waitFor();
    await closeAll(B);
  } finally {
    await denied.close();
  }
});

test('after a server restart, clients reconnect, rejoin and record again', async () => {
  const A = await user('chat', 'hal');
  const B = await user('chat', 'ida');
  await srv.restart();
  for (const p of [A, B]) {
    await p.waitForFunction(() => document.querySelector('#conn')?.getAttribute('data-state') === 'open' && window.parley.state().inRoom, null, { timeout: 20_000 });
  }
  await B.waitForSelector('#online button[data-name="hal"]');
  await holdSpace(A, 1500);
  await rows(B, 'hal').waitFor({ timeout: 5000 });
  // Reconnecting is not an error.
  A.errors.splice(0, A.errors.length, ...A.errors.filter((e) => !/ERR_CONNECTION_REFUSED|WebSocket/.test(String(e))));
  B.errors.splice(0, B.errors.length, ...B.errors.filter((e) => !/ERR_CONNECTION_REFUSED|WebSocket/.test(String(e))));
  noErrors(A, B);
  await closeAll(A, B);
});

test('videoChat: a video clip with the camera; autoplay can be turned off; Esc stops', async () => {
  const A = await user('videochat', 'jo');
  const B = await user('videochat', 'kim');
  // videochat rooms default to video: the camera preview shows.
  await A.locator('#preview:not([hidden])').waitFor();
  assert.equal(await A.locator('input[name="kind"][value="video"]').isChecked(), true);
  await holdSpace(A, 2000);
  const row = rows(B, 'jo');
  await row.waitFor({ timeout: 3000 });
  assert.equal(await row.getAttribute('data-kind'), 'video');
  const video = B.locator('#timeline video[data-id]');
  await video.waitFor({ state: 'attached' });
  await B.waitForFunction(() => {
    const v = /** @type {HTMLVideoElement|null} */ (document.querySelector('#timeline video[data-id]'));
    return v && v.videoWidth > 0 && v.currentTime > 0.2;
  });
  await shot(B, '#conversation', 'conversation-video');
  await B.keyboard.press('Escape');
  await video.waitFor({ state: 'detached' });

  // Autoplay off: the next clip is listed, not played.
  await B.click('#more-player summary');
  await B.uncheck('#autoplay');
  await A.click('input[name="kind"][value="audio"]');
  await A.locator('#preview').waitFor({ state: 'hidden' });
  await holdSpace(A, 1000);
  await B.waitForFunction(() => document.querySelectorAll('#timeline .clip[data-author="jo"]').length === 2, null, { timeout: 5000 });
  const kinds = await rows(B, 'jo').evaluateAll((els) => els.map((e) => e.getAttribute('data-kind')));
  assert.deepEqual(kinds, ['video', 'audio'], 'oldest first: the video clip, then the audio one');
  assert.equal(await playing(B).count(), 0, 'played with autoplay off');

  // The room on a phone-sized screen.
  await B.setViewportSize({ width: 390, height: 844 });
  await B.screenshot({ path: `${(await import('./harness.mjs')).artifacts}/room-phone.png`, fullPage: true });
  noErrors(A, B);
  await closeAll(A, B);
});

/**
 * Holds SPACE for ms and waits for the clip. Returns its id and how long
 * the key was held (seconds).
 * @param {import('playwright-core').Page} page
 * @param {string} name
 * @param {number} ms
 */
async function talkClip(page, name, ms) {
  const before = await rows(page, name).count();
  const t0 = Date.now();
  await holdSpace(page, ms);
  const held = (Date.now() - t0) / 1000;
  await page.waitForFunction(
    ({ name, n }) => document.querySelectorAll(`#timeline .clip[data-author="${name}"]`).length === n,
    { name, n: before + 1 },
    { timeout: 10_000 },
  );
  return { id: await rows(page, name).last().getAttribute('data-id'), held };
}

/**
 * Records the kinds in order in one session of a videoChat room, with
 * pause ms between clips, and checks every clip (clipsync.sessionProblems).
 * @param {string} name
 * @param {('video'|'audio')[]} kinds
 * @param {number} pause
 */
async function syncSession(name, kinds, pause) {
  const A = await user('videochat', name, { trace: true });
  const problems = await sessionProblems({
    url: srv.url,
    log: srv.log,
    room: 'videochat',
    name,
    kinds,
    pause,
    choose: async (kind) => {
      await A.click(`input[name="kind"][value="${kind}"]`);
      await A.locator('#preview').waitFor({ state: kind === 'video' ? 'visible' : 'hidden' });
    },
    published: (video) => A.waitForFunction(publishing, video, { timeout: 10_000 }),
    talk: (ms) => talkClip(A, name, ms),
  });
  assert.deepEqual(problems, [], 'clips out of sync');
  noErrors(A);
  await closeAll(A);
}

test('videoChat: every clip of a session is in sync: video, audio, video', async () => {
  await syncSession('sync1', ['video', 'audio', 'video'], 0);
});

test('videoChat: every clip of a session is in sync: video, a 4 s pause, video', async () => {
  await syncSession('sync2', ['video', 'video'], 4000);
});

