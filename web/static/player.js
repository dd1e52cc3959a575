// @ts-check
// The clips of the room and what plays: each clip is a bubble in the
// timeline (bubble.js), kept up to date by the clip events. One clip plays
// at a time, in its own bubble. Others' new clips play by themselves in
// the order they arrive, each after the one playing ends (never cutting it
// off); PLAY FROM HERE plays a clip and the newer ones; PLAY UNPLAYED the
// ones not heard yet. Esc stops.
//
// Played: a clip from someone else that arrives while we are here is
// unplayed until it starts playing, unless it arrives played (a talk spurt
// heard live); one in the catalog at join is as the server says
// (clip.played), or played when it does not say (an older server).
// Starting one tells the server (clip-played), which tells our other
// sessions (clip-updated with played).
//
// STANDBY (a switch, remembered per room): new clips neither play by
// themselves nor notify; they arrive unplayed and are counted, for PLAY
// UNPLAYED once it is off. Turning it on stops what plays. STOP AFTER THIS
// (shown while a clip plays) is a one-shot, as in music players: the clip
// playing finishes, the clips waiting after it do not start (they stay
// unplayed), and the button is off again; pressing it again before the
// clip ends takes it back, and starting other clips forgets it.

import { byId, load, save, formatTime, formatClock, icon } from './dom.js';
import { ClipView } from './bubble.js';
import { t, fill, onLanguage, serverText } from './i18n.js';

/** @typedef {import('./bubble.js').Clip} Clip */

const SPEEDS = [1, 1.5, 2];

/**
 * Where a clip from the catalog goes in the timeline: when it was made
 * (a recording's start, an upload's arrival), as the server orders clips.
 * A clip that arrives live goes at the bottom anyway.
 * @param {Clip} c
 */
function madeAt(c) {
  return Date.parse(c.created);
}

export class Player {
  /** @param {import('./app.js').Ctx} ctx */
  constructor(ctx) {
    this.ctx = ctx;
    /** @type {Map<string, Clip>} */
    this.clips = new Map();
    /** @type {Map<string, ClipView>} a bubble per clip, in the timeline or (a draft) in the recorder */
    this.views = new Map();
    /** @type {string[]} ids still to play, in order */
    this.queue = [];
    /** @type {{clip: Clip, el: HTMLMediaElement, view: ClipView}|null} */
    this.current = null;
    /** whether the user paused what plays (then new clips may start) */
    this.userPaused = false;
    /** whether talking paused it (then it goes on after) */
    this.held = false;
    /** @type {Set<string>} others' clips not played yet */
    this.unplayed = new Set();
    /** @type {Map<string, number>} where a clip not playing starts (seconds), after a seek or a pause */
    this.positions = new Map();
    /** @type {Set<number>} reqs of clip-played messages */
    this.playedReqs = new Set();
    /** @type {Set<string>} clips the server was told about */
    this.told = new Set();
    this.noOutputSaid = false;
    /** deafened (the live stage's Deafen): clips play silent */
    this.deafened = false;
    const speed = load('parley.speed', 1);
    this.speed = SPEEDS.includes(speed) ? speed : 1;

    this.autoplay = /** @type {HTMLInputElement} */ (byId('autoplay'));
    this.playMine = /** @type {HTMLInputElement} */ (byId('play-mine'));
    this.unplayedBtn = /** @type {HTMLButtonElement} */ (byId('play-unplayed'));
    this.unplayedCount = byId('unplayed-count');
    this.autoplay.checked = load('parley.autoplay', true);
    this.playMine.checked = load('parley.playMine', false);
    this.autoplay.addEventListener('change', () => save('parley.autoplay', this.autoplay.checked));
    this.playMine.addEventListener('change', () => save('parley.playMine', this.playMine.checked));
    this.unplayedBtn.addEventListener('click', () => this.playUnplayed());
    /** standby in this room: new clips neither play nor notify */
    this.standby = false;
    /** the room whose standby this is */
    this.roomName = '';
    this.standbyBtn = /** @type {HTMLButtonElement} */ (byId('standby'));
    this.standbyBtn.prepend(icon('moon'));
    byId('standby-badge').prepend(icon('moon'));
    this.standbyBtn.addEventListener('click', () => this.setStandby(!this.standby));
    /** stop once the clip playing ends (STOP AFTER THIS) */
    this.stopAfter = false;
    this.stopAfterBtn = /** @type {HTMLButtonElement} */ (byId('stop-after'));
    this.stopAfterBtn.prepend(icon('stop-after'));
    this.stopAfterBtn.addEventListener('click', () => {
      this.stopAfter = !this.stopAfter;
      this.renderStopAfter();
    });
    onLanguage(() => {
      this.renderUnplayed();
      for (const v of this.views.values()) v.relabel();
    });
    window.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape' && this.current && !document.fullscreenElement) this.stop();
    });
    document.addEventListener('fullscreenchange', () => {
      // A video in full screen has the browser's own controls.
      const el = this.current?.el;
      if (el instanceof HTMLVideoElement) el.controls = document.fullscreenElement === el;
    });

    const s = ctx.signal;
    s.on('clip-added', (m) => {
      const c = /** @type {Clip} */ (m.clip);
      if (!c) return;
      const isNew = !this.clips.has(c.id);
      this.set(c, true);
      if (!isNew || c.state !== 'published') return;
      // A clip that arrives played (a talk spurt heard live) does not play again.
      if (c.played === true) return;
      if (!c.mine) {
        this.setUnplayed(c, true);
        const v = this.views.get(c.id);
        if (!this.standby) ctx.alerts.show('clip', t('alert.newClip', { author: c.author }), c.description || t('alert.clipIn', { length: formatClock(c.duration), room: ctx.room.title || ctx.room.name }), () => v?.playBtn ?? null);
      }
      if (this.autoplay.checked && !this.standby && (!c.mine || this.playMine.checked)) this.enqueue([c.id]);
    });
    s.on('clip-updated', (m) => {
      const c = /** @type {Clip} */ (m.clip);
      if (!c) return;
      this.set(c, true);
      // Played here or on another device with the same key.
      if (c.played === true) this.setUnplayed(c, false);
    });
    s.on('clip-removed', (m) => this.forget(m.id));
    s.on('error', (m) => {
      if (!this.playedReqs.delete(m.req)) return;
      // A server without clip-played, or a clip deleted meanwhile: the
      // mark is only a convenience.
      if (m.code !== 'unknown-type' && m.code !== 'no-such-clip') ctx.notify(t('player.markFailed', { why: serverText(m) }));
    });
  }

  /**
   * Keeps a clip and shows it: a published one in the timeline.
   * @param {Clip} c
   * @param {boolean} live it happened now, not in the catalog
   */
  set(c, live) {
    this.clips.set(c.id, c);
    const v = this.view(c);
    v.update(c);
    if (c.state === 'published' && !this.ctx.timeline.has(v.el)) {
      this.ctx.timeline.add(v.el, { time: madeAt(c), live, group: `a:${c.author}`, mine: live && !!c.mine });
    }
  }

  /**
   * The bubble of a clip, made on first use.
   * @param {Clip} c
   */
  view(c) {
    let v = this.views.get(c.id);
    if (!v) {
      v = new ClipView(c, this);
      v.setUnplayed(this.unplayed.has(c.id));
      this.views.set(c.id, v);
    }
    return v;
  }

  /** @param {string} id */
  forget(id) {
    this.clips.delete(id);
    this.queue = this.queue.filter((x) => x !== id);
    this.positions.delete(id);
    if (this.current?.clip.id === id) this.next();
    const v = this.views.get(id);
    if (v) {
      this.ctx.timeline.remove(v.el);
      v.el.remove();
      this.views.delete(id);
    }
    if (this.unplayed.delete(id)) this.renderUnplayed();
  }

  /**
   * A room joined: its standby as it was left.
   * @param {string} room
   */
  joined(room) {
    this.roomName = room;
    this.setStandby(load(`parley.standby.${room}`, false), false);
  }

  /**
   * Turns standby on or off in this room; on, it stops what plays.
   * @param {boolean} on
   * @param {boolean} [remember] keep it for the room (not when it is read back)
   */
  setStandby(on, remember = true) {
    this.standby = on;
    if (remember && this.roomName) save(`parley.standby.${this.roomName}`, on);
    if (on) this.stop();
    this.standbyBtn.setAttribute('aria-checked', String(on));
    byId('standby-badge').hidden = !on;
  }

  renderStopAfter() {
    this.stopAfterBtn.hidden = !this.current;
    this.stopAfterBtn.setAttribute('aria-pressed', String(this.stopAfter));
  }

  /** Loads the room's catalog (after every join). */
  async reload() {
    const room = this.ctx.room;
    try {
      const res = await fetch(`/api/rooms/${encodeURIComponent(room.name)}/clips`, {
        headers: { Authorization: `Bearer ${this.ctx.ownerKey()}` },
        cache: 'no-store',
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      /** @type {{clips: Clip[]}} */
      const data = await res.json();
      if (this.ctx.room !== room) return; // left meanwhile
      const ids = new Set(data.clips.map((c) => c.id));
      for (const id of [...this.clips.keys()]) if (!ids.has(id)) this.forget(id);
      for (const c of data.clips) {
        const known = this.clips.has(c.id);
        // Unplayed as the server says; a clip we knew stays as it was
        // unless the server says it was played (elsewhere, say).
        if (c.mine || c.played === true) this.setUnplayed(c, false);
        else if (!known && c.played === false) this.setUnplayed(c, true);
        this.set(c, false);
        if (c.state === 'draft' && c.mine) this.ctx.draftFound(c);
      }
    } catch (e) {
      this.ctx.notify(t('player.loadFailed', { why: e instanceof Error ? e.message : String(e) }));
    }
  }

  /** Forgets the room's clips (leaving it). */
  clear() {
    this.stop();
    for (const id of [...this.clips.keys()]) this.forget(id);
    this.unplayed.clear();
    this.renderUnplayed();
  }

  /** Published clips, oldest first (ids sort by time). */
  sorted() {
    return [...this.clips.values()].filter((c) => c.state === 'published').sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /**
   * @param {Clip} c
   * @param {boolean} on
   */
  setUnplayed(c, on) {
    const had = this.unplayed.has(c.id);
    if (on) this.unplayed.add(c.id);
    else this.unplayed.delete(c.id);
    this.views.get(c.id)?.setUnplayed(on);
    if (had !== on) this.renderUnplayed();
  }

  renderUnplayed() {
    const n = this.unplayed.size;
    this.unplayedBtn.hidden = n === 0;
    this.unplayedCount.textContent = String(n);
    fill(byId('unplayed-label'), 'player.playUnplayed', { n: this.unplayedCount });
    this.unplayedBtn.title = t('player.playUnplayedTitle', { n });
  }

  playUnplayed() {
    this.play(this.sorted().filter((c) => this.unplayed.has(c.id)).map((c) => c.id));
  }

  /**
   * The clip's media URL. An <audio src> or a download link cannot send
   * the owner key, so the URL carries the clip's key (what opens a
   * published clip in a password or token room) and, on one's own draft,
   * its draft token.
   * @param {Clip} c
   */
  url(c) {
    const u = `/api/rooms/${encodeURIComponent(c.room)}/clips/${encodeURIComponent(c.id)}`;
    const q = new URLSearchParams();
    if (c.key) q.set('key', c.key);
    if (c.state === 'draft' && c.draft_token) q.set('token', c.draft_token);
    const query = q.toString();
    return query ? `${u}?${query}` : u;
  }

  /** @param {Clip} c */
  canDelete(c) {
    return c.state === 'published' && (!!c.mine || this.ctx.operator());
  }

  /** @param {Clip} c */
  playFrom(c) {
    const newer = this.sorted().filter((x) => x.id >= c.id && (x.id === c.id || !x.mine || this.playMine.checked));
    this.play(newer.map((x) => x.id));
  }

  /**
   * Play or pause, from a clip's bubble.
   * @param {Clip} c
   */
  toggle(c) {
    const cur = this.current;
    if (cur && cur.clip.id === c.id) {
      if (cur.el.paused) {
        this.userPaused = false;
        this.held = false;
        cur.el.play().catch(() => {});
      } else {
        this.userPaused = true;
        cur.el.pause();
      }
      return;
    }
    this.play([c.id]);
  }

  /**
   * Moves to a point of a clip: of the one playing, at once; of another,
   * where it will start.
   * @param {Clip} c
   * @param {number} fraction
   */
  seek(c, fraction) {
    const cur = this.current;
    if (cur && cur.clip.id === c.id) {
      const d = isFinite(cur.el.duration) && cur.el.duration > 0 ? cur.el.duration : c.duration;
      cur.el.currentTime = Math.min(fraction * d, Math.max(0, d - 0.05));
      cur.view.progress(cur.el.currentTime, d);
      return;
    }
    const t = fraction * c.duration;
    this.positions.set(c.id, t);
    this.views.get(c.id)?.progress(t, 0);
  }

  cycleSpeed() {
    this.speed = SPEEDS[(SPEEDS.indexOf(this.speed) + 1) % SPEEDS.length];
    save('parley.speed', this.speed);
    if (this.current) this.current.el.playbackRate = this.current.el.defaultPlaybackRate = this.speed;
    for (const v of this.views.values()) v.setSpeed(this.speed);
  }

  /**
   * Plays these clips in order, replacing what plays now.
   * @param {string[]} ids
   */
  play(ids) {
    this.noOutputSaid = false;
    this.stopAfter = false;
    this.queue = [...ids];
    this.next();
  }

  /**
   * Adds clips to play after what plays now; starts at once when nothing
   * plays (or the user paused it) and nobody talks.
   * @param {string[]} ids
   */
  enqueue(ids) {
    this.queue.push(...ids);
    if ((!this.current || this.userPaused) && !this.ctx.talking()) this.next();
  }

  /** The clip playing is over (ended, or failed): the next one, unless STOP AFTER THIS. */
  finished() {
    if (this.stopAfter) this.stop();
    else this.next();
  }

  next() {
    this.release();
    let c;
    while (this.queue.length && !(c = this.clips.get(/** @type {string} */ (this.queue.shift()))));
    if (c) this.start(c);
  }

  /**
   * Deafened, clips play silent, as the room does.
   * @param {boolean} on
   */
  setDeafened(on) {
    this.deafened = on;
    if (this.current) this.current.el.muted = on;
  }

  /** @param {Clip} c */
  start(c) {
    const view = this.view(c);
    const el = /** @type {HTMLMediaElement} */ (document.createElement(c.kind === 'video' ? 'video' : 'audio'));
    if (el instanceof HTMLVideoElement) el.playsInline = true;
    el.preload = 'auto';
    el.src = this.url(c);
    el.dataset.id = c.id;
    el.defaultPlaybackRate = el.playbackRate = this.speed;
    el.muted = this.deafened;
    const from = this.positions.get(c.id) ?? 0;
    if (from > 0 && from < c.duration - 0.1) el.currentTime = from;
    this.positions.delete(c.id);
    const cur = { clip: c, el, view };
    this.current = cur;
    this.userPaused = false;
    this.held = false;
    const mine = () => this.current === cur;
    const show = () => mine() && view.progress(el.currentTime, el.duration);
    el.addEventListener('timeupdate', show);
    el.addEventListener('durationchange', show);
    el.addEventListener('play', () => mine() && view.setPlaying(true));
    el.addEventListener('pause', () => mine() && !el.ended && view.setPlaying(false));
    el.addEventListener('playing', () => {
      if (!mine()) return;
      this.markPlayed(c);
      // The waveform fills smoothly, not at timeupdate's pace.
      const frame = () => {
        if (!mine() || el.paused) return;
        show();
        requestAnimationFrame(frame);
      };
      requestAnimationFrame(frame);
    });
    el.addEventListener('ended', () => {
      if (!mine()) return;
      view.progress(0, 0);
      this.finished();
    });
    el.addEventListener('error', () => {
      if (!mine()) return;
      const err = el.error;
      this.ctx.report('playback', `MediaError ${err?.code ?? ''}: ${err?.message ?? ''}`);
      if (noAudioOutput(el.error)) {
        // Every clip would fail the same way: say why (once, and again
        // when the user presses Play), and stop instead of skipping on.
        if (!this.noOutputSaid) this.ctx.notify(t('player.noOutput'));
        this.noOutputSaid = true;
        this.stop();
        return;
      }
      this.ctx.notify(t('player.cannotPlay', { author: c.author, time: formatTime(c.created) }));
      this.finished();
    });
    view.attach(el);
    view.setPlaying(true);
    this.renderStopAfter();
    el.play().catch((e) => {
      if (!mine()) return;
      if (e.name === 'NotAllowedError') {
        // Autoplay needs a click on the page first.
        view.setPlaying(false);
        this.userPaused = true;
        this.ctx.notify(t('player.blocked'));
      } else if (e.name !== 'AbortError') {
        // AbortError: the clip was stopped before it started.
        this.ctx.report('playback', e);
      }
    });
  }

  /**
   * Playing a clip started: it is played, here and for the server.
   * @param {Clip} c
   */
  markPlayed(c) {
    this.setUnplayed(c, false);
    if (c.mine || c.played === true || this.told.has(c.id)) return;
    this.told.add(c.id);
    const req = this.ctx.signal.tagged({ type: 'clip-played', id: c.id });
    if (req) this.playedReqs.add(req);
    c.played = true;
  }

  /** Ends what plays, keeping where a clip stopped halfway. */
  release() {
    const cur = this.current;
    if (!cur) return;
    this.current = null;
    this.renderStopAfter();
    const { el, view, clip } = cur;
    const at = el.ended ? 0 : el.currentTime;
    el.pause();
    el.removeAttribute('src');
    el.load();
    view.detach();
    if (at > 0.5 && at < clip.duration - 0.5) this.positions.set(clip.id, at);
    view.progress(this.positions.get(clip.id) ?? 0, 0);
  }

  stop() {
    this.stopAfter = false;
    this.queue = [];
    this.release();
  }

  /** Pauses playing while the user talks; resume() goes on. */
  pause() {
    const el = this.current?.el;
    if (el && !el.paused) {
      this.held = true;
      el.pause();
    }
  }

  resume() {
    if (this.current && this.held) {
      this.held = false;
      this.current.el.play().catch(() => {});
    } else if (!this.current && this.queue.length) this.next();
  }

  /** @param {Clip} c */
  async remove(c) {
    const ask = c.mine ? t('player.deleteMine', { time: formatTime(c.created) }) : t('player.deleteOf', { author: c.author, time: formatTime(c.created) });
    if (c.state === 'published' && !confirm(ask)) return;
    try {
      const m = await this.ctx.signal.ask({ type: 'clip-delete', id: c.id }, (r) => r.type === 'clip-removed' && r.id === c.id);
      if (m.type === 'error') throw new Error(serverText(m));
    } catch (e) {
      this.ctx.notify(t('player.deleteFailed', { why: e instanceof Error ? e.message : String(e) }));
    }
  }
}

/**
 * Whether a media element failed because the browser has no audio output
 * (Firefox without a sound server reports "OnMediaSinkAudioError"), not
 * because of the clip.
 * @param {MediaError|null} err
 */
function noAudioOutput(err) {
  return !!err && /MediaSinkAudio|audio sink|audio output|audio device/i.test(err.message);
}
