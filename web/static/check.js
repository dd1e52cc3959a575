// @ts-check
// The connection check (/check): from the user's browser and network, each
// thing a call needs, one after the other, with what its result means in
// plain words and what to tell the operator. The server's side is
// POST /api/check (a session, and TURN credentials for it) and
// POST /api/check/{id}/{transport} (an echo connection answering an offer
// over that transport only); see docs/operating.md.

import { byId, h } from './dom.js';

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
  const badge = h('span', { className: 'result' }, 'checking…');
  const detail = h('p', { className: 'detail' });
  const li = h('li', { 'data-check': key, 'data-result': 'checking' }, badge, h('span', { className: 'name' }, name), detail);
  byId('checks').append(li);
  const entry = { name, result: /** @type {Result} */ ('checking'), text: '' };
  report.push(entry);
  /** @param {Result} result @param {string} text */
  return (result, text) => {
    li.dataset.result = result;
    badge.textContent = { checking: 'checking…', ok: 'works', fail: 'does not work', skip: 'not offered' }[result];
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
  const set = row('websocket', 'Connection to the server (websocket)');
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  try {
    await within(
      new Promise((resolve, reject) => {
        const ws = new WebSocket(url);
        ws.onopen = () => {
          ws.close();
          resolve(undefined);
        };
        ws.onerror = () => reject(new Error('refused'));
      }),
      WAIT,
      'no answer',
    );
    set('ok', 'Your browser reaches the server: you can join rooms, chat and see who is there.');
  } catch (e) {
    set(
      'fail',
      `Your browser cannot keep a websocket open to ${url} (${e instanceof Error ? e.message : e}). ` +
        'A proxy, a firewall or a browser extension may block it. Nothing else works without it. ' +
        'Tell the operator that websockets to /ws fail from your network; a reverse proxy in front of the server must pass them on (Upgrade).',
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
      'gathering candidates took too long',
    ).catch(() => {}); // use what was gathered
    const offer = pc.localDescription?.sdp ?? '';
    if (transport === 'relay' && !/ typ relay/.test(offer)) {
      throw new Error('the TURN server gave your browser no relay address');
    }
    const res = await fetch(`/api/check/${encodeURIComponent(s.id)}/${transport}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp' },
      body: offer,
    });
    if (!res.ok) throw new Error(`the server refused the check: ${(await res.json().catch(() => ({}))).error ?? res.status}`);
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
      'no answer within 10 seconds',
    );
    let via = '';
    const stats = await pc.getStats();
    stats.forEach((r) => {
      if (r.type === 'transport' && r.selectedCandidatePairId) {
        const pair = stats.get(r.selectedCandidatePairId);
        const local = pair && stats.get(pair.localCandidateId);
        if (local) via = local.candidateType === 'relay' ? `relay over ${local.relayProtocol ?? '?'}` : `${local.protocol} ${local.candidateType}`;
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
  const udp = row('udp', 'Calls, directly (UDP to the media port)');
  const tcp = row('tcp', 'Calls over TCP (when UDP is blocked)');
  const relay = row('relay', 'Calls through the relay (TURN)');
  if (!s) {
    for (const set of [udp, tcp, relay]) set('fail', 'The check could not start on the server (see above).');
    return;
  }
  const host = location.hostname;
  try {
    const r = await echo(s, 'udp');
    udp('ok', `Media reaches the server directly over UDP (port ${r.port}; a round trip took ${r.rtt} ms). This is the best path: calls will work well.`);
  } catch (e) {
    udp(
      'fail',
      `Your browser could not reach the media port over UDP (${why(e)}). Your network, or a firewall on the server, ` +
        `blocks UDP to ${host} port ${portOf(e)}. Calls may still work over TCP or the relay below, with more delay. ` +
        `Tell the operator: "UDP to port ${portOf(e)} is blocked from my network", or ask your network's administrator to allow it.`,
    );
  }
  if (!s.tcp) {
    tcp('skip', 'This server offers no TCP fallback (the operator can turn it on with media.tcp_port).');
  } else {
    try {
      const r = await echo(s, 'tcp');
      tcp('ok', `Media reaches the server over TCP too (port ${r.port}; a round trip took ${r.rtt} ms): if UDP is blocked somewhere, calls still work.`);
    } catch (e) {
      tcp(
        'fail',
        `Your browser could not reach the media port over TCP (${why(e)}): TCP to ${host} port ${portOf(e)} is blocked. ` +
          'This matters only where UDP is blocked too.',
      );
    }
  }
  if (!s.ice_servers.some((i) => [i.urls].flat().some((u) => /^turns?:/.test(u)))) {
    relay('skip', 'This server hands out no TURN relay. Where direct connections are blocked, calls cannot get through; the operator can turn on the built-in TURN server ([turn] enabled).');
  } else {
    try {
      const r = await echo(s, 'relay');
      relay('ok', `The relay works (${r.via}; a round trip took ${r.rtt} ms): even on a network that blocks direct connections, calls get through the server's relay.`);
    } catch (e) {
      relay(
        'fail',
        `Your browser could not connect through the server's TURN relay (${why(e)}). Either your network blocks the TURN port, ` +
          'or the relay cannot reach the media port. Tell the operator: "the TURN relay check fails from my network".',
      );
    }
  }
}

/**
 * @param {'microphone'|'camera'} what
 */
async function checkDevice(what) {
  const set = row(what, what === 'microphone' ? 'Microphone' : 'Camera');
  if (!navigator.mediaDevices?.getUserMedia) {
    set('fail', `This page is not in a secure context (https://), and browsers give microphones and cameras only to secure pages. Tell the operator to serve the site over HTTPS.`);
    return;
  }
  try {
    const stream = await navigator.mediaDevices.getUserMedia(what === 'microphone' ? { audio: true } : { video: true });
    const track = stream.getTracks()[0];
    const label = track?.label || `your ${what}`;
    stream.getTracks().forEach((t) => t.stop());
    set('ok', `${label} works: the browser lets this site use it.`);
  } catch (e) {
    const name = e instanceof DOMException ? e.name : '';
    const text =
      {
        NotAllowedError: `Your browser (or your system) does not let this site use the ${what}. Allow it in the site's settings (the icon left of the address), then check again.`,
        NotFoundError: `No ${what} was found. Plug one in, or choose one in your system's settings.`,
        NotReadableError: `The ${what} is in use by another program, or failed to start. Close the other program, then check again.`,
        OverconstrainedError: `The ${what} cannot do what was asked.`,
      }[name] ?? `The ${what} could not be opened: ${why(e)}.`;
    // A missing camera is no problem for voice alone.
    set(what === 'camera' && name === 'NotFoundError' ? 'skip' : 'fail', text);
  }
}

async function startSession() {
  const set = row('server', 'The check on the server');
  try {
    const res = await fetch('/api/check', { method: 'POST' });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(body.error ?? `HTTP ${res.status}`);
    set('ok', 'The server is ready to answer the checks below.');
    return /** @type {Session} */ (body);
  } catch (e) {
    set('fail', `The server did not start the check: ${why(e)}.`);
    return null;
  }
}

function summarize() {
  const failed = report.filter((r) => r.result === 'fail');
  const byKey = (/** @type {string} */ k) => document.querySelector(`[data-check="${k}"]`)?.getAttribute('data-result');
  const media = ['udp', 'tcp', 'relay'].some((k) => byKey(k) === 'ok');
  byId('summary-title').textContent = failed.length === 0 ? 'Everything works' : media ? 'Calls will work, with a problem' : 'Calls will not work from here';
  byId('summary-text').textContent =
    failed.length === 0
      ? 'Your browser and network can do everything parley needs.'
      : media
        ? `${failed.map((r) => r.name).join(', ')}: see above. At least one path for media works, so calls can connect.`
        : 'No path for media works from this browser and network: calls and live rooms will connect but stay silent. Send the report below to the operator.';
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
run();
