// Tests of the client's languages (web/static/i18n.js and its catalogues
// lang-en.js, lang-ru.js). First without a browser: the two catalogues
// have the same messages with the same parameters, every key the pages and
// modules use exists, and Russian plurals take their three forms. Then in
// headless Chromium with a Russian browser: every screen shows no English.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { render, fromPreferences } from '../static/i18n.js';
import { startServer, launchBrowser, join, lookAt, makeClip, uploadClip, holdSpace } from './harness.mjs';
import en from '../static/lang-en.js';
import ru from '../static/lang-ru.js';

const staticDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'static');

/** The {names} a message uses, in all its forms. */
function params(msg) {
  const forms = typeof msg === 'string' ? [msg] : Object.values(msg);
  return [...new Set(forms.flatMap((f) => [...f.matchAll(/\{(\w+)\}/g)].map((m) => m[1])))].sort();
}

test('the catalogues have the same keys and parameters', () => {
  assert.deepEqual(Object.keys(ru).sort(), Object.keys(en).sort(), 'keys of lang-ru.js and lang-en.js');
  for (const [k, msg] of Object.entries(en)) {
    assert.deepEqual(params(ru[k]), params(msg), `parameters of ${k}`);
    if (typeof msg !== 'string') {
      assert.ok(msg.one && msg.other, `${k}: English plural forms one and other`);
      assert.ok(ru[k].one && ru[k].few && ru[k].many, `${k}: Russian plural forms one, few and many`);
    }
  }
});

test('every key the pages and modules use is in the catalogues', () => {
  const used = new Set();
  for (const f of readdirSync(staticDir)) {
    const src = readFileSync(path.join(staticDir, f), 'utf8');
    if (f.endsWith('.html')) {
      for (const m of src.matchAll(/data-i18n(?:-[a-z-]+)?="([^"]+)"/g)) used.add(m[1]);
    } else if (f.endsWith('.js') && !f.startsWith('lang-')) {
      // t('key'), fill(el, 'key'), and keys written as i18n: 'key'
      for (const m of src.matchAll(/\b(?:t|tr|fill|fillText)\s*\(\s*(?:[\w.]+,\s*)?'([a-zA-Z]+\.[\w.-]+|[a-z]+)'/g)) used.add(m[1]);
    }
  }
  assert.ok(used.size > 50, `found ${used.size} keys`);
  for (const k of used) assert.ok(k in en, `${k} used but not in lang-en.js`);
});

/**
 * The codes of a table of docs/protocol.md: its rows' first cells, from
 * the header row that starts with head to the first line that is no row.
 * @param {string} head
 */
function codes(head) {
  const doc = readFileSync(path.join(staticDir, '..', '..', 'docs', 'protocol.md'), 'utf8').split('\n');
  const at = doc.findIndex((l) => l.trim().startsWith(head));
  assert.ok(at >= 0, `docs/protocol.md has a table ${head}`);
  const out = [];
  for (const l of doc.slice(at + 2)) {
    const m = /^\s*\| `([a-z-]+)` \|/.exec(l);
    if (!m) break;
    out.push(m[1]);
  }
  return out;
}

test('every error code of docs/protocol.md has its text in the catalogues', () => {
  const want = [
    ...codes('| code | when |').map((c) => `err.${c}`),
    ...codes('| code | close code |').map((c) => `bye.${c}`),
    ...codes('| code | status | when |').map((c) => `http.${c}`),
  ];
  assert.ok(want.length > 50, `found ${want.length} codes`);
  for (const k of want) assert.ok(k in en, `${k}: a code of docs/protocol.md with no text in lang-en.js`);
});

test('Russian plurals, parameters and the browser language', () => {
  assert.equal(render('ru', 'unit.day', { n: 1 }), '1 день');
  assert.equal(render('ru', 'unit.day', { n: 3 }), '3 дня');
  assert.equal(render('ru', 'unit.day', { n: 5 }), '5 дней');
  assert.equal(render('ru', 'unit.day', { n: 21 }), '21 день');
  assert.equal(render('ru', 'unit.day', { n: 12 }), '12 дней');
  assert.equal(render('en', 'unit.day', { n: 1 }), '1 day');
  assert.equal(render('en', 'unit.day', { n: 2 }), '2 days');
  assert.equal(render('ru', 'prejoin.ready', { room: 'chat' }), 'Войти в комнату chat?');
  assert.equal(render('en', 'no.such.key'), 'no.such.key');
  assert.equal(fromPreferences(['ru-RU', 'en']), 'ru');
  assert.equal(fromPreferences(['de', 'ru']), 'ru');
  assert.equal(fromPreferences(['en-GB', 'ru']), 'en');
  assert.equal(fromPreferences(['de']), 'en');
});

// The Russian client, screen by screen. Each screen is looked at (a
// screenshot at 1280×800 and 390×844 under test-artifacts/e2e/screens,
// axe, no sideways scrolling) and searched for English: every visible text
// node, and the aria-label, title, placeholder and aria-valuetext of every
// visible element, the page's title, the empty conversation's words and
// every confirm() must have no Latin word but those in ALLOWED (people's
// and rooms' names, the product's, keys, units and formats). Left out: the
// device lists of the check before going live (the system's names of the
// microphones and cameras) and the check page's report for the operator
// (the browser's user agent). Desktop notifications are not looked at.

/** Latin words a Russian screen may show. */
const ALLOWED = new Set([
  'parley', 'ann', 'bob', 'cyd', 'porch', 'English', 'EN', 'RU', // the product, people, the language switch
  'Esc', 'Escape', 'Enter', 'HTTP', 'HTTPS', 'https', 'WebSocket', 'Upgrade', 'ws', 'TURN', 'UDP', 'TCP', 'udp', 'tcp', 'turn', 'enabled',
  'media', 'tcp_port', 'localhost', 'WebM', 'Ogg', 'Opus', 'webm', 'bad', 'watch', // keys, protocols, formats, a file name
  'Fake', 'Default', 'Audio', 'Input', 'fake_device_', // the fake devices' names, as the system gives them
]);

/** What of a string is English: its Latin words not in ALLOWED. */
function english(s) {
  // One letter alone is a name's initial (an avatar's).
  return (s.match(/[A-Za-z][A-Za-z_]+/g) ?? []).filter((w) => !ALLOWED.has(w));
}

/**
 * The texts of the page as a person (or a screen reader) meets them now.
 * @param {import('playwright-core').Page} page
 */
function texts(page) {
  return page.evaluate(() => {
    const out = [document.title];
    const skip = (/** @type {Element} */ el) => el.closest('#prejoin-mic, #prejoin-camera, #report');
    const shown = (/** @type {Element} */ el) => el.checkVisibility({ visibilityProperty: true }) || (el.tagName === 'OPTION' && el.parentElement?.checkVisibility());
    const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
      const el = n.parentElement;
      if (!el || !n.textContent?.trim() || skip(el) || el.closest('script, style') || !shown(el)) continue;
      out.push(n.textContent.trim());
    }
    for (const el of document.querySelectorAll('[aria-label], [title], [placeholder], [aria-valuetext], [data-empty]')) {
      if (skip(el) || !shown(el)) continue;
      for (const a of ['aria-label', 'title', 'placeholder', 'aria-valuetext', 'data-empty']) {
        const v = el.getAttribute(a);
        if (v) out.push(v);
      }
    }
    return out;
  });
}

/**
 * Looks at a screen in Russian: no English on it at either size, and
 * lookAt's screenshots, axe and overflow.
 * @param {import('playwright-core').Page} page
 * @param {string} name
 */
async function russian(page, name) {
  const before = page.viewportSize();
  for (const size of [{ width: 1280, height: 800 }, { width: 390, height: 844 }]) {
    await page.setViewportSize(size);
    const bad = (await texts(page)).filter((s) => english(s).length);
    assert.deepEqual(bad, [], `English on ${name} at ${size.width} px`);
  }
  if (before) await page.setViewportSize(before);
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'ru', `<html lang> of ${name}`);
  await lookAt(page, `ru-${name}`);
}

/** @type {Awaited<ReturnType<typeof startServer>>} */
let srv;
/** @type {import('playwright-core').Browser} */
let browser;
const pages = [];
/** Every confirm() and alert() the pages showed. */
const dialogs = [];

before(async () => {
  const room = (mode, title) => `mode = "${mode}"\ntitle = "${title}"\n`;
  srv = await startServer({
    rooms: {
      chat: room('mediaChat', 'Болтовня'),
      forum: room('mediaForum', 'Форум'),
      stage: room('videoStream', 'Сцена') + 'max_viewers = 5\n',
      video: room('videoChat', 'Видео'),
    },
  });
  browser = await launchBrowser({ args: ['--lang=ru'] });
});

after(async () => {
  for (const p of pages) if (p.errors.length) console.log(`page errors: ${p.errors.map(String).join('\n')}`);
  await browser?.close();
  await srv?.stop();
});

/**
 * A Russian user in a room.
 * @param {string} room
 * @param {string} name
 * @param {Parameters<typeof join>[4]} [opts]
 */
async function user(room, name, opts = {}) {
  const p = await join(browser, srv.url, room, name, { locale: 'ru-RU', ...opts });
  p.on('dialog', (d) => dialogs.push(d.message()));
  pages.push(p);
  return p;
}

test('Russian: the room list, help, a server error, the check before going live, a live tile', async () => {
  const ctx = await browser.newContext({ locale: 'ru-RU', viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  assert.deepEqual(await page.evaluate(() => navigator.languages.slice(0, 1)), ['ru-RU']);
  await page.goto(`${srv.url}/`);
  await page.locator('#rooms li').first().waitFor();
  await russian(page, 'rooms');

  // Help, from the header, with the focus in it and back on Escape.
  await page.click('#help-open');
  await page.locator('#help[open] h3').first().waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.closest('#help') !== null), true, 'the focus is in the help');
  await russian(page, 'help');
  await page.keyboard.press('Escape');
  await page.waitForFunction(() => !document.querySelector('#help')?.hasAttribute('open') && document.activeElement?.id === 'help-open');

  // A server error (a name the server refuses) says its code's text.
  await page.fill('#entry-name', 'ann/bob');
  await page.selectOption('#entry-room', 'chat');
  await page.click('#entry-join');
  await page.locator('#entry-error').filter({ hasText: render('ru', 'err.bad-name') }).waitFor();
  await russian(page, 'server-error');
  await ctx.close();

  // The check before going live, then the stage with someone else's tile.
  const A = await user('stage', 'ann', { prejoin: (p) => russian(p, 'prejoin') });
  const B = await user('stage', 'bob');
  await A.locator('#tiles .tile[data-name="bob"]').waitFor();
  await A.click('#tiles .tile[data-name="bob"] .info');
  await A.locator('#tiles .tile[data-name="bob"] .tile-stats div').first().waitFor();
  await russian(A, 'stage');
  await A.context().close();
  await B.context().close();
});

test('Russian: a clip room with a clip and a message, the settings, an upload refused, a call', async () => {
  const A = await user('chat', 'ann');
  const B = await user('chat', 'bob');
  await uploadClip(B, 'chat', makeClip(2), { description: 'привет' });
  await B.fill('#chat-text', 'как дела?');
  await B.press('#chat-text', 'Enter');
  await A.locator('#timeline .clip[data-author="bob"]').waitFor();
  await A.locator('#timeline .msg').filter({ hasText: 'как дела?' }).waitFor();
  await russian(A, 'chat');
  await A.click('#more-player summary');
  await A.click('#more-recorder summary');
  await russian(A, 'settings');
  await A.click('#more-player summary');
  await A.click('#standby');
  await A.locator('#standby-badge:not([hidden])').waitFor();
  await russian(A, 'standby');
  await A.click('#standby');

  // An upload the server refuses (415: not a WebM in truth): its code's
  // text, not the server's words.
  await A.setInputFiles('#upload-file', { name: 'bad.webm', mimeType: 'audio/webm', buffer: Buffer.from('\x1a\x45\xdf\xa3 not a clip') });
  await A.locator('#upload-error:not([hidden])').waitFor();
  assert.ok((await A.locator('#upload-error').textContent())?.includes(render('ru', 'http.unsupported-media')));
  await russian(A, 'upload-refused');

  // Recording hands-free: the button sends, Cancel beside it.
  await A.click('#upload-error-close');
  await A.click('#record-lock');
  await A.locator('#record-cancel:not([hidden])').waitFor();
  await russian(A, 'recording-locked');
  await A.click('#record-cancel');
  await A.locator('#record-status').filter({ hasText: render('ru', 'rec.cancelled') }).waitFor();

  // A call: ringing, then in the call.
  await A.click('#online button[data-name="bob"]');
  await A.click('#call');
  await B.locator('#ringing:not([hidden])').waitFor();
  await russian(B, 'ringing');
  await B.click('#accept');
  for (const p of [A, B]) await p.waitForFunction(() => document.querySelector('#call-state')?.getAttribute('data-state') === 'active');
  await russian(A, 'call');
  await A.click('#hangup');
  await B.waitForFunction(() => document.querySelector('#call-state')?.getAttribute('data-state') === 'idle');

  // Deleting a clip asks in Russian.
  await B.click('#timeline .clip[data-author="bob"] .del');
  await A.locator('#timeline .clip[data-author="bob"]').waitFor({ state: 'detached' });
  assert.ok(dialogs.length > 0, 'a confirm() was shown');
  assert.deepEqual(dialogs.filter((d) => english(d).length), [], 'English in confirm()');
  await A.context().close();
  await B.context().close();
});

test('Russian: a forum draft, the check page, the watch page', async () => {
  const A = await user('forum', 'ann');
  await holdSpace(A, 2500);
  await A.locator('#draft:not([hidden]) #draft-clip .clip').waitFor();
  await russian(A, 'forum-draft');

  await A.goto(`${srv.url}/check`);
  await A.waitForSelector('body[data-done="true"]', { timeout: 90_000 });
  await russian(A, 'check');

  await A.goto(`${srv.url}/watch/stage`);
  await A.waitForFunction(() => document.querySelector('#stage')?.getAttribute('data-state') !== 'connecting', null, { timeout: 30_000 });
  await russian(A, 'watch');
  // A room with no live stream: the refusal in Russian, not WHEP's English.
  await A.goto(`${srv.url}/watch/chat`);
  await A.waitForFunction(() => document.querySelector('#stage')?.getAttribute('data-state') === 'error');
  assert.equal(await A.locator('#status').textContent(), render('ru', 'watch.cannotWatch'));
  await russian(A, 'watch-refused');
  await A.context().close();
});

test('Russian: a camera station and its owner\'s remote', async () => {
  const porch = await user('video', 'porch');
  await porch.click('#more-recorder summary');
  await porch.click('#station-toggle');
  await porch.locator('#station .station-view').waitFor();
  await porch.click('#station .station-more summary');
  await russian(porch, 'station');
  const key = await porch.evaluate(() => localStorage.getItem('parley.ownerKey'));
  const ann = await user('video', 'ann', { setup: (p) => p.addInitScript((k) => localStorage.setItem('parley.ownerKey', k ?? ''), key) });
  await ann.locator('.station-remote[data-station="porch"]').waitFor();
  await russian(ann, 'station-remote');
  await ann.context().close();
  await porch.context().close();
});

test('switching to English works at once, in a room too, and is remembered', async () => {
  const A = await user('chat', 'cyd');
  await uploadClip(A, 'chat', makeClip(1));
  const play = A.locator('#timeline .clip[data-author="cyd"] button.play');
  assert.match((await play.getAttribute('aria-label')) ?? '', /^Слушать клип от cyd/);
  await A.selectOption('#lang', 'en');
  assert.match((await play.getAttribute('aria-label')) ?? '', /^Play the clip by cyd/, 'a clip bubble says its labels again');
  assert.equal(await A.evaluate(() => document.documentElement.lang), 'en');
  assert.equal(await A.locator('#record-hint').textContent(), render('en', 'hint.recordKeys'));
  assert.equal(await A.locator('#conversation-h span').first().textContent(), 'Conversation');
  // Reloaded, the page joins the room again, still in English.
  await A.reload();
  await A.waitForFunction(() => document.querySelector('#conn')?.getAttribute('data-state') === 'open');
  assert.equal(await A.evaluate(() => document.documentElement.lang), 'en');
  // Rooms' titles and what people wrote stay as they are.
  const theirs = ['Русский', 'Болтовня', 'Форум', 'Сцена', 'привет', 'как дела?'];
  const cyrillic = (await texts(A)).filter((s) => /[а-яё]/i.test(s) && !theirs.includes(s));
  assert.deepEqual(cyrillic, [], 'Russian left on the English room list');
  await A.selectOption('#lang', 'ru');
  assert.equal(await A.locator('#record-hint').textContent(), render('ru', 'hint.recordKeys'));
  await A.context().close();
});
