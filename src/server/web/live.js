// Live rooms: the viewer (answers the host's offer, plays it) and the host (shares its screen
// and offers it to every viewer).

import { Session, byeText } from './session.js';
import { videoRefused } from './peer.js';
import { captureScreen, stopStream } from './media.js';
import { LIMITS } from './protocol.js';

// The fields of a `prefer` for `wish`: a ladder layer (a number: 0 is full size, no limit) or
// {layer} or {maxHeight} (pixels: the largest layer at most so high). Throws a RangeError for
// anything else, so a page's mistake is seen at once rather than refused by the server.
export function preferFields(wish) {
  const int = (v, lo, hi) => Number.isInteger(v) && v >= lo && v <= hi;
  if (typeof wish === 'number') wish = { layer: wish };
  if (wish && typeof wish === 'object') {
    const keys = Object.keys(wish);
    if (keys.length === 1 && keys[0] === 'layer' && int(wish.layer, 0, LIMITS.prefer_layer))
      return { layer: wish.layer };
    if (keys.length === 1 && keys[0] === 'maxHeight' && int(wish.maxHeight, 1, LIMITS.prefer_height))
      return { maxHeight: wish.maxHeight };
  }
  throw new RangeError(`prefer: a layer from 0 to ${LIMITS.prefer_layer}, or {maxHeight: 1 to ${LIMITS.prefer_height}} ` +
    `(got ${JSON.stringify(wish)})`);
}

export class Viewer extends Session {
  // video: the <video> element to play in
  constructor(opts) {
    super({ ...opts, role: 'viewer' });
    this.video = opts.video;
    this.onAudio = opts.onAudio || (() => {});
    this.hostId = null;
    this.preferWish = null; // the fields of our `prefer`, sent with every session (see prefer())
    this.video.addEventListener('playing', () => this.checkLive());
    this.video.addEventListener('resize', () => this.checkLive());
  }

  start() {
    this.connect();
  }

  current() {
    return this.hostId ? this.peers.get(this.hostId) : null;
  }

  // Asks the host for a smaller layer of its ladder at most (a small tile): `wish` as for
  // preferFields(), or null to ask for nothing any more (the host is told: layer 0, no limit).
  // Remembered: sent again with every new session (each offer from the host, so after a rejoin
  // too). A host without a ladder ignores it. Returns true when it went to the host now.
  prefer(wish) {
    const fields = wish === null ? null : preferFields(wish);
    const had = this.preferWish;
    this.preferWish = fields;
    return this.sendPrefer(fields || (had ? { layer: 0 } : null));
  }

  sendPrefer(fields = this.preferWish) {
    if (!fields || !this.hostId || !this.current()) return false;
    return this.sig.send({ type: 'prefer', to: this.hostId, ...fields });
  }

  // Live once the connection is up and a frame is showing.
  checkLive() {
    const p = this.current();
    if (!p || p.closed) return;
    if (p.pc.connectionState === 'connected' && this.video.videoWidth > 0 && this.state !== 'reconnecting')
      this.setState('live', this.hostName ? `from ${this.hostName}` : '');
  }

  onWelcome(w) {
    const host = w.peers.find((p) => p.role === 'host');
    this.hostId = host ? host.id : null;
    this.hostName = host ? host.name : '';
    this.detach();
    // The host offers; until then we wait.
    this.setState(host ? 'connecting' : 'waiting', host ? 'waiting for the host\'s offer' : '');
  }

  onPeerJoined(info) {
    if (info.role !== 'host') return;
    this.hostId = info.id;
    this.hostName = info.name || '';
    this.setState('connecting', 'the host is here');
  }

  onPeerLeft(id) {
    if (id !== this.hostId) return;
    this.hostId = null;
    this.detach();
    this.setState('host-left', 'waiting for the host to come back');
  }

  onOffer(m) {
    // In a live room only the host can signal a viewer.
    this.hostId = m.from;
    if (this.state === 'peer-ended' || this.videoRefused) this.message(''); // the host tries again
    this.videoRefused = false;
    this.closeAllPeers();
    const p = this.newPeer({ id: m.from, role: 'host', name: this.hostName || '' });
    this.sendPrefer(); // our layer wish, to this new session
    this.detach();
    if (this.state !== 'reconnecting') this.setState('connecting', 'answering the host\'s offer');
    p.acceptOffer(m.sdp).then(() => {
      // Our answer refused the host's video (no codec in common): say so now rather than wait
      // for frames that cannot come (the host's bye, when it sends one, says it again).
      const local = p.pc.localDescription;
      if (p.closed || !local || !videoRefused(local.sdp)) return;
      this.videoRefused = true;
      this.message('The host sends video in a codec this browser cannot decode.', 'error');
    });
  }

  // The host ended our connection (it serves as many viewers as it can, it heard nothing from us,
  // ...). We stay in the room: a new offer from the host starts again.
  onBye(m) {
    if (m.from !== this.hostId) return;
    this.detach();
    this.setState('peer-ended', this.hostName ? `by ${this.hostName}` : 'by the host');
    this.messageFromServer = true;
    this.message(byeText(m, 'The host', 'viewers'), 'error');
  }

  onTrack(ev, peer) {
    if (peer.id !== this.hostId) return;
    if (ev.track.kind === 'audio') this.onAudio(true);
    if (this.video.srcObject !== peer.stream) {
      this.video.srcObject = peer.stream;
      this.video.play().catch(() => { /* muted autoplay; a click on the page plays too */ });
    }
  }

  onPeerState(peer) {
    if (peer.id !== this.hostId || peer.closed) return;
    const s = peer.pc.connectionState;
    if (s === 'connected') this.checkLive();
    else if (s === 'failed') {
      // Join again: the host sees us leave and come back, and offers anew.
      this.message('The media connection to the host failed; joining again.', 'warn');
      this.detach();
      this.sig.reconnectNow('media connection failed');
    } else if (s === 'disconnected' && this.state === 'live') this.setState('connecting', 'connection interrupted');
  }

  detach() {
    if (this.video.srcObject) this.video.srcObject = null;
    this.onAudio(false);
  }
}

export class Host extends Session {
  // preview: a <video> that shows what is shared
  constructor(opts) {
    super({ ...opts, role: 'host' });
    this.preview = opts.preview;
    this.stream = null;
    this.onViewers = opts.onViewers || (() => {});
    this.players = new Map(); // viewers that offer themselves ("offers": WHEP players), by id
  }

  // Called from a click: browsers want a user gesture before screen capture.
  // codec: the video codec to send ('' = the browser's default; see Session.chooseCodec).
  // privateRoom: ask the server not to list the room (join "private": true).
  async start({ audio = true, codec = '', privateRoom = false } = {}) {
    this.privateRoom = privateRoom;
    this.setState('connecting', 'choose what to share');
    this.message('');
    const cannot = this.chooseCodec(codec);
    try {
      this.stream = await captureScreen({ audio });
    } catch (e) {
      this.setState('error');
      this.message(e.message, 'error');
      this.captureError = e.code;
      return false;
    }
    for (const t of this.stream.getTracks()) {
      // The browser's own "Stop sharing" ends the track.
      t.addEventListener('ended', () => this.finish('You stopped sharing (from the browser). The viewers have been told.'));
    }
    this.preview.srcObject = this.stream;
    this.preview.play().catch(() => {});
    if (cannot) this.message(cannot, 'error');
    this.connect();
    return true;
  }

  // Leaves cleanly: the server tells every viewer that the host left.
  finish(text) {
    if (this.state === 'ended') return;
    this.stop();
    stopStream(this.stream);
    this.stream = null;
    this.preview.srcObject = null;
    this.setState('ended');
    this.message(text || 'You stopped sharing.');
    this.onViewers(0);
  }

  onWelcome(w) {
    this.setState('live', 'sharing');
    this.players.clear();
    for (const p of w.peers) if (p.role === 'viewer') this.offerTo(p);
    this.onViewers(this.peers.size);
  }

  onPeerJoined(info) {
    if (info.role === 'viewer') this.offerTo(info);
    this.onViewers(this.peers.size);
  }

  onPeerLeft(id) {
    this.players.delete(id);
    this.onViewers(this.peers.size);
  }

  // A viewer ended its connection with us (its page closed it, ICE failed on its side, ...).
  onBye(m, peer) {
    this.onViewers(this.peers.size);
    const who = peer && peer.name ? peer.name : 'A viewer';
    this.message(byeText(m, who, 'peers'), 'info');
  }

  // A viewer cannot take our codec (see Session.refused): it was told, the others go on.
  onRefused(peer, what) {
    this.onViewers(this.peers.size);
    this.message(`${peer.name || 'A viewer'} cannot receive ${what}; it was told (no common codec).`, 'error');
  }

  offerTo(info) {
    // A viewer that offers itself (a WHEP player, join "offers"): we answer its offer instead.
    if (info.offers) {
      this.players.set(info.id, info);
      return;
    }
    if (!this.stream) return;
    const p = this.newPeer(info);
    p.addTracks(this.stream);
    p.offer();
  }

  onOffer(m) {
    const info = this.players.get(m.from);
    if (!info || !this.stream) {
      console.warn('roomcast: the host got an offer from', m.from, '- ignored');
      return;
    }
    // Our tracks first: the offer's receive-only m-lines take their transceivers, and the answer
    // sends on them.
    const p = this.newPeer(info);
    p.addTracks(this.stream);
    p.acceptOffer(m.sdp);
    this.onViewers(this.peers.size);
  }

  onDisconnected() {
    this.onViewers(0);
  }

  onFatal(m) {
    this.stop();
    stopStream(this.stream);
    this.stream = null;
    this.preview.srcObject = null;
    this.setState('error');
  }
}
