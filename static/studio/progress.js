/* Painting work in progress (takes rendering, exports being written) from the payloads of live
   events and snapshots, in place and without a request: status label, bar, percentage, steps. */

export const STATUS_LABELS = { queued: "Queued", running: "Running", succeeded: "Succeeded", failed: "Failed", cancelled: "Cancelled" };

export function percentOf(progress) {
  return Math.round(Math.max(0, Math.min(1, progress || 0)) * 100);
}

export function paintTake(take) {
  document.querySelectorAll('[data-take-id="' + take.id + '"]').forEach(function (el) {
    el.dataset.status = take.status;
    paintProgress(el, take.progress, STATUS_LABELS[take.status] || take.status);
    const steps = el.querySelector('[data-field="steps"]');
    if (steps) steps.textContent = take.total_steps ? take.step + "/" + take.total_steps : "";
    const phase = el.querySelector('[data-field="phase"]');  // e.g. "loading model… 40%"
    if (phase) phase.textContent = take.phase || "";
  });
}

export function paintExport(exp) {
  document.querySelectorAll('[data-export-id="' + exp.id + '"]').forEach(function (el) {
    el.dataset.status = exp.status;
    paintProgress(el, exp.progress, STATUS_LABELS[exp.status] || exp.status);
  });
}

function paintProgress(el, progress, label) {
  const percent = percentOf(progress);
  const bar = el.querySelector(".bar");
  if (bar) bar.style.width = percent + "%";
  const meter = el.querySelector('[role="progressbar"]');
  if (meter) meter.setAttribute("aria-valuenow", String(percent));
  const shown = el.querySelector('[data-field="percent"]');
  if (shown) shown.textContent = percent + "%";
  const status = el.querySelector('[data-field="status"]');
  if (status) status.textContent = label;
}
