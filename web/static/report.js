// @ts-check
// Error reports: what goes wrong in the page (an uncaught error, a promise
// rejected with nobody to catch it, a media operation that failed) is told
// to the server with client-error (docs/protocol.md, Error reports), so
// that the operator sees what people hit. A report says the kind, the
// error's name and message, and where (file:line:column, never a URL with
// its query); nothing about the person. Each message goes at most once a
// minute, and a page sends at most MAX_REPORTS in its life; reports made
// while there is no connection wait for the next join (within the cap).

/** @typedef {'error'|'unhandledrejection'|'getusermedia'|'webrtc'|'playback'|'recorder'} ReportKind */

/** At most this many reports per page load. */
const MAX_REPORTS = 10;
/** The same message of the same kind again only after this long. */
const REPEAT_MS = 60_000;
/** The server keeps 500 bytes; characters are at most 4 bytes. */
const MAX_MESSAGE = 500;

export class Reporter {
  /**
   * @param {(m: {type: string, kind: ReportKind, message: string, source?: string}) => boolean} send
   *   sends a report; false when it cannot now (no connection, no room)
   */
  constructor(send) {
    this.send = send;
    /** reports made (sent or waiting) in this page's life */
    this.count = 0;
    /** @type {Map<string, number>} when each kind and message was last reported */
    this.last = new Map();
    /** @type {{type: string, kind: ReportKind, message: string, source?: string}[]} waiting for a connection */
    this.waiting = [];
  }

  /**
   * Listens for the page's uncaught errors and unhandled rejections.
   * @param {Window} win
   */
  install(win) {
    win.addEventListener('error', (ev) => {
      // A resource that failed to load (an <img>, a <script>) comes here
      // too, without an error: that is the network's business.
      if (!(ev instanceof ErrorEvent)) return;
      const where = ev.filename ? `${fileOf(ev.filename)}:${ev.lineno}:${ev.colno}` : sourceOf(ev.error);
      this.report('error', ev.error ?? ev.message, where);
    });
    win.addEventListener('unhandledrejection', (ev) => this.report('unhandledrejection', ev.reason));
  }

  /**
   * Reports an error of a kind, unless it was reported within the last
   * minute or the page has sent its share.
   * @param {ReportKind} kind
   * @param {unknown} err an Error (its cause, when it wraps one), or anything
   * @param {string} [where] file:line:column; from the error's stack if not given
   */
  report(kind, err, where) {
    const e = err instanceof Error && err.cause !== undefined ? err.cause : err;
    const message = describe(e).slice(0, MAX_MESSAGE);
    const key = `${kind}\n${message}`;
    const now = Date.now();
    const last = this.last.get(key);
    if ((last !== undefined && now - last < REPEAT_MS) || this.count >= MAX_REPORTS) return;
    this.last.set(key, now);
    this.count++;
    /** @type {{type: string, kind: ReportKind, message: string, source?: string}} */
    const m = { type: 'client-error', kind, message };
    const source = where ?? sourceOf(err);
    if (source) m.source = source;
    if (!this.send(m)) this.waiting.push(m);
  }

  /** Sends the reports that waited (called once the page is in a room). */
  flush() {
    while (this.waiting.length && this.send(this.waiting[0])) this.waiting.shift();
  }
}

/**
 * An error as one line: its name and message.
 * @param {unknown} e
 */
function describe(e) {
  if (e instanceof Error || e instanceof DOMException) return e.message ? `${e.name}: ${e.message}` : e.name;
  if (typeof e === 'string') return e;
  try {
    return JSON.stringify(e) ?? String(e);
  } catch {
    return String(e);
  }
}

/**
 * The file of a script's URL, without its folders, query or fragment.
 * @param {string} url
 */
function fileOf(url) {
  try {
    return new URL(url, location.href).pathname.split('/').pop() || '';
  } catch {
    return '';
  }
}

/**
 * Where an error was thrown, from the first line of its stack that names
 * a script: file:line:column.
 * @param {unknown} e
 */
function sourceOf(e) {
  const stack = e instanceof Error ? (e.stack ?? '') : '';
  const m = /([\w.-]+\.m?js)(?:[?#][^:\s)]*)?:(\d+):(\d+)/.exec(stack);
  return m ? `${m[1]}:${m[2]}:${m[3]}` : undefined;
}
