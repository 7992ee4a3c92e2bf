/* Toasts: short messages in the corner that leave by themselves. Errors are alerts, the rest
   polite status messages. Server messages arrive as toasts in the page or as a "toast" event
   (HX-Trigger), and scripts call toast() directly. */

function container() { return document.getElementById("toasts"); }

function dismissLater(el) {
  setTimeout(function () { el.classList.add("leaving"); }, 6000);
  setTimeout(function () { el.remove(); }, 6600);
}

export function toast(message, level) {
  const box = container();
  if (!message || !box) return;
  const el = document.createElement("div");
  el.className = "toast " + (level || "info");
  el.setAttribute("role", level === "error" ? "alert" : "status");
  el.textContent = message;
  box.appendChild(el);
  dismissLater(el);
}

// The toast a response asked for in its HX-Trigger header ({"toast": {"message", "level"}}).
export function toastFromTrigger(header) {
  if (!header) return;
  try {
    const requested = JSON.parse(header).toast;
    if (requested) toast(requested.message, requested.level);
  } catch (err) { /* a trigger without a toast */ }
}

export function startToasts() {
  const box = container();
  if (box) box.querySelectorAll(".toast").forEach(dismissLater);
  document.body.addEventListener("toast", function (evt) { toast(evt.detail.message, evt.detail.level); });
}
