// Starts a parley server and headless Chromium for the end-to-end tests.
// Everything listens on 127.0.0.1; the Makefile runs the tests inside a
// network namespace of their own when it can.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync, rmSync, existsSync } from 'node:fs';
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
function freeTCP() {
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
 * built-in demo rooms on free ports and a fresh data directory.
 */
export async function startServer(opts = {}) {
  const bin = process.env.PARLEY_BIN || path.join(repo, 'bin', 'parley');
  if (!existsSync(bin)) throw new Error(`${bin} not found: run "make build" first, or set PARLEY_BIN`);
  const dir = mkdtempSync(path.join(tmpdir(), 'parley-e2e-'));
  const [http, udp, tcp] = [await freeTCP(), await freeUDP(), await freeTCP()];
  const config = path.join(dir, 'parley.toml');
  writeFileSync(
    config,
    `[http]\nlisten = "127.0.0.1:${http}"\n[media]\nudp_port = ${udp}\ntcp_port = ${tcp}\n` +
      `[storage]\ndata_dir = "${path.join(dir, 'data')}"\n[turn]\nenabled = false\n[log]\nlevel = "debug"\n` +
      (opts.rooms ? `[rooms]\ndir = "${path.join(dir, 'rooms')}"\n` : '') +
      (opts.config ?? ''),
  );
  if (opts.rooms) {
    mkdirSync(path.join(dir, 'rooms'));
    for (const [name, text] of Object.entries(opts.rooms)) writeFileSync(path.join(dir, 'rooms', `${name}.toml`), text);
  }
  let proc;
  let log = '';
  const url = `http://127.0.0.1:${http}`;
  const launch = async () => {
    proc = spawn(bin, ['-config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout.on('data', (d) => (log += d));
    proc.stderr.on('data', (d) => (log += d));
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`parley exited (${proc.exitCode}):\n${log}`);
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
  await launch();
  return {
    url,
    dir,
    log: () => log,
    /** Stops the server and starts it again on the same ports and data. */
    async restart() {
      await halt();
      await launch();
    },
    async stop() {
      await halt();
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
 * camera) is refused, as by a user who clicks Block.
 * @param {{deny?: boolean}} [opts]
 */
export async function launchBrowser(opts = {}) {
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  if (!existsSync(executablePath)) throw new Error(`${executablePath} not found: run scripts/install-deps.sh (Debian package chromium)`);
  const args = opts.deny ? [...chromiumArgs.filter((a) => a !== '--use-fake-ui-for-media-stream'), '--deny-permission-prompts'] : chromiumArgs;
  return chromium.launch({ executablePath, args });
}

/**
 * Opens the client as a new user (its own storage) and joins a room.
 * @param {import('playwright-core').Browser} browser
 * @param {string} url
 * @param {string} room
 * @param {string} name
 */
export async function join(browser, url, room, name) {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
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
  await page.selectOption('#entry-room', room);
  await page.click('#entry-join');
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
