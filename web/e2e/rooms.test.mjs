// Rooms that the operator removes or changes while people are in them:
// the client says why, and reconnects only when there is a room to go
// back to.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { unlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { startServer, launchBrowser, join, lookAt } from './harness.mjs';

/** @type {Awaited<ReturnType<typeof startServer>>} */
let srv;
/** @type {import('playwright-core').Browser} */
let browser;

before(async () => {
  srv = await startServer({
    rooms: {
      doomed: 'mode = "mediaChat"\ntitle = "Doomed"\n',
      lobby: 'mode = "mediaChat"\ntitle = "Lobby"\n',
      shifting: 'mode = "mediaChat"\ntitle = "Shifting"\n',
    },
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

/**
 * Counts the websockets a page opens to the server and the rooms its join
 * messages ask for.
 * @param {import('playwright-core').Page} page
 */
function watchSockets(page) {
  const seen = { opens: 0, /** @type {string[]} */ joins: [] };
  page.on('websocket', (ws) => {
    if (!ws.url().endsWith('/ws')) return;
    seen.opens++;
    ws.on('framesent', (f) => {
      try {
        const m = JSON.parse(String(f.payload));
        if (m.type === 'join') seen.joins.push(m.room);
      } catch {
        // not JSON: not ours to count
      }
    });
  });
  return seen;
}

/**
 * Resolves when no websocket opens for longer than the client's first
 * reconnection can wait (signal.js: 500 ms, ±25 %), and fails if one does.
 * @param {import('playwright-core').Page} page
 */
async function noReconnection(page) {
  await assert.rejects(page.waitForEvent('websocket', { timeout: 2000 }), /Timeout/, 'the client opened another websocket');
}

/** The rooms' folder of the test's server. */
const roomFile = (name) => path.join(srv.dir, 'rooms', `${name}.toml`);

test('a room file removed sends its members to the room list, saying the operator closed it, with no reconnection', async () => {
  /** @type {ReturnType<typeof watchSockets>} */
  let seen = { opens: 0, joins: [] };
  const page = await join(browser, srv.url, 'doomed', 'ann', { setup: async (p) => (seen = watchSockets(p)) });
  assert.deepEqual(seen.joins, ['doomed']);

  unlinkSync(roomFile('doomed'));
  // The server takes a removal within two looks at the folder, a second apart.
  await page.locator('#entry:not([hidden])').waitFor({ timeout: 15_000 });
  assert.match((await page.locator('#entry-error').textContent()) ?? '', /operator closed this room/);
  assert.equal(await page.locator('#room').isHidden(), true);
  await page.locator('#rooms a[href="/?room=lobby"]').waitFor();
  assert.equal(await page.locator('#rooms a[href="/?room=doomed"]').count(), 0, 'the removed room is still listed');
  await noReconnection(page);
  assert.equal(seen.opens, 1, 'websockets opened');
  assert.deepEqual(seen.joins, ['doomed']);
  await lookAt(page, 'room-removed');

  // From the list, into another room: its link, with the name the client
  // remembers, joins it.
  await page.click('#rooms a[href="/?room=lobby"]');
  await page.waitForFunction(() => window.parley?.state().inRoom);
  assert.equal(await page.locator('#room-title').textContent(), 'Lobby');
  assert.deepEqual(seen.joins, ['doomed', 'lobby']);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('a room whose mode changes takes its members back in once, saying why', async () => {
  /** @type {ReturnType<typeof watchSockets>} */
  let seen = { opens: 0, joins: [] };
  const page = await join(browser, srv.url, 'shifting', 'bea', { setup: async (p) => (seen = watchSockets(p)) });
  assert.equal(await page.evaluate(() => document.body.dataset.mode), 'mediaChat');

  writeFileSync(roomFile('shifting'), 'mode = "mediaForum"\ntitle = "Shifting"\n');
  await page.waitForFunction(() => document.body.dataset.mode === 'mediaForum', null, { timeout: 15_000 });
  await page.waitForFunction(() => window.parley.state().inRoom);
  assert.match((await page.locator('#notice-text').textContent()) ?? '', /changed this room's settings/);
  await noReconnection(page);
  assert.equal(seen.opens, 2, 'websockets opened');
  assert.deepEqual(seen.joins, ['shifting', 'shifting']);
  await lookAt(page, 'room-changed');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
