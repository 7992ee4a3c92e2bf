/* Frames and timecode at the project's frame rate: the one place the browser turns a frame number
   into HH:MM:SS:FF (non-drop-frame). The server's `timecode` template filter writes the same text
   (generation/timecode.py), so a timecode typed by the page and one rendered by Django match. */

function pad(n) { return String(n).padStart(2, "0"); }

export function timecode(frame, fps) {
  const rate = Math.max(1, Math.round(fps) || 1);
  const whole = Math.max(0, Math.floor(frame) || 0);
  const seconds = Math.floor(whole / rate);
  return pad(Math.floor(seconds / 3600)) + ":" + pad(Math.floor(seconds / 60) % 60) + ":" + pad(seconds % 60) + ":" + pad(whole % rate);
}

// The frame showing at a media time. The small epsilon keeps a seek to a frame's start (which
// browsers store as a float) from reading as the frame before it.
export function frameAt(seconds, fps) { return Math.floor(seconds * fps + 1e-4); }

// The middle of a frame: seeking there never lands on a neighbour after rounding.
export function secondsOf(frame, fps) { return (frame + 0.5) / fps; }
