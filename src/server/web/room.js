// The room page (/room/<name>?role=viewer|host|member): builds the page for the role and starts
// the session. Tests read the page through window.roomcast (see docs/web-client.md).

import { ROOM_RE, ROOM_RULE, LIMITS, cleanText } from './protocol.js';
import { missingFeatures, insecureForCapture } from './media.js';
import { STATE_TEXT } from './session.js';
import { VIDEO_CODECS } from './peer.js';
import { Viewer, Host } from './live.js';
import { Member } from './meeting.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(window.location.search);
const ROLES = ['viewer', 'host', 'member'];
const role = ROLES.includes(params.get('role')) ? params.get('role') : 'viewer';
// The video codec a host or member sends: ?codec=vp8|vp9|h264, or the browser's default.
const codecParam = (params.get('codec') || '').toLowerCase();
const codec = Object.hasOwn(VIDEO_CODECS, codecParam) ? codecParam : '';
// A room token (roomcast token --link), for servers that require one: sent with every join.
// The page sends no Referer anywhere (Referrer-Policy: no-referrer), so the link does not leak.
const token = params.get('token') || '';
// A host's page may carry a viewer token too (roomcast token --link): it goes into the viewer
// link the host copies, since the host's own token admits hosts only.
const viewerToken = params.get('viewer_token') || '';
// ?private=1: the host's join asks the server not to list the room (GET /rooms).
const privateParam = ['1', 'yes', 'true'].includes((params.get('private') || '').toLowerCase());
let room = '';
try {
  room = decodeURIComponent(window.location.pathname.replace(/^\/room\//, '').replace(/\/+$/, ''));
} catch {
  room = '';
}

function storedName() {
  try { return window.localStorage.getItem('roomcast-name') || ''; } catch { return ''; }
}
function storeName(n) {
  try { window.localStorage.setItem('roomcast-name', n); } catch { /* private mode */ }
}
// Names: the protocol's text rule (no control characters) and byte limit.
function cleanName(n) {
  return cleanText(n, LIMITS.peer_name);
}

// ---- page state and messages ------------------------------------------------------------------

const stateEl = $('state');
const detailEl = $('state-detail');
const messageEl = $('message');
let pageState = 'idle';
let pageMessage = '';

const ui = {
  setState(code, text, detail = '') {
    pageState = code;
    stateEl.dataset.state = code;
    stateEl.textContent = text;
    detailEl.textContent = detail || '';
    document.body.dataset.state = code;
    updateControls(code);
    updateStage();
  },
  message(text, kind = 'info') {
    pageMessage = text || '';
    messageEl.textContent = pageMessage;
    messageEl.hidden = !pageMessage;
    messageEl.className = 'message ' + kind;
  },
};

// The buttons follow the state: while sharing (or asking to), "Share" is off and "Stop" is on;
// after an error or the end, the user can start again.
const ACTIVE = new Set(['connecting', 'waiting', 'full', 'busy', 'live', 'host-left', 'reconnecting']);
function updateControls(code) {
  const active = ACTIVE.has(code);
  if (role === 'host') {
    $('share').disabled = active;
    $('share-audio').disabled = active;
    $('codec').disabled = active;
    $('private').disabled = active;
    $('stop').hidden = !active;
  } else if (role === 'member') {
    $('join').disabled = $('name').disabled = $('mic').disabled = $('codec').disabled = active;
    $('private').disabled = active;
    $('leave').hidden = !active;
  }
}

function fail(text) {
  ui.setState('error', STATE_TEXT.error);
  ui.message(text, 'error');
  for (const b of document.querySelectorAll('#controls button, #controls input, #controls select')) b.disabled = true;
}

// ---- tiles for meetings ------------------------------------------------------------------------

function makeTile(info, { local }) {
  const el = document.createElement('figure');
  el.className = 'tile' + (local ? ' local' : '');
  el.dataset.peer = info.id;
  const video = document.createElement('video');
  video.autoplay = true;
  video.playsInline = true;
  video.muted = local; // never hear yourself
  // The picture has a box of its own; the caption is a bar under it, never over it.
  const box = document.createElement('div');
  box.className = 'tile-video';
  box.append(video);
  const cap = document.createElement('figcaption');
  const label = document.createElement('span');
  label.className = 'name';
  const conn = document.createElement('span');
  conn.className = 'conn';
  const stats = document.createElement('span');
  stats.className = 'tile-stats';
  cap.append(label, conn, stats);
  el.append(box, cap);
  if (!local) {
    el.title = 'click to mute or unmute';
    el.addEventListener('click', () => { video.muted = !video.muted; el.classList.toggle('muted', video.muted); });
  }
  const grid = $('grid');
  if (local) grid.prepend(el); else grid.append(el);
  const setLabel = (text) => { label.textContent = text; label.title = text; };
  setLabel(info.name || info.id);
  return {
    el,
    video,
    box, // what the member's tile asks for is this box's height (meeting.js, watchTile)
    setLabel,
    setConnection(s) { conn.textContent = s === 'connected' ? '' : s; el.dataset.conn = s; },
    setStats(text) { stats.textContent = text; stats.title = text; },
  };
}

// ---- the stage: the viewer's picture (fullscreen, picture-in-picture), the host's preview --------

const stageBox = $('stage-box');
const stageVideo = $('stage');
const STAGE_NOTE = {
  idle: 'The picture shows here once the host is live.',
  connecting: 'Connecting to the host…',
  waiting: 'Nobody is sharing in this room yet; the picture shows here once the host is live.',
  full: 'The room is full; the picture shows here once there is room for you.',
  busy: 'The server is busy; trying again.',
  'host-left': 'The host left; the picture comes back when the host does.',
  reconnecting: 'Reconnecting to the server…',
  'peer-ended': 'The host ended the connection.',
  error: 'Nothing to show.',
};

// Empty (no stream, or no frame yet): the host's page shows no box at all, the viewer's a
// placeholder that says what it waits for, never a black rectangle.
function updateStage() {
  // (The host's preview counts from the moment it has a stream.)
  const empty = !stageVideo.srcObject || (role === 'viewer' && stageVideo.videoWidth === 0);
  if (empty) stageBox.dataset.empty = 'yes';
  else delete stageBox.dataset.empty;
  $('stage-note').textContent = STAGE_NOTE[pageState] || STAGE_NOTE.idle;
  if (role !== 'viewer') return;
  $('fullscreen').disabled = empty || !document.fullscreenEnabled;
  const pip = $('pip');
  pip.hidden = !document.pictureInPictureEnabled;
  pip.disabled = empty || stageVideo.readyState < 1;
}
for (const ev of ['loadedmetadata', 'resize', 'playing', 'emptied']) stageVideo.addEventListener(ev, updateStage);

function toggleFullscreen() {
  if (document.fullscreenElement) return document.exitFullscreen().catch(() => {});
  return stageBox.requestFullscreen().catch((e) => ui.message(`Fullscreen was refused: ${e.message}`, 'warn'));
}
function togglePip() {
  if (document.pictureInPictureElement) return document.exitPictureInPicture().catch(() => {});
  return stageVideo.requestPictureInPicture()
    .catch((e) => ui.message(`Picture-in-picture was refused: ${e.message}`, 'warn'));
}
function setupViewerControls() {
  $('fullscreen').addEventListener('click', toggleFullscreen);
  $('pip').addEventListener('click', togglePip);
  stageVideo.addEventListener('dblclick', () => { if (!$('fullscreen').disabled) toggleFullscreen(); });
  document.addEventListener('keydown', (e) => {
    if ((e.key === 'f' || e.key === 'F') && !e.ctrlKey && !e.metaKey && !e.altKey &&
        !(e.target instanceof HTMLInputElement) && !$('fullscreen').disabled) toggleFullscreen();
  });
  document.addEventListener('fullscreenchange', () => {
    const on = document.fullscreenElement === stageBox;
    $('fullscreen').textContent = on ? 'Exit fullscreen' : 'Fullscreen';
    $('fullscreen').setAttribute('aria-pressed', String(on));
  });
  stageVideo.addEventListener('enterpictureinpicture', () => {
    $('pip').textContent = 'Back to the page';
    $('pip').setAttribute('aria-pressed', 'true');
  });
  stageVideo.addEventListener('leavepictureinpicture', () => {
    $('pip').textContent = 'Picture-in-picture';
    $('pip').setAttribute('aria-pressed', 'false');
  });
  updateStage();
}

// ---- the link to share -------------------------------------------------------------------------

// Hosts share a viewer link (with the viewer token their page carries, if any), members a link
// to the meeting (with their own token: a member token admits any member of the room).
function shareLink() {
  const q = new URLSearchParams({ role: role === 'host' ? 'viewer' : 'member' });
  const t = role === 'host' ? viewerToken : token;
  if (t) q.set('token', t);
  return `${window.location.origin}/room/${encodeURIComponent(room)}?${q}`;
}

function setupShareLink() {
  const btn = $('copy-link');
  const field = $('link');
  const done = $('copied');
  btn.textContent = role === 'host' ? 'Copy viewer link' : 'Copy meeting link';
  field.value = shareLink();
  field.addEventListener('focus', () => field.select());
  let timer = 0;
  btn.addEventListener('click', async () => {
    const link = shareLink();
    let ok = false;
    try {
      await navigator.clipboard.writeText(link);
      ok = true;
    } catch {
      // No clipboard access (permission, an insecure page): select the text for Ctrl+C.
      field.focus();
      field.select();
      try { ok = document.execCommand('copy'); } catch { ok = false; }
    }
    done.textContent = ok ? 'Link copied.' : 'Press Ctrl+C to copy the selected link.';
    done.dataset.ok = String(ok);
    clearTimeout(timer);
    timer = setTimeout(() => { done.textContent = ''; }, 4000);
  });
}

// ---- stats -------------------------------------------------------------------------------------

function fmt(s) {
  if (!s) return '';
  const parts = [];
  if (s.width) parts.push(`${s.width}×${s.height}`);
  if (s.fps) parts.push(`${Math.round(s.fps)} fps`);
  parts.push(`${s.kbps || 0} kbit/s`);
  if (s.codec) parts.push(s.codec.replace(/^video\//, ''));
  return parts.join(' · ');
}

let session = null;

async function refreshStats() {
  if (!session) return;
  let all = [];
  try { all = await session.stats(); } catch { return; }
  const line = $('stats');
  if (role === 'viewer') {
    const s = all.find((x) => x.inbound);
    line.textContent = s && session.state === 'live' ? `receiving ${fmt(s.inbound)}` : '';
  } else if (role === 'host') {
    const out = all.filter((x) => x.outbound).map((x) => x.outbound);
    const kbps = out.reduce((a, o) => a + (o.kbps || 0), 0);
    const first = out.find((o) => o.width);
    line.textContent = session.state === 'live'
      ? `${all.length} viewer${all.length === 1 ? '' : 's'}` + (first ? ` · sending ${first.width}×${first.height} · ${Math.round(first.fps || 0)} fps · ${kbps} kbit/s in all` : '')
      : '';
  } else {
    for (const s of all) {
      const t = session.tiles.get(s.id);
      if (t) t.setStats(s.inbound ? fmt(s.inbound) : '');
    }
    const sum = (k) => all.reduce((a, s) => a + ((s[k] && s[k].kbps) || 0), 0);
    line.textContent = session.state === 'live' && all.length
      ? `sending ${sum('outbound')} kbit/s · receiving ${sum('inbound')} kbit/s in all` : '';
  }
}

// ---- the roles ---------------------------------------------------------------------------------

function setup() {
  $('title').textContent = room ? `Room ${room}` : 'roomcast';
  document.title = room ? `${room} · roomcast` : 'roomcast';
  $('role').textContent = { viewer: 'watching', host: 'hosting', member: 'meeting' }[role];
  document.body.dataset.role = role;
  for (const el of document.querySelectorAll('[data-for]')) el.hidden = !el.dataset.for.split(' ').includes(role);
  ui.setState('idle', STATE_TEXT.idle);

  if (!ROOM_RE.test(room)) {
    fail(`A room name is ${ROOM_RULE} (this one is not).`);
    return;
  }
  if (role !== 'viewer' && insecureForCapture()) {
    fail('Browsers share a screen only with secure pages: open this page over https://, or as ' +
      'http://localhost or http://127.0.0.1 on the server\'s machine. Watching works from anywhere.');
    return;
  }
  const missing = missingFeatures({ capture: role !== 'viewer' });
  if (missing.length) {
    fail(`This browser is not supported: it lacks ${missing.join(', ')}. Use a current Chrome, Edge, Firefox or Safari.`);
    return;
  }
  const name = cleanName(params.get('name') || storedName());
  const video = $('stage');
  // One codec select, next to the role's other options.
  $('codec').value = codec;
  if (role === 'member') $('join').before($('codec-box'), $('private-box'));
  $('private').checked = privateParam;

  if (role !== 'viewer') setupShareLink();
  if (role === 'viewer') {
    setupViewerControls();
    session = new Viewer({ room, name, token, ui, video, onAudio: (has) => { $('unmute').hidden = !has; } });
    $('unmute').addEventListener('click', () => {
      video.muted = !video.muted;
      $('unmute').textContent = video.muted ? 'Unmute' : 'Mute';
      video.play().catch(() => {});
    });
    session.start();
  } else if (role === 'host') {
    session = new Host({
      room, name, token, ui, preview: video,
      onViewers: (n) => { $('viewers').textContent = n ? `${n} viewer${n === 1 ? '' : 's'}` : ''; },
    });
    $('share').addEventListener('click', () => session.start({
      audio: $('share-audio').checked, codec: $('codec').value, privateRoom: $('private').checked,
    }));
    $('stop').addEventListener('click', () => session.finish('You stopped sharing. The viewers have been told.'));
    ui.message('Press "Share screen" and pick a screen, window or tab to broadcast.');
  } else {
    const nameInput = $('name');
    nameInput.maxLength = LIMITS.peer_name; // characters here; cleanName() counts the bytes
    nameInput.value = name;
    session = new Member({ room, name, token, ui, grid: $('grid'), makeTile });
    $('join').addEventListener('click', async () => {
      const n = cleanName(nameInput.value);
      if (n) storeName(n);
      session.name = n;
      await session.start({ microphone: $('mic').checked, codec: $('codec').value, privateRoom: $('private').checked });
    });
    $('leave').addEventListener('click', () => session.finish('You left the meeting.'));
    ui.message('Press "Share screen and join" to enter the meeting.');
  }
  setInterval(refreshStats, 1000);
  window.addEventListener('pagehide', () => { if (session) session.stop(); });
}

// What tests (and curious people in the console) can read without scraping the page.
window.roomcast = {
  role,
  room,
  get state() { return pageState; },
  get message() { return pageMessage; },
  get id() { return session && session.sig ? session.sig.id : null; },
  // The video codec this page sends by choice ('' = the browser's default, or not possible here).
  get codec() { return session && session.codec ? session.codec.codec : ''; },
  peers() { return session ? session.peerList() : []; },
  stats() { return session ? session.stats() : Promise.resolve([]); },
  video() {
    const v = $('stage');
    return { width: v.videoWidth, height: v.videoHeight, paused: v.paused, currentTime: v.currentTime };
  },
  // The link the host's or member's "Copy … link" button copies.
  link() { return role === 'viewer' ? '' : shareLink(); },
  // Viewers: asks the host for at most layer n of its ladder (0: full size), or with
  // {maxHeight: px} for the largest layer at most so high; null: no wish. Sent with every session
  // from now on. Returns true when it went to the host now (false: no session yet; it goes with
  // the next). Throws a RangeError for a bad wish, an Error on a page that is not a viewer's.
  prefer(wish) {
    if (role !== 'viewer' || !session || typeof session.prefer !== 'function')
      throw new Error('prefer: only a viewer asks its host for a layer');
    return session.prefer(wish);
  },
  // The wish prefer() set (the fields of the `prefer` message), or null.
  get preferred() { return session && session.preferWish ? { ...session.preferWish } : null; },
  tiles() {
    return session && session.tiles
      ? [...session.tiles.entries()].map(([id, t]) => ({
        id, label: t.el.querySelector('.name').textContent, width: t.video.videoWidth, height: t.video.videoHeight,
        // the tile's displayed height (device pixels) and the wish it sent its member (`prefer`)
        boxHeight: t.height || 0, asked: t.asked || null,
      }))
      : [];
  },
};

setup();
