/* Who is here, painted: avatars (initials) of the people in a room, and "<name> is editing this
   shot" on a shot form. The server sends the full list only in a snapshot and then joins and
   leaves as batched deltas ({type: "presence", ops: [...]}); this module keeps the list and paints
   every element that asks for a room:
     data-presence-room="board"                 avatars of the people on the board
     data-presence-room="shot:12 review:12"     avatars of those editing or reviewing shot 12
     data-editing-notice="12"                   who else is editing shot 12
     data-playheads-take="7" data-frames="48"   where the others in this review room are on
                                                take 7's timeline (their avatars, by frame)
   It also tells the server when this page opens or closes a shot form (room shot:<id>), and where
   this page's player is (sharePlayhead: at most four times a second, the last position always). */

import { sendLive } from "./live.js";

const people = new Map(); // "connection|room" -> entry
const playheads = new Map(); // connection -> {c, u, n, i, r, t (take), f (frame), p (playing)}
let you = null;
let editing = null; // the shot id whose form is open on this page, as told to the server
let ownPlayhead = null; // the last position this page asked to share
let playheadTimer = null;
let playheadSentAt = 0;
const PLAYHEAD_EVERY_MS = 250;

export function presenceSnapshot(msg) {
  people.clear();
  you = msg.you || null;
  (msg.presence || []).forEach(function (entry) { people.set(entry.c + "|" + entry.r, entry); });
  if (editing !== null) sendLive({ type: "editing", shot: editing }); // a new connection: tell it again
  playheads.clear(); // positions are not kept anywhere: the others' next moves repaint them
  if (ownPlayhead !== null) sendLive(ownPlayhead);
  paintPresence(document);
}

// Joins and leaves come in batches ({type: "presence", ops: [{op, c, u, n, i, r}, ...]}), in order.
export function presenceDelta(msg) {
  (msg.ops || []).forEach(function (change) {
    const key = change.c + "|" + change.r;
    if (change.op === "join") people.set(key, change);
    else people.delete(key);
    const playhead = playheads.get(change.c);
    if (change.op === "leave" && playhead && playhead.r === change.r) playheads.delete(change.c);
  });
  paintPresence(document);
}

// Positions on a take's timeline, latest per connection ({type: "playheads", ps: [...]}).
export function playheadsDelta(msg) {
  (msg.ps || []).forEach(function (playhead) { playheads.set(playhead.c, playhead); });
  paintPlayheads(document);
}

// This page's player is at `frame` of `take`: tell the others, at most every PLAYHEAD_EVERY_MS,
// and always the last position (a pause or a seek after a burst of frames is never lost).
export function sharePlayhead(take, frame, playing) {
  const next = { type: "playhead", take: take, frame: frame, playing: playing };
  if (ownPlayhead && ownPlayhead.take === take && ownPlayhead.frame === frame && ownPlayhead.playing === playing) return;
  ownPlayhead = next;
  if (playheadTimer !== null) return;
  playheadTimer = setTimeout(function () {
    playheadTimer = null;
    playheadSentAt = Date.now();
    sendLive(ownPlayhead);
  }, Math.max(0, playheadSentAt + PLAYHEAD_EVERY_MS - Date.now()));
}

// The others in these rooms (not this page's own connection), one per person.
export function othersIn(rooms) {
  const seen = new Map();
  people.forEach(function (entry) {
    if (entry.c !== you && rooms.indexOf(entry.r) !== -1 && !seen.has(entry.u)) seen.set(entry.u, entry);
  });
  return Array.from(seen.values()).sort(function (a, b) { return a.n.localeCompare(b.n); });
}

export function paintPresence(root) {
  const scope = root && root.querySelectorAll ? root : document;
  scope.querySelectorAll("[data-presence-room]").forEach(function (el) {
    const others = othersIn(el.dataset.presenceRoom.split(/\s+/));
    el.replaceChildren.apply(el, others.map(avatar));
    el.dataset.count = String(others.length);
    el.hidden = others.length === 0;
  });
  paintPlayheads(scope);
  scope.querySelectorAll("[data-editing-notice]").forEach(function (el) {
    const names = othersIn(["shot:" + el.dataset.editingNotice]).map(function (p) { return p.n; });
    el.textContent = names.length ? joinNames(names) + (names.length === 1 ? " is" : " are") + " editing this shot" : "";
    el.hidden = names.length === 0;
  });
}

function paintPlayheads(scope) {
  scope.querySelectorAll("[data-playheads-take]").forEach(function (el) {
    const take = Number(el.dataset.playheadsTake);
    const last = Math.max(1, Number(el.dataset.frames) - 1);
    const here = [];
    playheads.forEach(function (playhead) {
      if (playhead.c !== you && playhead.t === take && people.has(playhead.c + "|" + playhead.r)) here.push(playhead);
    });
    el.replaceChildren.apply(el, here.map(function (playhead) {
      const marker = avatar(playhead);
      marker.classList.add("playhead");
      marker.classList.toggle("playing", playhead.p);
      marker.style.left = (Math.min(playhead.f, last) / last * 100) + "%";
      marker.dataset.frame = String(playhead.f);
      marker.title = playhead.n + (playhead.p ? " is playing, at frame " : " is at frame ") + playhead.f;
      return marker;
    }));
  });
}

function avatar(entry) {
  const span = document.createElement("span");
  span.className = "avatar";
  span.textContent = entry.i;
  span.title = entry.n;
  span.dataset.user = entry.u;
  span.setAttribute("role", "img");
  span.setAttribute("aria-label", entry.n);
  return span;
}

function joinNames(names) {
  if (names.length === 1) return names[0];
  return names.slice(0, -1).join(", ") + " and " + names[names.length - 1];
}

// After any swap: is a shot form open on this page now (or no longer)?
export function watchEditing() {
  const form = document.querySelector("form[data-editing]");
  const card = form ? form.closest("[data-id]") : null;
  const shot = card ? Number(card.dataset.id) : null;
  if (shot !== editing) {
    editing = shot;
    sendLive({ type: "editing", shot: shot });
  }
}
