// @ts-check
// Desktop notifications: a private message, an incoming call and, when
// asked for, a new clip from someone else, while the page is not in front
// of the person (hidden, or another window has the focus). The browser's
// permission is asked for only when the person turns them on in the
// settings, never on load. Clicking one brings the tab forward and
// focuses what it was about.

import { byId, load, save } from './dom.js';
import { t } from './i18n.js';

/** @typedef {'message'|'call'|'clip'} AlertKind */

export class Alerts {
  constructor() {
    this.on = /** @type {HTMLInputElement} */ (byId('notify-on'));
    this.clips = /** @type {HTMLInputElement} */ (byId('notify-clips'));
    this.state = byId('notify-state');
    /** @type {Map<AlertKind, () => HTMLElement|null>} what the latest notification of each kind is about */
    this.targets = new Map();
    const supported = 'Notification' in window;
    // Turned on earlier, and still allowed: a permission taken back in
    // the browser's settings turns them off here too.
    this.on.checked = supported && load('parley.notify', false) && Notification.permission === 'granted';
    this.clips.checked = load('parley.notifyClips', false);
    this.on.disabled = !supported;
    if (!supported) this.state.textContent = t('notify.unsupported');
    this.render();
    this.on.addEventListener('change', () => this.turn(this.on.checked));
    this.clips.addEventListener('change', () => save('parley.notifyClips', this.clips.checked));
    navigator.serviceWorker?.addEventListener('message', (ev) => {
      if (ev.data?.type === 'notification-click') this.clicked(ev.data.kind);
    });
  }

  /** @param {boolean} on */
  async turn(on) {
    if (on && Notification.permission !== 'granted') {
      this.state.textContent = t('notify.asking');
      let p = Notification.permission;
      try {
        p = await Notification.requestPermission();
      } catch {
        // an older browser's callback form: treated as not granted
      }
      if (p !== 'granted') {
        on = false;
        this.on.checked = false;
        this.state.textContent =
          p === 'denied' ? t('notify.blocked') : t('notify.notAllowed');
      }
    }
    save('parley.notify', on);
    if (on) this.state.textContent = '';
    this.render();
  }

  render() {
    this.clips.disabled = !this.on.checked;
  }

  /**
   * Shows a notification of kind unless the page is in front of the
   * person or they did not ask for it. Clicking it focuses target.
   * @param {AlertKind} kind
   * @param {string} title
   * @param {string} body
   * @param {() => HTMLElement|null} target what to focus on a click
   */
  show(kind, title, body, target) {
    if (!this.on.checked || (kind === 'clip' && !this.clips.checked)) return;
    if (!('Notification' in window) || Notification.permission !== 'granted') return;
    if (document.visibilityState === 'visible' && document.hasFocus()) return;
    this.targets.set(kind, target);
    const opts = { body, tag: `parley-${kind}`, icon: '/icon-192.png', data: { kind } };
    try {
      const n = new Notification(title, opts);
      n.onclick = () => {
        window.focus();
        n.close();
        this.clicked(kind);
      };
    } catch {
      // Chrome on Android makes them only through the service worker,
      // which hands the click back as a message (sw.js).
      navigator.serviceWorker?.ready.then((r) => r.showNotification(title, opts)).catch(() => {});
    }
  }

  /**
   * A notification of kind was clicked: the item it was about gets the focus.
   * @param {AlertKind} kind
   */
  clicked(kind) {
    const el = this.targets.get(kind)?.();
    if (!el) return;
    el.scrollIntoView({ block: 'nearest' });
    el.focus();
  }
}
