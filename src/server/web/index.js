// The start page: a room name and a role lead to /room/<name>?role=...

import { ROOM_RE, defaultServerUrl } from './signaling.js';

document.getElementById('ws').textContent = defaultServerUrl();
const form = document.getElementById('go');
const input = document.getElementById('room');
form.addEventListener('submit', (e) => {
  e.preventDefault();
  const room = input.value.trim();
  if (!ROOM_RE.test(room)) {
    input.setCustomValidity('1 to 64 characters from A-Z a-z 0-9 - _ .');
    input.reportValidity();
    return;
  }
  const role = e.submitter && e.submitter.value ? e.submitter.value : 'viewer';
  window.location.href = '/room/' + encodeURIComponent(room) + '?role=' + encodeURIComponent(role);
});
input.addEventListener('input', () => input.setCustomValidity(''));
// The submit handler is in place (tests wait for this before they click).
form.dataset.ready = 'yes';
