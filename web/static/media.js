// @ts-check
// Local devices and the two RTCPeerConnections of docs/protocol.md:
// "publish" (we offer, the server answers) and "subscribe" (the server
// offers, we answer). Push-to-talk toggles the published senders' tracks
// with replaceTrack, so talking costs no renegotiation. Turning the camera
// on or off, and sharing a screen, add or stop a video transceiver and
// offer again (docs/protocol.md, Sharing a screen).

import { load, save } from './dom.js';
import { t } from './i18n.js';

/** @typedef {import('./signal.js').Signal} Signal */
/** @typedef {import('./signal.js').Msg} Msg */
/** @typedef {{label: string, width?: number, height?: number, fps?: number, kbps?: number}} VideoPreset */

/** Video presets, as mozchat offered them. */
export const VIDEO_PRESETS = /** @type {VideoPreset[]} */ ([
  { label: 'auto' },
  { label: '640×480, 15 fps, 0.5 Mb/s', width: 640, height: 480, fps: 15, kbps: 500 },
  { label: '640×480, 30 fps, 1 Mb/s', width: 640, height: 480, fps: 30, kbps: 1000 },
  { label: '800×600, 30 fps, 1.5 Mb/s', width: 800, height: 600, fps: 30, kbps: 1500 },
  { label: '960×720, 30 fps, 2 Mb/s', width: 960, height: 720, fps: 30, kbps: 2000 },
  { label: '1280×720, 30 fps, 2.5 Mb/s', width: 1280, height: 720, fps: 30, kbps: 2500 },
]);

/**
 * Explains a getUserMedia failure to people.
 * @param {unknown} e
 * @param {'microphone'|'camera'} what
 */
export function deviceError(e, what) {
  const name = e instanceof Error || e instanceof DOMException ? e.name : '';
  switch (name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return t(`media.${what}Denied`);
    case 'NotFoundError':
    case 'OverconstrainedError':
      return name === 'OverconstrainedError'
        ? t(`media.${what}Settings`)
        : t(`media.${what}Missing`);
    case 'NotReadableError':
    case 'AbortError':
      return t(`media.${what}Busy`);
    default:
      return t(`media.${what}Failed`, { why: e instanceof Error ? e.message : String(e) });
  }
}

export class Media {
  /**
   * @param {Signal} signal
   * @param {{
   *   ontrack: (stream: MediaStream, track: MediaStreamTrack, receiver: RTCRtpReceiver) => void,
   *   onstatus: (pc: 'publish'|'subscribe', state: string) => void,
   *   onproblem: (text: string) => void,
   *   onscreen?: (track: MediaStreamTrack|null) => void,
   *   onfailure?: (kind: 'getusermedia'|'webrtc', e: unknown) => void,
   * }} hooks
   *   onfailure: a media operation failed (for the error reports, report.js)
   */
  constructor(signal, hooks) {
    this.signal = signal;
    this.hooks = hooks;
    /** @type {RTCIceServer[]} */
    this.iceServers = [];
    /** @type {MediaStreamTrack|null} */
    this.mic = null;
    /** @type {MediaStreamTrack|null} */
    this.camera = null;
    /** @type {RTCPeerConnection|null} */
    this.pub = null;
    /** @type {RTCRtpTransceiver|null} */
    this.audioTx = null;
    /** @type {RTCRtpTransceiver|null} */
    this.videoTx = null;
    /** @type {MediaStreamTrack|null} the screen being shared */
    this.screen = null;
    /** @type {RTCRtpTransceiver|null} */
    this.screenTx = null;
    /** the chosen devices' ids, remembered; empty: the browser's default */
    this.deviceIds = { mic: load('parley.mic', ''), camera: load('parley.camera', '') };
    /** @type {RTCPeerConnection|null} */
    this.sub = null;
    /** Whether each connection may trickle yet (its description was sent). */
    this.trickle = { publish: false, subscribe: false };
    /** @type {{publish: RTCIceCandidateInit[], subscribe: RTCIceCandidateInit[]}} */
    this.queued = { publish: [], subscribe: [] };
    this.live = { audio: false, video: false };
    this.wantVideo = false;
    /** the camera goes out as simulcast (three sizes): in stream rooms */
    this.simulcast = false;
    /** @type {VideoPreset} */
    this.preset = VIDEO_PRESETS[0];
    /** @type {Promise<void>} */
    this.subChain = Promise.resolve();
    /** @type {Promise<void>} */
    this.pubChain = Promise.resolve();
    this.meter = { ctx: /** @type {AudioContext|null} */ (null), analyser: /** @type {AnalyserNode|null} */ (null), src: /** @type {MediaStreamAudioSourceNode|null} */ (null), buf: new Float32Array(1024) };

    signal.on('offer', (m) => {
      if (m.pc === 'subscribe') this.subChain = this.subChain.then(() => this.onSubscribeOffer(m)).catch((e) => this.hooks.onproblem(t('media.subscribeFailed', { why: e.message })));
    });
    signal.on('candidate', (m) => {
      const pc = m.pc === 'publish' ? this.pub : m.pc === 'subscribe' ? this.sub : null;
      if (pc && m.candidate) pc.addIceCandidate(m.candidate).catch((e) => this.hooks.onfailure?.('webrtc', e));
    });
    signal.on('error', (m) => {
      if (m.code !== 'media-failed') return;
      if (m.pc === 'subscribe') {
        // The server replaces the connection; its new offer starts afresh.
        this.closeSubscribe();
      } else if (m.pc === 'publish') {
        this.republish();
      }
    });
  }

  /**
   * Reports a failed media operation, then throws its error on.
   * @param {'getusermedia'|'webrtc'} kind
   * @param {unknown} e
   * @returns {never}
   */
  failed(kind, e) {
    this.hooks.onfailure?.(kind, e);
    throw e;
  }

  /** Opens the microphone. Throws a message for people on failure. */
  async openMic() {
    if (this.mic && this.mic.readyState === 'live') return;
    if (!navigator.mediaDevices?.getUserMedia) throw new Error(t('media.httpsMic'));
    /** @type {MediaTrackConstraints} */
    const c = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
    const stream = await withDevice(c, this.deviceIds.mic, (cc) => navigator.mediaDevices.getUserMedia({ audio: cc }), 'microphone').catch((e) => this.failed('getusermedia', e));
    const mic = stream.getAudioTracks()[0];
    this.mic = mic;
    mic.addEventListener('ended', () => {
      if (this.mic === mic) this.hooks.onproblem(t('media.micStopped'));
    });
    this.startMeter(stream);
    if (this.live.audio) await this.audioTx?.sender.replaceTrack(this.mic);
  }

  /**
   * Uses another microphone or camera from now on, and remembers it.
   * @param {'mic'|'camera'} kind
   * @param {string} id a deviceId; empty for the browser's default
   */
  async useDevice(kind, id) {
    this.deviceIds[kind] = id;
    save(`parley.${kind}`, id);
    if (kind === 'mic' && this.mic) {
      const old = this.mic;
      this.mic = null;
      await this.openMic();
      old.stop();
    } else if (kind === 'camera' && this.camera) {
      this.closeCamera();
      await this.openCamera();
    }
  }

  /** The microphones and cameras there are, labelled once one is open. */
  async devices() {
    const all = (await navigator.mediaDevices?.enumerateDevices?.()) ?? [];
    return { mics: all.filter((d) => d.kind === 'audioinput'), cameras: all.filter((d) => d.kind === 'videoinput') };
  }

  /** The device id of the open microphone or camera, if any. */
  deviceOf(/** @type {'mic'|'camera'} */ kind) {
    return (kind === 'mic' ? this.mic : this.camera)?.getSettings().deviceId ?? '';
  }

  /** Opens the camera with the current preset. Throws a message on failure. */
  async openCamera() {
    if (this.camera && this.camera.readyState === 'live') return;
    if (!navigator.mediaDevices?.getUserMedia) throw new Error(t('media.httpsCamera'));
    const p = this.preset;
    /** @type {MediaTrackConstraints} */
    const c = {};
    // Without a preset, 720p where the camera goes out in layers: the
    // others' downlinks choose how much of it they get.
    const width = p.width ?? (this.simulcast ? 1280 : 0);
    const height = p.height ?? (this.simulcast ? 720 : 0);
    if (width) c.width = { ideal: width };
    if (height) c.height = { ideal: height };
    if (p.fps) c.frameRate = { ideal: p.fps };
    const stream = await withDevice(c, this.deviceIds.camera, (cc) => navigator.mediaDevices.getUserMedia({ video: Object.keys(cc).length ? cc : true }), 'camera').catch((e) =>
      this.failed('getusermedia', e),
    );
    this.camera = stream.getVideoTracks()[0];
    if (this.live.video) await this.videoTx?.sender.replaceTrack(this.camera);
    await this.applyBitrate();
  }

  closeCamera() {
    this.camera?.stop();
    this.camera = null;
  }

  /** @param {VideoPreset} p */
  async setPreset(p) {
    this.preset = p;
    if (this.camera) {
      this.closeCamera();
      await this.openCamera();
    }
  }

  async applyBitrate() {
    const sender = this.videoTx?.sender;
    if (!sender) return;
    const params = sender.getParameters();
    if (!params.encodings || params.encodings.length === 0) return;
    const top = (this.preset.kbps ?? 0) * 1000;
    for (const enc of params.encodings) {
      const layer = SIMULCAST.find((l) => l.rid === enc.rid);
      if (layer) enc.maxBitrate = top ? Math.min(layer.maxBitrate, top * layer.share) : layer.maxBitrate;
      else if (top) enc.maxBitrate = top;
      else delete enc.maxBitrate;
    }
    await sender.setParameters(params).catch(() => {});
  }

  /** @param {MediaStream} stream */
  startMeter(stream) {
    try {
      const ctx = this.meter.ctx ?? new AudioContext();
      this.meter.ctx = ctx;
      this.meter.src?.disconnect();
      const src = ctx.createMediaStreamSource(stream);
      this.meter.src = src;
      const analyser = ctx.createAnalyser();
      analyser.fftSize = 1024;
      src.connect(analyser);
      this.meter.analyser = analyser;
    } catch {
      this.meter.analyser = null;
    }
  }

  /** Resumes audio processing; call from a user gesture. */
  resumeAudio() {
    this.meter.ctx?.resume().catch(() => {});
  }

  /** The microphone's level now, 0..1 (RMS, scaled for display). */
  level() {
    const a = this.meter.analyser;
    if (!a) return 0;
    a.getFloatTimeDomainData(this.meter.buf);
    let sum = 0;
    for (const v of this.meter.buf) sum += v * v;
    const rms = Math.sqrt(sum / this.meter.buf.length);
    return Math.min(1, rms * 4);
  }

  /**
   * Starts the publish connection: an audio transceiver, and a video one if
   * wanted. Both send nothing until setLive.
   * @param {boolean} video
   */
  async publish(video) {
    this.wantVideo = video;
    this.closePublish();
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    this.pub = pc;
    this.audioTx = pc.addTransceiver('audio', { direction: 'sendonly' });
    if (video) this.addVideo(pc);
    if (this.screen) this.screenTx = videoTransceiver(pc, this.screen, false);
    pc.onicecandidate = (ev) => ev.candidate && this.sendCandidate('publish', ev.candidate.toJSON());
    pc.onconnectionstatechange = () => {
      if (this.pub !== pc) return;
      this.hooks.onstatus('publish', pc.connectionState);
    };
    await this.negotiatePublish();
    await this.setLive(this.live);
  }

  /** @param {RTCPeerConnection} pc */
  addVideo(pc) {
    this.videoTx = videoTransceiver(pc, null, this.simulcast);
  }

  /**
   * Shares a screen (or a window, or a tab) as one more video, which the
   * server gives the others apart from the camera. The browser asks what
   * to share; its own "stop sharing" ends it as stopScreen does.
   * Throws a message for people when it cannot.
   */
  async shareScreen() {
    if (this.screen) return;
    if (!navigator.mediaDevices?.getDisplayMedia) throw new Error(t('media.noScreen'));
    let stream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15 } }, audio: false });
    } catch (e) {
      const name = e instanceof Error || e instanceof DOMException ? e.name : '';
      if (name === 'NotAllowedError' || name === 'AbortError') return; // the person changed their mind
      throw new Error(t('media.screenFailed', { why: e instanceof Error ? e.message : String(e) }));
    }
    const track = stream.getVideoTracks()[0];
    track.contentHint = 'detail';
    this.screen = track;
    track.addEventListener('ended', () => {
      if (this.screen === track) this.stopScreen().catch((e) => this.hooks.onproblem(e.message));
    });
    this.hooks.onscreen?.(track);
    const pc = this.pub;
    if (!pc) return;
    if (!this.screenTx) {
      this.screenTx = videoTransceiver(pc, track, false);
    } else {
      this.screenTx.direction = 'sendonly';
      await this.screenTx.sender.replaceTrack(track);
    }
    await this.negotiatePublish();
  }

  /** Stops sharing the screen; the others' view of it ends. */
  async stopScreen() {
    const track = this.screen;
    if (!track) return;
    this.screen = null;
    track.stop();
    this.hooks.onscreen?.(null);
    const tx = this.screenTx;
    if (!tx || !this.pub) return;
    await tx.sender.replaceTrack(null);
    tx.direction = 'inactive';
    await this.negotiatePublish();
  }

  /**
   * Adds or removes the published video and renegotiates.
   * @param {boolean} video
   */
  async setVideo(video) {
    this.wantVideo = video;
    const pc = this.pub;
    if (!pc) return;
    if (video && !this.videoTx) {
      this.addVideo(pc);
    } else if (video && this.videoTx && this.videoTx.direction !== 'sendonly') {
      this.videoTx.direction = 'sendonly';
    } else if (!video && this.videoTx && this.videoTx.direction !== 'inactive') {
      await this.videoTx.sender.replaceTrack(null);
      this.videoTx.direction = 'inactive';
    } else {
      return;
    }
    await this.negotiatePublish();
    await this.setLive(this.live);
  }

  negotiatePublish() {
    this.pubChain = this.pubChain.catch(() => {}).then(async () => {
      const pc = this.pub;
      if (!pc) return;
      this.trickle.publish = false;
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      let sdp = pc.localDescription?.sdp ?? '';
      // The screen's m-section is marked for the server, which gives
      // it to the others apart from the camera.
      const mid = this.screen && this.screenTx?.direction === 'sendonly' ? this.screenTx.mid : null;
      if (mid !== null) sdp = markSlides(sdp, mid);
      const reply = this.signal.request({ type: 'offer', pc: 'publish', sdp });
      this.flushCandidates('publish');
      const m = await reply;
      if (m.type === 'error') throw new Error(m.message);
      if (this.pub !== pc) return;
      await pc.setRemoteDescription({ type: 'answer', sdp: m.sdp }).catch((e) => this.failed('webrtc', e));
      await this.applyBitrate();
    });
    return this.pubChain;
  }

  republish() {
    if (!this.pub) return;
    this.publish(this.wantVideo).catch((e) => this.hooks.onproblem(t('media.publishFailed', { why: e.message })));
  }

  /**
   * Sets what goes out: the microphone and the camera, or silence.
   * @param {{audio: boolean, video: boolean}} live
   */
  async setLive(live) {
    this.live = { ...live };
    const jobs = [];
    if (this.audioTx) jobs.push(this.audioTx.sender.replaceTrack(live.audio ? this.mic : null));
    if (this.videoTx && this.videoTx.direction === 'sendonly') jobs.push(this.videoTx.sender.replaceTrack(live.video ? this.camera : null));
    await Promise.all(jobs);
  }

  /**
   * @param {'publish'|'subscribe'} pc
   * @param {RTCIceCandidateInit} c
   */
  sendCandidate(pc, c) {
    if (this.trickle[pc]) this.signal.send({ type: 'candidate', pc, candidate: c });
    else this.queued[pc].push(c);
  }

  /** @param {'publish'|'subscribe'} pc */
  flushCandidates(pc) {
    this.trickle[pc] = true;
    for (const c of this.queued[pc].splice(0)) this.signal.send({ type: 'candidate', pc, candidate: c });
  }

  /** @param {Msg} m */
  async onSubscribeOffer(m) {
    let pc = this.sub;
    if (!pc) {
      pc = new RTCPeerConnection({ iceServers: this.iceServers });
      this.sub = pc;
      this.trickle.subscribe = false;
      this.queued.subscribe = [];
      const sub = pc;
      pc.onicecandidate = (ev) => ev.candidate && this.sendCandidate('subscribe', ev.candidate.toJSON());
      pc.ontrack = (ev) => {
        const stream = ev.streams[0] ?? new MediaStream([ev.track]);
        this.hooks.ontrack(stream, ev.track, ev.receiver);
      };
      pc.onconnectionstatechange = () => {
        if (this.sub === sub) this.hooks.onstatus('subscribe', sub.connectionState);
      };
    }
    await pc.setRemoteDescription({ type: 'offer', sdp: m.sdp }).catch((e) => this.failed('webrtc', e));
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    if (this.sub !== pc) return;
    this.signal.send({ type: 'answer', pc: 'subscribe', sdp: pc.localDescription?.sdp });
    this.flushCandidates('subscribe');
  }

  closePublish() {
    this.pub?.close();
    this.pub = null;
    this.audioTx = null;
    this.videoTx = null;
    this.screenTx = null;
    this.trickle.publish = false;
    this.queued.publish = [];
  }

  closeSubscribe() {
    this.sub?.close();
    this.sub = null;
    this.trickle.subscribe = false;
    this.queued.subscribe = [];
  }

  /** Closes both connections (the session ended); devices stay open. */
  closeConnections() {
    this.closePublish();
    this.closeSubscribe();
    this.subChain = Promise.resolve();
    this.pubChain = Promise.resolve();
  }

  /** Receiver statistics of the subscribe connection, for people and tests. */
  async inboundStats() {
    /** @type {{kind: string, track: string, packets: number, lost: number, bytes: number, frames: number, width: number, height: number, freezes: number, frozen: number}[]} */
    const out = [];
    if (!this.sub) return out;
    const stats = await this.sub.getStats();
    stats.forEach((s) => {
      if (s.type === 'inbound-rtp') {
        out.push({
          kind: s.kind, track: s.trackIdentifier ?? '', packets: s.packetsReceived ?? 0, lost: s.packetsLost ?? 0, bytes: s.bytesReceived ?? 0,
          frames: s.framesDecoded ?? 0, width: s.frameWidth ?? 0, height: s.frameHeight ?? 0, freezes: s.freezeCount ?? 0, frozen: s.totalFreezesDuration ?? 0,
        });
      }
    });
    return out;
  }

  /** Sender statistics of the camera: each simulcast layer's size, frames encoded and bytes, for tests. */
  async outboundStats() {
    /** @type {{rid: string, width: number, height: number, frames: number, bytes: number}[]} */
    const out = [];
    const r = await this.videoTx?.sender.getStats().catch(() => null);
    r?.forEach((s) => {
      if (s.type === 'outbound-rtp') {
        out.push({ rid: s.rid ?? '', width: s.frameWidth ?? 0, height: s.frameHeight ?? 0, frames: s.framesEncoded ?? 0, bytes: s.bytesSent ?? 0 });
      }
    });
    return out;
  }
}

/**
 * Opens a device with constraints c, the chosen one (id) if it is still
 * there, else the browser's default.
 * @param {MediaTrackConstraints} c
 * @param {string} id
 * @param {(c: MediaTrackConstraints) => Promise<MediaStream>} open
 * @param {'microphone'|'camera'} what
 */
async function withDevice(c, id, open, what) {
  try {
    if (id) {
      try {
        return await open({ ...c, deviceId: { exact: id } });
      } catch (e) {
        // Unplugged since: the default will do.
        if (!(e instanceof Error || e instanceof DOMException) || (e.name !== 'OverconstrainedError' && e.name !== 'NotFoundError')) throw e;
      }
    }
    return await open(c);
  } catch (e) {
    throw new Error(deviceError(e, what), { cause: e });
  }
}

/**
 * The camera's simulcast layers, each half the size of the next, the
 * lowest first; the top layer's bitrate is the preset's, the others a
 * share of it up to their own cap. The server sends each subscriber the
 * one its downlink and its tile's size call for (docs/protocol.md).
 */
const SIMULCAST = [
  { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150_000, share: 0.1 },
  { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500_000, share: 0.3 },
  { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1_500_000, share: 1 },
];

/**
 * Adds a sending video transceiver, VP8 first: the server records VP8
 * and VP9, and every browser has VP8 (and simulcasts it).
 * @param {RTCPeerConnection} pc
 * @param {MediaStreamTrack|null} track
 * @param {boolean} simulcast
 */
function videoTransceiver(pc, track, simulcast) {
  /** @type {RTCRtpTransceiverInit} */
  const init = { direction: 'sendonly' };
  if (simulcast) init.sendEncodings = SIMULCAST.map(({ rid, scaleResolutionDownBy, maxBitrate }) => ({ rid, scaleResolutionDownBy, maxBitrate }));
  const tx = pc.addTransceiver(track ?? 'video', init);
  const caps = RTCRtpSender.getCapabilities?.('video');
  if (caps && tx.setCodecPreferences) {
    const rank = (/** @type {{mimeType: string}} */ c) => (c.mimeType === 'video/VP8' ? 0 : c.mimeType === 'video/VP9' ? 1 : 2);
    try {
      tx.setCodecPreferences([...caps.codecs].sort((a, b) => rank(a) - rank(b)));
    } catch {
      // keep the browser's order
    }
  }
  return tx;
}

/**
 * Marks the m-section of mid as a shared screen's (RFC 4796
 * a=content:slides) in an SDP.
 * @param {string} sdp
 * @param {string} mid
 */
export function markSlides(sdp, mid) {
  const line = `a=mid:${mid}\r\n`;
  return sdp.includes(line) ? sdp.replace(line, `${line}a=content:slides\r\n`) : sdp;
}
