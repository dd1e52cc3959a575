// @ts-check
// Which input the person has, so that hints name it: "hold the button" on
// a touch screen, "hold SPACE" with a keyboard. It starts from the primary
// pointer (coarse: a finger) and follows what is used: a touch makes it
// touch, a mouse or a key that only a keyboard sends (SPACE, Tab, Enter,
// an arrow) makes it keys. Letters do not count: a phone's on-screen
// keyboard sends them too.

import { t } from './i18n.js';

const KEYS = new Set([' ', 'Tab', 'Enter', 'Escape', 'ArrowUp', 'ArrowDown', 'ArrowLeft', 'ArrowRight']);

let touch = matchMedia('(pointer: coarse)').matches;
/** @type {Set<() => void>} */
const watchers = new Set();

/** @param {boolean} t */
function set(t) {
  if (t === touch) return;
  touch = t;
  for (const f of watchers) f();
}

window.addEventListener('pointerdown', (ev) => set(ev.pointerType === 'touch' || ev.pointerType === 'pen'), { capture: true, passive: true });
window.addEventListener('keydown', (ev) => KEYS.has(ev.key) && set(false), { capture: true, passive: true });

/** Whether the person uses a touch screen rather than a keyboard. */
export function usesTouch() {
  return touch;
}

/**
 * Calls f whenever the input changes (to redraw a hint).
 * @param {() => void} f
 */
export function onInputChange(f) {
  watchers.add(f);
}

/** What to hold to talk or record, for a hint: "hold SPACE" or "hold the button". */
export function holdWhat() {
  return touch ? t('input.holdButton') : t('input.holdSpace');
}
