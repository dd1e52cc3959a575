// @ts-check
// The live panel: a tile per participant whose media we receive (everyone
// who talks in stream rooms; the other party in a call), with their video,
// a speaking indicator and a mute control.

import { h, byId } from './dom.js';

/** @typedef {{id: string, stream: MediaStream, el: HTMLVideoElement, tile: HTMLElement, name: HTMLElement,
 *   mute: HTMLButtonElement, receivers: RTCRtpReceiver[], muted: boolean}} Tile */

export class Live {
  /** @param {import('./app.js').Ctx} ctx */
  constructor(ctx) {
    this.ctx = ctx;
    /** @type {Map<string, Tile>} by publisher participant id */
    this.tiles = new Map();
    /** @type {Set<string>} names muted by the user, kept across reconnects */
    this.mutedNames = new Set();
    this.box = byId('tiles');
    this.empty = byId('live-empty');
    window.setInterval(() => this.poll(), 150);
  }

  /**
   * A track arrived on the subscribe connection; its stream id is the
   * publisher's participant id.
   * @param {MediaStream} stream
   * @param {MediaStreamTrack} track
   * @param {RTCRtpReceiver} receiver
   */
  add(stream, track, receiver) {
    const id = stream.id;
    let t = this.tiles.get(id);
    if (!t) {
      const el = h('video', { autoplay: true, playsInline: true });
      const name = h('span', { className: 'name' });
      const mute = h('button', { type: 'button', className: 'mute', 'aria-pressed': 'false' }, 'Mute');
      const tile = h('figure', { className: 'tile', 'data-id': id }, el, h('figcaption', {}, h('span', { className: 'dot', 'aria-hidden': 'true' }), name, mute));
      t = { id, stream, el, tile, name, mute, receivers: [], muted: false };
      const tt = t;
      mute.addEventListener('click', () => this.setMuted(tt, !tt.muted, true));
      stream.addEventListener('removetrack', () => this.prune(tt));
      el.srcObject = stream;
      this.tiles.set(id, t);
      this.box.append(tile);
    }
    t.receivers.push(receiver);
    track.addEventListener('ended', () => this.prune(/** @type {Tile} */ (t)));
    this.label(t);
    this.setMuted(t, this.mutedNames.has(t.name.textContent ?? ''), false);
    t.el.play().catch((e) => {
      if (e.name === 'NotAllowedError') this.ctx.notify('The browser blocked sound. Click anywhere on the page to hear the room.');
    });
    this.update();
  }

  /** @param {Tile} t */
  label(t) {
    const p = this.ctx.peer(t.id);
    t.name.textContent = p ? p.name : 'someone';
    t.tile.dataset.initial = (p?.name ?? '?').slice(0, 1).toUpperCase();
    t.tile.classList.toggle('has-video', t.stream.getVideoTracks().some((v) => v.readyState === 'live'));
  }

  /**
   * @param {Tile} t
   * @param {boolean} muted
   * @param {boolean} remember
   */
  setMuted(t, muted, remember) {
    t.muted = muted;
    t.el.muted = muted;
    t.mute.textContent = muted ? 'Unmute' : 'Mute';
    t.mute.setAttribute('aria-pressed', String(muted));
    t.tile.classList.toggle('muted', muted);
    if (remember) {
      const n = t.name.textContent ?? '';
      if (muted) this.mutedNames.add(n);
      else this.mutedNames.delete(n);
    }
  }

  /** @param {Tile} t */
  prune(t) {
    if (t.stream.getTracks().some((x) => x.readyState === 'live')) {
      this.label(t);
      return;
    }
    this.remove(t.id);
  }

  /** @param {string} id */
  remove(id) {
    const t = this.tiles.get(id);
    if (!t) return;
    t.el.srcObject = null;
    t.tile.remove();
    this.tiles.delete(id);
    this.update();
  }

  clear() {
    for (const id of [...this.tiles.keys()]) this.remove(id);
  }

  /** Names may arrive after tracks; people leave. */
  refresh() {
    for (const t of this.tiles.values()) {
      if (!this.ctx.peer(t.id)) this.remove(t.id);
      else this.label(t);
    }
  }

  update() {
    this.empty.hidden = this.tiles.size > 0;
  }

  /** The speaking indicator, from the receivers' audio levels. */
  poll() {
    for (const t of this.tiles.values()) {
      let level = 0;
      for (const r of t.receivers) {
        if (r.track.kind !== 'audio') continue;
        for (const s of r.getSynchronizationSources?.() ?? []) {
          const now = s.timestamp > 1e12 ? Date.now() : performance.now();
          if (now - s.timestamp < 500) level = Math.max(level, s.audioLevel ?? 0);
        }
      }
      t.tile.classList.toggle('speaking', level > 0.02);
    }
  }
}
