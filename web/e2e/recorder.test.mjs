// End-to-end tests of recording as a voice note is recorded: hold and let
// go to send, slide away or Esc to cancel (nothing published, nothing left
// on the server), a tap too short for the room's minimum (nothing sent at
// all), lock then Send or Cancel, SPACE that presses a focused button
// instead of recording, Enter for hands-free recording, uploads from the
// button and from a file dropped on the conversation (and the server's
// refusal shown, each state looked at), the level meter moving while
// recording, push-to-talk in a live room with the same gestures, a
// phone's width; screenshots of the recorder idle, held and locked.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, existsSync } from 'node:fs';
import * as path from 'node:path';
import { startServer, launchBrowser, join, artifacts, makeClip, lookAt } from './harness.mjs';

/** @type {Awaited<ReturnType<typeof startServer>>} */
let srv;
/** @type {import('playwright-core').Browser} */
let browser;
const pages = [];

before(async () => {
  const chat = (title) => `mode = "mediaChat"\ntitle = "${title}"\n`;
  srv = await startServer({
    rooms: {
      hold: chat('Hold to record'),
      gone: chat('Taken back'),
      lock: chat('Hands-free'),
      keys: chat('Keyboard'),
      drop: chat('Uploads'),
      look: chat('Screenshots'),
      short: `${chat('Too short')}min_clip_ms = 3000\n`,
      walk: 'mode = "audioStream"\ntitle = "Walkie"\n',
    },
  });
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
  await watch(p);
  return p;
}

async function closeAll(...ps) {
  for (const p of ps) await p.context().close();
}

/** Unexpected page errors (a 404 for a resource, a thrown exception). */
function noErrors(...ps) {
  for (const p of ps) assert.deepEqual(p.errors.map(String), [], 'errors in the page');
}

/**
 * Keeps the types of the websocket messages the page sends (window.__sent).
 * @param {import('playwright-core').Page} page
 */
async function watch(page) {
  await page.evaluate(() => {
    const w = /** @type {any} */ (window);
    w.__sent = [];
    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function (d) {
      try {
        const t = JSON.parse(String(d)).type;
        if (t !== 'ping' && t !== 'candidate') w.__sent.push(t);
      } catch {
        // not ours
      }
      return send.call(this, d);
    };
  });
}

/** The recording messages the page sent since the last call. */
async function sent(page) {
  return page.evaluate(() => {
    const w = /** @type {any} */ (window);
    const out = w.__sent.filter((t) => t.startsWith('record-'));
    w.__sent = [];
    return out;
  });
}

const rows = (page, author) => page.locator(`#timeline .clip[data-author="${author}"]`);
const pressed = (page, on) => page.waitForFunction((on) => document.querySelector('#record')?.getAttribute('aria-pressed') === String(on), on);
/** Waits until the timer shows at least s seconds. */
const timerAt = (page, s) => page.waitForFunction((s) => parseFloat(document.querySelector('#timer')?.textContent ?? '') >= s, s);

/**
 * SPACE pressed and let go ms later, as the page's own events: the time
 * between is kept by the page, not by the test's messages to it.
 * @param {import('playwright-core').Page} page
 * @param {number} ms
 */
function keyTap(page, ms) {
  return page.evaluate(
    (ms) =>
      new Promise((done) => {
        const key = (type) => window.dispatchEvent(new KeyboardEvent(type, { key: ' ', code: 'Space', bubbles: true, cancelable: true }));
        key('keydown');
        setTimeout(() => done(key('keyup')), ms);
      }),
    ms,
  );
}

/** The middle of the record button. */
async function recordCentre(page) {
  const b = await page.locator('#record').boundingBox();
  assert.ok(b, 'no record button');
  return { x: b.x + b.width / 2, y: b.y + b.height / 2 };
}

/**
 * The room's clips as the HTTP API lists them, and the files in its clips
 * folder on the server's disk.
 * @param {string} room
 */
async function onServer(room) {
  const r = await fetch(`${srv.url}/api/rooms/${room}/clips`);
  assert.equal(r.status, 200);
  const clips = (await r.json()).clips;
  const dir = path.join(srv.dir, 'data', 'rooms', room, 'clips');
  const files = existsSync(dir) ? readdirSync(dir) : [];
  return { clips, files };
}

/**
 * Sends a chat message from one page and waits for it at the other: the
 * server sends in order, so what the first did before has reached the
 * second by then.
 */
async function marker(from, to, text) {
  await from.fill('#chat-text', text);
  await from.press('#chat-text', 'Enter');
  await to.locator('#timeline .msg').filter({ hasText: text }).waitFor();
}

test('hold and let go publishes a clip, the level meter moving meanwhile; the status says Sent', async () => {
  const A = await user('hold', 'ana');
  const B = await user('hold', 'ben');
  const at = await recordCentre(A);
  await A.mouse.move(at.x, at.y);
  await A.mouse.down();
  await pressed(A, true);
  assert.match(await A.locator('#record-label').textContent(), /slide to cancel/);
  // The level meter moves while recording (the fake microphone beeps):
  // several widths seen, one of them a tenth of the bar or more.
  await A.waitForFunction(
    () => {
      const w = /** @type {any} */ (window);
      w.__levels ??= new Set();
      w.__levels.add(parseFloat(/** @type {HTMLElement} */ (document.querySelector('#level')).style.width) || 0);
      return w.__levels.size >= 3 && Math.max(...w.__levels) >= 10;
    },
    null,
    { polling: 'raf', timeout: 10_000 },
  );
  await timerAt(A, 1.5);
  await A.mouse.up();
  await rows(B, 'ana').waitFor({ timeout: 10_000 });
  await A.locator('#record-status').filter({ hasText: 'Sent' }).waitFor();
  assert.deepEqual(await sent(A), ['record-start', 'record-stop']);
  const { clips } = await onServer('hold');
  assert.equal(clips.length, 1);
  assert.ok(clips[0].duration >= 1, `the clip lasts ${clips[0].duration} s`);
  noErrors(A, B);
  await closeAll(A, B);
});

test('cancel by sliding away, by Esc, and a tap shorter than the minimum: nothing published, nothing left on the server', async () => {
  const A = await user('gone', 'cid');
  const B = await user('gone', 'dot');
  assert.equal(await A.evaluate(() => window.parley.state().room), 'gone');

  // Slide away: record-start, then record-cancel; no clip.
  let at = await recordCentre(A);
  await A.mouse.move(at.x, at.y);
  await A.mouse.down();
  await timerAt(A, 1.2);
  await A.mouse.move(at.x - 160, at.y, { steps: 8 });
  await pressed(A, false);
  await A.mouse.up();
  await A.locator('#record-status').filter({ hasText: 'Cancelled' }).waitFor();
  assert.deepEqual(await sent(A), ['record-start', 'record-cancel']);

  // Esc while SPACE is held (the focus on nothing SPACE activates).
  await A.locator('#recorder h2').click();
  await A.keyboard.down(' ');
  await pressed(A, true);
  assert.match(await A.locator('#record-label').textContent(), /Esc to cancel/);
  await timerAt(A, 1.2);
  await A.keyboard.press('Escape');
  await pressed(A, false);
  await A.keyboard.up(' ');
  await A.locator('#record-status').filter({ hasText: 'Cancelled' }).waitFor();
  assert.deepEqual(await sent(A), ['record-start', 'record-cancel']);

  // An 80 ms tap of SPACE (timed in the page, so that a slow machine does
  // not make it longer): nothing is sent at all, and the hint says how.
  await keyTap(A, 80);
  await A.locator('#record-status').filter({ hasText: 'Hold to record' }).waitFor();
  await pressed(A, false);
  assert.deepEqual(await sent(A), []);
  // The same with the mouse.
  await A.evaluate(() => (document.querySelector('#record-status').textContent = ''));
  at = await recordCentre(A);
  await A.mouse.move(at.x, at.y);
  await A.mouse.down();
  await A.mouse.up();
  await A.locator('#record-status').filter({ hasText: 'Hold to record' }).waitFor();
  await pressed(A, false);
  assert.ok(['', 'record-start,record-cancel'].includes(String(await sent(A))), 'a tap sent a recording');
  // SPACE held 300 ms: record-start went, but the client takes it back.
  await keyTap(A, 300);
  await A.locator('#record-status').filter({ hasText: 'Hold to record: a clip must last at least 0.5 s.' }).waitFor();
  await pressed(A, false);
  assert.deepEqual(await sent(A), ['record-start', 'record-cancel']);
  assert.equal(await A.locator('#notice').isVisible(), false, 'a notice (an error?) for a press too short');

  // Whatever the server did with those is done by the marker.
  await marker(A, B, 'after the cancels');
  assert.equal(await rows(B, 'cid').count(), 0, 'a cancelled clip reached the other');
  assert.equal(await rows(A, 'cid').count(), 0);
  const { clips, files } = await onServer('gone');
  assert.deepEqual(clips, [], 'clips listed');
  assert.deepEqual(files, [], 'files left in the clips folder');
  noErrors(A, B);
  await closeAll(A, B);
});

test("the server's too-short is shown as the hint, not as an error", async () => {
  // The client is told the room has no minimum, so that it sends what a
  // short press records; the server, which keeps 3 s, refuses it.
  const A = await user('short', 'ole', {
    setup: (page) =>
      page.routeWebSocket(/\/ws$/, (ws) => {
        const server = ws.connectToServer();
        server.onMessage((m) => {
          const j = JSON.parse(String(m));
          if (j.type === 'joined') j.room.min_clip_ms = 0;
          ws.send(JSON.stringify(j));
        });
      }),
  });
  await A.locator('#recorder h2').click();
  await A.keyboard.down(' ');
  // About a second of media, well below 3 s even on a slow machine.
  await pressed(A, true);
  await A.waitForTimeout(800);
  await A.keyboard.up(' ');
  await A.locator('#record-status').filter({ hasText: 'Hold to record: a clip must last at least 3 s.' }).waitFor();
  await pressed(A, false);
  assert.deepEqual(await sent(A), ['record-start', 'record-stop']);
  assert.equal(await A.locator('#notice').isVisible(), false, 'too-short shown as an error');
  assert.deepEqual((await onServer('short')).clips, []);
  noErrors(A);
  await closeAll(A);
});

test('slide up locks: the recording goes on hands-free, then Send publishes it and Cancel does not', async () => {
  const A = await user('lock', 'eli');
  const B = await user('lock', 'fay');
  // Lock, let go, Send.
  let at = await recordCentre(A);
  await A.mouse.move(at.x, at.y);
  await A.mouse.down();
  await pressed(A, true);
  await A.mouse.move(at.x, at.y - 110, { steps: 8 });
  await A.locator('#record.locked').waitFor();
  await A.mouse.up();
  assert.equal(await A.locator('#record-cancel').isVisible(), true);
  assert.equal(await A.locator('#record').getAttribute('aria-label'), 'Send');
  await timerAt(A, 1.5);
  assert.equal(await A.locator('#record').getAttribute('aria-pressed'), 'true', 'letting go of a locked recording stopped it');
  await A.click('#record');
  await rows(B, 'eli').waitFor({ timeout: 10_000 });
  assert.deepEqual(await sent(A), ['record-start', 'record-stop']);

  // Lock, let go, Cancel.
  at = await recordCentre(A);
  await A.mouse.move(at.x, at.y);
  await A.mouse.down();
  await pressed(A, true);
  await A.mouse.move(at.x + 10, at.y - 110, { steps: 8 });
  await A.locator('#record.locked').waitFor();
  await A.mouse.up();
  await timerAt(A, 1.2);
  await A.click('#record-cancel');
  await pressed(A, false);
  assert.deepEqual(await sent(A), ['record-start', 'record-cancel']);
  await marker(A, B, 'after the lock');
  assert.equal(await rows(B, 'eli').count(), 1);
  const { clips, files } = await onServer('lock');
  assert.equal(clips.length, 1);
  assert.deepEqual(files.filter((f) => !f.startsWith(clips[0].id)), [], 'the cancelled recording left files');
  noErrors(A, B);
  await closeAll(A, B);
});

test('keyboard: SPACE on a focused button presses it and does not record; Enter records hands-free and sends; Esc cancels', async () => {
  const A = await user('keys', 'gil');
  const B = await user('keys', 'hal');
  await A.locator('#online button[data-name="hal"]').waitFor();

  // SPACE on a person's button picks them to write to; SPACE on the
  // settings opens them; SPACE in the message field types a space.
  await A.focus('#online button[data-name="hal"]');
  await A.keyboard.press(' ');
  await A.locator('#chat-to').filter({ hasText: 'hal' }).waitFor();
  await A.focus('#more-player summary');
  await A.keyboard.down(' ');
  await A.waitForTimeout(700);
  await A.keyboard.up(' ');
  assert.equal(await A.locator('#more-player').evaluate((d) => /** @type {HTMLDetailsElement} */ (d).open), true);
  await A.focus('#chat-text');
  await A.keyboard.type('a b');
  assert.equal(await A.inputValue('#chat-text'), 'a b');
  assert.equal(await A.locator('#record').getAttribute('aria-pressed'), 'false');
  assert.deepEqual(await sent(A), [], 'SPACE on a control recorded');
  await A.fill('#chat-text', '');
  await A.click('#chat-to-clear');

  // Enter on the record button: hands-free; Enter again sends.
  await A.focus('#record');
  await A.keyboard.press('Enter');
  await pressed(A, true);
  await A.locator('#record-status').filter({ hasText: 'Recording' }).waitFor();
  await timerAt(A, 1.5);
  await A.keyboard.press('Enter');
  await rows(B, 'gil').waitFor({ timeout: 10_000 });
  await A.locator('#record-status').filter({ hasText: 'Sent' }).waitFor();
  // Enter, then Esc: nothing.
  await A.focus('#record');
  await A.keyboard.press('Enter');
  await timerAt(A, 1.2);
  await A.keyboard.press('Escape');
  await pressed(A, false);
  await A.locator('#record-status').filter({ hasText: 'Cancelled' }).waitFor();
  assert.deepEqual(await sent(A), ['record-start', 'record-stop', 'record-start', 'record-cancel']);
  await marker(A, B, 'after the keys');
  assert.equal(await rows(B, 'gil').count(), 1);
  // The controls have names.
  for (const id of ['record', 'record-lock', 'upload']) {
    assert.ok(await A.locator(`#${id}`).getAttribute('aria-label'), `#${id} has no accessible name`);
  }
  noErrors(A, B);
  await closeAll(A, B);
});

test('upload: from the button and from a file dropped on the conversation; a refusal says why, by the server\'s code', async () => {
  const A = await user('drop', 'ida');
  const B = await user('drop', 'jon');
  const media = makeClip(2);

  // The button opens the file chooser. The server's answer is held back
  // a moment, to see the progress.
  /** @type {() => void} */
  let answer = () => {};
  const answered = new Promise((r) => (answer = r));
  await A.route('**/api/rooms/drop/clips', async (route) => {
    if (route.request().method() === 'POST') await answered;
    await route.continue();
  });
  await A.fill('#description', 'from my phone');
  const [chooser] = await Promise.all([A.waitForEvent('filechooser'), A.click('#upload')]);
  await chooser.setFiles({ name: 'note.webm', mimeType: 'audio/webm', buffer: media });
  await A.locator('#upload-row').waitFor();
  assert.match(await A.locator('#upload-text').textContent(), /^Uploading note\.webm/);
  await lookAt(A, 'recorder-uploading');
  answer();
  const first = rows(B, 'ida');
  await first.waitFor({ timeout: 10_000 });
  assert.equal(await first.locator('.caption').textContent(), 'from my phone');
  await rows(A, 'ida').waitFor();
  await A.locator('#upload-row').waitFor({ state: 'hidden' });
  assert.equal(await A.inputValue('#description'), '');
  await A.unroute('**/api/rooms/drop/clips');

  // A file dropped on the timeline.
  const drop = (name, type, b64) =>
    A.evaluate(
      ({ name, type, b64 }) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], name, { type }));
        const target = /** @type {HTMLElement} */ (document.querySelector('#timeline'));
        for (const t of ['dragenter', 'dragover']) target.dispatchEvent(new DragEvent(t, { dataTransfer: dt, bubbles: true, cancelable: true }));
        /** @type {any} */ (window).__drop = () => target.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
        return !(/** @type {HTMLElement} */ (document.querySelector('#drop-zone')).hidden);
      },
      { name, type, b64 },
    );
  const dropIt = () => A.evaluate(() => /** @type {any} */ (window).__drop());
  assert.equal(await drop('dropped.webm', 'audio/webm', makeClip(1, { freq: 660 }).toString('base64')), true, 'no drop zone shown while dragging');
  await lookAt(A, 'recorder-drop-zone');
  await dropIt();
  await B.waitForFunction(() => document.querySelectorAll('#timeline .clip[data-author="ida"]').length === 2, null, { timeout: 10_000 });
  assert.equal(await A.locator('#drop-zone').isHidden(), true);

  // Not a clip: the server refuses it, and says why (the client's text
  // for its code, unsupported-media: docs/protocol.md).
  await drop('notes.txt', 'text/plain', Buffer.from('these are not sounds\n'.repeat(20)).toString('base64'));
  await dropIt();
  const err = A.locator('#upload-error');
  await err.waitFor();
  await lookAt(A, 'recorder-upload-refused');
  const text = await err.locator('#upload-error-text').textContent();
  assert.match(text ?? '', /^Not a clip this server takes \(WebM or Ogg, with Opus\): notes\.txt\. The server says: Send the clip as WebM or Ogg with Opus\.$/);
  console.log(`refusal shown: ${text}`);
  await err.getByRole('button', { name: 'Dismiss' }).click();
  await err.waitFor({ state: 'hidden' });
  // The refused upload is the page's only failed request.
  assert.deepEqual(A.errors.map(String).filter((e) => !/HTTP 415 for .*\/api\/rooms\/drop\/clips$/.test(e)), []);
  A.errors.length = 0;
  assert.equal((await onServer('drop')).clips.length, 2);
  noErrors(A, B);
  await closeAll(A, B);
});

test('audioStream: hold to talk, slide up to talk hands-free; sliding away does not cut it', async () => {
  const A = await user('walk', 'kai');
  const B = await user('walk', 'lea');
  const packets = (page) =>
    page.evaluate(async () => (await window.parley.stats()).filter((s) => s.kind === 'audio').reduce((n, s) => n + s.packets, 0));
  const flowing = async (page, yes) => {
    const p1 = await packets(page);
    await page.waitForTimeout(800);
    const p2 = await packets(page);
    return yes ? p2 - p1 > 10 : p2 - p1 === 0;
  };
  const at = await recordCentre(A);
  await A.mouse.move(at.x, at.y);
  await A.mouse.down();
  await pressed(A, true);
  await B.waitForFunction(async () => (await window.parley.stats()).some((s) => s.kind === 'audio' && s.packets > 0), null, { timeout: 10_000 });
  // Away from the button: still talking (live talk has no cancel).
  await A.mouse.move(at.x - 160, at.y, { steps: 6 });
  assert.equal(await A.locator('#record').getAttribute('aria-pressed'), 'true');
  // Up: locked.
  await A.mouse.move(at.x, at.y - 110, { steps: 6 });
  await A.locator('#record.locked').waitFor();
  await A.mouse.up();
  assert.equal(await A.locator('#record').getAttribute('aria-label'), 'Stop talking');
  assert.equal(await A.locator('#record-cancel').isVisible(), false);
  assert.ok(await flowing(B, true), 'no audio while locked');
  await A.click('#record');
  await pressed(A, false);
  await B.waitForTimeout(500);
  assert.ok(await flowing(B, false), 'audio after Stop talking');
  assert.deepEqual(await sent(A), [], 'record messages in a live room');
  noErrors(A, B);
  await closeAll(A, B);
});

test('on a phone (360 px): no sideways scrolling, the record button is the thumb target; screenshots idle, held and locked', async () => {
  mkdirSync(artifacts, { recursive: true });
  const A = await user('look', 'max');
  const B = await user('look', 'nia');
  await A.fill('#chat-text', 'Shall we meet at noon?');
  await A.press('#chat-text', 'Enter');
  await B.locator('#timeline .msg').filter({ hasText: 'noon' }).waitFor();

  /** Screenshots of the page idle, held (with the slide hint) and locked. */
  const shots = async (label) => {
    await A.evaluate(() => window.scrollTo(0, 0));
    await A.screenshot({ path: path.join(artifacts, `recorder-${label}-idle.png`) });
    const at = await recordCentre(A);
    await A.mouse.move(at.x, at.y);
    await A.mouse.down();
    await timerAt(A, 0.8);
    await A.mouse.move(at.x - 30, at.y, { steps: 3 });
    await A.screenshot({ path: path.join(artifacts, `recorder-${label}-holding.png`) });
    await A.mouse.move(at.x, at.y - 110, { steps: 6 });
    await A.locator('#record.locked').waitFor();
    await A.mouse.up();
    await A.screenshot({ path: path.join(artifacts, `recorder-${label}-locked.png`) });
    await A.click('#record-cancel');
    await pressed(A, false);
  };
  await A.setViewportSize({ width: 1280, height: 800 });
  await shots('1280');
  await A.setViewportSize({ width: 390, height: 844 });
  await shots('390');
  await A.emulateMedia({ colorScheme: 'dark' });
  await shots('390-dark');
  await A.emulateMedia({ colorScheme: 'light' });

  await A.setViewportSize({ width: 360, height: 740 });
  await A.evaluate(() => window.scrollTo(0, 0));
  const m = await A.evaluate(() => {
    const r = /** @type {HTMLElement} */ (document.querySelector('#record')).getBoundingClientRect();
    const biggest = [...document.querySelectorAll('#room button')]
      .filter((b) => /** @type {HTMLElement} */ (b).offsetParent)
      .map((b) => {
        const x = b.getBoundingClientRect();
        return { id: b.id, area: x.width * x.height };
      })
      .sort((a, b) => b.area - a.area)[0];
    return { scroll: document.documentElement.scrollWidth, inner: window.innerWidth, height: window.innerHeight, r: { x: r.x, y: r.y, w: r.width, h: r.height }, biggest };
  });
  assert.ok(m.scroll <= m.inner, `the page scrolls sideways: ${m.scroll} px wide in ${m.inner}`);
  assert.equal(m.biggest.id, 'record', 'the biggest button is not the record button');
  assert.ok(m.r.h >= 56 && m.r.w >= 200, `the record button is ${m.r.w}×${m.r.h}`);
  assert.ok(m.r.y >= 0 && m.r.y + m.r.h <= m.height, `the record button is not on the first screen: ${JSON.stringify(m.r)} in ${m.height} px`);
  noErrors(A, B);
  await closeAll(A, B);
});
