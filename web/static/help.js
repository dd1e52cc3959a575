// @ts-check
// The help view and the language switch, both in the page's header, so
// that they are there on every screen: the room list, the check before
// going live, the room and a call.
//
// Help is a modal <dialog>: the browser keeps the focus inside it and
// closes it on Escape; the focus goes back to the help button. Its text is
// drawn from the catalogue each time it opens, in the language in use.

import { h, byId, icon } from './dom.js';
import { t, lang, languages, setLanguage, onLanguage } from './i18n.js';

/** What each icon of the room means: [icon, key of its meaning]. */
const ICONS = /** @type {[string, string][]} */ ([
  ['mic', 'help.icon.record'],
  ['lock', 'help.icon.lock'],
  ['upload', 'help.icon.upload'],
  ['play', 'help.icon.play'],
  ['from', 'help.icon.from'],
  ['download', 'help.icon.download'],
  ['delete', 'help.icon.delete'],
  ['info', 'help.icon.info'],
  ['volume-off', 'help.icon.muted'],
  ['headset-off', 'help.icon.deafen'],
  ['grid', 'help.icon.grid'],
  ['moon', 'help.icon.standby'],
  ['stop-after', 'help.icon.stopAfter'],
]);

/** The sections of the help: [key of the heading, keys of its paragraphs]. */
const SECTIONS = /** @type {[string, string[]][]} */ ([
  ['help.modes', ['help.mode.mediaChat', 'help.mode.videoChat', 'help.mode.mediaForum', 'help.mode.audioStream', 'help.mode.videoStream']],
  ['help.talk', ['help.record', 'help.cancel', 'help.lock', 'help.preview', 'help.upload']],
  ['help.listen', ['help.autoplay', 'help.standby', 'help.stopAfter', 'help.storage']],
  ['help.people', ['help.chat', 'help.call', 'help.operator']],
]);

/** Builds the help's content in the language in use. */
function content() {
  const body = [];
  for (const [head, paras] of SECTIONS) {
    body.push(h('h3', {}, t(head)), h('ul', {}, ...paras.map((k) => h('li', {}, t(k)))));
  }
  body.push(
    h('h3', {}, t('help.icons')),
    h(
      'ul',
      { className: 'help-icons' },
      ...ICONS.map(([name, k]) => h('li', {}, icon(name), h('span', {}, t(k)))),
      h('li', {}, h('span', { className: 'help-dot', 'aria-hidden': 'true' }), h('span', {}, t('help.icon.dot'))),
      h('li', {}, h('span', { className: 'help-ring', 'aria-hidden': 'true' }), h('span', {}, t('help.icon.ring'))),
      h('li', {}, h('span', { className: 'help-conn', 'aria-hidden': 'true' }), h('span', {}, t('help.icon.conn'))),
    ),
  );
  return body;
}

/** Wires the help button and dialog and the language switch in the header. */
export function initHelp() {
  const dialog = /** @type {HTMLDialogElement} */ (byId('help'));
  const opener = byId('help-open');
  const body = byId('help-body');
  opener.replaceChildren(icon('help'));
  opener.addEventListener('click', () => {
    body.replaceChildren(...content());
    dialog.showModal();
    body.scrollTop = 0;
  });
  byId('help-close').addEventListener('click', () => dialog.close());
  // A click on the backdrop (outside the box) closes it too.
  dialog.addEventListener('click', (ev) => ev.target === dialog && dialog.close());
  dialog.addEventListener('close', () => opener.focus());

  const sel = /** @type {HTMLSelectElement} */ (byId('lang'));
  sel.replaceChildren(...Object.entries(languages).map(([code, name]) => h('option', { value: code, lang: code }, name)));
  // A phone's header has no room for the languages' names: their codes.
  const narrow = matchMedia('(max-width: 480px)');
  const names = () => {
    for (const o of sel.options) o.text = narrow.matches ? o.value.toUpperCase() : languages[/** @type {import('./i18n.js').Lang} */ (o.value)];
  };
  names();
  narrow.addEventListener('change', names);
  sel.value = lang();
  sel.addEventListener('change', () => setLanguage(/** @type {import('./i18n.js').Lang} */ (sel.value)));
  onLanguage(() => {
    sel.value = lang();
    if (dialog.open) body.replaceChildren(...content());
  });
}
