// @ts-check
// The client's languages: English and Russian. Every text people see comes
// from the catalogues (lang-en.js, lang-ru.js) through t(), or, for the
// static markup of the pages, from data-i18n* attributes that apply() fills
// in at start and on every switch.
//
// A message is a string with named parameters, "{name} is calling", or a
// set of plural forms chosen by the parameter n with Intl.PluralRules:
// {one: "{n} clip", few: "{n} клипа", many: "{n} клипов", other: …}.
// A message missing in Russian falls back to English, then to its key, so a
// forgotten text shows as something rather than as nothing; the catalogue
// test (web/e2e/i18n.test.mjs) keeps the two catalogues the same keys.
//
// The language is the one chosen in the client (remembered in
// localStorage), else the browser's: Russian when its first Russian or
// English preference is Russian, English otherwise.

import en from './lang-en.js';
import ru from './lang-ru.js';

/** @typedef {string|Record<string, string>} Message */
/** @typedef {Record<string, Message>} Catalogue */

/** The languages, with their own names (shown as such in the switch). */
export const languages = /** @type {const} */ ({ en: 'English', ru: 'Русский' });
/** @typedef {keyof typeof languages} Lang */

/** @type {Record<Lang, Catalogue>} */
const catalogues = { en, ru };

const STORE = 'parley.lang';

/**
 * The language from the browser's preferences: the first of them that is
 * Russian or English decides (ru, ru-RU, ru-UA…: Russian).
 * @param {readonly string[]} prefs navigator.languages
 * @returns {Lang}
 */
export function fromPreferences(prefs) {
  for (const p of prefs) {
    const l = p.toLowerCase();
    if (l === 'ru' || l.startsWith('ru-')) return 'ru';
    if (l === 'en' || l.startsWith('en-')) return 'en';
  }
  return 'en';
}

/** @returns {Lang} */
function initial() {
  try {
    const v = localStorage.getItem(STORE);
    if (v === 'en' || v === 'ru') return v;
  } catch {
    // no storage (private mode): the browser's language
  }
  const nav = typeof navigator === 'undefined' ? undefined : navigator;
  return fromPreferences(nav?.languages?.length ? nav.languages : [nav?.language ?? 'en']);
}

/** @type {Lang} */
let current = initial();
/** @type {Intl.PluralRules} */
let plurals = new Intl.PluralRules(current);
/** @type {Set<() => void>} */
const listeners = new Set();

/** The language in use. */
export function lang() {
  return current;
}

/**
 * The text of a message in the language in use, its {name} parameters
 * replaced. A plural message chooses its form by params.n.
 * @param {string} key
 * @param {Record<string, string|number>} [params]
 * @returns {string}
 */
export function t(key, params = {}) {
  return render(current, key, params);
}

/**
 * t() in a given language (tests, and the language switch's own labels).
 * @param {Lang} l
 * @param {string} key
 * @param {Record<string, string|number>} [params]
 */
export function render(l, key, params = {}) {
  const n = params.n;
  return template(l, key, n).replace(/\{(\w+)\}/g, (m, name) => (name in params ? format(l, params[name]) : m));
}

/**
 * A message's text before its parameters are put in: its plural form for n.
 * @param {Lang} l
 * @param {string} key
 * @param {string|number|undefined} n
 */
function template(l, key, n) {
  const msg = catalogues[l][key] ?? catalogues.en[key];
  if (msg === undefined) return key;
  if (typeof msg === 'string') return msg;
  const rules = l === current ? plurals : new Intl.PluralRules(l);
  return msg[rules.select(Number(n ?? 0))] ?? msg.other ?? msg.many ?? '';
}

/**
 * A parameter as text: numbers with the language's separators.
 * @param {Lang} l
 * @param {string|number} v
 */
function format(l, v) {
  return typeof v === 'number' ? v.toLocaleString(l) : v;
}

/**
 * Whether the catalogue has a message (for server error codes, which fall
 * back to the server's own text when the client does not know them).
 * @param {string} key
 */
export function has(key) {
  return key in catalogues.en;
}

/**
 * Switches the language: remembered, <html lang> set, the static markup
 * translated again, and every listener called to render its own texts.
 * @param {Lang} l
 */
export function setLanguage(l) {
  if (!(l in catalogues)) return;
  try {
    localStorage.setItem(STORE, l);
  } catch {
    // not remembered: private browsing or full storage
  }
  if (l === current) return;
  current = l;
  plurals = new Intl.PluralRules(l);
  if (typeof document !== 'undefined') apply(document);
  for (const f of listeners) f();
}

/**
 * Calls f after each language switch.
 * @param {() => void} f
 * @returns {() => void} a function that stops calling it
 */
export function onLanguage(f) {
  listeners.add(f);
  return () => listeners.delete(f);
}

/** The attributes translated from data-i18n-<attribute>. */
const ATTRS = ['aria-label', 'title', 'placeholder', 'alt', 'content'];

/**
 * Translates the static markup under root: data-i18n="key" sets an
 * element's text (its only text: children elements are kept before it
 * when it has a data-i18n-keep attribute, else replaced),
 * data-i18n-aria-label, -title, -placeholder, -alt set those attributes.
 * A document's <html lang> and <title> (data-i18n on it) follow.
 * @param {Document|Element} root
 */
export function apply(root) {
  if ('documentElement' in root) root.documentElement.lang = current;
  for (const el of root.querySelectorAll('[data-i18n]')) {
    const text = t(/** @type {string} */ (el.getAttribute('data-i18n')));
    if (el.hasAttribute('data-i18n-keep')) {
      // Text after an icon: the last text node is the message.
      const last = [...el.childNodes].reverse().find((n) => n.nodeType === Node.TEXT_NODE);
      if (last) last.textContent = text;
      else el.append(text);
    } else {
      el.textContent = text;
    }
  }
  for (const a of ATTRS) {
    for (const el of root.querySelectorAll(`[data-i18n-${a}]`)) {
      el.setAttribute(a, t(/** @type {string} */ (el.getAttribute(`data-i18n-${a}`))));
    }
  }
}

/**
 * A time of day in the language in use (14:05; 2:05 PM).
 * @param {Date} d
 */
export function timeOfDay(d) {
  return d.toLocaleTimeString(current, { hour: '2-digit', minute: '2-digit' });
}

/**
 * A date and time in full, for titles.
 * @param {Date} d
 */
export function dateTime(d) {
  return d.toLocaleString(current);
}

/**
 * A date with the given parts.
 * @param {Date} d
 * @param {Intl.DateTimeFormatOptions} o
 */
export function date(d, o) {
  return d.toLocaleDateString(current, o);
}

/**
 * A number in the language in use (1,5 in Russian).
 * @param {number} n
 * @param {Intl.NumberFormatOptions} [o]
 */
export function number(n, o) {
  return n.toLocaleString(current, o);
}

/**
 * Fills el with a message whose parameters may be nodes (a count in a span
 * of its own, a name in bold): the text around them as text nodes. A node
 * given as n chooses the plural form by its text.
 * @param {Element} el
 * @param {string} key
 * @param {Record<string, string|number|Node>} params
 */
export function fill(el, key, params) {
  const n = params.n;
  const parts = template(current, key, typeof n === 'object' ? Number(n.textContent) : n).split(/\{(\w+)\}/);
  el.replaceChildren(
    ...parts.map((p, i) => {
      if (i % 2 === 0) return p;
      const v = params[p];
      if (v === undefined) return `{${p}}`;
      return typeof v === 'object' ? v : format(current, v);
    }),
  );
}

/**
 * What a server's error or bye says, in the language in use: the
 * catalogue's text for its stable code (err.<code>, bye.<code>), or the
 * server's own text when the client does not know the code.
 * @param {{code?: string, message?: string}} m
 * @param {'err'|'bye'} [kind]
 */
export function serverText(m, kind = 'err') {
  const key = `${kind}.${m.code}`;
  if (m.code && has(key)) return t(key);
  if (m.code && kind === 'bye' && has(`err.${m.code}`)) return t(`err.${m.code}`);
  return m.message || m.code || '';
}
