// End-to-end test of a camera station (web/static/station.js): a browser
// made a station in a video clip room records clips by itself when its
// camera shows motion and stops after stillness; the station's owner, from
// another browser with the same owner key, sees it and turns its motion
// detection off and on, and the station shows who controls it; someone
// else is refused by the server. The owner also asks for a snapshot clip;
// a camera that fails is opened again, and after a server restart the
// station comes back with its settings. A camera that never stops moving
// is recorded in consecutive clips no longer than the maximum length. The
// owner's other device turns the station's camera off and on and changes
// its settings; an operator of the room controls it too.
//
// Motion and stillness come from one camera: the station's Chromium plays
// a Y4M file this test writes (--use-file-for-fake-video-capture), which
// Chromium loops: a bright square moves for 2 s, then the picture stands
// still for 15 s. A clip therefore starts with the motion and must end
// after the station's stillness setting (3 s), well before the next
// motion; Chromium's default fake camera, whose animation never stops,
// could only show the start. The owner's browser uses the default fake
// camera and sends nothing. The camera that never stops moving is a
// third browser's, whose file has only the moving square.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startServer, launchBrowser, join, lookAt, hashPassword } from './harness.mjs';

const W = 160;
const H = 120;
const FPS = 4;

/**
 * A Y4M video (4:2:0) of motionFrames frames of a white square moving
 * across a grey picture, then stillFrames frames of the grey picture alone
 * (none: looped, the square moves all the time, jumping back at the end).
 * @param {string} file
 * @param {number} motionFrames
 * @param {number} stillFrames
 */
function writeY4M(file, motionFrames, stillFrames) {
  const chroma = Buffer.alloc((W / 2) * (H / 2) * 2, 128);
  const frames = [Buffer.from(`YUV4MPEG2 W${W} H${H} F${FPS}:1 Ip A1:1 C420jpeg\n`)];
  for (let f = 0; f < motionFrames + stillFrames; f++) {
    const y = Buffer.alloc(W * H, 90);
    if (f < motionFrames) {
      const x0 = Math.round(((W - 40) * f) / Math.max(1, motionFrames - 1));
      for (let r = 40; r < 80; r++) y.fill(235, r * W + x0, r * W + x0 + 40);
    }
    frames.push(Buffer.from('FRAME\n'), y, chroma);
  }
  writeFileSync(file, Buffer.concat(frames));
}

/** @type {Awaited<ReturnType<typeof startServer>>} */
let srv;
/** @type {import('playwright-core').Browser} */
let camBrowser;
/** @type {import('playwright-core').Browser} */
let browser;
let dir = '';

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'parley-station-'));
  const y4m = path.join(dir, 'motion-then-still.y4m');
  writeY4M(y4m, 2 * FPS, 15 * FPS);
  srv = await startServer({ config: `[[auth.operators]]\nname = "olga"\npassword = "${hashPassword('operator pass')}"\n` });
  camBrowser = await launchBrowser({ args: [`--use-file-for-fake-video-capture=${y4m}`] });
  browser = await launchBrowser();
});

after(async () => {
  await camBrowser?.close();
  await browser?.close();
  await srv?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The room's clips, as the API lists them. */
async function clips() {
  const r = await fetch(`${srv.url}/api/rooms/videochat/clips`);
  return (await r.json()).clips;
}

test('a station records on motion, stops after stillness, and is controlled by its owner only', async () => {
  const start = Date.now();
  const step = (what) => console.log(`${((Date.now() - start) / 1000).toFixed(1)} s: ${what}`);
  const porch = await join(camBrowser, srv.url, 'videochat', 'porch');
  await porch.click('#more-recorder summary');
  await porch.click('#station-toggle');
  await porch.locator('#station .station-view').waitFor();
  // Settings for the test: quick to start, quick to stop.
  const own = porch.locator('#station-own');
  await porch.click('#station .station-more summary');
  await own.locator('input[name="warmup"]').fill('1');
  await own.locator('input[name="stillness"]').fill('3');
  await own.locator('button[type="submit"]').click();
  await porch.waitForFunction(() => JSON.parse(localStorage.getItem('parley.station.videochat') ?? '{}').settings?.stillness === 3);

  step('station on');
  // The owner, from another browser with the same owner key.
  const key = await porch.evaluate(() => JSON.parse(localStorage.getItem('parley.ownerKey') ?? '""'));
  assert.ok(key, 'the station has an owner key');
  const ann = await join(browser, srv.url, 'videochat', 'ann', {
    setup: (page) => page.addInitScript((k) => localStorage.setItem('parley.ownerKey', JSON.stringify(k)), key),
  });
  const remote = ann.locator('.station-remote[data-station="porch"]');
  await remote.waitFor();
  // Someone else sees no station.
  const eve = await join(browser, srv.url, 'videochat', 'eve');
  step('owner and eve joined');

  // A clip recorded on motion, by nobody pressing anything, that ends
  // after the stillness (3 s), not at the maximum length (60 s).
  const t0 = Date.now();
  await ann.locator('#timeline .clip[data-author="porch"][data-trigger="motion"]').first().waitFor({ timeout: 60_000 });
  await porch.locator('#station[data-recording="no"]').waitFor();
  const motionClips = (await clips()).filter((c) => c.trigger === 'motion' && c.author === 'porch');
  assert.ok(motionClips.length >= 1, 'a motion clip');
  for (const clip of motionClips) {
    assert.equal(clip.kind, 'video');
    // 2 s of motion, 3 s of stillness: about 5 s (more on a busy machine,
    // whose camera is late), ended by the stillness long before the
    // longest clip (60 s).
    assert.ok(clip.duration >= 2 && clip.duration < 30, `a motion clip lasts ${clip.duration} s`);
  }
  assert.equal(await ann.locator('#timeline .clip[data-trigger="motion"] .trigger').first().textContent(), 'motion');
  assert.equal(await eve.locator('.station-remote').count(), 0, 'someone else is shown no station');
  console.log(`${motionClips.length} motion clips of ${motionClips.map((c) => c.duration).join(', ')} s, the first after ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  // What a look at the camera costs the station (a figure, not a test):
  // the frame drawn small and read back, as each tick does.
  const ms = await porch.evaluate(() => {
    const v = /** @type {HTMLVideoElement} */ (document.querySelector('#station .station-view'));
    const c = document.createElement('canvas');
    c.width = 64;
    c.height = 48;
    const x = /** @type {CanvasRenderingContext2D} */ (c.getContext('2d', { willReadFrequently: true }));
    const t0 = performance.now();
    for (let i = 0; i < 100; i++) {
      x.drawImage(v, 0, 0, 64, 48);
      x.getImageData(0, 0, 64, 48);
    }
    return (performance.now() - t0) / 100;
  });
  console.log(`a frame drawn at 64×48 and read back: ${ms.toFixed(2)} ms`);

  // The owner turns motion detection off, then on again; the station
  // shows who does.
  await remote.getByRole('button', { name: 'Stop motion detection' }).click();
  await porch.locator('#station-controlled', { hasText: 'ann' }).waitFor();
  await porch.getByRole('button', { name: 'Start motion detection' }).waitFor();
  await remote.getByRole('button', { name: 'Start motion detection' }).waitFor();
  assert.match(await porch.locator('#station-controlled').textContent(), /ann \(its owner\)/);
  assert.match(await porch.locator('#station-state').textContent(), /motion detection off/);
  // A snapshot clip, asked for while motion detection is off.
  await porch.locator('#station[data-recording="no"]').waitFor();
  await remote.getByRole('button', { name: 'Snapshot clip' }).click();
  await ann.locator('#timeline .clip[data-author="porch"][data-trigger="snapshot"]').waitFor({ timeout: 60_000 });
  const snaps = (await clips()).filter((c) => c.trigger === 'snapshot');
  assert.equal(snaps.length, 1, 'one snapshot clip');
  assert.ok(snaps[0].duration > 1 && snaps[0].duration < 10, `the snapshot lasts ${snaps[0].duration} s`);
  await lookAt(porch, 'station');
  await lookAt(ann, 'station-controller');
  await remote.getByRole('button', { name: 'Start motion detection' }).click();
  await porch.getByRole('button', { name: 'Stop motion detection' }).waitFor();
  await remote.getByRole('button', { name: 'Stop motion detection' }).waitFor();

  // Someone else is refused by the server, whatever they send.
  const porchId = await porch.evaluate(() => window.parley.state().me.id);
  const refused = await eve.evaluate(
    ({ id }) =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(`ws://${location.host}/ws`);
        ws.onopen = () => ws.send(JSON.stringify({ type: 'join', room: 'videochat', name: 'eve2' }));
        ws.onmessage = (ev) => {
          const m = JSON.parse(ev.data);
          if (m.type === 'joined') ws.send(JSON.stringify({ type: 'station-command', to: id, command: 'motion-off', req: 1 }));
          if (m.type === 'error' && m.req === 1) {
            ws.close();
            resolve(m.code);
          }
        };
        ws.onerror = () => reject(new Error('websocket failed'));
      }),
    { id: porchId },
  );
  assert.equal(refused, 'not-controller');
  assert.match(await porch.locator('#station-state').textContent(), /watching for motion|warming up/, 'the station still watches');

  // Unattended: a camera that fails (here stopped under the page's feet,
  // as an unplugged one ends) is opened again by itself.
  const oldTrack = await porch.evaluate(() => {
    const track = /** @type {MediaStream} */ (/** @type {HTMLVideoElement} */ (document.querySelector('#station .station-view')).srcObject).getVideoTracks()[0];
    track.stop();
    return track.id;
  });
  await porch.waitForFunction(
    (old) => {
      const s = /** @type {HTMLVideoElement|null} */ (document.querySelector('#station .station-view'))?.srcObject;
      const track = s instanceof MediaStream ? s.getVideoTracks()[0] : null;
      return track && track.id !== old && track.readyState === 'live';
    },
    oldTrack,
    { timeout: 60_000 },
  );

  // Unattended: after a server restart the station comes back by
  // itself, with its settings, and its owner sees it again.
  const [annID, porchID] = [await ann.evaluate(() => window.parley.state().me.id), porchId];
  await srv.restart();
  // Both in the room again, in new sessions.
  await ann.waitForFunction((id) => window.parley.state().inRoom && window.parley.state().me.id !== id, annID, { timeout: 60_000 });
  await porch.waitForFunction((id) => window.parley.state().inRoom && window.parley.state().me.id !== id, porchID, { timeout: 60_000 });
  await ann.locator('.station-remote[data-station="porch"] input[name="stillness"]').waitFor({ state: 'attached', timeout: 60_000 });
  assert.equal(await ann.locator('.station-remote[data-station="porch"] input[name="stillness"]').inputValue(), '3');
  await porch.locator('#station .station-view').waitFor();

  // The restart refused their reconnections for a while, as it should.
  for (const p of [porch, ann, eve]) {
    const errors = p.errors.filter((e) => !/ERR_CONNECTION_REFUSED|WebSocket/.test(String(e)));
    assert.deepEqual(errors, [], 'no page errors');
  }
  await porch.context().close();
  await ann.context().close();
  await eve.context().close();
});

test('a maximum length splits a long event: a camera that never stops moving is recorded in consecutive clips, each no longer than the maximum', async () => {
  const y4m = path.join(dir, 'moving.y4m');
  writeY4M(y4m, 2 * FPS, 0);
  const movingBrowser = await launchBrowser({ args: [`--use-file-for-fake-video-capture=${y4m}`] });
  try {
    const lane = await join(movingBrowser, srv.url, 'videochat', 'lane');
    await lane.click('#more-recorder summary');
    await lane.click('#station-toggle');
    await lane.locator('#station .station-view').waitFor();
    // The smallest maximum the settings allow, and a stillness longer
    // than it: only the maximum ends a clip here. Set with motion
    // detection off, as a person would, and on again after.
    const actions = lane.locator('#station .station-actions');
    await actions.getByRole('button', { name: 'Stop motion detection' }).click();
    const own = lane.locator('#station-own');
    await lane.click('#station .station-more summary');
    const max = Number(await own.locator('input[name="max_seconds"]').getAttribute('min'));
    assert.ok(max >= 1 && max <= 10, `the smallest maximum length is ${max} s`);
    await own.locator('input[name="warmup"]').fill('1');
    await own.locator('input[name="stillness"]').fill(String(max + 3));
    await own.locator('input[name="max_seconds"]').fill(String(max));
    await own.locator('button[type="submit"]').click();
    await lane.waitForFunction((max) => JSON.parse(localStorage.getItem('parley.station.videochat') ?? '{}').settings?.max_seconds === max, max);
    await actions.getByRole('button', { name: 'Start motion detection' }).click();
    // Clips that began before the settings applied are not counted.
    const since = Date.now();
    // When the station's recordings begin and end, as it sees them.
    await lane.evaluate(() => {
      const w = /** @type {any} */ (window);
      w.__rec = [];
      const panel = /** @type {HTMLElement} */ (document.querySelector('#station'));
      new MutationObserver(() => {
        const last = w.__rec.at(-1);
        if (last?.state !== panel.dataset.recording) w.__rec.push({ state: panel.dataset.recording, at: Date.now(), status: document.querySelector('#station .station-status')?.textContent ?? '' });
      }).observe(panel, { attributes: true, attributeFilter: ['data-recording'], childList: true });
    });
    const motionClip = '#timeline .clip[data-author="lane"][data-trigger="motion"]';
    const before = await lane.locator(motionClip).count();

    // Nobody presses anything: three clips more (the first may have
    // begun before the settings), each in the timeline once it ended.
    await lane.locator(motionClip).nth(before + 2).waitFor({ timeout: 60_000 });
    const got = (await clips())
      .filter((c) => c.author === 'lane' && c.trigger === 'motion' && Date.parse(c.created) >= since)
      .sort((a, b) => Date.parse(a.created) - Date.parse(b.created));
    const rec = await lane.evaluate(() => /** @type {any} */ (window).__rec);
    console.log(JSON.stringify(got.map((c) => ({ created: c.created, duration: c.duration }))));
    console.log(JSON.stringify(rec.map((r) => ({ ...r, at: new Date(r.at).toISOString() }))));
    assert.ok(got.length >= 2, `${got.length} motion clips after the settings`);
    const gaps = [];
    for (const [i, c] of got.entries()) {
      // The station stops at max - 0.5 s, at its next look at the camera
      // (every 250 ms): a clip lasts max - 0.5 s to max - 0.25 s, plus
      // the record-stop's way to the server. The margin of 0.5 s over
      // the maximum is for a busy machine's late timer.
      assert.ok(c.duration <= max + 0.5, `clip ${i} lasts ${c.duration} s, the maximum is ${max} s`);
      // Ended by the maximum, not by stillness (the stillness is longer).
      assert.ok(c.duration >= max - 1.5, `clip ${i} lasts ${c.duration} s, too short for a split at ${max} s`);
      if (i === 0) continue;
      const prev = got[i - 1];
      // From the end of one clip's media to the start of the next
      // recording: the record-stop's answer, the next look at the camera
      // (250 ms later at most), the record-start's way.
      const gap = (Date.parse(c.created) - Date.parse(prev.created)) / 1000 - prev.duration;
      gaps.push(gap);
      assert.ok(gap >= -0.1 && gap < 1.5, `clip ${i} began ${gap.toFixed(3)} s after clip ${i - 1} ended`);
    }
    console.log(`clips of ${got.map((c) => c.duration).join(', ')} s with a maximum of ${max} s; gaps ${gaps.map((g) => g.toFixed(3)).join(', ')} s`);
    await actions.getByRole('button', { name: 'Stop the station' }).click();
    assert.deepEqual(lane.errors, [], 'no page errors');
    await lane.context().close();
  } finally {
    await movingBrowser.close();
  }
});

test("the owner's other device turns the station's camera off and on and changes a setting; an operator controls it too", async () => {
  const shed = await join(browser, srv.url, 'videochat', 'shed');
  await shed.click('#more-recorder summary');
  await shed.click('#station-toggle');
  await shed.locator('#station .station-view').waitFor();
  const self = shed.locator('#station .station-actions');
  // This test is about control: the default fake camera, which always
  // moves, records nothing.
  await self.getByRole('button', { name: 'Stop motion detection' }).click();
  await self.getByRole('button', { name: 'Start motion detection' }).waitFor();
  const key = await shed.evaluate(() => JSON.parse(localStorage.getItem('parley.ownerKey') ?? '""'));
  const kim = await join(browser, srv.url, 'videochat', 'kim', {
    setup: (page) => page.addInitScript((k) => localStorage.setItem('parley.ownerKey', JSON.stringify(k)), key),
  });
  const remote = kim.locator('.station-remote[data-station="shed"]');
  await remote.waitFor();
  const state = () => shed.locator('#station-state').textContent();
  const controlled = () => shed.locator('#station-controlled').textContent();

  // Camera off: the station's camera track stops, and the station says so.
  await shed.evaluate(() => {
    const s = /** @type {HTMLVideoElement} */ (document.querySelector('#station .station-view')).srcObject;
    /** @type {any} */ (window).__cam = /** @type {MediaStream} */ (s).getVideoTracks()[0];
  });
  assert.equal(await shed.evaluate(() => /** @type {any} */ (window).__cam.readyState), 'live');
  await remote.getByRole('button', { name: 'Camera off', exact: true }).click();
  await shed.waitForFunction(() => /** @type {any} */ (window).__cam.readyState === 'ended');
  await shed.locator('#station .station-off').waitFor();
  assert.equal(await shed.locator('#station .station-view').count(), 0, 'the station still shows a camera');
  assert.match(await state(), /camera off/);
  assert.match(await controlled(), /kim \(its owner\)/);
  await self.getByRole('button', { name: 'Camera on', exact: true }).waitFor();
  await remote.getByRole('button', { name: 'Camera on', exact: true }).waitFor();
  assert.match(await remote.locator('.station-state').textContent(), /camera off/);
  await lookAt(shed, 'station-camera-off');

  // On again: a new camera track, live, in the station's view.
  await remote.getByRole('button', { name: 'Camera on', exact: true }).click();
  await shed.waitForFunction(() => {
    const s = /** @type {HTMLVideoElement|null} */ (document.querySelector('#station .station-view'))?.srcObject;
    const track = s instanceof MediaStream ? s.getVideoTracks()[0] : null;
    return !!track && track !== /** @type {any} */ (window).__cam && track.readyState === 'live';
  });
  assert.match(await state(), /camera on/);
  await remote.getByRole('button', { name: 'Camera off', exact: true }).waitFor();

  // A setting, through the owner's controls: the station shows the new
  // value in its own settings, and keeps it.
  await remote.locator('summary').click();
  const form = remote.locator('form.station-settings');
  const sensitivity = Number(await form.locator('input[name="sensitivity"]').inputValue());
  const want = sensitivity === 42 ? 43 : 42;
  await form.locator('input[name="sensitivity"]').fill(String(want));
  // The station changes meanwhile (motion detection on, at the station):
  // the owner's panel is drawn again, and what was typed stays, focused.
  await self.getByRole('button', { name: 'Start motion detection' }).click();
  await remote.getByRole('button', { name: 'Stop motion detection' }).waitFor();
  assert.equal(await form.locator('input[name="sensitivity"]').inputValue(), String(want), 'what the owner typed was lost');
  assert.equal(await kim.evaluate(() => /** @type {HTMLInputElement|null} */ (document.activeElement)?.name), 'sensitivity');
  await self.getByRole('button', { name: 'Stop motion detection' }).click();
  await remote.getByRole('button', { name: 'Start motion detection' }).waitFor();
  await form.getByRole('button', { name: 'Apply' }).click();
  await shed.waitForFunction((want) => /** @type {HTMLInputElement|null} */ (document.querySelector('#station-own input[name="sensitivity"]'))?.value === String(want), want);
  await shed.click('#station .station-more summary');
  assert.equal(await shed.locator('#station-own input[name="sensitivity"]').isVisible(), true);
  assert.equal(await shed.evaluate(() => JSON.parse(localStorage.getItem('parley.station.videochat') ?? '{}').settings?.sensitivity), want);

  // An operator of the room controls it too, and the station says who.
  const olga = await join(browser, srv.url, 'videochat', 'olga', { password: 'operator pass' });
  await olga.locator('#operator:not([hidden])').waitFor();
  const opRemote = olga.locator('.station-remote[data-station="shed"]');
  await opRemote.waitFor();
  await opRemote.locator('summary').click();
  const opForm = opRemote.locator('form.station-settings');
  assert.equal(await opForm.locator('input[name="sensitivity"]').inputValue(), String(want), "the operator is shown the owner's setting");
  await opForm.locator('input[name="stillness"]').fill('17');
  await opForm.getByRole('button', { name: 'Apply' }).click();
  await shed.waitForFunction(() => /** @type {HTMLInputElement|null} */ (document.querySelector('#station-own input[name="stillness"]'))?.value === '17');
  await shed.locator('#station-controlled', { hasText: 'olga' }).waitFor();
  assert.match(await controlled(), /by olga \(an operator\)/);
  await opRemote.getByRole('button', { name: 'Camera off', exact: true }).click();
  await shed.locator('#station .station-off').waitFor();
  await remote.getByRole('button', { name: 'Camera on', exact: true }).waitFor();
  await opRemote.getByRole('button', { name: 'Camera on', exact: true }).waitFor();
  await lookAt(shed, 'station-by-operator');
  await lookAt(olga, 'station-operator');

  for (const p of [shed, kim, olga]) assert.deepEqual(p.errors, [], 'no page errors');
  for (const p of [shed, kim, olga]) await p.context().close();
});
