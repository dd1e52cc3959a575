// @ts-check
// The connection check (/check): from the user's browser and network, each
// thing a call needs, one after the other, with what its result means in
// plain words and what to tell the operator. The server's side is
// POST /api/check (a session, and TURN credentials for it) and
// POST /api/check/{id}/{transport} (an echo connection answering an offer
// over that transport only); see docs/operating.md.

import { byId, h } from './dom.js';
import { t, has, apply } from './i18n.js';

/**
 * Why the server refused, in the language in use: the text of its stable
 * code (checkerr.<code>), else its own words, else the status.
 * @param {{error?: string, code?: string}} body
 * @param {number} status
 */
function refused(body, status) {
  if (body.code && has(`checkerr.${body.code}`)) return t(`checkerr.${body.code}`);
  return body.error ?? `HTTP ${status}`;
}

/** @typedef {'checking'|'ok'|'fail'|'skip'} Result */
/** @typedef {{id: string, ice_servers: RTCIceServer[], tcp: boolean, seconds: number}} Session */

const WAIT = 10_000; // for one connection to be made and echo

/** @type {{name: string, result: Result, text: string}[]} */
let report = [];

/**
 * Adds a row in the checking state and returns a function that sets its
 * result.
 * @param {string} key
 * @param {string} name
 */
function row(key, name) {
  const badge = h('span', { className: 'result' }, t('check.checking'));
  const detail = h('p', { className: 'detail' });
  const li = h('li', { 'data-check': key, 'data-result': 'checking' }, badge, h('span', { className: 'name' }, name), detail);
  byId('checks').append(li);
  const entry = { name, result: /** @type {Result} */ ('checking'), text: '' };
  report.push(entry);
  /** @param {Result} result @param {string} text */
  return (result, text) => {
    li.dataset.result = result;
    badge.textContent = t(`check.${result}`);
    detail.textContent = text;
    entry.result = result;
    entry.text = text;
  };
}

/** @param {number} ms */
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Rejects after ms with message.
 * @template T
 * @param {Promise<T>} p
 * @param {number} ms
 * @param {string} message
 * @returns {Promise<T>}
 */
function within(p, ms, message) {
  return Promise.race([p, sleep(ms).then(() => Promise.reject(new Error(message)))]);
}

async function checkWebsocket() {
  const set = row('websocket', t('check.websocket'));
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  try {
    await within(
      new Promise((resolve, reject) => {
        const ws = new WebSocket(url);
        ws.onopen = () => {
          ws.close();
          resolve(undefined);
        };
        ws.onerror = () => reject(new Error(t('check.refused')));
      }),
      WAIT,
      t('check.noAnswer'),
    );
    set('ok', t('check.websocketOk'));
  } catch (e) {
    set(
      'fail',
      t('check.websocketFail', { url, why: e instanceof Error ? e.message : String(e) }),
    );
  }
}

/**
 * The port of the first candidate of proto in an SDP, or "".
 * @param {string} sdp
 * @param {string} proto
 */
function candidatePort(sdp, proto) {
  for (const line of sdp.split(/\r?\n/)) {
    const f = line.split(' ');
    if (line.startsWith('a=candidate:') && f[2]?.toLowerCase() === proto) return f[5];
  }
  return '';
}

/**
 * Connects to the server's echo over one transport and measures a round
 * trip on a data channel.
 * @param {Session} s
 * @param {'udp'|'tcp'|'relay'} transport
 * @returns {Promise<{rtt: number, port: string, via: string}>}
 */
async function echo(s, transport) {
  /** @type {RTCConfiguration} */
  const cfg = transport === 'relay' ? { iceServers: s.ice_servers, iceTransportPolicy: 'relay' } : { iceServers: [] };
  const pc = new RTCPeerConnection(cfg);
  let port = '';
  try {
    const dc = pc.createDataChannel('check');
    await pc.setLocalDescription(await pc.createOffer());
    await within(
      new Promise((resolve) => {
        if (pc.iceGatheringState === 'complete') resolve(undefined);
        pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && resolve(undefined);
      }),
      WAIT,
      t('check.gatherSlow'),
    ).catch(() => {}); // use what was gathered
    const offer = pc.localDescription?.sdp ?? '';
    if (transport === 'relay' && !/ typ relay/.test(offer)) {
      throw new Error(t('check.noRelayAddress'));
    }
    const res = await fetch(`/api/check/${encodeURIComponent(s.id)}/${transport}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp' },
      body: offer,
    });
    if (!res.ok) throw new Error(t('check.serverRefused', { why: refused(await res.json().catch(() => ({})), res.status) }));
    const answer = await res.text();
    port = candidatePort(answer, transport === 'tcp' ? 'tcp' : 'udp');
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    const rtt = await within(
      new Promise((resolve) => {
        let sent = 0;
        dc.onopen = () => {
          sent = performance.now();
          dc.send('ping');
        };
        dc.onmessage = () => resolve(Math.round(performance.now() - sent));
      }),
      WAIT,
      t('check.noEcho'),
    );
    let via = '';
    const stats = await pc.getStats();
    stats.forEach((r) => {
      if (r.type === 'transport' && r.selectedCandidatePairId) {
        const pair = stats.get(r.selectedCandidatePairId);
        const local = pair && stats.get(pair.localCandidateId);
        if (local) via = local.candidateType === 'relay' ? t('check.relayOver', { proto: local.relayProtocol ?? '?' }) : `${local.protocol} ${local.candidateType}`;
      }
    });
    return { rtt: Number(rtt), port, via };
  } catch (e) {
    throw Object.assign(e instanceof Error ? e : new Error(String(e)), { port });
  } finally {
    pc.close();
  }
}

/** @param {unknown} e */
const why = (e) => (e instanceof Error ? e.message : String(e));
/** @param {unknown} e */
const portOf = (e) => /** @type {any} */ (e)?.port || '?';

/** @param {Session|null} s */
async function checkMedia(s) {
  const udp = row('udp', t('check.udp'));
  const tcp = row('tcp', t('check.tcp'));
  const relay = row('relay', t('check.relay'));
  if (!s) {
    for (const set of [udp, tcp, relay]) set('fail', t('check.notStarted'));
    return;
  }
  const host = location.hostname;
  try {
    const r = await echo(s, 'udp');
    udp('ok', t('check.udpOk', { port: r.port, rtt: r.rtt }));
  } catch (e) {
    udp(
      'fail',
      t('check.udpFail', { why: why(e), host, port: portOf(e) }),
    );
  }
  if (!s.tcp) {
    tcp('skip', t('check.tcpSkip'));
  } else {
    try {
      const r = await echo(s, 'tcp');
      tcp('ok', t('check.tcpOk', { port: r.port, rtt: r.rtt }));
    } catch (e) {
      tcp(
        'fail',
        t('check.tcpFail', { why: why(e), host, port: portOf(e) }),
      );
    }
  }
  if (!s.ice_servers.some((i) => [i.urls].flat().some((u) => /^turns?:/.test(u)))) {
    relay('skip', t('check.relaySkip'));
  } else {
    try {
      const r = await echo(s, 'relay');
      relay('ok', t('check.relayOk', { via: r.via, rtt: r.rtt }));
    } catch (e) {
      relay(
        'fail',
        t('check.relayFail', { why: why(e) }),
      );
    }
  }
}

/**
 * @param {'microphone'|'camera'} what
 */
async function checkDevice(what) {
  const set = row(what, t(`check.${what}`));
  if (!navigator.mediaDevices?.getUserMedia) {
    set('fail', t('check.insecure'));
    return;
  }
  try {
    const stream = await navigator.mediaDevices.getUserMedia(what === 'microphone' ? { audio: true } : { video: true });
    const track = stream.getTracks()[0];
    const label = track?.label || t(`check.your.${what}`);
    stream.getTracks().forEach((t) => t.stop());
    set('ok', t('check.deviceOk', { label }));
  } catch (e) {
    const name = e instanceof DOMException ? e.name : '';
    const text =
      {
        NotAllowedError: t(`check.${what}.denied`),
        NotFoundError: t(`check.${what}.missing`),
        NotReadableError: t(`check.${what}.busy`),
        OverconstrainedError: t(`check.${what}.settings`),
      }[name] ?? t(`check.${what}.failed`, { why: why(e) });
    // A missing camera is no problem for voice alone.
    set(what === 'camera' && name === 'NotFoundError' ? 'skip' : 'fail', text);
  }
}

async function startSession() {
  const set = row('server', t('check.server'));
  try {
    const res = await fetch('/api/check', { method: 'POST' });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(refused(body, res.status));
    set('ok', t('check.serverOk'));
    return /** @type {Session} */ (body);
  } catch (e) {
    set('fail', t('check.serverFail', { why: why(e) }));
    return null;
  }
}

function summarize() {
  const failed = report.filter((r) => r.result === 'fail');
  const byKey = (/** @type {string} */ k) => document.querySelector(`[data-check="${k}"]`)?.getAttribute('data-result');
  const media = ['udp', 'tcp', 'relay'].some((k) => byKey(k) === 'ok');
  byId('summary-title').textContent = failed.length === 0 ? t('check.allGood') : media ? t('check.someBad') : t('check.allBad');
  byId('summary-text').textContent =
    failed.length === 0
      ? t('check.allGoodText')
      : media
        ? t('check.someBadText', { failed: failed.map((r) => r.name).join(', ') })
        : t('check.allBadText');
  byId('report').textContent = [
    `parley connection check, ${new Date().toISOString()}`,
    `server: ${location.host}`,
    `browser: ${navigator.userAgent}`,
    ...report.map((r) => `- ${r.name}: ${r.result}${r.result === 'ok' ? '' : ` (${r.text})`}`),
  ].join('\n');
  byId('summary').hidden = false;
  document.body.dataset.done = 'true';
}

async function run() {
  const again = /** @type {HTMLButtonElement} */ (byId('again'));
  again.disabled = true;
  delete document.body.dataset.done;
  byId('summary').hidden = true;
  byId('checks').replaceChildren();
  report = [];
  await checkWebsocket();
  await checkMedia(await startSession());
  await checkDevice('microphone');
  await checkDevice('camera');
  summarize();
  again.disabled = false;
}

byId('again').addEventListener('click', () => run());
apply(document);
run();
