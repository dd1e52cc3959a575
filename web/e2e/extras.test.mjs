// End-to-end tests of the player's extras and the error reports: standby
// (no auto-play of new clips and no desktop notification of them,
// remembered per room across a reload), STOP AFTER THIS (the queue stops
// after the clip playing), the room's storage meter (what the clips take,
// after each clip added and deleted), and an error thrown in the page
// reaching the server's log.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, join, makeClip, uploadClip, lookAt, watchPlaying, notificationStub } from './harness.mjs';

/** @type {Awaited<ReturnType<typeof startServer>>} */
let srv;
/** @type {import('playwright-core').Browser} */
let browser;

before(async () => {
  srv = await startServer({
    rooms: {
      standby: 'mode = "mediaChat"\ntitle = "Standby"\n',
      quiet: 'mode = "mediaChat"\ntitle = "Quiet"\n',
      queue: 'mode = "mediaChat"\ntitle = "Queue"\n',
      storage: 'mode = "mediaChat"\ntitle = "Storage"\nmax_clip_bytes = 1000000\nmax_room_bytes = 5000000\n',
      reports: 'mode = "mediaChat"\ntitle = "Reports"\n',
    },
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

const clip = (page, id) => page.locator(`#timeline .clip[data-id="${id}"]`);
const unplayed = (page, id) => clip(page, id).evaluate((e) => e.classList.contains('unplayed'));

/** Whether the page plays a clip now (or has one started): STOP AFTER THIS shows while one does. */
const playing = (page) => page.evaluate(() => !!document.querySelector('#timeline .clip.playing') || !document.querySelector('#stop-after')?.hidden);

test('standby: a new clip from someone else does not play and stays unplayed, counted; it is remembered after a reload', async () => {
  const A = await join(browser, srv.url, 'standby', 'ada');
  const B = await join(browser, srv.url, 'standby', 'bo');
  assert.equal(await B.locator('#standby').getAttribute('aria-checked'), 'false');
  assert.equal(await B.locator('#standby-badge').isVisible(), false);
  await B.click('#standby');
  assert.equal(await B.locator('#standby').getAttribute('aria-checked'), 'true');
  assert.equal(await B.locator('#standby-badge').isVisible(), true, 'no standby badge in the header');
  await watchPlaying(B);

  // The player decides in the handler that shows the clip: once it is in
  // the timeline, a clip that would auto-play has started.
  const c1 = await uploadClip(A, 'standby', makeClip(1));
  await clip(B, c1.id).waitFor();
  assert.equal(await playing(B), false, 'a new clip played on standby');
  assert.equal(await unplayed(B, c1.id), true);
  assert.equal(await B.locator('#unplayed-count').textContent(), '1');

  await B.reload();
  await B.waitForFunction(() => window.parley?.state().inRoom);
  assert.equal(await B.locator('#standby').getAttribute('aria-checked'), 'true', 'standby was not remembered');
  assert.equal(await B.locator('#standby-badge').isVisible(), true);
  await clip(B, c1.id).waitFor();
  await watchPlaying(B);
  const c2 = await uploadClip(A, 'standby', makeClip(1, { freq: 660 }));
  await clip(B, c2.id).waitFor();
  assert.equal(await playing(B), false, 'a new clip played on standby after a reload');
  assert.equal(await B.locator('#unplayed-count').textContent(), '2');

  // Per room: another room of the same person is not on standby.
  assert.equal(await B.evaluate(() => localStorage.getItem('parley.standby.queue')), null);

  // Off again: the next clip plays by itself (the check above can fail).
  await B.click('#standby');
  assert.equal(await B.locator('#standby-badge').isVisible(), false);
  const c3 = await uploadClip(A, 'standby', makeClip(1, { freq: 880 }));
  await B.waitForFunction((id) => /** @type {any} */ (window).__played.includes(id), c3.id);
  assert.deepEqual(await B.evaluate(() => /** @type {any} */ (window).__played), [c3.id], 'the clips waiting from standby played');
  for (const p of [A, B]) await p.context().close();
});

test('standby: a new clip makes no desktop notification; once it is off, the next one does', async () => {
  const A = await join(browser, srv.url, 'quiet', 'kai');
  const B = await join(browser, srv.url, 'quiet', 'lu', { setup: (p) => p.addInitScript(notificationStub) });
  const made = () => B.evaluate(() => /** @type {any} */ (window).__notes.made.map((n) => `${n.title}: ${n.body}`));
  // Notifications on, of clips too, as the settings turn them on.
  await B.click('#more-player summary');
  await B.check('#notify-on');
  await B.waitForFunction(() => /** @type {any} */ (window).__notes.asked === 1);
  await B.check('#notify-clips');
  await B.click('#more-player summary');
  await B.click('#standby');
  assert.equal(await B.locator('#standby').getAttribute('aria-checked'), 'true');
  // In the background, where a clip would notify.
  await B.evaluate(() => (/** @type {any} */ (window).__background = true));

  // The player notifies in the handler that shows the clip: once it is
  // in the timeline, a notification would have been made.
  const c1 = await uploadClip(A, 'quiet', makeClip(1), { description: 'while on standby' });
  await clip(B, c1.id).waitFor();
  assert.deepEqual(await made(), [], 'a clip notified on standby');

  // Off again: the next clip notifies (the check above can fail).
  await B.click('#standby');
  assert.equal(await B.locator('#standby').getAttribute('aria-checked'), 'false');
  const c2 = await uploadClip(A, 'quiet', makeClip(1, { freq: 660 }), { description: 'after standby' });
  await clip(B, c2.id).waitFor();
  assert.deepEqual(await made(), ['New clip from kai: after standby']);
  assert.deepEqual([...A.errors, ...B.errors], []);
  for (const p of [A, B]) await p.context().close();
});

test('stop after this: of two clips queued, the first plays to its end and the second does not start', async () => {
  const A = await join(browser, srv.url, 'queue', 'cy');
  const B = await join(browser, srv.url, 'queue', 'di');
  await B.click('#standby'); // nothing starts by itself
  // The first long enough to press STOP AFTER THIS while it plays, on a busy machine too.
  const c1 = await uploadClip(A, 'queue', makeClip(6));
  const c2 = await uploadClip(A, 'queue', makeClip(2, { freq: 660 }));
  await clip(B, c2.id).waitFor();
  await watchPlaying(B);
  await B.evaluate(() => {
    const w = /** @type {any} */ (window);
    w.__ended = [];
    document.addEventListener('ended', (ev) => w.__ended.push(/** @type {HTMLElement} */ (ev.target).dataset.id), true);
  });
  assert.equal(await B.locator('#stop-after').isVisible(), false, 'STOP AFTER THIS shows with nothing playing');
  await B.click('#play-unplayed');
  await B.waitForFunction((id) => /** @type {any} */ (window).__played.includes(id), c1.id);
  await B.click('#stop-after');
  assert.equal(await B.locator('#stop-after').getAttribute('aria-pressed'), 'true');
  await B.waitForFunction((id) => /** @type {any} */ (window).__ended.includes(id), c1.id, { timeout: 60_000 });
  // The end is handled in the same task as the ended event: the queue is
  // stopped by now, or the second clip has been started.
  await B.locator('#stop-after').waitFor({ state: 'hidden' });
  assert.equal(await playing(B), false, 'the second clip started');
  assert.deepEqual(await B.evaluate(() => /** @type {any} */ (window).__played), [c1.id]);
  assert.equal(await unplayed(B, c2.id), true, 'the second clip is not left unplayed');
  assert.equal(await B.locator('#unplayed-count').textContent(), '1');

  // A one-shot: played again, both clips play one after the other.
  await B.click('#play-unplayed');
  await B.waitForFunction((id) => /** @type {any} */ (window).__played.includes(id), c2.id);
  assert.equal(await B.locator('#stop-after').getAttribute('aria-pressed'), 'false', 'STOP AFTER THIS stayed on');
  for (const p of [A, B]) await p.context().close();
});

test('the storage meter shows what the room\'s clips take, after a clip is added and after it is deleted', async () => {
  const A = await join(browser, srv.url, 'storage', 'ed');
  const B = await join(browser, srv.url, 'storage', 'flo');
  await B.click('#standby');
  const meter = B.locator('#storage-meter');
  assert.equal(await B.locator('#storage').isVisible(), true);
  assert.equal(await B.locator('#storage').getAttribute('data-bytes'), '0');
  assert.match(await B.locator('#storage-text').textContent(), /^Room storage: 0 B of 4\.8 MB$/);
  assert.equal(await meter.evaluate((m) => /** @type {HTMLMeterElement} */ (m).value), 0);

  const media = makeClip(3, { video: true });
  const c = await uploadClip(A, 'storage', media, { video: true });
  await B.waitForFunction((n) => document.querySelector('#storage')?.getAttribute('data-bytes') === String(n), c.bytes);
  assert.ok(c.bytes > 10_000, `the clip has ${c.bytes} bytes`);
  const value = await meter.evaluate((m) => /** @type {HTMLMeterElement} */ (m).value);
  assert.ok(Math.abs(value - c.bytes / 5_000_000) < 1e-9, `meter at ${value}, want ${c.bytes / 5_000_000}`);
  assert.match(await B.locator('#storage-text').textContent(), /^Room storage: \d+ KB of 4\.8 MB$/);
  // Its accessible name is the text.
  assert.equal(await meter.evaluate((m) => m.getAttribute('aria-labelledby')), 'storage-text');

  // A newcomer is told at once, in joined.
  const D = await join(browser, srv.url, 'storage', 'gus');
  assert.equal(await D.locator('#storage').getAttribute('data-bytes'), String(c.bytes));

  const status = await A.evaluate(async ({ id }) => {
    const key = JSON.parse(localStorage.getItem('parley.ownerKey') ?? '""');
    const r = await fetch(`/api/rooms/storage/clips/${id}`, { method: 'DELETE', headers: { Authorization: `Bearer ${key}` } });
    return r.status;
  }, { id: c.id });
  assert.equal(status, 204);
  for (const p of [B, D]) await p.waitForFunction(() => document.querySelector('#storage')?.getAttribute('data-bytes') === '0');
  assert.equal(await meter.evaluate((m) => /** @type {HTMLMeterElement} */ (m).value), 0);
  for (const p of [A, B, D]) await p.context().close();
});

test('an error thrown in the page is reported to the server, which logs it with the room', async () => {
  const A = await join(browser, srv.url, 'reports', 'hal');
  await A.evaluate(() => {
    setTimeout(() => {
      throw new Error('e2e: a thrown error');
    });
  });
  const deadline = Date.now() + 20_000;
  let line;
  while (!(line = srv.log().split('\n').find((l) => l.includes('client error') && l.includes('e2e: a thrown error')))) {
    assert.ok(Date.now() < deadline, `no report in the server's log:\n${srv.log().slice(-3000)}`);
    await A.waitForTimeout(100);
  }
  for (const want of ['level=WARN', 'kind=error', 'room=reports', 'participant=p']) assert.ok(line.includes(want), `log line without ${want}: ${line}`);
  assert.doesNotMatch(line, /http:\/\//, 'the log line has a URL');
  // The same error again within the minute is not sent again.
  const n = srv.log().split('\n').filter((l) => l.includes('client error')).length;
  await A.evaluate(() => {
    setTimeout(() => {
      throw new Error('e2e: a thrown error');
    });
  });
  await A.evaluate(() => new Promise((r) => setTimeout(r, 50)));
  await A.evaluate(() => window.parley.downlink()); // a round trip: anything sent before it has arrived
  assert.equal(srv.log().split('\n').filter((l) => l.includes('client error')).length, n, 'the same error was reported twice within a minute');
  await A.context().close();
});

test('the room header and the player controls at desktop and phone size, standby on and a clip playing', async () => {
  const A = await join(browser, srv.url, 'queue', 'ivy');
  const B = await join(browser, srv.url, 'queue', 'jo');
  await B.click('#standby');
  // Long enough to be playing still when both sizes have been looked at.
  const c = await uploadClip(A, 'queue', makeClip(45));
  await clip(B, c.id).waitFor();
  await clip(B, c.id).locator('button.play').click();
  await B.locator('#stop-after').waitFor();
  await B.click('#stop-after');
  await lookAt(B, 'player-extras');
  // The help says what the controls do.
  await B.click('#help-open');
  await B.locator('#help').waitFor();
  const help = await B.locator('#help-body').textContent();
  for (const want of ['Standby (the moon)', 'Stop after this (shown while a clip plays)', 'Room storage']) assert.ok(help?.includes(want), `the help does not say "${want}"`);
  for (const p of [A, B]) await p.context().close();
});
