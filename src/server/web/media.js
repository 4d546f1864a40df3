// Capturing the screen (and a microphone), and saying clearly why it failed.

export function missingFeatures({ capture }) {
  const missing = [];
  if (typeof window.RTCPeerConnection !== 'function') missing.push('WebRTC (RTCPeerConnection)');
  if (typeof window.WebSocket !== 'function') missing.push('WebSocket');
  if (capture && !(navigator.mediaDevices && typeof navigator.mediaDevices.getDisplayMedia === 'function'))
    missing.push('screen capture (getDisplayMedia)');
  return missing;
}

// Browsers offer screen capture only to secure pages: https://, or http://localhost and
// http://127.0.0.1. Watching works anywhere.
export function insecureForCapture() {
  return window.isSecureContext === false;
}

export class CaptureError extends Error {
  constructor(message, name) {
    super(message);
    this.code = name;
  }
}

function explain(e, what) {
  const name = e && e.name;
  if (name === 'NotAllowedError')
    return new CaptureError(`Permission denied: the browser (or you) did not allow ${what}. ` +
      'Press the button again and pick something to share, or check the site\'s permissions.', name);
  if (name === 'NotFoundError')
    return new CaptureError(`Nothing to capture: no ${what} source was found.`, name);
  if (name === 'NotReadableError' || name === 'AbortError')
    return new CaptureError(`The ${what} could not be started (the system refused or it is in use).`, name);
  if (name === 'InvalidStateError')
    return new CaptureError(`The browser wants a click before ${what}: press the button.`, name);
  if (name === 'TypeError' || name === 'NotSupportedError')
    return new CaptureError(`This browser does not support ${what}.`, name || 'NotSupportedError');
  return new CaptureError(`Could not start ${what}: ${e && e.message ? e.message : e}`, name || 'Error');
}

// The screen, with its audio when the browser offers it and `audio` is true.
export async function captureScreen({ audio = true, frameRate = 30 } = {}) {
  if (!(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia))
    throw new CaptureError('This browser cannot share its screen (no getDisplayMedia).', 'NotSupportedError');
  try {
    return await navigator.mediaDevices.getDisplayMedia({
      video: { frameRate: { ideal: frameRate, max: frameRate } },
      audio,
    });
  } catch (e) {
    throw explain(e, 'screen sharing');
  }
}

export async function captureMicrophone() {
  if (!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia))
    throw new CaptureError('This browser cannot use a microphone (no getUserMedia).', 'NotSupportedError');
  try {
    return await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
  } catch (e) {
    throw explain(e, 'the microphone');
  }
}

export function stopStream(stream) {
  if (!stream) return;
  for (const t of stream.getTracks()) t.stop();
}
