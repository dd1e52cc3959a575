// @ts-check
// The phone panel: who is online, chat to the room or to one person, and
// calls (CALL/HANGUP, ringing, accept/decline, busy and timeout). Chat
// messages, comings and goings and calls go into the room's timeline.

import { h, byId, load, save, formatClock } from './dom.js';
import { chatBubble } from './bubble.js';
import { t, onLanguage } from './i18n.js';

/** @typedef {import('./signal.js').Msg} Msg */
/** @typedef {{id: string, name: string}} Peer */
/** @typedef {'idle'|'calling'|'ringing'|'active'|'held'} CallState */

/** Why a call ended, as the other party did it ({who}): keys of the catalogue. */
const CALL_ENDED = /** @type {Record<string, string>} */ ({
  declined: 'call.endedDeclined',
  busy: 'call.endedBusy',
  timeout: 'call.endedTimeout',
  hangup: 'call.ended',
  left: 'call.endedLost',
});

/**
 * How a call ended, with the other party's name.
 * @param {string} reason
 * @param {string} who
 */
function endedText(reason, who) {
  return t(CALL_ENDED[reason] ?? 'call.ended', { who });
}

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
    onLanguage(() => {
      // The call's state is said again when it next changes; the rest now.
      this.select(this.selected);
      this.showCallState(this.call);
      if (this.call?.state === 'ringing') this.ringingText.textContent = t(this.call.video ? 'call.ringingVideo' : 'call.ringing', { name: this.call.peer.name });
    });
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
      ctx.timeline.system(t('phone.joined', { name: m.participant.name }), { kind: 'presence' });
      if (this.selected) this.select(this.selected);
      else this.renderOnline();
    });
    s.on('participant-left', (m) => {
      this.peers.delete(m.participant.id);
      this.speaking.delete(m.participant.id);
      ctx.timeline.system(t('phone.left', { name: m.participant.name }), { kind: 'presence' });
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
          this.callState.textContent = t('call.endedOffline');
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
            title: self ? t('phone.you') : t('phone.sendOrCall', { name: p.name }),
            'data-name': p.name,
            onclick: () => this.select(this.selected?.name === p.name ? null : p),
          },
          p.name,
          self ? ` ${t('phone.youSuffix')}` : '',
          this.call && this.call.peer.name === p.name ? ' ☎' : '',
        );
        const kick =
          this.ctx.operator() && !self
            ? h('button', { type: 'button', className: 'kick', title: t('phone.kick', { name: p.name }), 'aria-label': t('phone.kick', { name: p.name }), onclick: () => this.kick(p) }, '✕')
            : null;
        return h('li', {}, btn, kick);
      }),
    );
    this.updateCallButtons();
  }

  /** @param {Peer} p */
  kick(p) {
    if (!confirm(t('phone.kickConfirm', { name: p.name }))) return;
    this.ctx.signal.send({ type: 'kick', to: p.id });
  }

  /** @param {Peer|null} p */
  select(p) {
    if (p && p.name === this.ctx.me.name) p = null;
    this.selected = p;
    const away = p && ![...this.peers.values()].some((x) => x.name === p.name);
    this.chatTo.textContent = p ? (away ? t('chat.toAway', { name: p.name }) : t('chat.toOnly', { name: p.name })) : t('chat.toAll');
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
      this.ctx.notify(t('chat.notSent'));
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
      priv = t('chat.privWaiting', { name: m.to_name });
      with_ = m.to_name;
    } else if (kind === 'offline') {
      priv = t('chat.privLeft');
      with_ = from.name;
    } else if (m.to || m.to_name) {
      const to = this.peers.get(m.to)?.name ?? m.to_name ?? 'someone';
      priv = mine ? t('chat.privTo', { name: to }) : t('chat.privToYou');
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
      this.ctx.alerts.show('message', t('alert.private', { name: from.name }), String(m.text ?? ''), () => {
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
    this.unreadBadge.title = t('conv.unread', { n: this.unread });
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
      this.ctx.notify(t('call.notConnected'));
      return;
    }
    this.callState.textContent = t('call.calling', { name: p.name });
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
    else this.ctx.alerts.show('call', t('alert.calling', { name: m.peer.name }), m.video ? t('alert.videoCall') : t('alert.call'), () => (this.call?.state === 'ringing' ? byId('accept') : null));
  }

  /** @param {Msg} m */
  onCallEnded(m) {
    const who = this.call?.peer.name ?? m.peer?.name ?? '';
    if (m.call && this.call && this.call.id !== m.call) return;
    const was = this.call;
    this.logCall(was, m, who);
    this.setCall(null);
    if (was?.state === 'ringing') {
      // We were called and did not pick up: the caller gave up, or it
      // rang out.
      this.callState.textContent = m.reason === 'declined' ? t('call.youDeclined', { who }) : t('call.missed', { who });
    } else {
      this.callState.textContent = endedText(m.reason, who);
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
    const video = !!(c?.video || m.video);
    let text;
    if (c && (c.state === 'active' || c.state === 'held') && this.callStarted) {
      text = t(video ? 'log.videoCallWith' : 'log.callWith', { who, length: formatClock((Date.now() - this.callStarted) / 1000) });
    } else if (c?.state === 'ringing') {
      text = m.reason === 'declined' ? t('log.youDeclined', { who }) : t('log.missed', { who });
    } else if (m.reason === 'hangup' || m.reason === 'left') {
      text = t(video ? 'log.videoCallCancelled' : 'log.callCancelled', { who });
    } else {
      text = t(video ? 'log.videoCallTo' : 'log.callTo', { who, why: endedText(m.reason, who) });
    }
    this.callStarted = 0;
    this.ctx.timeline.system(text, { kind: 'call' });
  }

  /** @param {{id: string, state: CallState, peer: Peer, video: boolean}|null} c */
  setCall(c) {
    this.call = c;
    this.ringing.hidden = c?.state !== 'ringing';
    if (c?.state === 'ringing') {
      this.ringingText.textContent = t(c.video ? 'call.ringingVideo' : 'call.ringing', { name: c.peer.name });
      this.startRing();
    } else {
      this.stopRing();
    }
    this.showCallState(c);
    this.callState.dataset.state = c?.state ?? 'idle';
    this.renderOnline();
    this.ctx.callChanged(c && (c.state === 'active' || c.state === 'held') ? c : null);
  }

  /** @param {{state: CallState, peer: Peer}|null} c */
  showCallState(c) {
    const states = { calling: 'call.stateCalling', ringing: 'call.stateRinging', active: 'call.stateActive', held: 'call.stateHeld' };
    this.callState.textContent = c ? t(states[/** @type {'calling'} */ (c.state)], { name: c.peer.name }) : t('call.ready');
  }

  updateCallButtons() {
    const inCall = !!this.call;
    this.callBtn.hidden = inCall;
    this.hangupBtn.hidden = !inCall;
    this.hangupBtn.textContent = this.call?.state === 'ringing' ? t('call.decline') : t('call.hangup');
    this.callBtn.disabled = !this.onlinePeer() || !this.ctx.connected();
    this.callBtn.textContent = this.selected ? t('call.callName', { name: this.selected.name }) : t('call.call');
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
