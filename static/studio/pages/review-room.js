/* The review room player: frame-accurate stepping, J/K/L, timecode at the project's frame rate,
   comment markers on a timeline, drawing on a paused frame, and synchronised compare. */

import { sharePlayhead } from "../live-presence.js";
import { playQuietly } from "../media.js";
import { frameAt, secondsOf, timecode as timecodeAt } from "../timecode.js";

const player = document.getElementById("player");
if (player) startPlayer(player);
refreshIdentityWhenScored();

/* The identity panel of the take on screen is replaced when the identity worker's scores for it
   arrive ("take.identity"), so a reviewer who opened a fresh take sees them without reloading. */
function refreshIdentityWhenScored() {
  document.body.addEventListener("live-event", function (evt) {
    const msg = evt.detail || {};
    const panel = document.getElementById("identity");
    if (msg.type !== "take.identity" || !panel || String(msg.take_id) !== panel.dataset.take) return;
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : Promise.reject(response.status); })
      .then(function (html) {
        const fresh = new DOMParser().parseFromString(html, "text/html").getElementById("identity");
        if (fresh) panel.replaceWith(fresh);
      })
      .catch(function () { /* the next visit shows them: scores are advice, not state */ });
  });
}

function startPlayer(player) {
  const fps = Number(player.dataset.fps) || 24;
  const frames = Math.max(1, Number(player.dataset.frames) || 1);
  const take = Number(player.dataset.take);
  const video = document.getElementById("video-main");
  const compare = document.getElementById("video-compare");
  const canvas = document.getElementById("draw-layer");
  const timeline = document.getElementById("timeline");
  const played = document.getElementById("timeline-played");
  const markersBox = document.getElementById("timeline-markers");
  const timecodeOut = document.getElementById("timecode");
  const frameReadout = document.getElementById("frame-readout");
  const rateReadout = document.getElementById("rate-readout");
  const playButton = document.getElementById("play-button");
  const drawToggle = document.getElementById("draw-toggle");
  const form = document.getElementById("comment-form");
  const frameInput = document.getElementById("comment-frame");
  const annotationInput = document.getElementById("comment-annotation");
  const atFrame = document.getElementById("comment-at-frame");
  const frameLabel = document.getElementById("comment-frame-label");
  const drawingLabel = document.getElementById("comment-drawing-label");

  let markers = [];
  let strokes = [];
  let drawing = false;
  let drawnFrame = null;
  let reverseTimer = null;
  let reverseRate = 0;

  // --- Time --------------------------------------------------------------------------------------
  function frameOf(seconds) { return Math.max(0, Math.min(frames - 1, frameAt(seconds, fps))); }
  function currentFrame() { return frameOf(video.currentTime); }
  function timecode(frame) { return timecodeAt(frame, fps); }

  function seekFrame(frame) {
    frame = Math.max(0, Math.min(frames - 1, frame));
    video.currentTime = secondsOf(frame, fps);
    if (compare) compare.currentTime = video.currentTime;
    paint();
  }

  function stopReverse() { clearInterval(reverseTimer); reverseTimer = null; reverseRate = 0; }

  function pause() { stopReverse(); video.pause(); video.playbackRate = 1; }

  function play(rate) {
    stopReverse();
    setDrawing(false);
    video.playbackRate = rate || 1;
    playQuietly(video);
  }

  function toggle() { if (video.paused && !reverseTimer) play(1); else pause(); }

  function shuttleForward() {
    if (video.paused || reverseTimer) { play(1); return; }
    play(Math.min(video.playbackRate * 2, 4));
  }

  function shuttleBack() {
    // Browsers do not play backwards; step back frame by frame at 1x, 2x, 4x.
    video.pause();
    reverseRate = reverseRate ? Math.min(reverseRate * 2, 4) : 1;
    clearInterval(reverseTimer);
    reverseTimer = setInterval(function () {
      const frame = currentFrame();
      if (frame <= 0) { stopReverse(); paint(); return; }
      seekFrame(frame - 1);
    }, 1000 / (fps * reverseRate));
    paint();
  }

  // --- Painting -------------------------------------------------------------------------------
  function paint() {
    const frame = currentFrame();
    timecodeOut.textContent = timecode(frame);
    frameReadout.textContent = "frame " + frame + " of 0–" + (frames - 1);
    played.style.width = (frame / Math.max(frames - 1, 1) * 100) + "%";
    timeline.setAttribute("aria-valuenow", String(frame));
    timeline.setAttribute("aria-valuetext", timecode(frame));
    const rate = reverseTimer ? -reverseRate : (video.paused ? 0 : video.playbackRate);
    rateReadout.textContent = rate ? (rate > 0 ? "▶ " : "◀ ") + Math.abs(rate) + "×" : "";
    playButton.textContent = video.paused && !reverseTimer ? "▶︎" : "❚❚";
    if (atFrame && drawnFrame === null) frameLabel.textContent = timecode(frame);
    drawCanvas(frame);
    sharePlayhead(take, frame, rate !== 0); // the others in this review room see where we are
  }

  function loop() {
    paint();
    if (!video.paused) {
      if (compare && Math.abs(compare.currentTime - video.currentTime) > 2 / fps) compare.currentTime = video.currentTime;
      if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(loop); else requestAnimationFrame(loop);
    }
  }

  // --- Comment markers ----------------------------------------------------------------------
  function loadMarkers() {
    const data = document.getElementById("comment-markers");
    try { markers = data ? JSON.parse(data.textContent) : []; } catch (e) { markers = []; }
    markersBox.innerHTML = "";
    markers.forEach(function (m) {
      // A mouse shortcut inside the timeline slider, which may not hold other controls: a plain
      // element out of the tab order and the accessibility tree (the markers box is aria-hidden);
      // each comment's timecode button in the list does the same seek from the keyboard.
      const marker = document.createElement("span");
      marker.className = "marker" + (m.resolved ? " resolved" : "") + (m.annotation ? " drawn" : "");
      marker.style.left = (m.frame / Math.max(frames - 1, 1) * 100) + "%";
      marker.title = timecode(m.frame) + " — " + m.body;
      marker.addEventListener("click", function (evt) { evt.stopPropagation(); pause(); seekFrame(m.frame); highlight(m.id); });
      markersBox.appendChild(marker);
    });
    paint();
  }

  function highlight(commentId) {
    document.querySelectorAll(".comment.highlight").forEach(function (el) { el.classList.remove("highlight"); });
    const el = document.getElementById("comment-" + commentId);
    if (el) { el.classList.add("highlight"); el.scrollIntoView({ block: "nearest" }); }
  }

  // --- Drawing ----------------------------------------------------------------------------------
  function sizeCanvas() {
    const rect = canvas.getBoundingClientRect();
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(rect.width * ratio);
    canvas.height = Math.round(rect.height * ratio);
    paint();
  }

  function strokePaths(ctx, list) {
    list.forEach(function (stroke) {
      ctx.strokeStyle = stroke.color;
      ctx.lineWidth = Math.max(1, stroke.width * canvas.width);
      ctx.lineCap = "round";
      ctx.lineJoin = "round";
      ctx.beginPath();
      stroke.points.forEach(function (p, i) {
        const x = p[0] * canvas.width, y = p[1] * canvas.height;
        if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
      });
      ctx.stroke();
    });
  }

  function drawCanvas(frame) {
    if (!canvas) return;
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (!video.paused || reverseTimer) return;
    if (drawnFrame === frame || drawing) strokePaths(ctx, strokes);
    markers.forEach(function (m) {
      if (m.frame === frame && m.annotation && m.annotation.strokes) strokePaths(ctx, m.annotation.strokes);
    });
  }

  function setDrawing(on) {
    if (!canvas || !drawToggle) return;
    drawing = on;
    if (on) { pause(); if (drawnFrame === null) drawnFrame = currentFrame(); }
    canvas.classList.toggle("active", on);
    drawToggle.setAttribute("aria-pressed", on ? "true" : "false");
    paint();
  }

  function clearDrawing() {
    strokes = [];
    drawnFrame = null;
    if (annotationInput) annotationInput.value = "";
    if (drawingLabel) drawingLabel.hidden = true;
    paint();
  }

  function pointFrom(evt) {
    const rect = canvas.getBoundingClientRect();
    return [Math.min(1, Math.max(0, (evt.clientX - rect.left) / rect.width)), Math.min(1, Math.max(0, (evt.clientY - rect.top) / rect.height))];
  }

  if (canvas) {
    let current = null;
    canvas.addEventListener("pointerdown", function (evt) {
      if (!drawing) return;
      canvas.setPointerCapture(evt.pointerId);
      current = { color: "#ff5a5f", width: 0.004, points: [pointFrom(evt)] };
      strokes.push(current);
    });
    canvas.addEventListener("pointermove", function (evt) {
      if (!current) return;
      current.points.push(pointFrom(evt));
      paint();
    });
    canvas.addEventListener("pointerup", function () {
      if (!current) return;
      current = null;
      annotationInput.value = JSON.stringify({ strokes: strokes });
      drawingLabel.hidden = false;
      frameLabel.textContent = timecode(drawnFrame);
    });
  }

  // --- Controls -------------------------------------------------------------------------------
  document.querySelectorAll("[data-action]").forEach(function (button) {
    button.addEventListener("click", function () {
      const action = button.dataset.action;
      if (action === "toggle") toggle();
      else if (action === "frame-back") { pause(); seekFrame(currentFrame() - 1); }
      else if (action === "frame-forward") { pause(); seekFrame(currentFrame() + 1); }
      else if (action === "draw") setDrawing(!drawing);
      else if (action === "clear-drawing") clearDrawing();
    });
  });

  timeline.addEventListener("click", function (evt) {
    const rect = timeline.getBoundingClientRect();
    pause();
    seekFrame(Math.round((evt.clientX - rect.left) / rect.width * (frames - 1)));
  });

  document.addEventListener("click", function (evt) {
    const link = evt.target.closest("[data-seek]");
    if (!link) return;
    pause();
    seekFrame(Number(link.dataset.seek));
    if (link.dataset.comment) highlight(link.dataset.comment);
    else player.focus({ preventScroll: false });  // e.g. an identity score's worst frame: look at it
  });

  document.addEventListener("keydown", function (evt) {
    if (evt.target.closest("input, textarea, select, [contenteditable]") || evt.ctrlKey || evt.metaKey || evt.altKey) return;
    const key = evt.key;
    const step = evt.shiftKey ? fps : 1;
    let handled = true;
    if (key === " " || key === "k" || key === "K") { if (key === " ") toggle(); else pause(); }
    else if (key === "l" || key === "L") shuttleForward();
    else if (key === "j" || key === "J") shuttleBack();
    else if (key === "ArrowLeft") { pause(); seekFrame(currentFrame() - step); }
    else if (key === "ArrowRight") { pause(); seekFrame(currentFrame() + step); }
    else if (key === "Home") { pause(); seekFrame(0); }
    else if (key === "End") { pause(); seekFrame(frames - 1); }
    else handled = false;
    if (handled) { evt.preventDefault(); paint(); }
  });

  // --- Compare: the second video follows the first -------------------------------------------
  video.addEventListener("play", function () { if (compare) { compare.currentTime = video.currentTime; compare.playbackRate = video.playbackRate; playQuietly(compare); } loop(); });
  video.addEventListener("pause", function () { if (compare) { compare.pause(); compare.currentTime = video.currentTime; } paint(); });
  video.addEventListener("ratechange", function () { if (compare) compare.playbackRate = video.playbackRate; });
  video.addEventListener("seeked", function () { if (compare && video.paused) compare.currentTime = video.currentTime; paint(); });
  video.addEventListener("loadedmetadata", sizeCanvas);
  video.addEventListener("ended", paint);

  // --- The comment form: the frame and the drawing travel with it -----------------------------
  if (form) {
    form.addEventListener("htmx:configRequest", function (evt) {
      const frame = drawnFrame !== null ? drawnFrame : currentFrame();
      evt.detail.parameters.frame = atFrame.checked || drawnFrame !== null ? String(frame) : "";
    });
    form.addEventListener("submit", function () {
      // Without htmx (plain post) the hidden input carries the frame.
      frameInput.value = atFrame.checked || drawnFrame !== null ? String(drawnFrame !== null ? drawnFrame : currentFrame()) : "";
    });
    form.addEventListener("htmx:afterRequest", function (evt) {
      if (!evt.detail.successful) return;
      form.reset();
      clearDrawing();
      setDrawing(false);
    });
  }

  document.body.addEventListener("htmx:afterSwap", function (evt) {
    if (evt.detail.target && evt.detail.target.id === "comment-list") loadMarkers();
  });
  window.addEventListener("resize", sizeCanvas);
  loadMarkers();
  sizeCanvas();
}
