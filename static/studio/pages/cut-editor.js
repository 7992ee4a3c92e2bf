/* Plays a cut in the browser: each entry's take from its in point to its out point, in order. */

import { playQuietly } from "../media.js";
import { frameAt, secondsOf, timecode as timecodeAt } from "../timecode.js";

const video = document.getElementById("cut-video");
if (video) startCutPlayer(video);

function startCutPlayer(video) {
  const fps = Number(document.body.dataset.fps) || 24;
  const playButton = document.getElementById("cut-play");
  const stopButton = document.getElementById("cut-stop");
  const timecodeOut = document.getElementById("cut-timecode");
  const nowPlaying = document.getElementById("cut-now-playing");
  let playlist = [];
  let index = -1;
  let playing = false;

  function readPlaylist() {
    const data = document.getElementById("cut-playlist");
    try { playlist = data ? JSON.parse(data.textContent) : []; } catch (e) { playlist = []; }
    playButton.disabled = !playlist.length;
  }

  function timecode(frame) { return timecodeAt(frame, fps); }

  function framesBefore(i) {
    let sum = 0;
    for (let n = 0; n < i; n++) sum += playlist[n].out - playlist[n].in;
    return sum;
  }

  function load(i) {
    index = i;
    const item = playlist[i];
    nowPlaying.textContent = (i + 1) + "/" + playlist.length + " · " + item.shot;
    document.querySelectorAll(".entry.playing").forEach(function (el) { el.classList.remove("playing"); });
    const row = document.getElementById("entry-" + item.entry);
    if (row) row.classList.add("playing");
    const start = function () {
      video.currentTime = secondsOf(item.in, fps);
      if (playing) playQuietly(video);
    };
    if (video.getAttribute("src") === item.src) start();
    else { video.src = item.src; video.addEventListener("loadedmetadata", start, { once: true }); }
  }

  function next() {
    if (index + 1 < playlist.length) load(index + 1);
    else stop();
  }

  // One animation-frame loop while the cut plays: it moves on at each entry's out point.
  let ticking = false;
  function tick() {
    if (!playing || index < 0) { ticking = false; return; }
    const item = playlist[index];
    const frame = frameAt(video.currentTime, fps);
    timecodeOut.textContent = timecode(framesBefore(index) + Math.max(0, Math.min(frame, item.out) - item.in));
    if (!video.seeking && video.readyState >= 2 && frame >= item.out) next();
    requestAnimationFrame(tick);
  }
  function ensureTicking() {
    if (ticking) return;
    ticking = true;
    requestAnimationFrame(tick);
  }

  function start() {
    readPlaylist();
    if (!playlist.length) return;
    if (playing) { video.pause(); playing = false; playButton.textContent = "▶︎ Play cut"; return; }
    playing = true;
    playButton.textContent = "❚❚ Pause";
    if (index < 0) load(0); else playQuietly(video);
    ensureTicking();
  }

  function stop() {
    playing = false;
    video.pause();
    index = -1;
    playButton.textContent = "▶︎ Play cut";
    nowPlaying.textContent = "";
    timecodeOut.textContent = timecode(0);
    document.querySelectorAll(".entry.playing").forEach(function (el) { el.classList.remove("playing"); });
  }

  video.addEventListener("ended", function () { if (playing) next(); });
  playButton.addEventListener("click", start);
  stopButton.addEventListener("click", stop);
  document.body.addEventListener("htmx:afterSwap", function (evt) {
    if (evt.detail.target && evt.detail.target.id === "cut-entries") readPlaylist();
  });
  readPlaylist();
}
