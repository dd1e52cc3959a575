// Starts a parley server and headless Chromium for the end-to-end tests.
// Everything listens on 127.0.0.1; the Makefile runs the tests inside a
// network namespace of their own when it can.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync, rmSync, existsSync, readFileSync, appendFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, '..', '..');
export const artifacts = path.resolve(repo, 'test-artifacts', 'e2e');

/** A free TCP port on 127.0.0.1. */
export function freeTCP() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

/** A free UDP port on 127.0.0.1. */
function freeUDP() {
  return new Promise((res, rej) => {
    const s = createSocket('udp4');
    s.on('error', rej);
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

/**
 * Starts the parley binary (PARLEY_BIN, default bin/parley) with the
 * built-in demo rooms on free ports and a fresh data directory; on
 * opts.host (an address of this machine) instead of 127.0.0.1 when given. With
 * opts.turn the built-in TURN server runs too, on loopback, allowed to
 * relay to the media port there. opts.media adds keys to [media], opts.storage to [storage].
 * opts.config is added to the server file: a string, or a function of
 * the server's URL (a node of a cluster names its own public_url).
 * @param {{rooms?: Record<string, string>, config?: string | ((url: string) => string), turn?: boolean, media?: string, storage?: string}} [opts]
 */
export async function startServer(opts = {}) {
  const bin = process.env.PARLEY_BIN || path.join(repo, 'bin', 'parley');
  if (!existsSync(bin)) throw new Error(`${bin} not found: run "make build" first, or set PARLEY_BIN`);
  const dir = mkdtempSync(path.join(tmpdir(), 'parley-e2e-'));
  const config = path.join(dir, 'parley.toml');
  // Ports are chosen free, but another process (another test's server, an
  // outgoing connection) may take one before parley binds it: then the
  // server is started again on new ports.
  let url;
  const choosePorts = async () => {
    const [http, udp, tcp, turn] = [await freeTCP(), await freeUDP(), await freeTCP(), await freeUDP()];
    const host = opts.host ?? '127.0.0.1';
    url = `http://${host}:${http}`;
    const turnConfig = opts.turn
      ? `[turn]\nenabled = true\nlisten_ip = "127.0.0.1"\nport = ${turn}\nallow_peers = ["127.0.0.1"]\n`
      : '[turn]\nenabled = false\n';
    writeFileSync(
      config,
      `[http]\nlisten = "${host}:${http}"\n[media]\nudp_port = ${udp}\ntcp_port = ${tcp}\n${opts.host ? `listen_ip = "${host}"\n` : ''}${opts.media ?? ''}` +
        `[storage]\ndata_dir = "${path.join(dir, 'data')}"\n${opts.storage ?? ''}${turnConfig}[log]\nlevel = "debug"\n` +
        (opts.rooms ? `[rooms]\ndir = "${path.join(dir, 'rooms')}"\n` : '') +
        (typeof opts.config === 'function' ? opts.config(url) : (opts.config ?? '')),
    );
  };
  await choosePorts();
  if (opts.rooms) {
    mkdirSync(path.join(dir, 'rooms'));
    for (const [name, text] of Object.entries(opts.rooms)) writeFileSync(path.join(dir, 'rooms', `${name}.toml`), text);
  }
  let proc;
  let log = '';
  const launch = async () => {
    proc = spawn(bin, ['-config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    // PARLEY_E2E_SERVER_LOG names a file that gets the servers' output
    // too, for a look at what a server did during a test.
    const keep = (/** @type {Buffer} */ d) => {
      log += d;
      if (process.env.PARLEY_E2E_SERVER_LOG) appendFileSync(process.env.PARLEY_E2E_SERVER_LOG, d);
    };
    proc.stdout.on('data', keep);
    proc.stderr.on('data', keep);
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (proc.exitCode !== null) {
        const err = new Error(`parley exited (${proc.exitCode}):\n${log}`);
        err.portTaken = /address already in use/.test(log);
        throw err;
      }
      try {
        const r = await fetch(`${url}/healthz`);
        if (r.ok) return;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new Error(`parley did not start in 20 s:\n${log}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const halt = async () => {
    if (proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  };
  for (let attempt = 1; ; attempt++) {
    try {
      await launch();
      break;
    } catch (err) {
      if (!err.portTaken || attempt === 5) throw err;
      log = '';
      await choosePorts();
    }
  }
  return {
    url,
    dir,
    log: () => log,
    /** Stops the server and starts it again on the same ports and data. */
    async restart() {
      await halt();
      // The ports were free a moment ago; one taken meanwhile is retried.
      for (let attempt = 1; ; attempt++) {
        try {
          await launch();
          return;
        } catch (err) {
          if (!err.portTaken || attempt === 5) throw err;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    },
    async stop() {
      await halt();
      rmSync(dir, { recursive: true, force: true });
    },
    /** Kills the server with SIGKILL, as a crash would, and removes its folder. */
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGKILL');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A bcrypt hash of password, made by the parley binary. */
export function hashPassword(password) {
  const bin = process.env.PARLEY_BIN || path.join(repo, 'bin', 'parley');
  const r = spawnSync(bin, ['hash-password'], { input: password + '\n', encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`hash-password: ${r.stderr}`);
  return r.stdout.trim();
}

/** Chromium flags that work headless on a server (see DESIGN.md, Testing). */
export const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection',
];

/**
 * Starts headless Chromium. With deny, every permission prompt (microphone,
 * camera) is refused, as by a user who clicks Block; args are more flags;
 * wrap gives the program to run instead of Chromium's (a script that
 * starts it somewhere else, say), from Chromium's path.
 * @param {{deny?: boolean, args?: string[], wrap?: (chromium: string) => string}} [opts]
 */
export async function launchBrowser(opts = {}) {
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  if (!existsSync(executablePath)) throw new Error(`${executablePath} not found: run scripts/install-deps.sh (Debian package chromium)`);
  const args = opts.deny ? [...chromiumArgs.filter((a) => a !== '--use-fake-ui-for-media-stream'), '--deny-permission-prompts'] : chromiumArgs;
  return chromium.launch({ executablePath: opts.wrap?.(executablePath) ?? executablePath, args: [...args, ...(opts.args ?? [])] });
}

/**
 * Runs in the page before the client: keeps every RTCPeerConnection in
 * window.__trace.pcs, so that a test can wait for a negotiation to settle.
 */
export function traceScript() {
  const trace = { pcs: [] };
  Object.defineProperty(window, '__trace', { value: trace });
  const PC = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends PC {
    constructor(...args) {
      super(...args);
      trace.pcs.push(this);
    }
  };
}

/**
 * Opens the client as a new user (its own storage) and joins a room.
 * With trace, the page keeps its connections (traceScript).
 * @param {import('playwright-core').Browser} browser
 * @param {string} url
 * @param {string} room
 * @param {string} name
 * @param {{trace?: boolean, setup?: (page: import('playwright-core').Page) => Promise<unknown>,
 *   prejoin?: (page: import('playwright-core').Page) => Promise<unknown>, viewport?: {width: number, height: number}, locale?: string,
 *   password?: string}} [opts]
 *   setup: runs on the new page before it loads the client; prejoin: on
 *   the check before going live, before Join is pressed; locale: the
 *   browser's language (navigator.languages, Accept-Language); password:
 *   the room's, or an operator's (the name being the operator's)
 */
export async function join(browser, url, room, name, opts = {}) {
  const context = await browser.newContext({ viewport: opts.viewport ?? { width: 1200, height: 900 }, locale: opts.locale });
  if (opts.trace) await context.addInitScript(traceScript);
  const page = await context.newPage();
  if (opts.setup) await opts.setup(page);
  page.on('dialog', (d) => d.accept());
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  page.on('console', (m) => {
    // Failed requests are reported with their address below.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(new Error(m.text()));
  });
  page.on('response', (r) => {
    if (r.status() >= 400) errors.push(new Error(`HTTP ${r.status()} for ${r.url()}`));
  });
  page.errors = errors;
  await page.goto(`${url}/?room=${encodeURIComponent(room)}`);
  await page.fill('#entry-name', name);
  await page.selectOption('#entry-room', room).catch(async (e) => {
    // What the entry page said, with the timeout.
    const said = await page.locator('#entry-error').textContent().catch(() => '');
    throw new Error(`${name} could not pick room ${room} on ${url}: the entry page says ${JSON.stringify(said)}: ${e.message}`);
  });
  if (opts.password) {
    // An open room hides the field behind a link, for operators.
    if (await page.locator('#entry-password-row').isHidden()) await page.click('#entry-password-show');
    await page.fill('#entry-password', opts.password);
  }
  await page.click('#entry-join');
  // Live rooms show what one sends before joining (prejoin.js).
  await page.waitForSelector('#room:not([hidden]), #prejoin:not([hidden])');
  if (await page.locator('#prejoin').isVisible()) {
    if (opts.prejoin) await opts.prejoin(page);
    await page.click('#prejoin-join');
  }
  await page.waitForSelector('#room:not([hidden])');
  await page.waitForFunction(() => document.querySelector('#conn')?.getAttribute('data-state') === 'open');
  // Media is published once the join is complete.
  await page.waitForFunction(() => window.parley.state().inRoom);
  return page;
}

/** Saves a screenshot of one element under test-artifacts/e2e. */
export async function shot(page, selector, name) {
  mkdirSync(artifacts, { recursive: true });
  await page.locator(selector).screenshot({ path: path.join(artifacts, `${name}.png`) });
}

/**
 * Downloads a clip and reads its timeline with ffprobe (duration, and per
 * stream its start_time and first and last packet times) and decodes it
 * with ffmpeg, whose output is empty for a clean file. The decoded video
 * keeps the file's millisecond time base (-enc_time_base -1): by default
 * ffmpeg puts it on a grid of the frame rate it guesses, and a camera's
 * frames, some closer together than that, collide there ("non
 * monotonically increasing dts to muxer"), which is no decoding error.
 * @param {string} url
 * @param {string} room
 * @param {string} id
 */
export async function clipTimeline(url, room, id) {
  const r = await fetch(`${url}/api/rooms/${room}/clips/${id}`);
  if (!r.ok) throw new Error(`GET clip ${id}: HTTP ${r.status}`);
  const dir = mkdtempSync(path.join(tmpdir(), 'parley-clip-'));
  const file = path.join(dir, `${id}.webm`);
  writeFileSync(file, Buffer.from(await r.arrayBuffer()));
  try {
    const probe = spawnSync(
      'ffprobe',
      ['-v', 'error', '-print_format', 'json', '-show_entries',
        'format=start_time,duration:stream=index,codec_type,start_time:packet=stream_index,pts_time', file],
      { encoding: 'utf8', maxBuffer: 64 << 20 },
    );
    if (probe.status !== 0) throw new Error(`ffprobe: ${probe.error ?? probe.stderr}`);
    const j = JSON.parse(probe.stdout);
    const start = Number(j.format.start_time ?? 0);
    const streams = j.streams.map((s) => {
      const pts = j.packets.filter((p) => p.stream_index === s.index).map((p) => Number(p.pts_time));
      return { type: s.codec_type, start: Number(s.start_time), first: pts[0], last: pts[pts.length - 1], packets: pts.length };
    });
    const dec = spawnSync('ffmpeg', ['-nostdin', '-v', 'error', '-i', file, '-enc_time_base:v', '-1', '-f', 'null', '-'], { encoding: 'utf8' });
    if (dec.status !== 0) throw new Error(`ffmpeg: ${dec.error ?? dec.stderr}`);
    return { start, duration: Number(j.format.duration), streams, decodeErrors: dec.stderr.trim() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * What is wrong with a clip's timeline (clipTimeline) for a recording of
 * want seconds: its duration off by more than durTol, a stream of the
 * given types missing, starting (or its first packet) more than startTol
 * after the clip, the video's last packet more than 90 ms after the
 * audio's or 150 ms before it (both stop at once: the video is late or
 * early by the difference), or a decode error. Empty for a clip in sync.
 * 90 ms is where sound ahead of the picture becomes unacceptable
 * (ITU-R BT.1359); a clip timed by arrival (Chrome's audio sender
 * reports rarely come in time) places the video by when its packets
 * arrived, so its encoder's extra delay over the audio's shows here: up
 * to 67 ms seen.
 * @param {Awaited<ReturnType<typeof clipTimeline>>} tl
 * @param {number} want
 * @param {string[]} types
 */
export function syncProblems(tl, want, types, durTol = 0.15, startTol = 0.04) {
  const bad = [];
  if (Math.abs(tl.duration - want) > durTol) bad.push(`lasts ${tl.duration.toFixed(3)} s, want ${want.toFixed(3)} s ±${durTol}`);
  for (const type of types) {
    const s = tl.streams.find((x) => x.type === type);
    if (!s || !s.packets) {
      bad.push(`no ${type} stream`);
      continue;
    }
    if (Math.abs(s.start - tl.start) > startTol || Math.abs(s.first - tl.start) > startTol) {
      bad.push(`${type} starts at ${s.start.toFixed(3)} s (first packet ${s.first.toFixed(3)} s), want within ${startTol} s of ${tl.start}`);
    }
  }
  const late = videoEndsLater(tl);
  if (late !== undefined && (late > 0.09 || late < -0.15)) bad.push(`the video ends ${late.toFixed(3)} s after the audio, want -0.150 to 0.090`);
  if (tl.streams.length !== types.length) bad.push(`streams ${tl.streams.map((s) => s.type)}, want ${types}`);
  if (tl.decodeErrors) bad.push(`ffmpeg: ${tl.decodeErrors}`);
  return bad;
}

/**
 * How much later the video's last packet is than the audio's, if the clip
 * has both.
 * @param {Awaited<ReturnType<typeof clipTimeline>>} tl
 */
function videoEndsLater(tl) {
  const a = tl.streams.find((s) => s.type === 'audio' && s.packets);
  const v = tl.streams.find((s) => s.type === 'video' && s.packets);
  return a && v ? v.last - a.last : undefined;
}

/** The figures of a clip's timeline, for the log. */
export function describeTimeline(tl) {
  const late = videoEndsLater(tl);
  return (
    `${tl.duration.toFixed(3)} s; ` +
    tl.streams.map((s) => `${s.type} from ${s.start.toFixed(3)} (packets ${s.first.toFixed(3)}–${s.last.toFixed(3)})`).join(', ') +
    (late === undefined ? '' : `; video ends ${late >= 0 ? '+' : ''}${late.toFixed(3)} s after audio`)
  );
}

/** Clips made by makeClip, by their arguments. */
const made = new Map();

/**
 * A WebM clip made with ffmpeg: seconds of a tone (Opus), with a test
 * picture (VP8) when video. Kept for the next call with the same arguments.
 * @param {number} seconds
 * @param {{video?: boolean, freq?: number}} [opts]
 * @returns {Buffer}
 */
export function makeClip(seconds, opts = {}) {
  const key = `${seconds}/${!!opts.video}/${opts.freq ?? 440}`;
  const have = made.get(key);
  if (have) return have;
  const dir = mkdtempSync(path.join(tmpdir(), 'parley-make-'));
  const file = path.join(dir, 'clip.webm');
  const args = ['-nostdin', '-v', 'error', '-f', 'lavfi', '-i', `sine=frequency=${opts.freq ?? 440}:duration=${seconds}`];
  if (opts.video) args.push('-f', 'lavfi', '-i', `testsrc=size=320x240:rate=15:duration=${seconds}`, '-c:v', 'libvpx', '-b:v', '300k');
  args.push('-c:a', 'libopus', '-b:a', '32k', file);
  const r = spawnSync('ffmpeg', args, { encoding: 'utf8' });
  try {
    if (r.status !== 0) throw new Error(`ffmpeg: ${r.error ?? r.stderr}`);
    const b = readFileSync(file);
    made.set(key, b);
    return b;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Uploads a clip as the user of page (with its owner key, over the clip
 * API), as if recorded there: the room gets clip-added. Resolves with the
 * clip as the API answers it.
 * @param {import('playwright-core').Page} page
 * @param {string} room
 * @param {Buffer} media
 * @param {{description?: string, video?: boolean}} [opts]
 */
export async function uploadClip(page, room, media, opts = {}) {
  return page.evaluate(
    async ({ room, b64, description, type }) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const q = description ? `?description=${encodeURIComponent(description)}` : '';
      const r = await fetch(`/api/rooms/${encodeURIComponent(room)}/clips${q}`, {
        method: 'POST',
        headers: { 'Content-Type': type, Authorization: `Bearer ${JSON.parse(localStorage.getItem('parley.ownerKey') ?? '""')}` },
        body: bytes,
      });
      if (!r.ok) throw new Error(`upload: HTTP ${r.status} ${await r.text()}`);
      return r.json();
    },
    { room, b64: media.toString('base64'), description: opts.description ?? '', type: opts.video ? 'video/webm' : 'audio/webm' },
  );
}

/** axe-core's source, read once. */
let axeSource = '';

/**
 * Runs axe-core in the page and throws, naming each rule and the elements
 * it found, if any violation is serious or critical. axe is evaluated in
 * the page through the driver, not added as a script: the client's CSP
 * allows no inline script, and the check must not need a weaker one.
 * @param {import('playwright-core').Page} page
 * @param {string} what the screen, for the message
 */
export async function checkA11y(page, what) {
  axeSource ||= readFileSync(path.join(here, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    // @ts-ignore axe is the script evaluated above
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.impact} ${v.id} (${v.help}): ${v.nodes.map((n) => `${n.target.join(' ')}${n.failureSummary ? ` [${n.failureSummary.replace(/\s+/g, ' ')}]` : ''}`).join('; ')}`);
  });
  if (violations.length) throw new Error(`accessibility of ${what}:\n${violations.join('\n')}`);
}

/** The sizes every screen is looked at: a laptop and a phone. */
export const screenSizes = [
  { width: 1280, height: 800 },
  { width: 390, height: 844 },
];

/**
 * What scrolls sideways in the page at its current size: the document's
 * overflow and the elements that stick out of the viewport, empty if none.
 * @param {import('playwright-core').Page} page
 */
export async function overflow(page) {
  return page.evaluate(() => {
    const w = document.documentElement.clientWidth;
    const out = [];
    if (document.documentElement.scrollWidth > w) out.push(`the page is ${document.documentElement.scrollWidth} px wide in ${w}`);
    for (const el of document.querySelectorAll('body *')) {
      const r = el.getBoundingClientRect();
      if (r.width && r.right > w + 1 && getComputedStyle(el).position !== 'fixed' && !el.closest('[hidden]')) {
        // Inside a box that clips or scrolls, sticking out is the box's business.
        let clipped = false;
        for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
          const o = getComputedStyle(p).overflowX;
          if (o !== 'visible' && p.getBoundingClientRect().right <= w + 1) {
            clipped = true;
            break;
          }
        }
        if (!clipped) out.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}${el.className && typeof el.className === 'string' ? '.' + el.className.split(' ').join('.') : ''} reaches ${Math.round(r.right)} px`);
      }
    }
    return out.slice(0, 10);
  });
}

/** Resolves after the page has drawn twice, so that a new size has taken effect. */
export async function settled(page) {
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(undefined)))));
}

/**
 * Looks at one screen of the client as it is now: a screenshot of the
 * whole page at 1280×800 and 390×844 under test-artifacts/e2e/screens,
 * the axe check at both sizes, and no sideways scrolling at 360 px. The
 * page keeps the size it had. opts.settle, when given, runs at each size
 * before the look: it waits for the page to be as wanted there (a tile
 * laid out again, a ring lit).
 * @param {import('playwright-core').Page} page
 * @param {string} name the screen, a file name
 * @param {{settle?: () => Promise<unknown>}} [opts]
 */
export async function lookAt(page, name, opts = {}) {
  const dir = path.join(artifacts, 'screens');
  mkdirSync(dir, { recursive: true });
  const before = page.viewportSize();
  try {
    for (const size of screenSizes) {
      await page.setViewportSize(size);
      await opts.settle?.();
      await settled(page);
      await page.screenshot({ path: path.join(dir, `${name}-${size.width}.png`) });
      await checkA11y(page, `${name} at ${size.width} px`);
    }
    await page.setViewportSize({ width: 360, height: 740 });
    await opts.settle?.();
    await settled(page);
    const wide = await overflow(page);
    if (wide.length) throw new Error(`${name} at 360 px scrolls sideways: ${wide.join('; ')}`);
  } finally {
    if (before) await page.setViewportSize(before);
  }
}

/**
 * Holds SPACE for ms milliseconds, with the focus on the page (not a
 * field), with a keyboard's auto-repeat.
 * @param {import('playwright-core').Page} page
 * @param {number} ms
 */
export async function holdSpace(page, ms) {
  await page.locator('#recorder h2').click();
  await page.keyboard.down(' ');
  // Auto-repeat, as a real keyboard sends it while the key is held.
  const until = Date.now() + ms;
  await page.waitForTimeout(300);
  while (Date.now() < until) {
    await page.keyboard.down(' ');
    await page.waitForTimeout(50);
  }
  await page.keyboard.up(' ');
}

/**
 * Runs in the page before the client: a Notification that records what it
 * is asked (window.__notes: the permission requests and the notifications
 * made), and a page the test can send to the background
 * (window.__background), as another window in front would.
 */
export function notificationStub() {
  const notes = { asked: 0, made: [] };
  Object.defineProperty(window, '__notes', { value: notes });
  let permission = 'default';
  class FakeNotification {
    static get permission() {
      return permission;
    }
    static async requestPermission() {
      notes.asked++;
      permission = 'granted';
      return permission;
    }
    constructor(title, opts = {}) {
      this.title = title;
      this.body = opts.body;
      this.onclick = null;
      notes.made.push(this);
    }
    close() {}
  }
  window.Notification = /** @type {any} */ (FakeNotification);
  window.__background = false;
  Object.defineProperty(document, 'visibilityState', { get: () => (window.__background ? 'hidden' : 'visible') });
  document.hasFocus = () => !window.__background;
}

/**
 * Keeps, in the page, the ids of the clips that start playing, in order
 * (window.__played), from now on. A clip that goes on after a stall (a
 * busy machine's decoder late: waiting, then playing again) has not
 * started again: only playing after play (it was paused) counts.
 * @param {import('playwright-core').Page} page
 */
export async function watchPlaying(page) {
  await page.evaluate(() => {
    const w = /** @type {any} */ (window);
    w.__played = [];
    /** @type {WeakSet<EventTarget>} media elements told to play, not playing yet */
    const starting = new WeakSet();
    document.addEventListener('play', (ev) => ev.target && starting.add(ev.target), true);
    document.addEventListener('playing', (ev) => {
      const el = /** @type {HTMLElement} */ (ev.target);
      if (el instanceof HTMLMediaElement && el.dataset.id && starting.delete(el)) w.__played.push(el.dataset.id);
    }, true);
  });
}

/**
 * Polls, for up to 60 s, until cond holds of what pub's camera sends now
 * (the widths of the layers that encoded frames since the last look: a
 * busy machine makes the browser drop a layer or lower its size for a
 * while) and the width of the picture a subscriber receives, as gets
 * says.
 * @param {import('playwright-core').Page} pub
 * @param {() => Promise<number>} gets
 * @param {string} what
 * @param {(sends: number[], gets: number) => boolean} cond
 */
export async function widthsUntil(pub, gets, what, cond) {
  const end = Date.now() + 60_000;
  /** @type {Record<string, number>} frames encoded of each layer at the last look */
  let seen = {};
  for (;;) {
    const layers = await pub.evaluate(() => window.parley.sent());
    const sends = layers.filter((l) => l.width > 0 && l.frames > (seen[l.rid] ?? Infinity)).map((l) => l.width);
    seen = Object.fromEntries(layers.map((l) => [l.rid, l.frames]));
    const got = await gets();
    if (cond(sends, got)) return { sends, gets: got };
    if (Date.now() > end) throw new Error(`never happened: ${what} (the camera sends ${sends.join(', ')} px wide, the subscriber gets ${got})`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
