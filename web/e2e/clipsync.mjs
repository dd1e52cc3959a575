// The sync test of a session's clips, shared by Chromium (client.test.mjs)
// and Firefox (firefox.test.mjs): one user records clips of the given kinds
// in a row, and every clip is judged against what the server recorded.

import assert from 'node:assert/strict';
import { clipTimeline, syncProblems, describeTimeline, traceScript } from './harness.mjs';

// The page script that keeps every RTCPeerConnection (for publishing).
export { traceScript };

/**
 * Runs in the page (one with traceScript): whether its publish connection
 * is negotiated with its video sending (video) or inactive, so that the
 * kind of the next clip is in place.
 * @param {boolean} video
 */
export function publishing(video) {
  return window.__trace.pcs.some((pc) => {
    const txs = pc.getTransceivers();
    const kind = (k) => txs.find((t) => t.receiver.track.kind === k);
    return (
      pc.signalingState === 'stable' &&
      kind('audio')?.currentDirection === 'sendonly' &&
      (video ? kind('video')?.currentDirection === 'sendonly' : !kind('video') || kind('video').currentDirection === 'inactive')
    );
  });
}

/**
 * When the server's recorder of a clip started and stopped, from its log
 * (debug level), in milliseconds, and what timed the clip.
 * @param {string} log
 * @param {string} id
 */
export function recorderTimes(log, id) {
  const line = (msg) => log.split('\n').find((l) => l.includes(`msg="${msg}"`) && l.includes(`clip=${id}`)) ?? '';
  const at = (msg) => Date.parse(/time=(\S+)/.exec(line(msg))?.[1] ?? '');
  return { start: at('recording starts'), stop: at('recording stops'), by: /by=("[^"]*"|\S+)/.exec(line('clip timeline'))?.[1] };
}

/**
 * Records the kinds in order in one session of a videoChat room, with
 * pause ms between clips, and checks every clip with ffprobe and ffmpeg
 * (syncProblems): it lasts what the server recorded, from its recorder's
 * start to its stop (which follows the release by the client's tail),
 * within 150 ms; audio and video start within 40 ms of the clip's start;
 * it decodes cleanly. Returns the problems, none for clips in sync.
 * The browser's part is given as functions of the page.
 * @param {object} o
 * @param {string} o.url the server's
 * @param {() => string} o.log the server's log so far
 * @param {string} o.room
 * @param {string} o.name the user who records
 * @param {('video'|'audio')[]} o.kinds
 * @param {number} o.pause
 * @param {(kind: 'video'|'audio') => Promise<unknown>} o.choose picks the kind of the next clip, and waits for the preview to show or hide
 * @param {(video: boolean) => Promise<unknown>} o.published waits until publishing(video) holds
 * @param {(ms: number) => Promise<{id: string|null, held: number}>} o.talk holds SPACE for ms and waits for the clip to be listed: its id, and how long the key was held (s)
 */
export async function sessionProblems(o) {
  const problems = [];
  for (const [i, kind] of o.kinds.entries()) {
    if (i > 0 && kind !== o.kinds[i - 1]) await o.choose(kind);
    await o.published(kind === 'video');
    if (i > 0 && o.pause) await new Promise((r) => setTimeout(r, o.pause));
    const { id, held } = await o.talk(2000);
    const { start, stop, by } = recorderTimes(o.log(), id ?? '');
    assert.ok(id && start && stop, `clip ${id}: no recorder start or stop in the server's log`);
    const recorded = (stop - start) / 1000;
    const tl = await clipTimeline(o.url, o.room, id);
    const types = kind === 'video' ? ['audio', 'video'] : ['audio'];
    console.log(`${o.name} clip ${i + 1} (${kind}): key held ${held.toFixed(3)} s, recorded ${recorded.toFixed(3)} s; clip ${describeTimeline(tl)}; timed by ${by}`);
    for (const p of syncProblems(tl, recorded, types)) problems.push(`clip ${i + 1} (${kind}): ${p}`);
  }
  return problems;
}
