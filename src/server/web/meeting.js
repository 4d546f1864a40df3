// Meetings (mesh): every member shares its screen (and optionally a microphone) with every other
// member. The newcomer offers to each member listed in its welcome; members already there only
// answer, so two offers never cross. Each pair shares one two-way connection.

import { Session, byeText } from './session.js';
import { captureScreen, captureMicrophone, stopStream } from './media.js';
import { preferScale } from './peer.js';
import { LIMITS } from './protocol.js';

// A remote tile asks its member for a picture no higher than itself (`prefer` {maxHeight}, in
// device pixels); one at least this high asks for no limit.
export const LARGE_TILE_PX = 1080;
// A tile's size settles (a window drag, the grid reflowing as members come and go) before it asks.
export const TILE_SETTLE_MS = 300;

// What a tile `height` device pixels high asks its member for: {maxHeight}, or {layer: 0} (no
// limit) when it is large and asked for less before, or null (nothing to say).
export function tileWish(height, askedBefore) {
  if (!(height > 0)) return null;
  if (height >= LARGE_TILE_PX) return askedBefore ? { layer: 0 } : null;
  return { maxHeight: Math.min(Math.round(height), LIMITS.prefer_height) };
}

export class Member extends Session {
  // grid: the element the tiles go in; makeTile(info, {local}) returns {el, video, setLabel, setStats}
  constructor(opts) {
    super({ ...opts, role: 'member' });
    this.grid = opts.grid;
    this.makeTile = opts.makeTile;
    this.tiles = new Map(); // id -> tile
    this.members = new Map(); // id -> {id, role, name}
    this.stream = null;
    this.localTile = null;
  }

  // Called from a click: browsers want a user gesture before screen capture.
  // codec: the video codec to send ('' = the browser's default; see Session.chooseCodec).
  // privateRoom: ask the server not to list the meeting (join "private": true).
  async start({ microphone = false, codec = '', privateRoom = false } = {}) {
    this.privateRoom = privateRoom;
    this.setState('connecting', 'choose what to share');
    this.message('');
    const cannot = this.chooseCodec(codec);
    let screen;
    try {
      screen = await captureScreen({ audio: false });
    } catch (e) {
      this.setState('error');
      this.message(e.message, 'error');
      this.captureError = e.code;
      return false;
    }
    this.stream = new MediaStream(screen.getVideoTracks());
    if (microphone) {
      try {
        const mic = await captureMicrophone();
        for (const t of mic.getAudioTracks()) this.stream.addTrack(t);
      } catch (e) {
        this.message(`${e.message} Joining without the microphone.`, 'error');
      }
    }
    for (const t of screen.getVideoTracks()) {
      // The browser's own "Stop sharing" ends the track: leave the meeting.
      t.addEventListener('ended', () => this.finish('You stopped sharing (from the browser) and left the meeting.'));
    }
    if (cannot) this.message(cannot, 'error');
    this.localTile = this.makeTile({ id: 'local', name: this.name ? `${this.name} (you)` : 'you' }, { local: true });
    this.localTile.video.srcObject = this.stream;
    this.localTile.video.play().catch(() => {});
    this.connect();
    return true;
  }

  finish(text) {
    if (this.state === 'left') return;
    this.teardown();
    this.setState('left');
    this.message(text || 'You left the meeting.');
  }

  teardown() {
    this.stop();
    stopStream(this.stream);
    this.stream = null;
    for (const id of [...this.tiles.keys()]) this.removeTile(id);
    if (this.localTile) {
      this.localTile.el.remove();
      this.localTile = null;
    }
  }

  tileFor(info) {
    let t = this.tiles.get(info.id);
    if (!t) {
      t = this.makeTile(info, { local: false });
      this.tiles.set(info.id, t);
      this.watchTile(info.id, t);
    } else {
      t.setLabel(info.name || info.id);
    }
    return t;
  }

  removeTile(id) {
    const t = this.tiles.get(id);
    if (!t) return;
    this.tiles.delete(id);
    if (t.unwatch) t.unwatch();
    t.video.srcObject = null;
    t.el.remove();
  }

  // The tile's displayed height (device pixels) is what we ask its member for: once its size has
  // settled, and again whenever it changes.
  watchTile(id, t) {
    const box = t.box || t.video;
    if (typeof ResizeObserver === 'undefined' || !box) return;
    let timer = 0;
    const observer = new ResizeObserver((entries) => {
      const h = entries[entries.length - 1].contentRect.height;
      clearTimeout(timer);
      timer = setTimeout(() => {
        t.height = Math.round(h * (window.devicePixelRatio || 1));
        this.askFor(id);
      }, TILE_SETTLE_MS);
    });
    observer.observe(box);
    t.unwatch = () => { clearTimeout(timer); observer.disconnect(); };
  }

  // Sends member `id` the wish of its tile, if it changed, once our connection with it is
  // described (before that, a GStreamer member does not know the pair yet). The wish belongs
  // to the connection: a new one (a new Peer) asks again.
  askFor(id) {
    const t = this.tiles.get(id);
    const p = this.peers.get(id);
    if (!t || !p || p.closed || !p.described || !this.sig) return;
    const wish = tileWish(t.height, !!p.asked);
    if (!wish) return;
    const key = JSON.stringify(wish);
    if (p.asked === key) return;
    p.asked = key;
    t.asked = wish;
    this.sig.send({ type: 'prefer', to: id, ...wish });
  }

  // A member asks us for a smaller picture (its tile): that connection's video sender scales
  // down (each pair has its own encoder in a browser), the others are untouched. A layer halves
  // per step; a height scales our captured height to it. Layer 0 lifts it.
  onPrefer(m) {
    const p = this.peers.get(m.from);
    if (!p) return;
    const wish = Number.isInteger(m.layer) ? { layer: m.layer }
      : Number.isInteger(m.maxHeight) ? { maxHeight: m.maxHeight } : null;
    p.wish = wish;
    const track = this.stream && this.stream.getVideoTracks()[0];
    const settings = track && track.getSettings ? track.getSettings() : {};
    const downBy = preferScale(wish, settings.height || 0);
    p.scaleVideo(downBy).then((set) => {
      if (set) console.info('roomcast: member', m.from, 'asked for', JSON.stringify(wish), '- sending it', JSON.stringify(set));
    });
  }

  newPeer(info) {
    const p = super.newPeer(info);
    p.onDescribed = () => this.askFor(info.id);
    return p;
  }

  onWelcome(w) {
    for (const id of [...this.tiles.keys()]) this.removeTile(id);
    this.members.clear();
    this.setState('live');
    // We are the newcomer: we offer to everyone already here.
    for (const info of w.peers) {
      if (info.role !== 'member') continue;
      this.members.set(info.id, info);
      this.tileFor(info);
      const p = this.newPeer(info);
      p.onOneWay = () => this.onOneWay(info);
      p.addTracks(this.stream);
      p.offer();
    }
    this.showCount();
  }

  showCount() {
    if (this.state !== 'live') return;
    const n = this.members.size;
    this.setState('live', n ? `with ${n} other${n === 1 ? '' : 's'}` : 'alone in the meeting');
  }

  onPeerJoined(info) {
    if (info.role !== 'member') return;
    // They will offer to us.
    this.members.set(info.id, info);
    this.tileFor(info);
    this.showCount();
  }

  onPeerLeft(id) {
    this.members.delete(id);
    this.removeTile(id);
    this.showCount();
  }

  // A member ended its connection with us; it stays in the meeting, without a tile here.
  onBye(m) {
    const info = this.members.get(m.from);
    this.removeTile(m.from);
    this.message(byeText(m, info && info.name ? info.name : 'A member', 'members'), 'error');
  }

  onOffer(m) {
    const info = this.members.get(m.from) || { id: m.from, role: 'member', name: '' };
    this.members.set(info.id, info);
    this.tileFor(info);
    const p = this.newPeer(info);
    if (this.stream) p.addTracks(this.stream);
    p.acceptOffer(m.sdp);
  }

  // The member answered that it will not send us video (nothing it can send is decodable
  // here); it still receives ours. Say so on its tile instead of leaving it black.
  onOneWay(info) {
    const t = this.tiles.get(info.id);
    const who = info.name || 'This member';
    if (t) t.setStats(`${who} sends video in a codec this browser cannot decode`);
    this.message(`${who} sends video in a codec this browser cannot decode; it still sees you.`, 'error');
  }

  // A member cannot take our codec (see Session.refused): no connection with it.
  onRefused(peer, what) {
    const info = this.members.get(peer.id);
    this.removeTile(peer.id);
    this.message(`${info && info.name ? info.name : 'A member'} cannot receive ${what}, so you are not connected with it.`, 'error');
  }

  // A member offered without our codec: we answer in one it offered.
  onCodecSkipped(peer) {
    const info = this.members.get(peer.id);
    this.message(`${info && info.name ? info.name : 'A member'} offered no ${this.codec.name}; you send it a codec it offered.`);
  }

  onTrack(ev, peer) {
    const t = this.tiles.get(peer.id);
    if (!t) return;
    if (t.video.srcObject !== peer.stream) {
      t.video.srcObject = peer.stream;
      t.video.play().catch(() => {
        // Autoplay with sound refused: play muted, a click on the tile unmutes.
        t.video.muted = true;
        t.video.play().catch(() => {});
      });
    }
  }

  onPeerState(peer) {
    const t = this.tiles.get(peer.id);
    if (t) t.setConnection(peer.state);
  }

  onFatal() {
    this.teardown();
    this.setState('error');
  }
}
