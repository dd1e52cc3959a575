// End-to-end: a password room and an operator, in the browser client;
// the password prompt, the entry page's operator link and the operator's
// panel looked at (lookAt).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, join, lookAt, hashPassword } from './harness.mjs';

let srv;
let browser;

before(async () => {
  const roomPass = hashPassword('open sesame');
  const opPass = hashPassword('operator pass');
  srv = await startServer({
    rooms: {
      club: `mode = "mediaChat"\ntitle = "Members only"\naccess = "password"\npassword = "${roomPass}"\n`,
      lobby: `mode = "mediaChat"\ntitle = "Lobby"\n`,
    },
    config: `[auth]\nfailure_burst = 50\n[[auth.operators]]\nname = "olga"\npassword = "${opPass}"\n`,
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

/** Opens the entry screen of a new user. */
async function entry(room) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('dialog', (d) => d.accept());
  await page.goto(`${srv.url}/?room=${room}`);
  await page.waitForSelector(`#entry-room option[value="${room}"]`, { state: 'attached' });
  return page;
}

test('a password room asks for the password and refuses a wrong one', async () => {
  const p = await entry('club');
  await p.locator('#entry-password-row:not([hidden])').waitFor();
  await p.fill('#entry-name', 'pat');
  await p.fill('#entry-password', 'sesame');
  await p.click('#entry-join');
  await p.waitForFunction(() => document.querySelector('#entry-error')?.textContent?.includes('wrong password'));
  assert.equal(await p.locator('#room').isHidden(), true);
  await lookAt(p, 'entry-password');
  await p.fill('#entry-password', 'open sesame');
  await p.click('#entry-join');
  await p.locator('#room:not([hidden])').waitFor();
  // The lobby is open: no password field.
  const q = await entry('lobby');
  assert.equal(await q.locator('#entry-password-row').isHidden(), true);
  // A server with operators: the link that shows the field for theirs.
  await q.locator('#entry-password-show').waitFor();
  await lookAt(q, 'entry-operator-link');
  await p.context().close();
  await q.context().close();
});

test('an operator removes someone and deletes their clip', async () => {
  const op = await entry('lobby');
  await op.fill('#entry-name', 'olga');
  await op.click('#entry-password-show');
  await op.fill('#entry-password', 'operator pass');
  await op.click('#entry-join');
  await op.locator('#operator:not([hidden])').waitFor();

  const bob = await join(browser, srv.url, 'lobby', 'bob');
  await bob.locator('#recorder h2').click();
  await bob.keyboard.down(' ');
  await bob.waitForTimeout(1200);
  await bob.keyboard.up(' ');
  const row = op.locator('#timeline .clip[data-author="bob"]');
  await row.waitFor({ timeout: 5000 });
  await lookAt(op, 'operator');
  await row.locator('button.del').click();
  await row.waitFor({ state: 'detached' });
  await bob.locator('#timeline .clip[data-author="bob"]').waitFor({ state: 'detached' });

  await op.locator('#online li').filter({ hasText: 'bob' }).locator('button.kick').click();
  await bob.locator('#entry:not([hidden])').waitFor();
  assert.match(await bob.locator('#entry-error').textContent(), /operator removed you/);
  // Someone else cannot take the operator's name.
  const imp = await entry('lobby');
  await imp.fill('#entry-name', 'Olga');
  await imp.click('#entry-join');
  await imp.waitForFunction(() => document.querySelector('#entry-error')?.textContent?.includes('operator'));
  for (const p of [op, bob, imp]) await p.context().close();
});

test("an operator's panel offers to close an open room and to open a closed one, also after joining it closed", async () => {
  /** @param {import('playwright-core').Page} p */
  const operator = async (p) => {
    await p.fill('#entry-name', 'olga');
    await p.click('#entry-password-show');
    await p.fill('#entry-password', 'operator pass');
    await p.click('#entry-join');
    await p.locator('#operator:not([hidden])').waitFor();
  };
  /** @param {import('playwright-core').Page} p @param {boolean} closed */
  const offers = async (p, closed) => {
    await p.locator(closed ? '#op-open:not([hidden])' : '#op-close:not([hidden])').waitFor();
    assert.equal(await p.locator(closed ? '#op-close' : '#op-open').isHidden(), true, closed ? 'Close room beside Open room' : 'Open room beside Close room');
  };
  const op = await entry('lobby');
  await operator(op);
  await offers(op, false);
  const bob = await join(browser, srv.url, 'lobby', 'bob');
  await op.click('#op-close');
  await offers(op, true);
  await bob.locator('#entry:not([hidden])').waitFor();
  assert.match(await bob.locator('#entry-error').textContent(), /operator closed/);
  await lookAt(op, 'operator');
  // Back in the closed room: the server says it is closed.
  await op.context().close();
  const again = await entry('lobby');
  await operator(again);
  await offers(again, true);
  await again.click('#op-open');
  await offers(again, false);
  for (const p of [again, bob]) await p.context().close();
});

/** Joins a password room as a new user; page.errors collects failed requests. */
async function member(room, name, password) {
  const p = await entry(room);
  const errors = [];
  p.on('response', (r) => {
    if (r.status() >= 400) errors.push(`HTTP ${r.status()} for ${r.url()}`);
  });
  p.errors = errors;
  await p.locator('#entry-password-row:not([hidden])').waitFor();
  await p.fill('#entry-name', name);
  await p.fill('#entry-password', password);
  await p.click('#entry-join');
  await p.waitForFunction(() => window.parley?.state().inRoom);
  return p;
}

test('a clip recorded in a password room plays for another member; outsiders get neither it nor the count', async () => {
  const cam = await member('club', 'cam', 'open sesame');
  const dee = await member('club', 'dee', 'open sesame');

  // The room list tells outsiders how many are in the lobby, not in the club.
  const look = await entry('lobby');
  const online = (room) => look.locator(`#rooms li:has(a[href="/?room=${room}"]) .count`);
  assert.equal(await online('club').count(), 0);
  assert.match(await online('lobby').textContent(), /(\d+ (people|person)|nobody) here/);

  // Hands-free (Enter on the button), then Send.
  await cam.focus('#record');
  await cam.keyboard.press('Enter');
  await cam.waitForFunction(() => document.querySelector('#record')?.getAttribute('aria-pressed') === 'true');
  await cam.waitForFunction(() => parseFloat(document.querySelector('#timer')?.textContent ?? '') >= 1.5);
  await cam.click('#record');
  const row = dee.locator('#timeline .clip[data-author="cam"]');
  await row.waitFor({ timeout: 10_000 });
  const id = await row.getAttribute('data-id');

  // Dee's player plays it by itself: an <audio src> with the clip's key.
  await dee.waitForFunction(
    (id) => {
      const el = /** @type {HTMLMediaElement|null} */ (document.querySelector('#timeline audio[data-id], #timeline video[data-id]'));
      return el?.dataset.id === id && el.currentTime > 0.3;
    },
    id,
    { timeout: 10_000 },
  );
  const src = await dee.locator(`#timeline audio[data-id="${id}"], #timeline video[data-id="${id}"]`).getAttribute('src');
  assert.match(src ?? '', /[?&]key=/);
  const download = await row.locator('a.download').getAttribute('href');
  assert.equal(download, src);

  // From outside: the key opens it; without the key, nothing.
  const url = new URL(src ?? '', srv.url);
  assert.equal((await fetch(url)).status, 200);
  url.searchParams.delete('key');
  assert.equal((await fetch(url)).status, 404);
  const list = await fetch(`${srv.url}/api/rooms/club/clips`);
  assert.equal(list.status, 401);
  assert.doesNotMatch(await list.text(), new RegExp(id ?? 'no id'));

  assert.deepEqual([...cam.errors, ...dee.errors], []);
  for (const p of [cam, dee, look]) await p.context().close();
});
