/* What each live event means for the page: progress is painted in place (progress.js), anything
   else asks the fragments that show it to refetch (fragments.js). */

import { emit, emitSoon } from "./fragments.js";
import { playheadsDelta, presenceDelta, presenceSnapshot } from "./live-presence.js";
import { paintExport, paintTake } from "./progress.js";
import { toast } from "./toasts.js";

const FINAL = new Set(["succeeded", "failed", "cancelled"]);

export function onSnapshot(msg, options) {
  presenceSnapshot(msg);
  (msg.takes || []).forEach(paintTake);
  (msg.exports || []).forEach(paintExport);
  // After a reconnect or a gap we may have missed events: fragments refetch. So do they when the
  // first snapshot finds the content changed since the page was rendered (an edit made while the
  // page loaded, or while a socket that never got its first snapshot was down).
  if (!options.first || changedSinceRender(msg)) emit("live-resync", {});
}

function changedSinceRender(msg) {
  const rendered = Number(document.body.dataset.eventSeq);
  return Number.isFinite(rendered) && typeof msg.seq === "number" && msg.seq > rendered;
}

export function onEvent(msg) {
  if (msg.type === "presence") { presenceDelta(msg); return; }
  if (msg.type === "playheads") { playheadsDelta(msg); return; }
  if (msg.type === "error") { console.warn("live:", msg.error); return; }
  dispatch(msg);
  emit("live-event", msg);
}

function dispatch(msg) {
  switch (msg.type) {
    case "take.changed": takeChanged(msg.take, msg.tick); break;
    case "shot.changed": shotChanged(msg); break;
    case "scene.changed":
      emit(document.getElementById("scene-" + msg.scene) ? "live-scene-refresh" : "live-board-refresh", { scene: msg.scene });
      break;
    case "scene.reordered": emit("live-scene-refresh", { scene: msg.scene }); break;
    case "script.imported": emit("live-board-refresh", {}); break;
    case "cast.changed": emit("live-cast-changed", { cast_member: msg.cast_member }); break;
    case "comment.added":
    case "comment.changed":
      emit("live-comments", { take: msg.take });
      emitSoon("live-shot-takes", { shot: msg.shot }, msg.shot);
      break;
    case "take.reviewed":
      emit("live-shot-refresh", { shot: msg.shot });
      emit("live-shot-takes", { shot: msg.shot });
      // The shot continuing from this one may have turned stale (or current again).
      for (const shot of msg.downstream || []) emit("live-shot-refresh", { shot });
      break;
    case "take.identity":  // a take's identity scores arrived: its board badge, the take stack, the cut's drift strip
      emit("live-shot-refresh", { shot: msg.shot_id });
      emit("live-shot-takes", { shot: msg.shot_id });
      emitSoon("live-identity", { shot: msg.shot_id }, msg.shot_id);
      break;
    case "cut.changed": emit("live-cut-changed", { cut: msg.cut }); break;
    case "export.changed": exportChanged(msg.export, msg.tick); break;
    case "project.updated": toast("The project settings were changed.", "info"); break;
    case "notification":  // for this person only (their own group): the bell refetches its count
      toast(msg.text, "info");
      emit("live-notification", {});
      break;
    case "notification.read": emit("live-notification", {}); break;
  }
}

function takeChanged(take, tick) {
  const elements = document.querySelectorAll('[data-take-id="' + take.id + '"]');
  const before = elements.length ? elements[0].dataset.status : null;
  // A tick sent before a take ended can arrive after its final state (the worker's last tick and
  // a cancel from the studio take different ways): it never turns a finished take back to running.
  if (tick && FINAL.has(before)) return;
  paintTake(take);
  if (!elements.length) {
    emitSoon("live-take-new", { take: take.id, shot: take.shot_id }, take.id);
    emitSoon("live-shot-refresh", { shot: take.shot_id }, take.shot_id);
    emitSoon("live-shot-takes", { shot: take.shot_id }, take.shot_id);
  } else if (before !== take.status) {
    if (FINAL.has(take.status)) emit("live-take-final", { take: take.id, shot: take.shot_id });
    emitSoon("live-shot-refresh", { shot: take.shot_id }, take.shot_id);
    emitSoon("live-shot-takes", { shot: take.shot_id }, take.shot_id);
  }
}

function shotChanged(msg) {
  const card = document.getElementById("shot-" + msg.shot);
  if (msg.trashed) {
    if (card && !card.querySelector("[data-editing]")) card.remove();
    return;
  }
  if (card) emit("live-shot-refresh", { shot: msg.shot });
  else emit("live-scene-refresh", { scene: msg.scene });
}

// Progress ticks are painted in place; a new export or a change of status (the download link
// appears, an error shows) refetches the list.
function exportChanged(exp, tick) {
  const row = document.querySelector('[data-export-id="' + exp.id + '"]');
  const before = row ? row.dataset.status : null;
  if (tick && FINAL.has(before)) return;  // as for takes: a late tick never undoes the end
  paintExport(exp);
  if (!row || before !== exp.status) emitSoon("live-export-refresh", { cut: exp.cut_id }, exp.cut_id);
}
