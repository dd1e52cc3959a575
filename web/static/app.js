// @ts-check
// The parley browser client: the entry screen, and the room with its
// conversation (the timeline of chat and clips), recorder, live and phone
// panels. Plain ES modules, no build step.

import { h, byId, load, save } from './dom.js';
import { Signal } from './signal.js';
import { Media } from './media.js';
import { Phone } from './phone.js';
import { Recorder } from './recorder.js';
import { Player } from './player.js';
import { Live } from './live.js';
import { Timeline } from './timeline.js';
import { Uploader } from './upload.js';
import { Prejoin } from './prejoin.js';
import { Alerts } from './alerts.js';
import { Station } from './station.js';
import { holdWhat, onInputChange } from './input.js';
import { apply as translatePage, t, serverText, onLanguage } from './i18n.js';
import { initHelp } from './help.js';
import { Reporter } from './report.js';
import { Usage } from './usage.js';

// The page's own texts in the language chosen, before anything shows.
translatePage(document);
initHelp();

/**
 * @typedef {{name: string, mode: string, title: string, description?: string, operators?: boolean, participants?: number, live: boolean, allow_video: boolean,
 *   video_default: boolean, archive: boolean, publish: string, max_clip_seconds: number, max_clip_bytes: number,
 *   clip_lifetime: string, access?: string, min_clip_ms?: number, max_viewers?: number, viewers?: number, max_room_bytes?: number, used_bytes?: number, closed?: boolean}} RoomInfo
 * @typedef {{id: string, state: string, peer: {id: string, name: string}, video: boolean}} Call
 * @typedef {{
 *   signal: Signal, media: Media, readonly room: RoomInfo, me: {id: string, name: string},
 *   notify: (text: string, retry?: () => void) => void, connected: () => boolean, inRoom: () => boolean,
 *   live: () => boolean, talking: () => boolean, peer: (id: string) => {id: string, name: string}|undefined,
 *   ownerKey: () => string, operator: () => boolean, timeline: Timeline, clipNode: (c: any) => HTMLElement, pausePlayer: () => void, deafened: (on: boolean) => void, draftFound: (c: any) => void,
 *   talkChanged: (on: boolean) => void, callChanged: (c: Call|null) => void, videoChanged: (v: boolean) => Promise<void>,
 *   openDevices: () => Promise<void>, call: () => Call|null, peers: () => {id: string, name: string}[], alerts: Alerts,
 *   report: (kind: import('./report.js').ReportKind, e: unknown) => void,
 * }} Ctx
 */

const wsURL = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws`;

const S = {
  /** @type {RoomInfo|null} */
  room: null,
  me: { id: '', name: '' },
  /** the room and name the user asked for */
  want: { room: '', name: '', password: '', token: '' },
  role: 'participant',
  joinedOnce: false,
  inRoom: false,
  talking: false,
  /** @type {Call|null} */
  call: null,
  rejoinTries: 0,
  devicesTried: false,
  /** the camera is on: in live rooms, and in calls (set as a call starts) */
  camera: false,
  /** the microphone sends without a press: open in calls, hands-free in live rooms */
  micOpen: false,
};

const signal = new Signal(wsURL);

// Errors in the page and failed media operations go to the server
// (report.js), from the room: before a join they wait.
const reporter = new Reporter((m) => S.inRoom && signal.send(m));
reporter.install(window);

/** @type {Ctx} */
const ctx = {
  signal,
  media: /** @type {any} */ (null),
  get room() {
    return /** @type {RoomInfo} */ (S.room);
  },
  me: S.me,
  notify,
  connected: () => signal.state === 'open' && S.inRoom,
  inRoom: () => S.inRoom,
  live: () => !!S.room?.live,
  talking: () => S.talking,
  peer: (id) => phone.peers.get(id),
  ownerKey: () => load('parley.ownerKey', ''),
  operator: () => S.role === 'operator',
  timeline: new Timeline(),
  clipNode: (c) => player.view(c).el,
  pausePlayer: () => player.pause(),
  deafened: (on) => player.setDeafened(on),
  draftFound: (c) => recorder.showDraft(c),
  talkChanged(on) {
    S.talking = on;
    updateLive();
    if (!on && recorder.pausePlayer.checked) player.resume();
    if (!on && player.queue.length && !player.current) player.next();
  },
  callChanged(c) {
    const had = !!S.call;
    S.call = c;
    if (c && !had) {
      // A call starts with the microphone open, and the camera on if
      // it is a video call.
      S.micOpen = true;
      S.camera = c.video && !!S.room?.allow_video;
    } else if (!c && had) {
      S.micOpen = false;
      S.camera = false;
      media.stopScreen().catch(() => {});
    }
    updateVideo().catch((e) => notify(e.message));
    updateLive();
    showLivePanel();
    if (had && !c && !ctx.live()) live.clear();
    live.refresh();
  },
  videoChanged: () => updateVideo(),
  openDevices,
  call: () => S.call,
  peers: () => [...phone.peers.values()],
  alerts: new Alerts(),
  report: (kind, e) => reporter.report(kind, e),
};

const media = new Media(signal, {
  ontrack: (stream, track, receiver) => live.add(stream, track, receiver),
  onstatus: (pc, state) => {
    if (state === 'failed') setConn('media', t(pc === 'publish' ? 'conn.publishFailed' : 'conn.subscribeFailed'));
    else if (state === 'connected') setConn(signal.state, '');
  },
  onproblem: (text) => notify(text, () => openDevices()),
  onscreen: () => updateStage(),
  onfailure: (kind, e) => reporter.report(kind, e),
});
ctx.media = media;
const phone = new Phone(ctx);
const recorder = new Recorder(ctx);
const uploader = new Uploader(
  ctx,
  () => recorder.description.value.trim(),
  (file) => {
    recorder.description.value = '';
    recorder.say(t('upload.sent', { file: file.name }), true);
  },
);
const player = new Player(ctx);
const usage = new Usage(signal);
const live = new Live(ctx, {
  mic() {
    S.micOpen = !S.micOpen;
    updateLive();
  },
  camera() {
    S.camera = !S.camera;
    updateVideo().catch((e) => notify(e.message));
  },
  screen() {
    (media.screen ? media.stopScreen() : media.shareScreen()).catch((e) => notify(e.message)).finally(updateStage);
  },
  hangup: () => phone.hangup(),
});
const prejoin = new Prejoin(media);
const station = new Station(ctx, { videoChanged: () => updateVideo().catch((e) => notify(e.message)) });

// For diagnostics from the browser console (and the end-to-end tests).
Object.defineProperty(window, 'parley', {
  value: Object.freeze({ stats: () => media.inboundStats(), sent: () => media.outboundStats(), downlink: () => signal.request({ type: 'downlink' }), state: () => ({ ...S, room: S.room?.name }), reconnect: () => signal.drop() }),
});

// Notices.

/**
 * Shows a message to the user, with a Retry button when retry is given.
 * @param {string} text
 * @param {() => void} [retry]
 */
function notify(text, retry) {
  byId('notice-text').textContent = text;
  const btn = /** @type {HTMLButtonElement} */ (byId('notice-retry'));
  btn.hidden = !retry;
  btn.onclick = retry
    ? () => {
        byId('notice').hidden = true;
        retry();
      }
    : null;
  byId('notice').hidden = false;
}
byId('notice-close').addEventListener('click', () => (byId('notice').hidden = true));

/**
 * @param {string} state
 * @param {string} detail
 */
function setConn(state, detail) {
  const el = byId('conn');
  const text = /** @type {Record<string, string>} */ ({ open: t('conn.open'), connecting: t('conn.connecting'), waiting: t('conn.waiting'), stopped: '', media: t('conn.media') });
  el.textContent = detail ? `${text[state] ?? state}: ${detail}` : (text[state] ?? state);
  el.dataset.state = state;
  el.dataset.detail = detail;
  // When media fails, the connection check says why, and what to tell the operator.
  byId('conn-check').hidden = state !== 'media';
}

// Entry screen.

/** @type {RoomInfo[]} */
let rooms = [];

/** @type {Promise<void>|null} */
let roomsLoading = null;
/** Ends the wait before the next try of loadRooms at once (online). */
let retryRooms = () => {};

/**
 * Fills the entry page's list of rooms. A request that fails or gets no
 * answer within 8 s says so on the page and is made again, 2 s later and
 * then less and less often (up to every 30 s), while the entry page is
 * shown; it resolves once the rooms are there (or the page left the
 * entry screen). Calls while it runs share it.
 */
function loadRooms() {
  roomsLoading ??= (async () => {
    for (let wait = 2000; ; wait = Math.min(wait * 2, 30_000)) {
      const why = await fetchRooms();
      if (!why) break;
      // A message of another's (a join refused) stays: the room list's
      // failure would hide why the user is back here.
      const line = byId('entry-error');
      if (!line.textContent || line.dataset.rooms) {
        line.textContent = why;
        line.dataset.rooms = 'failed';
      }
      await new Promise((r) => {
        const timer = setTimeout(r, wait);
        retryRooms = () => {
          clearTimeout(timer);
          r(undefined);
        };
      });
      retryRooms = () => {};
      if (byId('entry').hidden) return;
    }
    // The error said was this loader's: it is over.
    if (byId('entry-error').dataset.rooms) byId('entry-error').textContent = '';
    delete byId('entry-error').dataset.rooms;
    const sel = /** @type {HTMLSelectElement} */ (byId('entry-room'));
    const want = new URLSearchParams(location.search).get('room') ?? load('parley.room', '');
    sel.replaceChildren(...rooms.map((r) => h('option', { value: r.name }, roomTitle(r))));
    if (rooms.some((r) => r.name === want)) sel.value = want;
    renderRooms();
    roomPicked();
  })().finally(() => {
    roomsLoading = null;
  });
  return roomsLoading;
}

/** Reads the rooms into rooms; "" when it did, else why not, to show. */
async function fetchRooms() {
  try {
    const res = await fetch('/api/rooms', { cache: 'no-store', signal: AbortSignal.timeout(8000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    rooms = (await res.json()).rooms;
    return '';
  } catch (e) {
    // A fetch that reached no server rejects with a TypeError, one that
    // got no answer in time with a TimeoutError; the app itself may
    // still have started, from the service worker's copy.
    if (e instanceof TypeError || (e instanceof DOMException && e.name === 'TimeoutError')) {
      return t(navigator.onLine ? 'entry.unreachable' : 'entry.offline');
    }
    return t('entry.roomsFailed', { why: e instanceof Error ? e.message : String(e) });
  }
}

/** @param {RoomInfo} r */
/**
 * Shows, in a live room that may be watched, the viewer page's link and
 * how many watch it (WHEP).
 * @param {number} count
 */
function showViewers(count) {
  const a = /** @type {HTMLAnchorElement} */ (byId('viewers'));
  const room = S.room;
  a.hidden = !room || !room.live || !room.max_viewers;
  if (a.hidden || !room) return;
  a.href = `/watch/${encodeURIComponent(room.name)}`;
  a.textContent = count > 0 ? t('bar.watching', { n: count }) : t('bar.viewerPage');
  a.dataset.count = String(count);
}

function roomTitle(r) {
  return r.title || r.name;
}

/** The list of rooms: each by its title, what it is for, and who is in it. */
function renderRooms() {
  byId('rooms').replaceChildren(
    ...rooms.map((r) => {
      // Rooms that are not open do not tell how many are in them.
      const n = r.participants;
      const who = n === undefined ? '' : n === 0 ? t('entry.nobody') : t('entry.people', { n });
      const lock = r.access === 'password' ? t('entry.needsPassword') : r.access === 'token' ? t('entry.byInvitation') : '';
      return h(
        'li',
        { className: 'room-card' },
        h('a', { href: `/?room=${encodeURIComponent(r.name)}`, className: 'room-link' }, roomTitle(r)),
        r.description ? h('p', { className: 'room-desc' }, r.description) : null,
        h('p', { className: 'hint' }, [describeMode(r), lock].filter(Boolean).join(' · '), who ? h('span', { className: 'count' }, ` · ${who}`) : null),
      );
    }),
  );
}

function roomPicked() {
  const sel = /** @type {HTMLSelectElement} */ (byId('entry-room'));
  const r = rooms.find((x) => x.name === sel.value);
  byId('entry-room-info').textContent = r ? [r.description, describeMode(r)].filter(Boolean).join(' ') : '';
  // A password room asks everyone for one; elsewhere only operators have
  // one, behind a link, where the server has operators at all.
  showPassword(r?.access === 'password', r?.access === 'password' ? t('entry.password') : t('entry.operatorPassword'), !!r?.operators);
}

/**
 * Shows or hides the password field (open rooms hide it behind a link,
 * for operators, when the server has any).
 * @param {boolean} show
 * @param {string} label
 * @param {boolean} [operators] whether the link is offered
 */
function showPassword(show, label, operators = true) {
  byId('entry-password-row').hidden = !show;
  byId('entry-password-show').hidden = show || !operators;
  byId('entry-password-label').textContent = label;
}
byId('entry-password-show').addEventListener('click', () => {
  showPassword(true, t('entry.operatorPassword'));
  byId('entry-password').focus();
});

/**
 * What a room is for, in a line, from its mode; the key to hold is the
 * person's own (SPACE, or the button on a touch screen).
 * @param {RoomInfo} r
 */
function describeMode(r) {
  const hold = holdWhat();
  const Hold = hold[0].toUpperCase() + hold.slice(1);
  switch (r.mode) {
    case 'mediaForum':
      return t('mode.mediaForum');
    case 'mediaChat':
      return t('mode.mediaChat', { Hold });
    case 'videoChat':
      return t('mode.videoChat', { Hold });
    case 'audioStream':
      return t('mode.audioStream', { Hold });
    case 'videoStream':
      return t('mode.videoStream', { hold });
    default:
      return '';
  }
}
/** What an empty conversation says, for the room and the person's input. */
function sayEmpty() {
  const hold = holdWhat();
  byId('timeline').dataset.empty = ctx.live()
    ? t('conv.emptyLive', { hold })
    : t('conv.empty', { Hold: hold[0].toUpperCase() + hold.slice(1) });
}

// Back online: the rooms again, if the entry page could not show them.
window.addEventListener('online', () => {
  if (byId('entry').hidden || rooms.length) return;
  retryRooms();
  loadRooms();
});

onInputChange(languageChanged);
onLanguage(languageChanged);
/** Texts made here that depend on the input or the language: drawn again. */
function languageChanged() {
  const conn = byId('conn');
  if (conn.dataset.state) setConn(conn.dataset.state, conn.dataset.detail ?? '');
  if (S.room) {
    sayEmpty();
    showViewers(Number(byId('viewers').dataset.count) || 0);
  }
  if (byId('entry').hidden || !rooms.length) return;
  renderRooms();
  roomPicked();
}

byId('entry-room').addEventListener('change', roomPicked);
byId('entry-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const name = /** @type {HTMLInputElement} */ (byId('entry-name')).value.trim();
  const room = /** @type {HTMLSelectElement} */ (byId('entry-room')).value;
  const password = /** @type {HTMLInputElement} */ (byId('entry-password')).value;
  if (!name || !room) return;
  enter(room, name, password);
});
byId('leave').addEventListener('click', () => leave(''));

// Operator controls.
/** @param {import('./signal.js').Msg} m @param {string} done */
async function operatorAction(m, done) {
  try {
    const r = await signal.ask(m, (x) => x.type === 'clips-cleared' || x.type === 'room-state');
    if (r.type === 'error') throw new Error(serverText(r));
    notify(t(done, { n: Number(r.count ?? 0) }));
  } catch (e) {
    notify(t('op.failed', { why: e instanceof Error ? e.message : String(e) }));
  }
}
byId('op-clear').addEventListener('click', () => {
  if (confirm(t('op.clearConfirm'))) operatorAction({ type: 'clear-clips' }, 'op.cleared');
});
byId('op-close').addEventListener('click', () => {
  if (confirm(t('op.closeConfirm'))) operatorAction({ type: 'close-room' }, 'op.closed');
});
byId('op-open').addEventListener('click', () => operatorAction({ type: 'open-room' }, 'op.opened'));
/** An operator is offered to close an open room, or to open a closed one. @param {boolean} closed */
function showRoomState(closed) {
  byId('op-close').hidden = closed;
  byId('op-open').hidden = !closed;
}
signal.on('room-state', (m) => showRoomState(m.closed === true));
window.addEventListener('pagehide', () => signal.state !== 'stopped' && signal.stop());

/**
 * @param {string} room
 * @param {string} name
 * @param {string} password
 */
function enter(room, name, password, token = '') {
  if (name) save('parley.name', name);
  save('parley.room', room);
  S.want = { room, name, password, token };
  S.joinedOnce = false;
  S.rejoinTries = 0;
  byId('entry-error').textContent = '';
  /** @type {HTMLButtonElement} */ (byId('entry-join')).disabled = true;
  media.resumeAudio();
  if (new URLSearchParams(location.search).get('room') !== room) history.replaceState(null, '', `/?room=${encodeURIComponent(room)}`);
  // Going live: a look at what one sends first, and the camera off
  // unless turned on there.
  const r = rooms.find((x) => x.name === room);
  // Simulcast where the camera goes live to many: the stream rooms. In
  // clip rooms the camera is recorded, whole, and a call has one viewer.
  media.simulcast = !!(r?.allow_video && r?.live);
  if (r?.live && !S.devicesTried) {
    prejoin.open(r, name || load('parley.name', ''), (camera) => {
      S.devicesTried = true;
      S.camera = camera;
      signal.start();
    });
    return;
  }
  signal.start();
}

/**
 * @param {string} why shown on the entry screen
 * @param {string} [code] the error code that sent us back, if any
 */
function leave(why, code = '') {
  signal.stop();
  media.closeConnections();
  media.closeCamera();
  live.clear();
  player.clear();
  recorder.reset();
  station.leave();
  uploader.reset();
  ctx.timeline.clear();
  phone.shown.clear();
  media.stopScreen().catch(() => {});
  S.inRoom = false;
  S.room = null;
  S.call = null;
  S.camera = false;
  S.micOpen = false;
  S.devicesTried = false;
  prejoin.close();
  byId('room').hidden = true;
  byId('entry').hidden = false;
  byId('leave').hidden = true;
  byId('room-title').textContent = '';
  byId('viewers').hidden = true;
  byId('notice').hidden = true;
  /** @type {HTMLButtonElement} */ (byId('entry-join')).disabled = false;
  byId('entry-error').textContent = why;
  delete byId('entry-error').dataset.rooms; // not the room list's to clear
  loadRooms().then(() => {
    if (code === 'bad-password' || code === 'password-required') showPassword(true, byId('entry-password-label').textContent ?? t('entry.operatorPassword'));
  });
}

// The session.

signal.onopen = () => {
  /** @type {import('./signal.js').Msg} */
  const m = { type: 'join', room: S.want.room, name: S.want.name };
  const key = ctx.ownerKey();
  if (key) m.owner_key = key;
  if (S.want.password) m.password = S.want.password;
  if (S.want.token) m.token = S.want.token;
  signal.request(m).then(onJoinReply, () => {});
};

signal.onstate = (state, detail) => {
  setConn(state, detail);
  if (state !== 'open' && S.inRoom) {
    // The server ended the old session; a rejoin starts a new one.
    S.inRoom = false;
    recorder.reset();
    station.resetRecording();
    media.closeConnections();
    live.clear();
  }
  phone.updateCallButtons();
};

/** The version of the websocket protocol this client speaks (docs/protocol.md). */
const PROTOCOL = 1;

/** Errors that send the user back to the entry screen. */
const FATAL = new Set(['no-room', 'bad-name', 'room-full', 'bad-owner-key', 'bad-password', 'password-required', 'token-required', 'bad-token', 'too-many-attempts', 'room-closed', 'forbidden']);

/** @param {import('./signal.js').Msg} m */
async function onJoinReply(m) {
  if (m.type === 'error') {
    if (!S.joinedOnce || FATAL.has(m.code)) {
      leave(serverText(m), m.code);
      return;
    }
    // A rejoin while the server still holds our old connection: try again.
    if (m.code === 'name-taken' && S.rejoinTries++ < 12) {
      setConn('waiting', t('conn.stillOpen'));
      window.setTimeout(() => signal.drop(), 4000);
      return;
    }
    leave(serverText(m));
    return;
  }
  if (m.type !== 'joined') return;
  if ((m.protocol ?? PROTOCOL) !== PROTOCOL) {
    leave(t('app.newerProtocol', { protocol: String(m.protocol) }));
    return;
  }
  S.role = m.role ?? 'participant';
  S.want.name = m.name; // a token names its holder
  S.joinedOnce = true;
  S.rejoinTries = 0;
  S.inRoom = true;
  // A new session: the server's subscribe offer may follow at once, so
  // the old connections go before anything awaits.
  media.closeConnections();
  S.room = m.room;
  S.me.id = m.id;
  S.me.name = m.name;
  if (m.owner_key) save('parley.ownerKey', m.owner_key);
  media.iceServers = m.ice_servers ?? [];
  media.simulcast = !!(m.room.allow_video && m.room.live);
  const room = /** @type {RoomInfo} */ (S.room);
  byId('entry').hidden = true;
  byId('room').hidden = false;
  byId('leave').hidden = false;
  byId('room-title').textContent = roomTitle(room);
  showViewers(room.viewers ?? 0);
  player.joined(room.name);
  usage.joined(room);
  reporter.flush();
  document.body.dataset.mode = room.mode;
  phone.joined(m.participants ?? [], room.allow_video, m.history ?? [], m.offline ?? []);
  byId('operator').hidden = S.role !== 'operator';
  showRoomState(room.closed === true);
  recorder.setup();
  station.joined(room);
  sayEmpty();
  showLivePanel();
  live.refresh();
  player.reload();
  if (!S.devicesTried) await openDevices();
  try {
    await media.publish(effectiveVideo());
    updateLive();
  } catch (e) {
    notify(t('app.cannotSend', { why: e instanceof Error ? e.message : String(e) }), () => media.republish());
  }
}

signal.on('viewers', (m) => showViewers(Number(m.count) || 0));
signal.on('participant-joined', () => live.refresh());
signal.on('participant-left', () => live.refresh());
/** Byes that end the visit: the room list again, saying why, no reconnection. */
const BYE_LEAVE = new Set(['kicked', 'room-closed', 'name-claimed', 'room-removed']);
signal.on('bye', (m) => {
  if (m.code === 'replaced') leave(t('bye.replaced'));
  else if (BYE_LEAVE.has(m.code)) leave(serverText(m, 'bye'));
  // room-changed and the rest: the connection comes back by itself.
  else if (m.code !== 'server-shutdown') notify(serverText(m, 'bye'));
});
signal.on('error', (m) => {
  if (m.code === 'media-failed' || m.req !== undefined) return; // handled by the asker
  if (m.code === 'video-not-allowed') return;
  notify(serverText(m));
});

async function openDevices() {
  S.devicesTried = true;
  try {
    await media.openMic();
    if (effectiveVideo()) await media.openCamera();
    recorder.showPreview();
  } catch (e) {
    notify(e instanceof Error ? e.message : String(e), () => openDevices());
  }
}

function effectiveVideo() {
  if (!S.room?.allow_video) return false;
  if (S.call || ctx.live()) return S.camera;
  if (station.active) return station.camera;
  return recorder.video();
}

async function updateVideo() {
  const v = effectiveVideo();
  if (v) {
    try {
      await media.openCamera();
    } catch (e) {
      notify(e instanceof Error ? e.message : String(e), () => updateVideo());
      return;
    }
  }
  await media.setVideo(v);
  if (!v) media.closeCamera();
  recorder.showPreview();
  updateLive();
}

function updateLive() {
  const inCall = !!S.call;
  const audio = S.talking || (S.micOpen && (inCall || ctx.live()));
  // In calls and live rooms the camera sends while it is on; in clip
  // rooms, while recording.
  const video = effectiveVideo() && (audio || inCall || ctx.live());
  media.setLive({ audio, video }).catch(() => {});
  updateStage();
}

/** The stage's controls and your own view, as things are. */
function updateStage() {
  const staged = ctx.live() || !!S.call;
  live.render({ micOpen: S.micOpen, camera: effectiveVideo(), screen: !!media.screen, inCall: !!S.call, allowVideo: !!S.room?.allow_video });
  live.setSelf(staged && effectiveVideo() ? media.camera : null, staged ? media.screen : null);
}

function showLivePanel() {
  const shown = ctx.live() || !!S.call;
  byId('live').hidden = !shown;
  // Video fills the stage; a walkie-talkie's is a row of faces.
  if (shown && S.room?.allow_video) document.body.dataset.stage = 'video';
  else delete document.body.dataset.stage;
  live.layout();
}

// Start.
/** @type {HTMLInputElement} */ (byId('entry-name')).value = load('parley.name', '');
loadRooms().then(() => {
  const params = new URLSearchParams(location.search);
  const q = params.get('room');
  const token = params.get('token') ?? '';
  const name = load('parley.name', '');
  const r = rooms.find((x) => x.name === q);
  if (q && r && token) {
    // A link with a join token: the token names the room and the person.
    // It is not kept in the address bar or the history.
    history.replaceState(null, '', `/?room=${encodeURIComponent(q)}`);
    enter(q, '', '', token);
  } else if (q && name && r && r.access === 'open') {
    enter(q, name, '');
  }
});
setConn('stopped', '');

// The app shell is kept by a service worker (sw.js) so that the app
// starts without a network; browsers allow one only on HTTPS and localhost.
if ('serviceWorker' in navigator && window.isSecureContext) {
  navigator.serviceWorker.register('/sw.js').catch(() => {});
}
