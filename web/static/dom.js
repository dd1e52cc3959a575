// @ts-check
// Small DOM helpers. Text is always inserted as text nodes or textContent,
// never as HTML: names, chat and descriptions come from other people.

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
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/**
 * Formats a duration in seconds as m:ss.t, or s.t below a minute.
 * @param {number} s
 */
export function formatSeconds(s) {
  if (!isFinite(s) || s < 0) s = 0;
  if (s < 60) return `${s.toFixed(1)} s`;
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
  const units = /** @type {[number, string][]} */ ([[86400, 'day'], [3600, 'hour'], [60, 'minute'], [1, 'second']]);
  for (const [n, unit] of units) {
    if (s >= n && s % n === 0) return `${s / n} ${unit}${s / n === 1 ? '' : 's'}`;
  }
  return `${s} seconds`;
}

/**
 * Formats an RFC 3339 time as a short local time (date only when not today).
 * @param {string} iso
 */
export function formatTime(iso) {
  const d = new Date(iso);
  if (isNaN(d.getTime())) return '';
  const now = new Date();
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  if (d.toDateString() === now.toDateString()) return time;
  return `${d.toLocaleDateString([], { month: 'short', day: 'numeric' })} ${time}`;
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
  return isNaN(d.getTime()) ? '' : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/**
 * The label of a day separator: Today, Yesterday, or the date.
 * @param {Date} d
 */
export function formatDay(d) {
  const now = new Date();
  if (d.toDateString() === now.toDateString()) return 'Today';
  const y = new Date(now);
  y.setDate(now.getDate() - 1);
  if (d.toDateString() === y.toDateString()) return 'Yesterday';
  /** @type {Intl.DateTimeFormatOptions} */
  const o = { weekday: 'long', month: 'long', day: 'numeric' };
  if (d.getFullYear() !== now.getFullYear()) o.year = 'numeric';
  return d.toLocaleDateString([], o);
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
  down: 'M7.4 8.6 12 13.2l4.6-4.6L18 10l-6 6-6-6z',
  up: 'M7.4 15.4 12 10.8l4.6 4.6L18 14l-6-6-6 6z',
  mic: 'M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.93V21h2v-3.07A7 7 0 0 0 19 11z',
  lock: 'M18 8h-1V6A5 5 0 0 0 7 6v2H6a2 2 0 0 0-2 2v10a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V10a2 2 0 0 0-2-2zM9 6a3 3 0 0 1 6 0v2H9zm3 11a2 2 0 1 1 0-4 2 2 0 0 1 0 4z',
  send: 'M3 20.5 22 12 3 3.5V10l13 2-13 2z',
  stop: 'M6 6h12v12H6z',
  upload: 'M5 20h14v-2H5zM12 3 6 9l1.4 1.4 3.6-3.6V17h2V6.8l3.6 3.6L18 9z',
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
