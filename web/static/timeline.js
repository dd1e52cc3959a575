// @ts-check
// The room's conversation: one list of chat messages, clips and system
// lines (joins, leaves, calls) in the order they happened, newest at the
// bottom, with a separator per day and consecutive messages of one author
// grouped. It does not know what its items are: phone.js and player.js
// make the bubbles, this keeps them in order and in view.
//
// Scrolling: a reader at the bottom stays there as items arrive; one who
// reads older items keeps their place, and a "new messages" button counts
// what arrived below and jumps there.

import { h, byId, formatDay, formatHour, icon } from './dom.js';
import { t } from './i18n.js';

/** Consecutive messages of one author within this gap are one group. */
const GROUP_MS = 10 * 60_000;
/** How close to the bottom counts as at the bottom (px). */
const NEAR_PX = 48;

/** @typedef {{node: HTMLElement, time: number, group: string}} Entry */

export class Timeline {
  constructor() {
    this.list = byId('timeline');
    this.jump = /** @type {HTMLButtonElement} */ (byId('jump'));
    this.jumpText = byId('jump-text');
    /** @type {Entry[]} in order */
    this.entries = [];
    /** @type {Map<string, HTMLElement>} day separators by day */
    this.days = new Map();
    /** the latest time placed, so that live items always go to the bottom */
    this.last = 0;
    /** items that arrived below while the reader was above */
    this.fresh = 0;
    this.jump.prepend(icon('down'));
    this.jump.addEventListener('click', () => this.toEnd(true));
    /** whether the reader is at the bottom, where the list keeps them */
    this.pinned = true;
    this.list.addEventListener('scroll', () => {
      this.pinned = this.atEnd();
      if (this.fresh && this.pinned) this.setFresh(0);
    });
    // A reader at the bottom stays there when the list or an item changes
    // size (a narrower window, a video's picture arriving).
    this.sizes = new ResizeObserver(() => {
      if (this.pinned) this.list.scrollTop = this.list.scrollHeight;
    });
    this.sizes.observe(this.list);
  }

  atEnd() {
    const l = this.list;
    return l.scrollHeight - l.scrollTop - l.clientHeight < NEAR_PX;
  }

  /** @param {boolean} smooth */
  toEnd(smooth) {
    const reduce = matchMedia('(prefers-reduced-motion: reduce)').matches;
    this.list.scrollTo({ top: this.list.scrollHeight, behavior: smooth && !reduce ? 'smooth' : 'auto' });
    this.pinned = true;
    this.setFresh(0);
  }

  /** @param {number} n */
  setFresh(n) {
    this.fresh = n;
    this.jump.hidden = n === 0;
    this.jumpText.textContent = t('conv.newMessages', { n });
  }

  /**
   * Places an item. A live item (one that just happened) goes below
   * everything placed so far, whatever its clock says, so that the other
   * side's clock cannot put it among older ones; items from history go
   * where their time puts them.
   * @param {HTMLElement} node
   * @param {{time: number, live: boolean, group?: string, mine?: boolean}} o
   *   group: items with the same non-empty group are grouped when consecutive;
   *   mine: the user's own, which scrolls to it
   */
  add(node, o) {
    const wasAtEnd = this.pinned || this.atEnd();
    this.sizes.observe(node);
    const time = o.live ? Math.max(o.time, this.last) : o.time;
    this.last = Math.max(this.last, time);
    let i = this.entries.length;
    while (i > 0 && this.entries[i - 1].time > time) i--;
    this.entries.splice(i, 0, { node, time, group: o.group ?? '' });
    this.layout();
    if (wasAtEnd || o.mine) this.toEnd(false);
    else if (o.live && i === this.entries.length - 1) this.setFresh(this.fresh + 1);
  }

  /**
   * A small centred line: someone came or went, a call.
   * @param {string} text
   * @param {{time?: number, live?: boolean, kind?: string}} [o]
   */
  system(text, o = {}) {
    const time = o.time ?? Date.now();
    const li = h('li', { className: `sys ${o.kind ?? ''}`.trim() }, h('span', {}, text, ' ', h('time', { dateTime: new Date(time).toISOString() }, formatHour(time))));
    this.add(li, { time, live: o.live ?? true });
    return li;
  }

  /** @param {HTMLElement} node */
  has(node) {
    return this.entries.some((e) => e.node === node);
  }

  /** @param {HTMLElement} node */
  remove(node) {
    const i = this.entries.findIndex((e) => e.node === node);
    if (i < 0) return;
    this.entries.splice(i, 1);
    this.sizes.unobserve(node);
    node.remove();
    this.layout();
  }

  /** Empties it (leaving the room). */
  clear() {
    for (const e of this.entries) this.sizes.unobserve(e.node);
    this.entries = [];
    this.last = 0;
    this.pinned = true;
    this.list.replaceChildren();
    this.setFresh(0);
  }

  /**
   * Puts the separators and the grouping right, moving only the nodes
   * that are out of place (a playing clip's media stays where it is).
   */
  layout() {
    /** @type {HTMLElement[]} */
    const want = [];
    let prevDay = '';
    let prev = /** @type {Entry|null} */ (null);
    for (const e of this.entries) {
      const d = new Date(e.time);
      const day = d.toDateString();
      if (day !== prevDay) {
        let sep = this.days.get(day);
        if (!sep) {
          sep = h('li', { className: 'day' }, h('span', {}));
          this.days.set(day, sep);
        }
        /** @type {HTMLElement} */ (sep.firstChild).textContent = formatDay(d);
        want.push(sep);
        prev = null;
      }
      const cont = !!prev && !!e.group && e.group === prev.group && e.time - prev.time < GROUP_MS;
      e.node.classList.toggle('cont', cont);
      if (prev) prev.node.classList.toggle('last', !cont);
      prevDay = day;
      prev = e;
      want.push(e.node);
    }
    if (prev) prev.node.classList.add('last');
    let cur = this.list.firstElementChild;
    for (const n of want) {
      if (cur === n) cur = cur.nextElementSibling;
      else this.list.insertBefore(n, cur);
    }
    while (cur) {
      const next = cur.nextElementSibling;
      cur.remove();
      cur = next;
    }
  }
}
