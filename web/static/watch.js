// @ts-check
// The viewer page, /watch/{room}: plays a live room over WHEP
// (POST /whep/{room}) and nothing else. It shows "offline" while nobody
// publishes, reconnects by itself when the connection or the server
// goes, and asks for the room's password or a join token when the room
// wants one. ?name= follows one publisher; ?embed=1 is the mode for an
// <iframe>, whose controls show on hover.

import { t, lang, apply } from './i18n.js';

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const stage = $('stage');
const video = /** @type {HTMLVideoElement} */ ($('video'));
const status = $('status');
const auth = /** @type {HTMLFormElement} */ ($('auth'));
const authSecret = /** @type {HTMLInputElement} */ ($('auth-secret'));
const unmute = $('unmute');
const live = $('live');

const room = decodeURIComponent(location.pathname.split('/').filter(Boolean)[1] ?? '');
const params = new URLSearchParams(location.search);
const follow = params.get('name') ?? '';
if (params.get('embed') === '1') document.documentElement.classList.add('embed');
const secretKey = `parley-watch-${room}`;

/** How long without media before the stream counts as offline. */
const quietMs = 3000;

/** @type {RTCIceServer[]} from the Link headers of the last answer */
let iceServers = [];
/** @type {{pc: RTCPeerConnection, loc: string, bytes: number, frames: number, heard: number} | null} */
let session = null;
let attempt = 0;
/** @type {number | undefined} */
let retryTimer;

/**
 * @param {string} state connecting, live, audio, offline, auth or error
 * @param {string} text
 */
function show(state, text) {
  stage.dataset.state = state;
  status.textContent = text;
  live.hidden = state !== 'live' && state !== 'audio';
}

/** Closes the current session, telling the server. */
function teardown() {
  if (!session) return;
  const { pc, loc } = session;
  session = null;
  pc.close();
  fetch(loc, { method: 'DELETE', headers: authHeaders(), keepalive: true }).catch(() => {});
}

/** @returns {Record<string, string>} */
function authHeaders() {
  const secret = sessionStorage.getItem(secretKey);
  return secret ? { Authorization: `Bearer ${secret}` } : {};
}

/**
 * Tries again later, waiting longer each time (up to 15 s), or as long as
 * the server asked.
 * @param {string} text
 * @param {number} [afterS]
 */
function later(text, afterS) {
  teardown();
  show('connecting', text);
  attempt++;
  const wait = afterS ? afterS * 1000 : Math.min(15000, 1000 * 2 ** Math.min(attempt - 1, 4));
  window.clearTimeout(retryTimer);
  retryTimer = window.setTimeout(connect, wait);
}

/**
 * Waits until the connection has gathered its candidates, or ms passed.
 * @param {RTCPeerConnection} pc
 * @param {number} ms
 */
function gathered(pc, ms) {
  return new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve(undefined);
    const t = window.setTimeout(resolve, ms);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') {
        window.clearTimeout(t);
        resolve(undefined);
      }
    });
  });
}

/**
 * The ICE servers of Link headers (RFC 9725 4.6).
 * @param {string | null} header
 * @returns {RTCIceServer[]}
 */
function parseLinks(header) {
  if (!header) return [];
  /** @type {RTCIceServer[]} */
  const out = [];
  for (const m of header.matchAll(/<([^>]+)>([^<]*)/g)) {
    const attrs = m[2];
    if (!/rel="ice-server"/.test(attrs)) continue;
    const username = /username="([^"]*)"/.exec(attrs)?.[1];
    const credential = /credential="([^"]*)"/.exec(attrs)?.[1];
    out.push(username ? { urls: m[1], username, credential } : { urls: m[1] });
  }
  return out;
}

async function connect() {
  window.clearTimeout(retryTimer);
  teardown();
  if (stage.dataset.state !== 'offline') show('connecting', t('watch.connecting'));
  const pc = new RTCPeerConnection({ iceServers });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  pc.addTransceiver('video', { direction: 'recvonly' });
  const stream = new MediaStream();
  pc.addEventListener('track', (e) => {
    stream.addTrack(e.track);
    video.srcObject = stream;
    video.play().catch(() => {});
  });
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc, 2000);
  const url = `/whep/${encodeURIComponent(room)}${follow ? `?name=${encodeURIComponent(follow)}` : ''}`;
  /** @type {Response} */
  let resp;
  try {
    resp = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp', ...authHeaders() },
      body: pc.localDescription?.sdp ?? '',
    });
  } catch {
    pc.close();
    return later(t('watch.unreachable'));
  }
  const body = await resp.text();
  if (resp.status !== 201) {
    pc.close();
    // WHEP refuses in plain English text, without a code: in English the
    // server's words, which say most; in another language what the
    // status says.
    const why = lang() === 'en' ? body.trim() : '';
    if (resp.status === 401) return askSecret(why || (sessionStorage.getItem(secretKey) ? t('watch.wrongPassword') : ''));
    if (resp.status === 404) return show('error', t('watch.noRoom', { room }));
    if (resp.status === 403 || resp.status === 400 || resp.status === 415) return show('error', why || t('watch.cannotWatch'));
    return later(why ? `${why}. ${t('watch.again')}` : t('watch.refused', { status: String(resp.status) }), Number(resp.headers.get('Retry-After')) || undefined);
  }
  iceServers = parseLinks(resp.headers.get('Link'));
  // Relative to the server that answered, which is another node's after
  // a redirect in a cluster (docs/scaling.md).
  const rel = resp.headers.get('Location');
  const loc = rel ? new URL(rel, resp.url).href : '';
  try {
    await pc.setRemoteDescription({ type: 'answer', sdp: body });
  } catch {
    pc.close();
    return later(t('watch.badAnswer'));
  }
  session = { pc, loc, bytes: 0, frames: 0, heard: Date.now() };
  attempt = 0;
  pc.addEventListener('connectionstatechange', () => {
    if (session?.pc !== pc) return;
    if (pc.connectionState === 'failed') later(t('watch.lost'));
    if (pc.connectionState === 'disconnected') {
      window.setTimeout(() => {
        if (session?.pc === pc && pc.connectionState === 'disconnected') later(t('watch.lost'));
      }, 4000);
    }
  });
}

/** Says whether media flows, once a second. */
async function watchStats() {
  const s = session;
  if (!s) return;
  let bytes = 0;
  let frames = 0;
  const stats = await s.pc.getStats();
  stats.forEach((r) => {
    if (r.type !== 'inbound-rtp') return;
    bytes += r.bytesReceived ?? 0;
    if (r.kind === 'video') frames += r.framesDecoded ?? 0;
  });
  if (session !== s) return;
  const now = Date.now();
  const flowing = bytes > s.bytes;
  const moving = frames > s.frames;
  s.bytes = bytes;
  s.frames = frames;
  if (flowing) s.heard = now;
  if (moving) show('live', t('watch.live'));
  else if (flowing) show('audio', t('watch.soundOnly'));
  else if (now - s.heard > quietMs) show('offline', t('watch.offline'));
}

/** @param {string} why */
function askSecret(why) {
  show('auth', why || t('watch.needsPassword'));
  auth.hidden = false;
  authSecret.focus();
}

auth.addEventListener('submit', (e) => {
  e.preventDefault();
  sessionStorage.setItem(secretKey, authSecret.value);
  authSecret.value = '';
  auth.hidden = true;
  connect();
});

unmute.addEventListener('click', () => {
  video.muted = !video.muted;
  if (!video.muted) video.play().catch(() => {});
  unmute.textContent = video.muted ? t('live.unmute') : t('live.mute');
  unmute.setAttribute('aria-pressed', String(!video.muted));
});

$('fullscreen').addEventListener('click', () => {
  if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
  else stage.requestFullscreen().catch(() => {});
});

window.addEventListener('pagehide', teardown);
window.setInterval(() => watchStats().catch(() => {}), 1000);

fetch(`/api/rooms/${encodeURIComponent(room)}`)
  .then((r) => (r.ok ? r.json() : null))
  .then((info) => {
    const title = info?.title || room;
    $('title').textContent = title;
    document.title = t('watch.title', { title });
  })
  .catch(() => {});

apply(document);
if (!room) show('error', t('watch.noRoomGiven'));
else connect();
