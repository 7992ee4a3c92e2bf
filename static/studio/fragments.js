/* Asking the page's live fragments to refetch themselves. Fragments say what they show in
   data-live ("live-shot-refresh:shot=12") and listen for "live-refresh"; page-wide events
   ("live-resync", "live-board-refresh"…) are dispatched on <body>. */

const pending = new Map();

export function emit(name, detail) {
  detail = detail || {};
  document.body.dispatchEvent(new CustomEvent(name, { detail: detail, bubbles: true }));
  // The fragments are told directly, because htmx trigger filters would need eval, which our
  // CSP forbids.
  Object.keys(detail).forEach(function (key) {
    const token = name + ":" + key + "=" + detail[key];
    document.querySelectorAll('[data-live~="' + CSS.escape(token) + '"]').forEach(function (el) {
      // Not bubbling: a shot card's refresh must not also refresh the scene around it.
      el.dispatchEvent(new CustomEvent("live-refresh", { bubbles: false }));
    });
  });
}

// Progress arrives many times a second; ask for a fragment at most once per short while.
export function emitSoon(name, detail, key) {
  const id = name + ":" + key;
  if (pending.has(id)) return;
  pending.set(id, setTimeout(function () { pending.delete(id); emit(name, detail); }, 250));
}
