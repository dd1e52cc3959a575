// @ts-check
// The phone panel: who is online, chat to the room or to one person, and
// calls (CALL/HANGUP, ringing, accept/decline, busy and timeout). Chat
// messages, comings and goings and calls go into the room's timeline.

import { h, byId, load, save, formatClock } from './dom.js';
import { chatBubble } from './bubble.js';

/** @typedef {import('./signal.js').Msg} Msg */
/** @typedef {{id: string, name: string}} Peer */
/** @typedef {'idle'|'calling'|'ringing'|'active'|'held'} CallState */

const CALL_ENDED_TEXT = /** @type {Record<string, string>} */ ({
  declined: 'declined the call',
  busy: 'is busy',
  timeout: 'did not answer',
  hangup: 'the call ended',
  left: 'the connection was lost; the call ended',
});

export class Phone {
  /**
   * @param {import('./app.js').Ctx} ctx
   */
  constructor(ctx) {
    this.ctx = ctx;
    /** @type {Map<string, Peer>} */
    this.peers = new Map();
    /** @type {Peer|null} the selected recipient */
    this.selected = null;
    /** @type {{id: string, state: CallState, peer: Peer, video: boolean}|null} */
    this.call = null;
    this.unread = 0;
    /** @type {Set<string>} messages shown, so that a rejoin's history adds only what is new */
    this.shown = new Set();
    /** when the call in progress started (ms), for its length */
    this.callStarted = 0;
    /** @type {Set<string>} who speaks now (the server's speaking), ringed in the list */
    this.speaking = new Set();
    this.online = byId('online');
    this.chatList = byId('timeline');
    this.chatText = /** @type {HTMLInputElement} */ (byId('chat-text'));
    this.chatTo = byId('chat-to');
    this.chatToClear = /** @type {HTMLButtonElement} */ (byId('chat-to-clear'));
    this.unreadBadge = byId('unread');
    this.callBtn = /** @type {HTMLButtonElement} */ (byId('call'));
    this.hangupBtn = /** @type {HTMLButtonElement} */ (byId('hangup'));
    this.callState = byId('call-state');
    this.callVideo = /** @type {HTMLInputElement} */ (byId('call-video'));
    this.autoAnswer = /** @type {HTMLInputElement} */ (byId('auto-answer'));
    this.ringing = byId('ringing');
    this.ringingText = byId('ringing-text');
    /** @type {AudioContext|null} */
    this.ringCtx = null;
    this.ringTimer = 0;

    this.autoAnswer.checked = load('parley.autoAnswer', false);
    this.autoAnswer.addEventListener('change', () => save('parley.autoAnswer', this.autoAnswer.checked));
    byId('chat-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.sendChat();
    });
    this.chatToClear.addEventListener('click', () => this.select(null));
    this.callBtn.addEventListener('click', () => this.startCall());
    this.hangupBtn.addEventListener('click', () => this.hangup());
    byId('accept').addEventListener('click', () => this.accept());
    byId('decline').addEventListener('click', () => this.decline());
    // Reading the chat clears the unread count.
    const seen = () => this.markRead();
    this.chatText.addEventListener('focus', seen);
    this.chatList.addEventListener('pointerdown', seen);
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden && document.activeElement === this.chatText) this.markRead();
    });

    const s = ctx.signal;
    s.on('participant-joined', (m) => {
      this.peers.set(m.participant.id, m.participant);
      ctx.timeline.system(`${m.participant.name} joined`, { kind: 'presence' });
      if (this.selected) this.select(this.selected);
      else this.renderOnline();
    });
    s.on('participant-left', (m) => {
      this.peers.delete(m.participant.id);
      this.speaking.delete(m.participant.id);
      ctx.timeline.system(`${m.participant.name} left`, { kind: 'presence' });
      // Still selected: what is written now waits for them.
      if (this.selected) this.select(this.selected);
      else this.renderOnline();
    });
    s.on('chat', (m) => this.onChat(m));
    s.on('speaking', (m) => {
      if (m.speaking) this.speaking.add(m.id);
      else this.speaking.delete(m.id);
      const p = this.peers.get(m.id);
      if (!p) return;
      for (const b of this.online.querySelectorAll('.person')) {
        if (/** @type {HTMLElement} */ (b).dataset.name === p.name) b.classList.toggle('speaking', !!m.speaking);
      }
    });
    s.on('call-ringing', (m) => this.setCall({ id: m.call, state: 'calling', peer: m.peer, video: !!m.video }));
    s.on('call-incoming', (m) => this.onIncoming(m));
    s.on('call-started', (m) => {
      // A call resumed after a rejoin keeps its start.
      if (!this.call || this.call.id !== m.call || !this.callStarted) this.callStarted = Date.now();
      this.setCall({ id: m.call, state: 'active', peer: m.peer, video: !!m.video });
    });
    s.on('call-held', (m) => {
      if (this.call && this.call.id === m.call) this.setCall({ ...this.call, state: 'held' });
    });
    s.on('call-ended', (m) => this.onCallEnded(m));
  }

  /**
   * A (re)join: the room's participants now.
   * @param {Peer[]} participants
   * @param {boolean} allowVideo
   */
  joined(participants, allowVideo, history = [], offline = []) {
    this.peers = new Map(participants.map((p) => [p.id, p]));
    for (const m of history) this.onChat(m, 'history');
    for (const m of offline) this.onChat(m, 'offline');
    if (this.selected) this.select(this.selected); // by name: online again, or still away
    byId('call-video-row').hidden = !allowVideo;
    if (!allowVideo) this.callVideo.checked = false;
    if (this.call && this.call.state !== 'active' && this.call.state !== 'held') this.setCall(null);
    if (this.call) {
      // The server resumes a call right after the join (call-started); if
      // none comes, it ended while we were away.
      const c = this.call;
      this.setCall({ ...c, state: 'held' });
      window.setTimeout(() => {
        if (this.call && this.call.id === c.id && this.call.state === 'held') {
          this.setCall(null);
          this.callState.textContent = 'the call ended while you were offline';
        }
      }, 3000);
    }
    this.renderOnline();
  }

  renderOnline() {
    const me = this.ctx.me.id;
    const sorted = [...this.peers.values()].sort((a, b) => (a.id === me ? -1 : b.id === me ? 1 : a.name.localeCompare(b.name)));
    this.online.replaceChildren(
      ...sorted.map((p) => {
        const self = p.id === me;
        const btn = h(
          'button',
          {
            type: 'button',
            className:
              'person' + (this.selected?.name === p.name && !self ? ' selected' : '') + (self ? ' self' : '') + (this.speaking.has(p.id) ? ' speaking' : ''),
            disabled: self,
            title: self ? 'you' : `send to ${p.name} or call`,
            'data-name': p.name,
            onclick: () => this.select(this.selected?.name === p.name ? null : p),
          },
          p.name,
          self ? ' (you)' : '',
          this.call && this.call.peer.name === p.name ? ' ☎' : '',
        );
        const kick =
          this.ctx.operator() && !self
            ? h('button', { type: 'button', className: 'kick', title: `remove ${p.name} from the room`, onclick: () => this.kick(p) }, '✕')
            : null;
        return h('li', {}, btn, kick);
      }),
    );
    this.updateCallButtons();
  }

  /** @param {Peer} p */
  kick(p) {
    if (!confirm(`Remove ${p.name} from the room?`)) return;
    this.ctx.signal.send({ type: 'kick', to: p.id });
  }

  /** @param {Peer|null} p */
  select(p) {
    if (p && p.name === this.ctx.me.name) p = null;
    this.selected = p;
    const away = p && ![...this.peers.values()].some((x) => x.name === p.name);
    this.chatTo.textContent = p ? (away ? `to ${p.name} (away: kept until they come)` : `to ${p.name} only`) : 'to everyone';
    this.chatToClear.hidden = !p;
    this.renderOnline();
  }

  sendChat() {
    const text = this.chatText.value.trim();
    if (!text) return;
    /** @type {Msg} */
    const m = { type: 'chat', text };
    if (this.selected) {
      // Someone online by id; someone away by name (the server keeps it).
      const online = this.onlinePeer();
      if (online) m.to = online.id;
      else m.to_name = this.selected.name;
    }
    if (!this.ctx.signal.send(m)) {
      this.ctx.notify('Not connected: the message was not sent.');
      return;
    }
    this.chatText.value = '';
  }

  /**
   * Shows a chat message: live, from the room's history, or one that
   * waited for us while we were away.
   * @param {Msg} m
   * @param {'live'|'history'|'offline'} [kind]
   */
  onChat(m, kind = 'live') {
    const key = `${m.from?.name}|${m.ts}|${m.text}|${m.to ?? m.to_name ?? ''}`;
    if (this.shown.has(key)) return; // history repeated after a rejoin
    this.shown.add(key);
    const mine = m.from?.id === this.ctx.me.id && kind === 'live';
    const from = { id: m.from?.id ?? '', name: m.from?.name ?? '?' };
    let priv = '';
    let with_ = '';
    if (m.queued) {
      priv = `Private · waiting for ${m.to_name}`;
      with_ = m.to_name;
    } else if (kind === 'offline') {
      priv = 'Private · left for you while you were away';
      with_ = from.name;
    } else if (m.to || m.to_name) {
      const to = this.peers.get(m.to)?.name ?? m.to_name ?? 'someone';
      priv = mine ? `Private · to ${to}` : 'Private · to you';
      with_ = mine ? to : from.name;
    }
    const li = chatBubble({ from, text: String(m.text ?? ''), ts: m.ts ?? '', mine, kind, priv, queued: !!m.queued }, () => this.select(from));
    const time = Date.parse(m.ts ?? '');
    this.ctx.timeline.add(li, {
      time: isNaN(time) ? Date.now() : time,
      live: kind !== 'history',
      group: priv ? `p:${from.name}>${with_}` : `a:${from.name}`,
      mine,
    });
    if (!mine && kind !== 'history' && (document.hidden || document.activeElement !== this.chatText)) {
      this.unread++;
      this.renderUnread();
    }
    if (priv && !mine && kind === 'live') {
      this.ctx.alerts.show('message', `${from.name} (private)`, String(m.text ?? ''), () => {
        li.tabIndex = -1;
        return li;
      });
    }
  }

  markRead() {
    this.unread = 0;
    this.renderUnread();
  }

  renderUnread() {
    this.unreadBadge.hidden = this.unread === 0;
    this.unreadBadge.textContent = String(this.unread);
    this.unreadBadge.title = `${this.unread} unread`;
    document.title = this.unread ? `(${this.unread}) parley` : 'parley';
  }

  // Calls.

  /** The selected person, if online now. */
  onlinePeer() {
    const sel = this.selected;
    if (!sel) return undefined;
    return [...this.peers.values()].find((p) => p.name === sel.name && p.id !== this.ctx.me.id);
  }

  startCall() {
    const p = this.onlinePeer();
    if (!p || this.call) return;
    if (!this.ctx.signal.send({ type: 'call', to: p.id, video: this.callVideo.checked })) {
      this.ctx.notify('Not connected: cannot call.');
      return;
    }
    this.callState.textContent = `calling ${p.name}…`;
  }

  hangup() {
    const c = this.call;
    if (!c) return;
    const type = c.state === 'ringing' ? 'call-decline' : 'hangup';
    this.ctx.signal.send({ type, call: c.id });
  }

  accept() {
    if (this.call?.state !== 'ringing') return;
    this.ctx.signal.send({ type: 'call-accept', call: this.call.id });
  }

  decline() {
    if (this.call?.state !== 'ringing') return;
    this.ctx.signal.send({ type: 'call-decline', call: this.call.id });
  }

  /** @param {Msg} m */
  onIncoming(m) {
    this.setCall({ id: m.call, state: 'ringing', peer: m.peer, video: !!m.video });
    if (this.autoAnswer.checked) this.accept();
    else this.ctx.alerts.show('call', `${m.peer.name} is calling`, m.video ? 'A video call' : 'A call', () => (this.call?.state === 'ringing' ? byId('accept') : null));
  }

  /** @param {Msg} m */
  onCallEnded(m) {
    const who = this.call?.peer.name ?? m.peer?.name ?? '';
    const text = CALL_ENDED_TEXT[m.reason] ?? 'the call ended';
    if (m.call && this.call && this.call.id !== m.call) return;
    const was = this.call;
    this.logCall(was, m, who);
    this.setCall(null);
    if (was?.state === 'ringing') {
      // We were called and did not pick up: the caller gave up, or it
      // rang out.
      this.callState.textContent = m.reason === 'declined' ? `you declined the call from ${who}` : `missed call from ${who}`;
    } else {
      this.callState.textContent = m.reason === 'hangup' || m.reason === 'left' ? text : `${who} ${text}`;
    }
  }

  /**
   * Puts an ended call in the timeline, as phones list them: its length,
   * or a missed call for the one who was called.
   * @param {{id: string, state: CallState, peer: Peer, video: boolean}|null} c the call as it was
   * @param {Msg} m its call-ended
   * @param {string} who the other party
   */
  logCall(c, m, who) {
    if (!who) return; // a call we knew nothing of
    const what = c?.video || m.video ? 'Video call' : 'Call';
    let text;
    if (c && (c.state === 'active' || c.state === 'held') && this.callStarted) {
      text = `${what} with ${who} · ${formatClock((Date.now() - this.callStarted) / 1000)}`;
    } else if (c?.state === 'ringing') {
      text = m.reason === 'declined' ? `You declined a call from ${who}` : `Missed call from ${who}`;
    } else {
      text = `${what} to ${who}: ${who} ${CALL_ENDED_TEXT[m.reason] ?? 'the call ended'}`;
      if (m.reason === 'hangup' || m.reason === 'left') text = `${what} to ${who}: cancelled`;
    }
    this.callStarted = 0;
    this.ctx.timeline.system(text, { kind: 'call' });
  }

  /** @param {{id: string, state: CallState, peer: Peer, video: boolean}|null} c */
  setCall(c) {
    this.call = c;
    this.ringing.hidden = c?.state !== 'ringing';
    if (c?.state === 'ringing') {
      this.ringingText.textContent = `${c.peer.name} is calling${c.video ? ' (video)' : ''}`;
      this.startRing();
    } else {
      this.stopRing();
    }
    const states = { calling: `ringing ${c?.peer.name}…`, ringing: 'incoming call', active: `in a call with ${c?.peer.name}`, held: `call with ${c?.peer.name} on hold: reconnecting…` };
    this.callState.textContent = c ? states[/** @type {'calling'} */ (c.state)] : 'ready';
    this.callState.dataset.state = c?.state ?? 'idle';
    this.renderOnline();
    this.ctx.callChanged(c && (c.state === 'active' || c.state === 'held') ? c : null);
  }

  updateCallButtons() {
    const inCall = !!this.call;
    this.callBtn.hidden = inCall;
    this.hangupBtn.hidden = !inCall;
    this.hangupBtn.textContent = this.call?.state === 'ringing' ? 'Decline' : 'Hang up';
    this.callBtn.disabled = !this.onlinePeer() || !this.ctx.connected();
    this.callBtn.textContent = this.selected ? `Call ${this.selected.name}` : 'Call';
  }

  startRing() {
    if (this.ringTimer) return;
    const beep = () => {
      try {
        const ctx = (this.ringCtx ??= new AudioContext());
        const o = ctx.createOscillator();
        const g = ctx.createGain();
        o.frequency.value = 440;
        g.gain.setValueAtTime(0.1, ctx.currentTime);
        g.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + 0.8);
        o.connect(g).connect(ctx.destination);
        o.start();
        o.stop(ctx.currentTime + 0.8);
      } catch {
        // no sound; the dialog still shows
      }
    };
    beep();
    this.ringTimer = window.setInterval(beep, 2000);
  }

  stopRing() {
    clearInterval(this.ringTimer);
    this.ringTimer = 0;
  }
}
