// @ts-check
// The check before going live: in rooms where everyone sees and hears
// everyone, the person sees what they will send before the others do
// (their camera, only when they turn it on, and their microphone's level)
// and picks the devices, which are remembered. Nobody sees them until
// they press Join; they join with the camera off unless they turned it on.

import { h, byId, icon } from './dom.js';
import { t, fill as fillText, onLanguage } from './i18n.js';

export class Prejoin {
  /** @param {import('./media.js').Media} media */
  constructor(media) {
    this.media = media;
    this.el = byId('prejoin');
    this.video = /** @type {HTMLVideoElement} */ (byId('prejoin-video'));
    this.avatar = byId('prejoin-avatar');
    this.level = byId('prejoin-level');
    this.micSel = /** @type {HTMLSelectElement} */ (byId('prejoin-mic'));
    this.camSel = /** @type {HTMLSelectElement} */ (byId('prejoin-camera'));
    this.camRow = byId('prejoin-camera-row');
    this.camBtn = /** @type {HTMLButtonElement} */ (byId('prejoin-cam'));
    this.status = byId('prejoin-status');
    this.camera = false;
    this.allowVideo = false;
    this.raf = 0;
    /** @type {((camera: boolean) => void)|null} */
    this.onjoin = null;
    this.camLabel = /** @type {HTMLElement} */ (this.camBtn.querySelector('span'));
    this.el.querySelector('.mic-glyph')?.append(icon('mic'));
    onLanguage(() => {
      this.showTitle();
      this.showButton();
    });
    this.camBtn.addEventListener('click', () => this.setCamera(!this.camera));
    this.micSel.addEventListener('change', () => this.use('mic', this.micSel.value));
    this.camSel.addEventListener('change', () => this.use('camera', this.camSel.value));
    byId('prejoin-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const camera = this.camera;
      this.close();
      this.onjoin?.(camera);
    });
    byId('prejoin-back').addEventListener('click', () => {
      this.close();
      this.media.closeCamera();
      byId('entry').hidden = false;
      /** @type {HTMLButtonElement} */ (byId('entry-join')).disabled = false;
    });
  }

  /**
   * Shows the check for a room; onjoin is called with the camera's state
   * when the person joins.
   * @param {{name: string, title: string, allow_video: boolean}} room
   * @param {string} name the person's
   * @param {(camera: boolean) => void} onjoin
   */
  async open(room, name, onjoin) {
    this.onjoin = onjoin;
    this.allowVideo = room.allow_video;
    this.room = room.title || room.name;
    this.showTitle();
    this.avatar.textContent = (name || '?').slice(0, 1).toUpperCase();
    this.camRow.hidden = !room.allow_video;
    this.camBtn.hidden = !room.allow_video;
    byId('entry').hidden = true;
    this.el.hidden = false;
    this.setCamera(false);
    this.say('');
    try {
      await this.media.openMic();
    } catch (e) {
      this.say(e instanceof Error ? e.message : String(e));
    }
    await this.listDevices();
    this.meter();
    /** @type {HTMLButtonElement} */ (byId('prejoin-join')).focus();
  }

  close() {
    this.el.hidden = true;
    cancelAnimationFrame(this.raf);
    this.raf = 0;
    this.video.srcObject = null;
  }

  /** @param {string} text */
  say(text) {
    this.status.textContent = text;
    this.status.hidden = !text;
  }

  /** Fills the device lists, the open device chosen. */
  async listDevices() {
    const { mics, cameras } = await this.media.devices();
    /**
     * @param {HTMLSelectElement} sel
     * @param {MediaDeviceInfo[]} list
     * @param {string} open
     * @param {string} what the key of an unnamed device's name
     */
    const fill = (sel, list, open, what) => {
      sel.replaceChildren(...list.map((d, i) => new Option(d.label || t(what, { n: i + 1 }), d.deviceId)));
      if (open && list.some((d) => d.deviceId === open)) sel.value = open;
      sel.disabled = list.length < 2;
    };
    fill(this.micSel, mics, this.media.deviceOf('mic') || this.media.deviceIds.mic, 'prejoin.micN');
    fill(this.camSel, cameras, this.media.deviceOf('camera') || this.media.deviceIds.camera, 'prejoin.cameraN');
  }

  /**
   * @param {'mic'|'camera'} kind
   * @param {string} id
   */
  async use(kind, id) {
    try {
      await this.media.useDevice(kind, id);
      if (kind === 'camera') this.showCamera();
    } catch (e) {
      this.say(e instanceof Error ? e.message : String(e));
    }
  }

  /** @param {boolean} on */
  async setCamera(on) {
    this.camera = on && this.allowVideo;
    this.showButton();
    if (!this.camera) {
      this.media.closeCamera();
      this.showCamera();
      return;
    }
    try {
      await this.media.openCamera();
      await this.listDevices(); // labels come with the permission
    } catch (e) {
      this.camera = false;
      this.showButton();
      this.say(e instanceof Error ? e.message : String(e));
    }
    this.showCamera();
  }

  showTitle() {
    fillText(byId('prejoin-h'), 'prejoin.ready', { room: h('span', { id: 'prejoin-room' }, this.room ?? '') });
  }

  showButton() {
    this.camBtn.replaceChildren(icon(this.camera ? 'camera' : 'camera-off'), this.camLabel);
    this.camLabel.textContent = this.camera ? t('prejoin.camOffBtn') : t('prejoin.camOn');
    this.camBtn.classList.toggle('off', !this.camera);
  }

  showCamera() {
    const cam = this.camera ? this.media.camera : null;
    this.el.classList.toggle('has-video', !!cam);
    this.video.srcObject = cam ? new MediaStream([cam]) : null;
    if (cam) this.video.play().catch(() => {});
  }

  /** The microphone's level, drawn while the check is shown. */
  meter() {
    const tick = () => {
      const v = this.media.level();
      this.level.style.width = `${Math.round(v * 100)}%`;
      this.level.classList.toggle('hot', v > 0.9);
      this.el.dataset.level = v > 0.02 ? 'on' : 'off';
      this.raf = requestAnimationFrame(tick);
    };
    cancelAnimationFrame(this.raf);
    this.raf = requestAnimationFrame(tick);
  }
}
