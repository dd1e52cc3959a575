// @ts-check
// The room's storage: how much of its byte budget (max_room_bytes) its
// clips take, drafts included, as a meter under the recorder. joined says
// it at the start (room.used_bytes) and every clip message after a change
// (room_bytes), deletions, expiries and evictions included
// (docs/protocol.md, Room storage). Rooms that keep no clips do not show it.

import { byId, formatBytes } from './dom.js';
import { t, onLanguage } from './i18n.js';

export class Usage {
  /** @param {import('./signal.js').Signal} signal */
  constructor(signal) {
    this.box = byId('storage');
    this.text = byId('storage-text');
    this.meter = /** @type {HTMLMeterElement} */ (byId('storage-meter'));
    this.bytes = 0;
    this.max = 0;
    for (const type of ['clip-added', 'clip-updated', 'clip-removed']) {
      signal.on(type, (m) => {
        if (typeof m.room_bytes === 'number') this.set(m.room_bytes);
      });
    }
    onLanguage(() => this.render());
  }

  /**
   * A room joined: its budget and what it uses now. A server that does
   * not say (no used_bytes) shows nothing.
   * @param {{live: boolean, archive: boolean, max_room_bytes?: number, used_bytes?: number}} room
   */
  joined(room) {
    this.box.hidden = (room.live && !room.archive) || typeof room.used_bytes !== 'number';
    this.max = room.max_room_bytes ?? 0;
    this.set(room.used_bytes ?? 0);
  }

  /** @param {number} bytes */
  set(bytes) {
    this.bytes = bytes;
    this.render();
  }

  render() {
    const used = formatBytes(this.bytes);
    this.text.textContent = this.max > 0 ? t('storage.used', { used, max: formatBytes(this.max) }) : t('storage.noLimit', { used });
    this.meter.hidden = !(this.max > 0);
    this.meter.value = this.max > 0 ? Math.min(1, this.bytes / this.max) : 0;
    this.box.dataset.bytes = String(this.bytes);
  }
}
