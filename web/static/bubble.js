// @ts-check
// The bubbles of the timeline: a chat message, and a clip as an inline
// player (play/pause, a waveform that fills and seeks, elapsed and total
// time, speed, play from here, download, delete, the description as its
// caption; a video clip plays in the bubble and can go fullscreen). A
// bubble shows state; the player (player.js) decides what plays.

import { h, icon, formatClock, formatHour, linkify } from './dom.js';
import { Waveform } from './waveform.js';
import { t, dateTime } from './i18n.js';

/**
 * @typedef {{id: string, room: string, author: string, created: string, duration: number, bytes: number,
 *   kind: string, mime: string, description: string, state: string, expires: string,
 *   draft_token?: string, mine?: boolean, key?: string, waveform?: number[], played?: boolean, trigger?: string}} Clip
 */

/**
 * What a clip bubble asks of the player.
 * @typedef {{
 *   toggle: (c: Clip) => void, seek: (c: Clip, fraction: number) => void, playFrom: (c: Clip) => void,
 *   cycleSpeed: () => void, remove: (c: Clip) => void, url: (c: Clip, download?: boolean) => string,
 *   canDelete: (c: Clip) => boolean, speed: number,
 * }} ClipActions
 */

/**
 * The frame an unplayed video clip shows: taken once, from half a second
 * into the clip (a camera's very first frame is often dark), as its bubble
 * comes near the view, into a canvas; the video element that decoded it is
 * let go at once, so that a long timeline holds no media players.
 */
const POSTER_AT = 0.5;
const POSTER_WIDTH = 480;
/** @type {WeakMap<Element, ClipBubble>} */
const posterWanted = new WeakMap();
const posters =
  typeof IntersectionObserver === 'function'
    ? new IntersectionObserver(
        (entries) => {
          for (const e of entries) {
            if (!e.isIntersecting) continue;
            posters?.unobserve(e.target);
            posterWanted.get(e.target)?.takePoster();
          }
        },
        { rootMargin: '300px' },
      )
    : null;

/**
 * An icon button with an accessible name.
 * @param {string} cls
 * @param {string} name icon
 * @param {string} label
 * @param {() => void} onclick
 */
function iconButton(cls, name, label, onclick) {
  return h('button', { type: 'button', className: `icon-btn ${cls}`, 'aria-label': label, title: label, onclick }, icon(name));
}

export class ClipView {
  /**
   * @param {Clip} c
   * @param {ClipActions} act
   */
  constructor(c, act) {
    this.clip = c;
    this.act = act;
    this.at = 0;
    this.playing = false;
    this.who = h('span', { className: 'who' });
    this.playBtn = iconButton('play', 'play', t('clip.play'), () => act.toggle(this.clip));
    this.wave = new Waveform(c.waveform, t('clip.position', { author: c.author }), (f) => act.seek(this.clip, f));
    this.dot = h('span', { className: 'dot', title: t('clip.unplayed') });
    this.clock = h('span', { className: 'clock' });
    this.speedBtn = h('button', { type: 'button', className: 'speed', onclick: () => act.cycleSpeed() });
    this.fromBtn = iconButton('from', 'from', t('clip.playFrom'), () => act.playFrom(this.clip));
    this.download = h('a', { className: 'icon-btn download', 'aria-label': t('clip.download'), title: t('clip.download') }, icon('download'));
    this.del = iconButton('del', 'delete', t('clip.delete'), () => act.remove(this.clip));
    this.time = h('time', {});
    this.caption = h('p', { className: 'caption' });
    this.label = h('span', { className: 'label' });
    /** what started a camera station's recording: motion, or a snapshot asked for */
    this.trigger = h('span', { className: 'trigger' });
    /** @type {HTMLElement|null} */
    this.screen = null;
    /** @type {HTMLButtonElement|null} */
    this.fullBtn = null;
    /** @type {HTMLCanvasElement|null} the frame shown before it plays */
    this.poster = null;
    if (c.kind === 'video') {
      this.screen = h('div', { className: 'screen', onclick: () => act.toggle(this.clip) }, h('span', { className: 'screen-icon', 'aria-hidden': 'true' }, icon('play')));
      this.fullBtn = iconButton('full', 'fullscreen', t('clip.fullscreen'), () => this.fullscreen());
      posterWanted.set(this.screen, this);
      posters?.observe(this.screen);
    }
    this.slot = h('div', { className: 'slot' });
    this.el = h(
      'li',
      { className: 'item clip' },
      h(
        'div',
        { className: 'bubble' },
        h('div', { className: 'head' }, this.who, this.label, this.trigger),
        this.screen,
        h('div', { className: 'player-row' }, this.playBtn, this.wave.el, this.dot),
        h('div', { className: 'meta' }, this.clock, this.speedBtn, this.fromBtn, this.fullBtn, this.download, this.del, this.time),
        this.caption,
        this.slot,
      ),
    );
    this.update(c);
    this.setSpeed(act.speed);
  }

  /**
   * The clip changed (published, a description arrived).
   * @param {Clip} c
   */
  update(c) {
    this.clip = c;
    const el = this.el;
    el.dataset.id = c.id;
    el.dataset.author = c.author;
    el.dataset.kind = c.kind;
    el.classList.toggle('mine', !!c.mine);
    el.classList.toggle('draft', c.state === 'draft');
    this.who.textContent = c.author;
    this.label.textContent = c.state === 'draft' ? t('clip.draft') : c.kind === 'video' ? t('clip.video') : '';
    this.trigger.hidden = c.trigger !== 'motion' && c.trigger !== 'snapshot';
    this.trigger.textContent = this.trigger.hidden ? '' : t(`clip.${c.trigger}`);
    this.trigger.title = this.trigger.hidden ? '' : t(`clip.${c.trigger}Title`);
    el.dataset.trigger = c.trigger ?? '';
    this.caption.textContent = c.description;
    this.caption.hidden = !c.description;
    this.download.href = this.act.url(c, true);
    this.download.download = `${c.room}-${c.id}.webm`;
    this.del.hidden = !this.act.canDelete(c);
    this.del.setAttribute('aria-label', c.state === 'draft' ? t('draft.discard') : t('clip.delete'));
    this.fromBtn.hidden = c.state === 'draft';
    this.time.dateTime = c.created;
    this.time.title = dateTime(new Date(c.created));
    this.time.textContent = formatHour(c.created);
    this.playBtn.setAttribute('aria-label', t(this.playing ? 'clip.pauseBy' : 'clip.playBy', { author: c.author, length: formatClock(c.duration) }));
    this.progress(this.at, 0);
  }

  /**
   * @param {number} at seconds
   * @param {number} duration seconds, 0 for the clip's own
   */
  progress(at, duration) {
    const d = duration > 0 && isFinite(duration) ? duration : this.clip.duration;
    this.at = at;
    this.wave.set(at, d);
    this.clock.textContent = this.playing || at > 0 ? `${formatClock(at)} / ${formatClock(d)}` : formatClock(d);
  }

  /** @param {boolean} on */
  setPlaying(on) {
    this.playing = on;
    this.el.classList.toggle('playing', on);
    this.playBtn.replaceChildren(icon(on ? 'pause' : 'play'));
    this.playBtn.setAttribute('aria-label', t(on ? 'clip.pauseBy' : 'clip.playBy', { author: this.clip.author, length: formatClock(this.clip.duration) }));
    this.playBtn.title = on ? t('clip.pause') : t('clip.play');
    this.progress(this.at, 0);
  }

  /** Says its labels again, in the language now in use. */
  relabel() {
    const label = (/** @type {Element|null} */ el, /** @type {string} */ text) => {
      el?.setAttribute('aria-label', text);
      el?.setAttribute('title', text);
    };
    this.wave.el.setAttribute('aria-label', t('clip.position', { author: this.clip.author }));
    this.dot.title = t('clip.unplayed');
    label(this.fromBtn, t('clip.playFrom'));
    label(this.download, t('clip.download'));
    label(this.fullBtn, t('clip.fullscreen'));
    this.del.title = this.clip.state === 'draft' ? t('draft.discard') : t('clip.delete');
    this.setPlaying(this.playing);
    this.setSpeed(this.act.speed);
    this.update(this.clip);
  }

  /** @param {boolean} on */
  setUnplayed(on) {
    this.el.classList.toggle('unplayed', on);
  }

  /** @param {number} s */
  setSpeed(s) {
    this.speedBtn.textContent = `${s}×`;
    this.speedBtn.setAttribute('aria-label', t('clip.speed', { speed: `${s}×` }));
    this.speedBtn.title = t('clip.speedTitle');
  }

  /**
   * Puts the playing media element in the bubble: a video on its screen,
   * audio out of sight.
   * @param {HTMLMediaElement} m
   */
  attach(m) {
    if (this.screen && m instanceof HTMLVideoElement) {
      this.screen.replaceChildren(m);
      this.screen.classList.add('on');
    } else {
      this.slot.replaceChildren(m);
    }
  }

  detach() {
    this.slot.replaceChildren();
    if (this.screen) {
      this.screen.replaceChildren(...(this.poster ? [this.poster] : []), h('span', { className: 'screen-icon', 'aria-hidden': 'true' }, icon('play')));
      this.screen.classList.remove('on');
    }
    this.setPlaying(false);
  }

  /** Takes the frame the screen shows until the clip plays (see posters). */
  takePoster() {
    if (this.poster || !this.screen) return;
    const v = document.createElement('video');
    v.muted = true;
    v.playsInline = true;
    v.preload = 'metadata'; // the seek below loads the frame's data only
    const done = () => {
      v.removeAttribute('src');
      v.load();
    };
    v.addEventListener('loadedmetadata', () => {
      v.currentTime = Number.isFinite(v.duration) ? Math.min(POSTER_AT, v.duration / 2) : 0;
    }, { once: true });
    v.addEventListener('seeked', () => {
      const screen = this.screen;
      if (screen && v.videoWidth && v.videoHeight) {
        const scale = Math.min(1, POSTER_WIDTH / v.videoWidth);
        const c = h('canvas', { className: 'poster', width: Math.round(v.videoWidth * scale), height: Math.round(v.videoHeight * scale) });
        c.setAttribute('aria-hidden', 'true');
        /** @type {HTMLCanvasElement} */ (c).getContext('2d')?.drawImage(v, 0, 0, c.width, c.height);
        this.poster = /** @type {HTMLCanvasElement} */ (c);
        if (!screen.classList.contains('on')) screen.prepend(c);
      }
      done();
    }, { once: true });
    v.addEventListener('error', done, { once: true });
    v.src = this.act.url(this.clip);
  }

  fullscreen() {
    let v = this.screen?.querySelector('video');
    if (!v) {
      this.act.toggle(this.clip);
      v = this.screen?.querySelector('video');
    }
    v?.requestFullscreen?.().catch(() => {});
  }
}

/**
 * A chat message.
 * @typedef {{from: {id: string, name: string}, text: string, ts: string, mine: boolean,
 *   kind: 'live'|'history'|'offline', priv: string, queued: boolean}} ChatItem
 */

/**
 * The bubble of a chat message. priv is the line that marks a private
 * message ('' for the room's).
 * @param {ChatItem} m
 * @param {() => void} onwho the sender's name was pressed
 */
export function chatBubble(m, onwho) {
  const cls = ['item', 'msg', m.mine ? 'mine' : '', m.priv ? 'private' : '', m.queued ? 'queued' : '', m.kind].filter(Boolean).join(' ');
  return h(
    'li',
    { className: cls, 'data-author': m.from.name },
    h(
      'div',
      { className: 'bubble' },
      h(
        'div',
        { className: 'head' },
        h('button', { type: 'button', className: 'who', title: t('chat.writeTo', { name: m.from.name }), onclick: onwho }, m.from.name),
        m.priv ? h('span', { className: 'label' }, m.priv) : null,
      ),
      h('p', { className: 'text' }, linkify(m.text)),
      h('div', { className: 'meta' }, h('time', { dateTime: m.ts, title: m.ts ? dateTime(new Date(m.ts)) : '' }, formatHour(m.ts))),
    ),
  );
}
