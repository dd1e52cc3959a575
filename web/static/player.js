// @ts-check
// The player panel: the room's clips, newest first, kept up to date by the
// clip events; PLAY, PLAY FROM HERE (this clip, then the newer ones), STOP
// (also Esc), DELETE on one's own clips, download links, and automatic
// playing of new clips.

import { h, byId, formatBytes, formatSeconds, formatTime, load, save } from './dom.js';

/**
 * @typedef {{id: string, room: string, author: string, created: string, duration: number, bytes: number,
 *   kind: string, mime: string, description: string, state: string, expires: string,
 *   draft_token?: string, mine?: boolean, key?: string}} Clip
 */

export class Player {
  /** @param {import('./app.js').Ctx} ctx */
  constructor(ctx) {
    this.ctx = ctx;
    /** @type {Map<string, Clip>} */
    this.clips = new Map();
    /** @type {string[]} ids still to play, in order */
    this.queue = [];
    /** @type {Clip|null} */
    this.current = null;
    /** @type {HTMLMediaElement|null} */
    this.el = null;
    this.body = /** @type {HTMLTableSectionElement} */ (byId('clips').querySelector('tbody'));
    this.empty = byId('clips-empty');
    this.box = byId('media-box');
    this.nowPlaying = byId('now-playing');
    this.stopBtn = /** @type {HTMLButtonElement} */ (byId('stop'));
    this.autoplay = /** @type {HTMLInputElement} */ (byId('autoplay'));
    this.playMine = /** @type {HTMLInputElement} */ (byId('play-mine'));
    this.autoplay.checked = load('parley.autoplay', true);
    this.playMine.checked = load('parley.playMine', false);
    this.autoplay.addEventListener('change', () => save('parley.autoplay', this.autoplay.checked));
    this.playMine.addEventListener('change', () => save('parley.playMine', this.playMine.checked));
    this.stopBtn.addEventListener('click', () => this.stop());
    window.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape' && this.current) this.stop();
    });

    const s = ctx.signal;
    s.on('clip-added', (m) => {
      const c = /** @type {Clip} */ (m.clip);
      if (!c) return;
      const isNew = !this.clips.has(c.id);
      this.clips.set(c.id, c);
      this.render();
      if (isNew && c.state === 'published' && this.autoplay.checked && (!c.mine || this.playMine.checked)) this.enqueue([c.id]);
    });
    s.on('clip-updated', (m) => {
      const c = /** @type {Clip} */ (m.clip);
      if (!c) return;
      this.clips.set(c.id, c);
      this.render();
    });
    s.on('clip-removed', (m) => {
      this.clips.delete(m.id);
      this.queue = this.queue.filter((id) => id !== m.id);
      if (this.current?.id === m.id) this.next();
      this.render();
    });
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
      this.clips = new Map(data.clips.map((c) => [c.id, c]));
      this.render();
      for (const c of data.clips) if (c.state === 'draft' && c.mine) this.ctx.draftFound(c);
    } catch (e) {
      this.ctx.notify(`Cannot load the clips: ${e instanceof Error ? e.message : e}`);
    }
  }

  /** Clips newest first (ids sort by time). */
  sorted() {
    return [...this.clips.values()].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  }

  render() {
    const list = this.sorted();
    this.empty.hidden = list.length > 0;
    this.body.replaceChildren(...list.map((c) => this.row(c)));
  }

  /** @param {Clip} c */
  row(c) {
    const playing = this.current?.id === c.id;
    const queued = this.queue.includes(c.id);
    const del =
      c.mine || this.ctx.operator()
        ? h('button', { type: 'button', className: 'del', title: 'delete this clip', onclick: () => this.remove(c) }, c.state === 'draft' ? 'Discard' : 'Delete')
        : null;
    return h(
      'tr',
      { className: [playing ? 'playing' : '', queued ? 'queued' : '', c.state === 'draft' ? 'draft' : '', c.mine ? 'mine' : ''].join(' ').trim(), 'data-id': c.id, 'data-author': c.author },
      h('td', { className: 'author' }, c.author, c.state === 'draft' ? ' (draft)' : ''),
      h('td', {}, h('time', { dateTime: c.created, title: new Date(c.created).toLocaleString() }, formatTime(c.created))),
      h('td', { className: 'num' }, formatSeconds(c.duration)),
      h('td', { className: 'num' }, formatBytes(c.bytes)),
      h('td', { className: 'kind' }, c.kind),
      h('td', { className: 'desc' }, c.description),
      h(
        'td',
        { className: 'actions' },
        h('button', { type: 'button', className: 'play', onclick: () => this.play([c.id]) }, 'Play'),
        h('button', { type: 'button', className: 'from', title: 'play this clip, then the newer ones', onclick: () => this.playFrom(c) }, 'From here'),
        h('a', { className: 'download', href: this.url(c), download: `${c.room}-${c.id}.webm`, title: 'download' }, '⤓'),
        del,
      ),
    );
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
  playFrom(c) {
    const newer = this.sorted()
      .reverse()
      .filter((x) => x.id >= c.id && x.state === 'published' && (x.id === c.id || !x.mine || this.playMine.checked));
    this.play(newer.map((x) => x.id));
  }

  /**
   * Plays these clips in order, replacing what plays now.
   * @param {string[]} ids
   */
  play(ids) {
    this.noOutputSaid = false;
    this.queue = [...ids];
    this.next();
  }

  /** @param {string[]} ids */
  enqueue(ids) {
    this.queue.push(...ids);
    if (!this.current && !this.ctx.talking()) this.next();
    else this.render();
  }

  next() {
    this.release();
    let c;
    while (this.queue.length && !(c = this.clips.get(/** @type {string} */ (this.queue.shift()))));
    if (!c) {
      this.current = null;
      this.stopBtn.disabled = true;
      this.nowPlaying.textContent = '';
      this.render();
      return;
    }
    this.current = c;
    const el = c.kind === 'video' ? h('video', { playsInline: true, controls: true }) : h('audio', { controls: true });
    el.preload = 'auto';
    el.src = this.url(c);
    el.dataset.id = c.id;
    el.addEventListener('ended', () => {
      if (this.el === el) this.next();
    });
    el.addEventListener('error', () => {
      if (this.el !== el) return;
      if (noAudioOutput(el.error)) {
        // Every clip would fail the same way: say why (once, and again
        // when the user presses Play), and stop instead of skipping on.
        if (!this.noOutputSaid) this.ctx.notify('This browser cannot play sound: no audio output device. Connect or enable one, then press Play.');
        this.noOutputSaid = true;
        this.stop();
        return;
      }
      this.ctx.notify(`Cannot play the clip by ${c.author}; skipping it.`);
      this.next();
    });
    this.el = el;
    this.box.replaceChildren(el);
    this.stopBtn.disabled = false;
    this.nowPlaying.textContent = `${c.author}${c.description ? ': ' + c.description : ''}`;
    this.render();
    el.play().catch((e) => {
      if (this.el !== el) return;
      if (e.name === 'NotAllowedError') {
        // Autoplay needs a click on the page first.
        this.ctx.notify('The browser blocked playing a clip. Click Play to listen.');
      }
    });
  }

  release() {
    if (!this.el) return;
    this.el.pause();
    this.el.removeAttribute('src');
    this.el.load();
    this.el = null;
    this.box.replaceChildren();
  }

  stop() {
    this.queue = [];
    this.release();
    this.next();
  }

  /** Pauses playing (while recording); resume() goes on. */
  pause() {
    this.el?.pause();
  }

  resume() {
    if (this.el) this.el.play().catch(() => {});
    else if (this.queue.length) this.next();
  }

  /** @param {Clip} c */
  async remove(c) {
    const whose = c.mine ? 'your clip' : `${c.author}'s clip`;
    if (c.state === 'published' && !confirm(`Delete ${whose} from ${formatTime(c.created)}?`)) return;
    try {
      const m = await this.ctx.signal.ask({ type: 'clip-delete', id: c.id }, (r) => r.type === 'clip-removed' && r.id === c.id);
      if (m.type === 'error') throw new Error(m.message);
    } catch (e) {
      this.ctx.notify(`Cannot delete: ${e instanceof Error ? e.message : e}`);
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
