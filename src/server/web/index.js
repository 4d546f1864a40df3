// The start page: a room name and a role lead to /room/<name>?role=...; below, the rooms the
// server lists (GET /rooms: live rooms with a host, meetings; never private ones).

import { defaultServerUrl } from './signaling.js';
import { ROOM_RE, ROOM_RULE, LIMITS, ROOM_LIST } from './protocol.js';

const $ = (id) => document.getElementById(id);
$('ws').textContent = defaultServerUrl();
$('room-rule').textContent = ROOM_RULE;
const form = $('go');
const input = $('room');
const hint = $('room-hint');
input.maxLength = LIMITS.room_name;

// The rule is shown under the field, not in the browser's bubble (the form is novalidate): in
// the hint's words, marked as an error while the name does not follow it.
function checkName({ submitting = false } = {}) {
  const room = input.value.trim();
  const bad = room ? !ROOM_RE.test(room) : submitting;
  input.setAttribute('aria-invalid', bad ? 'true' : 'false');
  hint.classList.toggle('error', bad);
  if (bad) hint.setAttribute('role', 'alert');
  else hint.removeAttribute('role');
  hint.textContent = '';
  if (bad && !room) hint.append('Type a room name first: ');
  else if (bad) hint.append(`“${room.length > 24 ? room.slice(0, 24) + '…' : room}” is not a room name: `);
  else hint.append('Room names are ');
  const rule = document.createElement('span');
  rule.id = 'room-rule';
  rule.textContent = ROOM_RULE;
  hint.append(rule);
  return !bad;
}

form.addEventListener('submit', (e) => {
  e.preventDefault();
  if (!checkName({ submitting: true })) {
    input.focus();
    return;
  }
  const role = e.submitter && e.submitter.value ? e.submitter.value : 'viewer';
  window.location.href = '/room/' + encodeURIComponent(input.value.trim()) + '?role=' + encodeURIComponent(role);
});
input.addEventListener('input', () => checkName());

// ---- the room list ------------------------------------------------------------------------------

const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

function roomItem(r) {
  const li = document.createElement('li');
  li.className = 'room-item';
  li.dataset.room = r.name;
  li.dataset.kind = r.kind;
  const live = r.kind === 'live';
  const count = live ? r.viewers : r.members;
  const a = document.createElement('a');
  a.className = 'room-link';
  a.href = `/room/${encodeURIComponent(r.name)}?role=${live ? 'viewer' : 'member'}`;
  const name = document.createElement('span');
  name.className = 'room-name';
  name.textContent = r.name;
  const what = document.createElement('span');
  what.className = 'room-what';
  what.textContent = live
    ? `live${r.host ? ` · ${r.host}` : ''} · ${plural(count, 'viewer', 'viewers')}`
    : `meeting · ${plural(count, 'member', 'members')}`;
  const action = document.createElement('span');
  action.className = 'room-action';
  action.textContent = live ? 'Watch' : 'Join';
  a.append(name, what, action);
  li.append(a);
  return li;
}

let lastList = '';
async function refreshRooms() {
  let list;
  try {
    const r = await fetch(ROOM_LIST.path, { cache: 'no-store' });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    list = await r.json();
  } catch (e) {
    console.warn('roomcast: no room list:', e.message || e);
    return;
  }
  const section = $('rooms');
  // A server that lists nothing (it needs a token of everyone, or --no-room-list) shows no
  // section at all rather than "no live rooms".
  section.hidden = !list.listed;
  const text = JSON.stringify(list);
  if (text !== lastList) {
    lastList = text;
    const ul = $('room-list');
    ul.replaceChildren(...(list.rooms || []).map(roomItem));
    if (list.more > 0) {
      const li = document.createElement('li');
      li.className = 'room-more note';
      li.textContent = `and ${plural(list.more, 'more room', 'more rooms')}`;
      ul.append(li);
    }
    $('rooms-empty').hidden = ul.childElementCount > 0;
  }
  section.dataset.updated = String(Date.now());
}

refreshRooms();
setInterval(() => { if (!document.hidden) refreshRooms(); }, ROOM_LIST.pollMs);
document.addEventListener('visibilitychange', () => { if (!document.hidden) refreshRooms(); });

// The submit handler is in place (tests wait for this before they click).
form.dataset.ready = 'yes';
