// Two parley nodes sharing one Redis (docs/scaling.md): a page served by
// either node joins the room where it lives, following the server's
// redirect, and stays on the node that served it; a node that stops
// sends its rooms to another node; a node killed with SIGKILL: its room
// comes back on another, with its chat and (the nodes sharing a bucket of
// a real S3 server, versitygw) its clips.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { startServer, launchBrowser, join, freeTCP, makeClip, uploadClip, watchPlaying, repo } from './harness.mjs';

const haveRedis = !spawnSync('redis-server', ['--version']).error;
if (!haveRedis && process.env.CI) throw new Error('redis-server not found: install package redis-server (scripts/install-deps.sh)');
// versitygw, built into bin/tools by scripts/install-deps.sh.
const versitygw = [path.join(repo, 'bin', 'tools', 'versitygw'), ...(process.env.PATH ?? '').split(':').map((d) => path.join(d, 'versitygw'))].find((p) => existsSync(p));
if (!versitygw && process.env.CI) throw new Error('versitygw not found in bin/tools or on PATH: run scripts/install-deps.sh');

/** @type {import('node:child_process').ChildProcess|undefined} */
let redis;
let redisDir = '';
let redisURL = '';
/** @type {Awaited<ReturnType<typeof startServer>>[]} */
const nodes = [];
/** @type {import('playwright-core').Browser} */
let browser;

/** Starts a redis-server of the test's own on 127.0.0.1, no persistence; resolves with its URL. */
async function startRedis() {
  const port = await freeTCP();
  redisDir = mkdtempSync(path.join(tmpdir(), 'parley-e2e-redis-'));
  redis = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--dir', redisDir, '--save', '', '--appendonly', 'no', '--logfile', ''], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const proc = redis;
  let log = '';
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server not ready in 20 s:\n${log}`)), 20_000);
    proc.stdout?.on('data', (d) => {
      log += d;
      if (log.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve(undefined);
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited (${code}):\n${log}`));
    });
  });
  return `redis://127.0.0.1:${port}/0`;
}

/**
 * Starts nodes of one cluster on the test's Redis, lease 1 s, their keys
 * under prefix (tests apart keep apart).
 * @param {string[]} ids
 * @param {string} prefix
 */
async function startNodes(ids, prefix, storage = '') {
  const out = [];
  for (const id of ids) {
    out.push(
      await startServer({
        storage,
        config: (url) => `[cluster]\nredis_url = "${redisURL}"\nnode_id = "${id}"\npublic_url = "${url}"\nheartbeat = "100ms"\nlease = "1s"\nkey_prefix = "${prefix}"\n`,
      }),
    );
  }
  return out;
}

/**
 * Starts a versitygw of the test's own on 127.0.0.1 (POSIX backend, in a
 * temporary folder, whose sub-folder is the bucket), and resolves with
 * the lines of [storage] that give a node its bucket (credentials in a
 * file).
 */
async function startS3() {
  const port = await freeTCP();
  s3Dir = mkdtempSync(path.join(tmpdir(), 'parley-e2e-s3-'));
  mkdirSync(path.join(s3Dir, 'store', 'parley-e2e'), { recursive: true });
  const access = `e2e${Date.now()}`;
  const secret = `secret-${Math.random().toString(36).slice(2)}-${Date.now()}`;
  const creds = path.join(s3Dir, 'credentials');
  writeFileSync(creds, `${access}\n${secret}\n`, { mode: 0o600 });
  s3 = spawn(/** @type {string} */ (versitygw), ['--port', `127.0.0.1:${port}`, '--access', access, '--secret', secret, '--region', 'us-east-1', '--quiet', 'posix', path.join(s3Dir, 'store')], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '', HOME: s3Dir },
    cwd: s3Dir,
  });
  // Ready when it accepts a connection.
  const net = await import('node:net');
  for (let i = 0; ; i++) {
    const up = await new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => {
        c.end();
        resolve(true);
      });
      c.on('error', () => resolve(false));
    });
    if (up) break;
    if (i > 300 || s3.exitCode !== null) throw new Error('versitygw did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  return `s3_endpoint = "http://127.0.0.1:${port}"\ns3_bucket = "parley-e2e"\ns3_credentials_file = "${creds}"\n`;
}

/** @type {import('node:child_process').ChildProcess|undefined} */
let s3;
let s3Dir = '';

before(async () => {
  if (!haveRedis) return;
  redisURL = await startRedis();
  nodes.push(...(await startNodes(['a', 'b'], 'parley:')));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  for (const n of nodes) await n.stop();
  redis?.kill('SIGKILL');
  if (redisDir) rmSync(redisDir, { recursive: true, force: true });
  s3?.kill('SIGKILL');
  if (s3Dir) rmSync(s3Dir, { recursive: true, force: true });
});

test('a page on another node than the room follows the redirect, joins the one room and stays on its node', { skip: !haveRedis && 'redis-server not found' }, async () => {
  const [a, b] = nodes;
  const ann = await join(browser, a.url, 'chat', 'ann');
  const bob = await join(browser, b.url, 'chat', 'bob');
  try {
    // Both in one room: each sees the other.
    await bob.locator('#online button.person', { hasText: 'ann' }).waitFor();
    await ann.locator('#online button.person', { hasText: 'bob' }).waitFor();
    // bob's page is still node b's; its websocket went to node a.
    assert.ok(bob.url().startsWith(b.url), `bob's page moved to ${bob.url()}`);
    // Chat crosses: bob's message reaches ann.
    await bob.fill('#chat-text', 'hello from node b');
    await bob.press('#chat-text', 'Enter');
    await ann.locator('#timeline', { hasText: 'hello from node b' }).waitFor();
    // A clip from bob's page goes through node b to the room's node,
    // where ann gets it, and plays on bob's page, whose media requests go
    // to node b, which proxies them.
    await watchPlaying(bob);
    const c = await uploadClip(bob, 'chat', makeClip(1));
    await ann.locator(`#timeline .clip[data-id="${c.id}"]`).waitFor();
    await bob.locator(`#timeline .clip[data-id="${c.id}"] button.play`).click();
    await bob.waitForFunction((id) => /** @type {any} */ (window).__played?.includes(id), c.id);
    assert.deepEqual(ann.errors, []);
    assert.deepEqual(bob.errors, []);
  } finally {
    await ann.context().close();
    await bob.context().close();
  }
});

test('a stopping node sends its room to another node: the pages follow, and find the room again after their own node has gone', { skip: !haveRedis && 'redis-server not found' }, async () => {
  // Two more nodes, with keys of their own in the same Redis.
  const more = await startNodes(['c', 'd'], 'drain:');
  const [c, d] = more;
  const ann = await join(browser, c.url, 'chat', 'ann');
  const bob = await join(browser, d.url, 'chat', 'bob');
  try {
    await bob.locator('#online button.person', { hasText: 'ann' }).waitFor();
    // Node c stops: it drains, sending the room to d, where both join again.
    await c.stop();
    more.shift();
    for (const [page, other] of [
      [ann, 'bob'],
      [bob, 'ann'],
    ]) {
      await page.waitForFunction(() => document.querySelector('#conn')?.getAttribute('data-state') === 'open');
      await page.locator('#online button.person', { hasText: other }).waitFor();
    }
    assert.ok(ann.url().startsWith(c.url), `ann's page moved to ${ann.url()}`);
    await ann.fill('#chat-text', 'after the move');
    await ann.press('#chat-text', 'Enter');
    await bob.locator('#timeline', { hasText: 'after the move' }).waitFor();
    // ann's connection drops; her page's node is gone: she finds the room
    // through d, the node she was last sent to.
    await ann.evaluate(() => window.parley.reconnect());
    await ann.waitForFunction(() => document.querySelector('#conn')?.getAttribute('data-state') !== 'open');
    await ann.waitForFunction(() => document.querySelector('#conn')?.getAttribute('data-state') === 'open', null, { timeout: 30_000 });
    await ann.waitForFunction(() => window.parley.state().inRoom);
    await bob.fill('#chat-text', 'welcome back');
    await bob.press('#chat-text', 'Enter');
    await ann.locator('#timeline', { hasText: 'welcome back' }).waitFor();
  } finally {
    await ann.context().close();
    await bob.context().close();
    for (const n of more) await n.stop();
  }
});

test('a node killed with SIGKILL: its room comes back on another node, with its chat history and its clips, and the pages find it', { skip: (!haveRedis && 'redis-server not found') || (!versitygw && 'versitygw not found') }, async (t) => {
  const more = await startNodes(['e', 'f'], 'kill:', await startS3());
  const [e, f] = more;
  const bob = await join(browser, e.url, 'chat', 'bob');
  const ann = await join(browser, f.url, 'chat', 'ann');
  /** @type {import('playwright-core').Page|undefined} */
  let cat;
  try {
    await ann.locator('#online button.person', { hasText: 'bob' }).waitFor();
    await bob.fill('#chat-text', 'before the crash');
    await bob.press('#chat-text', 'Enter');
    await ann.locator('#timeline', { hasText: 'before the crash' }).waitFor();
    // A clip of ann's, through her node to the room's, which puts it in
    // the bucket before it is announced.
    const c = await uploadClip(ann, 'chat', makeClip(1));
    await bob.locator(`#timeline .clip[data-id="${c.id}"]`).waitFor();
    // The room's node dies; after its lease (1 s) the room is placed
    // again, on node f, where ann's page reconnects.
    const killed = Date.now();
    await e.kill();
    await ann.waitForFunction(() => document.querySelector('#conn')?.getAttribute('data-state') !== 'open');
    await ann.waitForFunction(() => document.querySelector('#conn')?.getAttribute('data-state') === 'open', null, { timeout: 60_000 });
    await ann.waitForFunction(() => window.parley.state().inRoom);
    t.diagnostic(`ann was back in the room ${Date.now() - killed} ms after its node was killed`);
    // A newcomer at node f finds ann there, the history in Redis, and
    // the clip from the bucket, which plays.
    cat = await join(browser, f.url, 'chat', 'cat');
    await cat.locator('#online button.person', { hasText: 'ann' }).waitFor();
    await cat.locator('#timeline', { hasText: 'before the crash' }).waitFor();
    await ann.locator('#online button.person', { hasText: 'cat' }).waitFor();
    await watchPlaying(cat);
    await cat.locator(`#timeline .clip[data-id="${c.id}"] button.play`).click();
    await cat.waitForFunction((id) => /** @type {any} */ (window).__played?.includes(id), c.id);
    assert.deepEqual(cat.errors, []);
  } finally {
    await bob.context().close();
    await ann.context().close();
    await cat?.context().close();
    await e.kill();
    await f.stop();
  }
});
