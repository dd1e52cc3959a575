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
