// @ts-check
// Sending a clip recorded elsewhere: the upload button, or files dropped
// on the conversation. Each goes to the clip API as the person in the room
// (POST /api/rooms/{room}/clips, multipart, with the owner key), one after
// the other, with a progress bar; a refusal is shown as the server words
// it (too big, not a clip it takes, too many uploads). The clip itself
// arrives as any other, with clip-added (a draft in forum rooms).

import { byId, formatBytes } from './dom.js';
import { t, has } from './i18n.js';

/** What each refusal is, by its HTTP status: keys of the catalogue. */
const REFUSED = /** @type {Record<number, string>} */ ({
  400: 'upload.400',
  401: 'upload.401',
  404: 'upload.404',
  413: 'upload.413',
  415: 'upload.415',
  422: 'upload.422',
  429: 'upload.429',
});

/**
 * Why the server refused, in the language in use: the catalogue's text
 * for the answer's stable code (http.<code>), else the server's own words.
 * @param {string} body the answer, {"error": …, "code": …}
 * @param {string} statusText
 */
export function refusal(body, statusText) {
  try {
    const v = JSON.parse(body);
    if (v.code && has(`http.${v.code}`)) return t(`http.${v.code}`);
    return String(v.error ?? '') || statusText;
  } catch {
    return statusText;
  }
}

/** @type {WeakSet<XMLHttpRequest>} uploads the user stopped */
const stopped = new WeakSet();

export class Uploader {
  /**
   * @param {import('./app.js').Ctx} ctx
   * @param {() => string} description the description to send with a file
   * @param {(file: File) => void} sent a file was taken (the description is used up)
   */
  constructor(ctx, description, sent) {
    this.ctx = ctx;
    this.description = description;
    this.sent = sent;
    /** @type {File[]} waiting their turn */
    this.queue = [];
    /** @type {XMLHttpRequest|null} */
    this.xhr = null;
    this.button = /** @type {HTMLButtonElement} */ (byId('upload'));
    this.input = /** @type {HTMLInputElement} */ (byId('upload-file'));
    this.row = byId('upload-row');
    this.bar = /** @type {HTMLProgressElement} */ (byId('upload-progress'));
    this.text = byId('upload-text');
    this.error = byId('upload-error');
    this.errorText = byId('upload-error-text');
    this.zone = byId('drop-zone');

    this.button.addEventListener('click', () => this.input.click());
    this.input.addEventListener('change', () => {
      this.add([...(this.input.files ?? [])]);
      this.input.value = '';
    });
    byId('upload-abort').addEventListener('click', () => this.stop());
    byId('upload-error-close').addEventListener('click', () => (this.error.hidden = true));

    // Dropping files on the conversation. Only drags that carry files are
    // taken; dragged text or links are left to the page.
    const box = byId('timeline-box');
    let depth = 0;
    /** @param {DragEvent} ev */
    const files = (ev) => !!ev.dataTransfer && [...ev.dataTransfer.types].includes('Files');
    box.addEventListener('dragenter', (ev) => {
      if (!files(ev) || !this.allowed()) return;
      ev.preventDefault();
      depth++;
      this.zone.hidden = false;
    });
    box.addEventListener('dragover', (ev) => {
      if (!files(ev) || !this.allowed()) return;
      ev.preventDefault();
      if (ev.dataTransfer) ev.dataTransfer.dropEffect = 'copy';
    });
    box.addEventListener('dragleave', () => {
      if (depth > 0 && --depth === 0) this.zone.hidden = true;
    });
    box.addEventListener('drop', (ev) => {
      depth = 0;
      this.zone.hidden = true;
      if (!files(ev) || !this.allowed()) return;
      ev.preventDefault();
      this.add([...(ev.dataTransfer?.files ?? [])]);
    });
    // A file dropped anywhere else would make the browser open it in
    // place of the room.
    for (const t of ['dragover', 'drop']) {
      window.addEventListener(t, (ev) => {
        if (files(/** @type {DragEvent} */ (ev)) && this.ctx.inRoom()) ev.preventDefault();
      });
    }
  }

  /** Whether the room keeps clips, so that one may be sent to it. */
  allowed() {
    const r = this.ctx.room;
    return !!r && this.ctx.inRoom() && (!r.live || r.archive);
  }

  /** @param {File[]} list */
  add(list) {
    if (!list.length) return;
    this.error.hidden = true;
    this.queue.push(...list);
    if (!this.xhr) this.next();
  }

  next() {
    const file = this.queue.shift();
    if (!file) {
      this.row.hidden = true;
      return;
    }
    const room = this.ctx.room;
    if (file.size > room.max_clip_bytes) {
      this.refuse(t('upload.tooBig', { file: file.name, size: formatBytes(file.size), max: formatBytes(room.max_clip_bytes) }));
      this.next();
      return;
    }
    const form = new FormData();
    // Before the file, so that the clip is announced with it.
    const d = this.description();
    if (d) form.append('description', d);
    form.append('file', file, file.name);
    const xhr = new XMLHttpRequest();
    this.xhr = xhr;
    xhr.open('POST', `/api/rooms/${encodeURIComponent(room.name)}/clips`);
    xhr.setRequestHeader('Authorization', `Bearer ${this.ctx.ownerKey()}`);
    xhr.responseType = 'text';
    this.row.hidden = false;
    this.show(file, 0);
    xhr.upload.addEventListener('progress', (ev) => {
      if (ev.lengthComputable) this.show(file, ev.loaded / ev.total);
    });
    xhr.addEventListener('loadend', () => {
      this.xhr = null;
      if (xhr.status === 201) {
        this.sent(file);
      } else if (xhr.status === 0) {
        this.refuse(t(stopped.has(xhr) ? 'upload.stopped' : 'upload.connFailed', { file: file.name }));
      } else {
        const what = REFUSED[xhr.status] ? t(REFUSED[xhr.status]) : t('upload.failed', { status: String(xhr.status) });
        const wait = xhr.status === 429 ? xhr.getResponseHeader('Retry-After') : null;
        const said = refusal(xhr.responseText, xhr.statusText);
        this.refuse(t(wait ? 'upload.refusedWait' : 'upload.refused', { what, file: file.name, n: Number(wait), why: said }));
      }
      this.next();
    });
    xhr.send(form);
  }

  /**
   * @param {File} file
   * @param {number} fraction
   */
  show(file, fraction) {
    this.bar.value = fraction;
    this.text.textContent = t('upload.progress', { file: file.name, size: formatBytes(file.size), percent: Math.round(fraction * 100) });
  }

  /** @param {string} text */
  refuse(text) {
    this.errorText.textContent = text;
    this.error.hidden = false;
  }

  /** Stops the upload under way and drops those waiting. */
  stop() {
    this.queue = [];
    if (this.xhr) {
      stopped.add(this.xhr);
      this.xhr.abort();
    }
  }

  /** Leaving the room: what was not sent yet is not. */
  reset() {
    this.stop();
    this.row.hidden = true;
    this.error.hidden = true;
    this.zone.hidden = true;
  }
}
