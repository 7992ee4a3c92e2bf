/* Reorderable lists ([data-sortable]: shots in a scene, reference images, cut entries): drag with
   SortableJS (vendored, loaded by the pages that have such lists) or Alt + arrow keys, then the
   new order is saved; the server answers with the list as it now stands. */

import { emit } from "./fragments.js";
import { postForm } from "./http.js";
import { toast, toastFromTrigger } from "./toasts.js";

export function setUpSortableLists(root) {
  if (root.matches && root.matches("[data-sortable]")) setUpSortable(root);
  root.querySelectorAll("[data-sortable]").forEach(setUpSortable);
}

function setUpSortable(list) {
  if (list.dataset.sortableReady) return;
  list.dataset.sortableReady = "1";
  if (window.Sortable) {
    Sortable.create(list, {
      animation: 150,
      draggable: "[data-id]",
      handle: list.querySelector(".drag-handle") ? ".drag-handle" : undefined,
      filter: "button, a, input, select, textarea, summary",
      preventOnFilter: false,
      onStart: function () { document.body.classList.add("dragging"); },
      onEnd: function (evt) {
        document.body.classList.remove("dragging");
        if (evt.oldIndex !== evt.newIndex) sendOrder(list);
      },
    });
  }
  list.addEventListener("keydown", function (evt) { moveWithKeyboard(list, evt); });
}

// Keyboard: Alt + arrow keys move the focused item.
function moveWithKeyboard(list, evt) {
  if (!evt.altKey) return;
  const item = evt.target.closest("[data-id]");
  if (!item || item.parentElement !== list) return;
  const back = evt.key === "ArrowUp" || evt.key === "ArrowLeft";
  const forward = evt.key === "ArrowDown" || evt.key === "ArrowRight";
  if (!back && !forward) return;
  evt.preventDefault();
  const sibling = back ? item.previousElementSibling : item.nextElementSibling;
  if (!sibling || !sibling.dataset.id) return;
  list.insertBefore(item, back ? sibling : sibling.nextElementSibling);
  item.focus();
  sendOrder(list);
}

function sendOrder(list) {
  const body = new URLSearchParams();
  Array.from(list.children).forEach(function (child) { if (child.dataset.id) body.append("ids", child.dataset.id); });
  if (list.dataset.version) body.append("version", list.dataset.version);
  postForm(list.dataset.reorderUrl, body)
    .then(function (response) { return response.text().then(function (text) { showOrder(list, response, text); }); })
    .catch(function () { toast("The new order could not be saved.", "error"); });
}

function showOrder(list, response, text) {
  const target = list.dataset.reorderTarget && document.querySelector(list.dataset.reorderTarget);
  const html = (response.headers.get("Content-Type") || "").startsWith("text/html");
  if (target && html && text) {
    htmx.swap(target, text, { swapStyle: "outerHTML" });
    if (response.status === 409) toast("Someone else changed this first; the list shows their order now.", "error");
  } else if (!response.ok) {
    toast(text || "The new order could not be saved.", "error");
    emit("live-resync", {});
  } else {
    toastFromTrigger(response.headers.get("HX-Trigger"));
  }
}
