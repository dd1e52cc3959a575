// @ts-check
// The stage of live rooms and calls: a tile per person we hear (everyone
// else in a live room, the other party in a call) and per screen shared,
// laid out to fill the stage; a ring on whoever speaks (the server's
// `speaking`), the last speaker or a shared screen large; yourself small
// in a corner; per person a volume and a mute, remembered by name; any
// tile full screen; and the controls: microphone, camera, screen, deafen,
// layout, hang up.

import { h, byId, icon, load, save, formatSeconds } from './dom.js';
import { t as tr, number, onLanguage } from './i18n.js';

/** Tiles are this wide for their height, as cameras send them. */
const ASPECT = 16 / 9;
/** The gap between tiles, px (.tiles' gap). */
const GAP = 8;
/** The stream id of a shared screen ends so (docs/protocol.md). */
const SCREEN = '.screen';

/** @typedef {{id: string, owner: string, screen: boolean, stream: MediaStream|null, el: HTMLVideoElement, tile: HTMLElement,
 *   name: HTMLElement, pop: HTMLElement, range: HTMLInputElement, mute: HTMLButtonElement, volBtn: HTMLButtonElement, muted: boolean, volume: number,
 *   video: string, receiver: RTCRtpReceiver|null, visible: boolean, sentSize: string, sizeTimer: number,
 *   statsBtn: HTMLButtonElement, stats: HTMLElement, last: {bytes: number, at: number}|null}} Tile */
/** @typedef {{micOpen: boolean, camera: boolean, screen: boolean, inCall: boolean, allowVideo: boolean}} StageState */
/** @typedef {{mic: () => void, camera: () => void, screen: () => void, hangup: () => void}} StageActions */

/** @typedef {Record<string, any>} Msg */

/** @param {number} bps */
function kbps(bps) {
  return bps >= 1e6 ? tr('unit.mbps', { n: number(bps / 1e6, { maximumFractionDigits: 1, minimumFractionDigits: 1 }) }) : tr('unit.kbps', { n: Math.round(bps / 1000) });
}

export class Live {
  /**
   * @param {import('./app.js').Ctx} ctx
   * @param {StageActions} actions what the controls do
   */
  constructor(ctx, actions) {
    this.ctx = ctx;
    /** @type {Map<string, Tile>} by stream id: a participant id, or a screen's */
    this.tiles = new Map();
    /** @type {Record<string, {muted?: boolean, volume?: number}>} what the user set per name, kept */
    this.byName = load('parley.listen', {});
    /** @type {Set<string>} the participants speaking now */
    this.speaking = new Set();
    /** the participant who spoke last, shown large */
    this.lastSpeaker = '';
    this.deafened = false;
    /** 'speaker': the last speaker (or a screen) large; 'grid': all tiles alike */
    this.mode = load('parley.layout', 'speaker');
    this.box = byId('tiles');
    this.empty = byId('live-empty');
    this.self = byId('self');
    this.selfVideo = /** @type {HTMLVideoElement} */ (byId('self-video'));
    this.selfNote = byId('self-note');
    this.stageEl = byId('stage');
    /** @type {Record<string, HTMLButtonElement>} */
    this.btn = {};
    for (const [k, id, fn] of /** @type {[string, string, () => void][]} */ ([
      ['mic', 'ctl-mic', actions.mic],
      ['camera', 'ctl-cam', actions.camera],
      ['screen', 'ctl-screen', actions.screen],
      ['deafen', 'ctl-deafen', () => this.deafen(!this.deafened)],
      ['layout', 'ctl-layout', () => this.setMode(this.mode === 'grid' ? 'speaker' : 'grid')],
      ['hangup', 'ctl-hangup', actions.hangup],
    ])) {
      const b = /** @type {HTMLButtonElement} */ (byId(id));
      b.addEventListener('click', fn);
      this.btn[k] = b;
    }
    /** @type {StageState} */
    this.state = { micOpen: false, camera: false, screen: false, inCall: false, allowVideo: false };
    this.render(this.state);
    onLanguage(() => {
      this.render(this.state);
      for (const t of this.tiles.values()) {
        this.label(t);
        /** @type {HTMLElement} */ (t.tile.querySelector('.paused-note')).textContent = tr('live.paused');
      }
      this.fullscreenChanged();
      this.selfNote.textContent = this.self.classList.contains('mirror') ? tr('live.you') : tr('live.yourScreen');
    });
    new ResizeObserver(() => this.layout()).observe(this.box);
    ctx.signal.on('speaking', (m) => this.onSpeaking(String(m.id), !!m.speaking));
    ctx.signal.on('participant-left', (m) => this.onSpeaking(m.participant?.id ?? '', false));
    ctx.signal.on('video-paused', (m) => this.onPaused(String(m.track), !!m.paused));
    // The size each video is shown at, for the server (video-size): it
    // sends no larger picture than that, and none of a hidden one.
    this.sizes = new ResizeObserver((entries) => {
      for (const e of entries) this.reportSize(this.tileOf(/** @type {HTMLElement} */ (e.target)));
    });
    this.seen = new IntersectionObserver((entries) => {
      for (const e of entries) {
        const t = this.tileOf(/** @type {HTMLElement} */ (e.target));
        if (t) t.visible = e.isIntersecting;
        this.reportSize(t);
      }
    });
    document.addEventListener('visibilitychange', () => {
      for (const t of this.tiles.values()) this.reportSize(t);
    });
    /** @type {number} the statistics overlays' timer; 0 when none is open */
    this.statsTimer = 0;
    document.addEventListener('fullscreenchange', () => this.fullscreenChanged());
    document.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape') for (const t of this.tiles.values()) this.showVolume(t, false);
    });
  }

  /**
   * A track arrived on the subscribe connection; its stream id is the
   * publisher's participant id, or a shared screen's.
   * @param {MediaStream} stream
   * @param {MediaStreamTrack} track
   * @param {RTCRtpReceiver} _receiver
   */
  add(stream, track, receiver) {
    const t = this.tile(stream.id);
    if (track.kind === 'video') {
      t.video = track.id;
      t.receiver = receiver;
      t.sentSize = '';
      this.reportSize(t);
    }
    t.stream = stream;
    // Set again for a track that joins the stream (a camera turned on).
    t.el.srcObject = stream;
    stream.onremovetrack = () => this.prune(t);
    track.addEventListener('ended', () => this.prune(t));
    this.label(t);
    this.applyAudio(t);
    t.el.play().catch((e) => {
      if (e.name === 'NotAllowedError') this.ctx.notify(tr('live.blocked'));
      else if (e.name !== 'AbortError') this.ctx.report('playback', e);
    });
    this.layout();
  }

  /**
   * The tile of stream id, made if there is none.
   * @param {string} id
   */
  tile(id) {
    const have = this.tiles.get(id);
    if (have) return have;
    const screen = id.endsWith(SCREEN);
    const owner = screen ? id.slice(0, -SCREEN.length) : id;
    const el = h('video', { autoplay: true, playsInline: true });
    const name = h('span', { className: 'name' });
    const full = h('button', { type: 'button', className: 'tile-btn full', 'aria-label': tr('clip.fullscreen'), title: tr('clip.fullscreen') }, icon('fullscreen'));
    const statsBtn = h('button', { type: 'button', className: 'tile-btn info', 'aria-pressed': 'false', title: tr('live.stats') }, icon('info'));
    const stats = h('div', { className: 'tile-stats', role: 'status' });
    stats.hidden = true;
    const volBtn = h('button', { type: 'button', className: 'tile-btn vol', 'aria-expanded': 'false', title: tr('live.volume') }, icon('volume'));
    const range = h('input', { type: 'range', min: '0', max: '100', step: '5', value: '100' });
    const mute = h('button', { type: 'button', className: 'mute', 'aria-pressed': 'false' }, tr('live.mute'));
    const pop = h('div', { className: 'vol-pop' }, icon('volume'), range, mute);
    pop.hidden = true;
    const tile = h(
      'figure',
      { className: 'tile' + (screen ? ' screen-tile' : ''), 'data-id': id, 'data-owner': owner },
      el,
      h('div', { className: 'avatar', 'aria-hidden': 'true' }),
      h('div', { className: 'paused-note' }, tr('live.paused')),
      stats,
      pop,
      h('figcaption', {}, h('span', { className: 'muted-mark', 'aria-hidden': 'true' }, icon('volume-off')), name, statsBtn, screen ? null : volBtn, full),
    );
    /** @type {Tile} */
    const t = {
      id, owner, screen, stream: null, el, tile, name, pop, range, mute, volBtn, muted: false, volume: 1,
      video: '', receiver: null, visible: true, sentSize: '', sizeTimer: 0, statsBtn, stats, last: null,
    };
    statsBtn.addEventListener('click', () => this.showStats(t, stats.hidden));
    this.sizes.observe(el);
    this.seen.observe(tile);
    mute.addEventListener('click', () => this.setListen(t, { muted: !t.muted }));
    range.addEventListener('input', () => this.setListen(t, { volume: Number(range.value) / 100, muted: Number(range.value) === 0 ? t.muted : false }));
    volBtn.addEventListener('click', () => this.showVolume(t, pop.hidden));
    full.addEventListener('click', () => this.fullscreen(t));
    tile.addEventListener('dblclick', () => this.fullscreen(t));
    this.tiles.set(id, t);
    this.box.append(tile);
    this.label(t);
    return t;
  }

  /**
   * @param {Tile} t
   * @param {boolean} show
   */
  showVolume(t, show) {
    if (show) this.showStats(t, false);
    t.pop.hidden = !show;
    t.volBtn.setAttribute('aria-expanded', String(show));
    if (show) t.range.focus();
  }

  /** @param {Tile} t */
  label(t) {
    const p = this.ctx.peer(t.owner);
    const who = p ? p.name : tr('live.someone');
    t.name.textContent = t.screen ? tr('live.screenOf', { name: who }) : who;
    t.tile.dataset.name = who;
    /** @type {HTMLElement} */ (t.tile.querySelector('.avatar')).textContent = who.slice(0, 1).toUpperCase();
    t.tile.classList.toggle('has-video', !!t.stream?.getVideoTracks().some((v) => v.readyState === 'live'));
    t.tile.classList.toggle('speaking', !t.screen && this.speaking.has(t.owner));
    t.volBtn.setAttribute('aria-label', tr('live.volumeOf', { name: who }));
    t.statsBtn.setAttribute('aria-label', tr('live.statsOf', { name: t.screen ? tr('live.screenOf', { name: who }) : who }));
    t.range.setAttribute('aria-label', tr('live.volumeOf', { name: who }));
    t.mute.setAttribute('aria-label', tr('live.muteName', { name: who }));
    const kept = this.byName[who];
    if (!t.screen && kept) {
      t.muted = !!kept.muted;
      t.volume = kept.volume ?? 1;
    }
    this.applyAudio(t);
  }

  /**
   * Sets what the user hears of a person, and keeps it by their name.
   * @param {Tile} t
   * @param {{muted?: boolean, volume?: number}} change
   */
  setListen(t, change) {
    const who = t.tile.dataset.name ?? '';
    if (change.muted !== undefined) t.muted = change.muted;
    if (change.volume !== undefined) t.volume = change.volume;
    this.byName[who] = { muted: t.muted, volume: t.volume };
    save('parley.listen', this.byName);
    this.applyAudio(t);
  }

  /** @param {Tile} t */
  applyAudio(t) {
    t.el.muted = t.muted || this.deafened || t.screen;
    t.el.volume = Math.max(0, Math.min(1, t.volume));
    t.range.value = String(Math.round(t.volume * 100));
    t.mute.textContent = t.muted ? tr('live.unmute') : tr('live.mute');
    t.mute.setAttribute('aria-pressed', String(t.muted));
    t.tile.classList.toggle('muted', t.muted);
    t.tile.classList.toggle('quiet', !t.muted && t.volume < 1);
  }

  /**
   * Deafened, nothing of the room is heard, its clips neither; each
   * person's own mute and volume stay as they were.
   * @param {boolean} on
   */
  deafen(on) {
    this.deafened = on;
    this.ctx.deafened(on);
    for (const t of this.tiles.values()) this.applyAudio(t);
    this.render(this.state);
  }

  /** @param {string} mode */
  setMode(mode) {
    this.mode = mode;
    save('parley.layout', mode);
    this.render(this.state);
    this.layout();
  }

  /** @param {Tile} t */
  prune(t) {
    if (t.stream?.getTracks().some((x) => x.readyState === 'live')) {
      this.label(t);
      this.layout();
      return;
    }
    if (t.screen || !this.expected().has(t.id)) {
      this.remove(t.id);
      return;
    }
    // Still here, sending nothing now: their tile stays.
    t.stream = null;
    t.el.srcObject = null;
    this.label(t);
    this.layout();
  }

  /** @param {string} id */
  remove(id) {
    const t = this.tiles.get(id);
    if (!t) return;
    if (document.fullscreenElement === t.tile) document.exitFullscreen().catch(() => {});
    t.el.srcObject = null;
    this.sizes.unobserve(t.el);
    this.seen.unobserve(t.tile);
    clearTimeout(t.sizeTimer);
    t.tile.remove();
    this.tiles.delete(id);
    this.showStats(t, false);
    this.layout();
  }

  /**
   * @param {HTMLElement} el a tile or its video
   * @returns {Tile|undefined}
   */
  tileOf(el) {
    const id = el.closest('.tile')?.getAttribute('data-id');
    return id ? this.tiles.get(id) : undefined;
  }

  /**
   * Tells the server how large the tile's video is shown, in device
   * pixels, and 0 by 0 when it is not seen (scrolled away, or the page
   * hidden), a moment after it settles.
   * @param {Tile|undefined} t
   */
  reportSize(t) {
    if (!t || !t.video) return;
    clearTimeout(t.sizeTimer);
    t.sizeTimer = window.setTimeout(() => {
      if (this.tiles.get(t.id) !== t || !t.video) return;
      const shown = t.visible && !document.hidden && t.el.isConnected;
      const dpr = window.devicePixelRatio || 1;
      const width = shown ? Math.round(t.el.clientWidth * dpr) : 0;
      const height = shown ? Math.round(t.el.clientHeight * dpr) : 0;
      const size = `${width}x${height}`;
      if (size === t.sentSize) return;
      t.sentSize = size;
      this.ctx.signal.send({ type: 'video-size', track: t.video, width, height });
    }, 250);
  }

  /**
   * The server paused (or resumed) a video for our downlink.
   * @param {string} track
   * @param {boolean} paused
   */
  onPaused(track, paused) {
    for (const t of this.tiles.values()) if (t.video === track) t.tile.classList.toggle('paused', paused);
  }

  /**
   * Opens or closes a tile's statistics overlay; while one is open, they
   * are read every two seconds.
   * @param {Tile} t
   * @param {boolean} show
   */
  showStats(t, show) {
    t.stats.hidden = !show;
    t.statsBtn.setAttribute('aria-pressed', String(show));
    t.last = null;
    const open = [...this.tiles.values()].filter((x) => !x.stats.hidden);
    if (open.length > 0 && !this.statsTimer) {
      this.statsTimer = window.setInterval(() => this.readStats(), 2000);
    } else if (open.length === 0 && this.statsTimer) {
      clearInterval(this.statsTimer);
      this.statsTimer = 0;
    }
    if (show) this.readStats();
  }

  /** Fills the open statistics overlays: what the browser receives, and what the server sends. */
  async readStats() {
    const open = [...this.tiles.values()].filter((x) => !x.stats.hidden);
    if (open.length === 0) return;
    /** @type {Msg|null} */
    let down = null;
    try {
      down = await this.ctx.signal.request({ type: 'downlink' });
    } catch {
      // the server's part is left out
    }
    for (const t of open) {
      /** @type {string[]} */
      const lines = [];
      const layer = down?.videos?.find((/** @type {Msg} */ v) => v.track === t.video);
      if (down && down.estimate > 0) lines.push(tr('stats.downlink', { rate: kbps(down.estimate) }));
      if (layer) {
        lines.push(
          layer.hidden ? tr('stats.layerNone') : layer.paused ? tr('stats.layerPaused') : tr('stats.layer', { n: layer.layer + 1, of: layer.layers }) + (layer.target !== layer.layer && layer.target >= 0 ? ` → ${layer.target + 1}` : ''),
        );
      }
      const r = t.receiver ? await t.receiver.getStats().catch(() => null) : null;
      r?.forEach((s) => {
        if (s.type !== 'inbound-rtp' || s.kind !== 'video') return;
        if (s.frameWidth) lines.push(tr('stats.picture', { size: `${s.frameWidth}×${s.frameHeight}`, fps: Math.round(s.framesPerSecond ?? 0) }));
        const now = s.timestamp;
        if (t.last && now > t.last.at) lines.push(tr('stats.receiving', { rate: kbps(((s.bytesReceived - t.last.bytes) * 8 * 1000) / (now - t.last.at)) }));
        t.last = { bytes: s.bytesReceived ?? 0, at: now };
        lines.push(tr('stats.lost', { lost: s.packetsLost ?? 0, n: (s.packetsReceived ?? 0) + (s.packetsLost ?? 0) }));
        if (s.freezeCount !== undefined) lines.push(tr('stats.freezes', { n: s.freezeCount, time: formatSeconds(s.totalFreezesDuration ?? 0) }));
      });
      if (lines.length === 0) lines.push(t.video ? tr('stats.none') : tr('stats.noVideo'));
      t.stats.replaceChildren(...lines.map((l) => h('div', {}, l)));
    }
  }

  clear() {
    for (const id of [...this.tiles.keys()]) this.remove(id);
    this.speaking.clear();
    this.lastSpeaker = '';
  }

  /** The people the stage shows: the other party of a call, or everyone else in a live room. */
  expected() {
    const call = this.ctx.call();
    if (call) return new Set([call.peer.id]);
    if (!this.ctx.live() || !this.ctx.inRoom()) return new Set();
    return new Set(this.ctx.peers().map((p) => p.id).filter((id) => id !== this.ctx.me.id));
  }

  /** Who is in the room (or the call) changed: a tile each, names as they are now. */
  refresh() {
    const want = this.expected();
    for (const t of [...this.tiles.values()]) {
      if (!want.has(t.owner) || !this.ctx.peer(t.owner)) this.remove(t.id);
      else this.label(t);
    }
    for (const id of want) this.tile(id);
    this.layout();
  }

  /**
   * @param {string} id
   * @param {boolean} on
   */
  onSpeaking(id, on) {
    if (!id) return;
    if (on) this.speaking.add(id);
    else this.speaking.delete(id);
    if (on && id !== this.ctx.me.id && this.tiles.has(id)) this.lastSpeaker = id;
    for (const t of this.tiles.values()) if (t.owner === id && !t.screen) t.tile.classList.toggle('speaking', on);
    if (id === this.ctx.me.id) this.self.classList.toggle('speaking', on);
    this.layout();
  }

  /** What is shown large: a shared screen, else the last speaker (speaker layout, two tiles or more). */
  spotlight() {
    const tiles = [...this.tiles.values()];
    if (this.mode === 'grid' || tiles.length < 2) return null;
    return tiles.find((t) => t.screen) ?? this.tiles.get(this.lastSpeaker) ?? null;
  }

  /**
   * Sizes the tiles to fill the stage: in a grid, the number of columns
   * that makes them largest for the stage's shape; with a spotlight, the
   * one large and the others in a row below it.
   */
  layout() {
    const n = this.tiles.size;
    this.empty.hidden = n > 0;
    const spot = this.spotlight();
    this.box.classList.toggle('spotlight', !!spot);
    this.box.classList.toggle('grid', !spot);
    for (const t of this.tiles.values()) t.tile.classList.toggle('spot', t === spot);
    if (spot || n === 0) return;
    const W = this.box.clientWidth;
    const H = this.box.clientHeight;
    let best = { cols: 1, w: 0 };
    for (let cols = 1; cols <= n; cols++) {
      const rows = Math.ceil(n / cols);
      const w = Math.min((W - GAP * (cols - 1)) / cols, ((H - GAP * (rows - 1)) / rows) * ASPECT);
      if (w > best.w + 0.5) best = { cols, w };
    }
    this.box.style.setProperty('--cols', String(best.cols));
    this.box.style.setProperty('--tile-w', `${Math.max(0, Math.floor(best.w))}px`);
  }

  /** @param {Tile} t */
  fullscreen(t) {
    if (document.fullscreenElement === t.tile) {
      document.exitFullscreen().catch(() => {});
      return;
    }
    t.tile.requestFullscreen?.().catch((e) => this.ctx.notify(tr('live.noFullscreen', { why: e.message })));
  }

  fullscreenChanged() {
    for (const t of this.tiles.values()) {
      const on = document.fullscreenElement === t.tile;
      const b = /** @type {HTMLButtonElement} */ (t.tile.querySelector('.full'));
      b.replaceChildren(icon(on ? 'fullscreen-exit' : 'fullscreen'));
      b.setAttribute('aria-label', on ? tr('live.leaveFullscreen') : tr('clip.fullscreen'));
    }
  }

  /**
   * Your own camera, small in the stage's corner (mirrored, as a mirror
   * shows you), or nothing.
   * @param {MediaStreamTrack|null} camera
   * @param {MediaStreamTrack|null} screen the screen you share
   */
  setSelf(camera, screen) {
    const track = camera ?? screen;
    this.self.hidden = !track;
    this.self.classList.toggle('mirror', !!camera);
    this.selfNote.textContent = camera ? tr('live.you') : tr('live.yourScreen');
    if (!track) {
      this.selfVideo.srcObject = null;
      return;
    }
    const cur = this.selfVideo.srcObject;
    if (!(cur instanceof MediaStream) || cur.getVideoTracks()[0] !== track) this.selfVideo.srcObject = new MediaStream([track]);
    this.selfVideo.play().catch(() => {});
  }

  /**
   * Shows the controls as things are.
   * @param {StageState} s
   */
  render(s) {
    this.state = s;
    /** @type {(k: string, ico: string, text: string, cls: string) => void} */
    const set = (k, ico, text, cls) => {
      const b = this.btn[k];
      b.replaceChildren(icon(ico), h('span', {}, text));
      b.classList.toggle('off', cls === 'off');
      b.classList.toggle('active', cls === 'active');
    };
    set('mic', s.micOpen ? 'mic' : 'mic-off', s.micOpen ? tr('live.micMute') : tr('live.micUnmute'), s.micOpen ? '' : 'off');
    set('camera', s.camera ? 'camera' : 'camera-off', s.camera ? tr('live.stopCamera') : tr('live.startCamera'), s.camera ? '' : 'off');
    set('screen', 'screen', s.screen ? tr('live.stopSharing') : tr('live.share'), s.screen ? 'active' : '');
    set('deafen', this.deafened ? 'headset-off' : 'headset', this.deafened ? tr('live.undeafen') : tr('live.deafen'), this.deafened ? 'off' : '');
    set('layout', this.mode === 'grid' ? 'spotlight' : 'grid', this.mode === 'grid' ? tr('live.speakerView') : tr('live.gridView'), '');
    set('hangup', 'hangup', tr('call.hangup'), '');
    this.btn.camera.hidden = !s.allowVideo;
    this.btn.screen.hidden = !s.allowVideo || !navigator.mediaDevices?.getDisplayMedia;
    this.btn.hangup.hidden = !s.inCall;
    // Faces in a row need no layout.
    this.btn.layout.hidden = !s.allowVideo;
    this.btn.mic.title = s.inCall || s.micOpen ? '' : tr('live.handsFree');
  }
}
