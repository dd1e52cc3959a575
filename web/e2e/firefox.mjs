// Starts headless Firefox (Debian's firefox-esr) for the end-to-end tests,
// driven over WebDriver BiDi by puppeteer-core, and a PulseAudio daemon with
// a null sink as its audio output: without one, headless Firefox fails
// every media element that has sound (OnMediaSinkAudioError).

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import puppeteer from 'puppeteer-core';

export const firefoxPath = process.env.FIREFOX || '/usr/bin/firefox-esr';

/** Where nothing listens: the PULSE_SERVER of a Firefox without sound. */
const noPulse = 'unix:/nonexistent/parley-e2e-no-pulse';

/**
 * Why the Firefox tests cannot run here (a missing program, with the Debian
 * package that has it), or '' when they can.
 */
export function missing() {
  const need = [];
  if (!existsSync(firefoxPath)) need.push(`${firefoxPath} (Debian package firefox-esr)`);
  if (spawnSync('pulseaudio', ['--version']).status !== 0) need.push('pulseaudio (Debian package pulseaudio)');
  return need.length ? `missing ${need.join(' and ')}: run scripts/install-deps.sh` : '';
}

/** The version of the Firefox that the tests drive, e.g. "153.8.0esr". */
export function firefoxVersion() {
  const r = spawnSync(firefoxPath, ['--version'], { encoding: 'utf8' });
  return r.stdout.trim().replace(/^Mozilla Firefox /, '');
}

/**
 * Starts a PulseAudio daemon of the test's own, in a temporary directory,
 * with one null sink and a socket without authentication. Resolves once
 * the daemon says it is up.
 */
export async function startPulse() {
  const dir = mkdtempSync(path.join(tmpdir(), 'parley-pulse-'));
  const socket = path.join(dir, 'native');
  const env = { ...process.env, HOME: dir, XDG_RUNTIME_DIR: dir, XDG_CONFIG_HOME: dir, DBUS_SESSION_BUS_ADDRESS: 'disabled:' };
  // setpriv (util-linux) makes the daemon end with the test process, even
  // one that is killed.
  const [cmd, pre] = spawnSync('setpriv', ['--version']).status === 0 ? ['setpriv', ['--pdeathsig', 'TERM', 'pulseaudio']] : ['pulseaudio', []];
  const proc = spawn(
    cmd,
    [
      ...pre,
      '--daemonize=no',
      '--exit-idle-time=-1',
      '--use-pid-file=no',
      '--log-target=stderr',
      '--log-level=info',
      '-n',
      '--load=module-null-sink sink_name=null',
      `--load=module-native-protocol-unix socket=${socket} auth-anonymous=1`,
    ],
    { env, cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  await new Promise((resolve, reject) => {
    proc.stderr.on('data', (d) => {
      log += d;
      if (log.includes('Daemon startup complete')) resolve(undefined);
    });
    proc.once('error', reject);
    proc.once('exit', (code) => reject(new Error(`pulseaudio exited (${code}):\n${log}`)));
    setTimeout(() => reject(new Error(`pulseaudio did not start in 20 s:\n${log}`)), 20_000).unref();
  }).catch((e) => {
    proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw e;
  });
  proc.stderr.removeAllListeners('data');
  proc.stderr.resume();
  return {
    server: `unix:${socket}`,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Preferences for a headless Firefox in a sandbox without network: fake
 * camera and microphone without a prompt, autoplay allowed, loopback ICE
 * candidates (Firefox drops them otherwise) and no mDNS names for host
 * candidates, and nothing that calls home. puppeteer-core adds its own
 * automation defaults (no updates, no safe browsing, no telemetry upload).
 */
export const firefoxPrefs = {
  'media.navigator.streams.fake': true,
  'media.navigator.permission.disabled': true,
  'media.autoplay.default': 0,
  'media.autoplay.blocking_policy': 0,
  'media.peerconnection.ice.loopback': true,
  'media.peerconnection.ice.obfuscate_host_addresses': false,
  // Camera and microphone allowed for every site, as by a user's "always
  // allow": without a permission, Firefox gathers only the addresses of
  // the interface with the default route, and a namespace with only a
  // loopback interface has none.
  'permissions.default.camera': 1,
  'permissions.default.microphone': 1,
  // Nothing from the network: codecs, updates, telemetry, remote settings.
  'media.gmp-manager.url': '',
  'media.gmp-provider.enabled': false,
  'media.gmp-gmpopenh264.autoupdate': false,
  'media.gmp-widevinecdm.enabled': false,
  'media.eme.enabled': false,
  'app.update.enabled': false,
  'app.update.auto': false,
  'toolkit.telemetry.enabled': false,
  'toolkit.telemetry.unified': false,
  'toolkit.telemetry.server': '',
  'toolkit.telemetry.archive.enabled': false,
  'datareporting.usage.uploadEnabled': false,
  'browser.ping-centre.telemetry': false,
  'browser.newtabpage.activity-stream.telemetry': false,
  'browser.region.network.url': '',
  'browser.region.update.enabled': false,
  'browser.search.geoip.url': '',
  'geo.provider.network.url': '',
  'extensions.blocklist.enabled': false,
  'extensions.getAddons.discovery.api_url': '',
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
  'network.trr.mode': 5,
  'network.dns.disablePrefetch': true,
  'network.prefetch-next': false,
  'network.predictor.enabled': false,
  'dom.push.enabled': false,
  'dom.push.connection.enabled': false,
  'security.OCSP.enabled': 0,
  'security.remote_settings.crlite_filters.enabled': false,
  'security.remote_settings.intermediates.enabled': false,
  'services.sync.prefs.sync.browser.startup.page': false,
  'identity.fxaccounts.enabled': false,
  'browser.safebrowsing.provider.mozilla.updateURL': '',
  'browser.safebrowsing.provider.google4.updateURL': '',
  'browser.topsites.contile.enabled': false,
  'browser.aboutwelcome.enabled': false,
  'privacy.sanitize.sanitizeOnShutdown': false,
};

/**
 * Starts headless Firefox. With pulse (from startPulse), it plays sound to
 * that daemon's null sink; with pulse null, it has no audio output at all.
 * @param {{pulse: {server: string} | null}} opts
 */
export async function launchFirefox(opts) {
  if (!existsSync(firefoxPath)) throw new Error(`${firefoxPath} not found: run scripts/install-deps.sh (Debian package firefox-esr)`);
  return puppeteer.launch({
    browser: 'firefox',
    executablePath: firefoxPath,
    headless: true,
    protocolTimeout: 60_000,
    extraPrefsFirefox: firefoxPrefs,
    env: {
      ...process.env,
      PULSE_SERVER: opts.pulse ? opts.pulse.server : noPulse,
      MOZ_CRASHREPORTER_DISABLE: '1',
      // FIREFOX_LOG=file: Firefox's ICE and WebRTC logs, for debugging.
      ...(process.env.FIREFOX_LOG ? { MOZ_LOG: 'nicer:5,mtransport:5,webrtc_pc:5', MOZ_LOG_FILE: process.env.FIREFOX_LOG } : {}),
    },
  });
}

/**
 * Opens the client in Firefox as a new user (its own storage, a user
 * context of its own) and joins a room. Collects the page's errors in
 * page.errors, as harness.join does.
 * @param {import('puppeteer-core').Browser} browser
 * @param {string} url
 * @param {string} room
 * @param {string} name
 * @param {{camera?: boolean}} [opts] camera: turned on before joining a live room
 */
export async function joinFirefox(browser, url, room, name, opts = {}) {
  const context = await browser.createBrowserContext();
  const page = await context.newPage({ type: 'window' });
  page.setDefaultTimeout(30_000);
  page.on('dialog', (d) => d.accept());
  /** @type {Error[]} */
  const errors = [];
  page.on('pageerror', (e) => errors.push(e instanceof Error ? e : new Error(String(e))));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(new Error(m.text()));
  });
  page.on('response', (r) => {
    if (r.status() >= 400) errors.push(new Error(`HTTP ${r.status()} for ${r.url()}`));
  });
  Object.assign(page, { errors });
  await page.setViewport({ width: 1200, height: 900 });
  await page.goto(`${url}/?room=${encodeURIComponent(room)}`);
  await page.locator('#entry-name').fill(name);
  await page.select('#entry-room', room);
  await page.click('#entry-join');
  // Live rooms show what one sends before joining, the camera off.
  await page.waitForSelector('#room:not([hidden]), #prejoin:not([hidden])');
  if (await page.$eval('#prejoin', (e) => !(/** @type {HTMLElement} */ (e).hidden))) {
    if (opts.camera) await page.click('#prejoin-cam');
    await page.click('#prejoin-join');
  }
  await page.waitForSelector('#room:not([hidden])');
  await page.waitForFunction(() => document.querySelector('#conn')?.getAttribute('data-state') === 'open');
  await page.waitForFunction(() => window.parley.state().inRoom);
  return /** @type {import('puppeteer-core').Page & {errors: Error[]}} */ (page);
}
