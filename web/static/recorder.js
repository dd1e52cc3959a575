// @ts-check
// The recorder panel, recording as a voice note is recorded in a messaging
// app: hold the record button (or SPACE) and let go to send; slide away
// from it (or press Esc) to cancel, and nothing is kept; slide up (or press
// the lock) to record hands-free, then Send or Cancel. A press shorter
// than the room's minimum sends nothing and says how to record. In live
// rooms the same gestures talk to everyone, with nothing to cancel: it is
// heard as it is said. Also: the timer against the room's limit, the level
// meter, audio/video choice with a camera preview, the description, and
// the draft controls of forum rooms.

import { h, byId, icon, formatSeconds, formatBytes, formatLifetime, load, save } from './dom.js';
import { VIDEO_PRESETS } from './media.js';
import { usesTouch, onInputChange } from './input.js';
import { t, number, onLanguage, serverText } from './i18n.js';

/** @typedef {import('./signal.js').Msg} Msg */

/**
 * A video preset as the list shows it: its size, frame rate and bit rate.
 * @param {{width?: number, height?: number, fps?: number, kbps?: number}} p
 */
function presetLabel(p) {
  if (!p.width) return t('rec.presetAuto');
  const rate = t('unit.mbps', { n: number((p.kbps ?? 0) / 1000, { maximumFractionDigits: 1 }) });
  return t('rec.presetLabel', { size: `${p.width}×${p.height}`, fps: p.fps ?? 0, rate });
}
/** @typedef {'idle'|'starting'|'talking'|'stopping'} TalkState */
/**
 * What holds a recording: the pointer on the button, SPACE, or nothing
 * (locked: it goes on until Send or Cancel).
 * @typedef {'pointer'|'space'|'locked'} Hold
 */

/** How long the microphone stays open after release, so the last word arrives. */
const TAIL_MS = 200;
/**
 * How long a press is held before record-start is sent (at most the
 * room's minimum): a tap is over before, and the server hears nothing.
 */
const ARM_MS = 150;
/** The shortest clip, when the room does not say. */
const MIN_CLIP_MS = 500;
/** How far the pointer slides, sideways or down, to cancel (px). */
const CANCEL_PX = 90;
/** How far the pointer slides up to lock (px). */
const LOCK_PX = 64;
/** How long "Sent" and "Cancelled" stay. */
const SAID_MS = 4000;

/**
 * Whether SPACE on this element does something of its own (presses a
 * button, ticks a box, types), so that it must not record.
 * @param {EventTarget|null} t
 */
function spaceActivates(t) {
  if (!(t instanceof Element)) return false;
  if (t instanceof HTMLElement && t.isContentEditable) return true;
  return !!t.closest('button, a[href], input, textarea, select, summary, [contenteditable], audio[controls], video[controls], [role="button"], [role="link"], [role="checkbox"], [role="switch"], [role="radio"], [role="slider"], [role="menuitem"], [role="option"], [role="tab"]');
}

export class Recorder {
  /** @param {import('./app.js').Ctx} ctx */
  constructor(ctx) {
    this.ctx = ctx;
    /** @type {TalkState} */
    this.state = 'idle';
    /** @type {Hold|null} */
    this.hold = null;
    /** when the press began (for the minimum and the timer) */
    this.pressed = 0;
    this.maxSeconds = 0;
    /** record-start was sent for this press */
    this.sent = false;
    /** the server answered it: recording */
    this.recording = false;
    /** a release while record-start is unanswered: stop once it is */
    this.stopWhenStarted = false;
    this.armTimer = 0;
    this.saidTimer = 0;
    /** @type {{id: number, x: number, y: number, type: string}|null} the pointer holding the button */
    this.pointer = null;
    /** a press on the button while locked: its click sends */
    this.clickSends = false;
    /** @type {Msg|null} the latest draft (forum rooms) */
    this.draft = null;
    this.spaceDown = false;
    this.button = /** @type {HTMLButtonElement} */ (byId('record'));
    this.label = byId('record-label');
    /** the icon and the label, which follow a slide */
    this.face = byId('record-face');
    this.lockBtn = /** @type {HTMLButtonElement} */ (byId('record-lock'));
    this.cancelBtn = /** @type {HTMLButtonElement} */ (byId('record-cancel'));
    this.uploadBtn = /** @type {HTMLButtonElement} */ (byId('upload'));
    this.panel = byId('recorder');
    this.timer = byId('timer');
    this.levelBar = byId('level');
    this.hint = byId('record-hint');
    this.status = byId('record-status');
    this.description = /** @type {HTMLInputElement} */ (byId('description'));
    this.preview = /** @type {HTMLVideoElement} */ (byId('preview'));
    this.kindRow = /** @type {HTMLFieldSetElement} */ (byId('kind-row'));
    this.presetSel = /** @type {HTMLSelectElement} */ (byId('preset'));
    this.pausePlayer = /** @type {HTMLInputElement} */ (byId('pause-player'));
    this.draftBox = byId('draft');
    this.draftText = byId('draft-text');
    this.draftClip = byId('draft-clip');
    this.limits = byId('limits');
    this.icon = icon('mic');
    this.face.prepend(this.icon);
    this.lockBtn.append(icon('up'), icon('lock'));
    this.cancelBtn.append(icon('delete'), h('span', {}, t('rec.cancelShort')));
    this.uploadBtn.append(icon('upload'));
    // The hints speak of touch or of keys, as the person's input.
    onInputChange(() => this.render());
    onLanguage(() => {
      this.render();
      if (this.ctx.room) this.showLimits();
      if (this.draft) this.draftText.textContent = t('draft.only');
      const cancel = this.cancelBtn.querySelector('span');
      if (cancel) cancel.textContent = t('rec.cancelShort');
      for (const [i, o] of [...this.presetSel.options].entries()) o.text = presetLabel(VIDEO_PRESETS[i]);
    });

    this.presetSel.replaceChildren(...VIDEO_PRESETS.map((p, i) => h('option', { value: String(i) }, presetLabel(p))));
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

    this.listenPointer();
    // Enter toggles a hands-free recording (and sends it); a click that
    // comes from no pointer (a screen reader's) does the same. A click
    // after a press that held the button was that press.
    this.button.addEventListener('keydown', (ev) => {
      if (ev.key !== 'Enter' || ev.ctrlKey || ev.altKey || ev.metaKey) return;
      ev.preventDefault();
      if (!ev.repeat) this.toggle();
    });
    this.button.addEventListener('click', (ev) => {
      if (ev.detail === 0) this.toggle();
      else if (this.clickSends) this.end('stop');
      this.clickSends = false;
    });
    this.button.addEventListener('contextmenu', (ev) => ev.preventDefault());
    this.lockBtn.addEventListener('click', () => (this.state === 'idle' ? this.press('locked') : this.lock()));
    this.cancelBtn.addEventListener('click', () => this.end('cancel'));
    window.addEventListener('keydown', (ev) => this.onKey(ev, true));
    window.addEventListener('keyup', (ev) => this.onKey(ev, false));
    // A key released while the window had no focus never sends keyup.
    window.addEventListener('blur', () => this.spaceLost());
    document.addEventListener('visibilitychange', () => document.hidden && this.spaceLost());

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

  /**
   * Holding the button: a press records, letting go sends, a slide away
   * cancels and a slide up locks. The pointer is captured, so that the
   * slide is followed beyond the button.
   */
  listenPointer() {
    const b = this.button;
    b.addEventListener('pointerdown', (ev) => {
      if (ev.button !== 0 || this.pointer) return;
      this.clickSends = this.hold === 'locked';
      if (this.state !== 'idle') return;
      b.setPointerCapture(ev.pointerId);
      this.pointer = { id: ev.pointerId, x: ev.clientX, y: ev.clientY, type: ev.pointerType };
      this.press('pointer');
    });
    b.addEventListener('pointermove', (ev) => {
      const p = this.pointer;
      if (!p || ev.pointerId !== p.id) return;
      if (this.hold !== 'pointer') {
        this.slide(0, 0);
        return;
      }
      const dx = ev.clientX - p.x;
      const up = p.y - ev.clientY;
      if (up > LOCK_PX && Math.abs(dx) < CANCEL_PX) {
        this.pointer = null;
        this.lock();
      } else if (!this.ctx.live() && (Math.abs(dx) > CANCEL_PX || -up > CANCEL_PX)) {
        this.pointer = null;
        this.end('cancel');
      } else {
        this.slide(dx, up);
      }
    });
    /** @param {PointerEvent} ev */
    const up = (ev) => {
      const p = this.pointer;
      if (!p || ev.pointerId !== p.id) return;
      this.pointer = null;
      this.slide(0, 0);
      // A press taken over by the browser (a scroll, a call) is not sent.
      if (this.hold === 'pointer') this.end(ev.type === 'pointerup' || this.ctx.live() ? 'stop' : 'cancel');
    };
    b.addEventListener('pointerup', up);
    b.addEventListener('pointercancel', up);
    b.addEventListener('lostpointercapture', up);
  }

  /**
   * Follows a slide: the hint moves with the finger and fades toward
   * cancel; the lock lights toward locking.
   * @param {number} dx
   * @param {number} up
   */
  slide(dx, up) {
    const away = this.ctx.live() ? 0 : Math.min(1, Math.max(Math.abs(dx), -up, 0) / CANCEL_PX);
    this.face.style.transform = dx && !this.ctx.live() ? `translateX(${Math.max(-CANCEL_PX, Math.min(CANCEL_PX, dx))}px)` : '';
    this.face.style.opacity = away ? String(1 - away * 0.7) : '';
    this.lockBtn.classList.toggle('near', up > LOCK_PX / 2);
  }

  /** The room's shortest clip, in milliseconds. */
  minMs() {
    const m = this.ctx.room?.min_clip_ms;
    return typeof m === 'number' && m >= 0 ? m : MIN_CLIP_MS;
  }

  /** The room changed (a join): set the controls up for its mode. */
  setup() {
    const room = this.ctx.room;
    const live = this.ctx.live();
    // In live rooms the stage's camera button says whether video goes out.
    this.kindRow.hidden = !room.allow_video || live;
    const video = room.allow_video && load(`parley.video.${room.name}`, !!room.video_default);
    for (const r of this.kindRow.querySelectorAll('input')) r.checked = r.value === (video ? 'video' : 'audio');
    this.description.hidden = live;
    byId('description-label').hidden = live;
    this.uploadBtn.hidden = live && !room.archive;
    this.showLimits();
    this.say('');
    this.render();
    this.showDraft(null);
  }

  /** Whether video is chosen (and allowed). */
  video() {
    if (!this.ctx.room.allow_video || this.ctx.live()) return false;
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
    // In a call the stage shows you already.
    const cam = this.video() && !this.ctx.call() ? this.ctx.media.camera : null;
    this.preview.hidden = !cam;
    if (cam) {
      if (!(this.preview.srcObject instanceof MediaStream) || this.preview.srcObject.getVideoTracks()[0] !== cam) this.preview.srcObject = new MediaStream([cam]);
      this.preview.play().catch(() => {});
    } else {
      this.preview.srcObject = null;
    }
  }

  /**
   * SPACE held records, where SPACE has nothing else to do (on the record
   * button itself it holds it); Esc cancels.
   * @param {KeyboardEvent} ev
   * @param {boolean} down
   */
  onKey(ev, down) {
    if (this.ctx.room === null || !this.ctx.inRoom()) return;
    if (ev.key === 'Escape') {
      if (down && this.state !== 'idle' && this.state !== 'stopping' && (!this.ctx.live() || this.hold === 'locked')) {
        ev.preventDefault();
        // Esc here takes back the recording, and does nothing else (the
        // player would stop the clip that talking paused).
        ev.stopImmediatePropagation();
        this.end(this.ctx.live() ? 'stop' : 'cancel');
      }
      return;
    }
    if (ev.code !== 'Space' && ev.key !== ' ') return;
    if (ev.ctrlKey || ev.altKey || ev.metaKey) return;
    if (!this.spaceDown && ev.target !== this.button && spaceActivates(ev.target)) return;
    // SPACE would also press the focused button or scroll the page.
    ev.preventDefault();
    if (down) {
      // Auto-repeat sends keydown again and again while held.
      if (ev.repeat || this.spaceDown) return;
      this.spaceDown = true;
      if (this.state === 'idle') this.press('space');
    } else {
      if (!this.spaceDown) return;
      this.spaceDown = false;
      if (this.hold === 'space') this.end('stop');
    }
  }

  /** The window lost the keyboard while SPACE was held: as if let go. */
  spaceLost() {
    if (!this.spaceDown) return;
    this.spaceDown = false;
    if (this.hold === 'space') this.end('stop');
  }

  /** Enter, or a click from no pointer: start hands-free, or send. */
  toggle() {
    if (this.state === 'idle') this.press('locked');
    else if (this.hold === 'locked') this.end('stop');
    else this.lock();
  }

  /**
   * Starts recording (or talking, in live rooms), held as hold says.
   * @param {Hold} hold
   */
  press(hold) {
    if (this.state !== 'idle') return;
    if (!this.ctx.connected()) {
      this.ctx.notify(t('rec.notConnected'));
      return;
    }
    if (!this.ctx.media.mic) {
      this.ctx.notify(t('rec.noMic'), () => this.ctx.openDevices());
      return;
    }
    this.ctx.media.resumeAudio();
    this.hold = hold;
    this.sent = false;
    this.recording = false;
    this.stopWhenStarted = false;
    this.maxSeconds = 0;
    this.pressed = performance.now();
    this.setState('starting');
    if (this.pausePlayer.checked) this.ctx.pausePlayer();
    if (this.ctx.live()) {
      this.ctx.talkChanged(true);
      this.setState('talking');
      this.say(hold === 'locked' ? t('rec.talkingFree') : t('rec.talking'));
      return;
    }
    this.say(hold === 'locked' ? t('rec.recordingFree') : t('rec.recording'));
    const arm = Math.min(ARM_MS, this.minMs());
    if (hold === 'locked' || arm <= 0) this.start();
    else this.armTimer = window.setTimeout(() => this.start(), arm);
  }

  /**
   * The press lasted: the server starts recording. The microphone (and
   * camera) start sending now, with record-start, as the recorder starts:
   * a tap sends no media either, and a camera's first keyframe comes
   * when the recorder waits for it.
   */
  async start() {
    this.armTimer = 0;
    if (this.state !== 'starting' || this.sent) return;
    this.sent = true;
    this.ctx.talkChanged(true);
    try {
      const m = await this.ctx.signal.request({ type: 'record-start', description: this.description.value.trim() });
      if (m.type === 'error') throw new Error(m.message);
      // Cancelled before it started: record-stopped, handled by onStopped.
      if (m.type !== 'recording') return;
      this.recording = true;
      this.maxSeconds = m.max_seconds ?? 0;
      if (this.state === 'starting') this.setState('talking');
      else if (this.stopWhenStarted) this.sendStop();
    } catch (e) {
      if (this.state === 'idle') return;
      this.finish();
      this.ctx.notify(t('rec.cannot', { why: e instanceof Error ? e.message : String(e) }));
    }
  }

  /** Locks what is held: it goes on without holding, until Send or Cancel. */
  lock() {
    if (this.state === 'idle' || this.state === 'stopping' || this.hold === 'locked') return;
    this.hold = 'locked';
    this.slide(0, 0);
    this.render();
    this.say(this.ctx.live() ? t('rec.talkingFree') : t('rec.recordingFree'));
    // A lock before record-start was sent: the press was meant.
    if (this.armTimer) {
      clearTimeout(this.armTimer);
      this.start();
    }
  }

  /**
   * Ends a recording: stop sends it (or, shorter than the room's
   * minimum, takes it back with a hint); cancel takes it back. A press
   * let go before record-start was sent tells the server nothing. In live
   * rooms both stop talking.
   * @param {'stop'|'cancel'} how
   */
  end(how) {
    if (this.state === 'idle' || this.state === 'stopping') return;
    clearTimeout(this.armTimer);
    this.armTimer = 0;
    this.hold = null;
    this.slide(0, 0);
    if (this.ctx.live()) {
      this.setState('stopping');
      window.setTimeout(() => {
        this.ctx.talkChanged(false);
        this.setState('idle');
        this.say('');
      }, TAIL_MS);
      return;
    }
    const short = how === 'stop' && performance.now() - this.pressed < this.minMs();
    if (short) this.tooShort(this.minMs());
    else if (how === 'cancel') this.say(t('rec.cancelled'), true);
    if (!this.sent) {
      this.finish();
      return;
    }
    this.setState('stopping');
    if (short || how === 'cancel') {
      // At once, without the tail: nothing of it is kept. A record-start
      // still unanswered is cancelled too.
      this.ctx.talkChanged(false);
      this.sendCancel();
    } else if (this.recording) {
      window.setTimeout(() => this.sendStop(), TAIL_MS);
    } else {
      this.stopWhenStarted = true;
    }
  }

  async sendStop() {
    try {
      const m = await this.ctx.signal.ask({ type: 'record-stop' }, (r) => r.type === 'record-stopped');
      // not-recording: a limit or a failure ended it first, and said so.
      if (m.type === 'error' && m.code !== 'not-recording') {
        this.say('');
        this.ctx.notify(m.code === 'empty-clip' ? t('rec.empty') : t('rec.failed', { why: serverText(m) }));
      }
    } catch (e) {
      this.ctx.notify(t('rec.stopped', { why: e instanceof Error ? e.message : String(e) }));
    }
    this.finish();
  }

  async sendCancel() {
    try {
      // Answered by record-stopped "cancelled" (see onStopped), or
      // not-recording when a limit ended it first.
      await this.ctx.signal.request({ type: 'record-cancel' });
    } catch {
      // The connection is gone, and the recording with it.
    }
    this.finish();
  }

  /** @param {Msg} m */
  onStopped(m) {
    if (m.reason === 'max-seconds') this.ctx.notify(t('rec.maxSeconds', { n: this.maxSeconds }));
    if (m.reason === 'max-bytes') this.ctx.notify(t('rec.maxBytes'));
    if (m.clip) {
      this.description.value = '';
      this.say(m.clip.state === 'draft' ? t('rec.recorded') : t('rec.sent'), true);
    }
    // Too short to keep: a hint on how to record, not an error. Cancelled:
    // already said when it was taken back.
    if (m.reason === 'too-short') this.tooShort(m.min_ms ?? this.minMs());
    this.finish();
  }

  /** @param {number} ms */
  tooShort(ms) {
    this.say(t('rec.tooShort', { n: ms / 1000 }));
    this.status.classList.add('tip');
  }

  /**
   * Tells what happened, in the status line that screen readers announce.
   * @param {string} text
   * @param {boolean} [brief] it goes after a while
   */
  say(text, brief = false) {
    clearTimeout(this.saidTimer);
    this.status.textContent = text;
    this.status.classList.remove('tip');
    if (brief) this.saidTimer = window.setTimeout(() => (this.status.textContent = ''), SAID_MS);
  }

  finish() {
    clearTimeout(this.armTimer);
    this.armTimer = 0;
    this.hold = null;
    if (this.state === 'idle') return;
    this.ctx.talkChanged(false);
    this.setState('idle');
    if ([t('rec.recording'), t('rec.recordingFree'), t('rec.talkingFree')].includes(this.status.textContent ?? '')) this.say('');
  }

  /** The connection dropped: whatever was being recorded ended with it. */
  reset() {
    this.pointer = null;
    this.finish();
  }

  /** @param {TalkState} s */
  setState(s) {
    this.state = s;
    this.render();
  }

  /** The button, its neighbours and the hint, for the state and the hold. */
  /** The room's limits, under the button. */
  showLimits() {
    const room = this.ctx.room;
    const live = this.ctx.live();
    const parts = [];
    if (!live || room.archive) {
      parts.push(t('rec.limits', { seconds: room.max_clip_seconds, bytes: formatBytes(room.max_clip_bytes) }));
      parts.push(t('rec.kept', { lifetime: formatLifetime(room.clip_lifetime) }));
    }
    if (live) parts.push(room.archive ? t('rec.archived') : t('rec.notRecorded'));
    if (room.publish === 'manual') parts.push(t('rec.manual'));
    this.limits.textContent = parts.join(' · ');
  }

  render() {
    const on = this.state !== 'idle';
    const live = !!this.ctx.room && this.ctx.live();
    const locked = on && this.hold === 'locked';
    const held = on && !locked && this.state !== 'stopping';
    this.button.classList.toggle('on', on);
    this.button.classList.toggle('locked', locked);
    this.button.setAttribute('aria-pressed', String(on));
    this.panel.classList.toggle('recording', on);
    this.panel.classList.toggle('holding', held);
    document.body.classList.toggle('talking', on);
    // The accessible name says what the label shows, without its arrows.
    let label = live ? t('rec.holdTalk') : t('rec.holdRecord');
    let name = label;
    if (locked) {
      label = name = live ? t('rec.stopTalking') : t('rec.sendNow');
    } else if (held && live) {
      label = t('rec.talkingLock');
      name = t('rec.talkingLockName');
    } else if (held) {
      label = this.hold === 'space' ? t('rec.escCancel') : t('rec.slideCancel');
      name = t(this.hold === 'space' ? 'rec.escCancelName' : 'rec.slideCancelName');
    }
    this.label.textContent = label;
    this.button.setAttribute('aria-label', name);
    this.icon.replaceWith((this.icon = icon(locked ? (live ? 'stop' : 'send') : 'mic')));
    this.cancelBtn.hidden = !locked || live;
    this.uploadBtn.disabled = on;
    this.uploadBtn.classList.toggle('gone', locked && !live);
    this.lockBtn.hidden = locked || this.state === 'stopping';
    const lockName = on ? t(live ? 'rec.lockTalking' : 'rec.lockRecording') : t(live ? 'rec.talkFree' : 'rec.lock');
    this.lockBtn.setAttribute('aria-label', lockName);
    this.lockBtn.title = on ? lockName : t(live ? 'rec.talkFreeTitle' : 'rec.lockTitle');
    let hint;
    if (locked) hint = live ? t('hint.talkLocked') : t('hint.recordLocked');
    else if (held && this.hold === 'space') hint = live ? t('hint.talkSpace') : t('hint.recordSpace');
    else if (held) hint = live ? t('hint.talkHeld') : t('hint.recordHeld');
    else if (usesTouch()) hint = live ? t('hint.talkTouch') : t('hint.recordTouch');
    else hint = live ? t('hint.talkKeys') : t('hint.recordKeys');
    this.hint.textContent = hint;
  }

  tick() {
    if (this.state !== 'idle') {
      const s = (performance.now() - this.pressed) / 1000;
      this.timer.textContent = this.maxSeconds ? `${formatSeconds(s)} / ${t('unit.seconds', { n: this.maxSeconds })}` : formatSeconds(s);
    } else if (this.ctx.room && !this.ctx.live()) {
      this.timer.textContent = `${formatSeconds(0)} / ${t('unit.seconds', { n: this.ctx.room.max_clip_seconds })}`;
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
    if (clip) this.draftText.textContent = t('draft.only');
  }

  /** @param {'clip-publish'|'clip-delete'} type */
  async draftAction(type) {
    const d = this.draft;
    if (!d) return;
    try {
      const m = await this.ctx.signal.ask({ type, id: d.id }, (r) => (r.type === 'clip-updated' && r.clip?.id === d.id) || (r.type === 'clip-removed' && r.id === d.id));
      if (m.type === 'error') throw new Error(serverText(m));
      this.showDraft(null);
    } catch (e) {
      this.ctx.notify(t(type === 'clip-publish' ? 'draft.publishFailed' : 'draft.discardFailed', { why: e instanceof Error ? e.message : String(e) }));
    }
  }
}
