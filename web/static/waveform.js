// @ts-check
// A clip's waveform: bars drawn on a canvas from the levels the server
// measured (clip.waveform, 0..100), or one flat bar without them. The part
// already played is drawn in the accent colour. It is a slider: a click or
// a drag seeks, and so do the arrow keys, Home and End.

import { formatClock } from './dom.js';
import { t } from './i18n.js';

const BAR = 3; // px, one bar
const GAP = 2; // px, between bars

/** Waveforms on the page, redrawn when the colour scheme changes. */
const all = new Set();
matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
  for (const w of all) {
    if (w.el.isConnected) w.draw();
    else all.delete(w);
  }
});

export class Waveform {
  /**
   * @param {number[]|undefined} levels
   * @param {string} label the slider's accessible name
   * @param {(fraction: number) => void} onseek
   */
  constructor(levels, label, onseek) {
    this.levels = Array.isArray(levels) && levels.length ? levels.map((v) => Math.max(0, Math.min(100, Number(v) || 0))) : null;
    this.onseek = onseek;
    this.fraction = 0;
    this.duration = 0;
    this.canvas = document.createElement('canvas');
    this.el = document.createElement('div');
    this.el.className = 'wave';
    this.el.tabIndex = 0;
    this.el.setAttribute('role', 'slider');
    this.el.setAttribute('aria-label', label);
    this.el.setAttribute('aria-valuemin', '0');
    this.el.append(this.canvas);
    this.width = 0;
    this.height = 0;
    this.drawn = false;
    new ResizeObserver(([e]) => {
      this.width = e.contentRect.width;
      this.height = e.contentRect.height;
      this.draw();
    }).observe(this.el);
    all.add(this);

    this.el.addEventListener('pointerdown', (ev) => {
      if (ev.button !== 0) return;
      this.el.setPointerCapture(ev.pointerId);
      this.seekTo(ev);
    });
    this.el.addEventListener('pointermove', (ev) => {
      if (this.el.hasPointerCapture(ev.pointerId)) this.seekTo(ev);
    });
    this.el.addEventListener('keydown', (ev) => {
      const d = this.duration || 1;
      const step = { ArrowLeft: -2 / d, ArrowDown: -2 / d, ArrowRight: 2 / d, ArrowUp: 2 / d, PageDown: -10 / d, PageUp: 10 / d }[ev.key];
      let f;
      if (step !== undefined) f = this.fraction + step;
      else if (ev.key === 'Home') f = 0;
      else if (ev.key === 'End') f = 1;
      else return;
      ev.preventDefault();
      this.onseek(Math.max(0, Math.min(1, f)));
    });
  }

  /** @param {PointerEvent} ev */
  seekTo(ev) {
    const r = this.el.getBoundingClientRect();
    if (r.width <= 0) return;
    this.onseek(Math.max(0, Math.min(1, (ev.clientX - r.left) / r.width)));
  }

  /**
   * Shows how far playing got.
   * @param {number} at seconds
   * @param {number} duration seconds
   */
  set(at, duration) {
    const f = duration > 0 ? Math.max(0, Math.min(1, at / duration)) : 0;
    this.duration = duration;
    this.el.setAttribute('aria-valuemax', duration.toFixed(1));
    this.el.setAttribute('aria-valuenow', (f * duration).toFixed(1));
    this.el.setAttribute('aria-valuetext', t('clip.position.value', { at: formatClock(f * duration), length: formatClock(duration) }));
    if (Math.abs(f - this.fraction) < 1e-4 && this.drawn) return;
    this.fraction = f;
    this.draw();
  }

  draw() {
    const { width, height } = this;
    if (width <= 0 || height <= 0) return;
    const dpr = window.devicePixelRatio || 1;
    const c = this.canvas;
    if (c.width !== Math.round(width * dpr) || c.height !== Math.round(height * dpr)) {
      c.width = Math.round(width * dpr);
      c.height = Math.round(height * dpr);
    }
    const g = c.getContext('2d');
    if (!g) return;
    const css = getComputedStyle(this.el);
    const played = css.getPropertyValue('--wave-played').trim() || '#2563eb';
    const rest = css.getPropertyValue('--wave').trim() || '#9aa3ae';
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, width, height);
    const cut = this.fraction * width;
    if (!this.levels) {
      // No levels: one flat bar that fills.
      const y = height / 2 - 2;
      g.fillStyle = rest;
      g.fillRect(0, y, width, 4);
      g.fillStyle = played;
      g.fillRect(0, y, cut, 4);
    } else {
      const n = Math.max(1, Math.floor((width + GAP) / (BAR + GAP)));
      const lv = this.levels;
      for (let i = 0; i < n; i++) {
        // Each bar is the loudest of the levels it covers.
        const a = Math.floor((i * lv.length) / n);
        const b = Math.max(a + 1, Math.floor(((i + 1) * lv.length) / n));
        let v = 0;
        for (let j = a; j < b; j++) v = Math.max(v, lv[j]);
        const bh = Math.max(2, (v / 100) * height);
        const x = i * (BAR + GAP);
        g.fillStyle = x + BAR / 2 <= cut ? played : rest;
        g.fillRect(x, (height - bh) / 2, BAR, bh);
      }
    }
    this.drawn = true;
  }
}
