// End-to-end tests of the stage of live rooms and calls: the check before
// going live, the camera off on joining, camera, microphone and deafen,
// the speaking ring, the grid and its spotlight, a tile in full screen,
// per-person volume, screen sharing, calls, and phones; each screen looked
// at (lookAt). Several people in headless Chromium with fake devices,
// against a real parley server.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, join, checkA11y, lookAt } from './harness.mjs';

/** @type {Awaited<ReturnType<typeof startServer>>} */
let srv;
/** @type {import('playwright-core').Browser} */
let browser;
const pages = [];

before(async () => {
  srv = await startServer({
    rooms: {
      stage: 'mode = "videoStream"\ntitle = "Standup"\n',
      grid: 'mode = "videoStream"\ntitle = "Design review"\n',
      share: 'mode = "videoStream"\ntitle = "Demo"\n',
      calls: 'mode = "videoChat"\ntitle = "Video chat"\n',
      narrow: 'mode = "videoStream"\ntitle = "On the phone"\n',
      reports: 'mode = "audioStream"\ntitle = "Reports"\n',
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
  return p;
}

/** Turns the camera on in the check before joining, and waits for its picture. */
async function cameraOn(/** @type {import('playwright-core').Page} */ p) {
  await p.click('#prejoin-cam');
  await p.waitForFunction(() => /** @type {HTMLVideoElement} */ (document.querySelector('#prejoin-video')).videoWidth > 0, null, { timeout: 30_000 });
}

async function closeAll(...ps) {
  for (const p of ps) await p.context().close();
}

function noErrors(...ps) {
  for (const p of ps) assert.deepEqual(p.errors.map(String), [], 'errors in the page');
}

/** The tile of a person (their camera and sound), by name. */
const tile = (name) => `#tiles .tile[data-name="${name}"]:not(.screen-tile)`;

/**
 * Waits until the tile of name shows a picture (or, with on false, the
 * face that stands for no camera).
 * @param {import('playwright-core').Page} p
 */
async function picture(p, name, on = true) {
  await p.waitForFunction(
    ({ sel, on }) => {
      const t = document.querySelector(sel);
      if (!t) return false;
      const v = /** @type {HTMLVideoElement} */ (t.querySelector('video'));
      return on ? t.classList.contains('has-video') && v.videoWidth > 0 : !t.classList.contains('has-video');
    },
    { sel: tile(name), on },
    { timeout: 30_000 },
  );
}

/**
 * Waits until the speaking ring of name is lit (or dark) on page p, on
 * their tile and in the people list.
 * @param {import('playwright-core').Page} p
 */
async function ring(p, name, lit) {
  await p.waitForFunction(
    ({ sel, name, lit }) =>
      !!document.querySelector(sel)?.classList.contains('speaking') === lit &&
      !!document.querySelector(`#online .person[data-name="${name}"]`)?.classList.contains('speaking') === lit,
    { sel: tile(name), name, lit },
    { timeout: 30_000 },
  );
}

/** Sizes of the tiles on page p, by name (screens as "<name>'s screen"). */
const sizes = (p) =>
  p.evaluate(() =>
    Object.fromEntries(
      [...document.querySelectorAll('#tiles .tile')].map((t) => {
        const r = t.getBoundingClientRect();
        return [t.querySelector('.name')?.textContent ?? '', Math.round(r.width * r.height)];
      }),
    ),
  );

/**
 * Looks at page p as lookAt does (screenshots at 1280×800 and 390×844
 * under test-artifacts/e2e/screens/live-<name>-*.png, axe at both sizes,
 * no sideways scrolling at 360 px), in light and in dark, scrolled to the
 * top; the page keeps its size after.
 * @param {import('playwright-core').Page} p
 * @param {string} name
 * @param {() => Promise<unknown>} [settle] waits for the page to be as wanted at each size
 */
async function shots(p, name, settle) {
  const top = async () => {
    await p.evaluate(() => window.scrollTo(0, 0));
    await settle?.();
  };
  for (const dark of [false, true]) {
    await p.emulateMedia({ colorScheme: dark ? 'dark' : 'light' });
    await lookAt(p, `live-${name}${dark ? '-dark' : ''}`, { settle: top });
  }
  await p.emulateMedia({ colorScheme: 'light' });
}

/** Audio packets received so far. */
const audioPackets = (p) => p.evaluate(async () => (await window.parley.stats()).filter((s) => s.kind === 'audio').reduce((n, s) => n + s.packets, 0));

test('before going live: the camera off, the microphone level, devices chosen and remembered; camera, microphone and deafen in the room', async () => {
  const A = await user('stage', 'ann', {
    async prejoin(p) {
      // The devices are listed by name once the microphone is open.
      await p.waitForFunction(() => [...document.querySelectorAll('#prejoin-mic option')].some((o) => o.textContent === 'Fake Audio Input 2'), null, { timeout: 30_000 });
      assert.equal(await p.evaluate(() => document.querySelector('#prejoin').classList.contains('has-video') || !!(/** @type {HTMLVideoElement} */ (document.querySelector('#prejoin-video')).srcObject)), false, 'the camera is on before it was asked for');
      // The fake microphone beeps: the meter moves.
      await p.waitForFunction(() => parseFloat(/** @type {HTMLElement} */ (document.querySelector('#prejoin-level')).style.width) > 2, null, { timeout: 30_000 });
      await p.selectOption('#prejoin-mic', { label: 'Fake Audio Input 2' });
      await p.waitForFunction(() => JSON.parse(localStorage.getItem('parley.mic') ?? '""') !== '');
      await shots(p, 'prejoin');
      await cameraOn(p);
      await shots(p, 'prejoin-camera');
      await p.click('#prejoin-cam'); // and off again: join without it
      await p.waitForFunction(() => !document.querySelector('#prejoin').classList.contains('has-video'));
    },
  });
  const B = await user('stage', 'bob');
  // Both are on the stage, as faces: nobody's camera is on.
  await B.locator(tile('ann')).waitFor();
  await A.locator(tile('bob')).waitFor();
  assert.equal(await B.locator(tile('ann')).evaluate((t) => t.classList.contains('has-video')), false);
  assert.equal(await A.locator('#ctl-cam').textContent(), 'Start camera');
  assert.equal(await A.locator('#self').isVisible(), false);

  // Camera on: the other sees it, and you see yourself in the corner.
  await A.click('#ctl-cam');
  await picture(B, 'ann');
  await A.locator('#self:not([hidden])').waitFor();
  assert.equal(await A.locator('#ctl-cam').textContent(), 'Stop camera');
  // Off: the face again.
  await A.click('#ctl-cam');
  await picture(B, 'ann', false);
  await A.locator('#self').waitFor({ state: 'hidden' });

  // Unmuted, the microphone sends without a press, and the ring lights
  // for the others while the fake microphone beeps; muted, it goes dark.
  assert.equal(await A.locator('#ctl-mic').textContent(), 'Unmute');
  await A.click('#ctl-mic');
  await ring(B, 'ann', true);
  assert.ok((await audioPackets(B)) > 0, 'no audio while unmuted');
  await A.click('#ctl-mic');
  await ring(B, 'ann', false);

  // Deafen: nothing heard; each person's own mute is kept.
  await B.click('#ctl-deafen');
  assert.equal(await B.locator(`${tile('ann')} video`).evaluate((v) => /** @type {HTMLVideoElement} */ (v).muted), true);
  assert.equal(await B.locator('#ctl-deafen').textContent(), 'Undeafen');
  await B.click('#ctl-deafen');
  assert.equal(await B.locator(`${tile('ann')} video`).evaluate((v) => /** @type {HTMLVideoElement} */ (v).muted), false);

  // The microphone chosen is offered again the next time.
  await A.click('#leave');
  await A.click('#entry-join');
  await A.locator('#prejoin:not([hidden])').waitFor();
  await A.waitForFunction(() => {
    const s = /** @type {HTMLSelectElement} */ (document.querySelector('#prejoin-mic'));
    return s.selectedOptions[0]?.textContent === 'Fake Audio Input 2';
  });
  await A.click('#prejoin-join');
  await A.locator('#room:not([hidden])').waitFor();
  noErrors(A, B);
  await closeAll(A, B);
});

test('the speaking ring lights while someone talks and goes dark after; the speaker shown large; grid view; a tile in full screen; volume and mute per person, remembered', async () => {
  const A = await user('grid', 'ann', { prejoin: cameraOn });
  const B = await user('grid', 'bob', { prejoin: cameraOn });
  const C = await user('grid', 'cyd', { prejoin: cameraOn });
  await picture(C, 'ann');
  await picture(C, 'bob');
  // Nobody has spoken: all tiles alike.
  let s = await sizes(C);
  assert.ok(Math.abs(s.ann - s.bob) < 0.05 * s.ann, `tiles of unequal sizes before anyone spoke: ${JSON.stringify(s)}`);

  // Bob talks (holds SPACE): his ring lights for the others, and his tile
  // is the large one.
  await B.locator('#recorder h2').click();
  await B.keyboard.down(' ');
  await ring(C, 'bob', true);
  await ring(A, 'bob', true);
  await C.locator(`${tile('bob')}.spot`).waitFor();
  s = await sizes(C);
  assert.ok(s.bob > 3 * s.ann, `the speaker is not shown large: ${JSON.stringify(s)}`);
  await shots(C, 'speaker', () => C.locator(`${tile('bob')}.speaking`).waitFor());
  await B.keyboard.up(' ');
  // Dark after; he stays large until someone else speaks.
  await ring(C, 'bob', false);
  assert.equal(await C.locator(`${tile('bob')}.spot`).count(), 1);

  // Grid view: everyone alike, the choice kept.
  await C.click('#ctl-layout');
  await C.waitForFunction(() => !document.querySelector('#tiles .spot'));
  s = await sizes(C);
  assert.ok(Math.abs(s.ann - s.bob) < 0.05 * s.ann, `grid view tiles of unequal sizes: ${JSON.stringify(s)}`);
  await shots(C, 'grid');
  // A tile's button puts it in full screen, and takes it out again.
  const full = C.locator(`${tile('bob')} .full`);
  await full.click();
  // The button's label follows at the page's fullscreenchange, which
  // comes after document.fullscreenElement is set.
  const fullIs = (/** @type {boolean} */ on) =>
    C.waitForFunction(
      ({ sel, on }) =>
        (document.fullscreenElement === document.querySelector(sel)) === on &&
        document.querySelector(`${sel} .full`)?.getAttribute('aria-label') === (on ? 'Leave full screen' : 'Full screen'),
      { sel: tile('bob'), on },
    );
  await fullIs(true);
  await full.click();
  await fullIs(false);
  await C.click('#ctl-layout');

  // Bob's volume, and Ann muted, on Cyd's side only.
  await C.click(`${tile('bob')} .vol`);
  await C.locator(`${tile('bob')} .vol-pop input`).fill('30');
  await checkA11y(C, "the stage with a person's volume open");
  await C.click(`${tile('ann')} .vol`);
  await C.click(`${tile('ann')} .vol-pop .mute`);
  const want = { ann: { volume: 100, muted: true }, bob: { volume: 30, muted: false } };
  assert.deepEqual(await C.evaluate(() => ['ann', 'bob'].map((n) => {
    const v = /** @type {HTMLVideoElement} */ (document.querySelector(`#tiles .tile[data-name="${n}"]:not(.screen-tile) video`));
    return { n, volume: Math.round(v.volume * 100), muted: v.muted };
  })), [{ n: 'ann', ...want.ann }, { n: 'bob', ...want.bob }]);
  // Kept by name: after leaving and coming back, still so.
  await C.click('#leave');
  await C.click('#entry-join');
  await C.click('#prejoin-join');
  await picture(C, 'bob', true);
  await C.waitForFunction(() => {
    const v = (/** @type {string} */ n) => /** @type {HTMLVideoElement} */ (document.querySelector(`#tiles .tile[data-name="${n}"]:not(.screen-tile) video`));
    return v('ann')?.muted === true && Math.round(v('bob')?.volume * 100) === 30 && v('bob')?.muted === false;
  });
  assert.equal(await B.locator(`${tile('ann')} video`).evaluate((v) => /** @type {HTMLVideoElement} */ (v).muted), false, "Cyd's mute changed Bob's");
  noErrors(A, B, C);
  await closeAll(A, B, C);
});

/** Keeps the screen a page shares in window.__screen, as the browser's own "stop sharing" would end it. */
function keepScreen() {
  const md = navigator.mediaDevices;
  const get = md.getDisplayMedia.bind(md);
  md.getDisplayMedia = async (c) => {
    const s = await get(c);
    Object.assign(window, { __screen: s.getVideoTracks()[0] });
    return s;
  };
}

test("screen sharing: the others see it large; stopping removes it, also from the browser's own stop", async () => {
  const A = await user('share', 'ann', { setup: (p) => p.addInitScript(keepScreen) });
  const B = await user('share', 'bob');
  await B.locator(tile('ann')).waitFor();
  const screen = '#tiles .tile.screen-tile[data-name="ann"]';
  await A.click('#ctl-screen');
  await B.waitForFunction((sel) => /** @type {HTMLVideoElement|null} */ (document.querySelector(`${sel} video`))?.videoWidth > 0, screen, { timeout: 30_000 });
  await B.locator(`${screen}.spot`).waitFor();
  assert.equal(await B.locator(`${screen} .name`).textContent(), "ann's screen");
  assert.equal(await A.locator('#ctl-screen').textContent(), 'Stop sharing');
  await A.locator('#self:not([hidden])').waitFor(); // your own screen, small
  await shots(B, 'screen');
  await A.click('#ctl-screen');
  await B.locator(screen).waitFor({ state: 'detached', timeout: 30_000 });
  assert.equal(await A.locator('#ctl-screen').textContent(), 'Share screen');

  // Again, then the browser's "stop sharing" bar ends it.
  await A.click('#ctl-screen');
  await B.waitForFunction((sel) => /** @type {HTMLVideoElement|null} */ (document.querySelector(`${sel} video`))?.videoWidth > 0, screen, { timeout: 30_000 });
  await A.evaluate(() => {
    const t = /** @type {MediaStreamTrack} */ (/** @type {any} */ (window).__screen);
    t.stop();
    t.dispatchEvent(new Event('ended'));
  });
  await B.locator(screen).waitFor({ state: 'detached', timeout: 30_000 });
  await A.waitForFunction(() => document.querySelector('#ctl-screen')?.textContent === 'Share screen');
  // The camera and the microphone were not touched.
  await B.locator(tile('ann')).waitFor();
  noErrors(A, B);
  await closeAll(A, B);
});

test('a video call: the stage, the camera off and on, mute, a screen, hang up; a call not picked up is a missed call for the one called', async () => {
  const A = await user('calls', 'ann', { setup: (p) => p.addInitScript(keepScreen) });
  const B = await user('calls', 'bob');
  const C = await user('calls', 'cyd');
  await A.click('#online button[data-name="bob"]');
  await A.check('#call-video');
  await A.click('#call');
  await B.click('#accept');
  for (const p of [A, B]) await p.locator('#live:not([hidden])').waitFor();
  await picture(B, 'ann');
  await picture(A, 'bob');
  // A call starts with the microphone open.
  assert.equal(await A.locator('#ctl-mic').textContent(), 'Mute');
  assert.equal(await C.locator('#live').isVisible(), false);
  await shots(B, 'call');

  await A.click('#ctl-cam');
  await picture(B, 'ann', false);
  await A.click('#ctl-cam');
  await picture(B, 'ann');
  await A.click('#ctl-mic');
  assert.equal(await A.locator('#ctl-mic').textContent(), 'Unmute');
  const before = await audioPackets(B);
  await B.waitForFunction(async (n) => {
    // Nothing more comes once muted (a few packets in flight aside).
    const a = async () => (await window.parley.stats()).filter((s) => s.kind === 'audio').reduce((m, s) => m + s.packets, 0);
    const x = await a();
    await new Promise((r) => setTimeout(r, 500));
    return (await a()) - x < 3 && x >= n;
  }, before, { timeout: 30_000, polling: 100 });
  await A.click('#ctl-screen');
  await B.waitForFunction(() => /** @type {HTMLVideoElement|null} */ (document.querySelector('#tiles .screen-tile video'))?.videoWidth > 0, null, { timeout: 30_000 });
  await A.click('#ctl-hangup');
  for (const p of [A, B]) await p.locator('#live').waitFor({ state: 'hidden' });
  assert.equal(await A.locator('#ctl-screen').textContent(), 'Share screen', 'the screen is still shared after the call');

  // Cyd is called and does not pick up.
  await A.click('#online button[data-name="cyd"]');
  await A.uncheck('#call-video');
  await A.click('#call');
  await C.locator('#ringing:not([hidden])').waitFor();
  await A.click('#hangup');
  await C.waitForFunction(() => document.querySelector('#call-state')?.textContent === 'missed call from ann');
  await C.locator('#timeline .sys.call').filter({ hasText: 'Missed call from ann' }).waitFor();
  noErrors(A, B, C);
  await closeAll(A, B, C);
});

test('on a phone (360 px): the check before going live and the stage, no sideways scrolling', async () => {
  const phone = { width: 360, height: 740 };
  const overflow = (p) => p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  const A = await user('narrow', 'ann', {
    viewport: phone,
    async prejoin(p) {
      await cameraOn(p);
      assert.ok((await overflow(p)) <= 0, 'the check scrolls sideways');
    },
  });
  const B = await user('narrow', 'bob', { prejoin: cameraOn });
  const C = await user('narrow', 'cyd');
  await picture(A, 'bob');
  await A.locator(tile('cyd')).waitFor();
  assert.ok((await overflow(A)) <= 0, 'the stage scrolls sideways');
  // The controls are all on the screen.
  const out = await A.evaluate(() =>
    [...document.querySelectorAll('#controls .ctl')].filter((b) => /** @type {HTMLElement} */ (b).offsetParent && b.getBoundingClientRect().right > window.innerWidth).map((b) => b.id),
  );
  assert.deepEqual(out, []);
  await C.click('#ctl-screen');
  await A.locator('#tiles .screen-tile.spot').waitFor({ timeout: 30_000 });
  assert.ok((await overflow(A)) <= 0, 'the stage with a screen scrolls sideways');
  noErrors(A, B, C);
  await closeAll(A, B, C);
});

test("the server's receiver reports give a browser that talks its round trip and its loss", async () => {
  const A = await user('reports', 'ann', { trace: true });
  await A.locator('#recorder h2').click();
  await A.keyboard.down(' ');
  // The browser sends a sender report every few seconds; the server's
  // next receiver report answers it, and from the answer the browser
  // counts the round trip (RFC 3550 section 6.4.1).
  const stats = () =>
    A.evaluate(async () => {
      for (const pc of window.__trace.pcs) {
        for (const r of (await pc.getStats()).values()) {
          if (r.type === 'remote-inbound-rtp' && r.kind === 'audio' && r.roundTripTime > 0) {
            return { rtt: r.roundTripTime, lost: r.packetsLost, fraction: r.fractionLost };
          }
        }
      }
      return null;
    });
  let r = null;
  for (const deadline = Date.now() + 30_000; !r; ) {
    assert.ok(Date.now() < deadline, 'no round trip from the receiver reports in 30 s');
    r = await stats();
    if (!r) await A.waitForTimeout(250);
  }
  await A.keyboard.up(' ');
  // Loopback: well under 100 ms (a wrong delay since the sender report
  // would show as seconds, or not at all).
  assert.ok(r.rtt < 0.1, `round trip ${r.rtt} s on loopback`);
  assert.equal(r.lost, 0, 'packets lost on loopback');
  assert.equal(r.fraction, 0, 'fraction lost on loopback');
  noErrors(A);
  await closeAll(A);
});
