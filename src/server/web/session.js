// What the viewer, host and member pages share: the signalling connection, the peer table, the
// page state and its text, and the wiring of ICE and descriptions to the right peer.

import { Signaling, defaultServerUrl } from './signaling.js';
import { Peer, rtcConfig, videoCodecPlan } from './peer.js';
import { ERRORS, endReasonText } from './protocol.js';

export const STATE_TEXT = {
  idle: 'ready',
  connecting: 'connecting…',
  waiting: 'waiting for the host',
  live: 'live',
  'host-left': 'host left',
  reconnecting: 'reconnecting…',
  ended: 'stopped sharing',
  left: 'left the meeting',
  'peer-ended': 'connection ended',
  full: 'room full',
  busy: 'server busy',
  error: 'error',
};

// The state a retryable join refusal puts the page in while it waits to join again, so the badge
// says what the message says ("The room is full; trying again…" under "room full").
const RETRY_STATE = {
  'room-full': 'full',
  'too-many-rooms': 'busy',
  'server-full': 'busy',
  'room-not-open': 'waiting',
};

// The sentence for an `error` message: the protocol table's words for its code, with the server's
// own explanation where that adds something.
export function errorText(m) {
  const e = ERRORS[m.code];
  const base = e ? e.text : `The server refused a message (${m.code}).`;
  return m.message && (!e || e.detail) ? `${base} ${m.message}` : base;
}

// The sentence for a `bye`: why `who` ended its connection with us, and its own words if any.
export function byeText(m, who, peers) {
  const text = endReasonText(m.reason, who, peers);
  return m.message ? `${text} (“${m.message}”)` : text;
}

export class Session {
  // ui: {setState(code, text), message(text, kind)}
  constructor({ room, role, name, token = '', ui, url }) {
    this.room = room;
    this.role = role;
    this.name = name;
    this.token = token;
    this.ui = ui;
    this.url = url || defaultServerUrl();
    this.state = 'idle';
    this.stateDetail = '';
    this.lastMessage = '';
    this.peers = new Map(); // id -> Peer
    this.config = rtcConfig();
    this.sig = null;
    this.codec = null; // {codec, name, mime, list}: the video codec we send, when one was chosen
    this.privateRoom = false; // hosts and members: join with "private" (not on the room list)
    this.retryCode = ''; // the retryable refusal we are waiting out, if any
  }

  // The video codec to send (hosts and members: ?codec= or the page's select; '' is the browser's
  // default). Returns '' or the sentence saying that this browser cannot send it (then the
  // browser's default is sent).
  chooseCodec(codec) {
    const plan = videoCodecPlan(codec);
    this.codec = plan && plan.list ? plan : null;
    return plan && plan.fallback ? plan.fallback : '';
  }

  setState(code, detail = '') {
    this.state = code;
    this.stateDetail = detail;
    this.ui.setState(code, STATE_TEXT[code] || code, detail);
  }

  message(text, kind = 'info') {
    this.lastMessage = text || '';
    this.ui.message(text, kind);
  }

  // Starts the signalling connection; the subclass handles the room's messages.
  connect() {
    const sig = new Signaling({
      url: this.url, room: this.room, role: this.role, name: this.name, token: this.token,
      privateRoom: this.privateRoom,
    });
    this.sig = sig;
    sig.addEventListener('connecting', (e) => {
      if (e.detail.attempt === 0 && this.state !== 'reconnecting') this.setState('connecting');
    });
    sig.addEventListener('disconnected', (e) => {
      const next = `next try in ${(e.detail.delayMs / 1000).toFixed(1)} s`;
      // A full server closes the socket after saying so: the badge keeps saying why.
      if (this.retryCode === 'server-full') this.setState('busy', next);
      else this.setState('reconnecting', next);
      this.onDisconnected();
    });
    sig.addEventListener('welcome', (e) => {
      if (this.lastMessage && this.messageFromServer) this.message('');
      this.messageFromServer = false;
      this.retryCode = '';
      // Every id from before a reconnect is gone: close what is left of those connections.
      this.closeAllPeers();
      // The server's ICE servers (TURN credentials may be made for this connection and expire:
      // each welcome brings the current ones) for the connections made from now on.
      this.config = rtcConfig(undefined, e.detail.ice_servers);
      this.onWelcome(e.detail);
    });
    sig.addEventListener('peer-joined', (e) => this.onPeerJoined(e.detail.peer));
    sig.addEventListener('peer-left', (e) => {
      this.closePeer(e.detail.id);
      this.onPeerLeft(e.detail.id);
    });
    sig.addEventListener('offer', (e) => this.onOffer(e.detail));
    sig.addEventListener('answer', (e) => {
      const p = this.peers.get(e.detail.from);
      if (p) p.acceptAnswer(e.detail.sdp);
    });
    sig.addEventListener('ice', (e) => {
      const p = this.peers.get(e.detail.from);
      if (p) p.addIce(e.detail);
    });
    // A layer wish for what we send (a meeting member's tile; a viewer's wish reaches a browser
    // host too, which has no ladder and ignores it).
    sig.addEventListener('prefer', (e) => this.onPrefer(e.detail));
    sig.addEventListener('bye', (e) => {
      // The peer ended its connection with us (it stays in the room): close ours, say why.
      const m = e.detail;
      console.info('roomcast: bye from', m.from, m.reason, m.message || '');
      const peer = this.peers.get(m.from);
      this.closePeer(m.from);
      this.onBye(m, peer);
    });
    sig.addEventListener('server-error', (e) => {
      const m = e.detail;
      console.warn('roomcast: server error', m);
      this.messageFromServer = true;
      const retry = !m.fatal && (m.retryInMs || m.code === 'server-full') ? RETRY_STATE[m.code] || 'connecting' : '';
      // A message in red goes with the error badge; one we wait out is a warning.
      this.message(errorText(m), m.fatal || !retry ? 'error' : 'warn');
      if (m.fatal) this.onFatal(m);
      else if (retry) {
        this.retryCode = m.code;
        if (m.retryInMs) this.setState(retry, `next try in ${(m.retryInMs / 1000).toFixed(1)} s`);
        else this.setState(retry);
      }
    });
    sig.start();
  }

  newPeer(info) {
    this.closePeer(info.id);
    const p = new Peer({
      info,
      sig: this.sig,
      config: this.config,
      onTrack: (ev, peer) => this.onTrack(ev, peer),
      onState: (peer) => this.onPeerState(peer),
    });
    p.codec = this.codec;
    p.onRefused = (peer) => this.refused(peer);
    p.onCodecSkipped = (peer) => this.onCodecSkipped(peer);
    this.peers.set(info.id, p);
    return p;
  }

  // A peer answered that it takes none of the video we offered (say a Firefox without H.264 and
  // our H.264-only offer): like the GStreamer offerers, end that connection with bye
  // no-common-codec naming the codec, once (no new offer follows), and tell the page.
  refused(peer) {
    const what = this.codec ? this.codec.name : 'the video codecs offered';
    console.warn('roomcast: peer', peer.id, 'refused our video;', `cannot receive ${what}`);
    this.sig.send({ type: 'bye', to: peer.id, reason: 'no-common-codec', message: `cannot receive ${what}` });
    this.closePeer(peer.id);
    this.onRefused(peer, what);
  }

  closePeer(id) {
    const p = this.peers.get(id);
    if (!p) return;
    this.peers.delete(id);
    p.close();
  }

  closeAllPeers() {
    for (const id of [...this.peers.keys()]) this.closePeer(id);
  }

  // Leaves the room for good.
  stop() {
    if (this.sig) this.sig.stop();
    this.closeAllPeers();
  }

  peerList() {
    // (wish: what the peer asked us for, `prefer`; scaledBy: how much we scale our video for it;
    // asked: what we asked it for.)
    return [...this.peers.values()].map((p) => ({
      id: p.id, name: p.name, role: p.role, state: p.state,
      wish: p.wish || null, scaledBy: p.scaledBy || 1, asked: p.asked ? JSON.parse(p.asked) : null,
    }));
  }

  async stats() {
    return Promise.all([...this.peers.values()].map((p) => p.stats()));
  }

  // For the subclasses.
  onWelcome() {}
  onPeerJoined() {}
  onPeerLeft() {}
  onOffer() {}
  onTrack() {}
  onPeerState() {}
  onBye() {}
  onPrefer() {}
  onRefused() {}
  onCodecSkipped() {}
  onDisconnected() {}
  onFatal() { this.stop(); this.setState('error'); }
}
