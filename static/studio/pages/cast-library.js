/* Reference image uploads: file picker or drag-and-drop, several files at once, a preview and an
   upload progress bar per file. Each file is its own request, so one bad file fails alone. */

import { csrfToken } from "../http.js";
import { toast } from "../toasts.js";

const ACCEPTED = ["image/png", "image/jpeg", "image/webp"];

function setUp(form) {
  if (form.dataset.uploadReady) return;
  form.dataset.uploadReady = "1";
  const input = form.querySelector('input[type="file"]');
  input.addEventListener("change", function () { uploadAll(form, Array.from(input.files)); input.value = ""; });
  ["dragenter", "dragover"].forEach(function (name) {
    form.addEventListener(name, function (evt) { evt.preventDefault(); form.classList.add("drag-over"); });
  });
  ["dragleave", "drop"].forEach(function (name) {
    form.addEventListener(name, function () { form.classList.remove("drag-over"); });
  });
  form.addEventListener("drop", function (evt) {
    evt.preventDefault();
    uploadAll(form, Array.from(evt.dataTransfer.files || []));
  });
  form.addEventListener("submit", function (evt) { evt.preventDefault(); uploadAll(form, Array.from(input.files)); });
}

function uploadAll(form, files) {
  if (!files.length) return;
  const list = form.querySelector(".upload-list");
  const uploads = files.map(function (file) { return upload(form, list, file); });
  Promise.all(uploads).then(function (results) {
    const added = results.filter(Boolean).length;
    if (added) {
      toast(added + " image" + (added === 1 ? "" : "s") + " added.", "success");
      // The card shows the new images (the order and the primary come from the server).
      setTimeout(function () {
        htmx.ajax("GET", form.dataset.refreshUrl, { target: form.dataset.refreshTarget, swap: "outerHTML" });
      }, 600);
    }
  });
}

function upload(form, list, file) {
  const row = document.createElement("li");
  row.className = "upload";
  const preview = document.createElement("img");
  preview.alt = "";
  const name = document.createElement("span");
  name.className = "upload-name";
  name.textContent = file.name;
  const progress = document.createElement("progress");
  progress.max = 100;
  progress.value = 0;
  progress.setAttribute("aria-label", "Uploading " + file.name);
  const note = document.createElement("span");
  note.className = "upload-note";
  row.append(preview, name, progress, note);
  list.appendChild(row);

  if (!ACCEPTED.includes(file.type)) {
    fail(row, note, "Not a PNG, JPEG or WebP image.");
    return Promise.resolve(false);
  }
  preview.src = URL.createObjectURL(file);
  preview.onload = function () { URL.revokeObjectURL(preview.src); };

  return new Promise(function (resolve) {
    const data = new FormData();
    data.append("images", file, file.name);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", function (evt) {
      if (evt.lengthComputable) progress.value = Math.round(evt.loaded / evt.total * 100);
    });
    xhr.addEventListener("load", function () {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = {}; }
      if (xhr.status === 200 && body.added && body.added.length) {
        progress.value = 100;
        row.classList.add("done");
        note.textContent = "Added";
        resolve(true);
      } else {
        fail(row, note, (body.errors && body.errors.join(" ")) || messageFor(xhr.status));
        resolve(false);
      }
    });
    xhr.addEventListener("error", function () { fail(row, note, "The upload failed; check your connection."); resolve(false); });
    xhr.send(data);
  });
}

function messageFor(status) {
  if (status === 403) return "Your role does not allow uploads.";
  if (status === 413) return "The file is too large.";
  return "The upload failed (" + status + ").";
}

function fail(row, note, message) {
  row.classList.add("failed");
  note.textContent = message;
  note.setAttribute("role", "alert");
}

// A refreshed card (after the good files land, or a live update) must not wipe the reasons
// the bad files were refused: carry the failed rows over into the new card.
const refusedByCard = new Map();
document.body.addEventListener("htmx:beforeSwap", function (evt) {
  const target = evt.detail.target;
  const failed = target && target.id ? target.querySelectorAll(".upload.failed") : [];
  if (failed.length) refusedByCard.set(target.id, Array.from(failed));
});
document.body.addEventListener("htmx:afterSettle", function () {
  refusedByCard.forEach(function (rows, id) {
    const list = document.querySelector("#" + CSS.escape(id) + " .upload-list");
    if (list) rows.forEach(function (row) { list.appendChild(row); });
  });
  refusedByCard.clear();
});

htmx.onLoad(function (root) {
  const scope = root.querySelectorAll ? root : document;
  if (scope.matches && scope.matches("form[data-upload]")) setUp(scope);
  scope.querySelectorAll("form[data-upload]").forEach(setUp);
});

// "Add to the cast": a real button that opens the new-member form; after a member is added the
// form comes back empty (the server swaps in a fresh one), the panel closes and the new card shows.
const newToggle = document.getElementById("cast-new-toggle");
const newPanel = document.getElementById("cast-new-panel");
function showNewPanel(open) {
  newPanel.hidden = !open;
  newToggle.setAttribute("aria-expanded", String(open));
  if (open) { const first = newPanel.querySelector("input:not([type=hidden]), select, textarea"); if (first) first.focus(); }
}
if (newToggle && newPanel) {
  newToggle.addEventListener("click", function () { showNewPanel(newPanel.hidden); });
  newPanel.addEventListener("keydown", function (evt) {
    if (evt.key === "Escape") { showNewPanel(false); newToggle.focus(); }
  });
  document.body.addEventListener("cast-added", function (evt) {
    showNewPanel(false);
    newToggle.focus();
    const card = document.getElementById("cast-" + evt.detail.id);
    if (card) card.scrollIntoView({ block: "nearest" });
  });
}
