/* How htmx behaves in the studio: explicit attributes, which answers are swapped, refusals and
   errors said in a toast, and live refreshes that wait while someone is typing or dragging.
   htmx itself is the vendored classic script loaded before the modules (static/vendor/). */

import { state } from "./live.js";
import { toast } from "./toasts.js";

const ERROR_MESSAGES = {
  403: "Your role in this project does not allow this.",
  404: "That is gone, or you no longer have access to it.",
};

export function configureHtmx() {
  // Attributes are explicit on every element; only the CSRF header comes from <body>.
  htmx.config.disableInheritance = true;
  document.body.setAttribute("hx-inherit", "hx-headers");
  // 409 (someone else saved first) and 422 (values refused) carry a form to show: swap them.
  htmx.config.responseHandling = [
    { code: "204", swap: false },
    { code: "[23]..", swap: true },
    { code: "409", swap: true, error: false },
    { code: "422", swap: true, error: false },
    { code: "[45]..", swap: false, error: true },
  ];
  document.body.addEventListener("htmx:beforeSwap", sayPlainRefusals);
  document.body.addEventListener("htmx:responseError", sayErrors);
  document.body.addEventListener("htmx:sendError", function () {
    toast("The studio cannot be reached. Check your connection.", "error");
  });
  document.body.addEventListener("htmx:configRequest", sayLastEventSeen);
  document.body.addEventListener("htmx:beforeRequest", holdLiveRefreshWhileEditing);
  document.body.addEventListener("htmx:beforeSwap", dropLiveRefreshWhileEditing);
}

// The number of the last live event this page saw goes with every request: an event reaches
// the page a moment before its number is committed, and a refresh it asks for that fast must not
// be answered from a cache keyed by the number before it (studio/views/board.py).
function sayLastEventSeen(evt) {
  if (state.seq !== null) evt.detail.headers["X-Live-Seq"] = String(state.seq);
}

function sayPlainRefusals(evt) {
  const xhr = evt.detail.xhr;
  const type = xhr.getResponseHeader("Content-Type") || "";
  if (xhr.status === 422 && type.startsWith("text/plain")) {
    // A refusal with a message and nothing to show in place: keep the page, say why.
    evt.detail.shouldSwap = false;
    toast(xhr.responseText, "error");
  }
}

function sayErrors(evt) {
  const status = evt.detail.xhr.status;
  // 429 (too many renders) carries its own explanation: when to try again.
  const own = status === 429 ? evt.detail.xhr.responseText : "";
  toast(own || ERROR_MESSAGES[status] || "Something went wrong (" + status + "). Please try again.", "error");
}

// A live refresh must never throw away what someone is typing or dragging: it is held before it
// is sent, and, when the person started editing while it was on its way, its answer is dropped
// (the next live event, or a reload, brings the change).
function holdLiveRefreshWhileEditing(evt) {
  if (liveRefreshWouldInterrupt(evt)) evt.preventDefault();
}

function dropLiveRefreshWhileEditing(evt) {
  if (liveRefreshWouldInterrupt(evt)) evt.detail.shouldSwap = false;
}

function liveRefreshWouldInterrupt(evt) {
  const trigger = evt.detail.requestConfig && evt.detail.requestConfig.triggeringEvent;
  if (!trigger || !String(trigger.type).startsWith("live-")) return false;
  const target = evt.detail.target;
  const active = document.activeElement;
  const typing = active && target.contains(active) && active.matches("input, textarea, select");
  // An open panel with a form (e.g. "Re-render with this note") counts as editing: a swap would close it.
  const busy = "[data-editing], details[open] form, .upload:not(.done):not(.failed)";
  if (document.body.classList.contains("dragging") || target.querySelector(busy) || typing) {
    target.dataset.staleSince = Date.now();
    return true;
  }
  return false;
}
