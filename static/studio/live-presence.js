/* Who is here, painted: avatars (initials) of the people in a room, and "<name> is editing this
   shot" on a shot form. The server sends the full list only in a snapshot and then joins and
   leaves as batched deltas ({type: "presence", ops: [...]}); this module keeps the list and paints
   every element that asks for a room:
     data-presence-room="board"                 avatars of the people on the board
     data-presence-room="shot:12 review:12"     avatars of those editing or reviewing shot 12
     data-editing-notice="12"                   who else is editing shot 12
   It also tells the server when this page opens or closes a shot form (room shot:<id>). */

import { sendLive } from "./live.js";

const people = new Map(); // "connection|room" -> entry
let you = null;
let editing = null; // the shot id whose form is open on this page, as told to the server

export function presenceSnapshot(msg) {
  people.clear();
  you = msg.you || null;
  (msg.presence || []).forEach(function (entry) { people.set(entry.c + "|" + entry.r, entry); });
  if (editing !== null) sendLive({ type: "editing", shot: editing }); // a new connection: tell it again
  paintPresence(document);
}

// Joins and leaves come in batches ({type: "presence", ops: [{op, c, u, n, i, r}, ...]}), in order.
export function presenceDelta(msg) {
  (msg.ops || []).forEach(function (change) {
    const key = change.c + "|" + change.r;
    if (change.op === "join") people.set(key, change);
    else people.delete(key);
  });
  paintPresence(document);
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
  scope.querySelectorAll("[data-editing-notice]").forEach(function (el) {
    const names = othersIn(["shot:" + el.dataset.editingNotice]).map(function (p) { return p.n; });
    el.textContent = names.length ? joinNames(names) + (names.length === 1 ? " is" : " are") + " editing this shot" : "";
    el.hidden = names.length === 0;
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
