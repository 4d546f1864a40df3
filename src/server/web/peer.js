// One RTCPeerConnection with one remote peer, wired to the signalling connection: it sends its
// candidates as they come, keeps remote candidates until the remote description is set, and
// runs every signalling step in order.

import { ICE_SCHEMES } from './protocol.js';

export const RTC_CONFIG = {
  // No STUN/TURN of its own: the server's welcome may suggest some (ice_servers), and a page can
  // pass ?stun=stun:host:port (repeatable), which replaces the server's STUN servers.
  iceServers: [],
  bundlePolicy: 'max-bundle',
};

// The scheme of an ICE server URL ('stun', 'turn', 'turns'), or '' when it is none of the table's.
function iceScheme(url) {
  const m = /^([a-z]+):/i.exec(typeof url === 'string' ? url : '');
  return m && ICE_SCHEMES[m[1].toLowerCase()] ? m[1].toLowerCase() : '';
}

// The RTCPeerConnection configuration: the welcome's ICE servers (`roomServers`, as the protocol
// has them: [{urls, username, credential}]) and the page's own ?stun=. Like the GStreamer elements,
// our own servers win kind by kind: a ?stun= replaces the room's STUN URLs, the room's TURN
// servers stay. Entries the browser could not take (unknown schemes, TURN without credentials)
// are left out, so one bad entry does not stop the connection.
export function rtcConfig(params = new URLSearchParams(window.location.search), roomServers = []) {
  const ownStun = params.getAll('stun').filter(Boolean);
  const servers = [];
  for (const e of Array.isArray(roomServers) ? roomServers : []) {
    const urls = (Array.isArray(e && e.urls) ? e.urls : []).filter((u) => {
      const scheme = iceScheme(u);
      if (!scheme || (ownStun.length && scheme === 'stun')) return false;
      return !ICE_SCHEMES[scheme].credentials || (e.username && e.credential);
    });
    if (!urls.length) continue;
    const entry = { urls };
    if (e.username) entry.username = e.username;
    if (e.credential) entry.credential = e.credential;
    servers.push(entry);
  }
  if (ownStun.length) servers.unshift({ urls: ownStun });
  const config = { ...RTC_CONFIG, iceServers: servers };
  // ?relay=1: only relayed candidates (through a TURN server), as RTCPeerConnection allows.
  if (params.get('relay') === '1') config.iceTransportPolicy = 'relay';
  return config;
}

export class Peer {
  // info: {id, role, name}; sig: Signaling; onTrack(event, peer); onState(peer)
  constructor({ info, sig, config, onTrack, onState }) {
    this.id = info.id;
    this.role = info.role;
    this.name = info.name || '';
    this.sig = sig;
    this.pc = new RTCPeerConnection(config);
    this.stream = new MediaStream();
    this.closed = false;
    this.remoteSet = false;
    this.pendingIce = [];
    this.chain = Promise.resolve(); // signalling steps run one after another
    this.onState = onState || (() => {});
    this.lastStats = null; // for the bitrate

    this.pc.onicecandidate = (ev) => {
      if (this.closed) return;
      this.sig.sendCandidate(this.id, ev.candidate);
    };
    this.pc.ontrack = (ev) => {
      if (!this.stream.getTracks().includes(ev.track)) this.stream.addTrack(ev.track);
      ev.track.onended = () => this.stream.removeTrack(ev.track);
      if (onTrack) onTrack(ev, this);
      this.onState(this);
    };
    this.pc.onconnectionstatechange = () => this.onState(this);
    this.pc.oniceconnectionstatechange = () => this.onState(this);
  }

  get state() {
    return this.closed ? 'closed' : this.pc.connectionState;
  }

  step(fn) {
    this.chain = this.chain.then(() => (this.closed ? undefined : fn())).catch((e) => {
      console.error('roomcast: peer', this.id, e);
      this.error = String(e && e.message ? e.message : e);
      this.onState(this);
    });
    return this.chain;
  }

  addTracks(stream) {
    for (const t of stream.getTracks()) this.pc.addTrack(t, stream);
  }

  // The page's video codec choice (this.codec, see videoCodecPlan) on the video transceivers:
  // before our offer always; before our answer only when the offer has that codec (otherwise
  // the offerer's codec stays, and onCodecSkipped says so).
  preferCodec(offerSdp = null) {
    const c = this.codec;
    if (!c) return;
    if (offerSdp && !offersCodec(offerSdp, c.mime)) {
      console.info('roomcast: peer', this.id, 'offered no', c.name, '- answering with its codecs');
      if (this.onCodecSkipped) this.onCodecSkipped(this);
      return;
    }
    for (const t of this.pc.getTransceivers()) {
      if (t.stopped || t.receiver.track.kind !== 'video' || typeof t.setCodecPreferences !== 'function') continue;
      try {
        t.setCodecPreferences(c.list);
      } catch (e) {
        console.warn('roomcast: setCodecPreferences', c.name, e.message);
      }
    }
  }

  // Sends our description, without feedback lines for payload types its m-lines do not list
  // (Firefox leaves them after setCodecPreferences, and Chromium refuses such an SDP: "Failed to
  // parse codecs correctly"). Our local description stays as the browser made it.
  send(desc) {
    this.sig.sendDescription(this.id, { type: desc.type, sdp: dropStrayFeedback(desc.sdp) });
    // After our first offer or answer the other side knows this connection (a GStreamer member
    // makes its end when our offer comes): what belongs to the session may follow (a `prefer`).
    if (!this.described) {
      this.described = true;
      if (this.onDescribed) this.onDescribed(this);
    }
  }

  // The video sender of this connection (ours to this peer), or null.
  videoSender() {
    return this.pc.getSenders().find((s) => s.track && s.track.kind === 'video') || null;
  }

  // Scales what we send this peer (only this connection: each has its own encoder in a browser)
  // by `downBy` (1: full size), with a bitrate cap in proportion (see scaledBitrate); in order
  // with the signalling steps. Resolves to the encoding parameters set, or null.
  scaleVideo(downBy) {
    return this.step(async () => {
      const sender = this.videoSender();
      if (!sender) return null;
      const params = sender.getParameters();
      if (!params.encodings || !params.encodings.length) return null;
      for (const e of params.encodings) {
        if (downBy > 1) {
          e.scaleResolutionDownBy = downBy;
          e.maxBitrate = scaledBitrate(downBy);
        } else {
          e.scaleResolutionDownBy = 1;
          delete e.maxBitrate;
        }
      }
      await sender.setParameters(params);
      this.scaledBy = downBy;
      return { scaleResolutionDownBy: downBy, maxBitrate: downBy > 1 ? scaledBitrate(downBy) : null };
    });
  }

  // We offer (the host to each viewer; a newcomer to each member).
  offer() {
    return this.step(async () => {
      this.preferCodec();
      const offer = await this.pc.createOffer();
      await this.pc.setLocalDescription(offer);
      this.send(this.pc.localDescription);
    });
  }

  // They offered; we answer.
  acceptOffer(sdp) {
    return this.step(async () => {
      await this.pc.setRemoteDescription({ type: 'offer', sdp });
      await this.flushIce();
      this.preferCodec(sdp);
      const answer = await this.pc.createAnswer();
      await this.pc.setLocalDescription(answer);
      this.send(this.pc.localDescription);
    });
  }

  acceptAnswer(sdp) {
    return this.step(async () => {
      if (this.pc.signalingState !== 'have-local-offer') {
        console.warn('roomcast: answer from', this.id, 'in state', this.pc.signalingState, '- ignored');
        return;
      }
      // (Asked before: a refused m-line stops its transceiver, and its sender loses the track.)
      const sendsVideo = this.pc.getSenders().some((s) => s.track && s.track.kind === 'video');
      await this.pc.setRemoteDescription({ type: 'answer', sdp });
      await this.flushIce();
      // Our video refused (no common codec: say a Firefox without H.264 answering our H.264-only
      // offer): the session decides (it ends that peer with bye no-common-codec).
      if (sendsVideo && videoRefused(sdp) && this.onRefused) {
        this.onRefused(this);
        return;
      }
      this.oneWay = videoNotSent(sdp);
      if (this.oneWay && this.onOneWay) this.onOneWay(this);
    });
  }

  // A candidate from the other side. The media line index is what counts (peers before this wave
  // sent no sdpMid). An empty candidate is the end of candidates.
  addIce(m) {
    const init = {
      candidate: typeof m.candidate === 'string' ? m.candidate : '',
      sdpMLineIndex: Number.isInteger(m.sdpMLineIndex) ? m.sdpMLineIndex : 0,
      sdpMid: typeof m.sdpMid === 'string' ? m.sdpMid : null,
    };
    if (!this.remoteSet) {
      this.pendingIce.push(init);
      return;
    }
    this.pc.addIceCandidate(init).catch((e) => console.warn('roomcast: candidate from', this.id, e.message));
  }

  async flushIce() {
    this.remoteSet = true;
    const pending = this.pendingIce.splice(0);
    for (const c of pending) {
      try {
        await this.pc.addIceCandidate(c);
      } catch (e) {
        console.warn('roomcast: candidate from', this.id, e.message);
      }
    }
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.pc.onicecandidate = this.pc.ontrack = this.pc.onconnectionstatechange = null;
    this.pc.oniceconnectionstatechange = null;
    try { this.pc.close(); } catch { /* already closed */ }
    for (const t of this.stream.getTracks()) this.stream.removeTrack(t);
    this.onState(this);
  }

  // A summary of getStats(): inbound video (what we decode) and outbound video (what we send).
  async stats() {
    const out = { id: this.id, name: this.name, role: this.role, state: this.state };
    if (this.closed) return out;
    const report = await this.pc.getStats();
    const now = performance.now();
    let inb = null, outb = null, pair = null;
    const codecs = new Map();
    report.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') inb = s;
      else if (s.type === 'outbound-rtp' && s.kind === 'video' && (!outb || (s.frameWidth || 0) > (outb.frameWidth || 0))) outb = s;
      else if (s.type === 'codec') codecs.set(s.id, s.mimeType);
      else if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s;
    });
    // Bit rates over at least half a second, whoever asks (the page's stats line, the test hook).
    const prev = this.lastStats;
    const dt = prev ? (now - prev.t) / 1000 : 0;
    if (!prev || dt >= 0.5) {
      const rate = (bytes, before) => (prev && dt > 0 && bytes != null && before != null
        ? Math.max(0, Math.round(((bytes - before) * 8) / dt / 1000)) : 0);
      this.kbpsIn = rate(inb && inb.bytesReceived, prev && prev.inBytes);
      this.kbpsOut = rate(outb && outb.bytesSent, prev && prev.outBytes);
      this.lastStats = { t: now, inBytes: inb ? inb.bytesReceived : null, outBytes: outb ? outb.bytesSent : null };
    }
    if (inb) {
      out.inbound = {
        framesDecoded: inb.framesDecoded || 0,
        framesReceived: inb.framesReceived || 0,
        width: inb.frameWidth || 0,
        height: inb.frameHeight || 0,
        fps: inb.framesPerSecond || 0,
        kbps: this.kbpsIn || 0,
        bytes: inb.bytesReceived || 0,
        codec: codecs.get(inb.codecId) || '',
        decoder: inb.decoderImplementation || '',
        // loss and its repair
        packetsReceived: inb.packetsReceived || 0,
        packetsLost: inb.packetsLost || 0,
        nackCount: inb.nackCount || 0,
        pliCount: inb.pliCount || 0,
        retransmittedPacketsReceived: inb.retransmittedPacketsReceived,
        freezeCount: inb.freezeCount || 0,
        totalFreezesDuration: inb.totalFreezesDuration || 0,
      };
    }
    if (outb) {
      out.outbound = {
        framesEncoded: outb.framesEncoded || 0,
        framesSent: outb.framesSent || 0,
        width: outb.frameWidth || 0,
        height: outb.frameHeight || 0,
        fps: outb.framesPerSecond || 0,
        kbps: this.kbpsOut || 0,
        bytes: outb.bytesSent || 0,
        codec: codecs.get(outb.codecId) || '',
      };
    }
    if (pair) out.rttMs = pair.currentRoundTripTime != null ? Math.round(pair.currentRoundTripTime * 1000) : null;
    // The path ICE chose: the selected pair's candidate types ('relay': through a TURN server).
    let selected = null;
    report.forEach((s) => {
      if (s.type === 'transport' && s.selectedCandidatePairId) selected = report.get(s.selectedCandidatePairId);
    });
    const used = selected || pair;
    if (used) {
      const local = report.get(used.localCandidateId);
      const remote = report.get(used.remoteCandidateId);
      out.path = {
        local: local ? local.candidateType : '',
        remote: remote ? remote.candidateType : '',
        localAddress: local ? `${local.address || local.ip}:${local.port}` : '',
        remoteAddress: remote ? `${remote.address || remote.ip}:${remote.port}` : '',
        relayProtocol: local && local.relayProtocol ? local.relayProtocol : '',
      };
    }
    return out;
  }
}

// What a page sends a peer at full size, at most (bit/s): the GStreamer elements' default
// bitrate (2 Mbit/s) with some room. A picture scaled down by `downBy` gets the share a ladder
// layer of that size gets (size^1.5: half size ~35%, quarter ~12.5%).
export const FULL_SIZE_BITRATE = 2500000;
export function scaledBitrate(downBy) {
  return Math.round(FULL_SIZE_BITRATE * Math.pow(1 / Math.max(1, downBy), 1.5));
}

// How much to scale our picture down for a member's `prefer` ({layer} or {maxHeight}), given the
// height we capture: a layer halves the size per step (as a ladder of 1, 0.5, 0.25 does); a
// height scales to at most that height. 1: full size.
export function preferScale(wish, height) {
  if (!wish) return 1;
  if (Number.isInteger(wish.layer)) return Math.pow(2, Math.max(0, wish.layer));
  if (Number.isInteger(wish.maxHeight) && wish.maxHeight > 0 && height > 0)
    return Math.max(1, height / wish.maxHeight);
  return 1;
}

// True when an answer says its sender will send us no video: its video line is refused
// (port 0), `recvonly` or `inactive` (e.g. a GStreamer member whose H.264 this browser cannot
// decode: it can still receive ours, so the connection stays, one way).
export function videoNotSent(sdp) {
  return videoRefused(sdp) || /\r?\na=(recvonly|inactive)\b/.test(videoSection(sdp));
}

// An SDP without the `a=rtcp-fb:PT` lines whose PT is not in the format list of their m-line.
export function dropStrayFeedback(sdp) {
  let formats = null;
  const lines = sdp.split('\r\n').filter((l) => {
    if (l.startsWith('m=')) formats = new Set(l.split(' ').slice(3));
    const fb = /^a=rtcp-fb:(\d+) /.exec(l);
    return !(fb && formats && !formats.has(fb[1]));
  });
  return lines.join('\r\n');
}

// The video line of an SDP, or '' when it has none.
function videoSection(sdp) {
  return sdp.split(/\r?\nm=/).slice(1).find((m) => m.startsWith('video')) || '';
}

// True when the video line is refused (port 0): the answerer takes no video in any codec offered.
export function videoRefused(sdp) {
  return /^video 0 /.test(videoSection(sdp));
}

// True when an offer's video line lists the codec of `mime` ('video/VP9').
export function offersCodec(sdp, mime) {
  const enc = mime.split('/')[1].replace(/[^A-Za-z0-9]/g, '');
  return new RegExp(`\\r?\\na=rtpmap:\\d+ ${enc}/`, 'i').test(videoSection(sdp));
}

// ---- the video codec a host or member sends (?codec=vp8|vp9|h264) ----------------------------

export const VIDEO_CODECS = {
  vp8: { mime: 'video/vp8', name: 'VP8' },
  vp9: { mime: 'video/vp9', name: 'VP9' },
  h264: { mime: 'video/h264', name: 'H.264' },
};
// Entries that go with a codec rather than being one: kept after the chosen codec.
const HELPERS = ['video/rtx', 'video/red', 'video/ulpfec'];

// H.264 entries in order of preference: packetization-mode=1 first, profile 42e01f (constrained
// baseline 3.1, what every H.264 receiver here takes) first among those.
function h264Rank(c) {
  const f = c.sdpFmtpLine || '';
  return (/packetization-mode=1/.test(f) ? 0 : 2) + (/profile-level-id=42e01f/i.test(f) ? 0 : 1);
}

// What sending `codec` takes: {codec, name, mime, list} with the list for setCodecPreferences
// (the codec's entries from RTCRtpReceiver.getCapabilities('video'), then rtx/red/ulpfec), or
// {fallback: sentence} when this browser cannot send it. `codec` '' (or unknown): null, the
// browser's default.
export function videoCodecPlan(codec) {
  const want = VIDEO_CODECS[codec];
  if (!want) return null;
  const lower = (c) => c.mimeType.toLowerCase();
  const recv = typeof RTCRtpReceiver !== 'undefined' && RTCRtpReceiver.getCapabilities
    ? RTCRtpReceiver.getCapabilities('video') : null;
  const send = typeof RTCRtpSender !== 'undefined' && RTCRtpSender.getCapabilities
    ? RTCRtpSender.getCapabilities('video') : null;
  const canPrefer = typeof RTCRtpTransceiver !== 'undefined' && 'setCodecPreferences' in RTCRtpTransceiver.prototype;
  const chosen = recv && canPrefer ? recv.codecs.filter((c) => lower(c) === want.mime) : [];
  if (!chosen.length || (send && !send.codecs.some((c) => lower(c) === want.mime))) {
    const first = send && send.codecs.find((c) => !HELPERS.includes(lower(c)));
    const dflt = first ? first.mimeType.replace(/^video\//, '') : 'its default codec';
    return { fallback: `This browser cannot send ${want.name}; sending ${dflt}.` };
  }
  if (codec === 'h264') chosen.sort((a, b) => h264Rank(a) - h264Rank(b));
  return { codec, name: want.name, mime: want.mime, list: [...chosen, ...recv.codecs.filter((c) => HELPERS.includes(lower(c)))] };
}
