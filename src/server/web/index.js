// The start page: a room name and a role lead to /room/<name>?role=...

import { defaultServerUrl } from './signaling.js';
import { ROOM_RE, ROOM_RULE, LIMITS } from './protocol.js';

document.getElementById('ws').textContent = defaultServerUrl();
document.getElementById('room-rule').textContent = ROOM_RULE;
const form = document.getElementById('go');
const input = document.getElementById('room');
// The browser's own check, from the protocol's rule (the pattern attribute is anchored).
input.pattern = ROOM_RE.source.replace(/^\^/, '').replace(/\$$/, '');
input.maxLength = LIMITS.room_name;
form.addEventListener('submit', (e) => {
  e.preventDefault();
  const room = input.value.trim();
  if (!ROOM_RE.test(room)) {
    input.setCustomValidity(ROOM_RULE);
    input.reportValidity();
    return;
  }
  const role = e.submitter && e.submitter.value ? e.submitter.value : 'viewer';
  window.location.href = '/room/' + encodeURIComponent(room) + '?role=' + encodeURIComponent(role);
});
input.addEventListener('input', () => input.setCustomValidity(''));
// The submit handler is in place (tests wait for this before they click).
form.dataset.ready = 'yes';
