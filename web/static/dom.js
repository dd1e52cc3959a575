// @ts-check
// Small DOM helpers. Text is always inserted as text nodes or textContent,
// never as HTML: names, chat and descriptions come from other people.

import { t, timeOfDay, date, number } from './i18n.js';

/**
 * Creates an element. props are set as properties (className, type,
 * title, …), except `data-*`/`aria-*`, which are set as attributes, and
 * `on*` functions, which become event listeners. Children are nodes or
 * strings (inserted as text).
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, any>} [props]
 * @param {...(Node|string|null|undefined|false)} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k.startsWith('data-') || k.startsWith('aria-') || k === 'role' || k === 'for') {
      el.setAttribute(k, String(v));
    } else {
      /** @type {any} */ (el)[k] = v;
    }
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return el;
}

/**
 * Returns the element with the given id, typed by the caller.
 * @template {HTMLElement} T
 * @param {string} id
 * @returns {T}
 */
export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing element #${id}`);
  return /** @type {T} */ (el);
}

/**
 * Formats a byte count for people.
 * @param {number} n
 */
export function formatBytes(n) {
  if (n < 1024) return t('unit.bytes', { n });
  if (n < 1024 * 1024) return t('unit.kb', { n: Math.round(n / 1024) });
  return t('unit.mb', { n: number(n / 1024 / 1024, { minimumFractionDigits: 1, maximumFractionDigits: 1 }) });
}

/**
 * Formats a duration in seconds as m:ss.t, or s.t below a minute.
 * @param {number} s
 */
export function formatSeconds(s) {
  if (!isFinite(s) || s < 0) s = 0;
  if (s < 60) return t('unit.seconds', { n: number(s, { minimumFractionDigits: 1, maximumFractionDigits: 1 }) });
  const m = Math.floor(s / 60);
  const r = s - m * 60;
  return `${m}:${r.toFixed(0).padStart(2, '0')}`;
}

/**
 * Formats a lifetime given in seconds (or as a Go duration string) for people.
 * @param {number|string} v
 */
export function formatLifetime(v) {
  const s = typeof v === 'number' ? v : Number.parseFloat(String(v));
  if (!isFinite(s)) return String(v);
  const units = /** @type {[number, string][]} */ ([[86400, 'unit.day'], [3600, 'unit.hour'], [60, 'unit.minute'], [1, 'unit.second']]);
  for (const [n, unit] of units) {
    if (s >= n && s % n === 0) return t(unit, { n: s / n });
  }
  return t('unit.second', { n: s });
}

/**
 * Formats an RFC 3339 time as a short local time (date only when not today).
 * @param {string} iso
 */
export function formatTime(iso) {
  const d = new Date(iso);
  if (isNaN(d.getTime())) return '';
  const now = new Date();
  const time = timeOfDay(d);
  if (d.toDateString() === now.toDateString()) return time;
  return `${date(d, { month: 'short', day: 'numeric' })} ${time}`;
}

/**
 * Reads a JSON value from localStorage, or def when missing or unreadable.
 * @template T
 * @param {string} key
 * @param {T} def
 * @returns {T}
 */
export function load(key, def) {
  try {
    const v = localStorage.getItem(key);
    return v === null ? def : JSON.parse(v);
  } catch {
    return def;
  }
}

/**
 * Stores a JSON value in localStorage; storage errors (private mode, quota)
 * are ignored, the value is then only kept for this page.
 * @param {string} key
 * @param {any} v
 */
export function save(key, v) {
  try {
    localStorage.setItem(key, JSON.stringify(v));
  } catch {
    // not stored: private browsing or full storage
  }
}

/**
 * Formats seconds as a clock, m:ss (h:mm:ss past an hour), as players show
 * a voice note's length.
 * @param {number} s
 */
export function formatClock(s) {
  if (!isFinite(s) || s < 0) s = 0;
  s = Math.floor(s);
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return hh ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

/**
 * A time of day, as bubbles show it.
 * @param {number|string} t a time in ms or RFC 3339
 */
export function formatHour(t) {
  const d = new Date(t);
  return isNaN(d.getTime()) ? '' : timeOfDay(d);
}

/**
 * The label of a day separator: Today, Yesterday, or the date.
 * @param {Date} d
 */
export function formatDay(d) {
  const now = new Date();
  if (d.toDateString() === now.toDateString()) return t('day.today');
  const y = new Date(now);
  y.setDate(now.getDate() - 1);
  if (d.toDateString() === y.toDateString()) return t('day.yesterday');
  /** @type {Intl.DateTimeFormatOptions} */
  const o = { weekday: 'long', month: 'long', day: 'numeric' };
  if (d.getFullYear() !== now.getFullYear()) o.year = 'numeric';
  return date(d, o);
}

/** What looks like a web address in chat text. */
const URL_RE = /\bhttps?:\/\/[^\s<>"]+/gi;

/**
 * Chat text as nodes: text, with every http or https address a link that
 * opens in a new tab without telling the page who sent it there. Nothing
 * is parsed as HTML; any other scheme (javascript:, data:) stays text.
 * @param {string} text
 * @returns {DocumentFragment}
 */
export function linkify(text) {
  const out = document.createDocumentFragment();
  let at = 0;
  for (const m of text.matchAll(URL_RE)) {
    let href = m[0];
    // Punctuation that ends a sentence is not part of the address, nor a
    // closing bracket without its opening one: "(see https://x.org/a)".
    for (;;) {
      const last = href.at(-1) ?? '';
      if (/[.,;:!?'*]/.test(last)) href = href.slice(0, -1);
      else if (last === ')' && (href.match(/\(/g)?.length ?? 0) < (href.match(/\)/g)?.length ?? 0)) href = href.slice(0, -1);
      else break;
    }
    let url;
    try {
      url = new URL(href);
    } catch {
      continue;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') continue;
    const start = /** @type {number} */ (m.index);
    out.append(text.slice(at, start));
    out.append(h('a', { href: url.href, target: '_blank', rel: 'noopener noreferrer' }, href));
    at = start + href.length;
  }
  out.append(text.slice(at));
  return out;
}

/** Icons: path data on a 24×24 grid, drawn in the text's colour. */
const ICONS = /** @type {Record<string, string>} */ ({
  play: 'M8 5v14l11-7z',
  pause: 'M6 5h4v14H6zm8 0h4v14h-4z',
  download: 'M5 20h14v-2H5zm7-3 6-6-1.4-1.4-3.6 3.6V3h-2v10.2L7.4 9.6 6 11z',
  delete: 'M6 19a2 2 0 0 0 2 2h8a2 2 0 0 0 2-2V7H6zM19 4h-3.5l-1-1h-5l-1 1H5v2h14z',
  from: 'M4 18l8.5-6L4 6zm9-12v12l8.5-6z',
  fullscreen: 'M7 14H5v5h5v-2H7zm-2-4h2V7h3V5H5zm12 7h-3v2h5v-5h-2zM14 5v2h3v3h2V5z',
  info: 'M11 7h2v2h-2zm0 4h2v6h-2zm1-9a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm0 18a8 8 0 1 1 0-16 8 8 0 0 1 0 16z',
  help: 'M11 16h2v2h-2zm1-10a4 4 0 0 0-4 4h2a2 2 0 1 1 2 2h-1v3h2v-1.13A4 4 0 0 0 12 6zm0-4a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm0 18a8 8 0 1 1 0-16 8 8 0 0 1 0 16z',
  down: 'M7.4 8.6 12 13.2l4.6-4.6L18 10l-6 6-6-6z',
  up: 'M7.4 15.4 12 10.8l4.6 4.6L18 14l-6-6-6 6z',
  mic: 'M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.93V21h2v-3.07A7 7 0 0 0 19 11z',
  lock: 'M18 8h-1V6A5 5 0 0 0 7 6v2H6a2 2 0 0 0-2 2v10a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V10a2 2 0 0 0-2-2zM9 6a3 3 0 0 1 6 0v2H9zm3 11a2 2 0 1 1 0-4 2 2 0 0 1 0 4z',
  send: 'M3 20.5 22 12 3 3.5V10l13 2-13 2z',
  stop: 'M6 6h12v12H6z',
  'stop-after': 'M3 5v14l9-7zm11 0h6v14h-6z',
  moon: 'M12 3a9 9 0 1 0 9 9c0-.46-.04-.92-.1-1.36a5.4 5.4 0 0 1-4.4 2.26 5.4 5.4 0 0 1-3.14-9.8c-.44-.06-.9-.1-1.36-.1z',
  upload: 'M5 20h14v-2H5zM12 3 6 9l1.4 1.4 3.6-3.6V17h2V6.8l3.6 3.6L18 9z',
  camera: 'M17 10.5V7a1 1 0 0 0-1-1H4a1 1 0 0 0-1 1v10a1 1 0 0 0 1 1h12a1 1 0 0 0 1-1v-3.5l4 4v-11z',
  'camera-off': 'M21 6.5l-4 4V7a1 1 0 0 0-1-1H9.82L21 17.18zM3.27 2 2 3.27 4.73 6H4a1 1 0 0 0-1 1v10a1 1 0 0 0 1 1h12c.21 0 .39-.08.54-.18L19.73 21 21 19.73z',
  'mic-off': 'M19 11h-1.7c0 .74-.16 1.43-.43 2.05l1.23 1.23c.56-.98.9-2.09.9-3.28zm-4.02.17V5a3 3 0 0 0-6-.18zM4.27 3 3 4.27l6.01 6.01V11a3 3 0 0 0 3.64 2.92l1.66 1.66A5.3 5.3 0 0 1 6.7 11H5c0 3.41 2.72 6.23 6 6.72V21h2v-3.28a6.9 6.9 0 0 0 2.54-.9L19.73 21 21 19.73z',
  screen: 'M21 3H3a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h18a2 2 0 0 0 2-2V5a2 2 0 0 0-2-2zm0 16H3V5h18zM10 12H8l4-4 4 4h-2v4h-4z',
  headset: 'M12 1a9 9 0 0 0-9 9v7a3 3 0 0 0 3 3h3v-8H5v-2a7 7 0 0 1 14 0v2h-4v8h3a3 3 0 0 0 3-3v-7a9 9 0 0 0-9-9z',
  'headset-off': 'M12 4a7 7 0 0 1 7 7v2h-2.2L21 17.2V11A9 9 0 0 0 6.4 3.96l1.43 1.43A6.97 6.97 0 0 1 12 4zM3.5 2.1 2.1 3.5l2.2 2.2A8.96 8.96 0 0 0 3 10v7a3 3 0 0 0 3 3h3v-8H5v-2c0-.88.16-1.72.46-2.5L15 17v3h3c.2 0 .4-.02.58-.06l1.92 1.92 1.4-1.4z',
  volume: 'M3 9v6h4l5 5V4L7 9zm13.5 3A4.5 4.5 0 0 0 14 7.97v8.05A4.48 4.48 0 0 0 16.5 12zM14 3.23v2.06a7 7 0 0 1 0 13.42v2.06a9 9 0 0 0 0-17.54z',
  'volume-off': 'M16.5 12A4.5 4.5 0 0 0 14 7.97v2.21l2.45 2.45c.03-.2.05-.41.05-.63zm2.5 0c0 .94-.2 1.82-.54 2.64l1.51 1.51A8.8 8.8 0 0 0 21 12a9 9 0 0 0-7-8.77v2.06A7 7 0 0 1 19 12zM4.27 3 3 4.27 7.73 9H3v6h4l5 5v-6.73l4.25 4.25c-.67.52-1.42.93-2.25 1.18v2.06a8.99 8.99 0 0 0 3.69-1.81L19.73 21 21 19.73l-9-9zM12 4 9.91 6.09 12 8.18z',
  hangup: 'M12 9c-1.6 0-3.15.25-4.6.72v3.1c0 .39-.23.74-.56.9a11.4 11.4 0 0 0-2.66 1.85 1 1 0 0 1-1.41-.01L.29 13.08a1 1 0 0 1 0-1.41A16.9 16.9 0 0 1 12 7c4.54 0 8.66 1.78 11.71 4.67a1 1 0 0 1 0 1.42l-2.48 2.48a1 1 0 0 1-1.41.01 11.27 11.27 0 0 0-2.67-1.85 1 1 0 0 1-.56-.9v-3.1A15 15 0 0 0 12 9z',
  'fullscreen-exit': 'M5 16h3v3h2v-5H5zm3-8H5v2h5V5H8zm6 11h2v-3h3v-2h-5zm2-11V5h-2v5h5V8z',
  grid: 'M3 3v8h8V3zm6 6H5V5h4zm-6 4v8h8v-8zm6 6H5v-4h4zm4-16v8h8V3zm6 6h-4V5h4zm-6 4v8h8v-8zm6 6h-4v-4h4z',
  spotlight: 'M3 3h18v12H3zm2 2v8h14V5zM3 17h5v4H3zm6.5 0h5v4h-5zm6.5 0h5v4h-5z',
});

/**
 * An icon as inline SVG (no markup parsed; CSP allows it).
 * @param {string} name
 */
export function icon(name) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('class', 'icon');
  const p = document.createElementNS(ns, 'path');
  p.setAttribute('d', ICONS[name] ?? '');
  svg.append(p);
  return svg;
}
