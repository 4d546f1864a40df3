// The signalling connection: one WebSocket to the server's /ws, speaking the protocol of
// protocol.js (generated from the table the server is built from; docs/protocol.md). It joins a
// room, answers the server's `ping`, notices a silent server with its own `ping`, and reconnects
// with backoff when the socket closes.
//
// Events (CustomEvent, the message or details in `detail`):
//   welcome, peer-joined, peer-left, offer, answer, ice, bye, prefer  - the server's messages
//   server-error   - an `error` message (detail: the message; detail.fatal when the join failed
//                    for good, for example host-taken or wrong-kind; detail.retryInMs when the
//                    join is tried again, for example room-full)
//   disconnected   - the socket closed; a reconnect is scheduled (detail: {delayMs, attempt})
//   connecting     - a (re)connect attempt starts (detail: {attempt})

import { PROTOCOL_VERSION, joinAction, retryDelayMs } from './protocol.js';

// A host-taken right after a reconnect is not final: the server may not have noticed yet that
// our own previous connection is gone. A few tries before the join-error policy (fatal) counts.
const HOST_TAKEN_RETRIES = 4;

export function defaultServerUrl(loc = window.location) {
  return (loc.protocol === 'https:' ? 'wss://' : 'ws://') + loc.host + '/ws';
}

export class Signaling extends EventTarget {
  constructor({ url, room, role, name = '', token = '', privateRoom = false }) {
    super();
    this.url = url;
    this.room = room;
    this.role = role;
    this.name = name;
    this.token = token;      // a room token, for servers that require one
    this.privateRoom = privateRoom; // hosts and members: the server lists the room nowhere
    this.id = null;          // our id while in the room
    this.joined = false;
    this.ws = null;
    this.stopped = false;
    this.attempt = 0;        // reconnect attempts since the last welcome
    this.everJoined = false;
    this.hostTakenTries = 0;
    this.lastHeard = 0;
    this.pingIntervalS = 10;
    this.keepaliveTimer = 0;
    this.retryTimer = 0;
    this.rejoinTimer = 0;
    this.joinAttempt = 0;    // refused joins (retryable) since the last welcome
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  // Leaves the room and closes the socket for good.
  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.rejoinTimer);
    clearInterval(this.keepaliveTimer);
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      if (ws.readyState === WebSocket.OPEN) {
        if (this.joined) this.rawSend({ type: 'leave' });
        ws.close(1000, 'bye');
      } else if (ws.readyState === WebSocket.CONNECTING) {
        ws.onopen = () => ws.close(1000, 'bye');
      }
    }
    this.joined = false;
    this.id = null;
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  connect() {
    if (this.stopped) return;
    this.emit('connecting', { attempt: this.attempt });
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (e) {
      this.scheduleReconnect(String(e));
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (ws !== this.ws) return;
      this.lastHeard = Date.now();
      this.sendJoin();
    };
    ws.onmessage = (ev) => {
      if (ws !== this.ws) return;
      this.lastHeard = Date.now();
      let m;
      try {
        m = JSON.parse(ev.data);
      } catch {
        console.warn('roomcast: unparsable message from the server', ev.data);
        return;
      }
      if (!m || typeof m.type !== 'string') return;
      this.onMessage(m);
    };
    ws.onclose = (ev) => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.joined = false;
      this.id = null;
      clearInterval(this.keepaliveTimer);
      clearTimeout(this.rejoinTimer);
      if (!this.stopped) this.scheduleReconnect(ev.reason || 'code ' + ev.code);
    };
    // An error is always followed by close; nothing to do here.
    ws.onerror = () => {};
  }

  sendJoin() {
    const join = { type: 'join', version: PROTOCOL_VERSION, room: this.room, role: this.role };
    if (this.name) join.name = this.name;
    if (this.token) join.token = this.token;
    if (this.privateRoom) join.private = true;
    this.rawSend(join);
  }

  scheduleReconnect(reason) {
    if (this.stopped) return;
    const delayMs = retryDelayMs(this.attempt);
    this.attempt++;
    this.emit('disconnected', { delayMs, attempt: this.attempt, reason });
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delayMs);
  }

  // Closes the current socket and starts over (used when the server went silent).
  reconnectNow(reason) {
    const ws = this.ws;
    this.ws = null;
    this.joined = false;
    this.id = null;
    clearInterval(this.keepaliveTimer);
    clearTimeout(this.rejoinTimer);
    if (ws) {
      try { ws.close(4000, reason); } catch { /* already closing */ }
    }
    this.scheduleReconnect(reason);
  }

  onMessage(m) {
    switch (m.type) {
      case 'ping':
        this.rawSend({ type: 'pong' });
        return;
      case 'pong':
        return;
      case 'welcome':
        this.id = m.id;
        this.joined = true;
        this.everJoined = true;
        this.attempt = 0;
        this.joinAttempt = 0;
        this.hostTakenTries = 0;
        this.pingIntervalS = m.ping_interval > 0 ? m.ping_interval : 10;
        this.startKeepalive();
        this.emit('welcome', m);
        return;
      case 'peer-joined':
      case 'peer-left':
      case 'offer':
      case 'answer':
      case 'ice':
      case 'bye':
      case 'prefer': // a layer wish: a member's for what we send it (a browser host ignores a viewer's)
        this.emit(m.type, m);
        return;
      case 'error':
        this.onError(m);
        return;
      default:
        console.warn('roomcast: ignoring unknown message type', m.type);
    }
  }

  onError(m) {
    let fatal = false;
    let retryInMs = 0;
    if (m.ref === 'join' && !this.joined) {
      if (m.code === 'host-taken' && this.everJoined && this.hostTakenTries < HOST_TAKEN_RETRIES) {
        this.hostTakenTries++;
        this.reconnectNow('host-taken after reconnect; retrying');
        return;
      }
      // The join-error policy of the protocol's table: fatal, or join again after the backoff.
      if (joinAction(m.code) === 'fatal') {
        fatal = true;
      } else {
        retryInMs = retryDelayMs(this.joinAttempt++);
        const ws = this.ws;
        clearTimeout(this.rejoinTimer);
        this.rejoinTimer = setTimeout(() => {
          if (ws === this.ws && !this.joined && !this.stopped) this.sendJoin();
        }, retryInMs);
      }
    }
    // (server-full comes without a ref: the server closes the socket next, and the reconnect
    // backoff takes it from there.)
    if (fatal) this.stop();
    this.emit('server-error', { ...m, fatal, retryInMs });
  }

  // While idle, the server pings us every ping_interval. Say something ourselves when it has
  // been quiet that long, and give up on the socket after three intervals of silence.
  startKeepalive() {
    clearInterval(this.keepaliveTimer);
    const intervalMs = this.pingIntervalS * 1000;
    this.keepaliveTimer = setInterval(() => {
      const quiet = Date.now() - this.lastHeard;
      if (quiet > 3 * intervalMs) this.reconnectNow('server silent');
      else if (quiet > intervalMs) this.rawSend({ type: 'ping' });
    }, Math.max(1000, intervalMs / 2));
  }

  rawSend(obj) {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(obj));
    return true;
  }

  // Relays `offer`, `answer` or `ice` to one peer. Returns false when not connected.
  send(obj) {
    if (!this.joined) return false;
    return this.rawSend(obj);
  }

  sendDescription(to, desc) {
    return this.send({ type: desc.type, to, sdp: desc.sdp });
  }

  // `cand` is an RTCIceCandidate, or null for the end of candidates.
  sendCandidate(to, cand) {
    const m = {
      type: 'ice',
      to,
      candidate: cand ? cand.candidate : '',
      sdpMLineIndex: cand && cand.sdpMLineIndex != null ? cand.sdpMLineIndex : 0,
    };
    if (cand && cand.sdpMid != null) m.sdpMid = cand.sdpMid;
    return this.send(m);
  }
}
