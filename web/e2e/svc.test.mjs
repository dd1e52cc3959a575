// End-to-end test of VP9 SVC: a browser's camera goes out as one VP9
// stream of three spatial layers (scalabilityMode L3T3_KEY), and the
// server sends each subscriber the layers its tile calls for, dropping
// the others from the one stream.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, join } from './harness.mjs';

/** @type {Awaited<ReturnType<typeof startServer>>} */
let srv;
/** @type {import('playwright-core').Browser} */
let browser;
const pages = [];

before(async () => {
  srv = await startServer({ rooms: { svc: 'mode = "videoStream"\ntitle = "SVC"\n' } });
  browser = await launchBrowser();
});

after(async () => {
  for (const p of pages) {
    if (p.errors.length) console.log(`page errors: ${p.errors.map(String).join('\n')}`);
  }
  await browser?.close();
  await srv?.stop();
});

/**
 * Makes the page's camera one VP9 stream of three spatial layers and
 * three temporal ones, as a client that asks for SVC would: its video
 * transceiver's encodings replaced by one with scalabilityMode L3T3_KEY,
 * and VP9 (profile 0) preferred.
 * @param {import('playwright-core').Page} p
 */
const svcCamera = (p) =>
  p.addInitScript(() => {
    const add = RTCPeerConnection.prototype.addTransceiver;
    /** @this {RTCPeerConnection} @param {any} track @param {RTCRtpTransceiverInit} [init] */
    RTCPeerConnection.prototype.addTransceiver = function (track, init) {
      const kind = typeof track === 'string' ? track : track?.kind;
      if (kind === 'video' && init?.direction === 'sendonly') init = { ...init, sendEncodings: [/** @type {any} */ ({ scalabilityMode: 'L3T3_KEY' })] };
      return add.call(this, track, init);
    };
    const prefer = RTCRtpTransceiver.prototype.setCodecPreferences;
    /** @this {RTCRtpTransceiver} @param {RTCRtpCodec[]} codecs */
    RTCRtpTransceiver.prototype.setCodecPreferences = function (codecs) {
      const rank = (/** @type {RTCRtpCodec} */ c) => (c.mimeType === 'video/VP9' ? ((c.sdpFmtpLine ?? '').includes('profile-id=0') ? 0 : 1) : 2);
      return prefer.call(this, [...codecs].sort((a, b) => rank(a) - rank(b)));
    };
  });

/**
 * What page p receives of the one video: the picture's width, frames
 * decoded, and the layer the server sends it of how many.
 * @param {import('playwright-core').Page} p
 */
const received = (p) =>
  p.evaluate(async () => {
    const v = (await window.parley.stats()).filter((s) => s.kind === 'video');
    const d = await window.parley.downlink();
    const layer = d.videos?.[0];
    return { width: Math.max(0, ...v.map((s) => s.width)), frames: v.reduce((n, s) => n + s.frames, 0), layer: layer?.layer ?? -1, layers: layer?.layers ?? 0 };
  });

/**
 * Polls, for up to 90 s, until cond holds of what the large and the
 * small page receive.
 * @param {import('playwright-core').Page} large
 * @param {import('playwright-core').Page} small
 * @param {string} what
 * @param {(l: Awaited<ReturnType<typeof received>>, s: Awaited<ReturnType<typeof received>>) => boolean} cond
 */
async function until(large, small, what, cond) {
  const end = Date.now() + 90_000;
  for (;;) {
    const [l, s] = [await received(large), await received(small)];
    if (cond(l, s)) return { l, s };
    if (Date.now() > end) throw new Error(`never happened: ${what} (large ${JSON.stringify(l)}, small ${JSON.stringify(s)})`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

test('VP9 SVC: one stream of three spatial layers; a small tile gets a lower layer and a smaller picture, a large tile the whole, both decoding', async () => {
  const A = await join(browser, srv.url, 'svc', 'ann', {
    setup: svcCamera,
    async prejoin(p) {
      await p.click('#prejoin-cam');
      await p.waitForFunction(() => /** @type {HTMLVideoElement} */ (document.querySelector('#prejoin-video')).videoWidth > 0, null, { timeout: 30_000 });
    },
  });
  pages.push(A);
  // A tile larger than the middle layer (640 by 360) even beside the
  // timeline: the top layer is the one that covers it.
  const B = await join(browser, srv.url, 'svc', 'bob', { viewport: { width: 1700, height: 1000 } });
  pages.push(B);
  const C = await join(browser, srv.url, 'svc', 'cy', { viewport: { width: 260, height: 640 } });
  pages.push(C);
  const sent = await A.evaluate(() => window.parley.sent());
  assert.equal(sent.length, 1, `ann sends one stream: ${JSON.stringify(sent)}`);

  const first = await until(B, C, 'the large tile gets the top layer, the small one a lower layer and a smaller picture', (l, s) =>
    l.layers === 3 && l.layer === 2 && s.layer >= 0 && s.layer < l.layer && s.width > 0 && s.width < l.width);
  console.log(`ann sends ${JSON.stringify(sent)}; bob gets ${JSON.stringify(first.l)}, cy ${JSON.stringify(first.s)}`);
  await until(B, C, 'both decode on', (l, s) => l.frames > first.l.frames + 20 && s.frames > first.s.frames + 20);

  for (const p of [A, B, C]) assert.deepEqual(p.errors.map(String), [], 'errors in the page');
  for (const p of [A, B, C]) await p.context().close();
});
