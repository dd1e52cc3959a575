// @ts-check
// Camera stations. A browser left in a clip room that records video can
// become a station: its camera stays on, the page compares downscaled
// frames a few times a second, and motion records a clip (the same
// server-side recording as push-to-talk, marked as motion-triggered);
// stillness ends it, and a maximum length splits a long event into
// several clips. The station's owner (the same owner key, on another
// device) and the room's operators see it and control it from their own
// client: camera, motion detection, settings, a snapshot clip. The server
// checks who may; the station obeys only the roles the server names, and
// shows who controls it. Station mode and its settings are remembered per
// room, so that a station comes back by itself after a reload or a server
// restart; it re-opens a camera that failed, and keeps the screen awake.

import { h, byId, load, save } from './dom.js';
import { t, onLanguage, timeOfDay, serverText, number } from './i18n.js';

/** @typedef {import('./signal.js').Msg} Msg */
/**
 * @typedef {{sensitivity: number, min_area: number, stillness: number, max_seconds: number, warmup: number}} Settings
 * @typedef {{active: boolean, camera: boolean, motion: boolean, recording: boolean, settings?: Settings}} State
 * @typedef {{id: string, name: string} & State} Remote a station this client controls
 */

/** The settings' bounds and defaults (the server checks the same bounds). */
export const SETTINGS = /** @type {const} */ ({
  sensitivity: { min: 1, max: 100, step: 1, def: 70 },
  min_area: { min: 0.01, max: 50, step: 0.01, def: 0.5 },
  stillness: { min: 1, max: 600, step: 1, def: 10 },
  max_seconds: { min: 3, max: 3600, step: 1, def: 60 },
  warmup: { min: 0, max: 60, step: 1, def: 3 },
});

/** The frame compared: small, grey. */
const W = 64;
const H = 48;
/** How often a frame is compared. */
const TICK_MS = 250;
/** A snapshot clip's length. */
const SNAPSHOT_MS = 3000;
/** The longest wait between two tries to re-open a failed camera. */
const RETRY_MAX_MS = 60_000;

/** @returns {Settings} */
export function defaults() {
  return { sensitivity: SETTINGS.sensitivity.def, min_area: SETTINGS.min_area.def, stillness: SETTINGS.stillness.def, max_seconds: SETTINGS.max_seconds.def, warmup: SETTINGS.warmup.def };
}

/**
 * Settings in bounds: each value a number within its bounds, else its
 * default.
 * @param {any} s
 * @returns {Settings}
 */
export function clampSettings(s) {
  const out = defaults();
  for (const [k, b] of Object.entries(SETTINGS)) {
    const v = Number(s?.[k]);
    if (Number.isFinite(v)) /** @type {any} */ (out)[k] = Math.min(b.max, Math.max(b.min, k === 'min_area' ? v : Math.round(v)));
  }
  return out;
}

/**
 * The percentage of pixels that changed between two grey frames: a pixel
 * changed when it moved by more than 101 - sensitivity grey levels.
 * @param {Uint8Array} a
 * @param {Uint8Array} b
 * @param {number} sensitivity
 */
export function changed(a, b, sensitivity) {
  const threshold = 101 - sensitivity;
  let n = 0;
  for (let i = 0; i < a.length; i++) if (Math.abs(a[i] - b[i]) > threshold) n++;
  return (100 * n) / a.length;
}

/** Whether a room may have stations: it records video clips and publishes them at once. */
export function stationRoom(/** @type {any} */ room) {
  return !!room && !room.live && !!room.allow_video && room.publish !== 'manual';
}

export class Station {
  /**
   * @param {import('./app.js').Ctx} ctx
   * @param {{videoChanged: () => void}} hooks
   */
  constructor(ctx, hooks) {
    this.ctx = ctx;
    this.hooks = hooks;
    /** this device is a station */
    this.active = false;
    this.camera = true;
    this.motion = true;
    /** @type {Settings} */
    this.settings = defaults();
    /** @type {''|'motion'|'snapshot'} what the recording now is, '' none */
    this.recording = '';
    /** record-start sent, unanswered */
    this.starting = false;
    /** record-stop sent, unanswered */
    this.stopping = false;
    this.recStart = 0;
    this.lastMotion = 0;
    this.level = 0;
    /** @type {{name: string, role: string, at: Date}|null} who last controlled it */
    this.controller = null;
    /** @type {MediaStreamTrack|null} the camera frames are taken from */
    this.track = null;
    this.warmUntil = 0;
    /** @type {Uint8Array|null} */
    this.prev = null;
    this.timer = 0;
    this.snapTimer = 0;
    this.retryTimer = 0;
    this.retryMs = 1000;
    /** @type {WakeLockSentinel|null} */
    this.wake = null;
    /** @type {Map<string, Remote>} stations this client controls, by id */
    this.remotes = new Map();
    /** reqs of the commands sent, whose errors are ours to show */
    this.sent = new Set();
    this.roomName = '';
    /** the last thing to tell, under the panel */
    this.status = '';
    /** @type {HTMLElement|null} the station's live state line */
    this.stateEl = null;
    /** since when the camera is missing though wanted (0: it is not) */
    this.missingSince = 0;

    this.canvas = h('canvas', { width: W, height: H });
    this.c2d = /** @type {CanvasRenderingContext2D} */ (this.canvas.getContext('2d', { willReadFrequently: true }));
    this.view = h('video', { className: 'station-view', muted: true, playsInline: true, autoplay: true });
    this.panel = h('section', { id: 'station', className: 'panel station', 'aria-labelledby': 'station-h', hidden: true });
    byId('recorder').before(this.panel);
    this.toggle = h('button', { id: 'station-toggle', type: 'button', onclick: () => (this.active ? this.stop() : this.begin()) });
    byId('more-recorder').append(this.toggle);

    ctx.signal.on('station-command', (m) => this.onCommand(m));
    ctx.signal.on('station-state', (m) => this.onRemote(m));
    ctx.signal.on('participant-left', (m) => {
      if (this.remotes.delete(m.participant?.id)) this.render();
    });
    ctx.signal.on('record-stopped', (m) => this.onStopped(m));
    ctx.signal.on('error', (m) => {
      if (typeof m.req === 'number' && this.sent.delete(m.req)) this.say(t('station.refused', { why: serverText(m) }));
    });
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden && this.active) this.keepAwake();
    });
    onLanguage(() => this.render());
  }

  /** The storage key of this room's station mode and settings. */
  key() {
    return `parley.station.${this.roomName}`;
  }

  remember() {
    save(this.key(), { on: this.active, camera: this.camera, motion: this.motion, settings: this.settings });
  }

  /**
   * A join (the first, or after a reconnect): a station of this room
   * before comes back as one, with its settings. Called before the
   * devices are opened and the media published.
   * @param {any} room
   */
  joined(room) {
    // The server tells a joiner of the stations it controls: those it
    // knew are gone with the old session.
    this.remotes.clear();
    if (this.roomName !== room.name) this.controller = null;
    this.roomName = room.name;
    this.resetRecording();
    const saved = load(this.key(), /** @type {any} */ (null));
    this.toggle.hidden = !stationRoom(room);
    if (!stationRoom(room)) {
      this.end();
    } else if (saved?.on) {
      this.camera = saved.camera !== false;
      this.motion = saved.motion !== false;
      this.settings = clampSettings(saved.settings);
      this.active = true;
    }
    this.render();
    if (this.active) this.started();
  }

  /** Whether the camera should be on for the station (see app.js effectiveVideo). */
  wantsCamera() {
    return this.active && this.camera;
  }

  /** The person made this device a station. */
  begin() {
    if (!stationRoom(this.ctx.room)) return;
    const saved = load(this.key(), /** @type {any} */ (null));
    this.settings = clampSettings(saved?.settings);
    this.camera = true;
    this.motion = true;
    this.active = true;
    this.controller = null;
    this.remember();
    this.hooks.videoChanged();
    this.started();
    this.render();
  }

  /** Station mode is on: tell the server, watch the camera. */
  started() {
    this.warmUntil = performance.now() + this.settings.warmup * 1000;
    this.prev = null;
    this.sendState();
    this.keepAwake();
    clearInterval(this.timer);
    this.timer = window.setInterval(() => this.tick(), TICK_MS);
  }

  /** The person ended station mode here. */
  stop() {
    this.end();
    this.remember();
    this.hooks.videoChanged();
    this.render();
  }

  end() {
    if (!this.active) return;
    this.active = false;
    if (this.recording) this.stopRecording();
    clearInterval(this.timer);
    clearTimeout(this.retryTimer);
    this.timer = this.retryTimer = 0;
    this.view.srcObject = null;
    this.track = null;
    this.wake?.release().catch(() => {});
    this.wake = null;
    this.sendState();
  }

  /** The room was left. */
  leave() {
    this.end();
    this.remotes.clear();
    this.roomName = '';
    this.panel.hidden = true;
  }

  /** The connection dropped: a recording ended with it. */
  resetRecording() {
    // What it sent for the recording stops with it.
    if (this.recording || this.starting || this.stopping) this.ctx.talkChanged(false);
    this.recording = '';
    this.starting = this.stopping = false;
    clearTimeout(this.snapTimer);
  }

  async keepAwake() {
    if (!('wakeLock' in navigator) || this.wake) return;
    try {
      this.wake = await navigator.wakeLock.request('screen');
      this.wake.addEventListener('release', () => (this.wake = null));
    } catch {
      // Not allowed now (a hidden page): tried again when it shows.
    }
  }

  sendState() {
    if (!this.ctx.connected()) return;
    /** @type {State} */
    const st = { active: this.active, camera: this.camera, motion: this.motion, recording: !!this.recording };
    if (this.active) st.settings = this.settings;
    this.ctx.signal.send({ type: 'station', station: st });
  }

  /**
   * A command from a controller, as the server forwards it. Only the
   * roles the server names are obeyed.
   * @param {Msg} m
   */
  onCommand(m) {
    const by = m.by;
    if (!this.active || !by || (by.role !== 'owner' && by.role !== 'operator')) return;
    this.controller = { name: String(by.name ?? ''), role: by.role, at: new Date() };
    switch (m.command) {
      case 'camera-on':
      case 'camera-off':
        this.setCamera(m.command === 'camera-on');
        break;
      case 'motion-on':
      case 'motion-off':
        this.setMotion(m.command === 'motion-on');
        break;
      case 'settings':
        this.setSettings(m.settings);
        break;
      case 'snapshot':
        this.snapshot();
        break;
    }
    this.render();
  }

  /** @param {boolean} on */
  setCamera(on) {
    if (on === this.camera) return;
    this.camera = on;
    if (!on && this.recording) this.stopRecording();
    this.remember();
    this.hooks.videoChanged();
    this.sendState();
  }

  /** @param {boolean} on */
  setMotion(on) {
    if (on === this.motion) return;
    this.motion = on;
    if (!on && this.recording === 'motion') this.stopRecording();
    this.prev = null;
    this.warmUntil = performance.now() + this.settings.warmup * 1000;
    this.remember();
    this.sendState();
  }

  /** @param {any} s */
  setSettings(s) {
    this.settings = clampSettings(s);
    this.remember();
    this.sendState();
  }

  /**
   * Compares the camera's frame with the previous one; motion records,
   * stillness and the maximum length stop.
   */
  tick() {
    const cam = this.ctx.media.camera;
    this.watchCamera(cam);
    const now = performance.now();
    let motion = false;
    if (cam && cam.readyState === 'live' && this.view.readyState >= 2) {
      this.c2d.drawImage(this.view, 0, 0, W, H);
      const px = this.c2d.getImageData(0, 0, W, H).data;
      const grey = new Uint8Array(W * H);
      for (let i = 0; i < grey.length; i++) grey[i] = (px[4 * i] * 77 + px[4 * i + 1] * 150 + px[4 * i + 2] * 29) >> 8;
      if (this.prev) {
        this.level = changed(this.prev, grey, this.settings.sensitivity);
        motion = this.motion && now >= this.warmUntil && this.level > this.settings.min_area;
      }
      this.prev = grey;
    }
    if (motion) this.lastMotion = now;
    if (this.recording === 'motion' && !this.stopping) {
      const max = Math.min(this.settings.max_seconds, this.ctx.room?.max_clip_seconds || Infinity) * 1000;
      if (now - this.lastMotion > this.settings.stillness * 1000) this.stopRecording();
      // A long event goes on in the next clip, which the next motion starts.
      else if (now - this.recStart >= max - 500) this.stopRecording();
    } else if (motion && !this.recording && this.camera) {
      this.startRecording('motion');
    }
    this.renderLive();
  }

  /**
   * Follows the camera track: a new one is shown and warms up; one that
   * ended (unplugged, taken by another program) is opened again, later
   * and later.
   * @param {MediaStreamTrack|null} cam
   */
  watchCamera(cam) {
    if (cam !== this.track) {
      this.track = cam;
      this.view.srcObject = cam ? new MediaStream([cam]) : null;
      if (cam) {
        this.view.play().catch(() => {});
        this.prev = null;
        this.warmUntil = performance.now() + this.settings.warmup * 1000;
        cam.addEventListener('ended', () => this.cameraFailed());
      }
    }
    // A camera wanted and missing for a while (it could not be opened):
    // tried again, as one that ended.
    const missing = this.camera && this.ctx.connected() && cam?.readyState !== 'live';
    if (!missing) this.missingSince = 0;
    else if (!this.missingSince) this.missingSince = performance.now();
    else if (performance.now() - this.missingSince > 3000) this.cameraFailed();
  }

  cameraFailed() {
    if (!this.active || !this.camera || this.retryTimer) return;
    if (this.recording) this.stopRecording();
    this.say(t('station.cameraRetry', { s: Math.round(this.retryMs / 1000) }));
    this.retryTimer = window.setTimeout(async () => {
      this.retryTimer = 0;
      try {
        this.ctx.media.closeCamera();
        await this.ctx.media.openCamera();
        this.hooks.videoChanged();
        this.retryMs = 1000;
        this.missingSince = 0;
        this.say('');
      } catch {
        this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
        this.cameraFailed();
      }
    }, this.retryMs);
  }

  /** @param {'motion'|'snapshot'} why */
  async startRecording(why) {
    if (this.recording || this.starting || !this.ctx.connected()) return;
    this.starting = true;
    this.recStart = performance.now();
    this.ctx.talkChanged(true);
    try {
      const m = await this.ctx.signal.request({ type: 'record-start', trigger: why });
      if (m.type !== 'recording') throw new Error(m.message ?? m.type);
      this.starting = false;
      if (!this.active) {
        this.stopRecording();
        return;
      }
      this.recording = why;
      this.recStart = performance.now();
      this.sendState();
      if (why === 'snapshot') this.snapTimer = window.setTimeout(() => this.recording === 'snapshot' && this.stopRecording(), SNAPSHOT_MS);
    } catch (e) {
      this.starting = false;
      this.ctx.talkChanged(false);
      this.say(t('station.recordFailed', { why: e instanceof Error ? e.message : String(e) }));
    }
    this.render();
  }

  async stopRecording() {
    clearTimeout(this.snapTimer);
    if (this.stopping) return;
    this.stopping = true;
    try {
      // Answered by record-stopped, or by an error (nothing arrived, or
      // a limit ended it first): either way it is over.
      await this.ctx.signal.ask({ type: 'record-stop' }, (r) => r.type === 'record-stopped');
    } catch {
      // The connection is gone, and the recording with it.
    }
    this.finishRecording();
  }

  /** record-stopped: ours, or one a limit of the room ended. */
  onStopped() {
    if (this.recording) this.finishRecording();
  }

  finishRecording() {
    if (!this.recording && !this.stopping) return;
    this.recording = '';
    this.stopping = false;
    this.ctx.talkChanged(false);
    this.sendState();
    this.render();
  }

  snapshot() {
    if (this.recording || !this.camera) return;
    this.startRecording('snapshot');
  }

  // Controllers.

  /** @param {Msg} m */
  onRemote(m) {
    if (!m.id) return;
    if (!m.active) this.remotes.delete(m.id);
    else this.remotes.set(m.id, /** @type {Remote} */ ({ id: m.id, name: m.name, active: true, camera: !!m.camera, motion: !!m.motion, recording: !!m.recording, settings: m.settings }));
    this.render();
  }

  /**
   * @param {string} to
   * @param {string} command
   * @param {Settings} [settings]
   */
  command(to, command, settings) {
    const req = this.ctx.signal.tagged(settings ? { type: 'station-command', to, command, settings } : { type: 'station-command', to, command });
    if (req) this.sent.add(req);
    else this.say(t('station.offline'));
  }

  /** @param {string} text */
  say(text) {
    this.status = text;
    this.render();
  }

  // The panel.

  render() {
    const room = this.ctx.room;
    this.toggle.textContent = this.active ? t('station.stop') : t('station.make');
    this.panel.hidden = !room || (!this.active && this.remotes.size === 0);
    if (this.panel.hidden) return;
    // What is open (a settings form) stays open; what is being typed in
    // one stays typed, with the focus (the panel is drawn again at each
    // recording's start and end, every few seconds for a busy camera).
    const open = new Set([...this.panel.querySelectorAll('details[open] form')].map((f) => f.id));
    const typed = [...this.panel.querySelectorAll('form.station-settings')].flatMap((f) => {
      const form = /** @type {HTMLFormElement} */ (f);
      const focus = form.contains(document.activeElement) ? /** @type {HTMLInputElement} */ (document.activeElement).name : '';
      return form.dataset.typed || focus ? [{ id: form.id, typed: !!form.dataset.typed, values: [...new FormData(form)], focus }] : [];
    });
    const parts = [h('h2', { id: 'station-h' }, this.active ? t('station.title') : t('station.remotes'))];
    if (this.active) parts.push(...this.renderSelf());
    for (const r of this.remotes.values()) parts.push(this.renderRemote(r));
    if (this.status) parts.push(h('p', { className: 'station-status', role: 'status' }, this.status));
    this.panel.replaceChildren(...parts);
    for (const id of open) document.getElementById(id)?.closest('details')?.setAttribute('open', '');
    for (const was of typed) {
      const form = /** @type {HTMLFormElement|null} */ (document.getElementById(was.id));
      if (!form) continue;
      if (was.typed) {
        form.dataset.typed = 'yes';
        for (const [k, v] of was.values) {
          const input = form.elements.namedItem(k);
          if (input instanceof HTMLInputElement) input.value = String(v);
        }
      }
      if (was.focus) /** @type {HTMLElement|null} */ (form.elements.namedItem(was.focus))?.focus();
    }
    // Moved in the page, the camera's view pauses: it plays on.
    if (this.active && this.camera) this.view.play().catch(() => {});
  }

  renderSelf() {
    const c = this.controller;
    const state = h('p', { className: 'station-state', id: 'station-state' });
    this.stateEl = state;
    this.fillState();
    return [
      h('div', { className: 'station-frame' }, this.camera ? this.view : h('p', { className: 'station-off' }, t('station.cameraOff'))),
      state,
      c
        ? h('p', { className: 'station-controlled', id: 'station-controlled', role: 'status' }, t(c.role === 'owner' ? 'station.byOwner' : 'station.byOperator', { name: c.name, time: timeOfDay(c.at) }))
        : null,
      h(
        'div',
        { className: 'station-actions' },
        h('button', { type: 'button', onclick: () => (this.setCamera(!this.camera), this.render()) }, this.camera ? t('station.cameraOffBtn') : t('station.cameraOnBtn')),
        h('button', { type: 'button', onclick: () => (this.setMotion(!this.motion), this.render()) }, this.motion ? t('station.motionOffBtn') : t('station.motionOnBtn')),
        h('button', { type: 'button', onclick: () => this.stop() }, t('station.stop')),
      ),
      this.settingsForm('station-own', this.settings, (s) => {
        this.setSettings(s);
        this.render();
      }),
    ].filter((x) => x !== null);
  }

  /** The live line of the station: camera, detection, recording, motion now. */
  fillState() {
    if (!this.stateEl) return;
    const warm = performance.now() < this.warmUntil;
    const bits = [
      this.camera ? t('station.cameraIsOn') : t('station.cameraIsOff'),
      this.motion ? (warm ? t('station.warming') : t('station.watching')) : t('station.motionIsOff'),
    ];
    if (this.recording) bits.push(this.recording === 'snapshot' ? t('station.snapshotting') : t('station.recordingNow'));
    if (this.camera && this.motion) bits.push(t('station.changed', { pct: number(this.level, { minimumFractionDigits: 1, maximumFractionDigits: 1 }) }));
    this.stateEl.textContent = bits.join(' · ');
    this.stateEl.classList.toggle('rec', !!this.recording);
    this.panel.dataset.recording = this.recording || 'no';
  }

  renderLive() {
    if (this.active && !this.panel.hidden) this.fillState();
  }

  /** @param {Remote} r */
  renderRemote(r) {
    const bits = [r.camera ? t('station.cameraIsOn') : t('station.cameraIsOff'), r.motion ? t('station.watching') : t('station.motionIsOff')];
    if (r.recording) bits.push(t('station.recordingNow'));
    return h(
      'div',
      { className: 'station-remote', 'data-station': r.name },
      h('h3', {}, r.name),
      h('p', { className: 'station-state' + (r.recording ? ' rec' : '') }, bits.join(' · ')),
      h(
        'div',
        { className: 'station-actions' },
        h('button', { type: 'button', onclick: () => this.command(r.id, r.camera ? 'camera-off' : 'camera-on') }, r.camera ? t('station.cameraOffBtn') : t('station.cameraOnBtn')),
        h('button', { type: 'button', onclick: () => this.command(r.id, r.motion ? 'motion-off' : 'motion-on') }, r.motion ? t('station.motionOffBtn') : t('station.motionOnBtn')),
        h('button', { type: 'button', onclick: () => this.command(r.id, 'snapshot') }, t('station.snapshot')),
      ),
      this.settingsForm(`station-${r.id}`, clampSettings(r.settings), (s) => this.command(r.id, 'settings', s)),
    );
  }

  /**
   * The settings, in a form of their own that applies them.
   * @param {string} id
   * @param {Settings} s
   * @param {(s: Settings) => void} apply
   */
  settingsForm(id, s, apply) {
    const fields = Object.entries(SETTINGS).map(([k, b]) =>
      h(
        'label',
        { className: 'station-field' },
        h('span', {}, t(`station.set.${k}`)),
        h('input', { type: 'number', name: k, min: String(b.min), max: String(b.max), step: String(b.step), value: String(/** @type {any} */ (s)[k]), required: true }),
      ),
    );
    const form = h(
      'form',
      {
        className: 'station-settings',
        id,
        // Typed in, not applied yet: kept when the panel is drawn again.
        oninput: (/** @type {Event} */ ev) => (/** @type {HTMLFormElement} */ (ev.currentTarget).dataset.typed = 'yes'),
        onsubmit: (/** @type {SubmitEvent} */ ev) => {
          ev.preventDefault();
          delete (/** @type {HTMLFormElement} */ (ev.target)).dataset.typed;
          const data = Object.fromEntries(new FormData(/** @type {HTMLFormElement} */ (ev.target)));
          apply(clampSettings(data));
        },
      },
      ...fields,
      h('button', { type: 'submit' }, t('station.apply')),
    );
    return h('details', { className: 'more station-more' }, h('summary', {}, t('station.settings')), form);
  }
}
