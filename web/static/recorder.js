// @ts-check
// The recorder panel: the RECORD button and SPACE as push-to-talk, the
// timer against the room's limit, the level meter, audio/video choice with
// a camera preview, the description, and the draft controls of forum rooms.

import { h, byId, formatSeconds, formatBytes, formatLifetime, load, save } from './dom.js';
import { VIDEO_PRESETS } from './media.js';

/** @typedef {import('./signal.js').Msg} Msg */
/** @typedef {'idle'|'starting'|'talking'|'stopping'} TalkState */

/** How long the microphone stays open after release, so the last word arrives. */
const TAIL_MS = 200;

export class Recorder {
  /** @param {import('./app.js').Ctx} ctx */
  constructor(ctx) {
    this.ctx = ctx;
    /** @type {TalkState} */
    this.state = 'idle';
    this.started = 0;
    this.maxSeconds = 0;
    /** @type {Msg|null} the latest draft (forum rooms) */
    this.draft = null;
    this.spaceDown = false;
    /** the recorder's usual hint, for the room's mode */
    this.hintText = '';
    this.button = /** @type {HTMLButtonElement} */ (byId('record'));
    this.timer = byId('timer');
    this.levelBar = byId('level');
    this.hint = byId('record-hint');
    this.description = /** @type {HTMLInputElement} */ (byId('description'));
    this.preview = /** @type {HTMLVideoElement} */ (byId('preview'));
    this.kindRow = /** @type {HTMLFieldSetElement} */ (byId('kind-row'));
    this.presetSel = /** @type {HTMLSelectElement} */ (byId('preset'));
    this.pausePlayer = /** @type {HTMLInputElement} */ (byId('pause-player'));
    this.draftBox = byId('draft');
    this.draftText = byId('draft-text');
    this.draftClip = byId('draft-clip');
    this.limits = byId('limits');

    this.presetSel.replaceChildren(...VIDEO_PRESETS.map((p, i) => h('option', { value: String(i) }, p.label)));
    this.presetSel.value = String(load('parley.preset', 0));
    ctx.media.preset = VIDEO_PRESETS[Number(this.presetSel.value)] ?? VIDEO_PRESETS[0];
    this.presetSel.addEventListener('change', () => {
      save('parley.preset', Number(this.presetSel.value));
      ctx.media.setPreset(VIDEO_PRESETS[Number(this.presetSel.value)] ?? VIDEO_PRESETS[0]).catch((e) => ctx.notify(e.message));
    });
    this.pausePlayer.checked = load('parley.pausePlayer', true);
    this.pausePlayer.addEventListener('change', () => save('parley.pausePlayer', this.pausePlayer.checked));
    for (const r of this.kindRow.querySelectorAll('input')) {
      r.addEventListener('change', () => this.kindChanged());
    }

    // The button toggles; SPACE is held.
    this.button.addEventListener('click', () => (this.state === 'idle' ? this.press() : this.release()));
    window.addEventListener('keydown', (ev) => this.onKey(ev, true));
    window.addEventListener('keyup', (ev) => this.onKey(ev, false));
    // A key released while the window had no focus never sends keyup.
    window.addEventListener('blur', () => {
      if (this.spaceDown) {
        this.spaceDown = false;
        this.release();
      }
    });
    document.addEventListener('visibilitychange', () => {
      if (document.hidden && this.spaceDown) {
        this.spaceDown = false;
        this.release();
      }
    });

    byId('draft-publish').addEventListener('click', () => this.draftAction('clip-publish'));
    byId('draft-discard').addEventListener('click', () => this.draftAction('clip-delete'));

    ctx.signal.on('record-stopped', (m) => this.onStopped(m));
    ctx.signal.on('clip-added', (m) => {
      if (m.clip?.state === 'draft' && m.clip.mine) this.showDraft(m.clip);
    });
    ctx.signal.on('clip-updated', (m) => {
      if (this.draft && m.clip?.id === this.draft.id) this.showDraft(null);
    });
    ctx.signal.on('clip-removed', (m) => {
      if (this.draft && m.id === this.draft.id) this.showDraft(null);
    });
    this.tick = this.tick.bind(this);
    requestAnimationFrame(this.tick);
  }

  /** The room changed (a join): set the controls up for its mode. */
  setup() {
    const room = this.ctx.room;
    const live = this.ctx.live();
    this.button.textContent = live ? 'Talk' : 'Record';
    this.hintText = live ? 'Hold SPACE (or press Talk) to talk to everyone.' : 'Hold SPACE to record, or press Record to start and stop.';
    this.hint.textContent = this.hintText;
    this.kindRow.hidden = !room.allow_video;
    const video = room.allow_video && load(`parley.video.${room.name}`, !!room.video_default);
    for (const r of this.kindRow.querySelectorAll('input')) r.checked = r.value === (video ? 'video' : 'audio');
    this.description.hidden = live;
    byId('description-label').hidden = live;
    const parts = [];
    if (!live || room.archive) {
      parts.push(`Clips up to ${room.max_clip_seconds} s and ${formatBytes(room.max_clip_bytes)}`);
      parts.push(`kept ${formatLifetime(room.clip_lifetime)}`);
    }
    if (live) parts.push(room.archive ? 'talk is archived as clips' : 'talk is not recorded');
    if (room.publish === 'manual') parts.push('you publish each clip after a preview');
    this.limits.textContent = parts.join(' · ');
    this.showDraft(null);
  }

  /** Whether video is chosen (and allowed). */
  video() {
    if (!this.ctx.room.allow_video) return false;
    const r = /** @type {HTMLInputElement|null} */ (this.kindRow.querySelector('input:checked'));
    return r?.value === 'video';
  }

  async kindChanged() {
    const video = this.video();
    save(`parley.video.${this.ctx.room.name}`, video);
    await this.ctx.videoChanged(video);
    this.showPreview();
  }

  showPreview() {
    const cam = this.video() ? this.ctx.media.camera : null;
    this.preview.hidden = !cam;
    if (cam) {
      if (!(this.preview.srcObject instanceof MediaStream) || this.preview.srcObject.getVideoTracks()[0] !== cam) this.preview.srcObject = new MediaStream([cam]);
      this.preview.play().catch(() => {});
    } else {
      this.preview.srcObject = null;
    }
  }

  /**
   * @param {KeyboardEvent} ev
   * @param {boolean} down
   */
  onKey(ev, down) {
    if (ev.code !== 'Space' && ev.key !== ' ') return;
    if (ev.ctrlKey || ev.altKey || ev.metaKey) return;
    const t = /** @type {HTMLElement|null} */ (ev.target);
    if (t && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName))) return;
    if (this.ctx.room === null || !this.ctx.inRoom()) return;
    // SPACE would also press the focused button or scroll the page.
    ev.preventDefault();
    if (down) {
      // Auto-repeat sends keydown again and again while held.
      if (ev.repeat || this.spaceDown) return;
      this.spaceDown = true;
      if (this.state === 'idle') this.press();
    } else {
      if (!this.spaceDown) return;
      this.spaceDown = false;
      this.release();
    }
  }

  async press() {
    if (this.state !== 'idle') return;
    if (!this.ctx.connected()) {
      this.ctx.notify('Not connected: cannot talk now.');
      return;
    }
    if (!this.ctx.media.mic) {
      this.ctx.notify('The microphone is not open. Press Retry to try again.', () => this.ctx.openDevices());
      return;
    }
    this.ctx.media.resumeAudio();
    this.hint.textContent = this.hintText;
    this.setState('starting');
    if (this.pausePlayer.checked) this.ctx.pausePlayer();
    this.started = performance.now();
    this.ctx.talkChanged(true);
    if (this.ctx.live()) {
      this.maxSeconds = 0;
      this.setState('talking');
      return;
    }
    try {
      const m = await this.ctx.signal.request({ type: 'record-start', description: this.description.value.trim() });
      if (m.type === 'error') throw new Error(m.message);
      // Cancelled before it started: record-stopped, handled by onStopped.
      if (m.type !== 'recording') return;
      this.maxSeconds = m.max_seconds ?? 0;
      this.started = performance.now();
      if (this.state === 'starting') this.setState('talking');
      else if (this.state === 'stopping') this.sendStop();
    } catch (e) {
      this.ctx.talkChanged(false);
      this.setState('idle');
      this.ctx.notify(`Cannot record: ${e instanceof Error ? e.message : e}`);
    }
  }

  release() {
    if (this.state === 'idle' || this.state === 'stopping') return;
    const wasStarting = this.state === 'starting';
    this.setState('stopping');
    if (this.ctx.live()) {
      window.setTimeout(() => {
        this.ctx.talkChanged(false);
        this.setState('idle');
      }, TAIL_MS);
      return;
    }
    // A release before record-start was answered stops once it is.
    if (!wasStarting) window.setTimeout(() => this.sendStop(), TAIL_MS);
  }

  async sendStop() {
    try {
      const m = await this.ctx.signal.ask({ type: 'record-stop' }, (r) => r.type === 'record-stopped');
      // not-recording: a limit or a failure ended it first, and said so.
      if (m.type === 'error' && m.code !== 'not-recording') {
        this.ctx.notify(m.code === 'empty-clip' ? 'Nothing was recorded: the microphone sent no sound in time. Hold a little longer.' : `Recording failed: ${m.message}`);
      }
    } catch (e) {
      this.ctx.notify(`Recording stopped: ${e instanceof Error ? e.message : e}`);
    }
    this.finish();
  }

  /** @param {Msg} m */
  onStopped(m) {
    if (m.reason === 'max-seconds') this.ctx.notify(`Recording stopped at the room's limit of ${this.maxSeconds} s.`);
    if (m.reason === 'max-bytes') this.ctx.notify(`Recording stopped at the room's size limit.`);
    if (m.reason === 'stopped' && m.clip) this.description.value = '';
    // Too short to keep: a hint on how to record, not an error. Cancelled:
    // the user took it back, nothing to say.
    if (m.reason === 'too-short') {
      const s = (m.min_ms ?? this.ctx.room?.min_clip_ms ?? 0) / 1000;
      this.hint.textContent = `Hold to record: a clip must last at least ${s} s.`;
    }
    this.finish();
  }

  finish() {
    if (this.state === 'idle') return;
    this.spaceDown = false;
    this.ctx.talkChanged(false);
    this.setState('idle');
  }

  /** The connection dropped: whatever was being recorded ended with it. */
  reset() {
    this.finish();
  }

  /** @param {TalkState} s */
  setState(s) {
    this.state = s;
    const on = s !== 'idle';
    this.button.classList.toggle('on', on);
    this.button.setAttribute('aria-pressed', String(on));
    const live = this.ctx.live();
    this.button.textContent = on ? (live ? 'Talking…' : 'Recording…') : live ? 'Talk' : 'Record';
    document.body.classList.toggle('talking', on);
  }

  tick() {
    if (this.state !== 'idle') {
      const s = (performance.now() - this.started) / 1000;
      this.timer.textContent = this.maxSeconds ? `${formatSeconds(s)} / ${this.maxSeconds} s` : formatSeconds(s);
    } else if (!this.ctx.live() && this.ctx.room) {
      this.timer.textContent = `0.0 s / ${this.ctx.room.max_clip_seconds} s`;
    } else {
      this.timer.textContent = '';
    }
    const lvl = this.ctx.media.level();
    this.levelBar.style.width = `${Math.round(lvl * 100)}%`;
    this.levelBar.classList.toggle('hot', lvl > 0.9);
    requestAnimationFrame(this.tick);
  }

  /** @param {any} clip */
  showDraft(clip) {
    this.draft = clip;
    this.draftBox.hidden = !clip;
    // The draft's bubble (the player's) shows here until it is published.
    if (clip) this.draftClip.replaceChildren(this.ctx.clipNode(clip));
    else this.draftClip.replaceChildren();
    if (clip) this.draftText.textContent = 'Your draft is only visible to you. Listen to it, then publish or discard it.';
  }

  /** @param {'clip-publish'|'clip-delete'} type */
  async draftAction(type) {
    const d = this.draft;
    if (!d) return;
    try {
      const m = await this.ctx.signal.ask({ type, id: d.id }, (r) => (r.type === 'clip-updated' && r.clip?.id === d.id) || (r.type === 'clip-removed' && r.id === d.id));
      if (m.type === 'error') throw new Error(m.message);
      this.showDraft(null);
    } catch (e) {
      this.ctx.notify(`${type === 'clip-publish' ? 'Publishing' : 'Discarding'} failed: ${e instanceof Error ? e.message : e}`);
    }
  }
}
