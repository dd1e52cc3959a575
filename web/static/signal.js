// @ts-check
// The websocket to the server: JSON messages, replies matched by `req`,
// a keep-alive of its own, and reconnection with backoff. The protocol is
// described in docs/protocol.md.

import { t, serverText } from './i18n.js';

/** @typedef {{type: string, [k: string]: any}} Msg */
/** @typedef {'connecting'|'open'|'waiting'|'stopped'} SignalState */

const PING_EVERY_MS = 10_000;
const PONG_WITHIN_MS = 10_000;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15_000;
const STABLE_AFTER_MS = 10_000;
/** Redirects followed in a row before the next one waits as a retry does. */
const MAX_REDIRECTS = 5;

export class Signal {
  /** @param {string} url */
  constructor(url) {
    this.url = url;
    /**
     * The node of a cluster a redirect named, for the next connection
     * only: after a lost connection the client starts again from url
     * (or lastNode), which knows where the room lives then.
     */
    this.redirectTo = '';
    this.redirects = 0;
    /**
     * The last node a redirect sent this client to that took it. After a
     * lost connection the retries alternate between it and url: the
     * node that served the page may be gone (drained, stopped) while the
     * room lives on, and either node sends the client on to the room.
     */
    this.lastNode = '';
    /** @type {WebSocket|null} */
    this.ws = null;
    /** @type {SignalState} */
    this.state = 'stopped';
    this.attempt = 0;
    this.nextReq = 1;
    /** @type {Map<number, {resolve: (m: Msg) => void, reject: (e: Error) => void, timer: number}>} */
    this.pending = new Map();
    /** @type {Map<string, Set<(m: Msg) => void>>} */
    this.handlers = new Map();
    /** @type {(s: SignalState, detail: string) => void} */
    this.onstate = () => {};
    /** @type {() => void} */
    this.onopen = () => {};
    this.retryTimer = 0;
    this.pingTimer = 0;
    this.pongTimer = 0;
    this.stableTimer = 0;
    this.reconnectNow = () => {
      if (this.state === 'waiting') {
        clearTimeout(this.retryTimer);
        this.connect();
      }
    };
  }

  /**
   * Registers fn for server messages of the given type ('*' for all).
   * @param {string} type
   * @param {(m: Msg) => void} fn
   */
  on(type, fn) {
    let set = this.handlers.get(type);
    if (!set) this.handlers.set(type, (set = new Set()));
    set.add(fn);
  }

  start() {
    if (this.state !== 'stopped') return;
    window.addEventListener('online', this.reconnectNow);
    this.connect();
  }

  stop() {
    this.state = 'stopped';
    window.removeEventListener('online', this.reconnectNow);
    clearTimeout(this.retryTimer);
    this.clearTimers();
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      try {
        ws.send(JSON.stringify({ type: 'leave' }));
      } catch {
        // already closing
      }
      ws.close(1000);
    }
    this.failPending(new Error('left'));
    this.onstate('stopped', '');
  }

  connect() {
    this.state = 'connecting';
    this.onstate('connecting', this.attempt > 0 ? t('conn.reconnecting', { n: this.attempt + 1 }) : '');
    const url = this.redirectTo || (this.attempt % 2 === 1 && this.lastNode) || this.url;
    this.redirectTo = '';
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (e) {
      this.retry(t('conn.cannotConnect', { why: e instanceof Error ? e.message : String(e) }));
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      if (url !== this.url) this.lastNode = url;
      this.state = 'open';
      this.onstate('open', '');
      this.stableTimer = window.setTimeout(() => {
        this.attempt = 0;
        this.redirects = 0;
      }, STABLE_AFTER_MS);
      this.pingTimer = window.setInterval(() => this.ping(), PING_EVERY_MS);
      this.onopen();
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws || typeof ev.data !== 'string') return;
      /** @type {Msg} */
      let m;
      try {
        m = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (!m || typeof m.type !== 'string') return;
      this.dispatch(m);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.clearTimers();
      this.failPending(new Error(t('conn.lost')));
      if (this.state === 'stopped') return;
      if (this.redirectTo) {
        // The room lives on another node: join there at once.
        this.connect();
        return;
      }
      this.retry(ev.reason ? serverText({ code: ev.reason }, 'bye') : ev.code === 1006 ? t('conn.lost') : t('conn.closed', { code: String(ev.code) }));
    };
  }

  /** @param {string} why */
  retry(why) {
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
    const delay = Math.round(base * (0.75 + Math.random() * 0.5));
    this.attempt++;
    this.state = 'waiting';
    this.onstate('waiting', t('conn.retryIn', { why, n: Math.ceil(delay / 1000) }));
    this.retryTimer = window.setTimeout(() => this.connect(), delay);
  }

  /** Closes the current connection so that it reconnects. */
  drop() {
    this.ws?.close(4000, 'client reset');
  }

  clearTimers() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    clearTimeout(this.stableTimer);
    this.pongTimer = 0;
  }

  ping() {
    if (this.pongTimer) return;
    this.pongTimer = window.setTimeout(() => {
      this.pongTimer = 0;
      // No answer: the path is dead even if the socket does not know yet.
      this.ws?.close(4001, 'no answer from the server');
    }, PONG_WITHIN_MS);
    this.send({ type: 'ping' });
  }

  /**
   * A redirect (docs/protocol.md, A cluster of nodes): the server closes
   * this connection, and the next one goes to the node the room lives on.
   * @param {Msg} m
   */
  follow(m) {
    if (typeof m.url !== 'string' || !/^wss?:\/\/[^/]/.test(m.url)) return;
    this.redirects++;
    if (this.redirects > MAX_REDIRECTS) return; // as a lost connection: the retry waits
    this.redirectTo = m.url;
  }

  /** @param {Msg} m */
  dispatch(m) {
    if (m.type === 'redirect') this.follow(m);
    if (m.type === 'pong') {
      clearTimeout(this.pongTimer);
      this.pongTimer = 0;
    }
    if (typeof m.req === 'number' && this.pending.has(m.req)) {
      const p = /** @type {any} */ (this.pending.get(m.req));
      this.pending.delete(m.req);
      clearTimeout(p.timer);
      p.resolve(m);
    }
    for (const key of [m.type, '*']) {
      for (const fn of this.handlers.get(key) ?? []) {
        try {
          fn(m);
        } catch (e) {
          console.error('handler for', m.type, e);
        }
      }
    }
  }

  /**
   * Sends a message; false when there is no open connection.
   * @param {Msg} m
   */
  send(m) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(m));
    return true;
  }

  /**
   * Sends a message with a req of its own and no wait for a reply, so
   * that an error answering it can be told from others. Returns the req,
   * or 0 when there is no open connection.
   * @param {Msg} m
   */
  tagged(m) {
    const req = this.nextReq++;
    return this.send({ ...m, req }) ? req : 0;
  }

  /**
   * Sends a message and resolves with the server's direct reply (which may
   * be an error message), or rejects when the connection is lost first.
   * @param {Msg} m
   * @param {number} [timeoutMs]
   * @returns {Promise<Msg>}
   */
  request(m, timeoutMs = 15_000) {
    const req = this.nextReq++;
    return new Promise((resolve, reject) => {
      if (!this.send({ ...m, req })) {
        reject(new Error(t('conn.notConnected')));
        return;
      }
      const timer = window.setTimeout(() => {
        this.pending.delete(req);
        reject(new Error(t('conn.noAnswer', { what: m.type })));
      }, timeoutMs);
      this.pending.set(req, { resolve, reject, timer });
    });
  }

  /**
   * Sends a message whose success the server answers with an event rather
   * than a direct reply (record-stop → record-stopped, clip-publish →
   * clip-updated, …). Resolves with the first message that match accepts,
   * or with the error the server sends for this message.
   * @param {Msg} m
   * @param {(m: Msg) => boolean} match
   * @param {number} [timeoutMs]
   * @returns {Promise<Msg>}
   */
  ask(m, match, timeoutMs = 15_000) {
    return new Promise((resolve, reject) => {
      const req = this.nextReq++;
      /** @param {Msg} r */
      const fn = (r) => {
        if ((r.type === 'error' && r.req === req) || (r.type !== 'error' && match(r))) {
          done();
          resolve(r);
        }
      };
      const timer = window.setTimeout(() => {
        done();
        reject(new Error(t('conn.noAnswer', { what: m.type })));
      }, timeoutMs);
      const lost = { resolve: () => {}, reject: (/** @type {Error} */ e) => (done(), reject(e)), timer: 0 };
      const done = () => {
        clearTimeout(timer);
        this.handlers.get('*')?.delete(fn);
        this.pending.delete(-req);
      };
      // Registered under a negative key, so that only a lost connection
      // (failPending) settles it there; replies go through fn.
      this.pending.set(-req, lost);
      this.on('*', fn);
      if (!this.send({ ...m, req })) {
        done();
        reject(new Error(t('conn.notConnected')));
      }
    });
  }

  /** @param {Error} err */
  failPending(err) {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }
}
