/* Guest review links: a copy button beside each link. The Clipboard API where the page may use it,
   else the selected text and the older copy command. */

import { toast } from "../toasts.js";

function copyByCommand(input) {
  input.focus();
  input.select();
  let copied = false;
  try { copied = document.execCommand("copy"); } catch (err) { copied = false; }
  return copied ? Promise.resolve() : Promise.reject(new Error("copy refused"));
}

function copy(input) {
  if (navigator.clipboard && window.isSecureContext) {
    return navigator.clipboard.writeText(input.value).catch(function () { return copyByCommand(input); });
  }
  return copyByCommand(input);
}

document.addEventListener("click", function (evt) {
  const button = evt.target.closest("button[data-copy]");
  if (!button) return;
  const input = document.getElementById(button.dataset.copy);
  if (!input) return;
  copy(input).then(
    function () { toast("Link copied.", "success"); },
    function () { input.select(); toast("Press Ctrl+C (⌘C) to copy the selected link.", "info"); },
  );
});
