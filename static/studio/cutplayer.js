/* Plays a cut in the browser: each entry's take from its in point to its out point, in order. */
(function () {
  "use strict";

  // play() returns a promise that rejects when a pause() or a new src interrupts it; that is
  // expected while stepping through a cut, so only other failures are worth reporting.
  function playQuietly(media) {
    const started = media.play();
    if (started) started.catch(function (error) { if (error.name !== "AbortError") console.warn(error); });
  }
  const video = document.getElementById("cut-video");
  if (!video) return;
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

  function timecode(frame) {
    const pad = function (n) { return String(n).padStart(2, "0"); };
    const total = Math.floor(frame / fps);
    return pad(Math.floor(total / 3600)) + ":" + pad(Math.floor(total / 60) % 60) + ":" + pad(total % 60) + ":" + pad(frame % fps);
  }

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
      video.currentTime = (item.in + 0.5) / fps;
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
    const frame = Math.floor(video.currentTime * fps + 1e-4);
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
})();
