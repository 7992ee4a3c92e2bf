/* The guest's player: a timecode readout at the project's frame rate, and comments placed at the
   frame showing (the hidden `frame` field follows the player while "at the current frame" is ticked). */

import { frameAt, timecode } from "../timecode.js";

const video = document.getElementById("guest-video");
const readout = document.getElementById("guest-timecode");
if (video && readout) {
  const fps = Number(readout.dataset.fps) || 24;
  const frames = Math.max(1, Number(readout.dataset.frames) || 1);
  const form = document.getElementById("guest-comment-form");
  const frameField = form ? form.querySelector('input[name="frame"]') : null;
  const atFrame = document.getElementById("guest-at-frame");
  const atTimecode = document.getElementById("guest-at-timecode");

  function currentFrame() { return Math.max(0, Math.min(frames - 1, frameAt(video.currentTime, fps))); }

  function paint() {
    const frame = currentFrame();
    const text = timecode(frame, fps);
    readout.textContent = text;
    if (atTimecode) atTimecode.textContent = text;
    if (frameField) frameField.value = atFrame && atFrame.checked ? String(frame) : "";
  }

  ["timeupdate", "seeked", "loadedmetadata", "pause"].forEach(function (name) { video.addEventListener(name, paint); });
  if (atFrame) atFrame.addEventListener("change", paint);
  // While playing, timeupdate fires a few times a second; follow every painted frame instead.
  function follow() { paint(); if (!video.paused && !video.ended) requestAnimationFrame(follow); }
  video.addEventListener("play", function () { requestAnimationFrame(follow); });
  if (form) form.addEventListener("submit", paint);
  paint();
}
