// End-to-end: the client as an app on phones and desktops. The entry page
// shows rooms by their title and description; the web app manifest and
// the service worker, which starts the app shell without the server and
// never keeps an API answer; desktop notifications, asked for only when
// turned on; hints that name the input the person has; recording and
// playing from the keyboard alone, with a visible focus; and every screen
// looked at: a screenshot at 1280×800 and 390×844, no serious or critical
// axe-core violation, no sideways scrolling at 360 px.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, join, lookAt, checkA11y, uploadClip, makeClip, notificationStub } from './harness.mjs';

let srv;
let browser;

before(async () => {
  srv = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

/** A new user's entry page. */
async function entry(url = srv.url, opts = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...opts });
  const page = await context.newPage();
  await page.goto(url);
  await page.waitForSelector('#rooms li');
  return page;
}

test('the entry page shows each room by its title and description, what it is for, and no operator link on a server without operators', async () => {
  const page = await entry();
  const cards = await page.locator('#rooms li').evaluateAll((lis) =>
    lis.map((li) => ({
      title: li.querySelector('a')?.textContent,
      desc: li.querySelector('.room-desc')?.textContent ?? '',
      hint: li.querySelector('.hint')?.textContent ?? '',
    })),
  );
  assert.deepEqual(
    cards.map((c) => c.title),
    ['Chat', 'Forum', 'Live', 'Video chat', 'Walkie-talkie'],
  );
  for (const c of cards) {
    assert.ok(c.desc.length > 10, `${c.title}: description ${c.desc}`);
    assert.ok(c.hint.length > 10, `${c.title}: what it is for: ${c.hint}`);
  }
  const text = await page.locator('#entry').textContent();
  assert.doesNotMatch(text ?? '', /mediaChat|mediaForum|videoChat|audioStream|videoStream/);
  // A keyboard: the hints say SPACE.
  assert.match(cards[0].hint, /^Hold SPACE/);
  assert.equal(await page.locator('#entry-room option').first().textContent(), 'Chat');
  assert.equal(await page.locator('#entry-password-show').isHidden(), true);
  assert.equal(await page.locator('#entry-password-row').isHidden(), true);
  await page.selectOption('#entry-room', 'walkie');
  assert.match(await page.locator('#entry-room-info').textContent(), /^Push-to-talk .* Hold SPACE to talk live/);
  await lookAt(page, 'entry');
  await page.emulateMedia({ colorScheme: 'dark' });
  await lookAt(page, 'entry-dark');
  await page.context().close();
});

test('a room list that fails, or gets no answer, is asked for again: the page says so meanwhile, and shows the rooms when they come', async () => {
  // No service worker: the test sees (and holds) the page's requests.
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, serviceWorkers: 'block' });
  const page = await context.newPage();
  let asked = 0;
  await page.route('**/api/rooms', async (route) => {
    asked++;
    if (asked === 1) return route.abort('connectionrefused');
    // The second request hangs, as over a link that lost its packets:
    // the page gives up on it and asks again.
    if (asked === 2) return new Promise(() => {});
    return route.continue();
  });
  try {
    await page.goto(srv.url);
    await page.waitForFunction(() => /Cannot reach the server/.test(document.querySelector('#entry-error')?.textContent ?? ''));
    await page.waitForSelector('#rooms li', { timeout: 60_000 });
    assert.equal(asked, 3, 'requests of the room list');
    assert.equal(await page.locator('#entry-error').textContent(), '', 'the error is gone with the rooms there');
    assert.equal(await page.locator('#entry-room option').first().textContent(), 'Chat');
  } finally {
    await context.close();
  }
});

test('a join refused stays said while the room list cannot be had, and after it comes', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, serviceWorkers: 'block' });
  const page = await context.newPage();
  try {
    await page.goto(srv.url);
    await page.waitForSelector('#rooms li');
    let refuse = true;
    await page.route('**/api/rooms', (route) => (refuse ? route.abort('connectionrefused') : route.continue()));
    const refusal = /This name cannot be used/;
    const said = async () => (await page.locator('#entry-error').textContent()) ?? '';
    await page.selectOption('#entry-room', 'chat');
    await page.fill('#entry-name', 'a<b');
    const first = page.waitForRequest('**/api/rooms');
    await page.click('#entry-join');
    await page.waitForFunction((re) => new RegExp(re).test(document.querySelector('#entry-error')?.textContent ?? ''), refusal.source);
    // The list is asked for again and fails, twice: the refusal stays.
    await first;
    await page.waitForRequest('**/api/rooms', { timeout: 10_000 });
    await page.waitForRequest('**/api/rooms', { timeout: 15_000 });
    assert.match(await said(), refusal);
    refuse = false;
    await page.waitForResponse((r) => r.url().endsWith('/api/rooms') && r.ok(), { timeout: 20_000 });
    await page.locator('#entry-room option[value="chat"]').waitFor({ state: 'attached' });
    assert.match(await said(), refusal);
  } finally {
    await context.close();
  }
});

test('installable: the manifest, a service worker that starts the app shell without the server, and never an API answer from its cache', async () => {
  // A server of its own, stopped during the test.
  const own = await startServer();
  const page = await entry(own.url);
  try {
    const manifest = await page.evaluate(async () => {
      const link = /** @type {HTMLLinkElement|null} */ (document.querySelector('link[rel="manifest"]'));
      const r = await fetch(link?.href ?? '');
      return { type: r.headers.get('content-type'), json: await r.json() };
    });
    assert.equal(manifest.type, 'application/manifest+json');
    assert.equal(manifest.json.display, 'standalone');
    assert.ok(manifest.json.icons.some((i) => i.purpose === 'maskable'));

    // The worker takes the page over once it has the shell.
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 20_000 });
    const scope = await page.evaluate(async () => (await navigator.serviceWorker.ready).scope);
    assert.equal(scope, `${own.url}/`);
    // An API answer and a websocket go past it: the cache holds the shell only.
    await page.evaluate(() => fetch('/api/rooms').then((r) => r.json()));
    // Chromium routes the API past the worker altogether (static routing):
    // the network answers it without waking the worker.
    const source = await page.evaluate(() => {
      const e = performance.getEntriesByType('resource').filter((r) => r.name.endsWith('/api/rooms')).at(-1);
      return /** @type {any} */ (e)?.workerMatchedSourceType;
    });
    assert.equal(source, 'network', 'the API was not routed past the service worker');
    const kept = await page.evaluate(async () => {
      const out = [];
      for (const name of await caches.keys()) {
        for (const req of await (await caches.open(name)).keys()) out.push(new URL(req.url).pathname);
      }
      return out.sort();
    });
    for (const p of ['/', '/app.js', '/style.css', '/manifest.webmanifest', '/icon-192.png']) assert.ok(kept.includes(p), `${p} not kept: ${kept}`);
    assert.deepEqual(
      kept.filter((p) => !/^\/([\w-]+\.(js|css|svg|png|webmanifest|html))?$/.test(p)),
      [],
      'only shell files are kept',
    );

    // Without the server: the page, its modules and its style come from
    // the cache; the room list does not, and the page says why.
    await own.stop();
    await page.reload();
    await page.waitForSelector('#entry-form');
    await page.waitForFunction(() => document.querySelector('#entry-error')?.textContent !== '');
    assert.match(await page.locator('#entry-error').textContent(), /Cannot reach the server/);
    assert.equal(await page.evaluate(() => getComputedStyle(document.querySelector('.card') ?? document.body).borderRadius), '9.6px');
    const api = await page.evaluate(() => fetch('/api/rooms').then(() => 'answered', () => 'failed'));
    assert.equal(api, 'failed');
  } finally {
    await page.context().close();
    await own.stop();
  }
});

test('desktop notifications: asked for only when turned on; a private message, a call and (when chosen) a clip from others make one while the page is in the background; a click focuses the item', async () => {
  const ann = await join(browser, srv.url, 'chat', 'ann', { setup: (p) => p.addInitScript(notificationStub) });
  const bob = await join(browser, srv.url, 'chat', 'bob');
  const notes = () => ann.evaluate(() => window.__notes.made.map((n) => `${n.title}: ${n.body}`));
  try {
    assert.equal(await ann.evaluate(() => window.__notes.asked), 0, 'asked on load');
    await ann.click('#more-player summary');
    await lookAt(ann, 'settings');
    await ann.check('#notify-on');
    await ann.waitForFunction(() => window.__notes.asked === 1);
    assert.equal(await ann.locator('#notify-clips').isChecked(), false);
    await ann.click('#more-player summary');

    // In front: nothing. In the background: a private message shows, a
    // message to the room does not.
    const sayTo = async (text, to) => {
      if (to) await bob.locator('#online button.person', { hasText: to }).click();
      else if (await bob.locator('#chat-to-clear').isVisible()) await bob.click('#chat-to-clear');
      await bob.fill('#chat-text', text);
      await bob.press('#chat-text', 'Enter');
      await ann.locator('#timeline .text', { hasText: text }).waitFor();
    };
    await sayTo('in front', 'ann');
    await ann.evaluate(() => (window.__background = true));
    await sayTo('to the room');
    await sayTo('psst', 'ann');
    await ann.waitForFunction(() => window.__notes.made.length > 0);
    assert.deepEqual(await notes(), ['bob (private): psst']);

    // A clip: only once asked for.
    await uploadClip(bob, 'chat', makeClip(1));
    await ann.locator('#timeline .clip[data-author="bob"]').waitFor();
    assert.equal((await notes()).length, 1);
    await ann.evaluate(() => (window.__background = false));
    await ann.click('#more-player summary');
    await ann.check('#notify-clips');
    await ann.click('#more-player summary');
    await ann.evaluate(() => (window.__background = true));
    await uploadClip(bob, 'chat', makeClip(1), { description: 'second one' });
    await ann.waitForFunction(() => window.__notes.made.length === 2);
    assert.equal((await notes())[1], 'New clip from bob: second one');
    await ann.evaluate(() => window.__notes.made[1].onclick());
    await ann.waitForFunction(() => document.activeElement?.closest('.clip')?.getAttribute('data-author') === 'bob');

    // A call rings: a notification, whose click focuses Accept. (Bob
    // still has Ann picked, from the private message.)
    await bob.click('#call');
    await ann.locator('#ringing:not([hidden])').waitFor();
    await ann.waitForFunction(() => window.__notes.made.length === 3);
    assert.match((await notes())[2], /^bob is calling/);
    await ann.evaluate(() => (window.__background = false));
    await ann.evaluate(() => window.__notes.made[2].onclick());
    await ann.waitForFunction(() => document.activeElement?.id === 'accept');
    await lookAt(ann, 'call-ringing');
    // In dark mode the banner is dark too; with reduced motion it does not pulse.
    await ann.emulateMedia({ colorScheme: 'dark', reducedMotion: 'reduce' });
    await lookAt(ann, 'call-ringing-dark');
    assert.equal(await ann.locator('#ringing').evaluate((el) => getComputedStyle(el).animationName), 'none');
    await ann.emulateMedia({ colorScheme: 'light', reducedMotion: 'no-preference' });
    assert.notEqual(await ann.locator('#ringing').evaluate((el) => getComputedStyle(el).animationName), 'none');
    await ann.keyboard.press('Enter');
    await ann.waitForFunction(() => document.querySelector('#call-state')?.getAttribute('data-state') === 'active');
    await bob.waitForFunction(() => document.querySelector('#call-state')?.getAttribute('data-state') === 'active');
    await lookAt(ann, 'call-in-progress');
    await bob.click('#hangup');
    await ann.waitForFunction(() => document.querySelector('#call-state')?.getAttribute('data-state') === 'idle');
    assert.deepEqual([...ann.errors, ...bob.errors], []);
  } finally {
    for (const p of [ann, bob]) await p.context().close();
  }
});

/**
 * Presses Tab until the focus is on an element that matches selector,
 * and fails if a control on the way shows no focus (no outline, no ring).
 * @param {import('playwright-core').Page} page
 * @param {string} selector
 */
async function tabTo(page, selector) {
  for (let i = 0; i < 150; i++) {
    await page.keyboard.press('Tab');
    const at = await page.evaluate((selector) => {
      const el = document.activeElement;
      if (!el || el === document.body) return { done: false, shown: true, what: 'body' };
      const s = getComputedStyle(el);
      const shown = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== 'none';
      const what = `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''} ${el.getAttribute('aria-label') ?? el.textContent?.trim().slice(0, 30)}`;
      return { done: el.matches(selector), shown, what };
    }, selector);
    assert.ok(at.shown, `the focus on ${at.what} is not visible`);
    if (at.done) return;
  }
  throw new Error(`Tab never reached ${selector}`);
}

test('from the keyboard alone: record hands-free and send, hold SPACE, play a clip, with the focus always visible', async () => {
  const cat = await join(browser, srv.url, 'chat', 'cat');
  const dan = await join(browser, srv.url, 'chat', 'dan');
  try {
    assert.match(await cat.locator('#record-hint').textContent(), /SPACE/);
    await tabTo(cat, '#record');
    await cat.keyboard.press('Enter');
    await cat.waitForFunction(() => document.querySelector('#record')?.classList.contains('locked'));
    await lookAt(cat, 'recorder-locked');
    await cat.waitForFunction(() => parseFloat(document.querySelector('#timer')?.textContent ?? '') >= 1.2);
    await cat.keyboard.press('Enter');
    const first = dan.locator('#timeline .clip[data-author="cat"]');
    await first.waitFor({ timeout: 15_000 });

    // SPACE held where it presses nothing records; let go sends.
    await cat.evaluate(() => /** @type {HTMLElement} */ (document.activeElement)?.blur());
    await cat.keyboard.down(' ');
    await cat.waitForFunction(() => document.querySelector('#record')?.getAttribute('aria-pressed') === 'true');
    await lookAt(cat, 'recorder-held');
    await cat.waitForFunction(() => parseFloat(document.querySelector('#timer')?.textContent ?? '') >= 1.2);
    await cat.keyboard.up(' ');
    await dan.waitForFunction(() => document.querySelectorAll('#timeline .clip[data-author="cat"]').length === 2, null, { timeout: 15_000 });

    // Dan stops what plays by itself (Esc), then plays the first clip from
    // the keyboard.
    await dan.keyboard.press('Escape');
    await tabTo(dan, '.clip[data-author="cat"] button.play');
    await dan.keyboard.press('Enter');
    await dan.waitForFunction(() => {
      const el = /** @type {HTMLMediaElement|null} */ (document.querySelector('#timeline .clip[data-author="cat"] audio, #timeline .clip[data-author="cat"] video'));
      return !!el && !el.paused && el.currentTime > 0.2;
    });
    await dan.keyboard.press('Enter');
    await dan.waitForFunction(() => ![...document.querySelectorAll('#timeline audio, #timeline video')].some((el) => !(/** @type {HTMLMediaElement} */ (el).paused)));
    await lookAt(dan, 'timeline');
    await dan.emulateMedia({ colorScheme: 'dark' });
    await lookAt(dan, 'timeline-dark');
    assert.deepEqual([...cat.errors, ...dan.errors], []);
  } finally {
    for (const p of [cat, dan]) await p.context().close();
  }
});

test('the hints name the input: SPACE with a keyboard, the button after a touch, SPACE again after a key', async () => {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, hasTouch: true });
  const page = await context.newPage();
  try {
    await page.goto(`${srv.url}/?room=chat`);
    await page.waitForSelector('#rooms li');
    await page.fill('#entry-name', 'fay');
    await page.tap('#entry-join');
    await page.waitForFunction(() => window.parley?.state().inRoom);
    await page.waitForFunction(() => /Hold the button/.test(document.querySelector('#record-hint')?.textContent ?? ''));
    await page.keyboard.press('Tab');
    await page.waitForFunction(() => /Hold SPACE/.test(document.querySelector('#record-hint')?.textContent ?? ''));
    await page.tap('#record-hint');
    await page.waitForFunction(() => /Hold the button/.test(document.querySelector('#record-hint')?.textContent ?? ''));
  } finally {
    await context.close();
  }
});

for (const room of ['forum', 'videochat', 'walkie', 'live']) {
  test(`the ${room} room, looked at`, async () => {
    // Live rooms first show the check before going live.
    const page = await join(browser, srv.url, room, 'gus', { prejoin: (p) => lookAt(p, `prejoin-${room}`) });
    // With someone else there: their tile in live rooms.
    const other = await join(browser, srv.url, room, 'kim');
    try {
      await page.locator('#online button.person', { hasText: 'kim' }).waitFor();
      await lookAt(page, `room-${room}`);
      assert.deepEqual([...page.errors, ...other.errors], []);
    } finally {
      for (const p of [page, other]) await p.context().close();
    }
  });
}

test('a blocked microphone: the notice says so, with Retry, in light and dark', async () => {
  const denied = await launchBrowser({ deny: true });
  try {
    const context = await denied.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await page.goto(`${srv.url}/?room=chat`);
    await page.waitForSelector('#rooms li');
    await page.fill('#entry-name', 'hal');
    await page.click('#entry-join');
    await page.locator('#notice:not([hidden])').waitFor();
    assert.equal(await page.locator('#notice-retry').isVisible(), true);
    await lookAt(page, 'notice');
    await page.emulateMedia({ colorScheme: 'dark' });
    await lookAt(page, 'notice-dark');
  } finally {
    await denied.close();
  }
});

test('where the page may not make notifications itself (Chrome on Android), the service worker makes them and its click focuses the item', async () => {
  // The constructor throws, as there; the permission is the browser's own.
  const onlyWorker = () => {
    const N = window.Notification;
    window.Notification = /** @type {any} */ (
      class extends N {
        constructor() {
          throw new TypeError('Illegal constructor. Use ServiceWorkerRegistration.showNotification() instead.');
        }
      }
    );
    window.__background = false;
    Object.defineProperty(document, 'visibilityState', { get: () => (window.__background ? 'hidden' : 'visible') });
    document.hasFocus = () => !window.__background;
  };
  const ivy = await join(browser, srv.url, 'chat', 'ivy', {
    setup: async (p) => {
      await p.context().grantPermissions(['notifications'], { origin: srv.url });
      await p.addInitScript(onlyWorker);
    },
  });
  const jon = await join(browser, srv.url, 'chat', 'jon');
  try {
    await ivy.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 20_000 });
    await ivy.click('#more-player summary');
    await ivy.check('#notify-on');
    await ivy.click('#more-player summary');
    await ivy.evaluate(() => (window.__background = true));
    await jon.locator('#online button.person', { hasText: 'ivy' }).click();
    await jon.fill('#chat-text', 'over here');
    await jon.press('#chat-text', 'Enter');
    const shown = async () => ivy.evaluate(async () => (await (await navigator.serviceWorker.ready).getNotifications()).map((n) => `${n.title}: ${n.body}`));
    for (let i = 0; (await shown()).length === 0; i++) {
      if (i > 100) throw new Error('no notification through the service worker');
      await ivy.waitForTimeout(100);
    }
    assert.deepEqual(await shown(), ['jon (private): over here']);
    // Its click, as the browser would deliver it to the worker.
    await ivy.evaluate(() => (window.__background = false));
    const [worker] = ivy.context().serviceWorkers();
    await worker.evaluate(async () => {
      const [n] = await self.registration.getNotifications();
      try {
        self.dispatchEvent(new NotificationEvent('notificationclick', { notification: n }));
      } catch {
        // waitUntil refuses an event made by a script; the handler has run
      }
    });
    await ivy.waitForFunction(() => document.activeElement?.closest('#timeline')?.textContent?.includes('over here'));
  } finally {
    for (const p of [ivy, jon]) await p.context().close();
  }
});
